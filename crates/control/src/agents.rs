//! The control plane's side of the agent protocol (`berth_model::agent`): registration, desired state, reports,
//! and the liveness bookkeeping behind `agentConnected`.

use crate::cache::State;
use crate::optimistic::Attempt;
use crate::records::{Binding, InstanceRecord, StoredTag, TaskRecord, keys};
use crate::status::{ContainerStatus, DesiredStatus, HealthState, InstanceStatus, TaskStatus};
use crate::tasks::stop::{InstanceUpdates, add_instance_updates, release_if_stopped};
use crate::tasks::{advance_status, stop_record, task_health};
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::Timestamp;
use berth_model::agent::{
    Capacity, DesiredState, RegisterRequest, RegisterResponse, ReportRequest, ReportResponse, TaskReport, TaskSpec,
};
use berth_model::clock::Clock;
use berth_model::ecs::{Attribute, VersionInfo};
use berth_store::Txn;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// When each agent was last heard from, on the control plane's clock (in memory: liveness is not worth a store
/// write per heartbeat).
pub struct AgentHub {
    last_seen: Mutex<HashMap<String, Timestamp>>,
    started: Timestamp,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AgentHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHub").field("agents", &self.lock().len()).field("started", &self.started).finish()
    }
}

impl AgentHub {
    /// A hub that has heard from no agent yet; its grace period starts now on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { last_seen: Mutex::new(HashMap::new()), started: clock.now(), clock }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Timestamp>> {
        self.last_seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the agent of `instance_id` spoke now.
    pub fn touch(&self, instance_id: &str) {
        let now = self.clock.now();
        self.lock().insert(instance_id.to_string(), now);
    }

    /// Folds in that another server heard the agent of `instance_id` at `at` (the later time wins; an agent not
    /// heard since this server started keeps its grace until then).
    pub fn merge(&self, instance_id: &str, at: Timestamp) {
        let mut seen = self.lock();
        let known = seen.get(instance_id).copied().unwrap_or(self.started);
        if at > known {
            seen.insert(instance_id.to_string(), at);
        }
    }

    /// The agents heard at or after `since`, with when (what this server shares with the others).
    pub fn heard_since(&self, since: Timestamp) -> BTreeMap<String, Timestamp> {
        self.lock().iter().filter(|(_, at)| **at >= since).map(|(id, at)| (id.clone(), *at)).collect()
    }

    /// When the agent of `instance_id` last spoke; the server's start for an agent not heard from since (agents
    /// get their timeout of grace after a restart, so a restarted control plane does not flag every agent before
    /// they reconnect).
    pub fn last_seen(&self, instance_id: &str) -> Timestamp {
        self.lock().get(instance_id).copied().unwrap_or(self.started)
    }

    /// Whether the agent spoke within `timeout`.
    pub fn is_connected(&self, instance_id: &str, timeout: Duration) -> bool {
        self.clock.now() - self.last_seen(instance_id) <= timeout.as_secs_f64()
    }

    /// The moment the agent of `instance_id` counts as silent for `timeout` (unless it speaks before).
    pub fn silent_at(&self, instance_id: &str, timeout: Duration) -> Timestamp {
        self.last_seen(instance_id) + timeout.as_secs_f64()
    }
}

fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn unauthorized() -> ControlError {
    ControlError::ecs(EcsException::AccessDeniedException, "The instance token is not valid; register the agent again.")
}

/// The assignment epoch of an instance (`InstanceRecord::assignment_epoch`; 0 for one not in the cache).
fn assignment_epoch(state: &State, cluster: &str, instance_id: &str) -> u64 {
    state.instances.get(&(cluster.to_string(), instance_id.to_string())).map(|v| v.record.assignment_epoch).unwrap_or(0)
}

/// How long a report waits for this server's cache to catch up with tasks it does not know yet but the store has.
const CATCH_UP: Duration = Duration::from_secs(2);

/// The message of the error an agent gets when another agent registered as the same container instance since.
pub const SUPERSEDED: &str = "Another agent has registered as this container instance since; this agent must stop.";

