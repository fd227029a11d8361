//! A compose service as ECS requests (plain JSON in ECS's wire shapes): RegisterTaskDefinition, CreateService and
//! UpdateService. Each service is a task definition family and an ECS service named `PROJECT-SERVICE`.

use crate::project::Project;
use crate::service::Service;
use crate::volumes::Source;
use serde_json::{Value as Json, json};

/// The container memory reservation (MiB) given to a service that sets no memory: ECS needs one.
pub const DEFAULT_MEMORY_RESERVATION_MIB: u64 = 128;

/// The task definition family and ECS service name of a compose service.
pub fn family(project: &str, service: &str) -> String {
    format!("{project}-{service}")
}

/// The CloudWatch Logs group the project's containers log to by default.
pub fn log_group(project: &str) -> String {
    format!("/berth/compose/{project}")
}

/// The ECR repository a built service's image is pushed to (ECR names are lower case).
pub fn repository(project: &str, service: &str) -> String {
    family(project, service).to_ascii_lowercase()
}

/// The `name` prefix of Berth's file-mode container secrets (a file at the path that follows).
pub const SECRET_FILE_PREFIX: &str = "berth:file=";

/// The tag every resource of the project carries.
pub const PROJECT_TAG: &str = "berth:compose:project";

/// An ECS volume name from a Docker volume name (ECS takes letters, digits, `-` and `_`).
fn volume_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// What a task definition takes beyond the file.
#[derive(Debug, Clone, Copy)]
pub struct Deploy<'a> {
    /// The image to run (pushed for a `build:`).
    pub image: &'a str,
    /// The region awslogs options name.
    pub region: &'a str,
    /// The task execution role (`--execution-role-arn`), which reads the secrets.
    pub execution_role: Option<&'a str>,
    /// The ARN of each stored secret by its store name (the name is used for one missing here).
    pub secret_arns: &'a std::collections::BTreeMap<String, String>,
}

/// The RegisterTaskDefinition request of `service` running `deploy.image`, logging to the project's group in
/// `deploy.region` unless the service sets `logging`, with its secrets as Berth's file-mode container secrets.
/// `warnings` gets what Berth chose for the service (a memory reservation).
pub fn register_task_definition(
    project: &Project,
    service: &Service,
    deploy: &Deploy<'_>,
    warnings: &mut Vec<String>,
) -> Json {
    let (image, region) = (deploy.image, deploy.region);
    let mut container = service.container.clone();
    container.insert("name".into(), json!(service.name));
    container.insert("image".into(), json!(image));
    container.insert("essential".into(), json!(true));
    if !container.contains_key("memory") && !container.contains_key("memoryReservation") {
        warnings.push(format!(
            "services.{}: no memory limit or reservation; ECS needs one, so Berth reserves {} MiB (set \
             deploy.resources.reservations.memory)",
            service.name, DEFAULT_MEMORY_RESERVATION_MIB
        ));
        container.insert("memoryReservation".into(), json!(DEFAULT_MEMORY_RESERVATION_MIB));
    }
    if service.network_mode == "awsvpc" {
        awsvpc_container(project, service, &mut container);
    } else if !service.ports.is_empty() {
        let mappings: Vec<Json> = service
            .ports
            .iter()
            .map(|port| {
                let mut mapping = json!({"containerPort": port.container, "protocol": port.protocol});
                if let Some(host) = port.host {
                    mapping["hostPort"] = json!(host);
                }
                mapping
            })
            .collect();
        container.insert("portMappings".into(), json!(mappings));
    }
    let mut volumes = Vec::new();
    let mut mount_points = Vec::new();
    for (index, mount) in service.mounts.iter().enumerate() {
        let name = match &mount.source {
            Source::Named(volume) => {
                let named = project.volumes.get(volume).cloned().unwrap_or_default();
                let name = volume_name(&named.docker_name);
                let mut config = json!({"scope": "shared", "autoprovision": !named.external});
                if let Some(driver) = &named.driver {
                    config["driver"] = json!(driver);
                }
                if !named.driver_opts.is_empty() {
                    config["driverOpts"] = json!(
                        named.driver_opts.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()
                    );
                }
                if !named.labels.is_empty() {
                    config["labels"] = json!(
                        named.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()
                    );
                }
                volumes.push(json!({"name": name, "dockerVolumeConfiguration": config}));
                name
            }
            Source::Bind(path) => {
                let name = format!("bind-{index}");
                volumes.push(json!({"name": name, "host": {"sourcePath": path.display().to_string()}}));
                name
            }
            Source::Anonymous => {
                let name = format!("anonymous-{index}");
                volumes.push(json!({"name": name}));
                name
            }
        };
        mount_points.push(json!({"sourceVolume": name, "containerPath": mount.target, "readOnly": mount.read_only}));
    }
    if !mount_points.is_empty() {
        container.insert("mountPoints".into(), json!(mount_points));
    }
    let log_configuration = match &service.logging {
        Some((driver, options)) => json!({
            "logDriver": driver,
            "options": options.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        }),
        None => json!({
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group(&project.name),
                "awslogs-region": region,
                "awslogs-stream-prefix": "compose",
                "awslogs-create-group": "true",
            },
        }),
    };
    container.insert("logConfiguration".into(), log_configuration);
    if !service.secrets.is_empty() {
        let secrets: Vec<Json> = service
            .secrets
            .iter()
            .map(|secret| {
                let stored = project.definition(secret).map(|s| s.store_name(&project.name, &secret.source));
                let stored = stored.unwrap_or_default();
                let value_from = deploy.secret_arns.get(&stored).cloned().unwrap_or(stored);
                json!({"name": format!("{SECRET_FILE_PREFIX}{}", secret.path), "valueFrom": value_from})
            })
            .collect();
        container.insert("secrets".into(), json!(secrets));
    }
    let mut request = json!({
        "family": family(&project.name, &service.name),
        "networkMode": service.network_mode,
        "containerDefinitions": [container],
        "tags": [{"key": PROJECT_TAG, "value": project.name}],
    });
    if !volumes.is_empty() {
        request["volumes"] = json!(volumes);
    }
    if let Some(role) = deploy.execution_role {
        request["executionRoleArn"] = json!(role);
    }
    request
}

