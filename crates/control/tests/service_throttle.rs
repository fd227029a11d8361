//! The start-failure throttle and `failedTasks` on the control plane's clock (a `ManualClock`, no sleeping), with
//! a simulated agent whose every task fails to start, as an image that does not exist makes it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::services::controller::reconcile_all;
use berth_control::services::throttle::IMPAIRED_EVENT;
use berth_control::{Control, ControlConfig};
use berth_model::agent::{AgentResources, ContainerReport, RegisterRequest, ReportRequest, TaskReport};
use berth_model::clock::ManualClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

const PULL_FAILURE: &str = "CannotPullContainerError: image berth-test/does-not-exist:nope is not available locally";

async fn control(clock: Arc<ManualClock>) -> Arc<Control> {
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    Control::start(Arc::new(MemoryStore::new()), clock, config).await.unwrap()
}

async fn agent(control: &Control) -> String {
    common::join_agent(control, "host").await.1
}

async fn register(control: &Control, image: &str) -> String {
    common::register_app(control, "web", image).await
}

/// Plays the agent: a task of `bad_image` fails to start (pull failure: STOPPING with its stop code, as the agent
/// reports while it cleans up, then STOPPED on the next round), any other runs; tasks asked to stop stop.
async fn agent_acts(control: &Control, instance: &str, bad_image: &str) {
    let desired = control.desired_state("default", instance);
    let reports: Vec<TaskReport> = desired
        .tasks
        .iter()
        .map(|t| {
            let bad = t.containers.iter().any(|c| c.definition.image.as_deref() == Some(bad_image));
            let (status, code, reason) = match (t.desired_status == "STOPPED", bad) {
                (true, _) => ("STOPPED", None, None),
                (false, true) => ("STOPPING", Some("TaskFailedToStart".to_string()), Some(PULL_FAILURE.to_string())),
                (false, false) => ("RUNNING", None, None),
            };
            TaskReport {
                task_arn: t.task_arn.clone(),
                last_status: status.into(),
                containers: vec![ContainerReport {
                    name: "app".into(),
                    last_status: status.into(),
                    reason: bad.then(|| PULL_FAILURE.to_string()),
                    health_status: "UNKNOWN".into(),
                    ..Default::default()
                }],
                stop_code: code,
                stopped_reason: reason,
                health_status: "UNKNOWN".into(),
                ..Default::default()
            }
        })
        .collect();
    if reports.is_empty() {
        // A real agent heartbeats even with nothing to report (liveness runs on the same manual clock).
        control.touch_agent("default", instance).await.unwrap();
        return;
    }
    control
        .agent_report("default", instance, ReportRequest { tasks: reports, applied_revision: 0, usage: Vec::new() })
        .await
        .unwrap();
}

/// When every task of the service was created, in seconds since `start`.
fn created_offsets(control: &Control, start: f64) -> Vec<f64> {
    let state = control.cache().read();
    let mut out: Vec<f64> = state.tasks.values().map(|t| (t.record.created_at - start).round()).collect();
    out.sort_by(f64::total_cmp);
    out
}

fn per_minute(offsets: &[f64], minutes: usize) -> Vec<usize> {
    (0..minutes)
        .map(|m| offsets.iter().filter(|o| **o >= (m * 60) as f64 && **o < ((m + 1) * 60) as f64).count())
        .collect()
}

fn service(control: &Control) -> Service {
    let out = control
        .describe_services(DescribeServicesRequest { services: vec!["web".into()], ..Default::default() })
        .unwrap();
    out.services.unwrap().remove(0)
}

fn events(service: &Service) -> Vec<String> {
    service.events.iter().flatten().filter_map(|e| e.message.clone()).collect()
}

/// Runs the scheduler and the agent once a second for `seconds`.
async fn run_for(control: &Control, clock: &ManualClock, instance: &str, bad: &str, seconds: usize) {
    for _ in 0..seconds {
        reconcile_all(control).await.unwrap();
        agent_acts(control, instance, bad).await;
        clock.advance(1.0);
    }
}

