//! The live placement state: one `berth_scheduler::ClusterState` per cluster, kept current by the cache as it
//! applies the watch, so that a placement neither rebuilds the scheduler's view from the records nor copies it.
//!
//! # Design
//! - **Fed by the cache.** Every event that touches a container instance (its record put or deleted, a task on it
//!   put or deleted) marks the instance dirty; after each batch of events the cache recomputes the dirty instances
//!   with [`crate::placement::record_instance`], the function the scheduler's view was always built with, and
//!   replaces them in the engine (`update_instance`, `remove_instance`). `INACTIVE` instances are left out, as
//!   placement always left them out. The cost is the instance's own tasks, not the cluster's size.
//! - **Placements in flight.** [`ClusterState::place`] reserves what it places. Those reservations are kept as
//!   *pending* entries until the store write that carries them is seen: when an instance is recomputed from its
//!   record, the pending entries its record does not include yet (not committed, or committed after the record's
//!   revision) are reserved again on top. A placement that lost its compare-and-swap, failed, or was dropped gives
//!   its entries back ([`Ticket`] does it on drop). So concurrent placements see each other's choices before
//!   they commit, and the compare-and-swap on the instance records stays the only guarantee.
//! - **Agent connectivity** is the record's `agentConnected` (written by the liveness controller when it flips),
//!   with the in-memory [`crate::agents::AgentHub`] as an overlay applied at placement time: an instance the engine
//!   chose whose agent has gone silent (the record not yet updated) is marked silent here, the call's placements
//!   are undone and it places again; silent instances are looked at again on every placement and restored once
//!   their agent speaks. Failure reasons are corrected to `AGENT` for silent agents.
//! - **Host paths** are allowed by prefix, which the demand cannot say: for a task with host paths, the instances
//!   advertising [`HOST_PATH`] whose prefixes do not cover the task's paths are shown without it for the call
//!   (and restored after), like `placement::gate_host_paths` did on a fresh view.
//!
//! Lock order: the cache's state lock, then a cluster's mutex. The mutex is held only while the engine works
//! (microseconds), never across a store write.

use crate::placement::gate_host_paths;
use berth_model::host_access::{HOST_PATH, HostNeeds};
use berth_scheduler::{ClusterState, Failure, FailureReason, Instance, StateError, TaskDemand};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A cluster's live placement state, shared between the cache (which keeps it current) and placements.
pub type SharedCluster = Arc<Shared>;

/// A cluster's live state behind its mutex, with the tickets settled while the mutex was taken.
#[derive(Debug, Default)]
pub struct Shared {
    cluster: Mutex<LiveCluster>,
    /// Tickets settled (`Some` revision: committed) while someone held `cluster`, even the settling thread
    /// itself: applied by the next [`lock`], so that dropping a ticket never waits for (or deadlocks on) the mutex.
    settled: Mutex<Vec<Settled>>,
}

/// A settled ticket: its id, its instances, and the revision that committed it (`None`: given back).
type Settled = (u64, Vec<String>, Option<i64>);

impl Shared {
    /// Every instance's current view, sorted by ARN (with the placements in flight).
    pub fn instances(&self) -> Vec<Instance> {
        lock(self).instances()
    }
}

/// Locks a cluster's live state (a panic while it was held leaves it usable: every update is one engine call),
/// first applying the tickets settled meanwhile.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, LiveCluster> {
    let mut guard = shared.cluster.lock().unwrap_or_else(|p| p.into_inner());
    let settled = std::mem::take(&mut *shared.settled.lock().unwrap_or_else(|p| p.into_inner()));
    for (ticket, arns, committed) in settled {
        guard.resolve(ticket, &arns, committed);
    }
    guard
}

