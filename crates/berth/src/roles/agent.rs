//! `berth agent`: a node agent on this host's Docker Engine.

use crate::cli::{AgentArgs, HostAccessArgs, NodeArgs};
use anyhow::{Context, Result, anyhow};
use berth_agent::engine::EngineConfig;
use berth_agent::resources::ResourceSettings;
use berth_agent::runtime::DockerRuntime;
use berth_agent::self_update::SelfUpdate;
use berth_agent::{AgentConfig, run as run_agent};
use berth_model::agent::Capacity;
use berth_model::clock::SystemClock;
use berth_model::host_access::{CapabilityPolicy, HostAccess, capability_name, normalize_path};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Builds the agent's settings from the command line.
pub fn config(
    server_url: String,
    join_token: String,
    cluster: String,
    data_dir: PathBuf,
    node: &NodeArgs,
    region: &str,
    extra_reserved_ports: &[u16],
) -> Result<AgentConfig> {
    let pull = node.image_pull_behavior.parse().map_err(|e: String| anyhow!(e))?;
    let mut resources = ResourceSettings {
        cpu_units: node.cpu_units,
        memory_mib: node.memory_mib,
        reserved_memory_mib: node.reserved_memory_mib,
        ephemeral_storage_gib: node.ephemeral_storage_gib,
        ..ResourceSettings::default()
    };
    resources.reserved_tcp_ports.extend_from_slice(extra_reserved_ports);
    if let Some(address) = node.host_address
        && (address.is_loopback() || address.is_unspecified() || address.is_multicast() || address.is_broadcast())
    {
        return Err(anyhow!(
            "--host-address {address} cannot be routed to from another host: give this host's own unicast address"
        ));
    }
    Ok(AgentConfig {
        server_url,
        join_token,
        cluster,
        data_dir,
        resources,
        attributes: node.attributes.iter().cloned().collect(),
        availability_zone: node.availability_zone.clone().unwrap_or_else(|| format!("{region}a")),
        instance_type: node.instance_type.clone(),
        hostname: node.hostname.clone(),
        engine: EngineConfig {
            pull,
            default_stop_timeout: Duration::from_secs(node.stop_timeout_seconds),
            cleanup_wait: Duration::from_secs(node.cleanup_wait_seconds),
            failed_cleanup_wait: Duration::from_secs(node.failed_cleanup_wait_seconds),
            failed_tasks_kept: node.failed_tasks_kept,
            host_access: host_access(&node.host_access)?,
        },
        self_update: None,
        reported_version: None,
        capacity: capacity(node, &[Capacity::Ec2]),
        node_group: node.node_group.clone(),
        server_ca: None,
        image_trust: match &node.require_signed_images {
            Some(path) => {
                let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let trust = berth_signature::TrustStore::from_pem(&pem)
                    .map_err(|e| anyhow!("--require-signed-images {}: {e}", path.display()))?;
                Some(trust)
            }
            None => None,
        },
        host_address: node.host_address,
    })
}

/// What the agent serves: `--capacity` (repeatable, or comma-separated), else the role's default (`berth agent`:
/// EC2; `berth up`: EC2 and Fargate). Each kind once, in a stable order.
pub fn capacity(node: &NodeArgs, default: &[Capacity]) -> Vec<Capacity> {
    let mut kinds: Vec<Capacity> = if node.capacity.is_empty() { default.to_vec() } else { node.capacity.clone() };
    kinds.sort();
    kinds.dedup();
    kinds
}

/// The agent's host-access policy from its `--allow-*` flags.
pub fn host_access(args: &HostAccessArgs) -> Result<HostAccess> {
    let mut host_paths = Vec::new();
    for path in &args.allow_host_paths {
        let normal = normalize_path(path)
            .filter(|_| !path.contains(','))
            .ok_or_else(|| anyhow!("--allow-host-path {path:?} must be an absolute path without commas"))?;
        if !host_paths.contains(&normal) {
            host_paths.push(normal);
        }
    }
    let capabilities = if args.allow_added_capabilities {
        CapabilityPolicy::All
    } else if args.allow_capabilities.is_empty() {
        CapabilityPolicy::None
    } else {
        let mut set = std::collections::BTreeSet::new();
        for cap in &args.allow_capabilities {
            let name = capability_name(cap);
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(anyhow!("--allow-capability {cap:?} is not a capability name such as NET_ADMIN"));
            }
            set.insert(name);
        }
        CapabilityPolicy::Listed(set)
    };
    Ok(HostAccess {
        privileged: args.allow_privileged,
        host_network: args.allow_host_network,
        host_paths,
        capabilities,
        unconfined: args.allow_unconfined,
        sysctls: args.allow_sysctls,
        devices: args.allow_devices,
    })
}

/// Connects to the local Docker Engine, with a message that says what to do when there is none.
pub async fn docker() -> Result<Arc<DockerRuntime>> {
    let runtime = DockerRuntime::connect().await.context(
        "Berth runs tasks on Docker and could not reach the Docker Engine (set DOCKER_HOST or start dockerd)",
    )?;
    Ok(Arc::new(runtime))
}

/// `berth agent`.
pub async fn run(args: AgentArgs) -> Result<()> {
    if let Some(count) = args.simulate.simulate {
        return super::simulate::run(args, count as usize).await;
    }
    let region = "us-east-1";
    let mut config = config(args.server, args.join_token, args.cluster, args.data_dir, &args.node, region, &[])?;
    config.server_ca = args.server_ca;
    // A separate agent can replace itself in place (UpdateContainerAgent): the binary is resolved now, so one
    // replaced on disk later is what runs; the test-only version flag does not survive the update.
    let flag = crate::cli::TEST_AGENT_VERSION_FLAG;
    config.self_update =
        Some(SelfUpdate::from_current_process(flag).context("resolving the agent's own binary for updates")?);
    config.reported_version = args.test_report_agent_version;
    let runtime = docker().await?;
    serve_metrics(&args.metrics_listen).await?;
    tokio::select! {
        result = run_agent(runtime, config, Arc::new(SystemClock)) => result.context("the agent stopped"),
        _ = super::server::shutdown_signal() => Ok(()),
        () = parent_gone(args.exit_with_parent) => {
            tracing::info!("the server that started this agent has stopped; stopping (containers keep running)");
            Ok(())
        }
    }
}

/// Resolves when the process is no longer the child of `parent` (never without one).
async fn parent_gone(parent: Option<u32>) {
    let Some(parent) = parent else { return std::future::pending().await };
    while std::os::unix::process::parent_id() == parent {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Serves the agent's `/metrics` and `/healthz` on `listen` (`off`: nowhere). A bind failure is logged, not fatal:
/// several agents may share a host.
async fn serve_metrics(listen: &str) -> Result<()> {
    if listen == "off" {
        return Ok(());
    }
    let addr: std::net::SocketAddr =
        listen.parse().with_context(|| format!("--metrics-listen {listen:?} must be an address:port or off"))?;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, %addr, "cannot serve the agent's /metrics there; continuing without it");
            return Ok(());
        }
    };
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let app = super::prometheus::instrument(app, "agent", super::prometheus::no_gauges());
    tracing::info!(%addr, "agent metrics on /metrics");
    tokio::spawn(berth_listener::serve(listener, app, berth_listener::Limits::default(), std::future::pending()));
    Ok(())
}
