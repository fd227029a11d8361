//! Registry policy operations: Put/Get/DeleteRegistryPolicy. The policy is kept in the registry settings and
//! evaluated with the caller's identity policies where its scope (`REGISTRY_POLICY_SCOPE`) reaches (see
//! [`crate::policy`]).

use super::{Caller, EcrError};
use crate::Registry;
use crate::policy::check_registry_policy;
use berth_model::ecr::*;

fn not_found(registry: &Registry) -> EcrError {
    EcrError::RegistryPolicyNotFound {
        message: format!("Registry policy does not exist in the registry with id '{}'", registry.config.account_id),
    }
}

pub(crate) async fn put_registry_policy(
    registry: &Registry,
    req: PutRegistryPolicyRequest,
    _caller: &Caller,
) -> Result<PutRegistryPolicyResponse, EcrError> {
    let text = req.policy_text;
    registry
        .update_settings(|s| {
            // Checked against the scope in the same compare-and-swap that stores it.
            check_registry_policy(&text, s.policy_scope_v1())?;
            s.policy = Some(text.clone());
            Ok::<_, EcrError>(())
        })
        .await?;
    Ok(PutRegistryPolicyResponse { registry_id: Some(registry.config.account_id.clone()), policy_text: Some(text) })
}

pub(crate) async fn get_registry_policy(
    registry: &Registry,
    _req: GetRegistryPolicyRequest,
    _caller: &Caller,
) -> Result<GetRegistryPolicyResponse, EcrError> {
    let text = registry.settings().policy.clone().ok_or_else(|| not_found(registry))?;
    Ok(GetRegistryPolicyResponse { registry_id: Some(registry.config.account_id.clone()), policy_text: Some(text) })
}

pub(crate) async fn delete_registry_policy(
    registry: &Registry,
    _req: DeleteRegistryPolicyRequest,
    _caller: &Caller,
) -> Result<DeleteRegistryPolicyResponse, EcrError> {
    let deleted = registry.update_settings(|s| s.policy.take().ok_or_else(|| not_found(registry))).await?;
    Ok(DeleteRegistryPolicyResponse {
        registry_id: Some(registry.config.account_id.clone()),
        policy_text: Some(deleted),
    })
}
