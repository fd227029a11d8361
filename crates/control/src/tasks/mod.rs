//! Tasks: the lifecycle rules shared by RunTask, StartTask, StopTask, the agents' reports and the controllers.
//!
//! A task's `lastStatus` only moves forward through ECS's lifecycle: PROVISIONING, PENDING, ACTIVATING, RUNNING,
//! DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED. Every change is recorded in the record's `transitions` with
//! its time, and bumps the task's `version`. [`render_task`] is the one place a task record becomes the wire `Task`.

mod describe;
pub mod fargate;
pub mod launch;
pub mod reclaim;
pub(crate) mod run;
pub(crate) mod stop;

pub(crate) use run::DefaultStrategy;
pub use run::build_demand;

use crate::records::{Binding, StoredTag, TaskRecord};
use crate::status::{DesiredStatus, HealthState, StopCode, TaskLaunchType, TaskStatus};
use berth_model::Timestamp;
use berth_model::ecs::{Attribute, Connectivity, Container, EphemeralStorage, Task};

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
    let current = record.last_status;
    if status <= current {
        return false;
    }
    // Record every intermediate status too, so the history reads as the lifecycle does.
    for step in LIFECYCLE.into_iter().filter(|s| *s > current && *s <= status) {
        record.transitions.push(crate::records::Transition { status: step, at: now });
        match step {
            TaskStatus::Pending => {
                record.connectivity_at.get_or_insert(now);
            }
            TaskStatus::Running => {
                record.started_at.get_or_insert(now);
            }
            TaskStatus::Deactivating | TaskStatus::Stopping => {
                record.stopping_at.get_or_insert(now);
            }
            TaskStatus::Stopped => {
                record.execution_stopped_at.get_or_insert(now);
                record.stopped_at = Some(now);
            }
            _ => {}
        }
    }
    record.last_status = status;
    record.version += 1;
    true
}

/// Sets a task's desired status to STOPPED with a reason and stop code (the first stop reason wins), and moves a
/// task that was RUNNING to DEACTIVATING. `immediate` also marks a task that no agent will ever stop as STOPPED.
pub fn stop_record(record: &mut TaskRecord, now: Timestamp, reason: &str, stop_code: &str, immediate: bool) {
    if record.desired_status != DesiredStatus::Stopped {
        record.desired_status = DesiredStatus::Stopped;
        record.stopped_reason = Some(reason.to_string());
        record.stop_code = StopCode::parse(stop_code);
        record.stopping_at.get_or_insert(now);
        record.version += 1;
    }
    if immediate {
        advance_status(record, TaskStatus::Stopped, now);
    } else if record.last_status == TaskStatus::Running {
        advance_status(record, TaskStatus::Deactivating, now);
    }
}

/// The task's health from its essential containers: HEALTHY when every essential container with a health check
/// is HEALTHY, UNHEALTHY when any is UNHEALTHY, UNKNOWN otherwise (as ECS defines it).
pub fn task_health(record: &TaskRecord) -> HealthState {
    let mut any_checked = false;
    let mut all_healthy = true;
    for (spec, container) in record.containers.iter().zip(&record.container_states) {
        if spec.definition.essential == Some(false) || spec.definition.health_check.is_none() {
            continue;
        }
        any_checked = true;
        match container.health_status {
            HealthState::Unhealthy => return HealthState::Unhealthy,
            HealthState::Healthy => {}
            HealthState::Unknown => all_healthy = false,
        }
    }
    if any_checked && all_healthy { HealthState::Healthy } else { HealthState::Unknown }
}

/// A task's `connectivity`: an agent holds it from PENDING on, until it is STOPPED.
fn connectivity(status: TaskStatus) -> Option<Connectivity> {
    match status {
        TaskStatus::Provisioning => None,
        TaskStatus::Stopped => Some(Connectivity::Disconnected),
        _ => Some(Connectivity::Connected),
    }
}

/// The containers of a task as ECS shows them: each definition with what its agent observed.
fn render_containers(record: &TaskRecord) -> Vec<Container> {
    record
        .containers
        .iter()
        .zip(&record.container_states)
        .map(|(spec, state)| Container {
            container_arn: Some(spec.container_arn.clone()),
            task_arn: Some(record.arn.clone()),
            name: spec.definition.name.clone(),
            image: spec.definition.image.clone(),
            image_digest: state.image_digest.clone(),
            runtime_id: state.runtime_id.clone(),
            last_status: Some(state.last_status.as_str().to_string()),
            exit_code: state.exit_code,
            reason: state.reason.clone(),
            network_bindings: Some(state.network_bindings.iter().map(Binding::to_wire).collect()),
            network_interfaces: Some(record.network.iter().map(crate::network::render_container_interface).collect()),
            health_status: Some(state.health_status.to_wire()),
            cpu: Some(spec.definition.cpu.to_string()),
            memory: spec.definition.memory.map(|m| m.to_string()),
            memory_reservation: spec.definition.memory_reservation.map(|m| m.to_string()),
            ..Default::default()
        })
        .collect()
}

