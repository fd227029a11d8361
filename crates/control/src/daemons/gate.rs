//! The placement gate of new instances and the return of daemon-drained instances.
//!
//! An instance that registers while an ACTIVE daemon covers its node group gets `daemon_gate_until` (now +
//! [`super::GATE_SECONDS`]) in its registration write; while it is set, the scheduler sees the instance as
//! REGISTERING, so no other task is placed there (the daemon scheduler places daemon tasks itself). The gate is
//! released when every daemon covering the instance has a RUNNING task on it, or when the time is up, so a broken
//! daemon cannot keep the instance out of service. An instance the daemon scheduler drained (`daemon_drain`)
//! becomes ACTIVE again when every covering daemon runs on it (or none covers it any more).

use super::{daemons_covering, is_running, tasks_on};
use crate::cache::State;
use crate::optimistic::Attempt;
use crate::records::{InstanceRecord, keys};
use crate::status::InstanceStatus;
use crate::{Control, Result, encode};
use berth_runtime::Action;
use berth_store::Txn;

/// Whether the instance is held by a daemon: gated, or drained for a stopped daemon task.
pub(crate) fn held(record: &InstanceRecord) -> bool {
    record.daemon_gate_until.is_some() || record.daemon_drain.is_some()
}

/// Whether every daemon covering the instance runs a task on it.
fn daemons_run_on(state: &State, record: &InstanceRecord) -> bool {
    let Some(group) = record.node_group.as_deref() else { return true };
    daemons_covering(state, &record.cluster, group)
        .iter()
        .all(|daemon| tasks_on(state, daemon, &record.id).iter().any(|t| is_running(t)))
}

/// The instance as it should be now, or `None` when nothing changes.
fn released(state: &State, record: &InstanceRecord, now: f64) -> Option<InstanceRecord> {
    let running = daemons_run_on(state, record);
    let mut out = record.clone();
    if let Some(until) = record.daemon_gate_until
        && (running || now >= until)
    {
        if !running {
            tracing::warn!(instance = %record.id, "the daemon tasks of a new instance did not start in time; \
                other tasks may be placed there now");
        }
        out.daemon_gate_until = None;
    }
    if record.daemon_drain.is_some() && running {
        out.daemon_drain = None;
        if out.status == InstanceStatus::Draining {
            out.status = InstanceStatus::Active;
        }
    }
    if out == *record {
        return None;
    }
    out.version += 1;
    Some(out)
}

/// A new instance's gate: set when an ACTIVE daemon of its cluster covers its node group.
pub(crate) fn gate_for_new_instance(state: &State, record: &InstanceRecord, now: f64) -> Option<f64> {
    let group = record.node_group.as_deref()?;
    (!daemons_covering(state, &record.cluster, group).is_empty()).then_some(now + super::GATE_SECONDS)
}

impl Control {
    /// Releases the gates and daemon drains that are over; requeued at the next gate's end.
    pub(crate) async fn release_instances(&self) -> Result<Action> {
        let held: Vec<(String, String)> = {
            let state = self.cache.read();
            state.instances.iter().filter(|(_, v)| held(&v.record)).map(|(k, _)| k.clone()).collect()
        };
        for key in &held {
            self.write("releasing a daemon-held instance", |state, now| {
                let Some(v) = state.instances.get(key) else { return Ok(Attempt::Done(())) };
                let Some(record) = released(state, &v.record, now) else { return Ok(Attempt::Done(())) };
                let store_key = keys::instance(&record.cluster, &record.id);
                let txn = Txn::new().expect(store_key.clone(), v.mod_revision).put(store_key, encode(&record)?);
                Ok(Attempt::Commit(txn, ()))
            })
            .await?;
        }
        let now = self.now();
        let state = self.cache.read();
        let next = state
            .instances
            .values()
            .filter_map(|v| v.record.daemon_gate_until)
            .map(|until| (until - now).max(0.1))
            .fold(super::controller::RESYNC_SECONDS, f64::min);
        Ok(Action::requeue(next))
    }
}
