//! TagResource, UntagResource, ListTagsForResource, and the older TagLogGroup, UntagLogGroup, ListTagsLogGroup.
//! Log groups are the taggable resources.

use super::groups::update_group;
use crate::{Logs, LogsError, names};
use berth_model::logs::{
    ListTagsForResourceRequest, ListTagsForResourceResponse, ListTagsLogGroupRequest, ListTagsLogGroupResponse,
    TagLogGroupRequest, TagResourceRequest, UntagLogGroupRequest, UntagResourceRequest,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// At most this many tags on a resource.
const MAX_TAGS: usize = 50;

/// Checks tag keys (1-128 characters, not `aws:`) and values (at most 256 characters).
pub(super) fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), LogsError> {
    for (k, v) in tags {
        if !(1..=128).contains(&k.chars().count()) || k.starts_with("aws:") {
            return Err(LogsError::invalid(format!(
                "Invalid tag key {k:?}: 1 to 128 characters, not starting with aws:."
            )));
        }
        if v.chars().count() > 256 {
            return Err(LogsError::invalid(format!("The value of tag {k:?} is longer than 256 characters.")));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(too_many());
    }
    Ok(())
}

fn too_many() -> LogsError {
    LogsError {
        exception: "TooManyTagsException",
        message: format!("A resource can have at most {MAX_TAGS} tags."),
        status: 400,
    }
}

fn group_of(arn: &str) -> Result<&str, LogsError> {
    names::group_of_arn(arn)
        .ok_or_else(|| LogsError::not_found(format!("The specified resource {arn} does not exist.")))
}

async fn add(logs: &Logs, group: &str, tags: BTreeMap<String, String>) -> Result<Value, LogsError> {
    check_tags(&tags)?;
    update_group(logs, group, |g| {
        g.tags.extend(tags.clone());
        if g.tags.len() > MAX_TAGS { Err(too_many()) } else { Ok(()) }
    })
    .await?;
    Ok(json!({}))
}

async fn remove(logs: &Logs, group: &str, keys: &[String]) -> Result<Value, LogsError> {
    update_group(logs, group, |g| {
        g.tags.retain(|k, _| !keys.contains(k));
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(super) async fn tag_resource(logs: &Logs, req: TagResourceRequest) -> Result<Value, LogsError> {
    add(logs, group_of(&req.resource_arn)?, req.tags).await
}

pub(super) async fn untag_resource(logs: &Logs, req: UntagResourceRequest) -> Result<Value, LogsError> {
    remove(logs, group_of(&req.resource_arn)?, &req.tag_keys).await
}

pub(super) async fn list_tags_for_resource(
    logs: &Logs,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, LogsError> {
    let (group, _) = logs.meta.group(group_of(&req.resource_arn)?).await?;
    Ok(ListTagsForResourceResponse { tags: Some(group.tags) })
}

pub(super) async fn tag_log_group(logs: &Logs, req: TagLogGroupRequest) -> Result<Value, LogsError> {
    add(logs, &req.log_group_name, req.tags).await
}

pub(super) async fn untag_log_group(logs: &Logs, req: UntagLogGroupRequest) -> Result<Value, LogsError> {
    remove(logs, &req.log_group_name, &req.tags).await
}

pub(super) async fn list_tags_log_group(
    logs: &Logs,
    req: ListTagsLogGroupRequest,
) -> Result<ListTagsLogGroupResponse, LogsError> {
    let (group, _) = logs.meta.group(&req.log_group_name).await?;
    Ok(ListTagsLogGroupResponse { tags: Some(group.tags) })
}