/// The task as DescribeTasks shows it, rendered from its record.
pub fn render_task(record: &TaskRecord, with_tags: bool) -> Task {
    let mut task = Task {
        attachments: Some(
            record
                .network
                .iter()
                .map(|n| crate::network::render_attachment(n, record.last_status == TaskStatus::Stopped))
                .collect(),
        ),
        attributes: record.cpu_architecture.as_ref().map(|value| {
            vec![Attribute { name: "ecs.cpu-architecture".into(), value: Some(value.clone()), ..Default::default() }]
        }),
        availability_zone: record.availability_zone.clone(),
        cluster_arn: Some(record.cluster_arn.clone()),
        connectivity: connectivity(record.last_status),
        connectivity_at: record.connectivity_at,
        // Fargate tasks run on capacity the user does not see: no container instance.
        container_instance_arn: (!record.is_fargate() && !record.instance_id.is_empty())
            .then(|| record.container_instance_arn()),
        capacity_provider_name: record.capacity_provider_name.clone(),
        platform_version: record.platform_version.clone(),
        platform_family: record.platform_version.as_ref().map(|_| fargate::PLATFORM_FAMILY.to_string()),
        ephemeral_storage: record.ephemeral_storage_gib.map(|size_in_gi_b| EphemeralStorage { size_in_gi_b }),
        containers: Some(render_containers(record)),
        cpu: Some(record.reservation.cpu.to_string()),
        memory: Some(record.reservation.memory.to_string()),
        created_at: Some(record.created_at),
        desired_status: Some(record.desired_status.as_str().to_string()),
        enable_execute_command: record.enable_execute_command,
        execution_stopped_at: record.execution_stopped_at,
        group: record.group.clone(),
        health_status: Some(record.health_status.to_wire()),
        last_status: Some(record.last_status.as_str().to_string()),
        launch_type: record.launch_type.and_then(TaskLaunchType::to_wire),
        overrides: record.overrides.clone(),
        pull_started_at: record.pull_started_at,
        pull_stopped_at: record.pull_stopped_at,
        started_at: record.started_at,
        started_by: record.started_by.clone(),
        stop_code: record.stop_code.and_then(StopCode::to_wire),
        stopped_at: record.stopped_at,
        stopped_reason: record.stopped_reason.clone(),
        stopping_at: record.stopping_at,
        tags: with_tags.then(|| StoredTag::to_wire(&record.tags)),
        task_arn: Some(record.arn.clone()),
        task_definition_arn: Some(record.task_definition_arn.clone()),
        version: record.version,
        ..Default::default()
    };
    crate::exec::render_managed_agents(&mut task);
    task
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ContainerState, TaskRecord, Transition};
    use berth_model::agent::ContainerSpec;
    use berth_model::ecs::{ContainerDefinition, HealthCheck};

    fn record() -> TaskRecord {
        TaskRecord {
            version: 1,
            cluster: "default".into(),
            instance_id: "i".into(),
            transitions: vec![Transition { status: TaskStatus::Provisioning, at: 1.0 }],
            ..Default::default()
        }
    }

    #[test]
    fn status_moves_forward_through_every_step_with_times() {
        let mut r = record();
        assert!(advance_status(&mut r, TaskStatus::Running, 5.0));
        let steps: Vec<&str> = r.transitions.iter().map(|t| t.status.as_str()).collect();
        assert_eq!(steps, ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"]);
        assert_eq!((r.started_at, r.connectivity_at), (Some(5.0), Some(5.0)));
        assert_eq!(render_task(&r, false).connectivity, Some(Connectivity::Connected));
        assert!(!advance_status(&mut r, TaskStatus::Pending, 6.0), "never backwards");
        assert_eq!(r.last_status, TaskStatus::Running);
        assert!(advance_status(&mut r, TaskStatus::Stopped, 9.0));
        assert_eq!(r.transitions.len(), 8);
        assert_eq!((r.stopping_at, r.stopped_at, r.execution_stopped_at), (Some(9.0), Some(9.0), Some(9.0)));
        assert!(r.version > 1);
        assert_eq!(render_task(&r, false).connectivity, Some(Connectivity::Disconnected));
    }

    #[test]
    fn the_first_stop_reason_wins() {
        let mut r = record();
        advance_status(&mut r, TaskStatus::Running, 1.0);
        stop_record(&mut r, 2.0, "Essential container in task exited", "EssentialContainerExited", false);
        stop_record(&mut r, 3.0, "later", "UserInitiated", false);
        assert_eq!(r.stopped_reason.as_deref(), Some("Essential container in task exited"));
        assert_eq!(r.stop_code, Some(StopCode::EssentialContainerExited));
        assert_eq!(r.last_status, TaskStatus::Deactivating);
        assert_eq!(r.stopping_at, Some(2.0));
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
        let c = |h: HealthState| ContainerState { health_status: h, ..ContainerState::pending() };
        use HealthState::{Healthy, Unhealthy, Unknown};
        r.container_states = vec![c(Healthy), c(Unhealthy), c(Unknown)];
        assert_eq!(task_health(&r), Healthy, "b is not essential, c has no check");
        r.container_states = vec![c(Unhealthy), c(Healthy), c(Unknown)];
        assert_eq!(task_health(&r), Unhealthy);
        r.container_states = vec![c(Unknown), c(Healthy), c(Unknown)];
        assert_eq!(task_health(&r), Unknown);
    }
}
