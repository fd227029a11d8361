//! StopTask, and giving a stopped task's reservation back to its instance.

use super::{render_task, stop_record};
use crate::cache::State;
use crate::optimistic::Attempt;
use crate::records::{InstanceRecord, TaskRecord, keys};
use crate::status::{InstanceStatus, TaskStatus};
use crate::{Control, ControlError, Result, encode};
use berth_model::arn::{Arn, is_arn};
use berth_model::ecs::{StopTaskRequest, StopTaskResponse};
use berth_store::Txn;
use std::collections::BTreeMap;

/// The reason ECS gives a task stopped by StopTask without a reason.
pub const DEFAULT_STOP_REASON: &str = "Task stopped by user";

/// Instance records changed while releasing reservations, by id: (revision read, new record).
pub(crate) type InstanceUpdates = BTreeMap<String, (i64, InstanceRecord)>;

/// If `task` is STOPPED and still holds its reservation, gives it back to its instance (in `updates`).
pub(crate) fn release_if_stopped(state: &State, task: &mut TaskRecord, updates: &mut InstanceUpdates) {
    if task.released || task.last_status() != Some(TaskStatus::Stopped) {
        return;
    }
    task.released = true;
    let key = task.instance_key();
    let entry = match updates.get_mut(&task.instance_id) {
        Some(entry) => entry,
        None => {
            let Some(v) = state.instances.get(&key) else { return };
            updates.entry(task.instance_id.clone()).or_insert_with(|| (v.mod_revision, (*v.record).clone()))
        }
    };
    let instance = &mut entry.1;
    let r = &task.reservation;
    instance.remaining_cpu = (instance.remaining_cpu + r.cpu).min(instance.offered.cpu);
    instance.remaining_memory = (instance.remaining_memory + r.memory).min(instance.offered.memory_mib);
    if let (Some(left), Some(offered)) =
        (&mut instance.remaining_ephemeral_storage_gib, instance.offered.ephemeral_storage_gib)
    {
        *left = (*left + r.ephemeral_storage_gib).min(offered);
    }
    for port in &r.tcp_ports {
        instance.task_tcp_ports.remove(port);
    }
    for port in &r.udp_ports {
        instance.task_udp_ports.remove(port);
    }
    // The task's containers have stopped (its agent reported STOPPED), so its address may go to another task.
    if let Some(address) = r.address {
        instance.task_addresses.remove(&address);
    }
}

/// Adds the instance updates to a transaction, with compare-and-swap on each.
pub(crate) fn add_instance_updates(mut txn: Txn, updates: InstanceUpdates) -> Result<Txn> {
    for (_, (revision, record)) in updates {
        let key = keys::instance(&record.cluster, &record.id);
        txn = txn.expect(key.clone(), revision).put(key, encode(&record)?);
    }
    Ok(txn)
}

/// The (cluster, id) of a task named by id or ARN.
pub(crate) fn parse_task_ref(cluster: &str, text: &str) -> Result<(String, String)> {
    if is_arn(text) {
        let arn = Arn::parse(text).map_err(|e| ControlError::invalid(e.to_string()))?;
        return match (arn.resource_type(), arn.resource_path().as_slice()) {
            ("task", [c, id]) => Ok((c.to_string(), id.to_string())),
            ("task", [id]) => Ok((cluster.to_string(), id.to_string())),
            _ => Err(ControlError::invalid(format!("{text} is not a task ARN."))),
        };
    }
    Ok((cluster.to_string(), text.to_string()))
}

impl Control {
    /// `StopTask`.
    pub async fn stop_task(&self, req: StopTaskRequest) -> Result<StopTaskResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let reason = req.reason.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| DEFAULT_STOP_REASON.into());
        if reason.chars().count() > 1024 {
            return Err(ControlError::invalid("The stop reason can have at most 1024 characters."));
        }
        let key = parse_task_ref(&cluster, &req.task)?;
        let task = self
            .write("stopping a task", |state, now| {
                let Some(v) = state.tasks.get(&key) else {
                    return Err(ControlError::invalid("The referenced task was not found."));
                };
                let mut record = (*v.record).clone();
                // A task whose instance is gone will never be stopped by an agent: it is STOPPED now.
                let orphaned = state
                    .instances
                    .get(&record.instance_key())
                    .is_none_or(|i| i.record.status() == Some(InstanceStatus::Inactive));
                stop_record(&mut record, now, &reason, "UserInitiated", orphaned);
                let mut updates = InstanceUpdates::new();
                release_if_stopped(state, &mut record, &mut updates);
                let task_key = keys::task(&key.0, &key.1);
                let txn = Txn::new().expect(task_key.clone(), v.mod_revision).put(task_key, encode(&record)?);
                Ok(Attempt::Commit(add_instance_updates(txn, updates)?, render_task(&record, false)))
            })
            .await?;
        Ok(StopTaskResponse { task: Some(task) })
    }
}
