//! What Berth refuses about how tasks would run, checked by the same two functions for RunTask, StartTask,
//! CreateService and UpdateService, so that the four answer one exception class with one message for one cause.
//!
//! [`check_options`] looks at the request's launch options before the task definition is known;
//! [`check_task_definition`] at the task definition (with the request's network configuration) once it is. A
//! service is checked when it is created or changed, not only when its tasks are placed, so that a service is
//! never accepted that could never start a task.

use crate::{ControlError, EcsException, Result};
use berth_model::ecs::{
    CapacityProviderStrategyItem, Compatibility, ContainerDefinition, LaunchType, NetworkConfiguration, NetworkMode,
    TaskDefinition, TaskDefinitionStatus,
};

/// ECS's message for a request that names both a launch type and a capacity provider strategy.
pub const BOTH_LAUNCH_TYPE_AND_STRATEGY: &str =
    "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.";

/// ECS's message for a network configuration given with a task definition whose network mode is not `awsvpc`.
pub const NETWORK_CONFIGURATION_NOT_VALID: &str =
    "Network Configuration is not valid for the given networkMode of this task definition.";

/// ECS's message (a `ClientException`) for a task definition revision that was deregistered.
pub const TASK_DEFINITION_INACTIVE: &str = "TaskDefinition is inactive";

/// Berth's message for `volumeConfigurations` (Amazon EBS volumes attached at launch).
pub const VOLUME_CONFIGURATIONS_UNSUPPORTED: &str =
    "volumeConfigurations (Amazon EBS volumes configured at launch) are not supported by Berth yet.";

/// The launch options a RunTask, StartTask, CreateService or UpdateService request carries.
#[derive(Debug, Default, Clone, Copy)]
pub struct LaunchOptions<'a> {
    /// `launchType` (absent: EC2, or the cluster's default strategy).
    pub launch_type: Option<LaunchType>,
    /// `capacityProviderStrategy`.
    pub capacity_provider_strategy: Option<&'a [CapacityProviderStrategyItem]>,
    /// `platformVersion` (Fargate only on ECS).
    pub platform_version: Option<&'a str>,
    /// Whether `volumeConfigurations` names any volume.
    pub volume_configurations: bool,
    /// `networkConfiguration` (checked against the task definition's network mode).
    pub network_configuration: Option<&'a NetworkConfiguration>,
    /// The cluster's capacity providers and default strategy (applies when the request names neither a launch
    /// type nor a strategy). `None` when the caller does not look at the cluster (StartTask, a service's tasks).
    pub cluster: Option<&'a crate::records::ClusterRecord>,
}

/// How a request's tasks launch, once its options are checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Launch {
    /// The launch type the tasks get.
    pub launch_type: LaunchType,
    /// The capacity provider strategy the tasks were asked for with (empty: `launchType` was given): Fargate
    /// providers for FARGATE tasks, node group providers for EC2 tasks.
    pub strategy: Vec<CapacityProviderStrategyItem>,
    /// The resolved platform version of Fargate tasks (`1.4.0`).
    pub platform_version: Option<String>,
}

impl Launch {
    /// Whether the tasks run on Fargate capacity.
    pub fn is_fargate(&self) -> bool {
        self.launch_type == LaunchType::Fargate
    }

    /// Whether the tasks run on the instances of node group capacity providers (an EC2 strategy).
    pub fn uses_node_groups(&self) -> bool {
        self.launch_type == LaunchType::Ec2 && !self.strategy.is_empty()
    }
}

fn unsupported(message: impl Into<String>) -> ControlError {
    ControlError::ecs(EcsException::UnsupportedFeatureException, message)
}

/// The message for a launch type Berth does not run.
pub fn launch_type_unsupported(launch_type: LaunchType) -> String {
    format!(
        "Launch type {launch_type} is not supported by Berth yet; use EC2 (tasks run on the cluster's container instances) or FARGATE."
    )
}

