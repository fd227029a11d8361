//! The ECS side of a scalable target: the service a resource ID names, its desired count and deployments, read
//! and changed through the control plane's public API (`describe_services`, `update_service`).

use crate::ScalingError;
use berth_control::Control;
use berth_model::ecs::{DeploymentRolloutState, DescribeServicesRequest, UpdateServiceRequest};

/// A resource ID's cluster and service (`service/<cluster>/<service>`).
pub fn parse_resource_id(resource_id: &str) -> Option<(&str, &str)> {
    let rest = resource_id.strip_prefix("service/")?;
    let (cluster, service) = rest.split_once('/')?;
    let ok = |s: &str| !s.is_empty() && !s.contains('/');
    (ok(cluster) && ok(service)).then_some((cluster, service))
}

/// What scaling needs to know about a service now.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceState {
    /// Its desired count.
    pub desired: i32,
    /// A deployment is rolling out (a new PRIMARY replacing ACTIVE ones, IN_PROGRESS): no scale-in then.
    pub deploying: bool,
}

/// The service's state, or `None` if it does not exist (or is no longer ACTIVE).
pub fn service_state(control: &Control, resource_id: &str) -> Option<ServiceState> {
    let (cluster, service) = parse_resource_id(resource_id)?;
    let req = DescribeServicesRequest {
        cluster: Some(cluster.to_string()),
        services: vec![service.to_string()],
        include: None,
    };
    let found = control.describe_services(req).ok()?.services?.into_iter().next()?;
    if found.status.as_deref() != Some("ACTIVE") {
        return None;
    }
    let deployments = found.deployments.unwrap_or_default();
    let deploying = deployments.len() > 1
        && deployments.iter().any(|d| d.rollout_state == Some(DeploymentRolloutState::InProgress));
    Some(ServiceState { desired: found.desired_count, deploying })
}

/// AWS's refusal of a resource ID that names no ECS service.
pub fn missing_service(resource_id: &str) -> ScalingError {
    ScalingError::validation(format!("ECS service doesn't exist: {resource_id}"))
}

/// Sets the service's desired count through UpdateService; the control plane's message on failure.
pub async fn set_desired(control: &Control, resource_id: &str, desired: i32) -> Result<(), String> {
    let Some((cluster, service)) = parse_resource_id(resource_id) else {
        return Err(format!("not an ECS service resource ID: {resource_id}"));
    };
    let req = UpdateServiceRequest {
        cluster: Some(cluster.to_string()),
        service: service.to_string(),
        desired_count: Some(desired),
        ..UpdateServiceRequest::default()
    };
    control.update_service(req).await.map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_name_a_cluster_and_a_service() {
        assert_eq!(parse_resource_id("service/default/web"), Some(("default", "web")));
        for bad in ["service/default", "service//web", "service/a/b/c", "table/a/b", "web"] {
            assert_eq!(parse_resource_id(bad), None, "{bad}");
        }
    }
}
