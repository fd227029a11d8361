//! The task engine: one loop that owns the agent's view of its tasks and makes Docker match the server's desired
//! state.
//!
//! Inputs arrive as [`Msg`]s: the desired state from the server's stream, Docker events, the results of the start
//! and stop workers it spawns, and a periodic resync. Every change of a task's observed state goes to the
//! [`Outbox`], which the reporter sends to the server. The loop never blocks on Docker: slow calls run in workers.

pub mod cleanup;
mod outbox;
pub mod secret_files;
mod state;
pub mod task_secrets;
pub mod worker;

pub use outbox::Outbox;
pub use state::{ContainerTrack, Phase, TaskState};

use crate::convert::{LABEL_CONTAINER_NAME, LABEL_INSTANCE_ARN, LABEL_TASK_ARN};
use crate::runtime::{ContainerRuntime, ContainerState, EventKind, RuntimeEvent};
use crate::session::Session;
use berth_model::agent::DesiredState;
use berth_model::clock::Clock;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use worker::{PullBehavior, StartJob, StartOutcome, stop_containers, track_from_state};

/// The reason given when an essential container exits (ECS's wording).
pub const ESSENTIAL_EXITED: &str = "Essential container in task exited";

/// Messages to the engine loop.
#[derive(Debug)]
pub enum Msg {
    /// A new desired state from the server.
    Desired(DesiredState),
    /// A Docker event.
    Event(RuntimeEvent),
    /// Re-inspect every container (on a timer, or after the event stream broke).
    Resync,
    /// What a resync found: (task, container name, container id, state or `None` when it is gone).
    Observed(Vec<(String, String, String, Option<ContainerState>)>),
    /// A start worker has the images ready.
    Activating {
        /// The task.
        task_arn: String,
        /// When pulls began.
        pull_started_at: Option<f64>,
        /// When pulls ended.
        pull_stopped_at: Option<f64>,
    },
    /// A start worker finished.
    Started {
        /// The task.
        task_arn: String,
        /// What it did.
        outcome: StartOutcome,
    },
    /// A stop worker finished.
    Stopped {
        /// The task.
        task_arn: String,
        /// The containers' final states by name.
        states: BTreeMap<String, Option<ContainerState>>,
    },
    /// An in-place restart (restart policy) finished.
    Restarted {
        /// The task.
        task_arn: String,
        /// The container's name.
        name: String,
        /// Its state after the restart, or why it failed (boxed: the largest message by far).
        result: Box<Result<Option<ContainerState>, String>>,
    },
    /// The server does not know these tasks (or knows them as STOPPED): stop and forget them.
    Unknown(Vec<String>),
}

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// When to pull images.
    pub pull: PullBehavior,
    /// The stop timeout of containers without `stopTimeout` (ECS's default is 30 s).
    pub default_stop_timeout: Duration,
    /// How long stopped containers are kept (for logs and inspection) before removal.
    pub cleanup_wait: Duration,
    /// How long the containers of a failed task are kept ([`cleanup`]).
    pub failed_cleanup_wait: Duration,
    /// How many failed tasks of one task group keep their containers at most ([`cleanup`]).
    pub failed_tasks_kept: usize,
    /// What tasks may reach on the host (privileged, host paths, ...); nothing by default.
    pub host_access: berth_model::host_access::HostAccess,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            pull: PullBehavior::Default,
            default_stop_timeout: Duration::from_secs(30),
            cleanup_wait: Duration::from_secs(3600),
            failed_cleanup_wait: Duration::from_secs(300),
            failed_tasks_kept: 5,
            host_access: berth_model::host_access::HostAccess::default(),
        }
    }
}

