//! Berth's control plane: the ECS operations and the controllers behind them.
//!
//! # Background
//! The API crate decodes and validates an AWS request and calls one function here; nothing here sees HTTP. Each
//! operation reads the watch-fed [`cache::Cache`], decides, and commits one store transaction with
//! compare-and-swap on the revisions it read; on a conflict it reads again and retries a bounded number of times
//! (one loop for all of them: `Control::write` in `optimistic`).
//! Placement is delegated to the pure `berth-scheduler` crate, on one live `ClusterState` per cluster that the
//! cache keeps current from the watch ([`live_placement`]); placements reserve on it without a global lock and
//! commit with compare-and-swap on the instance records, and the task and the instance's reservation are written in
//! the same transaction, so a task is never half-placed. DAEMON services check each instance on the same state.
//!
//! # Design
//! - [`Control`] holds the store, the cache, the clock and the agent hub; operations are `impl Control` blocks in
//!   one module per ECS resource or concern (`clusters`, `task_definitions`, `instances`, `tasks/*`, `services/*`,
//!   `tags`, `account_settings`, `task_protection`, `poll_endpoint`, `state_changes`, `agent_update`, `exec`).
//!   `tasks::launch` is the one check RunTask, StartTask, CreateService and UpdateService share;
//!   `requires_attributes` derives `requiresAttributes` as ECS does.
//! - Agents talk to [`agents`]: registration, the desired-state stream (computed from the cache whenever it
//!   advances), and state reports, which drive a task's `lastStatus` through ECS's lifecycle. The ECS `Submit*`
//!   operations, from an agent's instance token, go through the same report path.
//! - The [`liveness`] controller marks an agent that went silent as disconnected and stops the tasks of lost
//!   instances; it runs on `berth_runtime` with time from the control plane's clock.
//! - The [`services::controller`] is the service scheduler (REPLICA and DAEMON, rolling deployments, the circuit
//!   breaker, the start-failure throttle, task scale-in protection), on `berth_runtime` with one key per service;
//!   what it does in a pass is decided by [`services::machine::plan`], a pure function tested on its own; a service
//!   with the EXTERNAL deployment controller is run by its task sets instead ([`services::task_sets`]).
//! - [`records`] are what the store holds, written and read by [`stored`] with a schema version per kind (older
//!   versions upgraded as read, newer refused); clusters, tasks, container instances and services are Berth's own
//!   types, rendered to the wire shapes only when answered; statuses are the enums of [`status`].
//! - [`utilization`] keeps the agents' latest usage sample per task and computes the `AWS/ECS` percentages
//!   ([`Control::ecs_metrics`]) the server writes into its metric store; [`insights`] the `ECS/ContainerInsights`
//!   figures of clusters with Container Insights on ([`Control::container_insights_metrics`]).
//!
//! # Limitations
//! Capacity providers exist on node groups ([`capacity_providers`]); managed scaling publishes
//! CapacityProviderReservation, lets tasks wait for capacity, and scales node groups through the node providers the
//! server configures ([`managed_scaling`]; scale-in only ever removes hosts without tasks). [`daemons`] run one
//! daemon task per instance of their capacity providers; an instance whose daemon task stops is replaced through its
//! node provider ([`managed_scaling::replacement`]), or gets its daemon task again in place where no provider can
//! remove it. Blue/green, linear and canary deployments ([`services::blue_green`]) need a load balancer (not
//! Service Connect) and call webhook hooks over plain `http://` only (Berth has no Lambda). Services with `loadBalancers` and
//! `serviceRegistries` ([`services::targets`]) need the server to wire a [`services::targets::ServiceTargets`].
//! Several servers on one etcd elect a leader (`berth_store::leader`): every controller here runs on
//! `berth_runtime`, which gates it on the process's leadership and fences its writes; agent liveness heard by the
//! other servers is merged through [`peers`].

