//! The EXTERNAL service's pass as a pure function: records in, stops, starts and stability out.

use super::*;
use crate::records::{InstanceRecord, Reservation, TaskSetRecord, Transition};
use crate::status::{Scheduling, StopCode};
use berth_model::agent::AgentResources;
use berth_model::ecs::{DeploymentController, DeploymentControllerType, NetworkMode};
use berth_store::{EventKind, KeyValue};

const NOW: f64 = 10_000.0;

fn env() -> Env {
    Env {
        now: NOW,
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        stabilization: 0.0,
        minute: 60.0,
        alarms_in_alarm: Default::default(),
    }
}

fn task_set(id: &str, status: TaskSetStatus, scale: f64) -> TaskSetRecord {
    TaskSetRecord {
        id: id.into(),
        arn: format!("arn:aws:ecs:us-east-1:000000000000:task-set/default/web/{id}"),
        status,
        task_definition: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".into(),
        launch_type: None,
        capacity_provider_strategy: Vec::new(),
        platform_version: None,
        network_configuration: None,
        load_balancers: Vec::new(),
        service_registries: Vec::new(),
        scale,
        external_id: None,
        tags: Vec::new(),
        client_token: None,
        stability: Stability::Stabilizing,
        stability_at: 1.0,
        created_at: 1.0,
        updated_at: 1.0,
    }
}

