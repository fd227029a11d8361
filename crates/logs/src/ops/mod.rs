//! The Logs operations, dispatched by name; every operation of the model not served here is refused by name.

mod groups;
mod metric;
pub(crate) mod put;
mod read;
mod streams;
mod tags;

use crate::{Logs, LogsError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Calls `operation`.
pub(crate) async fn dispatch(logs: &Logs, operation: &str, body: &[u8]) -> Result<Vec<u8>, LogsError> {
    match operation {
        "CreateLogGroup" => reply(groups::create(logs, parse(body)?).await?),
        "DeleteLogGroup" => reply(groups::delete(logs, parse(body)?).await?),
        "DescribeLogGroups" => reply(groups::describe(logs, parse(body)?).await?),
        "PutRetentionPolicy" => reply(groups::put_retention(logs, parse(body)?).await?),
        "DeleteRetentionPolicy" => reply(groups::delete_retention(logs, parse(body)?).await?),
        "PutLogGroupDeletionProtection" => reply(groups::put_deletion_protection(logs, parse(body)?).await?),
        "CreateLogStream" => reply(streams::create(logs, parse(body)?).await?),
        "DeleteLogStream" => reply(streams::delete(logs, parse(body)?).await?),
        "DescribeLogStreams" => reply(streams::describe(logs, parse(body)?).await?),
        "PutLogEvents" => reply(put::put_log_events(logs, parse(body)?, put::batch_id_of(body)).await?),
        "GetLogEvents" => reply(read::get_log_events(logs, parse(body)?).await?),
        "FilterLogEvents" => reply(read::filter_log_events(logs, parse(body)?).await?),
        "TagResource" => reply(tags::tag_resource(logs, parse(body)?).await?),
        "UntagResource" => reply(tags::untag_resource(logs, parse(body)?).await?),
        "ListTagsForResource" => reply(tags::list_tags_for_resource(logs, parse(body)?).await?),
        "TagLogGroup" => reply(tags::tag_log_group(logs, parse(body)?).await?),
        "UntagLogGroup" => reply(tags::untag_log_group(logs, parse(body)?).await?),
        "ListTagsLogGroup" => reply(tags::list_tags_log_group(logs, parse(body)?).await?),
        "PutMetricFilter" => reply(metric::put(logs, parse(body)?).await?),
        "DeleteMetricFilter" => reply(metric::delete(logs, parse(body)?).await?),
        "DescribeMetricFilters" => reply(metric::describe(logs, parse(body)?).await?),
        "TestMetricFilter" => reply(metric::test(parse(body)?)?),
        other if berth_model::logs::OPERATIONS.contains(&other) => Err(LogsError::unsupported(other)),
        other => Err(LogsError {
            exception: "UnknownOperationException",
            message: format!("Unknown operation {other:?}."),
            status: 400,
        }),
    }
}

/// Decodes a request body: a missing required member is `InvalidParameterException`, anything else that does not
/// fit the shape `SerializationException`, each naming the member.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, LogsError> {
    let body = if body.is_empty() { b"{}".as_slice() } else { body };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if message.starts_with("missing field") {
            LogsError::invalid(format!("1 validation error detected: {message} (at {path})"))
        } else {
            LogsError::serialization(format!("{message} (at {path})"))
        }
    })
}

fn reply<T: Serialize>(response: T) -> Result<Vec<u8>, LogsError> {
    serde_json::to_vec(&response).map_err(|e| LogsError::internal(&e))
}

/// Checks an optional `limit` against `1..=max`; the limit to use.
fn limit(value: Option<i32>, max: i32) -> Result<usize, LogsError> {
    match value {
        None => Ok(max as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value \
             between 1 and {max}"
        ))),
    }
}
