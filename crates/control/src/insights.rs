//! Container Insights: the `ECS/ContainerInsights` series of the clusters whose `containerInsights` setting is
//! `enabled` or `enhanced` (AWS-NOTES §8; CloudWatch's "Amazon ECS Container Insights metrics").
//!
//! Computed from the same per-task usage samples as the `AWS/ECS` series ([`crate::utilization`]) and the cached
//! records, every time the server publishes (every 10 s), as absolute figures rather than percentages:
//! - **Cluster** (`ClusterName`): CpuUtilized, CpuReserved (CPU units), MemoryUtilized, MemoryReserved (MiB, unit
//!   Megabytes) over its running tasks; TaskCount (running tasks), ServiceCount (active services),
//!   ContainerInstanceCount (active container instances).
//! - **Service** (`ClusterName`, `ServiceName`): the four resource figures, RunningTaskCount, PendingTaskCount,
//!   DesiredTaskCount and DeploymentCount.
//! - **Task definition family** (`ClusterName`, `TaskDefinitionFamily`): the four resource figures and
//!   RunningTaskCount.
//! - **Task** (`ClusterName`, `TaskDefinitionFamily`, `TaskId`): the four resource figures of each running task.
//!   Amazon publishes per-task series only with `enhanced`; Berth publishes them with `enabled` too (they cost one
//!   series per task and are what people look at first).
//!
//! Not published (the agent does not sample them yet): network and storage bytes, ephemeral storage, per-container
//! series, TaskSetCount.

use crate::records::{InstanceRecord, ServiceRecord, TaskRecord};
use crate::status::{InstanceStatus, ServiceStatus, TaskStatus};
use berth_model::agent::TaskUsage;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The namespace of the series.
pub const NAMESPACE: &str = "ECS/ContainerInsights";

/// The unit of a Container Insights datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsightsUnit {
    /// CPU units (CloudWatch unit `None`).
    None,
    /// MiB (CloudWatch unit `Megabytes`).
    Megabytes,
    /// A count.
    Count,
}

/// One `ECS/ContainerInsights` datapoint.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsDatapoint {
    /// The metric's name (`CpuUtilized`, `RunningTaskCount`, ...).
    pub metric: &'static str,
    /// Its dimensions.
    pub dimensions: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
    /// The unit.
    pub unit: InsightsUnit,
}

/// Whether a cluster setting value turns Container Insights on.
pub fn enabled(value: Option<&str>) -> bool {
    matches!(value, Some("enabled" | "enhanced"))
}

/// CPU and memory used and reserved.
#[derive(Debug, Default, Clone, Copy)]
struct Resources {
    cpu_used: f64,
    cpu_reserved: f64,
    mib_used: f64,
    mib_reserved: f64,
}

impl Resources {
    fn add(&mut self, task: &TaskRecord, sample: Option<&TaskUsage>) {
        self.cpu_reserved += task.reservation.cpu as f64;
        self.mib_reserved += task.reservation.memory as f64;
        if let Some(sample) = sample {
            self.cpu_used += sample.cpu_units;
            self.mib_used += sample.memory_mib;
        }
    }
}

/// Counts and resources of one group of tasks.
#[derive(Debug, Default, Clone, Copy)]
struct Group {
    resources: Resources,
    running: usize,
    pending: usize,
}

/// The family of a task definition ARN (`.../task-definition/<family>:<revision>`).
fn family_of(task_definition_arn: &str) -> &str {
    let name = task_definition_arn.rsplit('/').next().unwrap_or(task_definition_arn);
    name.rsplit_once(':').map_or(name, |(family, _)| family)
}

