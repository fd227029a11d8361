//! Simulated container instances: `berth agent --simulate N` joins N instances from one process through the real
//! agent protocol, and runs no containers.
//!
//! # Background
//! Issue 17 asks for the control plane to be driven to 10,000 instances and 100,000 tasks on one machine. Real agents
//! need a Docker Engine each; simulated ones need a few kilobytes. They exist for scale tests and benchmarks, and say
//! what they are: every simulated instance carries the attribute [`SIMULATED_ATTRIBUTE`]`=true` and reports the
//! agent version [`SIMULATED_VERSION`], so nobody mistakes one for a host that can run a container.
//!
//! # Design
//! - Each instance registers with the join token (`/agent/v1/register`, with the capabilities and attributes a real
//!   agent on a 4 vCPU / 16 GiB host advertises, availability zones taken in turn), reports once to connect, then
//!   runs one loop ([`instance`]): it holds its desired-state stream (`/agent/v1/stream`, reconnecting like the real
//!   agent), heartbeats on the interval the server gave at registration (3 s by default), and reports what changed,
//!   batched per instance, retried until acknowledged.
//! - Tasks follow a timetable ([`task`]): PENDING on receipt, RUNNING after a configurable delay (runtime ids, host
//!   ports), HEALTHY one health-check interval later when they have a check, STOPPING then STOPPED with exit code 143
//!   when the server stops them.
//! - All instances share one [`ServerClient`] (the real agent's client: its timeouts, its failover between servers),
//!   with a bound on the reports in flight so 10,000 instances stay within the open-file limit.
//! - [`Fleet::lose`] silences instances (no more heartbeats, reports or stream: a host that lost power), those
//!   running the most service tasks first; `berth agent --simulate` does it on SIGUSR1.
//!
//! # Limitations
//! Identities are kept in memory only: a restarted simulator joins new instances. ECS Exec sessions and agent
//! updates are ignored (there is nothing to exec into or update). Containers never exit on their own.

mod instance;
pub mod task;

use crate::AgentError;
use crate::client::ServerClient;
use crate::resources::{self, ResourceSettings};
use crate::runtime::RuntimeInfo;
use berth_model::agent::{AgentVersion, Capacity, RegisterRequest, RegisterResponse, ReportRequest};
use berth_model::clock::Clock;
use berth_model::host_access::HostAccess;
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use task::Timings;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

/// The attribute every simulated instance carries (value `true`).
pub const SIMULATED_ATTRIBUTE: &str = "berth.simulated";

/// The agent version (and hash, and Docker version) simulated instances report.
pub const SIMULATED_VERSION: &str = "simulated";

/// CPU units a simulated instance offers unless told otherwise (a 4 vCPU host).
pub const CPU_UNITS: i64 = 4096;

/// Memory (MiB) a simulated instance offers unless told otherwise (a 16 GiB host).
pub const MEMORY_MIB: i64 = 16384;

/// Reports (heartbeats included) the whole fleet has in flight at most: bounds its connections to the server.
const REPORTS_IN_FLIGHT: usize = 512;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateConfig {
    /// The control plane (one URL or several, comma-separated, like the agent's `--server`).
    pub server_url: String,
    /// The join token.
    pub join_token: String,
    /// The cluster the instances join.
    pub cluster: String,
    /// How many instances.
    pub count: usize,
    /// How long the simulated task steps take.
    pub timings: Timings,
    /// Seconds between heartbeats; `None`: the interval the server gives at registration.
    pub heartbeat: Option<Duration>,
    /// CPU units each instance offers.
    pub cpu_units: i64,
    /// Memory (MiB) each instance offers.
    pub memory_mib: i64,
    /// Custom attributes of every instance (besides the built-ins and [`SIMULATED_ATTRIBUTE`]).
    pub attributes: BTreeMap<String, String>,
    /// Availability zones, given to the instances in turn.
    pub zones: Vec<String>,
    /// The `ecs.instance-type` attribute.
    pub instance_type: String,
    /// Host names are this, a dash and the instance's number (`sim-00042`); shown as `ec2InstanceId`.
    pub hostname: String,
    /// What the instances serve.
    pub capacity: Vec<Capacity>,
    /// The node group the instances belong to.
    pub node_group: Option<String>,
    /// CA certificates (PEM) trusted for an `https://` server besides the system's roots.
    pub server_ca: Option<PathBuf>,
    /// How many instances (the first ones) hold a desired-state stream; the others only heartbeat.
    pub streams: usize,
    /// Registrations in flight at once.
    pub registrations_in_flight: usize,
}

