//! The deployment-alarm decision as a pure function: a service record and the alarms in ALARM in, the record out.

use super::*;
use crate::records::{DeploymentState, ServiceDeploymentRecord};
use crate::status::{DeploymentStatus, ServiceStatus};
use berth_model::ecs::DeploymentConfiguration;

const NOW: f64 = 10_000.0;

fn env(in_alarm: &[&str]) -> Env {
    Env {
        now: NOW,
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        stabilization: 0.0,
        minute: 60.0,
        alarms_in_alarm: in_alarm.iter().map(|s| s.to_string()).collect(),
    }
}

fn sd_arn(id: &str) -> String {
    format!("arn:aws:ecs:us-east-1:000000000000:service-deployment/default/web/{id}")
}

fn deployment(id: &str, td: &str, rollout: RolloutState) -> DeploymentState {
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
        service_deployment_arn: sd_arn(id),
        rollback: false,
    }
}

fn service_deployment(id: &str, status: ServiceDeploymentStatus) -> ServiceDeploymentRecord {
    ServiceDeploymentRecord {
        arn: sd_arn(id),
        status,
        status_reason: None,
        source_revisions: Vec::new(),
        target_revision: String::new(),
        requested_task_count: 1,
        deployment_configuration: None,
        circuit_breaker: None,
        alarms: None,
        rollback: None,
        created_at: 1.0,
        started_at: Some(1.0),
        updated_at: Some(1.0),
        finished_at: None,
        stopped_at: None,
        blue_green: None,
    }
}

/// Service `web` deploying `web:2` (deployment `b`) over a completed `web:1` (`a`), its alarms `high-errors` and
/// `slow` with `enable` and `rollback` as given.
fn service(enable: bool, rollback: bool) -> ServiceRecord {
    ServiceRecord {
        name: "web".into(),
        status: ServiceStatus::Active,
        desired_count: 1,
        deployment_configuration: Some(DeploymentConfiguration {
            alarms: Some(AlarmsConfig { alarm_names: vec!["high-errors".into(), "slow".into()], enable, rollback }),
            ..Default::default()
        }),
        cluster: "default".into(),
        deployments: vec![
            deployment("b", "web:2", RolloutState::InProgress),
            deployment("a", "web:1", RolloutState::Completed),
        ],
        service_deployments: vec![
            service_deployment("a", ServiceDeploymentStatus::Successful),
            service_deployment("b", ServiceDeploymentStatus::InProgress),
        ],
        last_completed_task_definition: Some("web:1".into()),
        ..Default::default()
    }
}

fn sd<'a>(record: &'a ServiceRecord, id: &str) -> &'a ServiceDeploymentRecord {
    record.service_deployments.iter().find(|d| d.arn == sd_arn(id)).expect("the service deployment")
}

fn events(record: &ServiceRecord) -> Vec<&str> {
    record.events.iter().map(|e| e.message.as_str()).collect()
}

/// Runs one check; whether it changed the record.
fn check(env: &Env, record: &mut ServiceRecord) -> bool {
    let mut changed = false;
    check_alarms(env, record, &mut changed);
    changed
}

#[test]
fn an_alarm_going_to_alarm_fails_the_deployment_and_rolls_back() {
    let mut record = service(true, true);
    // The first look: nothing in ALARM; the service deployment starts monitoring.
    assert!(check(&env(&[]), &mut record));
    let alarms = sd(&record, "b").alarms.clone().unwrap();
    assert_eq!(alarms.status, RollbackMonitorsStatus::Monitoring);
    assert_eq!(alarms.alarm_names, ["high-errors", "slow"]);
    assert!(!check(&env(&["unrelated"]), &mut record), "an alarm the service does not name changes nothing");

    assert!(check(&env(&["slow"]), &mut record));
    let failed = record.deployments.iter().find(|d| d.id == "b").unwrap();
    assert_eq!(failed.rollout_state, RolloutState::Failed);
    assert_eq!(failed.rollout_state_reason, "ECS deployment alarms: alarm(s) slow in ALARM state.");
    let leader = &record.deployments[0];
    assert!(leader.rollback && leader.task_definition == "web:1" && leader.rollout_state == RolloutState::InProgress);
    assert_eq!(leader.service_deployment_arn, sd_arn("b"), "the rollback continues the failed service deployment");
    assert_eq!(record.task_definition.as_deref(), Some("web:1"));
    let b = sd(&record, "b");
    assert_eq!(b.status, ServiceDeploymentStatus::RollbackInProgress);
    assert_eq!(b.rollback.as_ref().unwrap().reason, "ECS deployment alarms: alarm(s) slow in ALARM state.");
    let alarms = b.alarms.clone().unwrap();
    assert_eq!((alarms.status, alarms.triggered_alarm_names), (RollbackMonitorsStatus::Triggered, vec!["slow".into()]));
    let events = events(&record);
    assert!(events[1].ends_with("(deployment b) deployment failed: alarm(s) slow in ALARM state."), "{events:?}");
    assert!(events[0].contains("(deployment b) rolling back to deployment ecs-svc/"), "{events:?}");

    // The rollback is watched afresh: `slow`, still in ALARM, does not fail it; `high-errors` going off does.
    assert!(check(&env(&["slow"]), &mut record), "the rollback's baseline is recorded");
    assert_eq!(record.deployments[0].rollout_state, RolloutState::InProgress);
    assert_eq!(sd(&record, "b").alarms.as_ref().unwrap().ignored, ["slow"]);
    assert!(check(&env(&["slow", "high-errors"]), &mut record));
    assert_eq!(record.deployments[0].rollout_state, RolloutState::Failed);
    let b = sd(&record, "b");
    assert_eq!(b.status, ServiceDeploymentStatus::RollbackFailed);
    assert_eq!(b.status_reason.as_deref(), Some("Deployment alarms triggered: alarm(s) high-errors in ALARM state."));
    assert_eq!(b.alarms.as_ref().unwrap().triggered_alarm_names, ["slow", "high-errors"]);
}

