//! CreateService's and UpdateService's rules for a service with the EXTERNAL deployment controller: what belongs
//! to task sets is refused on the service (a value DescribeServices shows, fed back, is no change), and the
//! settings that watch ECS's own rolling deployments (circuit breaker, alarms) cannot be enabled.

use super::primary;
use crate::records::ServiceRecord;
use crate::{ControlError, Result};
use berth_model::ecs::{CreateServiceRequest, SchedulingStrategy, UpdateServiceRequest};

/// Where CreateTaskSet (not CreateService) takes a member for an EXTERNAL service.
fn per_task_set(member: &str) -> ControlError {
    ControlError::invalid(format!(
        "{member} cannot be specified for a service that uses the EXTERNAL deployment controller: each task set \
         carries its own (CreateTaskSet)."
    ))
}

/// CreateService's rules for the EXTERNAL deployment controller: REPLICA only; the task definition, load
/// balancers, service registries and network configuration belong to task sets; no circuit breaker or alarms
/// (they watch ECS's own rolling deployments).
pub(crate) fn check_external_service(req: &CreateServiceRequest, strategy: SchedulingStrategy) -> Result<()> {
    if strategy == SchedulingStrategy::Daemon {
        return Err(ControlError::invalid(
            "The EXTERNAL deployment controller does not support the DAEMON scheduling strategy.",
        ));
    }
    if req.task_definition.is_some() {
        return Err(per_task_set("taskDefinition"));
    }
    if req.load_balancers.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(per_task_set("loadBalancers"));
    }
    if req.service_registries.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(per_task_set("serviceRegistries"));
    }
    if req.network_configuration.is_some() {
        return Err(per_task_set("networkConfiguration"));
    }
    if req.volume_configurations.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(per_task_set("volumeConfigurations"));
    }
    check_rolling_only(req.deployment_configuration.as_ref())
}

/// The circuit breaker and alarms watch ECS's rolling deployments: a service with the EXTERNAL deployment
/// controller cannot enable them.
fn check_rolling_only(config: Option<&berth_model::ecs::DeploymentConfiguration>) -> Result<()> {
    let Some(config) = config else { return Ok(()) };
    if config.deployment_circuit_breaker.as_ref().is_some_and(|b| b.enable) {
        return Err(ControlError::invalid(
            "The deployment circuit breaker can only be used with the ECS deployment controller.",
        ));
    }
    if config.alarms.as_ref().is_some_and(|a| a.enable) {
        return Err(ControlError::invalid("Deployment alarms can only be used with the ECS deployment controller."));
    }
    Ok(())
}

/// UpdateService's rules for an EXTERNAL service: the desired count, grace period, deployment configuration,
/// placement, tagging and ECS Exec settings change on the service; what a task set carries needs a new task set.
/// A member that repeats what DescribeServices shows (the primary task set's, or an empty list) is no change.
pub(crate) fn check_external_update(req: &UpdateServiceRequest, service: &ServiceRecord) -> Result<()> {
    let shown = primary(service);
    let same_td =
        |td: &String| shown.is_some_and(|p| &p.task_definition == td || td_name_matches(&p.task_definition, td));
    let given = [
        (req.task_definition.as_ref().is_some_and(|td| !same_td(td)), "taskDefinition"),
        (
            req.load_balancers.as_ref().is_some_and(|l| !l.is_empty() && Some(l) != shown.map(|p| &p.load_balancers)),
            "loadBalancers",
        ),
        (
            req.service_registries
                .as_ref()
                .is_some_and(|l| !l.is_empty() && Some(l) != shown.map(|p| &p.service_registries)),
            "serviceRegistries",
        ),
        (
            req.network_configuration.is_some()
                && req.network_configuration.as_ref() != shown.and_then(|p| p.network_configuration.as_ref()),
            "networkConfiguration",
        ),
        (req.capacity_provider_strategy.as_ref().is_some_and(|l| !l.is_empty()), "capacityProviderStrategy"),
        (
            req.platform_version.is_some()
                && req.platform_version.as_ref() != shown.and_then(|p| p.platform_version.as_ref()),
            "platformVersion",
        ),
        (req.force_new_deployment, "forceNewDeployment"),
        (req.volume_configurations.as_ref().is_some_and(|v| !v.is_empty()), "volumeConfigurations"),
    ];
    if let Some((_, member)) = given.iter().find(|(g, _)| *g) {
        return Err(ControlError::invalid(format!(
            "{member} cannot be updated for a service that uses the EXTERNAL deployment controller: create a new \
             task set (CreateTaskSet) instead."
        )));
    }
    check_rolling_only(req.deployment_configuration.as_ref())
}