/// The desired state of one task, for its agent.
fn task_spec(record: &TaskRecord) -> TaskSpec {
    let td_arn = record.task_definition_arn.clone();
    let (family, revision) = td_arn
        .rsplit('/')
        .next()
        .and_then(|fr| fr.rsplit_once(':'))
        .map(|(f, r)| (f.to_string(), r.parse().unwrap_or(0)))
        .unwrap_or_default();
    TaskSpec {
        task_arn: record.arn.clone(),
        cluster_arn: record.cluster_arn.clone(),
        task_definition_arn: td_arn,
        family,
        revision,
        desired_status: record.desired_status.as_str().to_string(),
        network_mode: record.network_mode,
        cpu: i32::try_from(record.reservation.cpu).ok(),
        memory: i32::try_from(record.reservation.memory).ok(),
        containers: record.containers.clone(),
        stopped_reason: record.stopped_reason.clone(),
        stop_code: record.stop_code.map(|c| c.as_str().to_string()),
        started_by: record.started_by.clone(),
        group: record.group.clone(),
        volumes: record.volumes.clone(),
        network: record.network.clone(),
        task_role_arn: None,
        tags: tag_map(&record.tags),
        instance_tags: BTreeMap::new(),
        launch_type: record.launch_type.map(|l| l.as_str().to_string()),
        ephemeral_storage_gib: record.ephemeral_storage_gib,
    }
}

/// Tags as a map (a tag without a value has the empty one).
fn tag_map(tags: &[StoredTag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key.clone(), t.value.clone().unwrap_or_default())).collect()
}

/// How a registration is allowed to proceed, decided from the instance record it names (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// A new instance (no ARN, or one that names no live instance): needs the join token; issues a secret.
    New,
    /// The same instance again, proven by its secret: keeps the secret.
    Rejoin,
    /// A legacy instance (no secret on record) rejoined by join token while disconnected: issues a secret.
    Upgrade,
}

fn join_token_refused() -> ControlError {
    ControlError::ecs(EcsException::AccessDeniedException, "The join token is not valid.")
}

/// The error a registration gets when it names an existing instance without proving it is that instance.
pub const NOT_THIS_INSTANCE: &str = "Registering as an existing container instance requires its instance secret; the join token only creates new instances.";

/// Decides whether a registration may proceed. `previous` is the live instance record the request names.
///
/// Upgrade path (instances registered before instance secrets existed, or created with RegisterContainerInstance):
/// such a record has no secret. Its agent (which kept only the ARN) may rejoin with the join token exactly once, and
/// only while the instance is disconnected (the agent silent for the agent timeout, or never connected), so a join
/// token holder cannot take over a legacy instance whose agent is alive; the rejoin issues a secret, and from then on
/// the secret rule applies. A legacy agent that keeps running is never disturbed: its instance token stays valid.
fn admit(
    previous: Option<&InstanceRecord>,
    req: &RegisterRequest,
    join_token_valid: bool,
    connected: impl Fn(&InstanceRecord) -> bool,
) -> Result<Admission> {
    let Some(previous) = previous else {
        return if join_token_valid { Ok(Admission::New) } else { Err(join_token_refused()) };
    };
    if !previous.secret_sha256.is_empty() {
        // Digests are compared, which leaks nothing useful about the secret through timing.
        return match &req.instance_secret {
            Some(secret) if token_hash(secret) == previous.secret_sha256 => Ok(Admission::Rejoin),
            _ => Err(ControlError::ecs(EcsException::AccessDeniedException, NOT_THIS_INSTANCE)),
        };
    }
    if !join_token_valid {
        return Err(join_token_refused());
    }
    if connected(previous) {
        return Err(ControlError::ecs(
            EcsException::AccessDeniedException,
            "This container instance has no instance secret yet and its agent is connected; it can be rejoined with \
             the join token only while its agent is disconnected.",
        ));
    }
    Ok(Admission::Upgrade)
}

impl Control {
    /// Registers an agent whose join token the caller has checked (see [`Control::register_agent_checked`]).
    pub async fn register_agent(&self, req: RegisterRequest) -> Result<RegisterResponse> {
        self.register_agent_checked(req, true).await
    }