impl SimulateConfig {
    /// `count` instances of 4 vCPU and 16 GiB in three zones of us-east-1, each holding a stream, heartbeating on
    /// the server's interval, tasks RUNNING 500 ms after they arrive and STOPPED 200 ms after they are stopped.
    pub fn new(server_url: &str, join_token: &str, cluster: &str, count: usize) -> Self {
        Self {
            server_url: server_url.into(),
            join_token: join_token.into(),
            cluster: cluster.into(),
            count,
            timings: Timings::default(),
            heartbeat: None,
            cpu_units: CPU_UNITS,
            memory_mib: MEMORY_MIB,
            attributes: BTreeMap::new(),
            zones: ["us-east-1a", "us-east-1b", "us-east-1c"].map(String::from).to_vec(),
            instance_type: "berth.simulated.4c16g".into(),
            hostname: "sim".into(),
            capacity: vec![Capacity::Ec2],
            node_group: None,
            server_ca: None,
            streams: usize::MAX,
            registrations_in_flight: 32,
        }
    }

    /// The registration of instance `index` (`previous`: the ARN and secret it rejoins as).
    fn register_request(&self, index: usize, previous: Option<&Registration>) -> RegisterRequest {
        let info = RuntimeInfo {
            cpus: 4,
            memory_bytes: 16 << 30,
            os: "linux".into(),
            arch: "x86_64".into(),
            ..Default::default()
        };
        let zone = self.zones.get(index % self.zones.len().max(1)).cloned().unwrap_or_else(|| "us-east-1a".into());
        let mut attributes =
            resources::attributes(&info, &zone, Some(&self.instance_type), &self.attributes, &HostAccess::default());
        attributes.insert(SIMULATED_ATTRIBUTE.into(), "true".into());
        let settings = ResourceSettings {
            cpu_units: Some(self.cpu_units),
            memory_mib: Some(self.memory_mib),
            ..ResourceSettings::default()
        };
        RegisterRequest {
            cluster: self.cluster.clone(),
            container_instance_arn: previous.map(|p| p.arn.clone()),
            instance_secret: previous.and_then(|p| p.secret.clone()),
            hostname: format!("{}-{index:05}", self.hostname),
            resources: resources::offered(&info, &settings),
            attributes,
            version: AgentVersion {
                agent_version: SIMULATED_VERSION.into(),
                agent_hash: SIMULATED_VERSION.into(),
                docker_version: format!("DockerVersion: {SIMULATED_VERSION}"),
            },
            self_update: false,
            capacity: self.capacity.clone(),
            node_group: self.node_group.clone(),
            host_address: None,
            protocol: Some(berth_model::agent::PROTOCOL),
        }
    }
}

/// What the fleet has done so far.
#[derive(Debug, Default)]
pub struct Counters {
    /// Instances registered.
    pub registered: AtomicUsize,
    /// Desired-state streams open now.
    pub streams: AtomicUsize,
    /// Reports that carried task changes, acknowledged.
    pub reports: AtomicU64,
    /// Heartbeats (reports without task changes), acknowledged.
    pub heartbeats: AtomicU64,
    /// Reports that failed (and were retried).
    pub failed_reports: AtomicU64,
    /// Tasks RUNNING (or stopping) now.
    pub running: AtomicI64,
    /// Instances silenced by [`Fleet::lose`].
    pub lost: AtomicUsize,
}

