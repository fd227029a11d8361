//! The log store's maintenance (sealing, retention compaction) as a controller on `berth_runtime`: one key, run
//! every [`crate::LogsConfig::maintain_every`] on the service's `Clock`, backing off when it fails.

use crate::Logs;
use berth_runtime::{Action, Backoff, Controller, Reconciler, Trigger};
use std::sync::{Arc, Weak};

/// The error policy: a failing pass is retried after 5 s, doubling up to 5 minutes.
pub const BACKOFF: Backoff = Backoff { initial: 5.0, max: 300.0 };

/// The maintenance job's reconciler; it holds the service weakly.
struct Maintenance {
    logs: Weak<Logs>,
    period: f64,
    /// The runtime's source of revisions; nothing in the store triggers maintenance, so it never changes.
    _source: tokio::sync::watch::Sender<i64>,
}

impl Reconciler for Maintenance {
    type Key = &'static str;
    type Error = String;

    fn keys(&self) -> Vec<&'static str> {
        vec!["maintain"]
    }

    /// Timers only.
    fn changed_keys(&self, _revision: i64) -> Vec<&'static str> {
        Vec::new()
    }

    async fn reconcile(&self, _key: &'static str, trigger: Trigger) -> Result<Action, String> {
        if matches!(trigger, Trigger::Startup | Trigger::Leader) {
            return Ok(Action::requeue(self.period));
        }
        let Some(logs) = self.logs.upgrade() else { return Ok(Action::await_change()) };
        let summary = logs.maintain().await.map_err(|e| format!("log store maintenance: {e}"))?;
        tracing::debug!(%summary, "log store maintenance done");
        Ok(Action::requeue(self.period))
    }
}

/// The controller maintaining `logs`'s store.
pub(crate) fn controller(logs: &Arc<Logs>) -> Controller<impl Reconciler<Key = &'static str>> {
    let period = logs.config.maintain_every.as_secs_f64().max(0.01);
    let (tx, source) = tokio::sync::watch::channel(0_i64);
    let maintenance = Maintenance { logs: Arc::downgrade(logs), period, _source: tx };
    // Every server seals and compacts its own segments (`<data-dir>/logs/` is each server's own), leader or not.
    Controller::new("logs", Arc::new(maintenance), logs.clock.clone(), source).with_backoff(BACKOFF).everywhere()
}
