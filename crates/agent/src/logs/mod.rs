//! The agent's side of the `awslogs` driver: it ships what a container writes to Berth's CloudWatch Logs store
//! (AWS-NOTES §7), the way Docker's awslogs driver ships to CloudWatch Logs.
//!
//! A container whose `logDriver` is `awslogs` runs with Docker's `json-file` driver and carries its options in the
//! [`LABEL_AWSLOGS`] label ([`crate::convert`]). Before it starts, [`Shippers::prepare`] creates its log stream
//! (and group, with `awslogs-create-group`) — a missing group fails the start with ECS's reason — and, in
//! blocking mode, attaches to its output; once it started, a shipper ([`shipper`]) follows its log until it has
//! stopped and everything is delivered. [`Shippers::reconcile`] (at the agent's start and every few seconds)
//! gives every labelled container that needs one a shipper — containers adopted after an agent restart, and those
//! restarted in place — and forgets the state of removed containers.
//!
//! - [`cursor`]: resumable positions in a container's log (checkpoints).
//! - [`lines`]: the engine's log entries back into lines.
//! - [`events`]: lines into events — one per line, or multi-line events that start at a line matching
//!   `awslogs-multiline-pattern` (or the pattern made from `awslogs-datetime-format`).
//! - [`batch`]: events into PutLogEvents-sized batches.
//! - [`sink`]: the CloudWatch Logs calls, behind a trait.
//! - [`state`]: checkpoints and the batch in flight, on disk.
//! - [`shipper`]: one container's shipping loop, and how each driver option is honoured.
//! - [`exit_watch`]: when a paced container's process exits (the pace then stops holding its output).
//!
//! Limitations: a container removed (by the task cleanup, an hour after its task stopped) before its lines
//! could be delivered loses them; json-file rotation (5 × 20 MiB) bounds what waits while the agent is down.

pub mod batch;
pub mod cursor;
pub mod events;
pub mod exit_watch;
pub mod lines;
pub mod shipper;
pub mod sink;
pub mod state;
pub mod tail;

pub use crate::convert::LABEL_AWSLOGS;

use crate::convert::{LABEL_CONTAINER_NAME, LABEL_INSTANCE_ARN, LABEL_TASK_ARN};
use crate::runtime::{ContainerRuntime, ContainerStatus};
use berth_model::awslogs::AwsLogsOptions;
use berth_model::clock::Clock;
use shipper::{Context, Pace, Target};
use sink::LogSink;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a blocking-mode container's start waits for an unreachable log store before it fails.
const PREPARE_WAIT: Duration = Duration::from_secs(20);

/// A container's shipper, as the registry knows it.
enum Slot {
    /// Prepared; the container is about to start.
    Preparing,
    /// Running.
    Running(tokio::task::JoinHandle<()>),
}

/// This agent's container instance ARN (its containers carry it in a label; other agents' containers on the same
/// host are theirs to ship).
pub type Owner = Arc<dyn Fn() -> String + Send + Sync>;

/// Every awslogs container's shipper on this agent.
pub struct Shippers<R> {
    ctx: Arc<Context<R>>,
    owner: Owner,
    slots: Mutex<HashMap<String, Slot>>,
}

/// A container's shipper, prepared before the container starts: call [`Prepared::started`] once it started
/// (dropping it instead means the container did not start).
pub struct Prepared<R: ContainerRuntime> {
    shippers: Arc<Shippers<R>>,
    target: Option<Target>,
    pace: Option<Arc<Pace>>,
}

impl<R: ContainerRuntime> Prepared<R> {
    /// The container started: its shipper begins reading its log.
    pub fn started(mut self) {
        if let Some(target) = self.target.take() {
            self.shippers.spawn(target, self.pace.take(), true);
        }
    }
}

impl<R: ContainerRuntime> Drop for Prepared<R> {
    fn drop(&mut self) {
        if let Some(target) = self.target.take() {
            self.shippers.lock().remove(&target.container_id);
        }
    }
}