mod account_settings;
mod agent_task_access;
mod agent_update;
pub mod agents;
mod attributes;
pub mod cache;
pub mod capacity_providers;
mod clusters;
pub mod counts;
pub mod daemons;
mod error;
pub mod exec;
pub mod exec_announce;
pub mod express;
pub mod host_routes;
pub mod insights;
mod instances;
pub mod live_placement;
pub mod liveness;
pub mod managed_scaling;
pub mod metering;
pub mod network;
mod optimistic;
mod paging;
pub mod peers;
mod placement;
#[doc(hidden)]
pub mod placement_bench;
mod poll_endpoint;
pub mod read_barrier;
pub mod records;
pub mod requires_attributes;
pub mod schema;
pub mod services;
pub mod state_changes;
pub mod status;
pub mod stored;
pub mod support;
mod tags;
mod task_definitions;
pub mod task_failures;
pub mod task_protection;
pub mod task_role;
pub mod task_secrets;
pub mod tasks;
pub mod utilization;

pub use error::{ControlError, EcsException, Result};

use crate::status::ClusterStatus;
use berth_model::arn::{Arn, is_arn};
use berth_model::clock::Clock;
use berth_model::ecs::Failure;
use berth_store::{SharedStore, Txn, TxnOutcome};
use cache::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The control plane's settings.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// The region in ARNs, e.g. `us-east-1`.
    pub region: String,
    /// The 12-digit account id in ARNs.
    pub account_id: String,
    /// How long an agent may stay silent before it shows `agentConnected: false`.
    pub agent_timeout: Duration,
    /// How often agents report when nothing changes.
    pub agent_heartbeat: Duration,
    /// How long an agent may stay silent before its instance counts as lost and its tasks are stopped (and, for
    /// services, replaced elsewhere).
    pub lost_instance_timeout: Duration,
    /// How long every task of a deployment must have been running (and healthy) before the deployment counts as
    /// COMPLETED: a crash-looping revision must not complete in the instant its tasks all show RUNNING.
    pub deployment_stabilization: Duration,
    /// ECS's "Tasks per service" quota: the largest `desiredCount` a service may ask for (ECS's default: 5,000).
    pub max_tasks_per_service: u32,
    /// How long a `clientToken` is remembered (ECS: 24 hours for RunTask); a retry after that is a new request.
    pub client_token_ttl: Duration,
    /// The base URL clients and agents reach this server at (`http://host:port`), which DiscoverPollEndpoint
    /// answers; `None` when the server does not know it (DiscoverPollEndpoint then refuses).
    pub advertised_url: Option<String>,
    /// The agent version this server ships (UpdateContainerAgent brings agents to it).
    pub agent_version: String,
    /// The default VPC awsvpc tasks get their interfaces in.
    pub vpc: berth_vpc::VpcLayout,
    /// How often managed scaling looks at the node groups it scales (ECS: each minute, on CloudWatch alarms).
    pub managed_scaling_interval: Duration,
    /// How long a capacity provider's reservation must stay under its target before idle hosts are removed
    /// (target tracking's scale-in alarm: 15 one-minute datapoints).
    pub scale_in_after: Duration,
    /// How long one minute of a blue/green deployment's bake times and hook timeouts lasts (a minute; tests
    /// shorten it).
    pub deployment_minute: Duration,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            agent_timeout: Duration::from_secs(10),
            agent_heartbeat: Duration::from_secs(3),
            lost_instance_timeout: Duration::from_secs(30),
            deployment_stabilization: Duration::from_secs(3),
            max_tasks_per_service: DEFAULT_MAX_TASKS_PER_SERVICE,
            client_token_ttl: Duration::from_secs(24 * 3600),
            advertised_url: None,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            vpc: berth_vpc::VpcLayout::default_for("us-east-1", "000000000000"),
            managed_scaling_interval: Duration::from_secs(15),
            scale_in_after: Duration::from_secs(15 * 60),
            deployment_minute: Duration::from_secs(60),
        }
    }
}

/// The failure reason Describe* give for a resource whose stored record is corrupt (quarantined).
pub const QUARANTINED_REASON: &str = "CORRUPT_RECORD";

/// ECS's default "Tasks per service" quota.
pub const DEFAULT_MAX_TASKS_PER_SERVICE: u32 = 5_000;

