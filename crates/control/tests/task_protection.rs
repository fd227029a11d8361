//! Task scale-in protection against the service scheduler, on an in-memory store with a simulated agent and a
//! manual clock (no Docker): scale-in and deployments leave protected tasks alone until protection expires or is
//! removed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::services::controller::reconcile_all;
use berth_control::{Control, ControlConfig, EcsException};
use berth_model::agent::{ContainerReport, ReportRequest, TaskReport};
use berth_model::clock::ManualClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::sync::Arc;

async fn setup() -> (Arc<Control>, Arc<ManualClock>, String) {
    let clock = Arc::new(ManualClock::new(1_000_000.0));
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    let control = Control::start(Arc::new(MemoryStore::new()), clock.clone(), config).await.unwrap();
    let (_, id) = common::join_agent(&control, "host-a").await;
    for _ in 0..2 {
        common::register_app(&control, "web", "x").await;
    }
    (control, clock, id)
}

/// Plays the agent: tasks to run report RUNNING, tasks asked to stop report STOPPED.
async fn agent_acts(control: &Control, id: &str) {
    let reports: Vec<TaskReport> = control
        .desired_state("default", id)
        .tasks
        .iter()
        .map(|t| {
            let status = if t.desired_status == "STOPPED" { "STOPPED" } else { "RUNNING" };
            TaskReport {
                task_arn: t.task_arn.clone(),
                last_status: status.into(),
                containers: vec![ContainerReport {
                    name: "app".into(),
                    last_status: status.into(),
                    health_status: "UNKNOWN".into(),
                    ..Default::default()
                }],
                health_status: "UNKNOWN".into(),
                ..Default::default()
            }
        })
        .collect();
    control
        .agent_report("default", id, ReportRequest { tasks: reports, applied_revision: 0, usage: Vec::new() })
        .await
        .unwrap();
}

async fn settle(control: &Control, id: &str, rounds: usize) {
    for _ in 0..rounds {
        reconcile_all(control).await.unwrap();
        agent_acts(control, id).await;
    }
}

/// The ARNs of the service's tasks that are not STOPPED, oldest first.
fn live_tasks(control: &Control) -> Vec<String> {
    let state = control.cache().read();
    let mut tasks: Vec<(f64, String)> = state
        .tasks
        .values()
        .filter(|t| t.record.last_status != berth_control::status::TaskStatus::Stopped)
        .map(|t| (t.record.created_at, t.record.arn.clone()))
        .collect();
    tasks.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    tasks.into_iter().map(|t| t.1).collect()
}

async fn protect(
    control: &Control,
    tasks: &[&String],
    enabled: bool,
    minutes: Option<i32>,
) -> UpdateTaskProtectionResponse {
    control
        .update_task_protection(UpdateTaskProtectionRequest {
            cluster: "default".into(),
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            protection_enabled: enabled,
            expires_in_minutes: minutes,
        })
        .await
        .unwrap()
}

async fn create_service(control: &Control, count: i32) {
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(count),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn scale_in_spares_protected_tasks_until_protection_expires() {
    let (control, clock, id) = setup().await;
    create_service(&control, 3).await;
    settle(&control, &id, 4).await;
    let tasks = live_tasks(&control);
    assert_eq!(tasks.len(), 3);
    let out = protect(&control, &[&tasks[0]], true, Some(1)).await;
    let protected = out.protected_tasks.unwrap();
    assert!(protected[0].protection_enabled);
    assert_eq!(protected[0].expiration_date, Some(clock_now(&clock) + 60.0));
    control
        .update_service(UpdateServiceRequest { service: "web".into(), desired_count: Some(0), ..Default::default() })
        .await
        .unwrap();
    settle(&control, &id, 4).await;
    assert_eq!(live_tasks(&control), vec![tasks[0].clone()], "only the protected task is left");
    clock.advance(59.0);
    settle(&control, &id, 3).await;
    assert_eq!(live_tasks(&control).len(), 1, "still protected at 59 s");
    clock.advance(1.0);
    settle(&control, &id, 3).await;
    assert!(live_tasks(&control).is_empty(), "stopped once its protection expired");
    let got = control
        .get_task_protection(GetTaskProtectionRequest {
            cluster: "default".into(),
            tasks: Some(vec![tasks[0].clone()]),
        })
        .unwrap();
    let shown = &got.protected_tasks.unwrap()[0];
    assert!(!shown.protection_enabled);
    assert_eq!(shown.expiration_date, None);
}

fn clock_now(clock: &ManualClock) -> f64 {
    use berth_model::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn a_deployment_waits_for_protected_tasks_of_the_old_revision() {
    let (control, _clock, id) = setup().await;
    create_service(&control, 2).await;
    settle(&control, &id, 4).await;
    let old = live_tasks(&control);
    assert_eq!(old.len(), 2);
    protect(&control, &[&old[1]], true, None).await;
    control
        .update_service(UpdateServiceRequest {
            service: "web".into(),
            task_definition: Some("web:2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    settle(&control, &id, 10).await;
    let live = live_tasks(&control);
    assert!(live.contains(&old[1]), "the protected old task keeps running");
    assert!(!live.contains(&old[0]), "the unprotected old task was replaced");
    let service = &control
        .describe_services(DescribeServicesRequest { services: vec!["web".into()], ..Default::default() })
        .unwrap()
        .services
        .unwrap()[0];
    assert_eq!(service.deployments.as_ref().unwrap().len(), 2, "the old deployment is not done");
    protect(&control, &[&old[1]], false, None).await;
    settle(&control, &id, 6).await;
    let live = live_tasks(&control);
    assert!(!live.contains(&old[1]), "replaced once unprotected");
    assert_eq!(live.len(), 2);
}

#[tokio::test]
async fn only_service_tasks_can_be_protected_and_parameters_are_checked() {
    let (control, _clock, id) = setup().await;
    let run = control.run_task(RunTaskRequest { task_definition: "web:1".into(), ..Default::default() }).await.unwrap();
    let standalone = run.tasks.unwrap()[0].task_arn.clone().unwrap();
    create_service(&control, 1).await;
    settle(&control, &id, 3).await;
    let out = protect(&control, &[&standalone, &"nope".to_string()], true, None).await;
    assert!(out.protected_tasks.unwrap().is_empty());
    let failures = out.failures.unwrap();
    assert_eq!(failures[0].reason.as_deref(), Some("TASK_NOT_VALID"));
    assert_eq!(failures[1].reason.as_deref(), Some("MISSING"));
    for minutes in [0, 2881] {
        let err = control
            .update_task_protection(UpdateTaskProtectionRequest {
                cluster: "default".into(),
                tasks: vec![standalone.clone()],
                protection_enabled: true,
                expires_in_minutes: Some(minutes),
            })
            .await
            .unwrap_err();
        assert_eq!(err.exception(), EcsException::InvalidParameterException);
        let text = err.to_string();
        assert!(
            text.contains("expiresInMinutes must be between 1 and 2880") && text.contains(&minutes.to_string()),
            "{text}"
        );
    }
    let err =
        control.get_task_protection(GetTaskProtectionRequest { cluster: "nope".into(), tasks: None }).unwrap_err();
    assert_eq!(err.exception(), EcsException::ClusterNotFoundException);
    assert!(err.to_string().contains("Cluster not found."), "{err}");
}