/// Settles a ticket now if the mutex is free, else leaves it for the next [`lock`].
fn settle(shared: &Shared, ticket: u64, arns: Vec<String>, committed: Option<i64>) {
    // The guard `try_lock` returns is dropped at the end of this statement, before anything else locks.
    let busy = matches!(shared.cluster.try_lock(), Err(std::sync::TryLockError::WouldBlock));
    shared.settled.lock().unwrap_or_else(|p| p.into_inner()).push((ticket, arns, committed));
    if !busy {
        // Free a moment ago: take the lock properly, which applies the queue.
        drop(lock(shared));
    }
}

/// What the live state knows about one instance besides the engine's view.
#[derive(Debug, Clone)]
struct Meta {
    /// The instance id.
    id: String,
    /// The `mod_revision` of the record the engine's view was computed from.
    revision: i64,
    /// The record's `agentConnected`.
    record_connected: bool,
}

/// A reservation placed but not yet seen in the instance's record.
#[derive(Debug, Clone)]
struct Pending {
    ticket: u64,
    demand: TaskDemand,
    /// The revision that committed it, once known.
    committed: Option<i64>,
}

/// One cluster's scheduler state with its instances' revisions and the placements in flight.
#[derive(Debug, Default)]
pub struct LiveCluster {
    engine: ClusterState,
    ids: HashMap<String, String>,
    meta: HashMap<String, Meta>,
    pending: HashMap<String, Vec<Pending>>,
    silent: HashSet<String>,
    host_path: HashSet<String>,
}

/// The outcome of one placement on the live state.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The chosen instance ARN of each placed task.
    pub placed: Vec<String>,
    /// Per instance, why the next task fits nowhere (when fewer than asked were placed).
    pub failures: Vec<Failure>,
    /// The closest matching instance and why it did not fit.
    pub closest: Option<(String, String)>,
}

static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

/// The pending reservations of one placement. Resolve it with [`Ticket::committed`] once the store accepted the
/// write; dropped unresolved (conflict, error, cancelled request), it gives the reservations back.
#[derive(Debug)]
pub(crate) struct Ticket {
    cluster: SharedCluster,
    id: u64,
    arns: Vec<String>,
    done: bool,
}

impl Ticket {
    /// The write carrying these reservations committed at `revision`: they stay until the cache applies it.
    pub(crate) fn committed(mut self, revision: i64) {
        self.done = true;
        settle(&self.cluster, self.id, std::mem::take(&mut self.arns), Some(revision));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            settle(&self.cluster, self.id, std::mem::take(&mut self.arns), None);
        }
    }
}

/// Only what a reservation holds (what [`ClusterState::release`] gives back).
fn held(demand: &TaskDemand) -> TaskDemand {
    TaskDemand {
        cpu: demand.cpu,
        memory: demand.memory,
        ephemeral_storage_gib: demand.ephemeral_storage_gib,
        tcp_ports: demand.tcp_ports.clone(),
        udp_ports: demand.udp_ports.clone(),
        group: demand.group.clone(),
        ..TaskDemand::default()
    }
}

impl LiveCluster {
    /// Number of (non-`INACTIVE`) instances.
    pub fn len(&self) -> usize {
        self.engine.len()
    }

    /// Whether the cluster has no (non-`INACTIVE`) instance.
    pub fn is_empty(&self) -> bool {
        self.engine.is_empty()
    }

    /// The engine (read-only; for tests and benchmarks).
    pub fn engine(&self) -> &ClusterState {
        &self.engine
    }

    /// The id of the instance `arn`.
    pub(crate) fn id_of(&self, arn: &str) -> Option<&str> {
        self.meta.get(arn).map(|m| m.id.as_str())
    }

    /// The instance's current view, with the reservations in flight.
    pub(crate) fn instance(&self, arn: &str) -> Option<Instance> {
        self.engine.instance(arn)
    }

