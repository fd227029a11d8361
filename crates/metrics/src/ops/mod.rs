//! The CloudWatch operations, dispatched by name; every operation of the model not served here is refused by name.

pub(crate) mod alarms;
mod list;
pub(crate) mod put;
mod read;
mod tags;

use crate::{Metrics, MetricsError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Calls `operation` with its JSON input; its JSON output.
pub(crate) async fn dispatch(metrics: &Metrics, operation: &str, body: &[u8]) -> Result<Vec<u8>, MetricsError> {
    match operation {
        "PutMetricData" => reply(blocking(|| put::put_metric_data(metrics, parse(body)?))?),
        "GetMetricStatistics" => reply(blocking(|| read::get_metric_statistics(metrics, parse(body)?))?),
        "GetMetricData" => reply(blocking(|| read::get_metric_data(metrics, parse(body)?))?),
        "ListMetrics" => reply(blocking(|| list::list_metrics(metrics, parse(body)?))?),
        "PutMetricAlarm" => reply(alarms::put_metric_alarm(metrics, parse(body)?).await?),
        "DescribeAlarms" => reply(alarms::describe_alarms(metrics, parse(body)?).await?),
        "DescribeAlarmsForMetric" => reply(alarms::describe_alarms_for_metric(metrics, parse(body)?).await?),
        "DescribeAlarmHistory" => reply(alarms::describe_alarm_history(metrics, parse(body)?).await?),
        "DeleteAlarms" => reply(alarms::delete_alarms(metrics, parse(body)?).await?),
        "SetAlarmState" => reply(alarms::set_alarm_state(metrics, parse(body)?).await?),
        "EnableAlarmActions" => {
            let input: berth_model::cloudwatch::EnableAlarmActionsInput = parse(body)?;
            reply(alarms::set_actions_enabled(metrics, input.alarm_names, true).await?)
        }
        "DisableAlarmActions" => {
            let input: berth_model::cloudwatch::DisableAlarmActionsInput = parse(body)?;
            reply(alarms::set_actions_enabled(metrics, input.alarm_names, false).await?)
        }
        "TagResource" => reply(tags::tag_resource(metrics, parse(body)?).await?),
        "UntagResource" => reply(tags::untag_resource(metrics, parse(body)?).await?),
        "ListTagsForResource" => reply(tags::list_tags_for_resource(metrics, parse(body)?).await?),
        other if berth_model::cloudwatch::OPERATIONS.contains(&other) => Err(MetricsError::unsupported(other)),
        other => Err(MetricsError::unknown_operation(other)),
    }
}

/// Runs work on the series store, which takes its lock and writes its file, without stalling the async runtime:
/// on a multi-threaded runtime the worker hands its other tasks away first (`block_in_place`); elsewhere (tests on
/// a current-thread runtime) it runs as is.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread { tokio::task::block_in_place(f) } else { f() }
}

/// Decodes an input: a missing required member is `MissingParameter`; anything else that does not fit the shape
/// is `InvalidParameterValue`; both name the member.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, MetricsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            let at = if path == "." { field.to_string() } else { format!("{path}.{field}") };
            MetricsError::missing(format!("The parameter {at} is required."))
        } else {
            MetricsError::invalid(format!("Invalid value at {path}: {message}"))
        }
    })
}

fn reply<T: Serialize>(value: T) -> Result<Vec<u8>, MetricsError> {
    serde_json::to_vec(&value).map_err(|e| MetricsError::internal(&e))
}

/// The empty output of operations without one.
#[derive(Serialize)]
pub(crate) struct Empty {}

/// Checks that a string's length (in characters) is within `min..=max`.
pub(crate) fn check_len(value: &str, min: usize, max: usize, what: &str) -> Result<(), MetricsError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(MetricsError::invalid(format!(
            "The value {value} for parameter {what} is invalid: its length must be between {min} and {max}."
        )));
    }
    Ok(())
}

/// Checks dimensions: at most 30, names and values 1-255 and 1-1024 characters, no name twice.
pub(crate) fn check_dimensions(
    dimensions: &[berth_model::cloudwatch::Dimension],
    what: &str,
) -> Result<Vec<(String, String)>, MetricsError> {
    if dimensions.len() > 30 {
        return Err(MetricsError::invalid(format!("The collection {what} must not have a size greater than 30.")));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(dimensions.len());
    for (i, d) in dimensions.iter().enumerate() {
        check_len(&d.name, 1, 255, &format!("{what}.member.{}.Name", i + 1))?;
        check_len(&d.value, 1, 1024, &format!("{what}.member.{}.Value", i + 1))?;
        if out.iter().any(|(n, _)| *n == d.name) {
            return Err(MetricsError::invalid(format!(
                "No metric may have more than one dimension named {} ({what}).",
                d.name
            )));
        }
        out.push((d.name.clone(), d.value.clone()));
    }
    Ok(out)
}

/// A paging token: an offset into a listing, as text. `InvalidNextToken` if it is not one this server issued.
pub(crate) fn offset_of(token: Option<&str>) -> Result<usize, MetricsError> {
    match token {
        None => Ok(0),
        Some(t) => t
            .strip_prefix("berth-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| MetricsError::next_token(format!("The NextToken {t} is invalid."))),
    }
}

/// The token for a listing's next page starting at `offset`.
pub(crate) fn token_at(offset: usize) -> String {
    format!("berth-{offset}")
}