#[test]
fn without_rollback_or_a_completed_deployment_the_failed_deployment_stops() {
    for (rollback, target) in [(false, Some("web:1")), (true, None)] {
        let mut record = service(true, rollback);
        record.last_completed_task_definition = target.map(String::from);
        check(&env(&[]), &mut record);
        assert!(check(&env(&["high-errors", "slow"]), &mut record));
        assert_eq!(record.deployments.len(), 2, "no rollback deployment");
        assert_eq!(record.deployments[0].id, "b");
        assert_eq!(record.deployments[0].rollout_state, RolloutState::Failed);
        let b = sd(&record, "b");
        assert_eq!(b.status, ServiceDeploymentStatus::Stopped);
        assert_eq!(b.stopped_at, Some(NOW));
        assert_eq!(
            b.status_reason.as_deref(),
            Some("Deployment alarms triggered: alarm(s) high-errors, slow in ALARM state.")
        );
        assert_eq!(b.alarms.as_ref().unwrap().triggered_alarm_names, ["high-errors", "slow"]);
    }
}

#[test]
fn an_alarm_already_in_alarm_when_the_deployment_starts_counts_once_it_cleared() {
    let mut record = service(true, true);
    assert!(check(&env(&["slow"]), &mut record));
    assert_eq!(record.deployments[0].rollout_state, RolloutState::InProgress, "slow was in ALARM already");
    assert!(!check(&env(&["slow"]), &mut record));
    assert!(check(&env(&[]), &mut record), "slow cleared");
    assert!(sd(&record, "b").alarms.as_ref().unwrap().ignored.is_empty());
    check(&env(&["slow"]), &mut record);
    assert_eq!(record.deployments.iter().find(|d| d.id == "b").unwrap().rollout_state, RolloutState::Failed);
}

#[test]
fn a_deployment_not_in_progress_or_alarms_disabled_is_left_alone() {
    // Completed: nothing trips, and the monitoring that went on is complete.
    let mut record = service(true, true);
    check(&env(&[]), &mut record);
    record.deployments[0].rollout_state = RolloutState::Completed;
    record.service_deployments[1].status = ServiceDeploymentStatus::Successful;
    assert!(check(&env(&["slow"]), &mut record));
    assert_eq!(record.deployments[0].rollout_state, RolloutState::Completed);
    assert_eq!(sd(&record, "b").alarms.as_ref().unwrap().status, RollbackMonitorsStatus::MonitoringComplete);
    assert!(record.events.is_empty());
    assert!(!check(&env(&["slow"]), &mut record));

    // Already failed (the circuit breaker): no second failure.
    let mut record = service(true, true);
    record.deployments[0].rollout_state = RolloutState::Failed;
    assert!(!check(&env(&["slow"]), &mut record));
    assert!(record.events.is_empty());

    // `enable: false`: DISABLED, never a trip.
    let mut record = service(false, true);
    assert!(check(&env(&["slow"]), &mut record));
    let alarms = sd(&record, "b").alarms.clone().unwrap();
    assert_eq!(alarms.status, RollbackMonitorsStatus::Disabled);
    assert_eq!(record.deployments[0].rollout_state, RolloutState::InProgress);
    assert!(!check(&env(&["slow"]), &mut record));

    // No alarms configured: no `alarms` at all.
    let mut record = service(true, true);
    record.deployment_configuration = Some(DeploymentConfiguration::default());
    assert!(!check(&env(&["slow"]), &mut record));
    assert!(sd(&record, "b").alarms.is_none());
}

#[test]
fn validation_refuses_enabled_alarms_without_names() {
    let config = |names: Vec<String>, enable| AlarmsConfig { alarm_names: names, enable, rollback: true };
    assert!(validate(None).is_ok());
    assert!(validate(Some(&config(vec![], false))).is_ok(), "disabled without names is a no-op");
    let none = validate(Some(&config(vec![], true))).unwrap_err();
    assert_eq!(none.exception(), crate::EcsException::InvalidParameterException);
    assert!(validate(Some(&config(vec!["a".into()], true))).is_ok());
    assert!(validate(Some(&config(vec![String::new()], true))).is_err());
    let many = (0..=MAX_ALARM_NAMES).map(|i| format!("a{i}")).collect();
    assert!(validate(Some(&config(many, true))).is_err());
}