/// One instance as the fleet sees it.
#[derive(Debug)]
struct Member {
    index: usize,
    arn: String,
    silenced: AtomicBool,
    wake: Notify,
    /// Service tasks it runs (how [`Fleet::lose`] picks).
    service_tasks: AtomicUsize,
}

/// An instance's registration.
#[derive(Debug, Clone)]
struct Registration {
    arn: String,
    token: String,
    secret: Option<String>,
    heartbeat: Duration,
}

/// What the instances' loops share.
struct Shared {
    config: SimulateConfig,
    client: ServerClient,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    reports: Semaphore,
}

impl Shared {
    /// Registers instance `index` (again, as the same instance, with `previous`), retrying what may pass; the join
    /// token refused or the server's certificate refused end it.
    async fn register(&self, index: usize, previous: Option<&Registration>) -> Result<Registration, AgentError> {
        let request = self.config.register_request(index, previous);
        let mut delay = Duration::from_millis(200);
        loop {
            match self.client.register(&self.config.join_token, &request).await {
                Ok(response) => return Ok(self.registration(response, previous)),
                Err(error @ (AgentError::Unauthorized(_) | AgentError::Tls(_))) => return Err(error),
                Err(error) => {
                    tracing::debug!(%error, index, "simulated registration failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn registration(&self, response: RegisterResponse, previous: Option<&Registration>) -> Registration {
        let server = Duration::from_secs(response.heartbeat_seconds.max(1));
        Registration {
            secret: response.instance_secret.or_else(|| previous.and_then(|p| p.secret.clone())),
            arn: response.container_instance_arn,
            token: response.instance_token,
            heartbeat: self.config.heartbeat.unwrap_or(server),
        }
    }

    /// Sends a report, within the bound on reports in flight.
    async fn report(
        &self,
        token: &str,
        request: &ReportRequest,
    ) -> Result<berth_model::agent::ReportResponse, AgentError> {
        let _permit = self.reports.acquire().await.map_err(|e| AgentError::Transport(e.to_string()))?;
        let result = self.client.report(token, request).await;
        let counter = match (&result, request.tasks.is_empty()) {
            (Err(_), _) => &self.counters.failed_reports,
            (Ok(_), true) => &self.counters.heartbeats,
            (Ok(_), false) => &self.counters.reports,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Registers instance `index` and reports once, which marks it connected.
    async fn join(&self, index: usize) -> Result<Registration, AgentError> {
        let registration = self.register(index, None).await?;
        let mut delay = Duration::from_millis(200);
        loop {
            match self.report(&registration.token, &ReportRequest::default()).await {
                Ok(_) => break,
                Err(error @ (AgentError::Unauthorized(_) | AgentError::Superseded(_))) => return Err(error),
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                }
            }
        }
        self.counters.registered.fetch_add(1, Ordering::Relaxed);
        Ok(registration)
    }
}

/// A running fleet of simulated instances; they stop (streams closed, heartbeats over) when it is dropped.
pub struct Fleet {
    members: Vec<Arc<Member>>,
    handles: Vec<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("instances", &self.members.len()).finish()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

impl Fleet {
    /// The container instance ARNs, in instance order.
    pub fn instance_arns(&self) -> Vec<String> {
        self.members.iter().map(|m| m.arn.clone()).collect()
    }

    /// What the fleet has done so far.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Silences `n` instances that still speak, those running the most service tasks first: they stop
    /// heartbeating, reporting and reading their stream, like hosts that lost power. Their ARNs.
    pub fn lose(&self, n: usize) -> Vec<String> {
        let mut alive: Vec<&Arc<Member>> = self.members.iter().filter(|m| !m.silenced.load(Ordering::SeqCst)).collect();
        alive.sort_by_key(|m| (std::cmp::Reverse(m.service_tasks.load(Ordering::Relaxed)), m.index));
        let lost: Vec<String> = alive
            .into_iter()
            .take(n)
            .map(|m| {
                m.silenced.store(true, Ordering::SeqCst);
                m.wake.notify_one();
                m.arn.clone()
            })
            .collect();
        self.counters.lost.fetch_add(lost.len(), Ordering::Relaxed);
        lost
    }
}

/// Registers `config.count` instances (each has reported once, so it shows connected), then runs them until the
/// returned fleet is dropped. Fails when the join token or the server's certificate is refused.
pub async fn start(config: SimulateConfig, clock: Arc<dyn Clock>) -> Result<Fleet, AgentError> {
    let first = config.server_url.split(',').next().unwrap_or_default();
    let tls = crate::tls::client_config(first, config.server_ca.as_deref())?;
    let client = ServerClient::new(&config.server_url, tls)?;
    let parallel = config.registrations_in_flight.max(1);
    let shared = Arc::new(Shared {
        client,
        clock,
        counters: Arc::new(Counters::default()),
        reports: Semaphore::new(REPORTS_IN_FLIGHT),
        config,
    });
    let mut joined: Vec<(usize, Registration)> = futures::stream::iter(0..shared.config.count)
        .map(|index| {
            let shared = shared.clone();
            async move { shared.join(index).await.map(|r| (index, r)) }
        })
        .buffer_unordered(parallel)
        .try_collect()
        .await?;
    joined.sort_by_key(|(index, _)| *index);
    let mut members = Vec::with_capacity(joined.len());
    let mut handles = Vec::with_capacity(joined.len());
    for (index, registration) in joined {
        let member = Arc::new(Member {
            index,
            arn: registration.arn.clone(),
            silenced: AtomicBool::new(false),
            wake: Notify::new(),
            service_tasks: AtomicUsize::new(0),
        });
        handles.push(tokio::spawn(instance::run(shared.clone(), member.clone(), registration)));
        members.push(member);
    }
    Ok(Fleet { members, handles, counters: shared.counters.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_instance_says_so_and_looks_like_a_4_vcpu_host() {
        let config = SimulateConfig::new("http://127.0.0.1:1", "t", "c", 5);
        let request = config.register_request(4, None);
        assert_eq!(request.attributes[SIMULATED_ATTRIBUTE], "true");
        assert_eq!(request.version.agent_version, SIMULATED_VERSION);
        assert_eq!(request.hostname, "sim-00004");
        assert_eq!(request.attributes["ecs.availability-zone"], "us-east-1b", "zones in turn");
        assert_eq!((request.resources.cpu, request.resources.memory_mib), (CPU_UNITS, MEMORY_MIB));
        assert!(request.attributes.contains_key("ecs.capability.container-health-check"));
        assert!(!request.self_update);
        let previous = Registration {
            arn: "arn:x".into(),
            token: "t".into(),
            secret: Some("s".into()),
            heartbeat: Duration::from_secs(3),
        };
        let again = config.register_request(4, Some(&previous));
        assert_eq!(
            (again.container_instance_arn.as_deref(), again.instance_secret.as_deref()),
            (Some("arn:x"), Some("s"))
        );
    }

    #[test]
    fn losing_takes_the_instances_with_the_most_service_tasks_first_and_each_once() {
        let members: Vec<Arc<Member>> = [0, 3, 1, 3]
            .into_iter()
            .enumerate()
            .map(|(index, tasks)| {
                Arc::new(Member {
                    index,
                    arn: format!("i{index}"),
                    silenced: AtomicBool::new(false),
                    wake: Notify::new(),
                    service_tasks: AtomicUsize::new(tasks),
                })
            })
            .collect();
        let fleet = Fleet { members, handles: Vec::new(), counters: Arc::new(Counters::default()) };
        assert_eq!(fleet.lose(2), ["i1", "i3"]);
        assert_eq!(fleet.lose(5), ["i2", "i0"]);
        assert!(fleet.lose(1).is_empty());
        assert_eq!(fleet.counters().lost.load(Ordering::Relaxed), 4);
        assert_eq!(fleet.instance_arns(), ["i0", "i1", "i2", "i3"]);
    }
}