    /// Puts the view of an instance computed from its record at `revision` (replacing the previous one), then
    /// reserves again the placements in flight that the record does not include yet.
    pub(crate) fn put(&mut self, mut instance: Instance, revision: i64) {
        let arn = instance.arn.clone();
        if let Some(old) = self.ids.insert(instance.id.clone(), arn.clone())
            && old != arn
        {
            self.forget(&old);
        }
        let record_connected = instance.agent_connected;
        if self.silent.contains(&arn) {
            instance.agent_connected = false;
        }
        if instance.attributes.contains_key(HOST_PATH) {
            self.host_path.insert(arn.clone());
        } else {
            self.host_path.remove(&arn);
        }
        self.meta.insert(arn.clone(), Meta { id: instance.id.clone(), revision, record_connected });
        self.engine.update_instance(instance);
        if let Some(list) = self.pending.get_mut(&arn) {
            list.retain(|p| p.committed.is_none_or(|r| r > revision));
            for p in list.iter() {
                let _ = self.engine.reserve(&arn, &p.demand);
            }
            if list.is_empty() {
                self.pending.remove(&arn);
            }
        }
    }

    /// Removes the instance with this id (deleted, or now `INACTIVE`).
    pub(crate) fn remove(&mut self, id: &str) {
        if let Some(arn) = self.ids.remove(id) {
            self.forget(&arn);
        }
    }

    fn forget(&mut self, arn: &str) {
        self.engine.remove_instance(arn);
        self.meta.remove(arn);
        self.pending.remove(arn);
        self.silent.remove(arn);
        self.host_path.remove(arn);
    }

    /// Replaces one instance's view by a changed copy (the reservations in flight are part of the copy).
    fn rewrite(&mut self, arn: &str, change: impl FnOnce(&mut Instance)) {
        if let Some(mut instance) = self.engine.instance(arn) {
            change(&mut instance);
            self.engine.update_instance(instance);
        }
    }

    /// Restores the instances marked silent whose agents have spoken since.
    fn refresh_silent(&mut self, connected: &dyn Fn(&str) -> bool) {
        if self.silent.is_empty() {
            return;
        }
        let back: Vec<(String, bool)> = self
            .silent
            .iter()
            .filter_map(|arn| self.meta.get(arn).map(|m| (arn, m)))
            .filter(|(_, m)| connected(&m.id))
            .map(|(arn, m)| (arn.clone(), m.record_connected))
            .collect();
        for (arn, record_connected) in back {
            self.silent.remove(&arn);
            self.rewrite(&arn, |i| i.agent_connected = record_connected);
        }
    }

    /// Whether the agent of the instance `arn` has been heard from (per `connected`, which takes an id).
    fn heard(&self, arn: &str, connected: &dyn Fn(&str) -> bool) -> bool {
        self.meta.get(arn).is_none_or(|m| connected(&m.id))
    }

    /// Places `count` tasks of `demand`; the placed tasks stay reserved under the returned ticket.
    pub(crate) fn place(
        &mut self,
        cluster: &SharedCluster,
        demand: &TaskDemand,
        count: usize,
        needs: &HostNeeds,
        connected: &dyn Fn(&str) -> bool,
    ) -> (Outcome, Ticket) {
        self.refresh_silent(connected);
        let gated = self.gate(needs);
        let mut rng = rand::rng();
        let placement = loop {
            let placement = self.engine.place(demand, count, &mut rng);
            let silent: HashSet<String> =
                placement.placed.iter().filter(|arn| !self.heard(arn, connected)).cloned().collect();
            if silent.is_empty() {
                break placement;
            }
            for arn in &placement.placed {
                let _ = self.engine.release(arn, demand);
            }
            for arn in silent {
                self.rewrite(&arn, |i| i.agent_connected = false);
                self.silent.insert(arn);
            }
        };
        let closest = if placement.placed.len() < count { self.engine.closest_match(demand) } else { None };
        let mut failures = placement.failures;
        for failure in &mut failures {
            let Some(arn) = failure.arn.clone() else { continue };
            let reason = failure.reason.as_str();
            let earlier = [FailureReason::Inactive, FailureReason::Draining, FailureReason::Agent]
                .iter()
                .any(|r| r.ecs_reason() == reason);
            if !earlier && !self.heard(&arn, connected) {
                *failure = Failure::for_instance(&arn, FailureReason::Agent);
            }
        }
        self.ungate(gated);
        let ticket = self.hold(cluster, &placement.placed, demand, false);
        (Outcome { placed: placement.placed, failures, closest }, ticket)
    }

