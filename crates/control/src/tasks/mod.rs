//! Tasks: the lifecycle rules shared by RunTask, StartTask, StopTask, the agents' reports and the controllers.
//!
//! A task's `lastStatus` only moves forward through ECS's lifecycle: PROVISIONING, PENDING, ACTIVATING, RUNNING,
//! DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED. Every change is recorded in the record's `transitions` with
//! its time, and bumps the task's `version`.

mod describe;
pub mod launch;
pub(crate) mod run;
pub(crate) mod stop;

pub(crate) use run::DefaultStrategy;
pub use run::build_demand;

use crate::records::TaskRecord;
use crate::status::{DesiredStatus, TaskStatus};
use berth_model::Timestamp;
use berth_model::ecs::{HealthStatus, Task, TaskStopCode};

/// ECS's task statuses, in lifecycle order.
pub const LIFECYCLE: [TaskStatus; 8] = [
    TaskStatus::Provisioning,
    TaskStatus::Pending,
    TaskStatus::Activating,
    TaskStatus::Running,
    TaskStatus::Deactivating,
    TaskStatus::Stopping,
    TaskStatus::Deprovisioning,
    TaskStatus::Stopped,
];

/// Moves a task's `lastStatus` forward to `status` (never backward), recording the transition and the timestamps
/// ECS sets on the way. Returns whether anything changed.
pub fn advance_status(record: &mut TaskRecord, status: TaskStatus, now: Timestamp) -> bool {
    // A text this build does not know reads as the start of the lifecycle.
    let current = record.last_status().unwrap_or(TaskStatus::Provisioning);
    if status <= current {
        return false;
    }
    // Record every intermediate status too, so the history reads as the lifecycle does.
    for step in LIFECYCLE.into_iter().filter(|s| *s > current && *s <= status) {
        record.transitions.push(crate::records::Transition { status: step.as_str().to_string(), at: now });
        let task = &mut record.task;
        match step {
            TaskStatus::Pending => {
                task.connectivity = Some(berth_model::ecs::Connectivity::Connected);
                task.connectivity_at.get_or_insert(now);
            }
            TaskStatus::Running => {
                task.started_at.get_or_insert(now);
            }
            TaskStatus::Deactivating | TaskStatus::Stopping => {
                task.stopping_at.get_or_insert(now);
            }
            TaskStatus::Stopped => {
                task.execution_stopped_at.get_or_insert(now);
                task.stopped_at = Some(now);
                task.connectivity = Some(berth_model::ecs::Connectivity::Disconnected);
            }
            _ => {}
        }
    }
    record.task.last_status = Some(status.as_str().to_string());
    record.task.version += 1;
    true
}

/// Sets a task's desired status to STOPPED with a reason and stop code (the first stop reason wins), and moves a
/// task that was RUNNING to DEACTIVATING. `immediate` also marks a task that no agent will ever stop as STOPPED.
pub fn stop_record(record: &mut TaskRecord, now: Timestamp, reason: &str, stop_code: &str, immediate: bool) {
    if record.desired_status() != Some(DesiredStatus::Stopped) {
        record.set_desired_status(DesiredStatus::Stopped);
        let task = &mut record.task;
        task.stopped_reason = Some(reason.to_string());
        task.stop_code = TaskStopCode::parse(stop_code);
        task.stopping_at.get_or_insert(now);
        task.version += 1;
    }
    if immediate {
        advance_status(record, TaskStatus::Stopped, now);
    } else if record.last_status() == Some(TaskStatus::Running) {
        advance_status(record, TaskStatus::Deactivating, now);
    }
}

/// The task's health from its essential containers: HEALTHY when every essential container with a health check
/// is HEALTHY, UNHEALTHY when any is UNHEALTHY, UNKNOWN otherwise (as ECS defines it).
pub fn task_health(record: &TaskRecord) -> HealthStatus {
    let mut any_checked = false;
    let mut all_healthy = true;
    for (spec, container) in record.containers.iter().zip(record.task.containers.iter().flatten()) {
        if spec.definition.essential == Some(false) || spec.definition.health_check.is_none() {
            continue;
        }
        any_checked = true;
        match container.health_status {
            Some(HealthStatus::Unhealthy) => return HealthStatus::Unhealthy,
            Some(HealthStatus::Healthy) => {}
            _ => all_healthy = false,
        }
    }
    if any_checked && all_healthy { HealthStatus::Healthy } else { HealthStatus::Unknown }
}

