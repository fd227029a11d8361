//! Replication operations: PutReplicationConfiguration and DescribeImageReplicationStatus (DescribeRegistry, in
//! [`super::account`], answers the configuration).

use super::{Caller, EcrError, check_name, check_registry, invalid};
use crate::Registry;
use crate::digest::Digest;
use crate::replication::{ConfigProblem, check_configuration};
use berth_model::ecr::*;

pub(crate) async fn put_replication_configuration(
    registry: &Registry,
    req: PutReplicationConfigurationRequest,
    _caller: &Caller,
) -> Result<PutReplicationConfigurationResponse, EcrError> {
    let config = req.replication_configuration;
    let own = (registry.config.region.as_str(), registry.config.account_id.as_str());
    check_configuration(&config, own, &registry.config.replication_destinations).map_err(|p| match p {
        ConfigProblem::Constraint(m) => EcrError::Validation { message: format!("1 validation error detected: {m}") },
        ConfigProblem::Invalid(m) => invalid(m),
    })?;
    let stored = config.clone();
    registry
        .update_settings(|s| {
            s.replication = Some(stored.clone());
            Ok::<_, EcrError>(())
        })
        .await?;
    Ok(PutReplicationConfigurationResponse { replication_configuration: Some(config) })
}

pub(crate) async fn describe_image_replication_status(
    registry: &Registry,
    req: DescribeImageReplicationStatusRequest,
    _caller: &Caller,
) -> Result<DescribeImageReplicationStatusResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let id = &req.image_id;
    if let Some(d) = &id.image_digest
        && Digest::parse(d).is_err()
    {
        return Err(invalid(format!("Invalid parameter at 'imageId.imageDigest': {d:?} is not an image digest")));
    }
    let digest = {
        let state = registry.index.read();
        let entry = state.existing_repo(&req.repository_name).map_err(EcrError::from)?;
        let by_tag = id.image_tag.as_ref().map(|t| entry.tags.get(t).map(|(d, _)| d.clone()));
        match (&id.image_digest, by_tag) {
            (None, None) => return Err(invalid("Invalid parameter at 'imageId': an image digest or tag is required")),
            (_, Some(None)) => None,
            (Some(d), Some(Some(t))) if d != &t => None,
            (_, Some(Some(t))) => Some(t),
            (Some(d), None) => entry.images.contains_key(d).then(|| d.clone()),
        }
    };
    let digest = digest.ok_or_else(|| EcrError::ImageNotFound {
        message: format!(
            "The image with imageId {} does not exist within the repository with name '{}' in the registry with id \
             '{}'",
            describe_id(id),
            req.repository_name,
            registry.config.account_id
        ),
    })?;
    let record = registry.replication_status(&req.repository_name, &digest).await.map_err(EcrError::from)?;
    let statuses = record
        .destinations
        .into_iter()
        .map(|(name, state)| {
            let (region, registry_id) = name.split_once(':').unwrap_or((name.as_str(), ""));
            ImageReplicationStatus {
                region: Some(region.to_string()),
                registry_id: Some(registry_id.to_string()),
                status: Some(state.status),
                failure_code: if state.status == ReplicationStatus::Failed { state.failure } else { None },
            }
        })
        .collect();
    Ok(DescribeImageReplicationStatusResponse {
        repository_name: Some(req.repository_name),
        image_id: Some(ImageIdentifier { image_digest: Some(digest), image_tag: req.image_id.image_tag }),
        replication_statuses: Some(statuses),
    })
}

fn describe_id(id: &ImageIdentifier) -> String {
    match (&id.image_digest, &id.image_tag) {
        (Some(d), Some(t)) => format!("{{imageDigest:'{d}', imageTag:'{t}'}}"),
        (Some(d), None) => format!("{{imageDigest:'{d}'}}"),
        (None, Some(t)) => format!("{{imageTag:'{t}'}}"),
        (None, None) => "{}".to_string(),
    }
}