    /// Records placements made elsewhere (on a view of a few instances) as in flight here: reserves them and
    /// returns their ticket.
    pub(crate) fn reserve(&mut self, cluster: &SharedCluster, placed: &[String], demand: &TaskDemand) -> Ticket {
        self.hold(cluster, placed, demand, true)
    }

    fn hold(&mut self, cluster: &SharedCluster, placed: &[String], demand: &TaskDemand, reserve: bool) -> Ticket {
        let id = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
        let mut arns = Vec::new();
        for arn in placed {
            if reserve && self.engine.reserve(arn, demand).is_err() {
                continue;
            }
            self.pending.entry(arn.clone()).or_default().push(Pending {
                ticket: id,
                demand: held(demand),
                committed: None,
            });
            if !arns.contains(arn) {
                arns.push(arn.clone());
            }
        }
        Ticket { cluster: cluster.clone(), id, arns, done: false }
    }

    /// Settles a ticket's entries: committed at `revision`, they stay until the record shows them (dropped now if
    /// it already does); otherwise they are given back.
    fn resolve(&mut self, ticket: u64, arns: &[String], committed: Option<i64>) {
        for arn in arns {
            let seen = self.meta.get(arn).map(|m| m.revision);
            let Some(list) = self.pending.get_mut(arn) else { continue };
            let mut give_back = Vec::new();
            list.retain_mut(|p| {
                if p.ticket != ticket {
                    return true;
                }
                match committed {
                    Some(r) if seen.is_none_or(|s| s < r) => {
                        p.committed = Some(r);
                        true
                    }
                    _ => {
                        give_back.push(p.demand.clone());
                        false
                    }
                }
            });
            if list.is_empty() {
                self.pending.remove(arn);
            }
            for demand in give_back {
                let _ = self.engine.release(arn, &demand);
            }
        }
    }

    /// Hides [`HOST_PATH`] on the instances whose prefixes do not cover the task's host paths; returns what to
    /// restore.
    fn gate(&mut self, needs: &HostNeeds) -> Vec<(String, Option<String>)> {
        if needs.host_paths.is_empty() {
            return Vec::new();
        }
        let mut gated = Vec::new();
        let arns: Vec<String> = self.host_path.iter().cloned().collect();
        for arn in arns {
            let Some(mut instance) = self.engine.instance(&arn) else { continue };
            let value = instance.attributes.get(HOST_PATH).cloned().flatten();
            gate_host_paths(&mut instance, needs);
            if !instance.attributes.contains_key(HOST_PATH) {
                self.engine.update_instance(instance);
                gated.push((arn, value));
            }
        }
        gated
    }

    fn ungate(&mut self, gated: Vec<(String, Option<String>)>) {
        for (arn, value) in gated {
            self.rewrite(&arn, |i| {
                i.attributes.insert(HOST_PATH.to_string(), value);
            });
        }
    }

    /// Whether one task of `demand` fits on the instance now (`Ok(None)`), else the first check it fails.
    pub(crate) fn check(&self, arn: &str, demand: &TaskDemand) -> Result<Option<FailureReason>, StateError> {
        self.engine.check(arn, demand)
    }

    /// Every instance's view, sorted by ARN (for the equivalence test).
    pub fn instances(&self) -> Vec<Instance> {
        self.engine.instances()
    }
}

#[cfg(test)]
#[path = "live_placement_tests.rs"]
mod tests;
