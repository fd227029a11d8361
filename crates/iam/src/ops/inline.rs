//! Inline policies: Put/Get/Delete/List of role, user and group policies.

use super::owner::{self, Kind};
use super::{check_name, encode_document, required};
use crate::policy::{PolicyDocument, PolicyKind};
use crate::{Iam, IamError};
use serde_json::{Value as Json, json};

/// A document's size as IAM counts it (whitespace excluded).
pub(crate) fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

pub(super) async fn put(iam: &Iam, operation: &str, input: &Json) -> Result<Json, IamError> {
    let kind = Kind::of(operation);
    let policy = required(input, "PolicyName")?;
    check_name("PolicyName", policy, 128)?;
    let text = required(input, "PolicyDocument")?;
    PolicyDocument::parse(text, PolicyKind::Identity)?;
    let _w = iam.writes.lock().await;
    let (name, mut permissions) = owner::load(iam, kind, input)?;
    permissions.inline.insert(policy.to_string(), text.to_string());
    let total: usize = permissions.inline.values().map(|t| policy_size(t)).sum();
    let quota = kind.inline_quota(iam);
    if total > quota {
        return Err(IamError::limit(format!(
            "Maximum policy size of {quota} bytes exceeded for {} {name}",
            kind.member().trim_end_matches("Name").to_lowercase()
        )));
    }
    owner::store(iam, kind, &name, permissions).await?;
    Ok(json!({}))
}

pub(super) fn get(iam: &Iam, operation: &str, input: &Json) -> Result<Json, IamError> {
    let kind = Kind::of(operation);
    let policy = required(input, "PolicyName")?;
    let (name, permissions) = owner::load(iam, kind, input)?;
    let text = permissions.inline.get(policy).ok_or_else(|| owner::no_inline(kind, policy))?;
    Ok(json!({ kind.member(): name, "PolicyName": policy, "PolicyDocument": encode_document(text) }))
}

pub(super) async fn delete(iam: &Iam, operation: &str, input: &Json) -> Result<Json, IamError> {
    let kind = Kind::of(operation);
    let policy = required(input, "PolicyName")?;
    let _w = iam.writes.lock().await;
    let (name, mut permissions) = owner::load(iam, kind, input)?;
    if permissions.inline.remove(policy).is_none() {
        return Err(owner::no_inline(kind, policy));
    }
    owner::store(iam, kind, &name, permissions).await?;
    Ok(json!({}))
}

pub(super) fn list(iam: &Iam, operation: &str, input: &Json) -> Result<Json, IamError> {
    let kind = Kind::of(operation);
    let (_, permissions) = owner::load(iam, kind, input)?;
    Ok(json!({ "PolicyNames": permissions.inline.keys().collect::<Vec<_>>(), "IsTruncated": false }))
}
