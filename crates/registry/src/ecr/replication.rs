//! Replication operations: PutReplicationConfiguration and DescribeImageReplicationStatus (DescribeRegistry, in
//! [`super::account`], answers the configuration).

use super::{Caller, EcrError, check_name, check_registry, image_digest};
use crate::Registry;
use crate::replication::check_configuration;
use berth_model::ecr::*;

pub(crate) async fn put_replication_configuration(
    registry: &Registry,
    req: PutReplicationConfigurationRequest,
    _caller: &Caller,
) -> Result<PutReplicationConfigurationResponse, EcrError> {
    let config = req.replication_configuration;
    let own = (registry.config.region.as_str(), registry.config.account_id.as_str());
    check_configuration(&config, own, &registry.config.replication_destinations)?;
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
    let digest = image_digest(registry, &req.repository_name, &req.image_id)?;
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
