//! The deployment state machine as a pure function: records in, named buckets out (no store, no clock, no agent).

use super::*;
use crate::records::{Reservation, Transition};
use crate::status::{DeploymentStatus, Scheduling, StopCode};
use berth_model::agent::{AgentResources, ContainerSpec};
use berth_model::ecs::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, HealthCheck, NetworkMode,
};
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

fn deployment(id: &str, td: &str, rollout: &str) -> DeploymentState {
    let rollout = RolloutState::parse(rollout).unwrap();
    DeploymentState {
        id: id.into(),
        task_definition: td.into(),
        status: DeploymentStatus::Primary,
        rollout_state: rollout,
        rollout_state_reason: String::new(),
        created_at: 1.0,
        updated_at: 1.0,
        failed_tasks: 0,
        counted_failures: Vec::new(),
        revision_arn: format!("arn:aws:ecs:us-east-1:000000000000:service-revision/default/web/{id}"),
        service_deployment_arn: format!("arn:aws:ecs:us-east-1:000000000000:service-deployment/default/web/{id}"),
        rollback: false,
    }
}

/// Service `web` with `desired` tasks, minimum/maximum percent, and its deployments (PRIMARY first).
fn service(desired: i32, min: i32, max: i32, deployments: Vec<DeploymentState>) -> ServiceRecord {
    ServiceRecord {
        name: "web".into(),
        status: ServiceStatus::Active,
        desired_count: desired,
        scheduling_strategy: Some(Scheduling::Replica),
        deployment_configuration: Some(DeploymentConfiguration {
            minimum_healthy_percent: Some(min),
            maximum_percent: Some(max),
            ..Default::default()
        }),
        cluster: "default".into(),
        deployments,
        steady: false,
        ..Default::default()
    }
}

/// A task of service `web` started by `deployment` on `instance`.
fn task(id: &str, deployment: &str, instance: &str, last: &str, desired: &str) -> TaskRecord {
    let last = TaskStatus::parse(last).unwrap();
    TaskRecord {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:task/default/{id}"),
        last_status: last,
        desired_status: DesiredStatus::parse(desired).unwrap(),
        group: Some("service:web".into()),
        started_by: Some(deployment.into()),
        started_at: (last == TaskStatus::Running).then_some(100.0),
        created_at: 50.0,
        cluster: "default".into(),
        instance_id: instance.into(),
        network_mode: NetworkMode::Bridge,
        reservation: Reservation::default(),
        transitions: vec![Transition { status: last, at: 50.0 }],
        ..Default::default()
    }
}

fn instance(id: &str, status: &str) -> InstanceRecord {
    InstanceRecord {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/default/{id}"),
        status: InstanceStatus::parse(status).unwrap(),
        cluster: "default".into(),
        id: id.into(),
        offered: AgentResources::default(),
        remaining_cpu: 4096,
        remaining_memory: 4096,
        ..Default::default()
    }
}

/// The cache state holding the service, its tasks and the instances, as the watch would have applied them.
fn cache_state(
    record: &ServiceRecord,
    tasks: &[TaskRecord],
    instances: &[InstanceRecord],
) -> (State, Versioned<ServiceRecord>) {
    let mut state = State::default();
    let mut put = |key: String, value: Vec<u8>| {
        let kv = KeyValue { key, value, create_revision: 1, mod_revision: 7 };
        state.apply(EventKind::Put, &kv);
    };
    for i in instances {
        put(crate::records::keys::instance("default", &i.id), crate::encode(i).unwrap());
    }
    for t in tasks {
        let id = t.id().to_string();
        put(crate::records::keys::task("default", &id), crate::encode(t).unwrap());
    }
    put(crate::records::keys::service("default", "web"), crate::encode(record).unwrap());
    let v = state.services.get(&("default".to_string(), "web".to_string())).unwrap().clone();
    (state, v)
}

fn ids(stops: &[TaskStop]) -> Vec<&str> {
    stops.iter().map(|s| s.key.1.as_str()).collect()
}

const FITS_ANYWHERE: &dyn Fn(&InstanceRecord) -> bool = &|_| true;