    /// Registers an agent: a new container instance (join token), or the same one again when the agent presents
    /// the ARN it had and that instance's secret. `join_token_valid` says whether the caller presented the join
    /// token. A request naming a live instance without its secret is refused with `AccessDeniedException`, and
    /// the instance, its agent and its tasks are left as they are.
    pub async fn register_agent_checked(
        &self,
        req: RegisterRequest,
        join_token_valid: bool,
    ) -> Result<RegisterResponse> {
        berth_model::agent::check_protocol(req.protocol, berth_model::agent::OLDEST_PROTOCOL)
            .map_err(ControlError::invalid)?;
        let fargate = req.capacity.contains(&Capacity::Fargate);
        let ec2 = req.capacity.is_empty() || req.capacity.contains(&Capacity::Ec2);
        // An agent serving only Fargate joins no cluster: its instance is in the hidden pool.
        let cluster =
            if ec2 { self.cluster_name(Some(&req.cluster))? } else { crate::tasks::fargate::POOL.to_string() };
        if let Some(group) = req.node_group.as_deref()
            && (group.is_empty()
                || group.len() > 255
                || !group.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            return Err(ControlError::invalid(
                "A node group name has 1 to 255 letters, numbers, hyphens, underscores and periods.",
            ));
        }
        let host_address = crate::host_routes::parse_host_address(req.host_address.as_deref())?;
        if req.resources.cpu <= 0 || req.resources.memory_mib <= 0 {
            return Err(ControlError::invalid("An agent must offer positive CPU and memory."));
        }
        if req.resources.ephemeral_storage_gib.is_some_and(|gib| gib < 0) {
            return Err(ControlError::invalid("An agent cannot offer negative ephemeral storage."));
        }
        // Only FARGATE tasks reserve ephemeral storage (ECS does not account EC2 tasks' disk): an instance that
        // serves no Fargate capacity keeps no storage account.
        let mut offered = req.resources.clone();
        if !fargate {
            offered.ephemeral_storage_gib = None;
        }
        if let Some((c, id)) = req
            .container_instance_arn
            .as_deref()
            .and_then(|arn| crate::instances::parse_instance_ref(&cluster, arn).ok())
            && self.cache.read().is_quarantined(&keys::instance(&c, &id))
        {
            // Registering it as a new instance would leave its tasks' containers out of every desired state (and
            // so stopped): the agent must retry until an operator repairs the record.
            return Err(ControlError::ecs(
                EcsException::ServerException,
                format!(
                    "The record of container instance {id} is unreadable (quarantined); an operator must repair it."
                ),
            ));
        }
        let session = berth_model::ids::new_token(40);
        let new_secret = berth_model::ids::new_token(40);
        let (arn, id, issued) = self
            .write("registering an agent", |state, now| {
                let previous = req
                    .container_instance_arn
                    .as_deref()
                    .and_then(|arn| crate::instances::parse_instance_ref(&cluster, arn).ok())
                    .and_then(|key| state.instances.get(&key).cloned())
                    .filter(|v| v.record.status() != Some(InstanceStatus::Inactive));
                let admission = admit(previous.as_ref().map(|p| &*p.record), &req, join_token_valid, |r| {
                    r.agent_connected && self.agents.is_connected(&r.id, self.config.agent_timeout)
                })?;
                let id = previous.as_ref().map(|p| p.record.id.clone()).unwrap_or_else(berth_model::ids::new_hex_id);
                let attributes = req
                    .attributes
                    .iter()
                    .map(|(name, value)| Attribute {
                        name: name.clone(),
                        value: Some(value.clone()).filter(|v| !v.is_empty()),
                        ..Default::default()
                    })
                    .collect();
                let version = VersionInfo {
                    agent_version: Some(req.version.agent_version.clone()),
                    agent_hash: Some(req.version.agent_hash.clone()),
                    docker_version: Some(req.version.docker_version.clone()),
                };
                let tags = previous.as_ref().map(|p| StoredTag::to_wire(&p.record.tags)).unwrap_or_default();
                let mut record = self.build_instance_record(
                    state,
                    &cluster,
                    &id,
                    previous.as_ref().map(|p| &*p.record),
                    offered.clone(),
                    &req.hostname,
                    attributes,
                    version,
                    token_hash(&session),
                    tags,
                );
                record.self_update = req.self_update;
                record.fargate = fargate;
                record.node_group = req.node_group.clone();
                record.host_address = host_address;
                if previous.is_none() {
                    record.daemon_gate_until = crate::daemons::gate::gate_for_new_instance(state, &record, now);
                }
                crate::agent_update::settle_on_register(&mut record, &req.version.agent_version);
                let issued = match admission {
                    Admission::Rejoin => None,
                    Admission::New | Admission::Upgrade => {
                        record.secret_sha256 = token_hash(&new_secret);
                        Some(new_secret.clone())
                    }
                };
                if admission == Admission::Upgrade {
                    tracing::warn!(instance = %id, "a container instance without an instance secret rejoined by join token; it has one now");
                }
                let key = keys::instance(&cluster, &id);
                let txn = Txn::new()
                    .expect(key.clone(), previous.as_ref().map(|p| p.mod_revision).unwrap_or(0))
                    .put(key, encode(&record)?);
                let arn = record.arn.clone();
                Ok(Attempt::Commit(txn, (arn, id, issued)))
            })
            .await?;
        self.agents.touch(&id);
        Ok(RegisterResponse {
            container_instance_arn: arn,
            cluster_arn: self.arn(&format!("cluster/{cluster}")),
            instance_token: format!("{cluster}/{id}/{session}"),
            heartbeat_seconds: self.config.agent_heartbeat.as_secs().max(1),
            registry_auth: None,
            instance_secret: issued,
            protocol: Some(berth_model::agent::PROTOCOL),
            lost_instance_seconds: Some(self.config.lost_instance_timeout.as_secs()),
        })
    }

