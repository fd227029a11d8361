//! Alarm evaluation and series maintenance as a controller on `berth_runtime`: two keys, `evaluate` (every
//! [`crate::MetricsConfig::evaluate_every`]) and `maintain` (every [`crate::MetricsConfig::maintain_every`]), on
//! the service's `Clock`, backing off when a pass fails.

use crate::Metrics;
use berth_runtime::{Action, Backoff, Controller, Reconciler, Trigger};
use std::sync::{Arc, Weak};

/// The error policy: a failing pass is retried after 5 s, doubling up to 5 minutes.
pub const BACKOFF: Backoff = Backoff { initial: 5.0, max: 300.0 };

struct Jobs {
    metrics: Weak<Metrics>,
    /// The keys this controller runs: `evaluate` (alarm state writes: the leader's) or `maintain` (this server's
    /// own series file: every server's).
    keys: &'static [&'static str],
    evaluate_every: f64,
    maintain_every: f64,
    /// The runtime's source of revisions; nothing in the store triggers these jobs, so it never changes.
    _source: tokio::sync::watch::Sender<i64>,
}

impl Reconciler for Jobs {
    type Key = &'static str;
    type Error = String;

    fn keys(&self) -> Vec<&'static str> {
        self.keys.to_vec()
    }

    /// Timers only.
    fn changed_keys(&self, _revision: i64) -> Vec<&'static str> {
        Vec::new()
    }

    async fn reconcile(&self, key: &'static str, trigger: Trigger) -> Result<Action, String> {
        let period = if key == "evaluate" { self.evaluate_every } else { self.maintain_every };
        if matches!(trigger, Trigger::Startup | Trigger::Leader) {
            return Ok(Action::requeue(period));
        }
        let Some(metrics) = self.metrics.upgrade() else { return Ok(Action::await_change()) };
        let summary = if key == "evaluate" {
            metrics.evaluate_alarms().await.map_err(|e| format!("alarm evaluation: {e}"))?
        } else {
            let m = metrics.clone();
            tokio::task::spawn_blocking(move || m.maintain())
                .await
                .map_err(|e| format!("metrics maintenance: {e}"))?
                .map_err(|e| format!("metrics maintenance: {e}"))?
        };
        tracing::debug!(job = key, %summary, "metrics job done");
        Ok(Action::requeue(period))
    }
}

/// The controllers running `metrics`'s jobs: alarm evaluation (on the leader, among several servers) and series
/// maintenance (on every server: each keeps its own series).
pub(crate) fn controllers(metrics: &Arc<Metrics>) -> [Controller<impl Reconciler<Key = &'static str>>; 2] {
    [controller(metrics, &["evaluate"]), controller(metrics, &["maintain"]).everywhere()]
}

fn controller(metrics: &Arc<Metrics>, keys: &'static [&'static str]) -> Controller<Jobs> {
    let (tx, source) = tokio::sync::watch::channel(0_i64);
    let jobs = Jobs {
        metrics: Arc::downgrade(metrics),
        keys,
        evaluate_every: metrics.config.evaluate_every.as_secs_f64().max(0.01),
        maintain_every: metrics.config.maintain_every.as_secs_f64().max(0.01),
        _source: tx,
    };
    Controller::new("metrics", Arc::new(jobs), metrics.clock.clone(), source).with_backoff(BACKOFF)
}
