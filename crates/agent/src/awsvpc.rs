//! `awsvpc` tasks on the agent: the subnet's Docker network for this host's slice, and the task's pause
//! container at the task's address on it, which the task's containers join.
//!
//! The network of a slice is `berth-<a>-<b>-<c>-<d>-<prefix>` (one per slice, so two Berth servers sharing one
//! engine with different VPC ranges do not collide), a bridge whose Linux interface is `bv<8 hex digits of the
//! slice's address>` and whose address is the slice's gateway. It is created when the first task needs it and
//! kept (it costs nothing idle). The pause container is `berth-pause-<task id>`, labelled with the task's ARN and
//! this instance but not with a container name (so the engine does not track it as one of the task's containers);
//! it is stopped after the task's containers and removed with them.

use crate::convert::{LABEL_INSTANCE_ARN, LABEL_TASK_ARN};
use crate::runtime::{ContainerRuntime, ContainerSpec, ContainerStatus, NetworkMode, NetworkSpec, RuntimeError};
use berth_model::agent::{TaskNetwork, TaskSpec};
use std::time::Duration;

/// Label on Berth's VPC networks: the slice they hold.
pub const LABEL_SLICE: &str = "berth.vpc-slice";
/// Label on Berth's VPC networks: the subnet they are a slice of.
pub const LABEL_SUBNET: &str = "berth.vpc-subnet";
/// Label on a pause container: the task whose namespace it holds.
pub const LABEL_PAUSE: &str = "berth.pause";
/// Serializes the creation of networks on this host.
static NETWORK_SETUP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long the pause container gets to exit on SIGTERM (it exits at once).
const PAUSE_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The Docker network of a task's slice.
pub fn network_name(network: &TaskNetwork) -> String {
    format!("berth-{}", network.slice_cidr.replace(['.', '/'], "-"))
}

/// The Linux bridge of a slice: `bv` and the slice's address in hex (at most 15 characters, as Linux requires).
pub fn bridge_name(network: &TaskNetwork) -> String {
    let address: std::net::Ipv4Addr =
        network.slice_cidr.split('/').next().and_then(|a| a.parse().ok()).unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    format!("bv{:08x}", u32::from(address))
}

/// The Docker name of a task's pause container.
pub fn pause_name(task_arn: &str) -> String {
    format!("berth-pause-{}", task_arn.rsplit('/').next().unwrap_or_default())
}

/// The network mode of an awsvpc task's containers: the pause container's namespace.
pub fn container_network_mode(task_arn: &str) -> NetworkMode {
    NetworkMode::Custom(format!("container:{}", pause_name(task_arn)))
}

/// The network spec of a task's slice.
pub fn network_spec(network: &TaskNetwork) -> NetworkSpec {
    NetworkSpec {
        name: network_name(network),
        subnet: network.slice_cidr.clone(),
        gateway: network.gateway.clone(),
        bridge: bridge_name(network),
        labels: [
            (LABEL_SLICE.to_string(), network.slice_cidr.clone()),
            (LABEL_SUBNET.to_string(), network.subnet_id.clone()),
            ("berth.managed".to_string(), "true".to_string()),
        ]
        .into_iter()
        .collect(),
    }
}