impl<R: ContainerRuntime> Shippers<R> {
    /// The shippers of the agent `owner` names, whose state lives under `data_dir` (in `logs/`), delivering to
    /// `sink`.
    pub fn new(
        runtime: Arc<R>,
        sink: Arc<dyn LogSink>,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        owner: Owner,
    ) -> Arc<Self> {
        let state = state::StateDir::new(data_dir.join("logs"));
        let ctx = Arc::new(Context { runtime, sink, state, clock });
        Arc::new(Self { ctx, owner, slots: Mutex::new(HashMap::new()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prepares the shipper of a created container with these labels, before its start: `Ok(None)` when it
    /// does not use awslogs; an error (the container's stopped reason) when it cannot start as configured.
    pub async fn prepare(
        self: &Arc<Self>,
        container_id: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Option<Prepared<R>>, String> {
        let Some(target) = target(container_id, labels)? else { return Ok(None) };
        self.lock().insert(container_id.to_string(), Slot::Preparing);
        // From here on, dropping `prepared` forgets the slot.
        let mut prepared = Prepared { shippers: self.clone(), target: Some(target.clone()), pace: None };
        shipper::prepare_stream(&*self.ctx.sink, &target, PREPARE_WAIT, &*self.ctx.clock).await?;
        prepared.pace = shipper::attach(&*self.ctx.runtime, &target, now_ms(&*self.ctx.clock)).await?;
        Ok(Some(prepared))
    }

    fn spawn(self: &Arc<Self>, target: Target, pace: Option<Arc<Pace>>, stream_ready: bool) {
        let id = target.container_id.clone();
        let handle = tokio::spawn(shipper::run(self.ctx.clone(), target, pace, stream_ready));
        self.lock().insert(id, Slot::Running(handle));
    }

    /// Gives every labelled container of this agent that needs a shipper one (running ones without a shipper;
    /// stopped ones whose lines are not all delivered), and forgets the state of containers that are gone.
    pub async fn reconcile(self: &Arc<Self>) {
        let owner = (self.owner)();
        let containers = match self.ctx.runtime.list_containers(LABEL_INSTANCE_ARN, Some(&owner)).await {
            Ok(containers) => {
                containers.into_iter().filter(|c| c.labels.contains_key(LABEL_AWSLOGS)).collect::<Vec<_>>()
            }
            Err(error) => {
                tracing::warn!(%error, "awslogs: cannot list the containers to ship");
                return;
            }
        };
        let wanted: Vec<_> = {
            let mut slots = self.lock();
            slots.retain(|_, slot| !matches!(slot, Slot::Running(handle) if handle.is_finished()));
            containers
                .iter()
                .filter(|c| !slots.contains_key(&c.id) && c.status != ContainerStatus::Created)
                .filter(|c| {
                    c.running
                        || self.ctx.state.inflight(&c.id).is_some()
                        || !self.ctx.state.checkpoint(&c.id).is_some_and(|cp| cp.finished)
                })
                .cloned()
                .collect()
        };
        for container in wanted {
            let target = match target(&container.id, &container.labels) {
                Ok(Some(target)) => target,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(container = %container.id, %error, "awslogs: cannot ship this container's log");
                    continue;
                }
            };
            let pace = if container.running {
                shipper::attach(&*self.ctx.runtime, &target, now_ms(&*self.ctx.clock)).await.unwrap_or_else(|error| {
                    tracing::warn!(container = %container.id, %error, "awslogs: the container is not paced");
                    None
                })
            } else {
                None
            };
            if self.lock().contains_key(&container.id) {
                continue; // prepared meanwhile
            }
            tracing::info!(container = %container.id, group = %target.group, stream = %target.stream,
                "awslogs: shipping the log of a container the agent found");
            self.spawn(target, pace, false);
        }
        let present: std::collections::HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
        for id in self.ctx.state.containers() {
            if !present.contains(id.as_str()) && !self.lock().contains_key(&id) {
                self.ctx.state.forget(&id);
            }
        }
    }

    /// Runs [`Shippers::reconcile`] now and every `period` on the agent's clock.
    pub async fn reconcile_every(self: Arc<Self>, period: Duration) {
        loop {
            self.reconcile().await;
            let next = self.ctx.clock.now() + period.as_secs_f64();
            self.ctx.clock.sleep_until(next).await;
        }
    }
}

/// The shipper target of a container with these labels: `None` without awslogs.
fn target(container_id: &str, labels: &BTreeMap<String, String>) -> Result<Option<Target>, String> {
    let Some(options) = labels.get(LABEL_AWSLOGS) else { return Ok(None) };
    let options: BTreeMap<String, String> = serde_json::from_str(options)
        .map_err(|e| format!("the {LABEL_AWSLOGS} label is not an options object: {e}"))?;
    let options = AwsLogsOptions::parse(&options, None)?;
    let name = labels.get(LABEL_CONTAINER_NAME).map(String::as_str).unwrap_or_default();
    let task_id = labels.get(LABEL_TASK_ARN).and_then(|arn| arn.rsplit('/').next()).unwrap_or_default();
    Ok(Some(Target {
        container_id: container_id.to_string(),
        group: options.group.clone(),
        stream: options.stream_name(name, task_id, container_id),
        options,
    }))
}

fn now_ms(clock: &dyn Clock) -> i64 {
    (clock.now() * 1000.0) as i64
}

#[cfg(test)]
mod tests;