#[test]
fn a_rolling_deployment_starts_up_to_the_maximum_and_retires_down_to_the_minimum() {
    // 4 healthy tasks of deployment a; b is the new PRIMARY. 50%/150%: at most 6 at once, at least 2 healthy.
    let record =
        service(4, 50, 150, vec![deployment("b", "web:2", "IN_PROGRESS"), deployment("a", "web:1", "COMPLETED")]);
    let tasks: Vec<TaskRecord> = (1..=4).map(|n| task(&format!("old{n}"), "a", "i1", "RUNNING", "RUNNING")).collect();
    let (state, v) = cache_state(&record, &tasks, &[instance("i1", "ACTIVE")]);
    let plan = plan(&env(), &state, &v, FITS_ANYWHERE);
    assert_eq!(plan.start, 2, "6 allowed at once, 4 running");
    assert_eq!(plan.retire.len(), 2, "4 healthy, 2 must stay");
    assert!(plan.retire.iter().all(|s| s.reason == "Scaling activity initiated by (deployment a)"));
    assert!(plan.scale_in.is_empty() && plan.replace_unhealthy.is_empty());
    assert_eq!(plan.record.deployments[0].rollout_state, RolloutState::InProgress);
}

#[test]
fn the_deployment_completes_once_only_the_primary_runs_at_the_desired_count() {
    let record = service(2, 100, 200, vec![deployment("b", "web:2", "IN_PROGRESS")]);
    let tasks = vec![task("n1", "b", "i1", "RUNNING", "RUNNING"), task("n2", "b", "i1", "RUNNING", "RUNNING")];
    let (state, v) = cache_state(&record, &tasks, &[instance("i1", "ACTIVE")]);
    let plan = plan(&env(), &state, &v, FITS_ANYWHERE);
    assert_eq!((plan.start, plan.stops().count()), (0, 0));
    assert_eq!(plan.record.deployments[0].rollout_state, RolloutState::Completed);
    assert_eq!(plan.record.last_completed_task_definition.as_deref(), Some("web:2"));
    assert!(plan.record.steady && plan.changed);

    // Not before its tasks have run healthy for the stabilization time.
    let later = Env { stabilization: NOW, ..env() };
    let plan = super::plan(&later, &state, &v, FITS_ANYWHERE);
    assert_eq!(plan.record.deployments[0].rollout_state, RolloutState::InProgress);
}

#[test]
fn unhealthy_tasks_are_replaced_only_after_the_grace_period() {
    let mut record = service(2, 100, 200, vec![deployment("b", "web:2", "COMPLETED")]);
    record.health_check_grace_period_seconds = Some(60);
    let checked = |id: &str, started_at: f64| {
        let mut t = task(id, "b", "i1", "RUNNING", "RUNNING");
        t.health_status = HealthState::Unhealthy;
        t.started_at = Some(started_at);
        t.containers = vec![ContainerSpec {
            container_arn: "c".into(),
            definition: ContainerDefinition {
                name: Some("app".into()),
                health_check: Some(HealthCheck { command: vec!["CMD".into(), "x".into()], ..Default::default() }),
                ..Default::default()
            },
        }];
        t
    };
    let tasks = vec![checked("old", NOW - 120.0), checked("young", NOW - 10.0)];
    let (state, v) = cache_state(&record, &tasks, &[instance("i1", "ACTIVE")]);
    let plan = plan(&env(), &state, &v, FITS_ANYWHERE);
    assert_eq!(ids(&plan.replace_unhealthy), ["old"]);
    assert_eq!(plan.replace_unhealthy[0].reason, HEALTH_CHECK_FAILURE);
    assert_eq!(plan.start, 1, "the replacement of the unhealthy task");
}

#[test]
fn scale_in_never_takes_a_protected_task() {
    let record = service(1, 100, 200, vec![deployment("b", "web:2", "COMPLETED")]);
    let mut protected = task("keep", "b", "i1", "RUNNING", "RUNNING");
    protected.protection_expires_at = Some(NOW + 600.0);
    let tasks = vec![protected, task("go", "b", "i1", "RUNNING", "RUNNING")];
    let (state, v) = cache_state(&record, &tasks, &[instance("i1", "ACTIVE")]);
    let plan = plan(&env(), &state, &v, FITS_ANYWHERE);
    assert_eq!(ids(&plan.scale_in), ["go"]);
    assert!(plan.retire.is_empty());
}

#[test]
fn tasks_on_a_draining_instance_are_retired_and_replaced() {
    let record = service(1, 100, 200, vec![deployment("b", "web:2", "COMPLETED")]);
    let tasks = vec![task("moving", "b", "i1", "RUNNING", "RUNNING")];
    let (state, v) = cache_state(&record, &tasks, &[instance("i1", "DRAINING"), instance("i2", "ACTIVE")]);
    let plan = plan(&env(), &state, &v, FITS_ANYWHERE);
    assert_eq!(plan.start, 1, "a replacement starts first (100% minimum)");
    assert!(plan.retire.is_empty(), "the old one stops once the replacement is healthy");
}