/// The task engine.
pub struct Engine<R: ContainerRuntime> {
    runtime: Arc<R>,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    session: Arc<Session>,
    tasks: BTreeMap<String, TaskState>,
    tx: mpsc::UnboundedSender<Msg>,
    outbox: Arc<Outbox>,
    pulls: Arc<worker::Pulls>,
    metadata: Option<crate::metadata::Endpoint>,
    logs: Option<Arc<crate::logs::Shippers<R>>>,
    secrets: Option<worker::SecretsSource>,
    secret_files: Option<Arc<secret_files::SecretFiles>>,
    credentials: Option<Arc<crate::credentials::TaskCredentials>>,
    failed_kept: cleanup::FailedKept,
    task_cgroups: Option<crate::task_cgroup::Layout>,
    storage_quota: bool,
    image_trust: Option<Arc<crate::image_trust::ImageTrust>>,
    dns: Option<std::net::Ipv4Addr>,
    lease: Option<Arc<crate::lease::AssignmentLease>>,
}

impl<R: ContainerRuntime> Engine<R> {
    /// An engine; `tx` must feed the receiver later passed to [`Engine::run`].
    pub fn new(
        runtime: Arc<R>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
        session: Arc<Session>,
        tx: mpsc::UnboundedSender<Msg>,
        outbox: Arc<Outbox>,
    ) -> Self {
        Self {
            runtime,
            config,
            clock,
            session,
            tasks: BTreeMap::new(),
            tx,
            outbox,
            pulls: Arc::default(),
            metadata: None,
            logs: None,
            secrets: None,
            secret_files: None,
            credentials: None,
            failed_kept: cleanup::FailedKept::default(),
            task_cgroups: None,
            storage_quota: false,
            image_trust: None,
            dns: None,
            lease: None,
        }
    }

    /// Gives the containers of tasks started from now on `address` (the agent's DNS forwarder, [`crate::dns`]) as
    /// their resolver, unless their definitions name `dnsServers` (bridge tasks, and awsvpc tasks' pause
    /// containers; host tasks keep the host's resolvers).
    pub fn set_dns(&mut self, address: std::net::Ipv4Addr) {
        self.dns = Some(address);
    }

    /// Caps the writable layer of every container of the FARGATE tasks started from now on at the task's
    /// ephemeral storage (Docker's `StorageOpt size`), where the storage driver enforces it ([`crate::storage`]).
    pub fn set_storage_quota(&mut self, enforce: bool) {
        self.storage_quota = enforce;
    }

    /// Requires the images of tasks started from now on to carry a signature `trust` verifies.
    pub fn set_image_trust(&mut self, trust: Arc<crate::image_trust::ImageTrust>) {
        self.image_trust = Some(trust);
    }

    /// Gives FARGATE tasks started from now on a task-level cgroup in `layout` ([`crate::task_cgroup`]).
    pub fn set_task_cgroups(&mut self, layout: crate::task_cgroup::Layout) {
        self.task_cgroups = Some(layout);
    }

    /// Serves the tasks' metadata through `endpoint`, and gives containers started from now on its URI.
    pub fn set_metadata(&mut self, endpoint: crate::metadata::Endpoint) {
        self.metadata = Some(endpoint);
    }

    /// Ships the output of `awslogs` containers started from now on through `shippers`.
    pub fn set_log_shipping(&mut self, shippers: Arc<crate::logs::Shippers<R>>) {
        self.logs = Some(shippers);
    }

    /// Reads the values of container `secrets` through `source` when a task starts (without one, a task with
    /// secrets fails to start).
    pub fn set_secrets_source(&mut self, source: worker::SecretsSource) {
        self.secrets = Some(source);
    }

    /// Serves the task role credentials of tasks started from now on through `credentials`.
    pub fn set_credentials(&mut self, credentials: Arc<crate::credentials::TaskCredentials>) {
        self.credentials = Some(credentials);
    }

    /// Drops a task from the engine (and from the metadata and credentials endpoints).
    fn forget(&mut self, arn: &str) {
        self.tasks.remove(arn);
        if let Some(m) = &self.metadata {
            m.directory.remove(arn);
        }
        if let Some(c) = self.credentials.clone() {
            let arn = arn.to_string();
            tokio::spawn(async move { c.forget(&arn).await });
        }
        if let Some(files) = &self.secret_files {
            files.forget(arn);
        }
    }

    /// The tasks the engine tracks (for tests and status).
    pub fn tasks(&self) -> &BTreeMap<String, TaskState> {
        &self.tasks
    }

