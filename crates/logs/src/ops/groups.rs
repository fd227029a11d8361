//! CreateLogGroup, DeleteLogGroup, DescribeLogGroups, PutRetentionPolicy, DeleteRetentionPolicy.

use super::limit;
use crate::meta::GroupRecord;
use crate::names::{self, check_group};
use crate::{Logs, LogsError, tokens};
use berth_model::logs::{
    CreateLogGroupRequest, DeleteLogGroupRequest, DeleteRetentionPolicyRequest, DescribeLogGroupsRequest,
    DescribeLogGroupsResponse, LogGroup, LogGroupClass, PutLogGroupDeletionProtectionRequest,
    PutRetentionPolicyRequest,
};
use serde_json::{Value, json};

/// The retention periods CloudWatch Logs accepts, in days.
pub(crate) const RETENTION_DAYS: &[i32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

pub(super) async fn create(logs: &Logs, req: CreateLogGroupRequest) -> Result<Value, LogsError> {
    check_group(&req.log_group_name)?;
    let tags = req.tags.unwrap_or_default();
    super::tags::check_tags(&tags)?;
    let record = GroupRecord {
        name: req.log_group_name,
        creation_time: logs.now_millis(),
        retention_in_days: None,
        tags,
        dir: uuid::Uuid::new_v4().simple().to_string(),
        class: req.log_group_class.map(|c| c.as_str().to_string()),
        kms_key_id: req.kms_key_id,
        deletion_protection: req.deletion_protection_enabled.unwrap_or(false),
    };
    logs.meta.create_group(&record).await?;
    Ok(json!({}))
}

pub(super) async fn delete(logs: &Logs, req: DeleteLogGroupRequest) -> Result<Value, LogsError> {
    check_group(&req.log_group_name)?;
    let (group, _) = logs.meta.group(&req.log_group_name).await?;
    if group.deletion_protection {
        return Err(LogsError {
            exception: "OperationAbortedException",
            message: "Log group deletion protection is enabled; disable it before deleting the log group.".into(),
            status: 400,
        });
    }
    let record = logs.meta.delete_group(&req.log_group_name).await?;
    logs.blocking(move |events| events.drop_group(&record.dir)).await??;
    Ok(json!({}))
}

/// A group as Describe shows it.
pub(crate) async fn describe_one(logs: &Logs, group: &GroupRecord, filters: i32) -> Result<LogGroup, LogsError> {
    let arn = names::group_arn(&logs.config.region, &logs.config.account_id, &group.name);
    let dir = group.dir.clone();
    let cutoff = group.cutoff(logs.now_millis());
    let stored = logs.blocking(move |events| events.stored_bytes(&dir, cutoff)).await?;
    Ok(LogGroup {
        log_group_name: Some(group.name.clone()),
        creation_time: Some(group.creation_time),
        retention_in_days: group.retention_in_days,
        metric_filter_count: Some(filters),
        arn: Some(format!("{arn}:*")),
        stored_bytes: Some(stored as i64),
        kms_key_id: group.kms_key_id.clone(),
        log_group_class: Some(group.class.as_deref().and_then(LogGroupClass::parse).unwrap_or(LogGroupClass::Standard)),
        log_group_arn: Some(arn),
        deletion_protection_enabled: Some(group.deletion_protection),
        ..Default::default()
    })
}

pub(super) async fn describe(
    logs: &Logs,
    req: DescribeLogGroupsRequest,
) -> Result<DescribeLogGroupsResponse, LogsError> {
    let limit = limit(req.limit, 50)?;
    if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
        return Err(LogsError::invalid(
            "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.",
        ));
    }
    if req.log_group_identifiers.is_some()
        && (req.log_group_name_prefix.is_some() || req.log_group_name_pattern.is_some())
    {
        return Err(LogsError::invalid(
            "logGroupIdentifiers cannot be combined with logGroupNamePrefix or logGroupNamePattern.",
        ));
    }
    let start = tokens::parse_offset(req.next_token.as_deref())?;
    let wanted: Option<Vec<String>> = req
        .log_group_identifiers
        .map(|ids| ids.iter().map(|id| names::group_of_arn(id).unwrap_or(id).to_string()).collect());
    let groups: Vec<GroupRecord> = logs
        .meta
        .groups()
        .await?
        .into_iter()
        .filter(|g| req.log_group_name_prefix.as_deref().is_none_or(|p| g.name.starts_with(p)))
        .filter(|g| req.log_group_name_pattern.as_deref().is_none_or(|p| g.name.contains(p)))
        .filter(|g| req.log_group_class.is_none_or(|c| g.class.as_deref().unwrap_or("STANDARD") == c.as_str()))
        .filter(|g| wanted.as_ref().is_none_or(|w| w.contains(&g.name)))
        .collect();
    let filters = logs.meta.metric_filters(None).await?;
    let mut out = Vec::new();
    for group in groups.iter().skip(start).take(limit) {
        let count = filters.iter().filter(|f| f.log_group_name.as_deref() == Some(group.name.as_str())).count();
        out.push(describe_one(logs, group, count as i32).await?);
    }
    let next = start + out.len();
    Ok(DescribeLogGroupsResponse {
        log_groups: Some(out),
        next_token: (next < groups.len()).then(|| tokens::offset(next)),
    })
}

/// Changes a group's record with compare-and-swap, retrying on a conflict.
pub(crate) async fn update_group(
    logs: &Logs,
    name: &str,
    change: impl Fn(&mut GroupRecord) -> Result<(), LogsError>,
) -> Result<(), LogsError> {
    check_group(name)?;
    loop {
        let (mut record, revision) = logs.meta.group(name).await?;
        change(&mut record)?;
        if logs.meta.update_group(&record, revision).await? {
            return Ok(());
        }
    }
}

pub(super) async fn put_retention(logs: &Logs, req: PutRetentionPolicyRequest) -> Result<Value, LogsError> {
    let days = req.retention_in_days;
    if !RETENTION_DAYS.contains(&days) {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member \
             must satisfy enum value set: {RETENTION_DAYS:?}"
        )));
    }
    update_group(logs, &req.log_group_name, |g| {
        g.retention_in_days = Some(days);
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(super) async fn delete_retention(logs: &Logs, req: DeleteRetentionPolicyRequest) -> Result<Value, LogsError> {
    update_group(logs, &req.log_group_name, |g| {
        g.retention_in_days = None;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(super) async fn put_deletion_protection(
    logs: &Logs,
    req: PutLogGroupDeletionProtectionRequest,
) -> Result<Value, LogsError> {
    let name = names::group_of_arn(&req.log_group_identifier).unwrap_or(&req.log_group_identifier);
    let enabled = req.deletion_protection_enabled;
    update_group(logs, name, |g| {
        g.deletion_protection = enabled;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