fn service(desired: i32, task_sets: Vec<TaskSetRecord>) -> ServiceRecord {
    ServiceRecord {
        name: "web".into(),
        cluster: "default".into(),
        status: ServiceStatus::Active,
        desired_count: desired,
        scheduling_strategy: Some(Scheduling::Replica),
        deployment_controller: Some(DeploymentController { r#type: DeploymentControllerType::External }),
        task_sets,
        ..Default::default()
    }
}

fn task(id: &str, started_by: &str, last: TaskStatus, desired: DesiredStatus) -> TaskRecord {
    TaskRecord {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:task/default/{id}"),
        last_status: last,
        desired_status: desired,
        group: Some("service:web".into()),
        started_by: Some(started_by.into()),
        started_at: (last == TaskStatus::Running).then_some(100.0),
        created_at: 50.0,
        cluster: "default".into(),
        instance_id: "i1".into(),
        network_mode: NetworkMode::Bridge,
        reservation: Reservation::default(),
        transitions: vec![Transition { status: last, at: 50.0 }],
        ..Default::default()
    }
}

fn running(id: &str, started_by: &str) -> TaskRecord {
    task(id, started_by, TaskStatus::Running, DesiredStatus::Running)
}

fn state_of(record: &ServiceRecord, tasks: &[TaskRecord]) -> (State, Versioned<ServiceRecord>) {
    let mut state = State::default();
    let mut put = |key: String, value: Vec<u8>| {
        let kv = KeyValue { key, value, create_revision: 1, mod_revision: 7 };
        state.apply(EventKind::Put, &kv);
    };
    let instance = InstanceRecord {
        arn: "arn:aws:ecs:us-east-1:000000000000:container-instance/default/i1".into(),
        status: InstanceStatus::Active,
        cluster: "default".into(),
        id: "i1".into(),
        offered: AgentResources::default(),
        remaining_cpu: 4096,
        remaining_memory: 4096,
        ..Default::default()
    };
    put(crate::records::keys::instance("default", "i1"), crate::encode(&instance).unwrap());
    for t in tasks {
        put(crate::records::keys::task("default", t.id()), crate::encode(t).unwrap());
    }
    put(crate::records::keys::service("default", "web"), crate::encode(record).unwrap());
    let v = state.services.get(&("default".to_string(), "web".to_string())).unwrap().clone();
    (state, v)
}

fn run(record: &ServiceRecord, tasks: &[TaskRecord]) -> TaskSetPlan {
    let (state, v) = state_of(record, tasks);
    plan(&env(), &state, &v)
}

fn stopped_ids(p: &TaskSetPlan) -> Vec<String> {
    p.stops.iter().map(|s| s.key.1.clone()).collect()
}

#[test]
fn each_task_set_is_brought_to_its_share_of_the_desired_count_primary_first() {
    let blue = task_set("ecs-svc/1", TaskSetStatus::Active, 20.0);
    let green = task_set("ecs-svc/2", TaskSetStatus::Primary, 100.0);
    let p = run(&service(4, vec![blue, green]), &[]);
    assert_eq!(p.starts, vec![("ecs-svc/2".to_string(), 4), ("ecs-svc/1".to_string(), 1)], "ceil(4 x 20%) = 1");
    assert!(p.stops.is_empty());
    assert!(p.record.task_sets.iter().all(|t| t.stability == Stability::Stabilizing));
}

#[test]
fn a_task_set_scaled_down_stops_its_least_useful_tasks_with_ecs_reason() {
    let blue = task_set("ecs-svc/1", TaskSetStatus::Primary, 50.0);
    let mut pending = task("t3", "ecs-svc/1", TaskStatus::Pending, DesiredStatus::Running);
    pending.created_at = 60.0;
    let tasks = [running("t1", "ecs-svc/1"), running("t2", "ecs-svc/1"), pending];
    let p = run(&service(4, vec![blue]), &tasks);
    assert_eq!(stopped_ids(&p), vec!["t3".to_string()], "ceil(4 x 50%) = 2: the pending one goes first");
    assert_eq!(p.stops[0].reason, "Scaling activity initiated by (deployment ecs-svc/1)");
    assert!(p.starts.is_empty());
}

#[test]
fn a_task_set_at_its_count_is_steady_and_the_service_too() {
    let blue = task_set("ecs-svc/1", TaskSetStatus::Primary, 100.0);
    let zero = task_set("ecs-svc/2", TaskSetStatus::Active, 0.0);
    let p = run(&service(2, vec![blue, zero]), &[running("t1", "ecs-svc/1"), running("t2", "ecs-svc/1")]);
    assert!(p.stops.is_empty() && p.starts.is_empty());
    assert!(p.record.task_sets.iter().all(|t| t.stability == Stability::SteadyState && t.stability_at == NOW));
    assert!(p.record.steady && p.changed);
    let messages: Vec<&str> = p.record.events.iter().map(|e| e.message.as_str()).collect();
    assert!(messages.contains(&"(service web) (taskSet ecs-svc/1) has reached a steady state."), "{messages:?}");
    assert!(messages.contains(&"(service web) has reached a steady state."), "{messages:?}");
    // Once recorded, a second pass changes nothing.
    let again = run(&p.record, &[running("t1", "ecs-svc/1"), running("t2", "ecs-svc/1")]);
    assert!(!again.changed && again.stops.is_empty() && again.starts.is_empty());
}

#[test]
fn a_draining_task_set_stops_its_tasks_and_goes_once_they_are_gone() {
    let blue = task_set("ecs-svc/1", TaskSetStatus::Draining, 100.0);
    let green = task_set("ecs-svc/2", TaskSetStatus::Primary, 100.0);
    let tasks = [running("t1", "ecs-svc/1"), running("t2", "ecs-svc/2")];
    let p = run(&service(1, vec![blue.clone(), green.clone()]), &tasks);
    assert_eq!(stopped_ids(&p), vec!["t1".to_string()]);
    assert_eq!(p.record.task_sets.len(), 2, "kept while its task stops");
    let stopping = task("t1", "ecs-svc/1", TaskStatus::Deactivating, DesiredStatus::Stopped);
    let p = run(&service(1, vec![blue.clone(), green.clone()]), &[stopping, running("t2", "ecs-svc/2")]);
    assert!(p.stops.is_empty());
    assert_eq!(p.record.task_sets.len(), 2, "kept while its task drains");
    let gone = task("t1", "ecs-svc/1", TaskStatus::Stopped, DesiredStatus::Stopped);
    let p = run(&service(1, vec![blue, green]), &[gone, running("t2", "ecs-svc/2")]);
    assert_eq!(p.record.task_sets.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), vec!["ecs-svc/2"]);
    assert!(p.changed);
}

#[test]
fn tasks_of_no_task_set_stop_and_a_deleted_service_drains_to_inactive() {
    let green = task_set("ecs-svc/2", TaskSetStatus::Primary, 100.0);
    let p = run(&service(1, vec![green.clone()]), &[running("t1", "ecs-svc/9"), running("t2", "ecs-svc/2")]);
    assert_eq!(stopped_ids(&p), vec!["t1".to_string()]);
    let mut deleted = service(0, vec![TaskSetRecord { status: TaskSetStatus::Draining, ..green }]);
    deleted.status = ServiceStatus::Draining;
    let p = run(&deleted, &[running("t2", "ecs-svc/2")]);
    assert_eq!(stopped_ids(&p), vec!["t2".to_string()]);
    assert!(!p.inactive);
    let p = run(&deleted, &[task("t2", "ecs-svc/2", TaskStatus::Stopped, DesiredStatus::Stopped)]);
    assert!(p.inactive && p.record.task_sets.is_empty());
}

#[test]
fn unhealthy_tasks_are_replaced_and_start_failures_throttle_starts() {
    let green = task_set("ecs-svc/2", TaskSetStatus::Primary, 100.0);
    let mut sick = running("t1", "ecs-svc/2");
    sick.health_status = HealthState::Unhealthy;
    let p = run(&service(1, vec![green.clone()]), &[sick]);
    assert_eq!(p.stops[0].reason, HEALTH_CHECK_FAILURE);
    assert_eq!(p.starts, vec![("ecs-svc/2".to_string(), 1)]);
    let mut failed = task("t2", "ecs-svc/2", TaskStatus::Stopped, DesiredStatus::Stopped);
    failed.stop_code = Some(StopCode::TaskFailedToStart);
    failed.stopping_at = Some(NOW - 1.0);
    let p = run(&service(3, vec![green]), &[failed]);
    assert_eq!(p.record.start_throttle.failures, 1);
    assert!(p.starts.is_empty(), "the throttle holds starts back for a while: {:?}", p.starts);
}