#[test]
fn the_circuit_breaker_fails_the_deployment_and_rolls_back() {
    let mut record =
        service(1, 100, 200, vec![deployment("b", "web:2", "IN_PROGRESS"), deployment("a", "web:1", "COMPLETED")]);
    record.last_completed_task_definition = Some("web:1".into());
    record.deployment_configuration.as_mut().unwrap().deployment_circuit_breaker =
        Some(DeploymentCircuitBreaker { enable: true, rollback: true, ..Default::default() });
    let failed = |id: &str| {
        let mut t = task(id, "b", "i1", "STOPPED", "STOPPED");
        t.stop_code = Some(StopCode::TaskFailedToStart);
        t.stopped_reason = Some("CannotPullContainerError: no such image".into());
        t
    };
    // The threshold for 1 desired task is ECS's floor of 3 failures.
    let tasks = vec![failed("f1"), failed("f2"), failed("f3"), task("old", "a", "i1", "RUNNING", "RUNNING")];
    let (state, v) = cache_state(&record, &tasks, &[instance("i1", "ACTIVE")]);
    let plan = plan(&env(), &state, &v, FITS_ANYWHERE);
    let deployments = &plan.record.deployments;
    assert_eq!(deployments[0].task_definition, "web:1", "a rollback deployment leads");
    assert!(deployments[0].rollback && deployments[0].rollout_state == RolloutState::InProgress);
    // The failed deployment has no task left, so it is gone from the list; its events say what happened.
    let ids: Vec<&str> = deployments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(&ids[1..], ["a"]);
    let events: Vec<&str> = plan.record.events.iter().map(|e| e.message.as_str()).collect();
    assert!(
        events.iter().any(|e| e.ends_with("(deployment b) deployment failed: tasks failed to start.")),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.contains("(deployment b) rolling back to deployment")), "{events:?}");
    assert_eq!(plan.start, 1, "the rollback deployment starts its own task");
    assert!(plan.changed);

    // Two failures are below the threshold: the deployment goes on.
    let (state, v) = cache_state(&record, &tasks[1..], &[instance("i1", "ACTIVE")]);
    let plan = super::plan(&env(), &state, &v, FITS_ANYWHERE);
    assert_eq!(plan.record.deployments[0].id, "b");
    assert_eq!(plan.record.deployments[0].failed_tasks, 2);
}

#[test]
fn a_daemon_gets_one_task_on_every_active_instance_it_fits() {
    let mut record = service(0, 0, 100, vec![deployment("b", "web:2", "IN_PROGRESS")]);
    record.scheduling_strategy = Some(Scheduling::Daemon);
    let instances =
        [instance("i1", "ACTIVE"), instance("i2", "ACTIVE"), instance("i3", "ACTIVE"), instance("i4", "DRAINING")];
    let tasks = vec![task("d1", "b", "i1", "RUNNING", "RUNNING")];
    let (state, v) = cache_state(&record, &tasks, &instances);
    let too_small = |i: &InstanceRecord| i.id != "i3";
    let plan = plan(&env(), &state, &v, &too_small);
    let targets: Vec<&str> = plan.daemon_targets.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(targets, ["i2"], "i1 has its task, i3 is too small, i4 drains");
    assert_eq!(plan.record.desired_count, 2);
    assert_eq!(plan.start, 0);
}

#[test]
fn a_draining_service_stops_everything_and_goes_inactive_when_empty() {
    let mut record = service(0, 100, 200, vec![deployment("b", "web:2", "COMPLETED")]);
    record.status = ServiceStatus::Draining;
    let (state, v) = cache_state(&record, &[task("t", "b", "i1", "RUNNING", "RUNNING")], &[instance("i1", "ACTIVE")]);
    let plan = plan(&env(), &state, &v, FITS_ANYWHERE);
    assert_eq!(ids(&plan.retire), ["t"]);
    assert!(!plan.inactive, "not before its last task stopped");
    let (state, v) = state_without_tasks(&record);
    assert!(super::plan(&env(), &state, &v, FITS_ANYWHERE).inactive);
}

fn state_without_tasks(record: &ServiceRecord) -> (State, Versioned<ServiceRecord>) {
    cache_state(record, &[], &[instance("i1", "ACTIVE")])
}