/// Makes the task's pause container exist and run at its address: the pause image and the slice's network
/// first. Returns the container's id. A pause container left by an earlier attempt is reused.
pub async fn ensure_pause<R: ContainerRuntime>(
    runtime: &R,
    task: &TaskSpec,
    network: &TaskNetwork,
    instance_arn: &str,
    default_dns: Option<std::net::Ipv4Addr>,
) -> Result<String, RuntimeError> {
    let arch = runtime.info().await.map(|i| i.arch).unwrap_or_default();
    let image = crate::pause::ensure_image(runtime, &arch).await?;
    let net = network_spec(network);
    {
        // Tasks starting together would each try to create the slice's network; Docker refuses the second
        // ("Pool overlaps") while the first is being made. One at a time, the second finds it.
        let _one_at_a_time = NETWORK_SETUP.lock().await;
        runtime.ensure_network(&net).await?;
    }
    // Creating it put Docker's masquerade rule for the slice above the VPC's exemption.
    crate::routing::network_created().await;
    let name = pause_name(&task.task_arn);
    let mut spec = ContainerSpec::new(name.clone(), image);
    spec.network_mode = NetworkMode::Custom(net.name.clone());
    spec.ipv4_address = Some(network.address.clone());
    spec.mac_address = Some(network.mac_address.clone());
    spec.labels = [
        (LABEL_TASK_ARN.to_string(), task.task_arn.clone()),
        (LABEL_INSTANCE_ARN.to_string(), instance_arn.to_string()),
        (LABEL_PAUSE.to_string(), "true".to_string()),
    ]
    .into_iter()
    .collect();
    spec.stop_timeout = Some(PAUSE_STOP_TIMEOUT);
    // The namespace's resolver settings are the task's (its containers cannot set their own).
    for c in &task.containers {
        for server in c.definition.dns_servers.iter().flatten() {
            if !spec.dns_servers.contains(server) {
                spec.dns_servers.push(server.clone());
            }
        }
        for domain in c.definition.dns_search_domains.iter().flatten() {
            if !spec.dns_search.contains(domain) {
                spec.dns_search.push(domain.clone());
            }
        }
    }
    // No container names a resolver: the agent's DNS forwarder (Docker's embedded resolver on the slice's network
    // relays to it from the task's namespace).
    if spec.dns_servers.is_empty()
        && let Some(dns) = default_dns
    {
        spec.dns_servers.push(dns.to_string());
    }
    // The ports the task publishes on the host (Berth's `berth.publish` label) are bound on the namespace's owner.
    for c in &task.containers {
        for published in berth_model::published_ports::of(&c.definition) {
            spec.ports.push(crate::runtime::PortMapping {
                container_port: published.container_port,
                protocol: match published.protocol {
                    berth_model::ecs::TransportProtocol::Tcp => crate::runtime::Protocol::Tcp,
                    berth_model::ecs::TransportProtocol::Udp => crate::runtime::Protocol::Udp,
                },
                host_port: published.host_port,
                host_ip: None,
            });
        }
    }
    spec.log_config.driver = "none".into();
    let id = match runtime.create_container(&spec).await {
        Ok(id) => id,
        Err(e) if e.is_conflict() => match runtime.inspect_container(&name).await? {
            Some(state) => state.id,
            None => return Err(e),
        },
        Err(e) => return Err(e),
    };
    let running = runtime.inspect_container(&id).await?.is_some_and(|s| s.running);
    if !running {
        runtime.start_container(&id).await?;
    }
    let state = runtime.inspect_container(&id).await?;
    match state {
        Some(s) if s.running => Ok(id),
        Some(s) if s.status == ContainerStatus::Exited => Err(RuntimeError::Invalid {
            call: "start_container",
            target: name,
            message: format!("the pause container exited ({:?})", s.exit_code),
        }),
        _ => Ok(id),
    }
}