    /// Checks an instance token; returns the instance's (cluster, id).
    pub fn authenticate_agent(&self, token: &str) -> Result<(String, String)> {
        let mut parts = token.splitn(3, '/');
        let (Some(cluster), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(unauthorized());
        };
        let state = self.cache.read();
        if state.is_quarantined(&keys::instance(cluster, id)) {
            // Not "unknown": the agent must keep its containers and retry, not register as a new instance.
            return Err(ControlError::ecs(
                EcsException::ServerException,
                format!(
                    "The record of container instance {id} is unreadable (quarantined); an operator must repair it."
                ),
            ));
        }
        let record = state.instances.get(&(cluster.to_string(), id.to_string())).ok_or_else(unauthorized)?;
        let expected = &record.record.token_sha256;
        if expected.is_empty() || record.record.status() == Some(InstanceStatus::Inactive) {
            return Err(unauthorized());
        }
        // Compare digests, which leaks nothing useful about the secret through timing.
        if token_hash(secret) != *expected {
            // The instance is live under a newer token: a second agent took it over (or this one is a stale copy).
            return Err(ControlError::ecs(EcsException::ConflictException, SUPERSEDED));
        }
        Ok((cluster.to_string(), id.to_string()))
    }

    /// The desired state of an instance: every task placed on it that is not STOPPED yet.
    pub fn desired_state(&self, cluster: &str, instance_id: &str) -> DesiredState {
        let load_balancer_groups =
            self.service_targets().map(|t| t.load_balancer_security_groups()).unwrap_or_default();
        let state = self.cache.read();
        let instance_tags = state
            .instances
            .get(&(cluster.to_string(), instance_id.to_string()))
            .map(|i| tag_map(&i.record.tags))
            .unwrap_or_default();
        // Where the load balancer (this process) connects to tasks on other hosts from.
        let server_hosts =
            if load_balancer_groups.is_empty() { Vec::new() } else { crate::host_routes::local_host_addresses(&state) };
        let tasks = state
            .tasks_on_instance(instance_id)
            .filter(|t| t.record.last_status() != Some(TaskStatus::Stopped))
            .map(|t| {
                let mut spec = task_spec(&t.record);
                spec.task_role_arn = crate::task_role::effective_task_role(&state, &t.record);
                spec.instance_tags = instance_tags.clone();
                if crate::services::targets::held_for_draining(&t.record) {
                    // Deregistered from its load balancers and registries, it keeps serving until draining ends.
                    spec.desired_status = DesiredStatus::Running.as_str().to_string();
                }
                if let Some(network) = spec.network.as_mut() {
                    let mut sources = vec![network.gateway.clone()];
                    sources.extend(server_hosts.iter().cloned());
                    let members =
                        |group: &str| crate::network::ingress_members(&state, group, &load_balancer_groups, &sources);
                    network.ingress =
                        crate::network::resolve_ingress(self.security_groups(), &network.security_groups, &members);
                    let destinations = |group: &str| crate::network::group_members(&state, group);
                    network.egress =
                        crate::network::resolve_egress(self.security_groups(), &network.security_groups, &destinations);
                }
                spec
            })
            .collect();
        // A task whose record is quarantined may be on this instance: its containers must keep running. An instance
        // serving Fargate may run tasks of any cluster.
        let fargate =
            state.instances.get(&(cluster.to_string(), instance_id.to_string())).is_some_and(|v| v.record.fargate);
        let keep = if fargate {
            state
                .quarantined_under(keys::TASKS)
                .filter_map(|q| q.key.strip_prefix(keys::TASKS))
                .map(|path| self.arn(&format!("task/{path}")))
                .collect()
        } else {
            state.quarantined_task_ids(cluster).map(|id| self.arn(&format!("task/{cluster}/{id}"))).collect()
        };
        let host_network = Some(crate::host_routes::host_network(&state, &self.config.vpc, cluster, instance_id));
        let assignment_epoch = Some(assignment_epoch(&state, cluster, instance_id));
        DesiredState {
            revision: state.revision,
            tasks,
            keep,
            host_network,
            dns_server: self.dns_server(),
            assignment_epoch,
        }
    }

