//! The liveness controller: marks agents that went silent as disconnected, and forgets old STOPPED tasks.
//!
//! Level-triggered: every tick it compares each instance's recorded `agentConnected` with what the agent hub
//! observed, and fixes the difference; a missed tick or a restart only delays the fix by one tick.

use crate::records::keys;
use crate::tasks::stop::{InstanceUpdates, add_instance_updates, release_if_stopped};
use crate::tasks::stop_record;
use crate::{Control, Result, encode};
use berth_store::Txn;
use std::sync::Arc;
use std::time::Duration;

/// How long STOPPED tasks stay visible to DescribeTasks and ListTasks (ECS keeps them at least an hour).
pub const STOPPED_TASK_RETENTION_SECONDS: f64 = 3600.0;

/// The most stopped tasks forgotten per tick, to keep transactions small.
const CLEANUP_BATCH: usize = 100;

/// Runs the controller until the process ends.
pub async fn run(control: Arc<Control>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = reconcile(&control).await {
            tracing::warn!(%error, "liveness reconcile failed; retrying next tick");
        }
    }
}

/// One pass: disconnect silent agents, forget expired STOPPED tasks.
pub async fn reconcile(control: &Control) -> Result<()> {
    let silent: Vec<(String, String)> = {
        let state = control.cache.read();
        state
            .instances
            .iter()
            .filter(|(_, v)| v.record.instance.agent_connected)
            .filter(|(_, v)| !control.agents.is_connected(&v.record.id, control.config.agent_timeout))
            .map(|(k, _)| k.clone())
            .collect()
    };
    for (cluster, id) in silent {
        tracing::warn!(instance = %id, "agent went silent; marking it disconnected");
        control.set_agent_connected(&cluster, &id, false).await?;
    }
    stop_tasks_of_lost_instances(control).await?;
    let cutoff = control.now() - STOPPED_TASK_RETENTION_SECONDS;
    let expired: Vec<(String, i64)> = {
        let state = control.cache.read();
        state
            .tasks
            .iter()
            .filter(|(_, v)| v.record.task.last_status.as_deref() == Some("STOPPED") && v.record.released)
            .filter(|(_, v)| v.record.task.stopped_at.is_some_and(|t| t < cutoff))
            .take(CLEANUP_BATCH)
            .map(|((c, i), v)| (keys::task(c, i), v.mod_revision))
            .collect()
    };
    if !expired.is_empty() {
        let mut txn = Txn::new();
        for (key, revision) in expired {
            txn = txn.expect(key.clone(), revision).delete(key);
        }
        // A conflict means a task changed meanwhile; the next tick tries again.
        control.commit(txn, "forgetting stopped tasks").await?;
    }
    forget_expired_tokens(control).await?;
    crate::task_definitions::forget_deleted_task_definitions(control).await?;
    Ok(())
}

/// Deletes client token records older than the idempotency window: a retry after it is a new request.
pub async fn forget_expired_tokens(control: &Control) -> Result<()> {
    let expired: Vec<(String, i64)> = {
        let state = control.cache.read();
        state
            .tokens
            .iter()
            .filter(|(_, v)| control.token_expired(&v.record))
            .take(CLEANUP_BATCH)
            .map(|(k, v)| (k.clone(), v.mod_revision))
            .collect()
    };
    if expired.is_empty() {
        return Ok(());
    }
    let mut txn = Txn::new();
    for (key, revision) in expired {
        txn = txn.expect(key.clone(), revision).delete(key);
    }
    control.commit(txn, "forgetting expired client tokens").await?;
    Ok(())
}

/// Tasks on an instance whose agent has been silent longer than the lost-instance timeout are STOPPED now (their
/// containers are stopped by the agent if it ever comes back, since its desired state no longer lists them).
/// Service tasks get `ServiceSchedulerInitiated` and are replaced by the service scheduler.
pub async fn stop_tasks_of_lost_instances(control: &Control) -> Result<()> {
    let timeout = control.config.lost_instance_timeout;
    let now = control.now();
    let txn = {
        let state = control.cache.read();
        let mut txn = Txn::new();
        let mut any = false;
        let mut updates = InstanceUpdates::new();
        for v in state.instances.values() {
            let record = &v.record;
            if record.instance.agent_connected || control.agents.is_connected(&record.id, timeout) {
                continue;
            }
            let arn = record.instance.container_instance_arn.clone().unwrap_or_default();
            for t in state.tasks_on_instance(&record.id) {
                if t.record.task.last_status.as_deref() == Some("STOPPED") {
                    continue;
                }
                let mut task = (*t.record).clone();
                let service = task.task.group.as_deref().is_some_and(|g| g.starts_with("service:"));
                let reason = format!(
                    "Task stopped because its container instance {arn} was lost: its agent was silent for more than {} seconds.",
                    timeout.as_secs()
                );
                let code = if service { "ServiceSchedulerInitiated" } else { "InfrastructureHealth" };
                stop_record(&mut task, now, &reason, code, true);
                release_if_stopped(&state, &mut task, &mut updates);
                let key = keys::task(&task.cluster, crate::instances::task_id(&task));
                txn = txn.expect(key.clone(), t.mod_revision).put(key, encode(&task)?);
                any = true;
            }
        }
        if !any {
            return Ok(());
        }
        add_instance_updates(txn, updates)?
    };
    tracing::warn!("stopping the tasks of lost container instances");
    control.commit(txn, "stopping the tasks of lost instances").await?;
    Ok(())
}