/// An awsvpc service's container: each container port mapped once (on the task's own address), the ports the file
/// publishes on the host in Berth's `berth.publish` label, and the project's namespace searched first, so the
/// project's services resolve by their short names.
fn awsvpc_container(project: &Project, service: &Service, container: &mut serde_json::Map<String, Json>) {
    let mut mapped: Vec<(u16, &str)> = Vec::new();
    for port in &service.ports {
        if !mapped.contains(&(port.container, port.protocol.as_str())) {
            mapped.push((port.container, port.protocol.as_str()));
        }
    }
    if !mapped.is_empty() {
        let mappings: Vec<Json> =
            mapped.iter().map(|(port, protocol)| json!({"containerPort": port, "protocol": protocol})).collect();
        container.insert("portMappings".into(), json!(mappings));
    }
    let published: Vec<String> = service
        .ports
        .iter()
        .filter_map(|p| p.host.map(|host| format!("{host}:{}/{}", p.container, p.protocol)))
        .collect();
    if !published.is_empty() {
        let labels = container.entry("dockerLabels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(berth_model::published_ports::LABEL.into(), json!(published.join(",")));
        }
    }
    let mut search = vec![json!(crate::networks::namespace(&project.name))];
    search.extend(container.get("dnsSearchDomains").and_then(Json::as_array).cloned().unwrap_or_default());
    container.insert("dnsSearchDomains".into(), Json::Array(search));
}

/// Where an awsvpc service's tasks are: the VPC's subnets, the security groups of its networks (and of its
/// published ports), and the Cloud Map service its tasks register in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The subnets (the default VPC's default subnets).
    pub subnets: Vec<String>,
    /// The security group ids.
    pub security_groups: Vec<String>,
    /// The Cloud Map service's ARN (A records of the tasks' addresses).
    pub registry_arn: String,
}

impl Placement {
    /// ECS's `networkConfiguration` of the service.
    pub fn network_configuration(&self) -> Json {
        json!({"awsvpcConfiguration": {
            "subnets": self.subnets,
            "securityGroups": self.security_groups,
            "assignPublicIp": "DISABLED",
        }})
    }
}

/// The CreateService request of `service` in `cluster` running `task_definition` (an ARN or `family:revision`);
/// an awsvpc service has its `placement`.
pub fn create_service(
    project: &Project,
    service: &Service,
    cluster: &str,
    task_definition: &str,
    placement: Option<&Placement>,
) -> Json {
    let mut request = json!({
        "cluster": cluster,
        "serviceName": family(&project.name, &service.name),
        "taskDefinition": task_definition,
        "tags": [{"key": PROJECT_TAG, "value": project.name}],
    });
    if let Some(placement) = placement {
        request["networkConfiguration"] = placement.network_configuration();
        request["serviceRegistries"] = json!([{"registryArn": placement.registry_arn}]);
    }
    if service.global {
        request["schedulingStrategy"] = json!("DAEMON");
    } else {
        request["desiredCount"] = json!(service.replicas);
        if let Some(config) = deployment_configuration(service) {
            request["deploymentConfiguration"] = config;
        }
    }
    request
}

/// A service that publishes fixed host ports replaces its tasks as compose recreates containers, the old one
/// stopped before the new one starts (`minimumHealthyPercent` 0, `maximumPercent` 100): with ECS's default (100,
/// 200) the new task would need the port its predecessor holds, and a one-host deployment would never finish.
fn deployment_configuration(service: &Service) -> Option<Json> {
    service.ports.iter().any(|p| p.host.is_some()).then(|| json!({"minimumHealthyPercent": 0, "maximumPercent": 100}))
}

/// The UpdateService request that moves an existing service to `task_definition`, the file's replica count and,
/// for an awsvpc service, its networks' security groups.
pub fn update_service(
    project: &Project,
    service: &Service,
    cluster: &str,
    task_definition: &str,
    placement: Option<&Placement>,
) -> Json {
    let mut request = json!({
        "cluster": cluster,
        "service": family(&project.name, &service.name),
        "taskDefinition": task_definition,
    });
    if let Some(placement) = placement {
        request["networkConfiguration"] = placement.network_configuration();
    }
    if !service.global {
        request["desiredCount"] = json!(service.replicas);
        if let Some(config) = deployment_configuration(service) {
            request["deploymentConfiguration"] = config;
        }
    }
    request
}