    /// Finds the containers this instance left behind (by label) and tracks their tasks again, without touching
    /// them: the server's desired state decides what happens next.
    pub async fn adopt(&mut self) -> Result<usize, crate::runtime::RuntimeError> {
        let instance_arn = self.session.instance_arn();
        let found = self.runtime.list_containers(LABEL_INSTANCE_ARN, Some(&instance_arn)).await?;
        for summary in found {
            let (Some(task_arn), Some(name)) =
                (summary.labels.get(LABEL_TASK_ARN), summary.labels.get(LABEL_CONTAINER_NAME))
            else {
                continue;
            };
            let Ok(Some(state)) = self.runtime.inspect_container(&summary.id).await else { continue };
            let task = self.tasks.entry(task_arn.clone()).or_insert_with(|| {
                let mut t = TaskState::new(Default::default());
                t.spec = None;
                t.phase = Phase::Running;
                t
            });
            task.containers.insert(name.clone(), track_from_state(&state, None));
        }
        let now = self.clock.now();
        for task in self.tasks.values_mut() {
            if task.containers.values().all(|c| c.status == "STOPPED") {
                task.phase = Phase::Stopped;
                // Its containers exited while no agent watched them (or while this one was adopting them): as an
                // essential container's exit stops a watched task, with ECS's code. A stop the control plane asked
                // for first keeps its own reason there.
                if task.stop_code.is_none() {
                    task.stop_code = Some("EssentialContainerExited".into());
                    task.stopped_reason = Some(ESSENTIAL_EXITED.into());
                }
                task.execution_stopped_at.get_or_insert(now);
            }
        }
        tracing::info!(tasks = self.tasks.len(), "adopted containers left by an earlier run");
        Ok(self.tasks.len())
    }

