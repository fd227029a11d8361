//! Berth's node agent: joins a cluster as a container instance and makes the Docker Engine run what the control
//! plane assigns to it.
//!
//! # Background
//! ECS's agent receives task assignments and reports container states. Berth's agent does the same over
//! `berth_model::agent`'s protocol: it registers with a join token, reads the desired state of its tasks from a
//! long-lived stream, reconciles Docker toward it in the task [`engine`], and reports what it observed.
//!
//! # Design
//! - [`exec`]: ECS Exec sessions, dialled back to the server and run with `docker exec`.
//! - [`logs`]: the `awslogs` driver: each such container's output shipped to Berth's CloudWatch Logs store, with
//!   checkpoints that survive agent and server restarts, and blocking/non-blocking modes.
//! - [`runtime`]: the container runtime behind a trait (Docker via bollard, and a fake for tests).
//! - [`engine`]: one loop owning the task states; slow Docker calls run in spawned workers.
//! - [`routing`]: routes to the other hosts' awsvpc slices, and the rules that let that traffic through Docker's.
//! - [`dns`]: the DNS forwarder task containers resolve through (an address of the agent's own, relaying to the
//!   server's DNS, which answers Cloud Map's names).
//! - [`usage`]: every 10 s, each running task's CPU and memory from Docker's stats, sent with the next report.
//! - [`storage`]: the ephemeral storage an agent serving Fargate offers, and whether Docker caps FARGATE tasks'
//!   containers at it (probed at start).
//! - [`run`] wires the loops: registration (and re-registration when the token stops working), the stream reader,
//!   the reporter (heartbeats, and the outbox of changed tasks, retried until acknowledged), Docker's event stream,
//!   and a periodic resync that catches missed events.
//! - [`lease`]: the assignment lease: task starts wait until the server has recently confirmed the instance's
//!   assignment epoch, so an agent cut off (or back from a partition) starts nothing that was replaced meanwhile.
//! - [`simulate`]: simulated instances (`berth agent --simulate N`) over the same protocol, for scale tests.
//! - Containers carry labels naming their task, container, cluster and container instance; a restarted agent
//!   finds them again ([`engine::Engine::adopt`]) and leaves them running.
//!
//! # Limitations
//! awsvpc tasks run in their own namespace ([`awsvpc`], [`pause`]) with their security groups' ingress and egress enforced
//! ([`firewall`]). Task role credentials are served at 169.254.170.2 ([`credentials`]). Not
//! implemented yet: EFS/FSx volumes, the `awsfirelens` log driver, and GPUs and devices. Host
//! paths, task-scoped and shared Docker volumes, Docker's log drivers, `awslogs` and the task metadata endpoint v4
//! work. Settings that reach the host run only where the agent's `--allow-*` flags
//! open them ([`host_gate`]).

pub mod awsvpc;
pub mod client;
pub mod convert;
pub mod credentials;
pub mod dns;
pub mod engine;
pub mod exec;
pub mod firewall;
pub mod host_gate;
pub mod image_trust;
pub mod lease;
pub mod logs;
pub mod metadata;
pub mod pause;
pub mod resources;
pub mod routing;
pub mod runtime;
pub mod self_update;
pub mod session;
pub mod simulate;
pub mod storage;
pub mod task_cgroup;
pub mod tls;
pub mod usage;

use berth_model::agent::{AgentVersion, RegisterRequest, ReportRequest, StreamMessage};
use berth_model::clock::Clock;
use client::ServerClient;
use engine::{Engine, EngineConfig, Msg, Outbox};
use futures::StreamExt;
use resources::ResourceSettings;
use runtime::{ContainerRuntime, RuntimeError, RuntimeInfo};
use session::{Identity, Session};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

