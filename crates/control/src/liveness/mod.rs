//! The liveness controller: marks agents that went silent as disconnected, stops the tasks of lost instances, and
//! forgets old STOPPED tasks, expired client tokens and deleted task definitions.
//!
//! It runs on `berth_runtime`, with two kinds of keys: one per container instance, and one periodic cleanup key.
//! An instance's reconcile compares its recorded `agentConnected` with when the agent hub last heard from the agent
//! (on the control plane's clock) and fixes the difference; while the agent is connected it asks to run again at
//! the moment the agent would count as silent, so nothing polls. Level-triggered: a missed run or a restart only
//! delays a fix.

mod cleanup;
mod instance;

pub use cleanup::forget_expired_tokens;
pub use instance::stop_tasks_of_lost_instances;

use crate::{Control, ControlError, Result};
use berth_runtime::{Action, Controller, Reconciler, Trigger};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// How long STOPPED tasks stay visible to DescribeTasks and ListTasks (ECS keeps them at least an hour).
pub const STOPPED_TASK_RETENTION_SECONDS: f64 = 3600.0;

/// How often the cleanup key runs, in seconds.
pub const CLEANUP_PERIOD_SECONDS: f64 = 1.0;

/// How often every instance is looked at again even if nothing triggered it, in seconds.
pub const RESYNC_SECONDS: f64 = 30.0;

/// What one liveness reconcile is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LivenessKey {
    /// One container instance.
    Instance {
        /// Its cluster's name.
        cluster: String,
        /// Its id.
        id: String,
    },
    /// Forgetting expired STOPPED tasks, client tokens and deleted task definitions.
    Cleanup,
}

impl fmt::Display for LivenessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LivenessKey::Instance { cluster, id } => write!(f, "instance {cluster}/{id}"),
            LivenessKey::Cleanup => f.write_str("cleanup"),
        }
    }
}

/// The liveness controller's [`Reconciler`].
pub struct Liveness {
    control: Arc<Control>,
    /// The instance record revisions seen by the last full look, to enqueue only instances whose record changed.
    seen: Mutex<HashMap<(String, String), i64>>,
    /// The cache revision of the last look.
    looked_at: Mutex<i64>,
}

impl Liveness {
    /// The reconciler for `control`.
    pub fn new(control: Arc<Control>) -> Self {
        Self { control, seen: Mutex::new(HashMap::new()), looked_at: Mutex::new(0) }
    }

    /// The instances whose record changed since the last look: from the cache's log of instance writes (no scan of
    /// every instance on every write), or by comparing revisions when the log does not reach back that far.
    fn changed_instance_keys(&self) -> Vec<LivenessKey> {
        let written = {
            let state = self.control.cache.read();
            let mut looked_at = self.looked_at.lock().unwrap_or_else(|p| p.into_inner());
            let written = state.instances_written_after(*looked_at);
            *looked_at = state.revision;
            written
        };
        match written {
            Some(keys) => keys.into_iter().map(|(cluster, id)| LivenessKey::Instance { cluster, id }).collect(),
            None => self.instance_keys(false),
        }
    }

    /// The instances whose record changed since the last look (all of them when `all`), remembering what was seen.
    fn instance_keys(&self, all: bool) -> Vec<LivenessKey> {
        let state = self.control.cache.read();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|k, _| state.instances.contains_key(k));
        state
            .instances
            .iter()
            .filter(|(k, v)| seen.insert((*k).clone(), v.mod_revision) != Some(v.mod_revision) || all)
            .map(|((cluster, id), _)| LivenessKey::Instance { cluster: cluster.clone(), id: id.clone() })
            .collect()
    }
}

impl Reconciler for Liveness {
    type Key = LivenessKey;
    type Error = ControlError;

    fn keys(&self) -> Vec<LivenessKey> {
        let mut keys = self.instance_keys(true);
        keys.push(LivenessKey::Cleanup);
        keys
    }

    fn changed_keys(&self, _revision: i64) -> Vec<LivenessKey> {
        self.changed_instance_keys()
    }

    async fn reconcile(&self, key: LivenessKey, _trigger: Trigger) -> Result<Action> {
        match key {
            LivenessKey::Instance { cluster, id } => instance::reconcile(&self.control, &cluster, &id).await,
            LivenessKey::Cleanup => {
                cleanup::run(&self.control).await?;
                Ok(Action::requeue(CLEANUP_PERIOD_SECONDS))
            }
        }
    }
}

/// The liveness controller on `control`'s cache and clock.
pub fn controller(control: Arc<Control>) -> Controller<Liveness> {
    let source = control.cache.subscribe();
    let clock = control.clock.clone();
    Controller::new("liveness", Arc::new(Liveness::new(control)), clock, source).with_resync(RESYNC_SECONDS)
}

/// Runs the controller until the cache stops.
pub async fn run(control: Arc<Control>) {
    controller(control).run().await;
}

/// One pass over every key at once (for tests and tools): every instance, then the cleanup.
pub async fn reconcile(control: &Control) -> Result<()> {
    let instances: Vec<(String, String)> = control.cache.read().instances.keys().cloned().collect();
    for (cluster, id) in instances {
        instance::reconcile(control, &cluster, &id).await?;
    }
    cleanup::run(control).await
}
