//! DescribeSecret, DeleteSecret (recovery window or at once), RestoreSecret, UpdateSecretVersionStage,
//! ListSecretVersionIds and tags.

use super::ops::{merge_tags, write};
use super::records::{SecretRecord, secret_key};
use super::{marked_for_deletion, stages};
use crate::records::{self, encode};
use crate::{Secrets, SecretsError};
use berth_model::secretsmanager::*;
use berth_store::Txn;
use std::collections::BTreeMap;

/// The labelled versions and their labels.
pub(crate) fn versions_to_stages(secret: &SecretRecord) -> Option<BTreeMap<String, Vec<String>>> {
    let map: BTreeMap<String, Vec<String>> = secret
        .versions
        .iter()
        .filter(|(_, v)| !v.stages.is_empty())
        .map(|(id, v)| (id.clone(), v.stages.clone()))
        .collect();
    (!map.is_empty()).then_some(map)
}

/// The tags as the API lists them.
pub(crate) fn wire_tags(secret: &SecretRecord) -> Option<Vec<Tag>> {
    (!secret.tags.is_empty())
        .then(|| secret.tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect())
}

pub(crate) async fn describe(s: &Secrets, req: DescribeSecretRequest) -> Result<DescribeSecretResponse, SecretsError> {
    let (secret, _) = s.secret(&req.secret_id).await?;
    Ok(DescribeSecretResponse {
        arn: Some(secret.arn.clone()),
        name: Some(secret.name.clone()),
        r#type: secret.secret_type.clone(),
        description: secret.description.clone(),
        kms_key_id: secret.kms_key_id.clone(),
        last_changed_date: Some(secret.last_changed),
        last_accessed_date: secret.last_accessed,
        deleted_date: secret.deleted,
        tags: wire_tags(&secret),
        version_ids_to_stages: versions_to_stages(&secret),
        created_date: Some(secret.created),
        ..Default::default()
    })
}

pub(crate) async fn delete(s: &Secrets, req: DeleteSecretRequest) -> Result<DeleteSecretResponse, SecretsError> {
    let force = req.force_delete_without_recovery.unwrap_or(false);
    if force && req.recovery_window_in_days.is_some() {
        return Err(SecretsError::new(
            "InvalidParameterException",
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let days = req.recovery_window_in_days.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(SecretsError::new(
            "InvalidParameterException",
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        ));
    }
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.secret(&req.secret_id).await?;
    let now = s.now();
    if force {
        super::purge::purge(s, &secret, revision).await?;
        return Ok(DeleteSecretResponse { arn: Some(secret.arn), name: Some(secret.name), deletion_date: Some(now) });
    }
    if secret.deleted.is_some() {
        return Err(SecretsError::new(
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was already scheduled for deletion.",
        ));
    }
    let purge_at = now + f64::from(days as i32) * 86_400.0;
    secret.deleted = Some(now);
    secret.purge_at = Some(purge_at);
    let secret = write(s, secret, revision, None).await?;
    s.wake_purge();
    Ok(DeleteSecretResponse { arn: Some(secret.arn), name: Some(secret.name), deletion_date: Some(purge_at) })
}

pub(crate) async fn restore(s: &Secrets, req: RestoreSecretRequest) -> Result<RestoreSecretResponse, SecretsError> {
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.secret(&req.secret_id).await?;
    secret.deleted = None;
    secret.purge_at = None;
    let secret = write(s, secret, revision, None).await?;
    Ok(RestoreSecretResponse { arn: Some(secret.arn), name: Some(secret.name) })
}

pub(crate) async fn update_stage(
    s: &Secrets,
    req: UpdateSecretVersionStageRequest,
) -> Result<UpdateSecretVersionStageResponse, SecretsError> {
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.live_secret(&req.secret_id).await?;
    stages::update(
        &mut secret.versions,
        &req.version_stage,
        req.remove_from_version_id.as_deref().filter(|v| !v.is_empty()),
        req.move_to_version_id.as_deref().filter(|v| !v.is_empty()),
    )?;
    secret.last_changed = s.now();
    let secret = write(s, secret, revision, None).await?;
    Ok(UpdateSecretVersionStageResponse { arn: Some(secret.arn), name: Some(secret.name) })
}

pub(crate) async fn list_versions(
    s: &Secrets,
    req: ListSecretVersionIdsRequest,
) -> Result<ListSecretVersionIdsResponse, SecretsError> {
    let size = page_size(req.max_results)?;
    let (secret, _) = s.secret(&req.secret_id).await?;
    let deprecated = req.include_deprecated.unwrap_or(false);
    let mut versions: Vec<_> = secret.versions.iter().filter(|(_, v)| deprecated || !v.stages.is_empty()).collect();
    versions.sort_by(|a, b| b.1.created.total_cmp(&a.1.created));
    let entries = versions
        .into_iter()
        .map(|(id, v)| SecretVersionsListEntry {
            version_id: Some(id.clone()),
            version_stages: Some(v.stages.clone()),
            last_accessed_date: v.last_accessed,
            created_date: Some(v.created),
            kms_key_ids: Some(vec![v.key_arn.clone()]),
        })
        .collect();
    let (versions, next_token) = paged(entries, req.next_token.as_deref(), size)?;
    Ok(ListSecretVersionIdsResponse {
        versions: Some(versions),
        next_token,
        arn: Some(secret.arn),
        name: Some(secret.name),
    })
}

/// MaxResults: 1–100 (default 100).
pub(crate) fn page_size(max: Option<i32>) -> Result<usize, SecretsError> {
    match max {
        None => Ok(100),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(_) => Err(SecretsError::constraint("maxResults", "Member must have value less than or equal to 100")),
    }
}

/// One page, or InvalidNextTokenException.
pub(crate) fn paged<T>(
    items: Vec<T>,
    token: Option<&str>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), SecretsError> {
    records::page(items, token, size)
        .ok_or_else(|| SecretsError::new("InvalidNextTokenException", "The NextToken value is invalid."))
}

pub(crate) async fn tag(s: &Secrets, req: TagResourceRequest) -> Result<crate::wire::Empty, SecretsError> {
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.secret(&req.secret_id).await?;
    if secret.deleted.is_some() {
        return Err(marked_for_deletion());
    }
    merge_tags(&mut secret.tags, Some(req.tags))?;
    let key = secret_key(&secret.name);
    records::commit_or_conflict(&s.store, Txn::new().expect(key.clone(), revision).put(key, encode(&secret)?)).await?;
    Ok(crate::wire::Empty {})
}

pub(crate) async fn untag(s: &Secrets, req: UntagResourceRequest) -> Result<crate::wire::Empty, SecretsError> {
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.secret(&req.secret_id).await?;
    if secret.deleted.is_some() {
        return Err(marked_for_deletion());
    }
    secret.tags.retain(|(k, _)| !req.tag_keys.contains(k));
    let key = secret_key(&secret.name);
    records::commit_or_conflict(&s.store, Txn::new().expect(key.clone(), revision).put(key, encode(&secret)?)).await?;
    Ok(crate::wire::Empty {})
}
