//! The liveness of one container instance: `agentConnected` and the tasks of a lost instance.

use crate::optimistic::Attempt;
use crate::records::keys;
use crate::status::{InstanceStatus, TaskStatus};
use crate::tasks::stop::{InstanceUpdates, add_instance_updates, release_if_stopped};
use crate::tasks::stop_record;
use crate::{Control, Result, encode};
use berth_runtime::Action;
use berth_store::Txn;

/// How far past a deadline a requeued reconcile lands, in seconds (a deadline itself still counts as in time).
const PAST_DEADLINE: f64 = 0.05;

/// Brings one instance's liveness in line: disconnects a silent agent, stops the tasks of a lost instance, and says
/// when to look again.
pub(super) async fn reconcile(control: &Control, cluster: &str, id: &str) -> Result<Action> {
    let Some((connected, inactive)) = control
        .cache
        .read()
        .instances
        .get(&(cluster.to_string(), id.to_string()))
        .map(|v| (v.record.agent_connected, v.record.status() == Some(InstanceStatus::Inactive)))
    else {
        return Ok(Action::await_change());
    };
    let agent_timeout = control.config.agent_timeout;
    let lost_timeout = control.config.lost_instance_timeout;
    if connected {
        if control.agents.is_connected(id, agent_timeout) {
            return Ok(at(control, control.agents.silent_at(id, agent_timeout)));
        }
        if inactive {
            return Ok(Action::await_change()); // deregistered: nothing to record
        }
        tracing::warn!(instance = %id, "agent went silent; marking it disconnected");
        control.set_agent_connected(cluster, id, false).await?;
    }
    if control.agents.is_connected(id, lost_timeout) {
        let live =
            control.cache.read().tasks_on_instance(id).any(|t| t.record.last_status() != Some(TaskStatus::Stopped));
        return Ok(if live { at(control, control.agents.silent_at(id, lost_timeout)) } else { Action::await_change() });
    }
    stop_tasks_of_lost_instance(control, cluster, id).await?;
    Ok(Action::await_change())
}

/// Run again just past `deadline`.
fn at(control: &Control, deadline: f64) -> Action {
    Action::requeue((deadline - control.clock.now()).max(0.0) + PAST_DEADLINE)
}

/// Tasks on an instance whose agent has been silent longer than the lost-instance timeout are STOPPED now (their
/// containers are stopped by the agent if it ever comes back, since its desired state no longer lists them), and
/// the instance's assignment epoch is bumped in the same transaction (see `InstanceRecord::assignment_epoch`).
/// Service tasks get `ServiceSchedulerInitiated` and are replaced by the service scheduler. One pass over every
/// instance (the controller does this per instance).
pub async fn stop_tasks_of_lost_instances(control: &Control) -> Result<()> {
    let instances: Vec<(String, String)> = control.cache.read().instances.keys().cloned().collect();
    for (cluster, id) in instances {
        stop_tasks_of_lost_instance(control, &cluster, &id).await?;
    }
    Ok(())
}

/// Stops the tasks of one instance if it is lost (disconnected, and silent past the lost-instance timeout).
async fn stop_tasks_of_lost_instance(control: &Control, cluster: &str, id: &str) -> Result<()> {
    let timeout = control.config.lost_instance_timeout;
    control
        .write("stopping the tasks of a lost instance", |state, now| {
            let Some(v) = state.instances.get(&(cluster.to_string(), id.to_string())) else {
                return Ok(Attempt::Done(()));
            };
            let record = &v.record;
            if record.agent_connected || control.agents.is_connected(&record.id, timeout) {
                return Ok(Attempt::Done(()));
            }
            let arn = record.arn.clone();
            let mut txn = Txn::new();
            let mut any = false;
            let mut updates = InstanceUpdates::new();
            for t in state.tasks_on_instance(&record.id) {
                if t.record.last_status() == Some(TaskStatus::Stopped) {
                    continue;
                }
                let mut task = (*t.record).clone();
                let service = task.group.as_deref().is_some_and(|g| g.starts_with("service:"));
                let reason = format!(
                    "Task stopped because its container instance {arn} was lost: its agent was silent for more than {} seconds.",
                    timeout.as_secs()
                );
                let code = if service { "ServiceSchedulerInitiated" } else { "InfrastructureHealth" };
                stop_record(&mut task, now, &reason, code, true);
                release_if_stopped(state, &mut task, &mut updates);
                let key = keys::task(&task.cluster, crate::instances::task_id(&task));
                txn = txn.expect(key.clone(), t.mod_revision).put(key, encode(&task)?);
                any = true;
            }
            if !any {
                return Ok(Attempt::Done(()));
            }
            // A new assignment epoch: the agent, if it comes back, starts nothing it was given before this.
            let entry = updates.entry(record.id.clone()).or_insert_with(|| (v.mod_revision, (**record).clone()));
            entry.1.assignment_epoch += 1;
            let epoch = entry.1.assignment_epoch;
            tracing::warn!(instance = %id, epoch, "stopping the tasks of a lost container instance");
            Ok(Attempt::Commit(add_instance_updates(txn, updates)?, ()))
        })
        .await
}