    /// Notes that an agent is alive, and flips `agentConnected` back on if it was off.
    pub async fn touch_agent(&self, cluster: &str, instance_id: &str) -> Result<()> {
        self.agents.touch(instance_id);
        self.set_agent_connected(cluster, instance_id, true).await
    }

    pub(crate) async fn set_agent_connected(&self, cluster: &str, instance_id: &str, connected: bool) -> Result<()> {
        let changed = self
            .write("recording agent connectivity", |state, _| {
                let Some(v) = state.instances.get(&(cluster.to_string(), instance_id.to_string())) else {
                    return Ok(Attempt::Done(false));
                };
                if v.record.agent_connected == connected || v.record.status() == Some(InstanceStatus::Inactive) {
                    return Ok(Attempt::Done(false));
                }
                let mut record = (*v.record).clone();
                record.agent_connected = connected;
                record.version += 1;
                let key = keys::instance(cluster, instance_id);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?), true))
            })
            .await?;
        if changed {
            tracing::info!(instance = instance_id, connected, "agent connectivity changed");
        }
        Ok(())
    }

    /// Applies an agent's report: container and task states, timestamps, health, stop decisions, releases.
    pub async fn agent_report(&self, cluster: &str, instance_id: &str, req: ReportRequest) -> Result<ReportResponse> {
        self.touch_agent(cluster, instance_id).await?;
        // Usage counts only for this instance's own tasks (an agent speaks for nothing else).
        let usage: Vec<_> = {
            let state = self.cache.read();
            req.usage
                .into_iter()
                .filter(|u| {
                    // A Fargate task may be of another cluster than its instance: its key is its ARN's.
                    let Ok(key) = crate::tasks::stop::parse_task_ref(cluster, &u.task_arn) else { return false };
                    state
                        .tasks
                        .get(&key)
                        .is_some_and(|t| t.record.instance_id == instance_id && t.record.arn == u.task_arn)
                })
                .collect()
        };
        self.usage.record(usage);
        if req.tasks.is_empty() {
            let assignment_epoch = Some(assignment_epoch(&self.cache.read(), cluster, instance_id));
            return Ok(ReportResponse { assignment_epoch, ..Default::default() });
        }
        let apply = || {
            self.write("applying an agent report", |state, now| {
                let (txn, unknown) = self.report_txn(state, cluster, instance_id, &req.tasks, now)?;
                Ok(match txn {
                    Some(txn) => Attempt::Commit(txn, (unknown, true)),
                    None => Attempt::Done((unknown, false)),
                })
            })
        };
        let (mut unknown, mut applied) = apply().await?;
        // "Unknown" makes the agent stop the task: never say it because this server's cache is behind the store (a
        // task another server just placed, a server that just started). Once the cache has what the store has for
        // those tasks, the report is applied again.
        if !unknown.is_empty() && self.catch_up_with_tasks(cluster, &unknown).await {
            let (again, applied_again) = apply().await?;
            unknown = again;
            applied |= applied_again;
        }
        if applied {
            for report in &req.tasks {
                tracing::debug!(target: "berth_timing", task = %report.task_arn, step = %"report_applied", status = %report.last_status);
            }
        }
        // Read after the report was applied (and so after any loss that stopped its tasks was recorded).
        let assignment_epoch = Some(assignment_epoch(&self.cache.read(), cluster, instance_id));
        Ok(ReportResponse { unknown_task_arns: unknown, server_time: Some(self.now()), assignment_epoch })
    }

    /// Waits (at most [`CATCH_UP`]) until the cache holds the store's records of those of `arns` the store has;
    /// whether any of them exists in the store.
    async fn catch_up_with_tasks(&self, cluster: &str, arns: &[String]) -> bool {
        let mut newest = None;
        for arn in arns {
            let Ok((c, id)) = crate::tasks::stop::parse_task_ref(cluster, arn) else { continue };
            if let Ok(Some(kv)) = self.store.get(&keys::task(&c, &id)).await {
                newest = Some(newest.map_or(kv.mod_revision, |n: i64| n.max(kv.mod_revision)));
            }
        }
        let Some(revision) = newest else { return false };
        if tokio::time::timeout(CATCH_UP, self.cache.wait_for(revision)).await.is_err() {
            tracing::warn!(revision, "the cache did not reach the store's revision of reported tasks in time");
        }
        true
    }

    fn report_txn(
        &self,
        state: &State,
        cluster: &str,
        instance_id: &str,
        reports: &[TaskReport],
        now: f64,
    ) -> Result<(Option<Txn>, Vec<String>)> {
        let mut txn = Txn::new();
        let mut changed = false;
        let mut unknown = Vec::new();
        let mut updates = InstanceUpdates::new();
        for report in reports {
            // The task's own cluster, from its ARN (a Fargate task's instance may be in another one).
            let Ok(key) = crate::tasks::stop::parse_task_ref(cluster, &report.task_arn) else {
                unknown.push(report.task_arn.clone());
                continue;
            };
            let Some(v) = state.tasks.get(&key) else {
                if !state.is_quarantined(&keys::task(&key.0, &key.1)) {
                    unknown.push(report.task_arn.clone());
                }
                continue;
            };
            if v.record.instance_id != instance_id {
                // An agent reports only for its own instance: a report naming another instance's task changes
                // nothing, and is answered as unknown (the caller stops whatever copy it runs).
                tracing::warn!(instance = instance_id, task = %report.task_arn, "an agent reported a task of another instance; ignored");
                unknown.push(report.task_arn.clone());
                continue;
            }
            if v.record.last_status() == Some(TaskStatus::Stopped) {
                // Already final; the agent only needs to stop what it still runs.
                if report.last_status != "STOPPED" {
                    unknown.push(report.task_arn.clone());
                }
                continue;
            }
            let mut record = (*v.record).clone();
            if !apply_report(&mut record, report, now) {
                continue;
            }
            release_if_stopped(state, &mut record, &mut updates);
            let task_key = keys::task(&key.0, &key.1);
            txn = txn.expect(task_key.clone(), v.mod_revision).put(task_key, encode(&record)?);
            changed = true;
        }
        if !changed {
            return Ok((None, unknown));
        }
        Ok((Some(add_instance_updates(txn, updates)?), unknown))
    }
}

