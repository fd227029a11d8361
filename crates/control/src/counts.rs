//! Counts of what the control plane holds, for `/metrics` (the server's Prometheus gauges).

use crate::Control;
use std::collections::BTreeMap;

/// How many tasks, container instances, services and clusters the cache holds, by status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthCounts {
    /// Tasks by last status (`RUNNING`, `STOPPED`, ...), including stopped tasks still kept.
    pub tasks_by_status: BTreeMap<&'static str, usize>,
    /// Container instances by status (`ACTIVE`, `DRAINING`, ...).
    pub instances_by_status: BTreeMap<&'static str, usize>,
    /// Container instances whose agent is connected.
    pub agents_connected: usize,
    /// Services by status.
    pub services_by_status: BTreeMap<&'static str, usize>,
    /// Clusters (active and inactive).
    pub clusters: usize,
    /// The store's revision.
    pub store_revision: i64,
}

impl Control {
    /// The counts `/metrics` shows, from the cache (no store read).
    pub fn health_counts(&self) -> HealthCounts {
        let state = self.cache.read();
        let mut counts = HealthCounts { clusters: state.clusters.len(), ..HealthCounts::default() };
        for task in state.tasks.values() {
            *counts.tasks_by_status.entry(task.record.last_status.as_str()).or_default() += 1;
        }
        for instance in state.instances.values() {
            *counts.instances_by_status.entry(instance.record.status.as_str()).or_default() += 1;
            counts.agents_connected += usize::from(instance.record.agent_connected);
        }
        for service in state.services.values() {
            *counts.services_by_status.entry(service.record.status.as_str()).or_default() += 1;
        }
        drop(state);
        counts.store_revision = self.store.revision();
        counts
    }
}
