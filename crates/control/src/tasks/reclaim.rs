//! Fargate Spot interruptions: the operator takes capacity back (`berth capacity reclaim`), as AWS does when it
//! needs its spare capacity.
//!
//! An interrupted task is stopped the way Fargate Spot stops it: `stopCode` `SpotInterruption`, `stoppedReason`
//! "Your Spot Task was interrupted.", its containers sent SIGTERM at once (Fargate's two-minute warning) and SIGKILL
//! when their stop timeout runs out, as for any stop. A service's scheduler sees the task stopping and starts its
//! replacement at once, as ECS's does for an interrupted Spot task.

use super::fargate::FARGATE_SPOT;
use super::stop::{InstanceUpdates, add_instance_updates, parse_task_ref, release_if_stopped};
use super::{render_task, stop_record};
use crate::cache::State;
use crate::optimistic::Attempt;
use crate::records::{TaskRecord, keys};
use crate::status::{DesiredStatus, InstanceStatus};
use crate::{Control, ControlError, Result, encode};
use berth_model::ecs::Task;
use berth_store::Txn;

/// Fargate Spot's `stoppedReason` for an interrupted task.
pub const SPOT_INTERRUPTED_REASON: &str = "Your Spot Task was interrupted.";

/// Fargate Spot's `stopCode` for an interrupted task.
pub const SPOT_INTERRUPTION: &str = "SpotInterruption";

/// The most tasks one reclaim interrupts (one store transaction).
pub const MAX_RECLAIM: usize = 500;

/// Which Fargate Spot tasks to interrupt. At least one of `tasks`, `instance` and `count` is given; together they
/// narrow each other (`count` takes the oldest tasks of what the others select).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReclaimRequest {
    /// Only tasks of this cluster (a name or ARN); every cluster when absent.
    pub cluster: Option<String>,
    /// These tasks (ARNs, or ids with `cluster`); each must be a running Fargate Spot task.
    pub tasks: Vec<String>,
    /// Only tasks on this container instance (its id or ARN): the host whose capacity is taken back.
    pub instance: Option<String>,
    /// At most this many tasks, the longest running first.
    pub count: Option<usize>,
}

/// Whether a task is a Fargate Spot task that has not been told to stop.
fn interruptible(record: &TaskRecord) -> bool {
    record.capacity_provider_name.as_deref() == Some(FARGATE_SPOT) && record.desired_status == DesiredStatus::Running
}

/// The id at the end of a container instance ARN, or the id itself.
fn instance_id(text: &str) -> &str {
    text.rsplit('/').next().unwrap_or(text)
}

/// The tasks a request selects, in the order they are interrupted (longest running first).
fn select(state: &State, req: &ReclaimRequest, cluster: Option<&str>) -> Result<Vec<(String, String)>> {
    let mut keys: Vec<(String, String)> = Vec::new();
    if req.tasks.is_empty() {
        for (key, v) in &state.tasks {
            if interruptible(&v.record) && cluster.is_none_or(|c| c == key.0) {
                keys.push(key.clone());
            }
        }
    } else {
        for text in &req.tasks {
            let key = parse_task_ref(cluster.unwrap_or("default"), text)?;
            let Some(v) = state.tasks.get(&key) else {
                return Err(ControlError::invalid(format!("The task {text} was not found.")));
            };
            if v.record.capacity_provider_name.as_deref() != Some(FARGATE_SPOT) {
                return Err(ControlError::invalid(format!(
                    "The task {text} does not run on FARGATE_SPOT capacity: only Fargate Spot tasks can be reclaimed."
                )));
            }
            if interruptible(&v.record) && !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    if let Some(instance) = req.instance.as_deref().map(instance_id) {
        keys.retain(|key| state.tasks.get(key).is_some_and(|v| v.record.instance_id == instance));
    }
    keys.sort_by(|a, b| {
        let started = |key: &(String, String)| {
            state.tasks.get(key).map(|v| v.record.started_at.unwrap_or(v.record.created_at)).unwrap_or(f64::MAX)
        };
        started(a).total_cmp(&started(b)).then_with(|| a.cmp(b))
    });
    if let Some(count) = req.count {
        keys.truncate(count);
    }
    Ok(keys)
}

impl Control {
    /// Interrupts Fargate Spot tasks as a Spot interruption does; returns the tasks interrupted (none when nothing
    /// matched).
    pub async fn reclaim_spot_tasks(&self, req: ReclaimRequest) -> Result<Vec<Task>> {
        if req.tasks.is_empty() && req.instance.is_none() && req.count.is_none() {
            return Err(ControlError::invalid("Name the tasks, the container instance or the count to reclaim."));
        }
        if req.count == Some(0) || req.count.is_some_and(|c| c > MAX_RECLAIM) || req.tasks.len() > MAX_RECLAIM {
            return Err(ControlError::invalid(format!("A reclaim interrupts between 1 and {MAX_RECLAIM} tasks.")));
        }
        let cluster = match req.cluster.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(c) => Some(self.cluster_name(Some(c))?),
            None => None,
        };
        self.write("reclaiming Fargate Spot tasks", |state, now| {
            let selected = select(state, &req, cluster.as_deref())?;
            if selected.is_empty() {
                return Ok(Attempt::Done(Vec::new()));
            }
            let mut txn = Txn::new();
            let mut updates = InstanceUpdates::new();
            let mut interrupted = Vec::with_capacity(selected.len());
            for key in selected {
                let Some(v) = state.tasks.get(&key) else { continue };
                let mut record = (*v.record).clone();
                // A task whose host is gone has no agent to stop it: it is STOPPED now.
                let orphaned = state
                    .instances
                    .get(&record.instance_key())
                    .is_none_or(|i| i.record.status() == Some(InstanceStatus::Inactive));
                stop_record(&mut record, now, SPOT_INTERRUPTED_REASON, SPOT_INTERRUPTION, orphaned);
                release_if_stopped(state, &mut record, &mut updates);
                let task_key = keys::task(&key.0, &key.1);
                txn = txn.expect(task_key.clone(), v.mod_revision).put(task_key, encode(&record)?);
                interrupted.push(render_task(&record, false));
            }
            Ok(Attempt::Commit(add_instance_updates(txn, updates)?, interrupted))
        })
        .await
    }
}