/// Checks a request's launch options; returns how its tasks launch (EC2 when nothing is named and the cluster has
/// no default strategy).
pub fn check_options(options: &LaunchOptions<'_>) -> Result<Launch> {
    let given = options.capacity_provider_strategy.filter(|s| !s.is_empty());
    if given.is_some() && options.launch_type.is_some() {
        return Err(ControlError::invalid(BOTH_LAUNCH_TYPE_AND_STRATEGY));
    }
    let cluster_default: Vec<CapacityProviderStrategyItem> = match (options.launch_type, given, options.cluster) {
        (None, None, Some(cluster)) => {
            cluster.default_capacity_provider_strategy.iter().map(crate::records::StrategyItem::to_wire).collect()
        }
        _ => Vec::new(),
    };
    let strategy: Option<&[CapacityProviderStrategyItem]> =
        given.or((!cluster_default.is_empty()).then_some(&cluster_default[..]));
    let launch_type = match strategy {
        Some(items) => {
            super::fargate::check_strategy(items)?;
            crate::capacity_providers::check_not_mixed(items)?;
            if given.is_some()
                && let Some(cluster) = options.cluster
                && items.iter().any(|i| !cluster.capacity_providers.contains(&i.capacity_provider))
            {
                return Err(ControlError::invalid(super::fargate::NOT_ASSOCIATED));
            }
            if items.iter().all(|i| super::fargate::is_fargate_provider(&i.capacity_provider)) {
                LaunchType::Fargate
            } else {
                LaunchType::Ec2
            }
        }
        None => options.launch_type.unwrap_or(LaunchType::Ec2),
    };
    if !matches!(launch_type, LaunchType::Ec2 | LaunchType::External | LaunchType::Fargate) {
        return Err(unsupported(launch_type_unsupported(launch_type)));
    }
    let platform_version = if launch_type == LaunchType::Fargate {
        Some(super::fargate::resolve_platform_version(options.platform_version)?)
    } else {
        // An empty string is absent (docs/COMPATIBILITY.md 2: an empty optional string is treated as absent).
        if options.platform_version.is_some_and(|v| !v.is_empty()) {
            return Err(ControlError::invalid(format!(
                "The platform version must be null when specifying an {launch_type} launch type."
            )));
        }
        None
    };
    if options.volume_configurations {
        return Err(unsupported(VOLUME_CONFIGURATIONS_UNSUPPORTED));
    }
    Ok(Launch { launch_type, strategy: strategy.map(<[_]>::to_vec).unwrap_or_default(), platform_version })
}