/// The control plane.
pub struct Control {
    store: SharedStore,
    cache: Arc<Cache>,
    clock: Arc<dyn Clock>,
    config: ControlConfig,
    agents: agents::AgentHub,
    exec: exec::ExecSessions,
    usage: utilization::UsageTable,
    /// Load balancers and Cloud Map for services, when the server wires them ([`Control::set_service_targets`]).
    service_targets: std::sync::RwLock<Option<Arc<dyn services::targets::ServiceTargets>>>,
    /// CloudWatch alarms for deployment alarms, when the server wires them ([`Control::set_deployment_alarms`]).
    deployment_alarms: std::sync::RwLock<Option<Arc<dyn services::alarms::DeploymentAlarms>>>,
    security_groups: std::sync::OnceLock<Arc<dyn berth_vpc::SecurityGroupDirectory>>,
    /// Where CapacityProviderReservation goes ([`Control::set_reservation_sink`]).
    reservation_sink: std::sync::OnceLock<Arc<dyn managed_scaling::controller::ReservationSink>>,
    /// The node providers managed scaling drives, by node group ([`Control::set_node_providers`]).
    node_providers: std::sync::OnceLock<managed_scaling::nodes::NodeProviders>,
    /// What managed scaling remembers between looks (launches warming up, scale-in timers, hosts leaving).
    scaling_tracks: std::sync::Mutex<managed_scaling::node_groups::Tracks>,
    /// The load balancers and scaling of Express services ([`Control::set_express_infrastructure`]).
    express: std::sync::OnceLock<Arc<dyn express::ExpressInfrastructure>>,
    /// Where blue/green deployments' webhook hooks are called ([`Control::set_hook_caller`]).
    hook_caller: std::sync::OnceLock<Arc<dyn services::blue_green::effects::HookCaller>>,
    /// The server's DNS server, which agents forward their tasks' queries to ([`Control::set_dns_server`]).
    dns_server: std::sync::OnceLock<std::net::SocketAddr>,
    /// The store's current revision, shared by the API calls that arrive together ([`Control::catch_up_with_store`]).
    read_barrier: read_barrier::ReadBarrier,
}

/// How long an API call waits for this server's cache to reach the store's revision before it fails
/// (ServerException, which SDKs retry).
const CACHE_CATCH_UP: Duration = Duration::from_secs(5);

/// Starts the control plane's controllers (agent liveness, the service scheduler, managed scaling, the daemon
/// scheduler) in the background.
pub fn spawn_controllers(control: &Arc<Control>) {
    tokio::spawn(liveness::run(control.clone()));
    tokio::spawn(services::controller::run(control.clone()));
    tokio::spawn(managed_scaling::controller::run(control.clone()));
    tokio::spawn(daemons::controller::run(control.clone()));
}

impl Control {
    /// Starts the control plane on a store: loads the cache and creates the `default` cluster if missing.
    pub async fn start(store: SharedStore, clock: Arc<dyn Clock>, config: ControlConfig) -> Result<Arc<Self>> {
        let cache = Cache::start(store.clone()).await.map_err(ControlError::store("loading the cache"))?;
        let agents = agents::AgentHub::new(clock.clone());
        let exec = exec::ExecSessions::new(clock.clone());
        let usage = utilization::UsageTable::default();
        let service_targets = std::sync::RwLock::new(None);
        let security_groups = std::sync::OnceLock::new();
        let reservation_sink = std::sync::OnceLock::new();
        let control = Arc::new(Self {
            store,
            cache,
            clock,
            config,
            agents,
            exec,
            usage,
            service_targets,
            deployment_alarms: std::sync::RwLock::new(None),
            security_groups,
            reservation_sink,
            node_providers: std::sync::OnceLock::new(),
            scaling_tracks: std::sync::Mutex::default(),
            express: std::sync::OnceLock::new(),
            hook_caller: std::sync::OnceLock::new(),
            dns_server: std::sync::OnceLock::new(),
            read_barrier: read_barrier::ReadBarrier::default(),
        });
        control.ensure_default_cluster().await?;
        Ok(control)
    }

