//! Managed signing operations: PutSigningConfiguration, GetSigningConfiguration, DeleteSigningConfiguration and
//! DescribeImageSigningStatus.

use super::{Caller, EcrError, check_name, check_registry, image_digest};
use crate::Registry;
use crate::signing::check_configuration;
use berth_model::ecr::*;

fn not_found(registry: &Registry) -> EcrError {
    EcrError::SigningConfigurationNotFound {
        message: format!("No signing configuration exists for the registry with id '{}'", registry.config.account_id),
    }
}

pub(crate) async fn put_signing_configuration(
    registry: &Registry,
    req: PutSigningConfigurationRequest,
    _caller: &Caller,
) -> Result<PutSigningConfigurationResponse, EcrError> {
    let config = req.signing_configuration;
    let (region, account) = (registry.config.region.as_str(), registry.config.account_id.as_str());
    check_configuration(&config, region, account, &registry.config.signing_profiles)?;
    let stored = config.clone();
    registry
        .update_settings(|s| {
            s.signing = Some(stored.clone());
            Ok::<_, EcrError>(())
        })
        .await?;
    Ok(PutSigningConfigurationResponse { signing_configuration: Some(config) })
}

pub(crate) async fn get_signing_configuration(
    registry: &Registry,
    _req: GetSigningConfigurationRequest,
    _caller: &Caller,
) -> Result<GetSigningConfigurationResponse, EcrError> {
    let config = registry.settings().signing.clone().ok_or_else(|| not_found(registry))?;
    Ok(GetSigningConfigurationResponse {
        registry_id: Some(registry.config.account_id.clone()),
        signing_configuration: Some(config),
    })
}

pub(crate) async fn delete_signing_configuration(
    registry: &Registry,
    _req: DeleteSigningConfigurationRequest,
    _caller: &Caller,
) -> Result<DeleteSigningConfigurationResponse, EcrError> {
    let deleted = registry.update_settings(|s| s.signing.take().ok_or_else(|| not_found(registry))).await?;
    Ok(DeleteSigningConfigurationResponse {
        registry_id: Some(registry.config.account_id.clone()),
        signing_configuration: Some(deleted),
    })
}

pub(crate) async fn describe_image_signing_status(
    registry: &Registry,
    req: DescribeImageSigningStatusRequest,
    _caller: &Caller,
) -> Result<DescribeImageSigningStatusResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let digest = image_digest(registry, &req.repository_name, &req.image_id)?;
    let record = registry.signing_status(&req.repository_name, &digest).await.map_err(EcrError::from)?;
    let statuses = record
        .profiles
        .into_iter()
        .map(|(arn, state)| {
            let failed = state.status == SigningStatus::Failed;
            ImageSigningStatus {
                signing_profile_arn: Some(arn),
                failure_code: state.failure_code.filter(|_| failed),
                failure_reason: state.failure_reason.filter(|_| failed),
                status: Some(state.status),
            }
        })
        .collect();
    Ok(DescribeImageSigningStatusResponse {
        repository_name: Some(req.repository_name),
        image_id: Some(ImageIdentifier { image_digest: Some(digest), image_tag: req.image_id.image_tag }),
        registry_id: Some(registry.config.account_id.clone()),
        signing_statuses: Some(statuses),
    })
}
