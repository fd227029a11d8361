//! Lifecycle policy operations: Put/Get/DeleteLifecyclePolicy and the preview pair.

use super::{Caller, EcrError, after_token, check_name, check_registry, invalid, page_size, paginate};
use crate::Registry;
use crate::error::RegistryError;
use crate::lifecycle::{Policy, RuleAction, evaluate};
use crate::meta::Key;
use crate::meta::records::PreviewRecord;
use berth_model::ecr::*;
use berth_store::{Txn, TxnOutcome};

fn not_found(registry: &Registry, repo: &str) -> EcrError {
    EcrError::LifecyclePolicyNotFound {
        message: format!(
            "Lifecycle policy does not exist for the repository with name '{repo}' in the registry with id '{}'",
            registry.config.account_id
        ),
    }
}

pub(crate) async fn put_lifecycle_policy(
    registry: &Registry,
    req: PutLifecyclePolicyRequest,
    _caller: &Caller,
) -> Result<PutLifecyclePolicyResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    Policy::parse(&req.lifecycle_policy_text)?;
    let text = req.lifecycle_policy_text.clone();
    registry
        .update_repository(&req.repository_name, |r| {
            r.lifecycle_policy = Some(text.clone());
            Ok(())
        })
        .await?;
    Ok(PutLifecyclePolicyResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        lifecycle_policy_text: Some(req.lifecycle_policy_text),
    })
}

pub(crate) async fn get_lifecycle_policy(
    registry: &Registry,
    req: GetLifecyclePolicyRequest,
    _caller: &Caller,
) -> Result<GetLifecyclePolicyResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let record = registry.repository(&req.repository_name)?;
    let text = record.lifecycle_policy.clone().ok_or_else(|| not_found(registry, &req.repository_name))?;
    Ok(GetLifecyclePolicyResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        lifecycle_policy_text: Some(text),
        last_evaluated_at: record.lifecycle_evaluated_at,
    })
}

pub(crate) async fn delete_lifecycle_policy(
    registry: &Registry,
    req: DeleteLifecyclePolicyRequest,
    _caller: &Caller,
) -> Result<DeleteLifecyclePolicyResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let mut removed = None;
    let record = registry
        .update_repository(&req.repository_name, |r| match r.lifecycle_policy.take() {
            Some(text) => {
                removed = Some(text);
                Ok(())
            }
            None => Err(RegistryError::InvalidParameter { reason: String::new() }),
        })
        .await
        .map_err(|e| match e {
            RegistryError::InvalidParameter { .. } => not_found(registry, &req.repository_name),
            other => other.into(),
        })?;
    Ok(DeleteLifecyclePolicyResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        lifecycle_policy_text: removed,
        last_evaluated_at: record.lifecycle_evaluated_at,
    })
}

pub(crate) async fn start_lifecycle_policy_preview(
    registry: &Registry,
    req: StartLifecyclePolicyPreviewRequest,
    _caller: &Caller,
) -> Result<StartLifecyclePolicyPreviewResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let repo = &req.repository_name;
    let record = registry.repository(repo)?;
    let text = match req.lifecycle_policy_text.clone().or_else(|| record.lifecycle_policy.clone()) {
        Some(t) => t,
        None => return Err(not_found(registry, repo)),
    };
    let policy = Policy::parse(&text)?;
    let candidates = registry.lifecycle_candidates(repo)?;
    let expiries = evaluate(&policy, &candidates, registry.now());
    let results = expiries
        .iter()
        .filter_map(|e| candidates.iter().find(|c| c.digest == e.digest).map(|c| (e, c)))
        .map(|(e, c)| LifecyclePolicyPreviewResult {
            image_tags: if c.tags.is_empty() { None } else { Some(c.tags.clone()) },
            image_digest: Some(c.digest.clone()),
            image_pushed_at: Some(c.pushed_at),
            action: Some(match e.action {
                RuleAction::Expire => {
                    LifecyclePolicyRuleAction { r#type: Some(ImageActionType::Expire), target_storage_class: None }
                }
                RuleAction::Archive => LifecyclePolicyRuleAction {
                    r#type: Some(ImageActionType::Transition),
                    target_storage_class: Some(LifecyclePolicyTargetStorageClass::Archive),
                },
            }),
            applied_rule_priority: Some(e.rule_priority.clamp(0, i32::MAX as i64) as i32),
            storage_class: Some(if c.archived_at.is_some() {
                LifecyclePolicyStorageClass::Archive
            } else {
                LifecyclePolicyStorageClass::Standard
            }),
        })
        .collect();
    let preview = PreviewRecord { policy_text: text.clone(), status: LifecyclePolicyPreviewStatus::Complete, results };
    let key = Key::Preview(repo.clone()).render();
    let value = serde_json::to_vec(&preview).map_err(|source| RegistryError::Record { key: key.clone(), source })?;
    if let TxnOutcome::Committed { revision } =
        registry.store.txn(Txn::new().put(key, value)).await.map_err(RegistryError::from)?
    {
        registry.index.wait_for(revision).await;
    }
    Ok(StartLifecyclePolicyPreviewResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        lifecycle_policy_text: Some(text),
        status: Some(LifecyclePolicyPreviewStatus::InProgress),
    })
}