/// The task id of a task ARN.
fn task_id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What the records and samples give, for the clusters named in `enabled_clusters`. `samples` holds the fresh
/// sample of each task by ARN; a running task without one counts as reserved but not used.
pub fn datapoints<'a>(
    enabled_clusters: &HashSet<String>,
    tasks: impl IntoIterator<Item = &'a TaskRecord>,
    services: impl IntoIterator<Item = &'a ServiceRecord>,
    instances: impl IntoIterator<Item = &'a InstanceRecord>,
    samples: &HashMap<String, TaskUsage>,
) -> Vec<InsightsDatapoint> {
    let mut clusters: BTreeMap<&str, Group> = enabled_clusters.iter().map(|c| (c.as_str(), Group::default())).collect();
    let mut by_service: BTreeMap<(&str, &str), Group> = BTreeMap::new();
    let mut by_family: BTreeMap<(&str, &str), Group> = BTreeMap::new();
    let mut out = Vec::new();
    for task in tasks {
        if !enabled_clusters.contains(&task.cluster) {
            continue;
        }
        let running = task.last_status == TaskStatus::Running;
        let pending = !running && task.last_status < TaskStatus::Running && !task.released;
        let service = task.group.as_deref().and_then(|g| g.strip_prefix("service:"));
        let family = family_of(&task.task_definition_arn);
        if let Some(service) = service {
            let group = by_service.entry((task.cluster.as_str(), service)).or_default();
            group.pending += usize::from(pending);
        }
        if !running {
            continue;
        }
        let sample = samples.get(&task.arn);
        let mut own = Resources::default();
        own.add(task, sample);
        for group in [
            clusters.entry(task.cluster.as_str()).or_default(),
            by_family.entry((task.cluster.as_str(), family)).or_default(),
        ]
        .into_iter()
        .chain(service.map(|s| by_service.entry((task.cluster.as_str(), s)).or_default()))
        {
            group.running += 1;
            group.resources.add(task, sample);
        }
        let dims = vec![
            ("ClusterName", task.cluster.clone()),
            ("TaskDefinitionFamily", family.to_string()),
            ("TaskId", task_id_of(&task.arn).to_string()),
        ];
        push_resources(&mut out, &dims, &own);
    }
    for ((cluster, family), group) in &by_family {
        let dims = vec![("ClusterName", cluster.to_string()), ("TaskDefinitionFamily", family.to_string())];
        push_resources(&mut out, &dims, &group.resources);
        push_count(&mut out, "RunningTaskCount", &dims, group.running);
    }
    let mut service_count: HashMap<&str, usize> = HashMap::new();
    for service in services {
        if !enabled_clusters.contains(&service.cluster) || service.status != ServiceStatus::Active {
            continue;
        }
        *service_count.entry(service.cluster.as_str()).or_default() += 1;
        let group = by_service.get(&(service.cluster.as_str(), service.name.as_str())).copied().unwrap_or_default();
        let dims = vec![("ClusterName", service.cluster.clone()), ("ServiceName", service.name.clone())];
        push_resources(&mut out, &dims, &group.resources);
        push_count(&mut out, "RunningTaskCount", &dims, group.running);
        push_count(&mut out, "PendingTaskCount", &dims, group.pending);
        push_count(&mut out, "DesiredTaskCount", &dims, usize::try_from(service.desired_count).unwrap_or(0));
        // An EXTERNAL service's deployments are its task sets.
        let deployments = if service.is_external() { service.task_sets.len() } else { service.deployments.len() };
        push_count(&mut out, "DeploymentCount", &dims, deployments);
    }
    let mut instance_count: HashMap<&str, usize> = HashMap::new();
    for instance in instances {
        if instance.status == InstanceStatus::Active && enabled_clusters.contains(&instance.cluster) {
            *instance_count.entry(instance.cluster.as_str()).or_default() += 1;
        }
    }
    for (cluster, group) in &clusters {
        let dims = vec![("ClusterName", cluster.to_string())];
        push_resources(&mut out, &dims, &group.resources);
        push_count(&mut out, "TaskCount", &dims, group.running);
        push_count(&mut out, "ServiceCount", &dims, service_count.get(cluster).copied().unwrap_or(0));
        push_count(&mut out, "ContainerInstanceCount", &dims, instance_count.get(cluster).copied().unwrap_or(0));
    }
    out
}

