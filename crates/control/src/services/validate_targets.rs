//! CreateService's and UpdateService's checks of `loadBalancers` and `serviceRegistries`, with ECS's messages where
//! ECS has them: the target group must exist, be attached to a load balancer and fit the task definition's network
//! mode (`instance` for `bridge`/`host`, `ip` for `awsvpc`); the container and port must be in the task definition;
//! a registry must exist; with `bridge`/`host` tasks it needs SRV records and a container name and port, with
//! `awsvpc` tasks A and/or SRV records, a port (`port`, or `containerName` and `containerPort`) exactly when it has
//! SRV records.

use super::targets::ServiceTargets;
use crate::cache::State;
use crate::status::ServiceStatus;
use crate::{ControlError, EcsException, Result};
use berth_model::ecs::{LoadBalancer, NetworkMode, ServiceRegistry, TaskDefinition};

/// The most target groups a service may use (ECS's quota).
pub const MAX_TARGET_GROUPS: usize = 5;

fn unsupported(what: &str) -> ControlError {
    ControlError::ecs(EcsException::UnsupportedFeatureException, format!("{what} not supported by Berth yet."))
}

fn mode_name(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::Awsvpc => "awsvpc",
        NetworkMode::Host => "host",
        NetworkMode::None => "none",
        NetworkMode::Bridge => "bridge",
    }
}

/// Checks that the task definition has a container `name` with a port mapping for `port`.
fn check_container(td: &TaskDefinition, name: &str, port: i32) -> Result<()> {
    let container =
        td.container_definitions.iter().flatten().find(|c| c.name.as_deref() == Some(name)).ok_or_else(|| {
            ControlError::invalid(format!("The container {name} does not exist in the task definition."))
        })?;
    let mapped = container.port_mappings.iter().flatten().any(|m| m.container_port == Some(port));
    if !mapped {
        return Err(ControlError::invalid(format!(
            "The container {name} did not have a container port {port} defined."
        )));
    }
    Ok(())
}

/// An awsvpc task's registry: A and/or SRV records (the task's own address); a port, given as `port` or as
/// `containerName` and `containerPort` (not both), exactly when the registry has SRV records.
fn check_awsvpc_registry(td: &TaskDefinition, reg: &ServiceRegistry, srv: bool) -> Result<()> {
    let named = reg.container_name.is_some() || reg.container_port.is_some();
    if reg.port.is_some() && named {
        return Err(ControlError::invalid(
            "Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both.",
        ));
    }
    if !srv {
        if reg.container_port.is_some() {
            return Err(ControlError::invalid(
                "The values specified for serviceRegistries do not require a value for 'containerPort'. Remove the value and retry.",
            ));
        }
        if reg.port.is_some() {
            return Err(ControlError::invalid(
                "The values specified for serviceRegistries do not require a value for 'port'. Remove the value and retry.",
            ));
        }
        return Ok(());
    }
    match (reg.container_name.as_deref(), reg.container_port, reg.port) {
        (Some(container), Some(port), None) => check_container(td, container, port),
        (None, None, Some(port)) if (1..=65535).contains(&port) => Ok(()),
        (None, None, Some(port)) => {
            Err(ControlError::invalid(format!("The port {port} of a service registry must be between 1 and 65535.")))
        }
        _ => Err(ControlError::invalid(
            "The service registry has SRV records: specify a value for 'port', or for 'containerName' and 'containerPort' from the task definition.",
        )),
    }
}

/// A `bridge` or `host` task's registry: SRV records only, with the container name and port.
fn check_host_registry(
    td: &TaskDefinition,
    reg: &ServiceRegistry,
    arn: &str,
    srv: bool,
    address_records: bool,
    mode: NetworkMode,
) -> Result<()> {
    if address_records {
        return Err(ControlError::invalid(format!(
            "The service registry {arn} has A or AAAA records, which are only supported for tasks using the awsvpc network mode; use SRV records with the {} network mode.",
            mode_name(mode)
        )));
    }
    if reg.port.is_some() {
        return Err(ControlError::invalid(format!(
            "port is only valid for tasks using the awsvpc network mode; with {} give containerName and containerPort.",
            mode_name(mode)
        )));
    }
    match (reg.container_name.as_deref(), reg.container_port) {
        (Some(container), Some(port)) => check_container(td, container, port),
        (None, None) if !srv => Ok(()),
        _ => Err(ControlError::invalid(
            "When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be specified from the task definition.",
        )),
    }
}

