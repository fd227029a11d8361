//! Managed policy attachments: Attach/Detach/ListAttached of roles, users and groups, with the per-entity quota.

use super::owner::{self, Kind};
use super::required;
use crate::managed;
use crate::{Iam, IamError};
use serde_json::{Value as Json, json};

/// The name of an attachable managed policy (built-in or customer), or `NoSuchEntity`.
pub(crate) fn policy_name(iam: &Iam, arn: &str) -> Result<String, IamError> {
    if let Some(m) = managed::by_arn(arn) {
        return Ok(m.name.to_string());
    }
    iam.read()
        .policies
        .values()
        .find(|p| p.arn == arn)
        .map(|p| p.name.clone())
        .ok_or_else(|| IamError::no_such_entity(format!("Policy {arn} does not exist or is not attachable.")))
}

pub(super) async fn attach(iam: &Iam, operation: &str, input: &Json) -> Result<Json, IamError> {
    let kind = Kind::of(operation);
    let arn = required(input, "PolicyArn")?;
    if !arn.starts_with("arn:aws:iam::") {
        return Err(IamError::invalid_input(format!("ARN {arn} is not valid.")));
    }
    let _w = iam.writes.lock().await;
    let (name, mut permissions) = owner::load(iam, kind, input)?;
    policy_name(iam, arn)?;
    if permissions.attached.iter().any(|a| a == arn) {
        return Ok(json!({}));
    }
    let (quota, quota_name) = kind.managed_quota(iam);
    if permissions.attached.len() >= quota {
        return Err(IamError::limit(format!("Cannot exceed quota for {quota_name}: {quota}")));
    }
    permissions.attached.push(arn.to_string());
    owner::store(iam, kind, &name, permissions).await?;
    Ok(json!({}))
}

pub(super) async fn detach(iam: &Iam, operation: &str, input: &Json) -> Result<Json, IamError> {
    let kind = Kind::of(operation);
    let arn = required(input, "PolicyArn")?;
    let _w = iam.writes.lock().await;
    let (name, mut permissions) = owner::load(iam, kind, input)?;
    let before = permissions.attached.len();
    permissions.attached.retain(|a| a != arn);
    if permissions.attached.len() == before {
        return Err(IamError::no_such_entity(format!("Policy {arn} was not found.")));
    }
    owner::store(iam, kind, &name, permissions).await?;
    Ok(json!({}))
}

pub(super) fn list(iam: &Iam, operation: &str, input: &Json) -> Result<Json, IamError> {
    let kind = Kind::of(operation);
    let (_, permissions) = owner::load(iam, kind, input)?;
    let mut out = Vec::new();
    for arn in &permissions.attached {
        if let Ok(name) = policy_name(iam, arn) {
            out.push(json!({ "PolicyName": name, "PolicyArn": arn }));
        }
    }
    Ok(json!({ "AttachedPolicies": out, "IsTruncated": false }))
}