/// Folds one task report into a task record. Returns whether anything changed.
fn apply_report(record: &mut TaskRecord, report: &TaskReport, now: f64) -> bool {
    let before = record.clone();
    for c in &report.containers {
        let Some(index) = record.containers.iter().position(|x| x.definition.name.as_deref() == Some(&c.name)) else {
            continue;
        };
        let Some(container) = record.container_states.get_mut(index) else {
            continue;
        };
        if c.runtime_id.is_some() {
            container.runtime_id = c.runtime_id.clone();
        }
        if c.image_digest.is_some() {
            container.image_digest = c.image_digest.clone();
        }
        // A container's status only moves forward: PENDING, RUNNING, STOPPED (a text this build does not know
        // counts as PENDING).
        let reported = ContainerStatus::parse(&c.last_status).unwrap_or(ContainerStatus::Pending);
        if reported >= container.last_status {
            container.last_status = reported;
        }
        if c.exit_code.is_some() {
            container.exit_code = c.exit_code;
        }
        if c.reason.is_some() {
            container.reason = c.reason.clone();
        }
        if !c.network_bindings.is_empty() || reported == ContainerStatus::Stopped {
            container.network_bindings = c.network_bindings.iter().map(Binding::from_wire).collect();
        }
        container.health_status = HealthState::parse(&c.health_status).unwrap_or(HealthState::Unknown);
    }
    if let Some(t) = report.pull_started_at {
        record.pull_started_at.get_or_insert(t);
    }
    if let Some(t) = report.pull_stopped_at {
        record.pull_stopped_at = Some(t);
    }
    if let (Some(code), Some(reason)) = (&report.stop_code, &report.stopped_reason) {
        stop_record(record, now, reason, code, false);
    }
    let current = record.last_status;
    if let Some(reported) = TaskStatus::parse(&report.last_status).filter(|s| *s > current) {
        advance_status(record, reported, now);
        if let Some(t) = report.started_at
            && reported == TaskStatus::Running
        {
            record.started_at = Some(t);
        }
        if let Some(t) = report.execution_stopped_at {
            record.execution_stopped_at = Some(t);
        }
    }
    record.health_status = task_health(record);
    if *record != before {
        if record.version == before.version {
            record.version += 1;
        }
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(secret: Option<&str>) -> InstanceRecord {
        InstanceRecord {
            cluster: "default".into(),
            id: "i-1".into(),
            secret_sha256: secret.map(token_hash).unwrap_or_default(),
            ..Default::default()
        }
    }

    fn request(secret: Option<&str>) -> RegisterRequest {
        RegisterRequest { instance_secret: secret.map(str::to_string), ..Default::default() }
    }

    fn denied(result: Result<Admission>) -> bool {
        matches!(result, Err(e) if e.exception() == EcsException::AccessDeniedException)
    }

    #[test]
    fn the_join_token_creates_new_instances_only() {
        let never = |_: &InstanceRecord| false;
        assert_eq!(admit(None, &request(None), true, never).unwrap(), Admission::New);
        assert!(denied(admit(None, &request(Some("s")), false, never)));
        let existing = record(Some("s"));
        assert!(denied(admit(Some(&existing), &request(None), true, never)), "join token alone takes nothing over");
        assert!(denied(admit(Some(&existing), &request(Some("wrong")), true, never)));
    }

    #[test]
    fn the_instance_secret_rejoins_without_the_join_token() {
        let existing = record(Some("s"));
        let always = |_: &InstanceRecord| true;
        assert_eq!(admit(Some(&existing), &request(Some("s")), false, always).unwrap(), Admission::Rejoin);
        assert_eq!(admit(Some(&existing), &request(Some("s")), true, always).unwrap(), Admission::Rejoin);
    }

    #[tokio::test]
    async fn an_agent_older_than_the_server_serves_is_refused_and_one_that_announces_no_version_is_not() {
        let store: berth_store::SharedStore = std::sync::Arc::new(berth_store::MemoryStore::new());
        let clock = std::sync::Arc::new(berth_model::clock::ManualClock::new(1_000_000.0));
        let control = Control::start(store, clock, crate::ControlConfig::default()).await.unwrap();
        let resources = berth_model::agent::AgentResources { cpu: 1024, memory_mib: 1024, ..Default::default() };
        let request = RegisterRequest { cluster: "default".into(), resources, ..Default::default() };
        let too_old = RegisterRequest { protocol: Some(0), ..request.clone() };
        let error = control.register_agent(too_old).await.unwrap_err();
        assert_eq!(error.exception(), EcsException::InvalidParameterException);
        assert!(error.to_string().contains("Upgrade the agent"), "{error}");
        // Agents from before the version was announced speak version 1, which this server serves.
        let joined = control.register_agent(request).await.unwrap();
        assert_eq!(joined.protocol, Some(berth_model::agent::PROTOCOL));
    }

    #[test]
    fn a_legacy_instance_upgrades_by_join_token_only_while_disconnected() {
        let legacy = record(None);
        assert!(denied(admit(Some(&legacy), &request(None), true, |_| true)), "its live agent is not disturbed");
        assert!(denied(admit(Some(&legacy), &request(None), false, |_| false)), "the join token is still needed");
        assert_eq!(admit(Some(&legacy), &request(None), true, |_| false).unwrap(), Admission::Upgrade);
    }
}