/// The checks of a service's `loadBalancers` and `serviceRegistries` against its task definition. `service` is the
/// service's name in `cluster` (its own use of a target group is not a conflict).
pub(crate) fn check(
    hook: Option<&dyn ServiceTargets>,
    state: &State,
    cluster: &str,
    service: &str,
    load_balancers: &[LoadBalancer],
    registries: &[ServiceRegistry],
    td: &TaskDefinition,
) -> Result<()> {
    if load_balancers.is_empty() && registries.is_empty() {
        return Ok(());
    }
    let Some(hook) = hook else {
        return Err(unsupported(
            "Load balancers and service discovery registries for services without the server's ELBv2 and Cloud Map are",
        ));
    };
    let mode = td.network_mode.unwrap_or(NetworkMode::Bridge);
    if load_balancers.len() > MAX_TARGET_GROUPS {
        return Err(ControlError::invalid(format!(
            "A service can use at most {MAX_TARGET_GROUPS} target groups, got {}.",
            load_balancers.len()
        )));
    }
    for (i, lb) in load_balancers.iter().enumerate() {
        if lb.load_balancer_name.is_some() {
            return Err(unsupported("Classic Load Balancers (loadBalancerName) are"));
        }
        let arn = lb
            .target_group_arn
            .as_deref()
            .ok_or_else(|| ControlError::invalid("targetGroupArn is required for a load balancer of a service."))?;
        let (Some(container), Some(port)) = (lb.container_name.as_deref(), lb.container_port) else {
            return Err(ControlError::invalid(
                "containerName and containerPort are required for a load balancer of a service.",
            ));
        };
        if load_balancers[..i]
            .iter()
            .any(|o| o.target_group_arn.as_deref() == Some(arn) && o.container_name.as_deref() == Some(container))
        {
            return Err(ControlError::invalid(format!(
                "The target group {arn} is given twice for container {container}."
            )));
        }
        let info = hook.target_group(arn).ok_or_else(|| {
            ControlError::invalid(
                "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions.",
            )
        })?;
        match (info.target_type.as_str(), mode) {
            ("ip", NetworkMode::Awsvpc) | ("instance", NetworkMode::Bridge | NetworkMode::Host) => {}
            (kind, _) => {
                return Err(ControlError::invalid(format!(
                    "The provided target group {arn} has target type {kind}, which is incompatible with the {} network mode specified in the task definition.",
                    mode_name(mode)
                )));
            }
        }
        if info.load_balancers.is_empty() {
            return Err(ControlError::invalid(format!(
                "The target group with targetGroupArn {arn} does not have an associated load balancer."
            )));
        }
        check_container(td, container, port)?;
        super::blue_green::config::check_advanced(hook, lb, &info)?;
        let alternate = lb.advanced_configuration.as_ref().and_then(|a| a.alternate_target_group_arn.as_deref());
        let taken = state.services.iter().find(|((c, n), v)| {
            (c != cluster || n != service)
                && v.record.status() != Some(ServiceStatus::Inactive)
                && v.record
                    .load_balancers
                    .iter()
                    .flatten()
                    .chain(v.record.task_sets.iter().flat_map(|t| t.load_balancers.iter()))
                    .flat_map(|o| {
                        let alt =
                            o.advanced_configuration.as_ref().and_then(|a| a.alternate_target_group_arn.as_deref());
                        [o.target_group_arn.as_deref(), alt]
                    })
                    .flatten()
                    .any(|g| g == arn || Some(g) == alternate)
        });
        if let Some((_, other)) = taken {
            return Err(ControlError::invalid(format!(
                "The target group {arn} is already used by {}: in Berth a target group serves one service.",
                other.record.arn
            )));
        }
    }
    if registries.len() > 1 {
        return Err(ControlError::invalid("A service can have only one service registry."));
    }
    for reg in registries {
        let arn = reg.registry_arn.as_deref().ok_or_else(|| ControlError::invalid("registryArn is required."))?;
        let info = hook
            .registry(arn)
            .ok_or_else(|| ControlError::invalid(format!("The service registry {arn} does not exist.")))?;
        match mode {
            NetworkMode::Awsvpc => check_awsvpc_registry(td, reg, info.srv)?,
            NetworkMode::None => {
                return Err(ControlError::invalid(
                    "Service discovery is not supported for tasks using the none network mode.",
                ));
            }
            NetworkMode::Bridge | NetworkMode::Host => {
                check_host_registry(td, reg, arn, info.srv, info.address_records, mode)?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::targets::{RegistryInfo, TargetGroupInfo, TargetHealth};
    use berth_model::ecs::{ContainerDefinition, PortMapping};
    use futures::future::BoxFuture;
    use std::collections::BTreeMap;

    /// Target groups `tg-instance` (attached), `tg-lonely` (no load balancer), `tg-ip`; registries `srv` and `a`.
    struct Fake;

    impl ServiceTargets for Fake {
        fn target_group(&self, arn: &str) -> Option<TargetGroupInfo> {
            let (kind, lbs) = match arn {
                "tg-instance" => ("instance", vec!["lb".to_string()]),
                "tg-lonely" => ("instance", vec![]),
                "tg-ip" => ("ip", vec!["lb".to_string()]),
                _ => return None,
            };
            Some(TargetGroupInfo {
                target_type: kind.into(),
                load_balancers: lbs,
                deregistration_delay: 300.0,
                targets: vec![],
            })
        }
        fn target_health(&self, _: &str, _: &str, _: u16) -> TargetHealth {
            TargetHealth::NotRegistered
        }
        fn register_targets(&self, _: String, _: Vec<(String, u16)>) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn deregister_targets(&self, _: String, _: Vec<(String, u16)>) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn registry(&self, arn: &str) -> Option<RegistryInfo> {
            let (srv, address_records) = match arn {
                "srv" => (true, false),
                "a" => (false, true),
                _ => return None,
            };
            Some(RegistryInfo { arn: arn.into(), srv, address_records, instances: vec![], namespace: "ns".into() })
        }
        fn namespace_arn(&self, name_or_arn: &str) -> Option<String> {
            (name_or_arn == "ns").then(|| "ns".to_string())
        }
        fn register_instance(
            &self,
            _: String,
            _: String,
            _: BTreeMap<String, String>,
        ) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn deregister_instance(&self, _: String, _: String) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn td(mode: NetworkMode) -> TaskDefinition {
        TaskDefinition {
            network_mode: Some(mode),
            container_definitions: Some(vec![ContainerDefinition {
                name: Some("app".into()),
                port_mappings: Some(vec![PortMapping { container_port: Some(8080), ..Default::default() }]),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn lb(tg: &str, container: &str, port: i32) -> LoadBalancer {
        LoadBalancer {
            target_group_arn: Some(tg.into()),
            container_name: Some(container.into()),
            container_port: Some(port),
            ..Default::default()
        }
    }

    #[test]
    fn awsvpc_registries_take_a_records_and_a_port_only_with_srv_records() {
        let awsvpc = NetworkMode::Awsvpc;
        assert_eq!(message(&[], &[reg("a", None, None)], awsvpc), "ok");
        assert_eq!(message(&[], &[reg("srv", Some("app"), Some(8080))], awsvpc), "ok");
        let with_port = ServiceRegistry { port: Some(8080), ..reg("srv", None, None) };
        assert_eq!(message(&[], &[with_port], awsvpc), "ok");
        assert!(message(&[], &[reg("srv", None, None)], awsvpc).contains("specify a value for 'port'"));
        assert!(message(&[], &[reg("srv", Some("app"), Some(9))], awsvpc).contains("container port 9"));
        assert_eq!(
            message(&[], &[reg("a", Some("app"), Some(8080))], awsvpc),
            "InvalidParameterException: The values specified for serviceRegistries do not require a value for 'containerPort'. Remove the value and retry."
        );
        let a_with_port = ServiceRegistry { port: Some(8080), ..reg("a", None, None) };
        assert!(message(&[], &[a_with_port], awsvpc).contains("do not require a value for 'port'"));
        let both = ServiceRegistry { port: Some(8080), ..reg("srv", Some("app"), Some(8080)) };
        assert!(message(&[], &[both], awsvpc).contains("but not both"));
        let zero = ServiceRegistry { port: Some(0), ..reg("srv", None, None) };
        assert!(message(&[], &[zero], awsvpc).contains("between 1 and 65535"));
    }

    fn reg(arn: &str, container: Option<&str>, port: Option<i32>) -> ServiceRegistry {
        ServiceRegistry {
            registry_arn: Some(arn.into()),
            container_name: container.map(str::to_string),
            container_port: port,
            ..Default::default()
        }
    }

    fn message(lbs: &[LoadBalancer], regs: &[ServiceRegistry], mode: NetworkMode) -> String {
        let state = State::default();
        match check(Some(&Fake), &state, "default", "web", lbs, regs, &td(mode)) {
            Ok(()) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn load_balancers_are_checked_as_ecs_does() {
        let bridge = NetworkMode::Bridge;
        assert_eq!(message(&[lb("tg-instance", "app", 8080)], &[], bridge), "ok");
        assert_eq!(message(&[lb("tg-instance", "app", 8080)], &[], NetworkMode::Host), "ok");
        assert!(
            message(&[lb("tg-lonely", "app", 8080)], &[], bridge).contains("does not have an associated load balancer")
        );
        assert!(message(&[lb("tg-none", "app", 8080)], &[], bridge).contains("validate the specified targetGroupArn"));
        assert!(
            message(&[lb("tg-instance", "web", 8080)], &[], bridge)
                .contains("The container web does not exist in the task definition.")
        );
        assert!(
            message(&[lb("tg-instance", "app", 80)], &[], bridge)
                .contains("The container app did not have a container port 80 defined.")
        );
        assert!(
            message(&[lb("tg-ip", "app", 8080)], &[], bridge)
                .contains("has target type ip, which is incompatible with the bridge network mode")
        );
        let awsvpc = NetworkMode::Awsvpc;
        assert_eq!(message(&[lb("tg-ip", "app", 8080)], &[], awsvpc), "ok");
        assert_eq!(
            message(&[lb("tg-instance", "app", 8080)], &[], awsvpc),
            "InvalidParameterException: The provided target group tg-instance has target type instance, which is incompatible with the awsvpc network mode specified in the task definition."
        );
        assert!(message(&[lb("tg-ip", "app", 9)], &[], awsvpc).contains("did not have a container port 9 defined"));
        let six: Vec<LoadBalancer> = (0..6).map(|_| lb("tg-instance", "app", 8080)).collect();
        assert!(message(&six, &[], bridge).contains("at most 5 target groups"));
        let classic = LoadBalancer { load_balancer_name: Some("old".into()), ..lb("tg-instance", "app", 8080) };
        assert!(message(&[classic], &[], bridge).contains("Classic Load Balancers"));
        let state = State::default();
        let refused = check(None, &state, "default", "web", &[lb("tg-instance", "app", 8080)], &[], &td(bridge));
        assert!(matches!(refused, Err(ControlError::Ecs { exception: EcsException::UnsupportedFeatureException, .. })));
    }

    #[test]
    fn registries_need_srv_records_and_a_container_port_for_bridge_tasks() {
        let bridge = NetworkMode::Bridge;
        assert_eq!(message(&[], &[reg("srv", Some("app"), Some(8080))], bridge), "ok");
        assert!(
            message(&[], &[reg("srv", None, None)], bridge)
                .contains("values for 'containerName' and 'containerPort' must be specified")
        );
        assert!(message(&[], &[reg("a", Some("app"), Some(8080))], bridge).contains("awsvpc"));
        assert!(message(&[], &[reg("nope", Some("app"), Some(8080))], bridge).contains("does not exist"));
        assert!(message(&[], &[reg("srv", Some("app"), Some(9))], bridge).contains("container port 9"));
        assert!(message(&[], &[reg("srv", Some("app"), Some(8080))], NetworkMode::None).contains("none network mode"));
        let two = [reg("srv", Some("app"), Some(8080)), reg("srv", Some("app"), Some(8080))];
        assert!(message(&[], &two, bridge).contains("only one service registry"));
    }
}