/// The task as DescribeTasks shows it.
pub fn render_task(record: &TaskRecord, with_tags: bool) -> Task {
    let mut task = record.task.clone();
    if !with_tags {
        task.tags = None;
    }
    crate::exec::render_managed_agents(&mut task);
    task
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Reservation, TaskRecord, Transition};
    use berth_model::agent::ContainerSpec;
    use berth_model::ecs::{Container, ContainerDefinition, HealthCheck, NetworkMode};

    fn record() -> TaskRecord {
        TaskRecord {
            task: Task {
                last_status: Some("PROVISIONING".into()),
                desired_status: Some("RUNNING".into()),
                version: 1,
                ..Default::default()
            },
            cluster: "default".into(),
            instance_id: "i".into(),
            containers: Vec::new(),
            network_mode: NetworkMode::Bridge,
            volumes: Vec::new(),
            reservation: Reservation::default(),
            released: false,
            transitions: vec![Transition { status: "PROVISIONING".into(), at: 1.0 }],
            protection_expires_at: None,
        }
    }

    #[test]
    fn status_moves_forward_through_every_step_with_times() {
        let mut r = record();
        assert!(advance_status(&mut r, TaskStatus::Running, 5.0));
        let steps: Vec<&str> = r.transitions.iter().map(|t| t.status.as_str()).collect();
        assert_eq!(steps, ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"]);
        assert_eq!((r.task.started_at, r.task.connectivity_at), (Some(5.0), Some(5.0)));
        assert!(!advance_status(&mut r, TaskStatus::Pending, 6.0), "never backwards");
        assert_eq!(r.task.last_status.as_deref(), Some("RUNNING"));
        assert!(advance_status(&mut r, TaskStatus::Stopped, 9.0));
        assert_eq!(r.transitions.len(), 8);
        assert_eq!(
            (r.task.stopping_at, r.task.stopped_at, r.task.execution_stopped_at),
            (Some(9.0), Some(9.0), Some(9.0))
        );
        assert!(r.task.version > 1);
    }

    #[test]
    fn the_first_stop_reason_wins() {
        let mut r = record();
        advance_status(&mut r, TaskStatus::Running, 1.0);
        stop_record(&mut r, 2.0, "Essential container in task exited", "EssentialContainerExited", false);
        stop_record(&mut r, 3.0, "later", "UserInitiated", false);
        assert_eq!(r.task.stopped_reason.as_deref(), Some("Essential container in task exited"));
        assert_eq!(r.task.stop_code, Some(TaskStopCode::EssentialContainerExited));
        assert_eq!(r.task.last_status.as_deref(), Some("DEACTIVATING"));
        assert_eq!(r.task.stopping_at, Some(2.0));
    }

    #[test]
    fn health_counts_only_essential_containers_with_checks() {
        let mut r = record();
        let def = |name: &str, essential: bool, checked: bool| ContainerSpec {
            container_arn: name.into(),
            definition: ContainerDefinition {
                name: Some(name.into()),
                essential: Some(essential),
                health_check: checked
                    .then(|| HealthCheck { command: vec!["CMD".into(), "x".into()], ..Default::default() }),
                ..Default::default()
            },
        };
        r.containers = vec![def("a", true, true), def("b", false, true), def("c", true, false)];
        let c = |h: HealthStatus| Container { health_status: Some(h), ..Default::default() };
        r.task.containers = Some(vec![c(HealthStatus::Healthy), c(HealthStatus::Unhealthy), c(HealthStatus::Unknown)]);
        assert_eq!(task_health(&r), HealthStatus::Healthy, "b is not essential, c has no check");
        r.task.containers = Some(vec![c(HealthStatus::Unhealthy), c(HealthStatus::Healthy), c(HealthStatus::Unknown)]);
        assert_eq!(task_health(&r), HealthStatus::Unhealthy);
        r.task.containers = Some(vec![c(HealthStatus::Unknown), c(HealthStatus::Healthy), c(HealthStatus::Unknown)]);
        assert_eq!(task_health(&r), HealthStatus::Unknown);
    }
}
