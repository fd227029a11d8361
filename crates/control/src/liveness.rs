//! The liveness controller: marks agents that went silent as disconnected, and forgets old STOPPED tasks.
//!
//! Level-triggered: every tick it compares each instance's recorded `agentConnected` with what the agent hub
//! observed, and fixes the difference; a missed tick or a restart only delays the fix by one tick.

use crate::records::keys;
use crate::{Control, Result};
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
    Ok(())
}
