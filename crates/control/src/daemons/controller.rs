//! The daemon scheduler: a controller on `berth_runtime` (with the others, behind the same leader gate) with one
//! key per daemon (`pass.rs`: start, replace and stop its tasks, drain instances whose daemon task stopped, move
//! its deployment forward) and one key for the instances (`gate.rs`: release the placement gate of new instances
//! and return drained ones to ACTIVE once their daemon tasks run).

use crate::{Control, ControlError, Result};
use berth_runtime::{Action, Controller, Reconciler, Trigger};
use std::fmt;
use std::sync::Arc;

/// How often a daemon is looked at without a change to trigger it, in seconds (restart delays and bake times
/// end without a write).
pub const RESYNC_SECONDS: f64 = 5.0;

/// What one reconcile of the daemon scheduler is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DaemonKey {
    /// One daemon: (cluster, name).
    Daemon(String, String),
    /// The instances whose placement gate or daemon drain may be released.
    Instances,
}

impl fmt::Display for DaemonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonKey::Daemon(cluster, name) => write!(f, "daemon/{cluster}/{name}"),
            DaemonKey::Instances => f.write_str("instances"),
        }
    }
}

/// The daemon scheduler's [`Reconciler`].
pub struct DaemonScheduler {
    control: Arc<Control>,
}

impl Reconciler for DaemonScheduler {
    type Key = DaemonKey;
    type Error = ControlError;

    fn keys(&self) -> Vec<DaemonKey> {
        let state = self.control.cache.read();
        let mut keys: Vec<DaemonKey> =
            state.daemons.keys().map(|(c, n)| DaemonKey::Daemon(c.clone(), n.clone())).collect();
        keys.push(DaemonKey::Instances);
        keys
    }

    fn changed_keys(&self, _revision: i64) -> Vec<DaemonKey> {
        let state = self.control.cache.read();
        if state.daemons.is_empty() && !state.instances.values().any(|v| super::gate::held(&v.record)) {
            return Vec::new();
        }
        drop(state);
        self.keys()
    }

    async fn reconcile(&self, key: DaemonKey, _trigger: Trigger) -> Result<Action> {
        match key {
            DaemonKey::Daemon(cluster, name) => self.control.reconcile_daemon(&cluster, &name).await,
            DaemonKey::Instances => self.control.release_instances().await,
        }
    }
}

/// The daemon scheduler on `control`'s cache and clock.
pub fn controller(control: Arc<Control>) -> Controller<DaemonScheduler> {
    let source = control.cache.subscribe();
    let clock = control.clock.clone();
    Controller::new("daemons", Arc::new(DaemonScheduler { control }), clock, source)
}

/// Runs the daemon scheduler until the cache stops.
pub async fn run(control: Arc<Control>) {
    controller(control).run().await;
}

/// Runs one pass over every daemon and then over the held instances, in order (what the controller does on a
/// change; for tests that drive the control plane without the runtime).
pub async fn reconcile_all(control: &Control) -> Result<()> {
    let daemons: Vec<(String, String)> = control.cache.read().daemons.keys().cloned().collect();
    for (cluster, name) in daemons {
        control.reconcile_daemon(&cluster, &name).await?;
    }
    control.release_instances().await?;
    Ok(())
}