pub(crate) async fn get_lifecycle_policy_preview(
    registry: &Registry,
    req: GetLifecyclePolicyPreviewRequest,
    _caller: &Caller,
) -> Result<GetLifecyclePolicyPreviewResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let ids = req.image_ids.clone().filter(|i| !i.is_empty());
    if ids.is_some() && (req.max_results.is_some() || req.next_token.is_some()) {
        return Err(invalid("maxResults and nextToken cannot be used with imageIds"));
    }
    let size = page_size(req.max_results, 100, 100)?;
    let after = after_token(req.next_token.as_ref())?;
    registry.require_repo(&req.repository_name)?;
    let preview = registry
        .index
        .read()
        .repo(&req.repository_name)
        .and_then(|r| r.preview.as_ref().map(|(p, _)| p.clone()))
        .ok_or_else(|| EcrError::LifecyclePolicyPreviewNotFound {
            message: format!("There is no lifecycle policy preview for the repository '{}'", req.repository_name),
        })?;
    let status = req.filter.as_ref().and_then(|f| f.tag_status).unwrap_or(TagStatus::Any);
    let mut results: Vec<LifecyclePolicyPreviewResult> = preview
        .results
        .iter()
        .filter(|r| {
            let tagged = r.image_tags.as_ref().is_some_and(|t| !t.is_empty());
            match status {
                TagStatus::Any => true,
                TagStatus::Tagged => tagged,
                TagStatus::Untagged => !tagged,
            }
        })
        .filter(|r| {
            ids.as_ref().is_none_or(|ids| {
                ids.iter().any(|id| {
                    id.image_digest.as_ref().is_some_and(|d| r.image_digest.as_ref() == Some(d))
                        || id.image_tag.as_ref().is_some_and(|t| r.image_tags.as_ref().is_some_and(|ts| ts.contains(t)))
                })
            })
        })
        .cloned()
        .collect();
    let transitioning = preview
        .results
        .iter()
        .filter(|r| r.action.as_ref().and_then(|a| a.r#type) == Some(ImageActionType::Transition))
        .count() as i32;
    let total = preview.results.len() as i32 - transitioning;
    results.sort_by(|a, b| a.image_digest.cmp(&b.image_digest));
    let (page, next) = paginate(results, |r| r.image_digest.clone().unwrap_or_default(), after, size);
    Ok(GetLifecyclePolicyPreviewResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        lifecycle_policy_text: Some(preview.policy_text.clone()),
        status: Some(preview.status),
        next_token: next,
        preview_results: Some(page),
        summary: Some(LifecyclePolicyPreviewSummary {
            expiring_image_total_count: Some(total),
            transitioning_image_total_counts: (transitioning > 0).then(|| {
                vec![TransitioningImageTotalCount {
                    target_storage_class: Some(LifecyclePolicyTargetStorageClass::Archive),
                    image_total_count: Some(transitioning),
                }]
            }),
        }),
    })
}
