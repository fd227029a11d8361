//! Repository policy operations: Set/Get/DeleteRepositoryPolicy. The policy is kept in the repository record and
//! evaluated with the caller's identity policies on every ECR and `/v2/` call on the repository (see
//! [`crate::AccessPolicy`]).

use super::{Caller, EcrError, check_name, check_registry};
use crate::Registry;
use crate::policy::check_repository_policy;
use berth_model::ecr::*;

fn not_found(registry: &Registry, repo: &str) -> EcrError {
    EcrError::RepositoryPolicyNotFound {
        message: format!(
            "Repository policy does not exist for the repository with name '{repo}' in the registry with id '{}'",
            registry.config.account_id
        ),
    }
}

pub(crate) async fn set_repository_policy(
    registry: &Registry,
    req: SetRepositoryPolicyRequest,
    _caller: &Caller,
) -> Result<SetRepositoryPolicyResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    check_repository_policy(&req.policy_text)?;
    let text = req.policy_text.clone();
    registry
        .update_repository(&req.repository_name, |r| {
            r.policy = Some(text.clone());
            Ok(())
        })
        .await?;
    Ok(SetRepositoryPolicyResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        policy_text: Some(req.policy_text),
    })
}

pub(crate) async fn get_repository_policy(
    registry: &Registry,
    req: GetRepositoryPolicyRequest,
    _caller: &Caller,
) -> Result<GetRepositoryPolicyResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let record = registry.repository(&req.repository_name)?;
    let text = record.policy.clone().ok_or_else(|| not_found(registry, &req.repository_name))?;
    Ok(GetRepositoryPolicyResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        policy_text: Some(text),
    })
}

pub(crate) async fn delete_repository_policy(
    registry: &Registry,
    req: DeleteRepositoryPolicyRequest,
    _caller: &Caller,
) -> Result<DeleteRepositoryPolicyResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    if registry.repository(&req.repository_name)?.policy.is_none() {
        return Err(not_found(registry, &req.repository_name));
    }
    let mut deleted = None;
    registry
        .update_repository(&req.repository_name, |r| {
            deleted = r.policy.take();
            Ok(())
        })
        .await?;
    let text = deleted.ok_or_else(|| not_found(registry, &req.repository_name))?;
    Ok(DeleteRepositoryPolicyResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        policy_text: Some(text),
    })
}
