//! Utilisation and reservation as ECS defines them, for the `AWS/ECS` namespace (AWS-NOTES §8): agents send what
//! each running task used (`TaskUsage`, every 10 s) with their reports; the control plane keeps the latest sample
//! of each task in memory and [`Control::ecs_metrics`] turns them into datapoints for the server to store.
//!
//! - **Service** (`ClusterName`, `ServiceName`): CPUUtilization = CPU units the service's running tasks use ÷ CPU
//!   units they reserve × 100; MemoryUtilization likewise with MiB. (Above 100 when tasks use more than they
//!   reserve, as on ECS.)
//! - **Cluster** (`ClusterName`): CPUUtilization and MemoryUtilization = what the cluster's running tasks use ÷ what
//!   its active container instances registered × 100; CPUReservation and MemoryReservation = what its tasks that
//!   hold resources reserve ÷ what the instances registered × 100.
//!
//! A sample older than [`FRESH_SECONDS`] is not counted (its agent went silent); a service or cluster with no fresh
//! sample gets no utilisation datapoint rather than a zero.

use crate::Control;
use crate::status::{InstanceStatus, TaskStatus};
use berth_model::agent::TaskUsage;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// How old a task's latest sample may be and still count, in seconds (three sampling intervals).
pub const FRESH_SECONDS: f64 = 30.0;

/// One `AWS/ECS` datapoint: a metric, its dimensions and a percentage.
#[derive(Debug, Clone, PartialEq)]
pub struct EcsDatapoint {
    /// `CPUUtilization`, `MemoryUtilization`, `CPUReservation` or `MemoryReservation`.
    pub metric: &'static str,
    /// `ClusterName`, and `ServiceName` for a service's.
    pub dimensions: Vec<(&'static str, String)>,
    /// Percent.
    pub value: f64,
}

/// The latest usage sample of each task.
#[derive(Debug, Default)]
pub(crate) struct UsageTable {
    samples: Mutex<HashMap<String, TaskUsage>>,
}

impl UsageTable {
    pub(crate) fn record(&self, usage: Vec<TaskUsage>) {
        let mut samples = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for sample in usage {
            samples.insert(sample.task_arn.clone(), sample);
        }
    }

    fn fresh(&self, now: f64) -> HashMap<String, TaskUsage> {
        let mut samples = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        samples.retain(|_, s| now - s.sampled_at <= FRESH_SECONDS * 10.0);
        samples
            .iter()
            .filter(|(_, s)| now - s.sampled_at <= FRESH_SECONDS)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Sums for one service or cluster.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    used_cpu: f64,
    used_mib: f64,
    reserved_cpu: f64,
    reserved_mib: f64,
    sampled: bool,
}

fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole * 100.0)
}

impl Control {
    /// The `ECS/ContainerInsights` datapoints at `now` of the clusters whose `containerInsights` setting is on
    /// ([`crate::insights`]).
    pub fn container_insights_metrics(&self, now: f64) -> Vec<crate::insights::InsightsDatapoint> {
        let fresh = self.usage.fresh(now);
        let state = self.cache.read();
        let enabled: std::collections::HashSet<String> = state
            .clusters
            .values()
            .map(|v| &v.record)
            .filter(|c| {
                c.settings.iter().any(|s| s.name == "containerInsights" && crate::insights::enabled(s.value.as_deref()))
            })
            .map(|c| c.name.clone())
            .collect();
        if enabled.is_empty() {
            return Vec::new();
        }
        crate::insights::datapoints(
            &enabled,
            state.tasks.values().map(|v| v.record.as_ref()),
            state.services.values().map(|v| v.record.as_ref()),
            state.instances.values().map(|v| v.record.as_ref()),
            &fresh,
        )
    }

    /// The `AWS/ECS` datapoints at `now`, from the tasks' latest usage samples and the cluster state.
    pub fn ecs_metrics(&self, now: f64) -> Vec<EcsDatapoint> {
        let fresh = self.usage.fresh(now);
        let state = self.cache.read();
        let mut services: BTreeMap<(String, String), Sums> = BTreeMap::new();
        let mut clusters: BTreeMap<String, Sums> = BTreeMap::new();
        for task in state.tasks.values().map(|v| &v.record) {
            let holds = !task.released;
            let running = task.last_status == TaskStatus::Running;
            let cluster = clusters.entry(task.cluster.clone()).or_default();
            if holds {
                cluster.reserved_cpu += task.reservation.cpu as f64;
                cluster.reserved_mib += task.reservation.memory as f64;
            }
            let Some(sample) = fresh.get(&task.arn).filter(|_| running) else { continue };
            cluster.used_cpu += sample.cpu_units;
            cluster.used_mib += sample.memory_mib;
            cluster.sampled = true;
            if let Some(service) = task.group.as_deref().and_then(|g| g.strip_prefix("service:")) {
                let sums = services.entry((task.cluster.clone(), service.to_string())).or_default();
                sums.used_cpu += sample.cpu_units;
                sums.used_mib += sample.memory_mib;
                sums.reserved_cpu += task.reservation.cpu as f64;
                sums.reserved_mib += task.reservation.memory as f64;
                sums.sampled = true;
            }
        }
        let mut registered: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for instance in state.instances.values().map(|v| &v.record) {
            if instance.status == InstanceStatus::Active {
                let r = registered.entry(instance.cluster.clone()).or_default();
                r.0 += instance.offered.cpu as f64;
                r.1 += instance.offered.memory_mib as f64;
            }
        }
        drop(state);
        for cluster in registered.keys() {
            clusters.entry(cluster.clone()).or_default();
        }
        let mut out = Vec::new();
        let mut push = |metric, dimensions: &Vec<(&'static str, String)>, value: Option<f64>| {
            if let Some(value) = value {
                out.push(EcsDatapoint { metric, dimensions: dimensions.clone(), value });
            }
        };
        for ((cluster, service), s) in &services {
            let dims = vec![("ClusterName", cluster.clone()), ("ServiceName", service.clone())];
            push("CPUUtilization", &dims, percent(s.used_cpu, s.reserved_cpu));
            push("MemoryUtilization", &dims, percent(s.used_mib, s.reserved_mib));
        }
        for (cluster, s) in &clusters {
            let (cpu, mib) = registered.get(cluster).copied().unwrap_or_default();
            let dims = vec![("ClusterName", cluster.clone())];
            if s.sampled {
                push("CPUUtilization", &dims, percent(s.used_cpu, cpu));
                push("MemoryUtilization", &dims, percent(s.used_mib, mib));
            }
            push("CPUReservation", &dims, percent(s.reserved_cpu, cpu));
            push("MemoryReservation", &dims, percent(s.reserved_mib, mib));
        }
        out
    }
}