/// Stops a task's pause container (after its containers); one that does not exist is fine.
pub async fn stop_pause<R: ContainerRuntime>(runtime: &R, task_arn: &str) {
    let name = pause_name(task_arn);
    if let Err(error) = runtime.stop_container(&name, PAUSE_STOP_TIMEOUT).await
        && !error.is_not_found()
    {
        tracing::warn!(container = %name, %error, "stopping a pause container failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> TaskNetwork {
        TaskNetwork {
            subnet_id: "subnet-0be7f00000000000a".into(),
            slice_cidr: "172.31.3.0/24".into(),
            gateway: "172.31.3.1".into(),
            address: "172.31.3.2".into(),
            mac_address: "0a:b7:ac:1f:03:02".into(),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_the_slice_and_the_task() {
        let n = network();
        assert_eq!(network_name(&n), "berth-172-31-3-0-24");
        assert_eq!(bridge_name(&n), "bvac1f0300");
        assert_eq!(pause_name("arn:aws:ecs:us-east-1:0:task/default/abc"), "berth-pause-abc");
        assert!(container_network_mode("arn:x:task/default/abc").is_container());
        let spec = network_spec(&n);
        assert_eq!((spec.subnet.as_str(), spec.gateway.as_str()), ("172.31.3.0/24", "172.31.3.1"));
    }

    #[tokio::test]
    async fn the_pause_container_is_created_once_on_the_slice() {
        let runtime = crate::runtime::FakeRuntime::new();
        let task = TaskSpec { task_arn: "arn:aws:ecs:us-east-1:0:task/default/abc".into(), ..Default::default() };
        let n = network();
        let id = ensure_pause(&runtime, &task, &n, "arn:instance", None).await.unwrap();
        let again = ensure_pause(&runtime, &task, &n, "arn:instance", None).await.unwrap();
        assert_eq!(id, again);
        let spec = runtime.spec(&id).unwrap();
        assert_eq!(spec.ipv4_address.as_deref(), Some("172.31.3.2"));
        assert_eq!(spec.network_mode, NetworkMode::Custom("berth-172-31-3-0-24".into()));
        let imports = runtime.calls().iter().filter(|c| matches!(c, crate::runtime::fake::Call::Import { .. })).count();
        assert_eq!(imports, 1, "the image is imported once");
        assert!(spec.dns_servers.is_empty(), "no forwarder: Docker's resolvers");
    }

    #[tokio::test]
    async fn the_pause_container_resolves_through_the_agent_unless_a_container_names_dns_servers() {
        let runtime = crate::runtime::FakeRuntime::new();
        let dns = Some(std::net::Ipv4Addr::new(169, 254, 53, 9));
        let task = TaskSpec { task_arn: "arn:aws:ecs:us-east-1:0:task/default/d1".into(), ..Default::default() };
        let id = ensure_pause(&runtime, &task, &network(), "arn:instance", dns).await.unwrap();
        assert_eq!(runtime.spec(&id).unwrap().dns_servers, vec!["169.254.53.9".to_string()]);
        let mut pinned = TaskSpec { task_arn: "arn:aws:ecs:us-east-1:0:task/default/d2".into(), ..Default::default() };
        let mut container = berth_model::agent::ContainerSpec::default();
        container.definition.dns_servers = Some(vec!["10.0.0.2".into()]);
        pinned.containers.push(container);
        let id = ensure_pause(&runtime, &pinned, &network(), "arn:instance", dns).await.unwrap();
        assert_eq!(runtime.spec(&id).unwrap().dns_servers, vec!["10.0.0.2".to_string()]);
    }

    #[tokio::test]
    async fn the_pause_container_publishes_the_ports_the_task_publishes_and_searches_its_domains() {
        let runtime = crate::runtime::FakeRuntime::new();
        let mut task = TaskSpec { task_arn: "arn:aws:ecs:us-east-1:0:task/default/p1".into(), ..Default::default() };
        let mut container = berth_model::agent::ContainerSpec::default();
        container.definition.docker_labels =
            Some([(berth_model::published_ports::LABEL.to_string(), "8080:80,5353:53/udp".to_string())].into());
        container.definition.dns_search_domains = Some(vec!["shop.compose.internal".into()]);
        task.containers.push(container);
        let id = ensure_pause(&runtime, &task, &network(), "arn:instance", None).await.unwrap();
        let spec = runtime.spec(&id).unwrap();
        let ports: Vec<_> = spec.ports.iter().map(|p| (p.host_port, p.container_port, p.protocol)).collect();
        assert_eq!(ports, vec![(8080, 80, crate::runtime::Protocol::Tcp), (5353, 53, crate::runtime::Protocol::Udp)]);
        assert_eq!(spec.dns_search, vec!["shop.compose.internal".to_string()]);
    }
}
