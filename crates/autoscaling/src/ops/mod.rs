//! The API operations: decode the JSON input, validate it as Application Auto Scaling does, act, encode.

mod activities;
mod policies;
mod scheduled;
mod tags;
mod targets;

use crate::records::{self, TargetRecord};
use crate::{Scaling, ScalingError};
use berth_model::autoscaling::{ScalableDimension, ServiceNamespace};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use policies::{delete_alarms, tracked_metric};
pub(crate) use scheduled::first_run;

/// Runs one operation.
pub(crate) async fn dispatch(s: &Scaling, operation: &str, input: &[u8]) -> Result<Vec<u8>, ScalingError> {
    match operation {
        "RegisterScalableTarget" => out(targets::register(s, parse(input)?).await?),
        "DeregisterScalableTarget" => out(targets::deregister(s, parse(input)?).await?),
        "DescribeScalableTargets" => out(targets::describe(s, parse(input)?).await?),
        "PutScalingPolicy" => out(policies::put(s, parse(input)?).await?),
        "DeleteScalingPolicy" => out(policies::delete(s, parse(input)?).await?),
        "DescribeScalingPolicies" => out(policies::describe(s, parse(input)?).await?),
        "PutScheduledAction" => out(scheduled::put(s, parse(input)?).await?),
        "DeleteScheduledAction" => out(scheduled::delete(s, parse(input)?).await?),
        "DescribeScheduledActions" => out(scheduled::describe(s, parse(input)?).await?),
        "DescribeScalingActivities" => out(activities::describe(s, parse(input)?).await?),
        "TagResource" => out(tags::tag(s, parse(input)?).await?),
        "UntagResource" => out(tags::untag(s, parse(input)?).await?),
        "ListTagsForResource" => out(tags::list(s, parse(input)?).await?),
        op if berth_model::autoscaling::OPERATIONS.contains(&op) => Err(ScalingError::unsupported(op)),
        op => Err(ScalingError::unknown_operation(op)),
    }
}

fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, ScalingError> {
    berth_model::input::decode(input, berth_model::input::Naming::LastMemberCamel).map_err(ScalingError::validation)
}

fn out<T: Serialize>(value: T) -> Result<Vec<u8>, ScalingError> {
    Ok(serde_json::to_vec(&value)?)
}

/// Checks that the request is about an ECS service's desired count (all Berth scales) and returns nothing else.
pub(crate) fn check_dimension(
    namespace: ServiceNamespace,
    dimension: Option<ScalableDimension>,
    resource_id: Option<&str>,
) -> Result<(), ScalingError> {
    if namespace != ServiceNamespace::Ecs {
        return Err(ScalingError::validation(format!(
            "Berth scales ECS services only: service namespace {namespace} is not supported (use ecs)."
        )));
    }
    if let Some(d) = dimension
        && d != ScalableDimension::EcsServiceDesiredCount
    {
        return Err(ScalingError::validation(format!(
            "Unsupported service namespace, resource type or scalable dimension: {d} (Berth scales ecs:service:DesiredCount)."
        )));
    }
    if let Some(id) = resource_id
        && crate::ecs::parse_resource_id(id).is_none()
    {
        return Err(ScalingError::validation(format!(
            "Unsupported service namespace, resource type or scalable dimension: resource ID {id} is not service/<cluster>/<service>."
        )));
    }
    Ok(())
}

/// The registered target, or AWS's ObjectNotFoundException.
pub(crate) async fn find_target(s: &Scaling, resource_id: &str) -> Result<(TargetRecord, i64), ScalingError> {
    records::get(&s.store, &records::target_key(resource_id)).await?.ok_or_else(|| {
        ScalingError::not_found(format!(
            "No scalable target registered for service namespace: ecs, resource ID: {resource_id}, scalable dimension: ecs:service:DesiredCount"
        ))
    })
}

/// One page of `items` after `token` (an index this server issued), `max` long (1-50, default 50).
pub(crate) fn page<T>(
    items: Vec<T>,
    token: Option<&str>,
    max: Option<i32>,
) -> Result<(Vec<T>, Option<String>), ScalingError> {
    let size = match max {
        None => 50,
        Some(n) if (1..=50).contains(&n) => n as usize,
        Some(n) => {
            return Err(ScalingError::validation(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50"
            )));
        }
    };
    let start = match token {
        None => 0,
        Some(t) => {
            t.strip_prefix("berth-").and_then(|n| n.parse::<usize>().ok()).ok_or_else(ScalingError::next_token)?
        }
    };
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let next = (start + size < total).then(|| format!("berth-{}", start + size));
    Ok((items, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_misfits_read_like_aws() {
        let e = parse::<berth_model::autoscaling::RegisterScalableTargetRequest>(br#"{"ResourceId": "service/a/b"}"#)
            .unwrap_err();
        assert_eq!(e.exception, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'serviceNamespace' failed to satisfy constraint: Member must not be null"
        );
        let e = parse::<berth_model::autoscaling::DescribeScalableTargetsRequest>(br#"{"ServiceNamespace": "nope"}"#)
            .unwrap_err();
        assert!(e.message.starts_with("1 validation error detected: Value 'nope' at 'serviceNamespace' failed to satisfy constraint: Member must satisfy enum value set: [ecs, "), "{}", e.message);
    }
}
