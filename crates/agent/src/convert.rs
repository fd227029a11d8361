//! From an ECS container definition (with the task's overrides applied) to a runtime [`ContainerSpec`].
//!
//! The mapping follows ECS's agent: `cpu` units become CPU shares, `memory` the hard limit and
//! `memoryReservation` the soft limit (MiB to bytes), `healthCheck` Docker's health check with ECS's defaults,
//! `portMappings` published ports (host port 0: dynamic), and labels name the task, container, cluster and
//! container instance so a restarted agent can find its containers again.

use crate::runtime::{
    self, BindMount, ContainerSpec, ExtraHost, HealthCheck, LogConfig, PortMapping, Protocol, Ulimit,
};
use berth_model::agent::{ContainerSpec as WireContainer, TaskSpec};
use berth_model::ecs::{LogDriver, NetworkMode, Scope, TransportProtocol, Volume};
use std::time::Duration;

/// Label: the task's ARN (the name ECS's agent uses).
pub const LABEL_TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
/// Label: the container's name in the task definition.
pub const LABEL_CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
/// Label: the cluster's ARN.
pub const LABEL_CLUSTER: &str = "com.amazonaws.ecs.cluster";
/// Label: the task definition family.
pub const LABEL_FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
/// Label: the task definition revision.
pub const LABEL_REVISION: &str = "com.amazonaws.ecs.task-definition-version";
/// Label: the container instance ARN of the agent that owns the container.
pub const LABEL_INSTANCE_ARN: &str = "berth.container-instance-arn";
/// Label: the options of a container whose `logDriver` is `awslogs` (a JSON object), for the agent's log
/// shipper ([`crate::logs`]); such a container runs with Docker's `json-file` driver, which the shipper reads.
pub const LABEL_AWSLOGS: &str = "berth.awslogs";
/// The json-file rotation of an awslogs container: what `docker logs` shows, and how much output waits for the
/// shipper while the agent is down (5 files of 20 MiB).
const AWSLOGS_LOCAL_LOG: [(&str, &str); 2] = [("max-size", "20m"), ("max-file", "5")];

const MIB: u64 = 1024 * 1024;

/// The labels that name a container's task, as ECS's agent sets them (the agent adds its instance's ARN).
pub fn task_labels(task: &TaskSpec, container: &str) -> [(String, String); 5] {
    [
        (LABEL_TASK_ARN.into(), task.task_arn.clone()),
        (LABEL_CONTAINER_NAME.into(), container.into()),
        (LABEL_CLUSTER.into(), task.cluster_arn.clone()),
        (LABEL_FAMILY.into(), task.family.clone()),
        (LABEL_REVISION.into(), task.revision.to_string()),
    ]
}

/// The Docker name of a task's container: `berth-<family>-<revision>-<container>-<task id>`.
pub fn container_name(task: &TaskSpec, container: &str) -> String {
    let task_id = task.task_arn.rsplit('/').next().unwrap_or_default();
    let clean = |s: &str| {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect::<String>()
    };
    format!("berth-{}-{}-{}-{}", clean(&task.family), task.revision, clean(container), task_id)
}

fn seconds(value: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(default))
}

/// The Docker volume of a task-scoped volume (an empty volume, or a Docker volume with scope `task`): created by
/// the engine when the first container mounts it, removed with the task.
pub fn task_volume_name(task: &TaskSpec, volume: &str) -> String {
    let task_id = task.task_arn.rsplit('/').next().unwrap_or_default();
    format!("berth-{task_id}-{volume}")
}

/// What a mount of `volume` binds: the host path of a host volume, the volume's own name for a `shared` Docker
/// volume, or the task's own Docker volume otherwise.
fn volume_source(task: &TaskSpec, volume: &Volume) -> String {
    let name = volume.name.as_deref().unwrap_or_default();
    if let Some(path) = volume.host.as_ref().and_then(|h| h.source_path.clone()) {
        return path;
    }
    match volume.docker_volume_configuration.as_ref().and_then(|d| d.scope) {
        Some(Scope::Shared) => name.to_string(),
        _ => task_volume_name(task, name),
    }
}

/// The task-scoped Docker volumes of a task (see [`task_volume_name`]), to remove with it.
pub fn task_volumes(task: &TaskSpec) -> Vec<String> {
    task.volumes
        .iter()
        .filter(|v| v.host.as_ref().and_then(|h| h.source_path.as_ref()).is_none())
        .filter(|v| v.docker_volume_configuration.as_ref().and_then(|d| d.scope) != Some(Scope::Shared))
        .filter_map(|v| v.name.as_deref().map(|n| task_volume_name(task, n)))
        .collect()
}