/// Whether `given` (`family:revision`) names the task definition ARN `arn`.
fn td_name_matches(arn: &str, given: &str) -> bool {
    arn.rsplit_once(":task-definition/").is_some_and(|(_, name)| name == given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Stability, TaskSetStatus};

    #[test]
    fn external_services_leave_task_set_members_to_task_sets() {
        let ok = CreateServiceRequest { service_name: "web".into(), desired_count: Some(2), ..Default::default() };
        check_external_service(&ok, SchedulingStrategy::Replica).unwrap();
        let e = check_external_service(&ok, SchedulingStrategy::Daemon).unwrap_err().to_string();
        assert!(e.contains("DAEMON"), "{e}");
        let with_td = CreateServiceRequest { task_definition: Some("web:1".into()), ..ok.clone() };
        let e = check_external_service(&with_td, SchedulingStrategy::Replica).unwrap_err().to_string();
        assert!(e.contains("taskDefinition") && e.contains("CreateTaskSet"), "{e}");
        let empty_lists =
            CreateServiceRequest { load_balancers: Some(vec![]), service_registries: Some(vec![]), ..ok.clone() };
        check_external_service(&empty_lists, SchedulingStrategy::Replica).unwrap();
        let service = ServiceRecord::default();
        let update = UpdateServiceRequest { service: "web".into(), desired_count: Some(3), ..Default::default() };
        check_external_update(&update, &service).unwrap();
        let redeploy = UpdateServiceRequest { force_new_deployment: true, ..update.clone() };
        let e = check_external_update(&redeploy, &service).unwrap_err().to_string();
        assert!(e.contains("forceNewDeployment"), "{e}");
        let new_td = UpdateServiceRequest { task_definition: Some("web:2".into()), ..update.clone() };
        let e = check_external_update(&new_td, &service).unwrap_err().to_string();
        assert!(e.contains("taskDefinition") && e.contains("CreateTaskSet"), "{e}");
        // What DescribeServices shows, fed back, is no change.
        let mut ts = crate::records::TaskSetRecord {
            id: "ecs-svc/1".into(),
            arn: String::new(),
            status: TaskSetStatus::Primary,
            task_definition: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2".into(),
            launch_type: None,
            capacity_provider_strategy: Vec::new(),
            platform_version: None,
            network_configuration: None,
            load_balancers: Vec::new(),
            service_registries: Vec::new(),
            scale: 100.0,
            external_id: None,
            tags: Vec::new(),
            client_token: None,
            stability: Stability::Stabilizing,
            stability_at: 0.0,
            created_at: 0.0,
            updated_at: 0.0,
        };
        ts.status = TaskSetStatus::Primary;
        let with_primary = ServiceRecord { task_sets: vec![ts], ..Default::default() };
        let round_trip = UpdateServiceRequest { load_balancers: Some(vec![]), ..new_td.clone() };
        check_external_update(&round_trip, &with_primary).unwrap();
        let full_arn = UpdateServiceRequest {
            task_definition: Some("arn:aws:ecs:us-east-1:000000000000:task-definition/web:2".into()),
            ..update
        };
        check_external_update(&full_arn, &with_primary).unwrap();
    }
}