/// Checks that Berth can run `definition` with these (overridden) `containers` as `launch_type` tasks, with the
/// request's `network_configuration`. `allow_inactive` lets a deregistered revision pass (a service keeps running
/// the revision it was deployed with). `region` is the region this control plane serves.
pub fn check_task_definition(
    region: &str,
    definition: &TaskDefinition,
    containers: &[ContainerDefinition],
    launch_type: LaunchType,
    network_configuration: Option<&NetworkConfiguration>,
    allow_inactive: bool,
) -> Result<()> {
    if !allow_inactive && definition.status != Some(TaskDefinitionStatus::Active) {
        return Err(ControlError::client(TASK_DEFINITION_INACTIVE));
    }
    let required = definition.requires_compatibilities.as_deref().unwrap_or_default();
    let compatible = match launch_type {
        LaunchType::External => Compatibility::External,
        LaunchType::Fargate => Compatibility::Fargate,
        _ => Compatibility::Ec2,
    };
    // A FARGATE launch needs a definition validated against Fargate's rules (`compatibilities`), required or not.
    let validated = definition.compatibilities.as_deref().unwrap_or_default();
    let refused = if launch_type == LaunchType::Fargate {
        !validated.contains(&compatible)
    } else {
        !required.is_empty() && !required.contains(&compatible)
    };
    if refused {
        return Err(ControlError::invalid(format!("Task definition does not support launch_type {launch_type}.")));
    }

    // The network configuration against the network mode and the VPC: `crate::network::check`, with the VPC.
    if network_configuration.is_some() && definition.network_mode != Some(NetworkMode::Awsvpc) {
        return Err(ControlError::invalid(NETWORK_CONFIGURATION_NOT_VALID));
    }
    crate::task_secrets::validate(definition, containers)?;
    if let Some(why) = crate::support::unsupported(definition, containers, region) {
        return Err(unsupported(why));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(result: Result<impl std::fmt::Debug>) -> (EcsException, String) {
        match result {
            Err(ControlError::Ecs { exception, message, .. }) => (exception, message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn options_refuse_what_berth_cannot_launch() {
        let strategy = [CapacityProviderStrategyItem { capacity_provider: "FARGATE".into(), ..Default::default() }];
        let both = LaunchOptions {
            launch_type: Some(LaunchType::Ec2),
            capacity_provider_strategy: Some(&strategy),
            ..Default::default()
        };
        assert_eq!(refusal(check_options(&both)).1, BOTH_LAUNCH_TYPE_AND_STRATEGY);
        let only = LaunchOptions { capacity_provider_strategy: Some(&strategy), ..Default::default() };
        let launch = check_options(&only).unwrap();
        assert_eq!((launch.launch_type, launch.platform_version.as_deref()), (LaunchType::Fargate, Some("1.4.0")));
        assert_eq!(launch.strategy, strategy);
        // A node group provider's tasks are EC2 tasks on its instances; one strategy cannot mix the two kinds.
        let nodes = [CapacityProviderStrategyItem { capacity_provider: "my-asg".into(), ..Default::default() }];
        let other = LaunchOptions { capacity_provider_strategy: Some(&nodes), ..Default::default() };
        let launch = check_options(&other).unwrap();
        assert!(launch.uses_node_groups() && !launch.is_fargate());
        let mixed = [strategy[0].clone(), nodes[0].clone()];
        let mixed = LaunchOptions { capacity_provider_strategy: Some(&mixed), ..Default::default() };
        assert_eq!(refusal(check_options(&mixed)).1, crate::capacity_providers::MIXED_STRATEGY);
        let fargate = LaunchOptions {
            launch_type: Some(LaunchType::Fargate),
            platform_version: Some("LATEST"),
            ..Default::default()
        };
        assert_eq!(check_options(&fargate).unwrap().platform_version.as_deref(), Some("1.4.0"));
        let managed = LaunchOptions { launch_type: Some(LaunchType::ManagedInstances), ..Default::default() };
        assert!(refusal(check_options(&managed)).1.starts_with("Launch type MANAGED_INSTANCES is not supported"));
        // The cluster's default strategy applies when the request names neither; a named strategy must use the
        // cluster's providers.
        let mut cluster = crate::records::ClusterRecord {
            name: "c".into(),
            arn: String::new(),
            status: crate::status::ClusterStatus::Active,
            settings: Vec::new(),
            configuration: None,
            capacity_providers: Vec::new(),
            default_capacity_provider_strategy: vec![crate::records::StrategyItem {
                capacity_provider: "FARGATE_SPOT".into(),
                weight: Some(1),
                base: None,
            }],
            service_connect_namespace: None,
            tags: Vec::new(),
            created_at: 0.0,
        };
        let plain = LaunchOptions { cluster: Some(&cluster), ..Default::default() };
        assert_eq!(check_options(&plain).unwrap().strategy[0].capacity_provider, "FARGATE_SPOT");
        let named = LaunchOptions {
            capacity_provider_strategy: Some(&strategy),
            cluster: Some(&cluster),
            ..Default::default()
        };
        assert_eq!(refusal(check_options(&named)).1, super::super::fargate::NOT_ASSOCIATED);
        cluster.capacity_providers = vec!["FARGATE".into()];
        let named = LaunchOptions {
            capacity_provider_strategy: Some(&strategy),
            cluster: Some(&cluster),
            ..Default::default()
        };
        assert!(check_options(&named).is_ok());
        let platform = LaunchOptions { platform_version: Some("LATEST"), ..Default::default() };
        assert_eq!(
            refusal(check_options(&platform)),
            (
                EcsException::InvalidParameterException,
                "The platform version must be null when specifying an EC2 launch type.".into()
            )
        );
        let empty = LaunchOptions { platform_version: Some(""), ..Default::default() };
        assert_eq!(check_options(&empty).unwrap().launch_type, LaunchType::Ec2);
        let external = LaunchOptions { launch_type: Some(LaunchType::External), ..Default::default() };
        assert_eq!(check_options(&external).unwrap().launch_type, LaunchType::External);
    }

    #[test]
    fn task_definitions_are_checked_against_the_launch() {
        let plain = TaskDefinition { status: Some(TaskDefinitionStatus::Active), ..Default::default() };
        assert!(check_task_definition("us-east-1", &plain, &[], LaunchType::Ec2, None, false).is_ok());
        let inactive = TaskDefinition { status: Some(TaskDefinitionStatus::Inactive), ..plain.clone() };
        assert_eq!(
            refusal(check_task_definition("us-east-1", &inactive, &[], LaunchType::Ec2, None, false)),
            (EcsException::ClientException, TASK_DEFINITION_INACTIVE.into())
        );
        assert!(check_task_definition("us-east-1", &inactive, &[], LaunchType::Ec2, None, true).is_ok());
        let fargate_only =
            TaskDefinition { requires_compatibilities: Some(vec![Compatibility::Fargate]), ..plain.clone() };
        assert_eq!(
            refusal(check_task_definition("us-east-1", &fargate_only, &[], LaunchType::Ec2, None, false)).1,
            "Task definition does not support launch_type EC2."
        );
        let network = NetworkConfiguration::default();
        assert_eq!(
            refusal(check_task_definition("us-east-1", &plain, &[], LaunchType::Ec2, Some(&network), false)).1,
            NETWORK_CONFIGURATION_NOT_VALID
        );
        let awsvpc = TaskDefinition { network_mode: Some(NetworkMode::Awsvpc), ..plain };
        assert!(check_task_definition("us-east-1", &awsvpc, &[], LaunchType::Ec2, Some(&network), false).is_ok());
    }
}
