//! Removal of stopped tasks' containers and task-scoped volumes.
//!
//! A task that stopped without failing keeps its containers for [`EngineConfig::cleanup_wait`] (for `docker logs`
//! and inspection), as ECS's agent does with `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION`. A failed task (it failed to
//! start, its essential container exited, or it failed its health checks) keeps them for the shorter
//! [`EngineConfig::failed_cleanup_wait`], and at most [`EngineConfig::failed_tasks_kept`] failed tasks of one task
//! group keep theirs at all: the oldest beyond that are removed at once, so a crash-looping service cannot fill
//! the host with exited containers.
//!
//! [`EngineConfig::cleanup_wait`]: super::EngineConfig::cleanup_wait
//! [`EngineConfig::failed_cleanup_wait`]: super::EngineConfig::failed_cleanup_wait
//! [`EngineConfig::failed_tasks_kept`]: super::EngineConfig::failed_tasks_kept

use super::TaskState;
use crate::runtime::ContainerRuntime;
use berth_model::Timestamp;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// The stop reason the service scheduler gives a task that failed its health checks.
const HEALTH_CHECK_FAILURE: &str = "Task failed container health checks";

/// What removing one stopped task means: its containers and its task-scoped volumes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Removal {
    /// Docker container ids.
    pub container_ids: Vec<String>,
    /// Named volumes that belong to the task alone.
    pub volumes: Vec<String>,
    /// The task's own cgroup (a FARGATE task's), removed after its containers.
    pub cgroup: Option<(crate::task_cgroup::Layout, String)>,
}

impl Removal {
    /// The removal of a task's containers and volumes.
    pub fn of(task_arn: &str, task: &TaskState) -> Self {
        let mut container_ids: Vec<String> = task.containers.values().filter_map(|c| c.id.clone()).collect();
        // An awsvpc task's pause container goes last (by name: the engine does not track it as a container); a
        // task adopted without its definition may have had one too (removing a missing one is fine).
        if task.spec.as_ref().is_none_or(|s| s.network.is_some()) {
            container_ids.push(crate::awsvpc::pause_name(task_arn));
        }
        Self {
            container_ids,
            volumes: task.spec.as_ref().map(crate::convert::task_volumes).unwrap_or_default(),
            cgroup: None,
        }
    }
}

/// Whether a stopped task failed (its containers go sooner): it failed to start, its essential container exited,
/// or the service scheduler stopped it for failing its health checks.
pub fn failed(task: &TaskState) -> bool {
    matches!(task.stop_code.as_deref(), Some("TaskFailedToStart" | "EssentialContainerExited"))
        || task.stopped_reason.as_deref() == Some(HEALTH_CHECK_FAILURE)
}

/// The group a task's failures are bounded in: its task group (`service:NAME`, `family:NAME`, ...), else its
/// family.
pub fn group(task: &TaskState) -> Option<String> {
    let spec = task.spec.as_ref()?;
    Some(spec.group.clone().unwrap_or_else(|| format!("family:{}", spec.family)))
}

/// The failed tasks whose containers are still kept, per group, oldest first.
#[derive(Debug, Default)]
pub struct FailedKept {
    groups: BTreeMap<String, VecDeque<(Timestamp, Removal)>>,
}

impl FailedKept {
    /// Records a failed task of `group` stopped at `now`; returns the removals that are now over the bound of
    /// `keep` per group (oldest first), to do at once. Entries older than `wait` are forgotten: their timers have
    /// removed them.
    pub fn push(&mut self, group: &str, removal: Removal, now: Timestamp, keep: usize, wait: Duration) -> Vec<Removal> {
        let horizon = now - wait.as_secs_f64();
        let queue = self.groups.entry(group.to_string()).or_default();
        while queue.front().is_some_and(|(at, _)| *at < horizon) {
            queue.pop_front();
        }
        queue.push_back((now, removal));
        let mut due = Vec::new();
        while queue.len() > keep {
            if let Some((_, r)) = queue.pop_front() {
                due.push(r);
            }
        }
        self.groups.retain(|_, q| !q.is_empty());
        due
    }

    /// How many failed tasks of `group` keep their containers.
    pub fn kept(&self, group: &str) -> usize {
        self.groups.get(group).map_or(0, VecDeque::len)
    }
}

/// Removes a task's containers and volumes after `after`, off the engine loop. Containers already gone are fine.
pub fn spawn_removal<R: ContainerRuntime>(runtime: Arc<R>, removal: Removal, after: Duration) {
    tokio::spawn(async move {
        if !after.is_zero() {
            tokio::time::sleep(after).await;
        }
        for id in removal.container_ids {
            if let Err(error) = runtime.remove_container(&id).await
                && !error.is_not_found()
            {
                tracing::warn!(container = %id, %error, "removing a stopped container failed");
            }
        }
        for name in removal.volumes {
            if let Err(error) = runtime.remove_volume(&name).await
                && !error.is_not_found()
            {
                tracing::warn!(volume = %name, %error, "removing a task's volume failed");
            }
        }
        if let Some((layout, task_id)) = removal.cgroup {
            layout.remove(&task_id);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removal(id: &str) -> Removal {
        Removal { container_ids: vec![id.into()], volumes: Vec::new(), cgroup: None }
    }

    #[test]
    fn at_most_keep_failed_tasks_per_group() {
        let mut kept = FailedKept::default();
        let wait = Duration::from_secs(300);
        for i in 0..5 {
            assert!(kept.push("service:web", removal(&format!("c{i}")), f64::from(i), 5, wait).is_empty());
        }
        assert_eq!(kept.push("service:web", removal("c5"), 5.0, 5, wait), vec![removal("c0")]);
        assert_eq!(kept.kept("service:web"), 5);
        assert!(kept.push("service:api", removal("a0"), 6.0, 5, wait).is_empty(), "groups are bounded apart");
        // Entries past the wait were removed by their timers and no longer count.
        assert!(kept.push("service:web", removal("c6"), 400.0, 5, wait).is_empty());
        assert_eq!(kept.kept("service:web"), 1);
    }
}