    /// Runs the loop until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            self.handle(msg).await;
        }
    }

    /// Handles one message (public so tests can drive the engine step by step).
    pub async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Desired(desired) => self.on_desired(desired),
            Msg::Event(event) => self.on_event(event),
            Msg::Resync => self.resync(),
            Msg::Observed(observed) => self.on_observed(observed),
            Msg::Activating { task_arn, pull_started_at, pull_stopped_at } => {
                if let Some(task) = self.tasks.get_mut(&task_arn) {
                    task.activating = true;
                    task.pull_started_at = pull_started_at.or(task.pull_started_at);
                    task.pull_stopped_at = pull_stopped_at.or(task.pull_stopped_at);
                }
                self.publish(&task_arn);
            }
            Msg::Started { task_arn, outcome } => self.on_started(&task_arn, outcome),
            Msg::Stopped { task_arn, states } => self.on_stopped(&task_arn, states),
            Msg::Restarted { task_arn, name, result } => self.on_restarted(&task_arn, &name, *result),
            Msg::Unknown(arns) => {
                for arn in arns {
                    self.forget_or_stop(&arn, "The task is not known to the server");
                }
            }
        }
    }

    fn publish(&self, task_arn: &str) {
        if let Some(task) = self.tasks.get(task_arn)
            && let Some(spec) = &task.spec
        {
            let report = task.report(task_arn);
            if let Some(m) = &self.metadata {
                m.directory.put(spec, &report);
            }
            self.outbox.put(report);
        }
    }

    fn on_desired(&mut self, desired: DesiredState) {
        let epoch = desired.assignment_epoch;
        self.apply_desired(desired);
        // Only now, with every task the new state dropped already cancelled or stopping, may a start held for an
        // older epoch go ahead (it finds its cancel flag set first).
        if let Some(lease) = &self.lease {
            lease.desired(epoch);
        }
    }

    fn apply_desired(&mut self, desired: DesiredState) {
        let mut wanted: BTreeSet<String> = desired.tasks.iter().map(|t| t.task_arn.clone()).collect();
        // Tasks whose records the server cannot read are left as they are.
        wanted.extend(desired.keep.iter().cloned());
        for spec in desired.tasks {
            let arn = spec.task_arn.clone();
            let stop_wanted = spec.desired_status == "STOPPED";
            let (reason, code) = (spec.stopped_reason.clone(), spec.stop_code.clone());
            let (phase, adopted_without_spec) = {
                let task = self.tasks.entry(arn.clone()).or_insert_with(|| TaskState::new(spec.clone()));
                let adopted_without_spec = task.spec.is_none();
                // A running awsvpc task whose security groups' rules changed (ingress or egress) gets the new rules.
                let old_rules =
                    task.spec.as_ref().and_then(|s| s.network.as_ref()).map(|n| (n.ingress.clone(), n.egress.clone()));
                if let Some(network) = spec.network.clone()
                    && task.phase == Phase::Running
                    && old_rules.is_some_and(|old| old != (network.ingress.clone(), network.egress.clone()))
                {
                    let arn = arn.clone();
                    tokio::spawn(async move {
                        if let Err(error) = crate::firewall::apply(&arn, &network).await {
                            tracing::warn!(task = %arn, %error, "updating a task's security group rules failed");
                        }
                    });
                }
                // Keep tracks of containers the spec names that we have not seen yet.
                for name in spec.containers.iter().filter_map(|c| c.definition.name.clone()) {
                    task.containers.entry(name).or_insert_with(ContainerTrack::pending);
                }
                task.spec = Some(spec);
                if stop_wanted && task.stop_code.is_none() {
                    task.stopped_reason = reason;
                    task.stop_code = code;
                }
                (task.phase, adopted_without_spec)
            };
            match (stop_wanted, phase) {
                (false, Phase::Pending) => self.start(&arn),
                (false, Phase::Running) if adopted_without_spec => {
                    // An adopted task: make sure every container exists and runs, or handle what exited.
                    self.after_adoption(&arn);
                }
                (true, Phase::Pending) => {
                    let now = self.clock.now();
                    if let Some(task) = self.tasks.get_mut(&arn) {
                        task.phase = Phase::Stopped;
                        task.execution_stopped_at = Some(now);
                        for c in task.containers.values_mut() {
                            c.status = "STOPPED";
                        }
                    }
                    self.publish(&arn);
                }
                (true, Phase::Starting) => {
                    if let Some(task) = self.tasks.get(&arn) {
                        task.cancel.store(true, Ordering::SeqCst);
                    }
                }
                (true, Phase::Running) => self.stop(&arn, None),
                (_, Phase::Stopped) => self.publish(&arn),
                _ => {}
            }
        }
        let extra: Vec<String> = self.tasks.keys().filter(|arn| !wanted.contains(*arn)).cloned().collect();
        for arn in extra {
            self.forget_or_stop(&arn, "The task is no longer assigned to this container instance");
        }
    }

    fn after_adoption(&mut self, arn: &str) {
        let Some(task) = self.tasks.get(arn) else { return };
        // A container the earlier run created but never started (it was killed between the two calls) is as
        // missing as one it never created: the start worker starts what exists and creates the rest.
        let missing = task.containers.values().any(|c| c.id.is_none() || c.status == "PENDING");
        let essential_exited = task
            .containers
            .iter()
            .find(|(name, c)| c.status == "STOPPED" && task.is_essential(name))
            .map(|(name, _)| name.clone());
        if let Some(name) = essential_exited {
            tracing::info!(task = arn, container = %name, "adopted task's essential container has exited");
            self.stop(arn, Some(("EssentialContainerExited".into(), ESSENTIAL_EXITED.into())));
        } else if missing {
            if let Some(task) = self.tasks.get_mut(arn) {
                task.phase = Phase::Pending;
            }
            self.start(arn);
        } else {
            self.publish(arn);
        }
    }

    fn forget_or_stop(&mut self, arn: &str, reason: &str) {
        let Some(task) = self.tasks.get(arn) else { return };
        match task.phase {
            Phase::Stopped => {
                self.schedule_cleanup(arn);
                self.forget(arn);
                self.outbox.forget(arn);
            }
            Phase::Starting => task.cancel.store(true, Ordering::SeqCst),
            Phase::Stopping => {}
            Phase::Pending | Phase::Running => {
                tracing::info!(task = arn, reason, "stopping a task the server did not assign");
                self.stop(arn, None);
            }
        }
    }

    /// Writes file-mode secrets (`berth:file=...`) of tasks started from now on under `files` (without it, a task
    /// with file-mode secrets fails to start).
    pub fn set_secret_files(&mut self, files: Arc<secret_files::SecretFiles>) {
        self.secret_files = Some(files);
    }

    /// Fences task starts with the assignment lease (without one, starts never wait).
    pub fn set_lease(&mut self, lease: Arc<crate::lease::AssignmentLease>) {
        self.lease = Some(lease);
    }

    fn start(&mut self, arn: &str) {
        let Some(task) = self.tasks.get_mut(arn) else { return };
        let Some(spec) = task.spec.clone() else { return };
        tracing::debug!(target: "berth_timing", task = %arn, step = %"agent_received");
        task.phase = Phase::Starting;
        task.cancel.store(false, Ordering::SeqCst);
        let existing = task.containers.iter().filter_map(|(n, c)| Some((n.clone(), c.id.clone()?))).collect();
        let tx = self.tx.clone();
        let activating_tx = self.tx.clone();
        let task_arn = arn.to_string();
        let activating_arn = arn.to_string();
        let job = StartJob {
            runtime: self.runtime.clone(),
            task: spec,
            existing,
            instance_arn: self.session.instance_arn(),
            pull: self.config.pull,
            registry_auth: self.session.registry_auth(),
            pulls: self.pulls.clone(),
            cancel: task.cancel.clone(),
            clock: self.clock.clone(),
            metadata: self.metadata.clone(),
            logs: self.logs.clone(),
            secrets: self.secrets.clone(),
            secret_files: self.secret_files.clone(),
            credentials: self.credentials.clone(),
            host_access: self.config.host_access.clone(),
            task_cgroups: self.task_cgroups.clone(),
            storage_quota: self.storage_quota,
            image_trust: self.image_trust.clone(),
            dns: self.dns,
            lease: self.lease.clone(),
            on_activating: Box::new(move |pull_started_at, pull_stopped_at| {
                let _ =
                    activating_tx.send(Msg::Activating { task_arn: activating_arn, pull_started_at, pull_stopped_at });
            }),
        };
        self.publish(arn);
        tokio::spawn(async move {
            let outcome = worker::start_task(job).await;
            let _ = tx.send(Msg::Started { task_arn, outcome });
        });
    }

    fn on_started(&mut self, arn: &str, outcome: StartOutcome) {
        let now = self.clock.now();
        let Some(task) = self.tasks.get_mut(arn) else { return };
        task.pull_started_at = outcome.pull_started_at.or(task.pull_started_at);
        task.pull_stopped_at = outcome.pull_stopped_at.or(task.pull_stopped_at);
        for (name, track) in outcome.containers {
            task.containers.insert(name, track);
        }
        if let Some((code, reason)) = outcome.failure {
            tracing::warn!(task = arn, %reason, "task failed to start");
            self.stop(arn, Some((code, reason)));
            return;
        }
        if task.cancel.load(Ordering::SeqCst) {
            self.stop(arn, None);
            return;
        }
        task.phase = Phase::Running;
        task.activating = true;
        task.started_at = Some(now);
        // An essential container may already have exited during start.
        let exited =
            task.containers.iter().find(|(n, c)| c.status == "STOPPED" && task.is_essential(n)).map(|(n, _)| n.clone());
        if exited.is_some() {
            self.stop(arn, Some(("EssentialContainerExited".into(), ESSENTIAL_EXITED.into())));
            return;
        }
        tracing::debug!(target: "berth_timing", task = %arn, step = %"report_queued");
        self.publish(arn);
    }

    fn stop_timeout(&self, task: &TaskState, name: &str) -> Duration {
        task.spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.definition.name.as_deref() == Some(name)))
            .and_then(|c| c.definition.stop_timeout)
            .and_then(|t| u64::try_from(t).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.config.default_stop_timeout)
    }

    /// Stops a task's containers; `decision` is the agent's own stop code and reason, when it decided.
    fn stop(&mut self, arn: &str, decision: Option<(String, String)>) {
        let now = self.clock.now();
        let Some(task) = self.tasks.get(arn) else { return };
        if matches!(task.phase, Phase::Stopping | Phase::Stopped) {
            return;
        }
        let to_stop: Vec<(String, (String, Duration))> = task
            .containers
            .iter()
            .filter(|(_, c)| c.status != "STOPPED" || c.restarting)
            .filter_map(|(name, c)| Some((name.clone(), (c.id.clone()?, self.stop_timeout(task, name)))))
            .collect();
        let to_stop = worker::stop_waves(to_stop, task.spec.as_ref());
        let Some(task) = self.tasks.get_mut(arn) else { return };
        task.phase = Phase::Stopping;
        task.stopping_at.get_or_insert(now);
        if let Some((code, reason)) = decision
            && task.stop_code.is_none()
            && task.spec.as_ref().is_none_or(|s| s.desired_status != "STOPPED")
        {
            task.stop_code = Some(code);
            task.stopped_reason = Some(reason);
        }
        self.publish(arn);
        let runtime = self.runtime.clone();
        let tx = self.tx.clone();
        let task_arn = arn.to_string();
        let pause_of = self
            .tasks
            .get(arn)
            .is_some_and(|t| t.spec.as_ref().is_none_or(|s| s.network.is_some()))
            .then(|| arn.to_string());
        let credentials = self.credentials.clone();
        let secret_files = self.secret_files.clone();
        tokio::spawn(async move {
            let states = stop_containers(runtime, to_stop, pause_of).await;
            // Its containers are gone: so are its credentials and their NAT rules, and its secret files.
            if let Some(c) = credentials {
                c.forget(&task_arn).await;
            }
            if let Some(files) = secret_files {
                files.forget(&task_arn);
            }
            let _ = tx.send(Msg::Stopped { task_arn, states });
        });
    }

    fn on_stopped(&mut self, arn: &str, states: BTreeMap<String, Option<ContainerState>>) {
        let now = self.clock.now();
        let Some(task) = self.tasks.get_mut(arn) else { return };
        for (name, state) in states {
            let previous = task.containers.get(&name).cloned();
            let track = match state {
                Some(state) => worker::track_from_state(&state, previous.as_ref()),
                None => {
                    let mut t = previous.unwrap_or_else(ContainerTrack::pending);
                    t.reason.get_or_insert_with(|| "The container was removed outside Berth".into());
                    t
                }
            };
            task.containers.insert(name, ContainerTrack { status: "STOPPED", restarting: false, ..track });
        }
        for c in task.containers.values_mut() {
            c.status = "STOPPED";
        }
        task.phase = Phase::Stopped;
        task.execution_stopped_at = Some(now);
        self.publish(arn);
        let known_to_server = self.tasks.get(arn).is_some_and(|t| t.spec.is_some());
        if !known_to_server {
            self.schedule_cleanup(arn);
            self.forget(arn);
        }
    }

    /// Schedules the removal of a stopped task's containers and volumes ([`cleanup`]): a failed task's sooner, and
    /// at once beyond the number of failed tasks its group may keep.
    fn schedule_cleanup(&mut self, arn: &str) {
        let Some(task) = self.tasks.get(arn) else { return };
        let mut removal = cleanup::Removal::of(arn, task);
        if let Some(layout) = &self.task_cgroups
            && task.spec.as_ref().is_some_and(crate::task_cgroup::wanted)
        {
            removal.cgroup = Some((layout.clone(), crate::task_cgroup::task_id(arn).to_string()));
        }
        let failed_group = cleanup::failed(task).then(|| cleanup::group(task)).flatten();
        let Some(group) = failed_group else {
            cleanup::spawn_removal(self.runtime.clone(), removal, self.config.cleanup_wait);
            return;
        };
        let (wait, keep) = (self.config.failed_cleanup_wait, self.config.failed_tasks_kept);
        let due = self.failed_kept.push(&group, removal.clone(), self.clock.now(), keep, wait);
        for old in due {
            tracing::info!(%group, containers = ?old.container_ids, "removing the containers of an older failed task");
            cleanup::spawn_removal(self.runtime.clone(), old, Duration::ZERO);
        }
        if keep > 0 {
            cleanup::spawn_removal(self.runtime.clone(), removal, wait);
        }
    }

    fn find_container(&self, event: &RuntimeEvent) -> Option<(String, String)> {
        if let (Some(task), Some(name)) = (event.labels.get(LABEL_TASK_ARN), event.labels.get(LABEL_CONTAINER_NAME)) {
            return self.tasks.contains_key(task).then(|| (task.clone(), name.clone()));
        }
        self.tasks.iter().find_map(|(arn, t)| {
            t.containers
                .iter()
                .find(|(_, c)| c.id.as_deref() == Some(&event.container_id))
                .map(|(n, _)| (arn.clone(), n.clone()))
        })
    }

    fn on_event(&mut self, event: RuntimeEvent) {
        let Some((arn, name)) = self.find_container(&event) else { return };
        match event.kind {
            EventKind::Die { exit_code } => {
                self.on_container_exit(&arn, &name, exit_code.and_then(|c| i32::try_from(c).ok()), None)
            }
            EventKind::Oom => {
                if let Some(c) = self.tasks.get_mut(&arn).and_then(|t| t.containers.get_mut(&name)) {
                    c.reason = Some("OutOfMemoryError: Container killed due to memory usage".into());
                }
            }
            EventKind::Health(health) => {
                if let Some(c) = self.tasks.get_mut(&arn).and_then(|t| t.containers.get_mut(&name)) {
                    c.health = match health {
                        crate::runtime::HealthStatus::Healthy => "HEALTHY",
                        crate::runtime::HealthStatus::Unhealthy => "UNHEALTHY",
                        crate::runtime::HealthStatus::Starting => "UNKNOWN",
                    };
                }
                self.publish(&arn);
            }
            EventKind::Destroy => {
                let running =
                    self.tasks.get(&arn).and_then(|t| t.containers.get(&name)).is_some_and(|c| c.status != "STOPPED");
                if running {
                    self.on_container_exit(&arn, &name, None, Some("The container was removed outside Berth".into()));
                }
            }
            EventKind::Create | EventKind::Start | EventKind::Stop => {}
        }
    }

    fn restart_allowed(&self, task: &TaskState, name: &str, exit_code: Option<i32>) -> bool {
        let Some(policy) = task
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.definition.name.as_deref() == Some(name)))
            .and_then(|c| c.definition.restart_policy.clone())
        else {
            return false;
        };
        if !policy.enabled || task.phase != Phase::Running {
            return false;
        }
        if exit_code.is_some_and(|code| policy.ignored_exit_codes.iter().flatten().any(|c| *c == code)) {
            return false;
        }
        let period = f64::from(policy.restart_attempt_period.unwrap_or(300));
        let ran_for = task.containers.get(name).and_then(|c| c.started_at).map(|s| self.clock.now() - s).unwrap_or(0.0);
        ran_for >= period
    }

    fn on_container_exit(&mut self, arn: &str, name: &str, exit_code: Option<i32>, reason: Option<String>) {
        let allowed = self.tasks.get(arn).is_some_and(|t| self.restart_allowed(t, name, exit_code));
        let Some(task) = self.tasks.get_mut(arn) else { return };
        let Some(c) = task.containers.get_mut(name) else { return };
        if c.status == "STOPPED" && !c.restarting {
            return;
        }
        c.status = "STOPPED";
        c.exit_code = exit_code.or(c.exit_code);
        if reason.is_some() {
            c.reason = reason;
        }
        let essential = task.is_essential(name);
        let phase = task.phase;
        if allowed {
            if let Some(c) = task.containers.get_mut(name) {
                c.restarting = true;
                c.restart_count += 1;
                let id = c.id.clone();
                let runtime = self.runtime.clone();
                let tx = self.tx.clone();
                let (task_arn, name) = (arn.to_string(), name.to_string());
                tokio::spawn(async move {
                    let result = match id {
                        Some(id) => match runtime.start_container(&id).await {
                            Ok(()) => runtime.inspect_container(&id).await.map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        },
                        None => Err("the container has no id".into()),
                    };
                    let _ = tx.send(Msg::Restarted { task_arn, name, result: Box::new(result) });
                });
            }
            self.publish(arn);
            return;
        }
        if essential && phase == Phase::Running {
            tracing::info!(task = arn, container = name, ?exit_code, "essential container exited; stopping the task");
            self.stop(arn, Some(("EssentialContainerExited".into(), ESSENTIAL_EXITED.into())));
        } else {
            self.publish(arn);
        }
    }

    fn on_restarted(&mut self, arn: &str, name: &str, result: Result<Option<ContainerState>, String>) {
        match result {
            Ok(Some(state)) if state.running => {
                if let Some(task) = self.tasks.get_mut(arn) {
                    let previous = task.containers.get(name).cloned();
                    let mut track = track_from_state(&state, previous.as_ref());
                    track.restarting = false;
                    track.exit_code = None;
                    task.containers.insert(name.to_string(), track);
                }
                self.publish(arn);
            }
            other => {
                let reason = match other {
                    Err(e) => format!("CannotStartContainerError: restart failed: {e}"),
                    _ => "CannotStartContainerError: the restarted container is not running".into(),
                };
                if let Some(c) = self.tasks.get_mut(arn).and_then(|t| t.containers.get_mut(name)) {
                    c.restarting = false;
                    c.reason = Some(reason);
                }
                let essential = self.tasks.get(arn).is_some_and(|t| t.is_essential(name));
                if essential {
                    self.stop(arn, Some(("EssentialContainerExited".into(), ESSENTIAL_EXITED.into())));
                } else {
                    self.publish(arn);
                }
            }
        }
    }

    /// Re-inspects every container of running tasks, off the loop, to catch events that were missed; the result
    /// comes back as [`Msg::Observed`].
    fn resync(&mut self) {
        let targets: Vec<(String, String, String)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.phase == Phase::Running)
            .flat_map(|(arn, t)| {
                t.containers
                    .iter()
                    .filter(|(_, c)| c.status != "STOPPED" && !c.restarting)
                    .filter_map(move |(name, c)| Some((arn.clone(), name.clone(), c.id.clone()?)))
            })
            .collect();
        if targets.is_empty() {
            return;
        }
        let runtime = self.runtime.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut observed = Vec::with_capacity(targets.len());
            for (arn, name, id) in targets {
                match runtime.inspect_container(&id).await {
                    Ok(state) => observed.push((arn, name, id, state)),
                    Err(error) => tracing::warn!(container = %id, %error, "resync could not inspect a container"),
                }
            }
            let _ = tx.send(Msg::Observed(observed));
        });
    }

    /// Applies what a resync observed: missed exits and changed health or ports.
    fn on_observed(&mut self, observed: Vec<(String, String, String, Option<ContainerState>)>) {
        for (arn, name, id, state) in observed {
            // Skip containers that changed since the resync looked (restarted, replaced, stopped).
            let Some(current) = self.tasks.get(&arn).and_then(|t| t.containers.get(&name)).cloned() else { continue };
            if current.id.as_deref() != Some(id.as_str()) || current.status == "STOPPED" || current.restarting {
                continue;
            }
            match state {
                Some(state) if !state.running && state.status != crate::runtime::ContainerStatus::Created => {
                    self.on_container_exit(&arn, &name, state.exit_code.and_then(|c| i32::try_from(c).ok()), None);
                }
                Some(state) => {
                    let track = track_from_state(&state, Some(&current));
                    if track.health != current.health || track.bindings != current.bindings {
                        if let Some(task) = self.tasks.get_mut(&arn) {
                            task.containers.insert(name, track);
                        }
                        self.publish(&arn);
                    }
                }
                None => {
                    self.on_container_exit(&arn, &name, None, Some("The container was removed outside Berth".into()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