#[tokio::test]
async fn starts_that_keep_failing_are_throttled_on_a_growing_schedule_until_a_new_deployment() {
    let bad = "berth-test/does-not-exist:nope";
    let clock = Arc::new(ManualClock::new(1_000_000.0));
    let control = control(clock.clone()).await;
    let instance = agent(&control).await;
    register(&control, bad).await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let start = 1_000_000.0;
    run_for(&control, &clock, &instance, bad, 180).await;
    let offsets = created_offsets(&control, start);
    let minutes = per_minute(&offsets, 3);
    println!("start attempts at {offsets:?}; per minute {minutes:?}");
    // Failures at 0 s then waits of 5, 10, 20, 40, 80 s (plus the second the agent takes to report each).
    assert_eq!(offsets, [0.0, 6.0, 17.0, 38.0, 79.0, 160.0]);
    assert!(minutes[0] <= 10, "{minutes:?}");
    assert!(minutes[1] < minutes[0] && minutes[2] <= minutes[1], "{minutes:?}");

    let s = service(&control);
    let deployment = &s.deployments.clone().unwrap()[0];
    assert_eq!(deployment.failed_tasks, 6, "every start failure counts without a circuit breaker");
    assert_eq!(deployment.rollout_state, Some(DeploymentRolloutState::InProgress));
    let events = events(&s);
    let impaired = format!("(service web) {IMPAIRED_EVENT}");
    let launch_failed = format!("(service web) failed to launch a task with (error {PULL_FAILURE}).");
    let count = |m: &str| events.iter().filter(|e| *e == m).count();
    assert!(count(&impaired) >= 1 && count(&impaired) <= 3, "{events:?}");
    assert!(count(&launch_failed) >= 1 && count(&launch_failed) < 6, "repeated at most once a minute: {events:?}");
    let placements = events.iter().filter(|e| e.contains("unable to place")).count();
    assert_eq!(placements, 0, "{events:?}");

    // A new task definition resets the throttle at once, and a task that runs ends the count.
    register(&control, "berth-workload:latest").await;
    control
        .update_service(UpdateServiceRequest {
            service: "web".into(),
            task_definition: Some("web:2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let before = created_offsets(&control, start).len();
    run_for(&control, &clock, &instance, bad, 2).await;
    let after = created_offsets(&control, start);
    assert_eq!(after.len(), before + 1, "the new deployment starts at once: {after:?}");
    let s = service(&control);
    assert_eq!(s.running_count, 1);
    assert_eq!(s.deployments.unwrap()[0].failed_tasks, 0);
}

#[tokio::test]
async fn a_throttled_service_starts_one_task_per_wait_whatever_its_desired_count() {
    let bad = "berth-test/does-not-exist:nope";
    let clock = Arc::new(ManualClock::new(2_000_000.0));
    let control = control(clock.clone()).await;
    let instance = agent(&control).await;
    register(&control, bad).await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(4),
            ..Default::default()
        })
        .await
        .unwrap();
    run_for(&control, &clock, &instance, bad, 60).await;
    let offsets = created_offsets(&control, 2_000_000.0);
    println!("start attempts at {offsets:?}");
    // The first wave is the desired count; after 4 failures the next wait is 40 s, then one task at a time.
    assert_eq!(offsets, [0.0, 0.0, 0.0, 0.0, 41.0]);
}

#[tokio::test]
async fn a_service_that_cannot_be_placed_says_why_once_and_is_not_throttled() {
    let clock = Arc::new(ManualClock::new(3_000_000.0));
    let control = control(clock.clone()).await;
    register(&control, "berth-workload:latest").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let unplaced =
        "(service web) was unable to place a task because no container instance met all of its requirements.";
    let troubleshooting = " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";
    // No container instance at all: ECS's placement event, once however many passes run.
    for _ in 0..5 {
        reconcile_all(&control).await.unwrap();
        clock.advance(1.0);
    }
    let evs = events(&service(&control));
    assert_eq!(evs.iter().filter(|e| **e == format!("{unplaced}{troubleshooting}")).count(), 1, "{evs:?}");
    // An instance too small for the task: the closest match and why.
    let mut attributes = BTreeMap::new();
    attributes.insert("com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(), String::new());
    let small = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "small".into(),
            resources: AgentResources { cpu: 1024, memory_mib: 32, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
    let small_id = small.container_instance_arn.rsplit('/').next().unwrap().to_string();
    for _ in 0..5 {
        reconcile_all(&control).await.unwrap();
        clock.advance(1.0);
    }
    let evs = events(&service(&control));
    let memory = format!(
        "{unplaced} The closest matching (container-instance {small_id}) has insufficient memory available.{troubleshooting}"
    );
    assert_eq!(evs.iter().filter(|e| **e == memory).count(), 1, "{evs:?}");
    assert!(control.cache().read().tasks.is_empty());
    // Room at last: the task starts on the next pass, placement failures did not throttle the service.
    let big = agent(&control).await;
    reconcile_all(&control).await.unwrap();
    agent_acts(&control, &big, "none").await;
    reconcile_all(&control).await.unwrap();
    let s = service(&control);
    assert_eq!(s.running_count, 1, "{:?}", events(&s));
}

/// Plays an agent whose tasks all start, run for one round, and then crash: the essential container exits with
/// code 3 (STOPPED with `EssentialContainerExited`, as the agent reports it).
async fn agent_runs_then_crashes(control: &Control, instance: &str, ran: &mut std::collections::BTreeSet<String>) {
    let desired = control.desired_state("default", instance);
    let reports: Vec<TaskReport> = desired
        .tasks
        .iter()
        .map(|t| {
            let crash = t.desired_status == "STOPPED" || !ran.insert(t.task_arn.clone());
            let status = if crash { "STOPPED" } else { "RUNNING" };
            let stopped_by_us = t.desired_status == "STOPPED";
            TaskReport {
                task_arn: t.task_arn.clone(),
                last_status: status.into(),
                containers: vec![ContainerReport {
                    name: "app".into(),
                    last_status: status.into(),
                    exit_code: crash.then_some(3),
                    health_status: "UNKNOWN".into(),
                    ..Default::default()
                }],
                stop_code: (crash && !stopped_by_us).then(|| "EssentialContainerExited".to_string()),
                stopped_reason: (crash && !stopped_by_us).then(|| "Essential container in task exited".to_string()),
                health_status: "UNKNOWN".into(),
                ..Default::default()
            }
        })
        .collect();
    if reports.is_empty() {
        control.touch_agent("default", instance).await.unwrap();
        return;
    }
    control
        .agent_report("default", instance, ReportRequest { tasks: reports, applied_revision: 0, usage: Vec::new() })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_task_that_ran_and_then_crashed_is_replaced_at_once_with_ecss_event_and_not_throttled() {
    let clock = Arc::new(ManualClock::new(4_000_000.0));
    let control = control(clock.clone()).await;
    let instance = agent(&control).await;
    register(&control, "berth-workload:latest").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ran = std::collections::BTreeSet::new();
    for _ in 0..30 {
        reconcile_all(&control).await.unwrap();
        agent_runs_then_crashes(&control, &instance, &mut ran).await;
        clock.advance(1.0);
    }
    let offsets = created_offsets(&control, 4_000_000.0);
    println!("start attempts at {offsets:?}");
    // Each task runs for a round and crashes on the next; its replacement is placed on the pass after: a task
    // every 2 s, never held back by the start-failure throttle (only tasks that never ran count there).
    assert!(offsets.len() >= 14, "a crash after RUNNING must not throttle the replacements: {offsets:?}");
    let gaps: Vec<f64> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g <= 3.0), "{gaps:?}");
    let s = service(&control);
    let evs = events(&s);
    let crashed =
        "(service web) has a task that stopped: Essential container in task exited: (container app) (exit code 3).";
    assert!(evs.iter().any(|e| e == crashed), "{evs:?}");
    assert!(!evs.iter().any(|e| e.contains(IMPAIRED_EVENT)), "{evs:?}");
    // ECS: once a deployment has a task that ran, its failed-task count resets to zero and stops being evaluated.
    let deployment = s.deployments.unwrap().remove(0);
    assert_eq!(deployment.failed_tasks, 0, "{deployment:?}");
    assert_eq!(deployment.rollout_state, Some(DeploymentRolloutState::Completed), "{deployment:?}");
}