fn push_resources(out: &mut Vec<InsightsDatapoint>, dims: &[(&'static str, String)], r: &Resources) {
    for (metric, value, unit) in [
        ("CpuUtilized", r.cpu_used, InsightsUnit::None),
        ("CpuReserved", r.cpu_reserved, InsightsUnit::None),
        ("MemoryUtilized", r.mib_used, InsightsUnit::Megabytes),
        ("MemoryReserved", r.mib_reserved, InsightsUnit::Megabytes),
    ] {
        out.push(InsightsDatapoint { metric, dimensions: dims.to_vec(), value, unit });
    }
}

fn push_count(out: &mut Vec<InsightsDatapoint>, metric: &'static str, dims: &[(&'static str, String)], n: usize) {
    out.push(InsightsDatapoint { metric, dimensions: dims.to_vec(), value: n as f64, unit: InsightsUnit::Count });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Reservation;

    fn task(cluster: &str, id: &str, family: &str, service: Option<&str>, status: TaskStatus) -> TaskRecord {
        TaskRecord {
            arn: format!("arn:aws:ecs:us-east-1:000000000000:task/{cluster}/{id}"),
            cluster: cluster.into(),
            task_definition_arn: format!("arn:aws:ecs:us-east-1:000000000000:task-definition/{family}:3"),
            group: Some(service.map_or(format!("family:{family}"), |s| format!("service:{s}"))),
            last_status: status,
            reservation: Reservation { cpu: 1024, memory: 512, ..Default::default() },
            ..Default::default()
        }
    }

    fn usage(arn: &str, cpu: f64, mib: f64) -> (String, TaskUsage) {
        (arn.to_string(), TaskUsage { task_arn: arn.into(), cpu_units: cpu, memory_mib: mib, sampled_at: 0.0 })
    }

    fn value(points: &[InsightsDatapoint], metric: &str, dims: &[(&str, &str)]) -> Option<f64> {
        points
            .iter()
            .find(|p| {
                p.metric == metric
                    && p.dimensions.len() == dims.len()
                    && p.dimensions.iter().zip(dims).all(|((k, v), (dk, dv))| k == dk && v == dv)
            })
            .map(|p| p.value)
    }

    #[test]
    fn figures_per_cluster_service_family_and_task() {
        let tasks = [
            task("c", "t1", "web", Some("api"), TaskStatus::Running),
            task("c", "t2", "web", Some("api"), TaskStatus::Running),
            task("c", "t3", "web", Some("api"), TaskStatus::Pending),
            task("c", "t4", "batch", None, TaskStatus::Running),
            task("c", "t5", "web", Some("api"), TaskStatus::Stopped),
            task("off", "t6", "web", None, TaskStatus::Running),
        ];
        let samples: HashMap<_, _> = [
            usage(&tasks[0].arn, 512.0, 100.0),
            usage(&tasks[1].arn, 256.0, 50.0),
            usage(&tasks[3].arn, 100.0, 10.0),
            usage(&tasks[5].arn, 999.0, 999.0),
        ]
        .into();
        let service = ServiceRecord {
            name: "api".into(),
            cluster: "c".into(),
            status: ServiceStatus::Active,
            desired_count: 3,
            ..Default::default()
        };
        let instance = InstanceRecord { cluster: "c".into(), status: InstanceStatus::Active, ..Default::default() };
        let enabled: HashSet<String> = ["c".to_string()].into();
        let points = datapoints(&enabled, &tasks, [&service], [&instance], &samples);

        let c = [("ClusterName", "c")];
        assert_eq!(value(&points, "CpuUtilized", &c), Some(868.0));
        assert_eq!(value(&points, "CpuReserved", &c), Some(3072.0));
        assert_eq!(value(&points, "MemoryUtilized", &c), Some(160.0));
        assert_eq!(value(&points, "TaskCount", &c), Some(3.0));
        assert_eq!(value(&points, "ServiceCount", &c), Some(1.0));
        assert_eq!(value(&points, "ContainerInstanceCount", &c), Some(1.0));

        let s = [("ClusterName", "c"), ("ServiceName", "api")];
        assert_eq!(value(&points, "CpuUtilized", &s), Some(768.0));
        assert_eq!(value(&points, "RunningTaskCount", &s), Some(2.0));
        assert_eq!(value(&points, "PendingTaskCount", &s), Some(1.0));
        assert_eq!(value(&points, "DesiredTaskCount", &s), Some(3.0));

        let f = [("ClusterName", "c"), ("TaskDefinitionFamily", "web")];
        assert_eq!(value(&points, "RunningTaskCount", &f), Some(2.0));
        assert_eq!(value(&points, "MemoryReserved", &f), Some(1024.0));

        let t = [("ClusterName", "c"), ("TaskDefinitionFamily", "batch"), ("TaskId", "t4")];
        assert_eq!(value(&points, "CpuUtilized", &t), Some(100.0));
        assert_eq!(value(&points, "CpuReserved", &t), Some(1024.0));

        assert!(points.iter().all(|p| p.dimensions[0].1 == "c"), "a cluster without the setting publishes nothing");
        assert!(points.iter().all(|p| p.dimensions.iter().all(|(_, v)| v != "t5")), "stopped tasks have no series");
    }

    #[test]
    fn the_setting_values_that_turn_it_on() {
        assert!(enabled(Some("enabled")) && enabled(Some("enhanced")));
        assert!(!enabled(Some("disabled")) && !enabled(None));
    }
}
