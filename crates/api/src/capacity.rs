//! Berth's capacity administration API (a Berth extension, AWS JSON 1.1 under the target prefix
//! [`TARGET_PREFIX`], signed as `ecs`, authorized as `berth:<Operation>`): what AWS does to its own capacity and
//! nobody can ask ECS for, the operator of a Berth installation does here. `berth capacity ...` calls it.
//!
//! - `ReclaimSpotCapacity` (`berth capacity reclaim`): interrupts Fargate Spot tasks as a Spot interruption does
//!   (see `berth_control::tasks::reclaim`). Input: `cluster`, `tasks`, `containerInstance`, `count`; output:
//!   `tasks`, the interrupted tasks as DescribeTasks shows them.
//! - `GetUsage` (`berth usage`): what tasks used in a window (`since`, `until`, seconds since the epoch), summed by
//!   `groupBy` dimensions and costed at the server's rate card (see `berth_control::metering`). Output: `groups`,
//!   `rateCard`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::protocol::json11::encode;
use crate::service::AwsJsonService;
use berth_control::Control;
use berth_control::metering::{GroupBy, RateCard, UsageGroup, UsageQuery};
use berth_control::tasks::reclaim::ReclaimRequest;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The `X-Amz-Target` prefix of Berth's capacity API.
pub const TARGET_PREFIX: &str = "BerthCapacity_20261130";

/// The operation that interrupts Fargate Spot tasks.
pub const RECLAIM_SPOT_CAPACITY: &str = "ReclaimSpotCapacity";

/// The operation that sums task usage.
pub const GET_USAGE: &str = "GetUsage";

/// `GetUsage`'s input.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetUsageInput {
    /// Usage from this time (seconds since the epoch); the beginning when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<f64>,
    /// Usage until this time; now when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<f64>,
    /// The dimensions to sum by (`cluster`, `service`, `family`, `capacity-provider`, `launch-type`, `task`,
    /// `tag:KEY`); one total when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
}

/// `GetUsage`'s output.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetUsageOutput {
    /// The groups, in the order of their keys.
    pub groups: Vec<UsageGroup>,
    /// The prices the costs are at.
    pub rate_card: RateCard,
}

/// `ReclaimSpotCapacity`'s input.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReclaimSpotCapacityInput {
    /// Only tasks of this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// These tasks (ARNs, or ids with `cluster`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
    /// Only tasks on this container instance (id or ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    /// At most this many tasks, the longest running first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

/// `ReclaimSpotCapacity`'s output.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReclaimSpotCapacityOutput {
    /// The tasks interrupted.
    pub tasks: Vec<berth_model::ecs::Task>,
}

/// Berth's capacity API, served by the control plane.
pub struct CapacityService {
    control: Arc<Control>,
    rate_card: RateCard,
}

impl CapacityService {
    /// The capacity API on this control plane, costing usage at `rate_card`.
    pub fn new(control: Arc<Control>, rate_card: RateCard) -> Self {
        Self { control, rate_card }
    }

    async fn usage(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let input: GetUsageInput = parse(body)?;
        let group_by = input.group_by.iter().map(|d| GroupBy::parse(d)).collect::<Result<Vec<_>, _>>()?;
        if input.since.is_some_and(|t| !t.is_finite()) || input.until.is_some_and(|t| !t.is_finite()) {
            return Err(ApiError::bad_request("InvalidParameterException", "since and until must be finite times."));
        }
        let query = UsageQuery { since: input.since, until: input.until, group_by };
        let groups = self.control.usage(&query, &self.rate_card).await?;
        encode(&GetUsageOutput { groups, rate_card: self.rate_card.clone() })
    }

    async fn reclaim(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let input: ReclaimSpotCapacityInput = parse(body)?;
        let tasks = self
            .control
            .reclaim_spot_tasks(ReclaimRequest {
                cluster: input.cluster,
                tasks: input.tasks,
                instance: input.container_instance.filter(|i| !i.is_empty()),
                count: input.count,
            })
            .await?;
        encode(&ReclaimSpotCapacityOutput { tasks })
    }
}

/// A request body (empty: `{}`), or a `SerializationException` naming what is wrong.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| ApiError::bad_request("SerializationException", format!("The request is not valid: {e}")))
}

impl AwsJsonService for CapacityService {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "ecs"
    }

    fn action_prefix(&self) -> &'static str {
        "berth"
    }

    fn max_body_bytes(&self) -> usize {
        256 * 1024
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move {
            if caller.agent.is_some() {
                return Err(ApiError::new(
                    http::StatusCode::FORBIDDEN,
                    "AccessDeniedException",
                    "An agent's instance token does not allow Berth's capacity API.",
                ));
            }
            match operation {
                RECLAIM_SPOT_CAPACITY => self.reclaim(body).await,
                GET_USAGE => self.usage(body).await,
                other => Err(ApiError::unknown_operation(&format!("{TARGET_PREFIX}.{other}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_takes_the_members_the_cli_sends_and_refuses_others() {
        let input: ReclaimSpotCapacityInput =
            serde_json::from_str(r#"{"cluster":"c","tasks":["t"],"containerInstance":"i","count":2}"#).unwrap();
        assert_eq!(
            (input.cluster.as_deref(), input.tasks, input.container_instance.as_deref(), input.count),
            (Some("c"), vec!["t".to_string()], Some("i"), Some(2))
        );
        assert!(serde_json::from_str::<ReclaimSpotCapacityInput>(r#"{"counts":2}"#).is_err());
        assert!(serde_json::from_str::<ReclaimSpotCapacityInput>(r#"{"count":-1}"#).is_err());
    }
}