/// The agent's version, as registered.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Agent failures.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The server could not be reached.
    #[error("cannot reach the Berth server: {0}")]
    Transport(String),
    /// The server refused the agent's credentials.
    #[error("the Berth server refused the agent's token: {0}")]
    Unauthorized(String),
    /// The server answered with an error.
    #[error("the Berth server answered {status}: {body}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: String,
    },
    /// Another agent registered as this container instance since; this one must stop.
    #[error("another agent registered as this container instance; stopping: {0}")]
    Superseded(String),
    /// A message could not be decoded.
    #[error("cannot decode a message from the server: {0}")]
    Decode(String),
    /// The server's TLS certificate did not verify (or the agent's TLS settings are unusable): the agent does not
    /// talk to it.
    #[error("TLS with the Berth server: {0}")]
    Tls(String),
    /// The container runtime failed.
    #[error("container runtime: {0}")]
    Runtime(#[from] RuntimeError),
    /// The ephemeral storage an agent serving Fargate offers could not be measured.
    #[error(transparent)]
    Storage(#[from] storage::MeasureError),
    /// The agent's data dir failed.
    #[error("agent data dir {path}: {source}")]
    DataDir {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The control plane, e.g. `http://127.0.0.1:7700`, or several servers of one control plane separated by
    /// commas (the agent moves to the next when its server does not answer).
    pub server_url: String,
    /// The join token.
    pub join_token: String,
    /// The cluster to join.
    pub cluster: String,
    /// Where the agent keeps its identity.
    pub data_dir: PathBuf,
    /// How to size the instance.
    pub resources: ResourceSettings,
    /// Custom attributes.
    pub attributes: BTreeMap<String, String>,
    /// The `ecs.availability-zone` attribute.
    pub availability_zone: String,
    /// The `ecs.instance-type` attribute (derived from the host when unset).
    pub instance_type: Option<String>,
    /// The name shown as `ec2InstanceId` (the host name when unset).
    pub hostname: Option<String>,
    /// The task engine's settings.
    pub engine: EngineConfig,
    /// How the agent re-executes itself when UpdateContainerAgent asks; `None` when it cannot (the agent
    /// embedded in `berth up`).
    pub self_update: Option<self_update::SelfUpdate>,
    /// TEST ONLY: the version to report instead of [`AGENT_VERSION`] (`berth agent --test-report-agent-version`).
    pub reported_version: Option<String>,
    /// What the agent serves (`--capacity`): EC2 tasks of its cluster, Fargate tasks of any cluster, or both.
    pub capacity: Vec<berth_model::agent::Capacity>,
    /// The node group this instance belongs to (`--node-group`), which a capacity provider names.
    pub node_group: Option<String>,
    /// CA certificates (PEM) trusted for an `https://` server besides the system's roots (`--server-ca`).
    pub server_ca: Option<PathBuf>,
    /// Certificates an image's signature must chain to before its task starts (`--require-signed-images`);
    /// `None`: images are not checked.
    pub image_trust: Option<berth_signature::TrustStore>,
    /// The address other hosts route this host's awsvpc slices to (`--host-address`); `None`: the local address
    /// the agent reaches the server from, unless that is a loopback address.
    pub host_address: Option<std::net::Ipv4Addr>,
}

/// How often the agent re-inspects its containers to catch events it missed.
const RESYNC_EVERY: Duration = Duration::from_secs(10);

/// How often the awslogs shippers look for containers without a shipper (adopted, restarted in place).
const LOG_SHIPPING_RECONCILE_EVERY: Duration = Duration::from_secs(5);

struct Shared {
    config: AgentConfig,
    client: ServerClient,
    session: Arc<Session>,
    info: RuntimeInfo,
    registering: Mutex<()>,
    superseded: tokio::sync::Notify,
    clock: Arc<dyn Clock>,
    /// Set while an in-place update runs, so a repeated request does not start a second one.
    updating: std::sync::atomic::AtomicBool,
    /// The ephemeral storage (GiB) offered to FARGATE tasks, measured once at start; `None` for an EC2-only agent.
    ephemeral_storage_gib: Option<i64>,
    /// The storage driver, when Docker enforces FARGATE tasks' ephemeral storage ([`storage::QUOTA_ATTRIBUTE`]).
    storage_quota: Option<String>,
    /// The assignment lease that fences task starts ([`lease`]).
    lease: Arc<lease::AssignmentLease>,
}

impl Shared {
    /// Registers (or re-registers as the same instance), retrying until the server answers.
    async fn register(&self, stale_token: Option<&str>) {
        let _guard = self.registering.lock().await;
        if let Some(stale) = stale_token
            && self.session.token() != stale
        {
            return; // someone else re-registered already
        }
        let mut delay = Duration::from_millis(200);
        loop {
            match self.try_register().await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "registration failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// The first registration: like [`Shared::register`], but a server whose certificate does not verify ends it
    /// with the error (the agent does not join), instead of retrying.
    async fn join(&self) -> Result<(), AgentError> {
        let _guard = self.registering.lock().await;
        let mut delay = Duration::from_millis(200);
        loop {
            match self.try_register().await {
                Ok(()) => return Ok(()),
                Err(error @ AgentError::Tls(_)) => {
                    tracing::error!(%error, server = %self.config.server_url, "not joining the server");
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "registration failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn try_register(&self) -> Result<(), AgentError> {
        let c = &self.config;
        let previous = Identity::load(&c.data_dir, &c.cluster);
        let mut resources = resources::offered(&self.info, &c.resources);
        resources.ephemeral_storage_gib = self.ephemeral_storage_gib;
        let mut attributes = resources::attributes(
            &self.info,
            &c.availability_zone,
            c.instance_type.as_deref(),
            &c.attributes,
            &c.engine.host_access,
        );
        if let Some(driver) = &self.storage_quota {
            attributes.insert(storage::QUOTA_ATTRIBUTE.to_string(), driver.clone());
        }
        let req = RegisterRequest {
            cluster: c.cluster.clone(),
            container_instance_arn: previous.as_ref().map(|p| p.container_instance_arn.clone()),
            instance_secret: previous.as_ref().and_then(|p| p.instance_secret.clone()),
            hostname: c.hostname.clone().unwrap_or_else(|| self.info.hostname.clone()),
            resources,
            attributes,
            self_update: c.self_update.is_some(),
            capacity: c.capacity.clone(),
            node_group: c.node_group.clone(),
            host_address: match (c.host_address, attribute_address(&c.attributes)) {
                (Some(address), _) | (None, Some(address)) => Some(address.to_string()),
                (None, None) => local_address_towards(&self.client.base()).await.map(|a| a.to_string()),
            },
            version: AgentVersion {
                agent_version: c.reported_version.clone().unwrap_or_else(|| AGENT_VERSION.to_string()),
                agent_hash: option_env!("BERTH_GIT_HASH").unwrap_or("dev").to_string(),
                docker_version: format!("DockerVersion: {}", self.info.engine_version),
            },
            protocol: Some(berth_model::agent::PROTOCOL),
        };
        let sent = self.clock.monotonic();
        let response = self.client.register(&c.join_token, &req).await?;
        self.lease.set_lost_after(response.lost_instance_seconds);
        self.lease.confirmed(sent, None);
        let identity = Identity::after(previous.as_ref(), &c.cluster, &response);
        if previous.as_ref() != Some(&identity) {
            identity.save(&c.data_dir).map_err(|source| AgentError::DataDir { path: c.data_dir.clone(), source })?;
        }
        self.session.update(&response);
        self.session.set_registry_auth(response.registry_auth.clone(), self.clock.now());
        tracing::info!(instance = %response.container_instance_arn, "registered with the control plane");
        Ok(())
    }
}

/// The attribute an operator may already give the host's address in (`--attribute berth.host-address=IP`), which
/// load balancers use for `instance` targets; without `--host-address`, it is the host address registered.
pub const HOST_ADDRESS_ATTRIBUTE: &str = "berth.host-address";

/// The host address an operator gave as the attribute, when it is an IPv4 address another host can route to
/// (the attribute is free-form: anything else is left to the load balancers that read it).
fn attribute_address(attributes: &BTreeMap<String, String>) -> Option<std::net::Ipv4Addr> {
    let address: std::net::Ipv4Addr = attributes.get(HOST_ADDRESS_ATTRIBUTE)?.trim().parse().ok()?;
    let routable =
        !(address.is_loopback() || address.is_unspecified() || address.is_multicast() || address.is_broadcast());
    routable.then_some(address)
}

/// The local IPv4 address this host reaches `server_url` from (no packet is sent: a UDP socket is connected and
/// asked), unless it is a loopback address (an agent on the server's own host must be given `--host-address`).
async fn local_address_towards(server_url: &str) -> Option<std::net::Ipv4Addr> {
    let server = server_address(server_url).await?;
    let socket = tokio::net::UdpSocket::bind(("0.0.0.0", 0)).await.ok()?;
    socket.connect(server).await.ok()?;
    match socket.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(address) if !address.is_loopback() && !address.is_unspecified() => Some(address),
        _ => None,
    }
}

/// The IPv4 address and port of the server's URL (its name looked up).
async fn server_address(server_url: &str) -> Option<std::net::SocketAddr> {
    let url = reqwest::Url::parse(server_url).ok()?;
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default()?;
    tokio::net::lookup_host((host.as_str(), port)).await.ok()?.find(std::net::SocketAddr::is_ipv4)
}

/// Runs the agent until the process ends. Fails only if Docker cannot be used at start.
pub async fn run<R: ContainerRuntime>(
    runtime: Arc<R>,
    config: AgentConfig,
    clock: Arc<dyn Clock>,
) -> Result<(), AgentError> {
    let info = runtime.info().await?;
    // Ephemeral storage matters only to FARGATE tasks: what this host offers them, and whether Docker enforces it.
    let (ephemeral_storage_gib, storage_quota) = if config.capacity.contains(&berth_model::agent::Capacity::Fargate) {
        let gib = storage::capacity_gib(config.resources.ephemeral_storage_gib, &info.docker_root_dir)?;
        tracing::info!(gib, root = %info.docker_root_dir, "ephemeral storage offered to FARGATE tasks");
        (Some(gib), storage::detect(runtime.as_ref(), &info).await)
    } else {
        (None, None)
    };
    // Every server of the list has the first one's scheme (the client checks).
    let first = config.server_url.split(',').next().unwrap_or_default();
    let tls = tls::client_config(first, config.server_ca.as_deref())?;
    let client = ServerClient::new(&config.server_url, tls)?;
    let shared = Arc::new(Shared {
        config: config.clone(),
        client,
        session: Arc::new(Session::default()),
        info,
        registering: Mutex::new(()),
        superseded: tokio::sync::Notify::new(),
        clock: clock.clone(),
        updating: std::sync::atomic::AtomicBool::new(false),
        ephemeral_storage_gib,
        storage_quota,
        lease: Arc::new(lease::AssignmentLease::new(clock.clone())),
    });
    shared.join().await?;

    let (tx, rx) = mpsc::unbounded_channel();
    let outbox = Arc::new(Outbox::default());
    let clock_drift = Arc::new(metadata::ClockDrift::default());
    let mut engine =
        Engine::new(runtime.clone(), config.engine.clone(), clock, shared.session.clone(), tx.clone(), outbox.clone());
    let gateway = runtime.bridge_gateway().await;
    match gateway {
        Some(ip) => match metadata::start(
            ip,
            config.availability_zone.clone(),
            stats_source(runtime.clone()),
            size_source(runtime.clone()),
            clock_drift.clone(),
        )
        .await
        {
            Ok(endpoint) => {
                tracing::info!(base = %endpoint.base, "task metadata endpoint");
                engine.set_metadata(endpoint);
            }
            Err(error) => tracing::warn!(%ip, %error, "no task metadata endpoint: cannot listen on the bridge gateway"),
        },
        None => tracing::warn!("no task metadata endpoint: the engine has no bridge network"),
    }
    // FARGATE tasks get a task-level cgroup as Docker's `CgroupParent`, which needs the cgroupfs driver's paths.
    if shared.info.cgroup_driver.as_deref() == Some("systemd") {
        tracing::warn!(
            "Docker uses the systemd cgroup driver: FARGATE tasks get no task-level cgroup (container limits only)"
        );
    } else {
        engine.set_task_cgroups(task_cgroup::host());
    }
    engine.set_storage_quota(shared.storage_quota.is_some());
    engine.set_lease(shared.lease.clone());
    engine.adopt().await?;
    let session = shared.session.clone();
    let shippers = logs::Shippers::new(
        runtime.clone(),
        Arc::new(ServerLogSink(shared.clone())),
        &config.data_dir,
        shared.clock.clone(),
        Arc::new(move || session.instance_arn()),
    );
    engine.set_log_shipping(shippers.clone());
    if let Some(trust) = &config.image_trust {
        engine.set_image_trust(Arc::new(image_trust::ImageTrust::new(trust.clone(), shared.client.clone())));
    }
    engine.set_secrets_source(secrets_source(shared.clone()));
    let secret_files = Arc::new(engine::secret_files::SecretFiles::new(
        engine::secret_files::SecretFiles::default_root(&config.data_dir),
    ));
    engine.set_secret_files(secret_files.clone());
    tokio::spawn(secret_files.refresh_every(secrets_source(shared.clone())));
    // Containers resolve through the agent's DNS forwarder, which relays to the server's DNS (Cloud Map's names).
    let dns = match dns::DnsForwarder::start(&config.data_dir).await {
        Ok(forwarder) => {
            engine.set_dns(forwarder.address());
            Some(Arc::new(forwarder))
        }
        Err(error) => {
            tracing::warn!(%error, "no DNS forwarder: task containers use Docker's resolvers (Cloud Map names do not resolve)");
            None
        }
    };
    let adopted: std::collections::BTreeSet<String> = engine.tasks().keys().cloned().collect();
    let saved = config.data_dir.join(credentials::saved::FILE);
    let credentials = start_credentials(gateway, credentials_source(shared.clone()), saved, &adopted).await;
    engine.set_credentials(credentials.clone());
    tokio::spawn(credentials.refresh_every(shared.clock.clone()));
    tokio::spawn(shippers.reconcile_every(LOG_SHIPPING_RECONCILE_EVERY));

    tokio::spawn(forward_events(runtime.clone(), tx.clone()));
    tokio::spawn(resync_timer(tx.clone(), shared.clock.clone()));
    let usage = Arc::new(usage::Usage::default());
    tokio::spawn(usage.clone().run(runtime.clone(), shared.clock.clone(), shared.session.clone()));
    tokio::spawn(report_loop(shared.clone(), outbox, usage, tx.clone(), clock_drift));
    let (networks_tx, networks_rx) = tokio::sync::watch::channel(None);
    tokio::spawn(routing::run(networks_rx, shared.clock.clone()));
    // Where the desired state names an unspecified address for the server's DNS: the server's own address.
    let server_ip = server_address(&config.server_url).await.map(|a| a.ip());
    let dns = dns.map(|forwarder| (forwarder, server_ip));
    tokio::spawn(stream_loop(shared.clone(), tx, runtime.clone(), networks_tx, dns));
    let superseded = shared.superseded.notified();
    tokio::select! {
        _ = engine.run(rx) => Ok(()),
        _ = superseded => Err(AgentError::Superseded(
            "another agent registered as this container instance; its containers are left to it".into(),
        )),
    }
}

/// The awslogs shippers' log store: the server's CloudWatch Logs API, called with the instance token (a token
/// the server no longer accepts makes the agent register again, as for its reports).
struct ServerLogSink(Arc<Shared>);

impl logs::sink::LogSink for ServerLogSink {
    fn call(
        &self,
        operation: &'static str,
        request: serde_json::Value,
    ) -> futures::future::BoxFuture<'_, Result<serde_json::Value, logs::sink::SinkError>> {
        use logs::sink::SinkError;
        Box::pin(async move {
            let token = self.0.session.token();
            match self.0.client.logs_call(&token, operation, &request).await {
                Ok(response) => Ok(response),
                Err(AgentError::Unauthorized(reason)) => {
                    self.0.register(Some(&token)).await;
                    Err(SinkError::Unavailable(format!("the instance token was refused ({reason}); registered again")))
                }
                Err(AgentError::Rejected { status, body }) if (400..500).contains(&status) => {
                    let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    let code = error["__type"].as_str().unwrap_or("ClientError");
                    let code = code.rsplit('#').next().unwrap_or(code).to_string();
                    let message = error["message"].as_str().unwrap_or(&body).to_string();
                    Err(SinkError::Refused { code, message })
                }
                Err(other) => Err(SinkError::Unavailable(other.to_string())),
            }
        })
    }
}

/// Container secrets come from the server (`POST /agent/v1/secrets`) with the instance token (a token the server no
/// longer accepts makes the agent register again; the task then fails to start and its service replaces it).
fn secrets_source(shared: Arc<Shared>) -> engine::worker::SecretsSource {
    Arc::new(move |req| {
        let shared = shared.clone();
        Box::pin(async move {
            let token = shared.session.token();
            match shared.client.task_secrets(&token, &req).await {
                Ok(response) => Ok(response),
                Err(AgentError::Unauthorized(reason)) => {
                    shared.register(Some(&token)).await;
                    Err(format!("the instance token was refused ({reason})"))
                }
                Err(other) => Err(other.to_string()),
            }
        })
    })
}

/// Task role credentials come from the server (`POST /agent/v1/credentials`) with the instance token, as secrets do.
fn credentials_source(shared: Arc<Shared>) -> credentials::CredentialsSource {
    Arc::new(move |req| {
        let shared = shared.clone();
        Box::pin(async move {
            let token = shared.session.token();
            match shared.client.task_credentials(&token, &req).await {
                Ok(response) => Ok(response),
                Err(AgentError::Unauthorized(reason)) => {
                    shared.register(Some(&token)).await;
                    Err(format!("the instance token was refused ({reason})"))
                }
                Err(other) => Err(other.to_string()),
            }
        })
    })
}

/// The credentials endpoint's listeners: one on the bridge gateway (a free port; tasks' NAT rules send
/// 169.254.170.2:80 there) and one on loopback (127.0.0.1:51679 as ECS's agent, else a free port; host tasks'
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`). A listener that cannot be bound is logged; tasks that need it fail to start.
/// The ids are saved in `saved`; those of the `adopted` tasks an earlier run saved are served again.
async fn start_credentials(
    gateway: Option<std::net::IpAddr>,
    source: credentials::CredentialsSource,
    saved: std::path::PathBuf,
    adopted: &std::collections::BTreeSet<String>,
) -> Arc<credentials::TaskCredentials> {
    use credentials::endpoint;
    let bridge = match gateway {
        Some(ip) => endpoint::bind(ip, 0)
            .await
            .map_err(|error| tracing::warn!(%ip, %error, "no credentials endpoint on the bridge gateway"))
            .ok(),
        None => None,
    };
    let loopback = endpoint::bind(std::net::IpAddr::from([127, 0, 0, 1]), metadata::PORT)
        .await
        .map_err(|error| tracing::warn!(%error, "no loopback credentials endpoint"))
        .ok();
    let address = |l: &Option<tokio::net::TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
    let store = Arc::new(
        credentials::TaskCredentials::new(source, address(&bridge), address(&loopback), true).with_saved_file(saved),
    );
    tracing::info!(bridge = ?address(&bridge), loopback = ?address(&loopback), "task credentials endpoint");
    for listener in [bridge, loopback].into_iter().flatten() {
        endpoint::serve(listener, endpoint::router(store.clone()));
    }
    store.restore(adopted).await;
    store
}

/// The metadata endpoint's `/stats`: one sample from the engine.
/// Where the metadata endpoint gets a container's writable-layer size from.
fn size_source<R: ContainerRuntime>(runtime: Arc<R>) -> metadata::SizeSource {
    Arc::new(move |id: String| {
        let runtime = runtime.clone();
        Box::pin(async move {
            runtime
                .container_size(&id)
                .await
                .map_err(|error| tracing::info!(container = %id, %error, "no size for the metadata endpoint"))
                .ok()
                .flatten()
        })
    })
}

fn stats_source<R: ContainerRuntime>(runtime: Arc<R>) -> metadata::StatsSource {
    Arc::new(move |id: String| {
        let runtime = runtime.clone();
        Box::pin(async move {
            runtime
                .container_stats(&id)
                .await
                .map_err(|error| tracing::info!(container = %id, %error, "no stats for the metadata endpoint"))
                .ok()
        })
    })
}

async fn forward_events<R: ContainerRuntime>(runtime: Arc<R>, tx: mpsc::UnboundedSender<Msg>) {
    loop {
        match runtime.events().await {
            Ok(mut events) => {
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => {
                            if tx.send(Msg::Event(event)).is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "docker event stream error");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to docker events"),
        }
        // Events in between are lost: resync, then subscribe again.
        if tx.send(Msg::Resync).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Asks the engine for a resync every [`RESYNC_EVERY`] on `clock` (the first one period after the start), until
/// the engine is gone. A plain timer rather than a `berth_runtime` controller: it has one chore, no key and no
/// store to follow, and the engine it pokes is a single-owner loop, not a reconciler.
async fn resync_timer(tx: mpsc::UnboundedSender<Msg>, clock: Arc<dyn Clock>) {
    let period = RESYNC_EVERY.as_secs_f64();
    let mut next = clock.now() + period;
    loop {
        clock.sleep_until(next).await;
        next = clock.now() + period;
        if tx.send(Msg::Resync).is_err() {
            return;
        }
    }
}

async fn report_loop(
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
    usage: Arc<usage::Usage>,
    tx: mpsc::UnboundedSender<Msg>,
    clock_drift: Arc<metadata::ClockDrift>,
) {
    let heartbeat = Duration::from_secs(3);
    let mut backoff = Duration::from_millis(100);
    loop {
        refresh_registry_auth(&shared).await;
        let batch = outbox.snapshot();
        let token = shared.session.token();
        let req = ReportRequest {
            tasks: batch.iter().map(|(_, r)| r.clone()).collect(),
            applied_revision: 0,
            usage: usage.take(),
        };
        for r in &req.tasks {
            tracing::debug!(target: "berth_timing", task = %r.task_arn, step = %"report_sent", status = %r.last_status);
        }
        let sent = shared.clock.now();
        let sent_monotonic = shared.clock.monotonic();
        match shared.client.report(&token, &req).await {
            Ok(response) => {
                metrics::counter!("berth_agent_reports_total", "outcome" => "ok").increment(1);
                shared.lease.confirmed(sent_monotonic, response.assignment_epoch);
                if let Some(server_time) = response.server_time {
                    clock_drift.record(sent, shared.clock.now(), server_time);
                }
                for r in &req.tasks {
                    tracing::debug!(target: "berth_timing", task = %r.task_arn, step = %"report_acked", status = %r.last_status);
                }
                backoff = Duration::from_millis(100);
                let sent: Vec<(u64, String)> = batch.into_iter().map(|(seq, r)| (seq, r.task_arn)).collect();
                outbox.acknowledge(&sent);
                if !response.unknown_task_arns.is_empty() && tx.send(Msg::Unknown(response.unknown_task_arns)).is_err()
                {
                    return;
                }
                if outbox.snapshot().is_empty() {
                    // A start held by the assignment lease wants a confirmation now, not at the next heartbeat.
                    let _ = tokio::time::timeout(heartbeat, async {
                        tokio::select! {
                            () = outbox.wait() => {}
                            () = shared.lease.confirmation_wanted() => {}
                        }
                    })
                    .await;
                }
            }
            Err(AgentError::Unauthorized(reason)) => {
                tracing::warn!(%reason, "the server refused the instance token; registering again");
                shared.register(Some(&token)).await;
            }
            Err(AgentError::Superseded(reason)) => {
                tracing::error!(%reason, "this agent was superseded; it stops managing containers");
                shared.superseded.notify_waiters();
                return;
            }
            Err(error) => {
                metrics::counter!("berth_agent_reports_total", "outcome" => "failed").increment(1);
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "report failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(3));
            }
        }
    }
}

/// Refreshes the registry credentials when they are past most of their lifetime (see
/// [`session::registry_auth_due`]); a failure is retried on the next report.
async fn refresh_registry_auth(shared: &Shared) {
    if !shared.session.registry_auth_due(shared.clock.now()) {
        return;
    }
    match shared.client.registry_auth(&shared.session.token()).await {
        Ok(response) => {
            shared.session.set_registry_auth(response.registry_auth, shared.clock.now());
            tracing::info!("registry credentials refreshed");
        }
        Err(error) => tracing::warn!(%error, "cannot refresh the registry credentials; retrying"),
    }
}

async fn stream_loop<R: ContainerRuntime>(
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Msg>,
    runtime: Arc<R>,
    networks: tokio::sync::watch::Sender<Option<berth_model::agent::HostNetwork>>,
    dns: Option<(Arc<dns::DnsForwarder>, Option<std::net::IpAddr>)>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let token = shared.session.token();
        match shared.client.stream(&token).await {
            Ok(stream) => {
                backoff = Duration::from_millis(100);
                let mut stream = std::pin::pin!(stream);
                while let Some(message) = stream.next().await {
                    match message {
                        Ok(StreamMessage::Desired(desired)) => {
                            if let Some((forwarder, server_ip)) = &dns {
                                let named = desired.dns_server.as_deref();
                                forwarder.set_server(named.and_then(|n| dns::server_address(n, *server_ip)));
                            }
                            if let Some(network) = &desired.host_network {
                                networks.send_if_modified(|current| {
                                    let changed = current.as_ref() != Some(network);
                                    if changed {
                                        *current = Some(network.clone());
                                    }
                                    changed
                                });
                            }
                            if tx.send(Msg::Desired(desired)).is_err() {
                                return;
                            }
                        }
                        Ok(StreamMessage::Heartbeat { .. }) => {}
                        Ok(StreamMessage::UpdateAgent { target_version }) => start_update(&shared, target_version),
                        Ok(StreamMessage::Exec(start)) => {
                            let urls = shared.client.bases_current_first();
                            let tls = shared.client.tls();
                            tokio::spawn(exec::serve(runtime.clone(), urls, tls, shared.session.token(), start));
                        }
                        Err(error) => {
                            tracing::warn!(%error, "desired-state stream ended");
                            break;
                        }
                    }
                }
            }
            Err(AgentError::Unauthorized(reason)) => {
                tracing::warn!(%reason, "the server refused the instance token; registering again");
                shared.register(Some(&token)).await;
                continue;
            }
            Err(AgentError::Superseded(reason)) => {
                tracing::error!(%reason, "this agent was superseded; it stops managing containers");
                shared.superseded.notify_waiters();
                return;
            }
            Err(error) => tracing::warn!(%error, "cannot open the desired-state stream"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(3));
    }
}

/// Starts the in-place update the server asked for, unless one is already running.
fn start_update(shared: &Arc<Shared>, target: String) {
    use std::sync::atomic::Ordering;
    if shared.updating.swap(true, Ordering::SeqCst) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let token = shared.session.token();
        self_update::run(&shared.client, &token, shared.config.self_update.as_ref(), &target).await;
        // Still here: the update failed or could not be reported; a later request may try again.
        shared.updating.store(false, Ordering::SeqCst);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::ManualClock;

    #[tokio::test]
    async fn the_host_address_attribute_counts_only_when_routable() {
        let with = |v: &str| BTreeMap::from([(HOST_ADDRESS_ATTRIBUTE.to_string(), v.to_string())]);
        assert_eq!(attribute_address(&with("10.0.0.7")), Some(std::net::Ipv4Addr::new(10, 0, 0, 7)));
        for other in ["host.example", "127.0.0.1", "0.0.0.0", ""] {
            assert_eq!(attribute_address(&with(other)), None, "{other}");
        }
        assert_eq!(attribute_address(&BTreeMap::new()), None);
        // A server reached over loopback gives no host address, nor does a URL that does not parse.
        assert_eq!(local_address_towards("http://127.0.0.1:7700").await, None);
        assert_eq!(local_address_towards("not a url").await, None);
    }

    #[tokio::test]
    async fn the_resync_timer_runs_on_the_agents_clock() {
        let clock = Arc::new(ManualClock::new(1_000.0));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let timer = tokio::spawn(resync_timer(tx, clock.clone()));
        let settle = || async {
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
        };
        settle().await;
        clock.advance(RESYNC_EVERY.as_secs_f64() - 0.001);
        settle().await;
        assert!(rx.try_recv().is_err(), "no resync before the period");
        clock.advance(0.001);
        settle().await;
        assert!(matches!(rx.try_recv(), Ok(Msg::Resync)));
        clock.advance(RESYNC_EVERY.as_secs_f64());
        settle().await;
        assert!(matches!(rx.try_recv(), Ok(Msg::Resync)), "and every period after");
        drop(rx);
        clock.advance(RESYNC_EVERY.as_secs_f64());
        settle().await;
        assert!(timer.is_finished(), "the timer ends with the engine");
    }
}