/// Builds the runtime spec of one container of a task.
pub fn container_spec(task: &TaskSpec, container: &WireContainer, instance_arn: &str) -> ContainerSpec {
    let def = &container.definition;
    let name = def.name.clone().unwrap_or_default();
    let mut spec = ContainerSpec::new(container_name(task, &name), def.image.clone().unwrap_or_default());
    spec.entrypoint = def.entry_point.clone();
    spec.command = def.command.clone();
    spec.env = def
        .environment
        .iter()
        .flatten()
        .filter_map(|kv| Some((kv.name.clone()?, kv.value.clone().unwrap_or_default())))
        .collect();
    spec.working_dir = def.working_directory.clone();
    spec.user = def.user.clone();
    spec.labels = def.docker_labels.clone().unwrap_or_default();
    spec.labels.extend(task_labels(task, &name));
    spec.labels.insert(LABEL_INSTANCE_ARN.into(), instance_arn.to_string());
    spec.network_mode = match task.network_mode {
        NetworkMode::Host => runtime::NetworkMode::Host,
        NetworkMode::None => runtime::NetworkMode::None,
        // The task's pause container holds its namespace: its ports are on the task's address, not published.
        NetworkMode::Awsvpc => crate::awsvpc::container_network_mode(&task.task_arn),
        _ => runtime::NetworkMode::Bridge,
    };
    if spec.network_mode == runtime::NetworkMode::Bridge {
        spec.ports = def
            .port_mappings
            .iter()
            .flatten()
            .filter_map(|pm| {
                Some(PortMapping {
                    container_port: u16::try_from(pm.container_port?).ok()?,
                    protocol: match pm.protocol {
                        Some(TransportProtocol::Udp) => Protocol::Udp,
                        _ => Protocol::Tcp,
                    },
                    host_port: pm.host_port.and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                    host_ip: None,
                })
            })
            .collect();
    }
    spec.cpu_units = u32::try_from(def.cpu).unwrap_or(0);
    spec.memory_limit_bytes = def.memory.and_then(|m| u64::try_from(m).ok()).map(|m| m * MIB);
    spec.memory_reservation_bytes = def.memory_reservation.and_then(|m| u64::try_from(m).ok()).map(|m| m * MIB);
    spec.ulimits = def
        .ulimits
        .iter()
        .flatten()
        .map(|u| Ulimit {
            name: u.name.as_str().to_string(),
            soft: i64::from(u.soft_limit),
            hard: i64::from(u.hard_limit),
        })
        .collect();
    spec.health_check = def.health_check.as_ref().map(|hc| HealthCheck {
        test: hc.command.clone(),
        interval: seconds(hc.interval, 30),
        timeout: seconds(hc.timeout, 5),
        retries: hc.retries.and_then(|r| u32::try_from(r).ok()).unwrap_or(3),
        start_period: seconds(hc.start_period, 0),
    });
    spec.stop_timeout = def.stop_timeout.and_then(|t| u64::try_from(t).ok()).map(Duration::from_secs);
    spec.hostname = def.hostname.clone();
    spec.privileged = def.privileged.unwrap_or(false);
    spec.readonly_rootfs = def.readonly_root_filesystem.unwrap_or(false);
    spec.extra_hosts = def
        .extra_hosts
        .iter()
        .flatten()
        .map(|h| ExtraHost { hostname: h.hostname.clone(), ip_address: h.ip_address.clone() })
        .collect();
    spec.dns_servers = def.dns_servers.clone().unwrap_or_default();
    spec.dns_search = def.dns_search_domains.clone().unwrap_or_default();
    if spec.network_mode.is_container() {
        // Docker refuses these with a `container:` network mode: the pause container carries the task's DNS
        // settings (`crate::awsvpc::ensure_pause`); hostname and extraHosts are refused for awsvpc at registration.
        spec.hostname = None;
        spec.extra_hosts.clear();
        spec.dns_servers.clear();
        spec.dns_search.clear();
    }
    spec.security_options = def.docker_security_options.clone().unwrap_or_default();
    if let Some(lp) = &def.linux_parameters {
        spec.init_process = lp.init_process_enabled.unwrap_or(false);
        if let Some(caps) = &lp.capabilities {
            spec.cap_add = caps.add.clone().unwrap_or_default();
            spec.cap_drop = caps.drop.clone().unwrap_or_default();
        }
        spec.shm_size_bytes = lp.shared_memory_size.and_then(|m| u64::try_from(m).ok()).map(|m| m * MIB);
        spec.max_swap_bytes = lp.max_swap.and_then(|m| u64::try_from(m).ok()).map(|m| m * MIB);
        spec.swappiness = lp.swappiness.and_then(|s| u8::try_from(s).ok());
        spec.tmpfs = lp
            .tmpfs
            .iter()
            .flatten()
            .map(|t| runtime::TmpfsMount {
                container_path: t.container_path.clone(),
                size_bytes: u64::try_from(t.size).ok().map(|s| s * MIB),
                options: t.mount_options.clone().unwrap_or_default(),
            })
            .collect();
    }
    spec.sysctls = def
        .system_controls
        .iter()
        .flatten()
        .filter_map(|s| Some((s.namespace.clone()?, s.value.clone().unwrap_or_default())))
        .collect();
    // Docker's drivers pass through; awslogs runs json-file for the agent's shipper to read (the control plane
    // refuses awsfirelens).
    spec.log_config = match &def.log_configuration {
        Some(lc) if lc.log_driver == LogDriver::Awslogs => {
            let options = lc.options.clone().unwrap_or_default();
            spec.labels.insert(LABEL_AWSLOGS.into(), serde_json::to_string(&options).unwrap_or_default());
            LogConfig {
                driver: "json-file".into(),
                options: AWSLOGS_LOCAL_LOG.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            }
        }
        Some(lc) => {
            LogConfig { driver: lc.log_driver.as_str().into(), options: lc.options.clone().unwrap_or_default() }
        }
        None => LogConfig::default(),
    };
    spec.binds = def
        .mount_points
        .iter()
        .flatten()
        .filter_map(|mp| {
            let volume = task.volumes.iter().find(|v| v.name.is_some() && v.name == mp.source_volume)?;
            Some(BindMount {
                source: volume_source(task, volume),
                target: mp.container_path.clone()?,
                read_only: mp.read_only.unwrap_or(false),
            })
        })
        .collect();
    spec.volumes_from = def
        .volumes_from
        .iter()
        .flatten()
        .filter_map(|from| {
            let source = container_name(task, from.source_container.as_deref()?);
            Some(if from.read_only.unwrap_or(false) { format!("{source}:ro") } else { source })
        })
        .collect();
    spec.links = def
        .links
        .iter()
        .flatten()
        .map(|link| {
            let (target, alias) = link.split_once(':').unwrap_or((link, link));
            format!("{}:{alias}", container_name(task, target))
        })
        .collect();
    spec.interactive = def.interactive.unwrap_or(false);
    spec.pseudo_terminal = def.pseudo_terminal.unwrap_or(false);
    spec.disable_networking = def.disable_networking.unwrap_or(false);
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecs::{ContainerDefinition, HealthCheck as WireHealth, KeyValuePair, PortMapping as WirePort};

    fn task() -> TaskSpec {
        TaskSpec {
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/default".into(),
            family: "web".into(),
            revision: 3,
            ..Default::default()
        }
    }

    #[test]
    fn maps_the_container_definition() {
        let def = ContainerDefinition {
            name: Some("app".into()),
            image: Some("berth-workload:latest".into()),
            cpu: 256,
            memory: Some(128),
            memory_reservation: Some(64),
            environment: Some(vec![KeyValuePair { name: Some("A".into()), value: Some("1".into()) }]),
            port_mappings: Some(vec![WirePort {
                container_port: Some(8080),
                host_port: Some(0),
                ..Default::default()
            }]),
            health_check: Some(WireHealth {
                command: vec!["CMD".into(), "/x".into()],
                interval: Some(5),
                ..Default::default()
            }),
            stop_timeout: Some(2),
            ..Default::default()
        };
        let spec =
            container_spec(&task(), &WireContainer { container_arn: "c".into(), definition: def }, "arn:instance");
        assert_eq!(spec.name, "berth-web-3-app-0123456789abcdef0123456789abcdef");
        assert_eq!(spec.env, vec![("A".to_string(), "1".to_string())]);
        assert_eq!(spec.cpu_units, 256);
        assert_eq!(spec.memory_limit_bytes, Some(128 * MIB));
        assert_eq!(spec.memory_reservation_bytes, Some(64 * MIB));
        assert_eq!(spec.ports[0].container_port, 8080);
        assert_eq!(spec.ports[0].host_port, 0);
        let hc = spec.health_check.unwrap();
        assert_eq!((hc.interval, hc.timeout, hc.retries), (Duration::from_secs(5), Duration::from_secs(5), 3));
        assert_eq!(spec.stop_timeout, Some(Duration::from_secs(2)));
        assert_eq!(spec.labels[LABEL_INSTANCE_ARN], "arn:instance");
        assert_eq!(spec.labels[LABEL_CONTAINER_NAME], "app");
    }

    #[test]
    fn volumes_volumes_from_links_and_log_drivers() {
        use berth_model::ecs::{
            DockerVolumeConfiguration, HostVolumeProperties, LogConfiguration, LogDriver, MountPoint, VolumeFrom,
        };
        let mut task = task();
        let named = |name: &str| Volume { name: Some(name.into()), ..Default::default() };
        let docker = |scope| DockerVolumeConfiguration { scope: Some(scope), ..Default::default() };
        task.volumes = vec![
            Volume { host: Some(HostVolumeProperties { source_path: Some("/srv/data".into()) }), ..named("data") },
            Volume { docker_volume_configuration: Some(docker(Scope::Shared)), ..named("cache") },
            Volume { docker_volume_configuration: Some(docker(Scope::Task)), ..named("scratch") },
            named("empty"),
        ];
        let mount = |v: &str, path: &str, ro| MountPoint {
            source_volume: Some(v.into()),
            container_path: Some(path.into()),
            read_only: ro,
        };
        let def = ContainerDefinition {
            name: Some("app".into()),
            image: Some("img".into()),
            mount_points: Some(vec![
                mount("data", "/data", Some(true)),
                mount("cache", "/cache", None),
                mount("scratch", "/scratch", None),
                mount("empty", "/empty", Some(false)),
            ]),
            volumes_from: Some(vec![VolumeFrom { source_container: Some("side".into()), read_only: Some(true) }]),
            links: Some(vec!["db".into(), "side:helper".into()]),
            log_configuration: Some(LogConfiguration {
                log_driver: LogDriver::Syslog,
                options: Some(std::collections::BTreeMap::from([("tag".into(), "web".into())])),
                secret_options: None,
            }),
            ..Default::default()
        };
        let spec = container_spec(&task, &WireContainer { container_arn: "c".into(), definition: def }, "i");
        let id = "0123456789abcdef0123456789abcdef";
        let bind = |source: &str, target: &str, read_only| BindMount {
            source: source.into(),
            target: target.into(),
            read_only,
        };
        assert_eq!(
            spec.binds,
            vec![
                bind("/srv/data", "/data", true),
                bind("cache", "/cache", false),
                bind(&format!("berth-{id}-scratch"), "/scratch", false),
                bind(&format!("berth-{id}-empty"), "/empty", false),
            ]
        );
        assert_eq!(spec.volumes_from, vec![format!("berth-web-3-side-{id}:ro")]);
        assert_eq!(spec.links, vec![format!("berth-web-3-db-{id}:db"), format!("berth-web-3-side-{id}:helper")]);
        assert_eq!((spec.log_config.driver.as_str(), spec.log_config.options["tag"].as_str()), ("syslog", "web"));
        assert_eq!(task_volumes(&task), vec![format!("berth-{id}-scratch"), format!("berth-{id}-empty")]);
        assert!(!spec.labels.contains_key(LABEL_AWSLOGS));
    }

    #[test]
    fn awslogs_runs_json_file_and_hands_its_options_to_the_shipper() {
        use berth_model::ecs::{LogConfiguration, LogDriver};
        let options = std::collections::BTreeMap::from([
            ("awslogs-group".to_string(), "/ecs/web".to_string()),
            ("awslogs-stream-prefix".to_string(), "ecs".to_string()),
        ]);
        let def = ContainerDefinition {
            name: Some("app".into()),
            image: Some("img".into()),
            log_configuration: Some(LogConfiguration {
                log_driver: LogDriver::Awslogs,
                options: Some(options.clone()),
                secret_options: None,
            }),
            ..Default::default()
        };
        let spec = container_spec(&task(), &WireContainer { container_arn: "c".into(), definition: def }, "i");
        assert_eq!(spec.log_config.driver, "json-file");
        assert_eq!(spec.log_config.options["max-size"], "20m");
        let labelled: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&spec.labels[LABEL_AWSLOGS]).unwrap();
        assert_eq!(labelled, options);
    }
}