    /// Sets the address of the server's DNS server (once; later calls are ignored): every desired state names it,
    /// and agents forward their tasks' DNS queries there. An unspecified IP stands for the address each agent
    /// reaches the server at.
    pub fn set_dns_server(&self, address: std::net::SocketAddr) {
        let _ = self.dns_server.set(address);
    }

    /// The server's DNS server as the desired state names it (`ip:port`), if it serves one.
    pub(crate) fn dns_server(&self) -> Option<String> {
        self.dns_server.get().map(|a| a.to_string())
    }

    /// Sets where services register their tasks (target groups, Cloud Map); without it, `loadBalancers` and
    /// `serviceRegistries` are refused. Set it before the controllers start.
    pub fn set_service_targets(&self, targets: Arc<dyn services::targets::ServiceTargets>) {
        *self.service_targets.write().unwrap_or_else(|p| p.into_inner()) = Some(targets);
    }

    /// Where services register their tasks, if the server wired it.
    pub(crate) fn service_targets(&self) -> Option<Arc<dyn services::targets::ServiceTargets>> {
        self.service_targets.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets how blue/green deployments call their webhook hooks (once; later calls are ignored). Without it a
    /// webhook hook is never called and times out.
    pub fn set_hook_caller(&self, caller: Arc<dyn services::blue_green::effects::HookCaller>) {
        let _ = self.hook_caller.set(caller);
    }

    /// How webhook hooks are called, when set.
    pub(crate) fn hook_caller(&self) -> Option<Arc<dyn services::blue_green::effects::HookCaller>> {
        self.hook_caller.get().cloned()
    }

    /// Sets where the service scheduler reads the CloudWatch alarms of services' deployment alarms
    /// (`deploymentConfiguration.alarms`); without it, no alarm exists for them. Set it before the controllers start.
    pub fn set_deployment_alarms(&self, alarms: Arc<dyn services::alarms::DeploymentAlarms>) {
        *self.deployment_alarms.write().unwrap_or_else(|p| p.into_inner()) = Some(alarms);
    }

    /// Where deployment alarms are read, if the server wired it.
    pub(crate) fn deployment_alarms(&self) -> Option<Arc<dyn services::alarms::DeploymentAlarms>> {
        self.deployment_alarms.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets where security groups are looked up (once; later calls are ignored). Without it only the default
    /// VPC's default security group exists.
    pub fn set_security_groups(&self, directory: Arc<dyn berth_vpc::SecurityGroupDirectory>) {
        let _ = self.security_groups.set(directory);
    }

    /// Where security groups are looked up, when set.
    pub(crate) fn security_groups(&self) -> Option<&dyn berth_vpc::SecurityGroupDirectory> {
        self.security_groups.get().map(|d| d.as_ref())
    }

    /// The settings.
    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    /// The store's revision as this server knows it (moves with every write it sees, under any prefix: ECS records,
    /// security groups, load balancers).
    pub fn store_revision(&self) -> i64 {
        self.store.revision()
    }

    /// Waits until this server's cache holds every write the store committed before the call (any server's), so
    /// that an API call answers linearizably: a task another server created a moment ago is no longer MISSING here.
    /// A no-op on stores this process is the only writer of (its own writes wait for the cache). Fails with
    /// ServerException when the store cannot be asked (a partitioned server refuses rather than answer from the
    /// past) or the cache does not catch up in time.
    pub async fn catch_up_with_store(&self) -> Result<()> {
        let revision = self
            .read_barrier
            .current_revision(self.store.as_ref())
            .await
            .map_err(ControlError::store("reading the store's current revision"))?;
        let Some(revision) = revision else { return Ok(()) };
        if self.cache.catch_up_to(revision, CACHE_CATCH_UP).await {
            return Ok(());
        }
        tracing::warn!(revision, cache = self.cache.revision(), "the cache did not reach the store's revision in time");
        Err(ControlError::ecs(
            EcsException::ServerException,
            format!(
                "this server's view of the cluster state is behind the store (at revision {}, the store at \
                 {revision}) and did not catch up within {} s; retry (another server may answer)",
                self.cache.revision(),
                CACHE_CATCH_UP.as_secs()
            ),
        ))
    }

    /// The cache (read-only access for the API's agent stream and for tests).
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn now(&self) -> f64 {
        berth_model::clock::to_millis(self.clock.now())
    }

    /// `arn:aws:ecs:<region>:<account>:<resource>`.
    pub fn arn(&self, resource: &str) -> String {
        format!("arn:aws:ecs:{}:{}:{}", self.config.region, self.config.account_id, resource)
    }

    /// The `MISSING` failure for a resource a request named as `text`: an ARN is returned as given, a name or id
    /// as the ARN `{kind}/{cluster}/{text}` (e.g. `task`, `service`, `container-instance`).
    /// When the resource's record is quarantined (unreadable), the failure says so instead.
    pub(crate) fn missing(&self, kind: &str, cluster: &str, text: &str) -> Failure {
        self.missing_in(&self.cache.read(), kind, cluster, text)
    }

    /// [`Control::missing`] on a cache state the caller already holds.
    pub(crate) fn missing_in(&self, state: &cache::State, kind: &str, cluster: &str, text: &str) -> Failure {
        let arn = if is_arn(text) { text.to_string() } else { self.arn(&format!("{kind}/{cluster}/{text}")) };
        let id = arn.rsplit('/').next().unwrap_or_default();
        let key = match kind {
            "task" => Some(records::keys::task(cluster, id)),
            "service" => Some(records::keys::service(cluster, id)),
            "container-instance" => Some(records::keys::instance(cluster, id)),
            _ => None,
        };
        if let Some(q) = key.and_then(|k| state.quarantined.get(&k).cloned()) {
            return Failure {
                arn: Some(arn),
                reason: Some(QUARANTINED_REASON.into()),
                detail: Some(format!(
                    "The stored record {} (revision {}) is corrupt and quarantined: {}. Its containers are left running; \
                     see `berth admin quarantine`.",
                    q.key, q.mod_revision, q.error
                )),
            };
        }
        Failure { arn: Some(arn), reason: Some("MISSING".into()), detail: None }
    }

    /// Commits a transaction and waits for the cache to see it. `Ok(None)` when a compare failed.
    async fn commit(&self, txn: Txn, context: &str) -> Result<Option<i64>> {
        match self.store.txn(txn).await.map_err(ControlError::store(context))? {
            TxnOutcome::Committed { revision } => {
                self.cache.wait_for(revision).await;
                Ok(Some(revision))
            }
            TxnOutcome::Conflict { key, actual_revision } => {
                tracing::debug!(%key, actual_revision, context, "compare-and-swap conflict; retrying");
                // Let the cache catch up with the write that beat us before the caller re-reads.
                self.cache.wait_for(actual_revision).await;
                Ok(None)
            }
        }
    }

    /// Resolves a `cluster` parameter (short name, ARN, or absent for `default`) to a short name that exists.
    fn cluster_name(&self, cluster: Option<&str>) -> Result<String> {
        let name = resolve_cluster_name(cluster)?;
        let state = self.cache.read();
        match state.clusters.get(&name) {
            Some(c) if c.record.status() == Some(ClusterStatus::Active) => Ok(name),
            _ => Err(ControlError::cluster_not_found()),
        }
    }
}

/// The short cluster name a `cluster` parameter names (`default` when absent), without checking it exists.
pub fn resolve_cluster_name(cluster: Option<&str>) -> Result<String> {
    let text = cluster.map(str::trim).filter(|c| !c.is_empty()).unwrap_or("default");
    if is_arn(text) {
        let arn = Arn::parse(text).map_err(|e| ControlError::invalid(e.to_string()))?;
        if arn.service != "ecs" || arn.resource_type() != "cluster" {
            return Err(ControlError::invalid(format!("{text} is not a cluster ARN.")));
        }
        let name = arn.resource_path().join("/");
        return Ok(name);
    }
    Ok(text.to_string())
}

/// Serialises a record for the store.
fn encode<T: stored::StoredRecord>(record: &T) -> Result<Vec<u8>> {
    stored::encode(record).map_err(|source| ControlError::Corrupt { key: "<encoding>".into(), source })
}
