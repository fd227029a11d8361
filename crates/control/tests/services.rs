//! The service scheduler on an in-memory store with simulated agents (no Docker): counts, rolling deployments,
//! the circuit breaker, DAEMON services, lost instances.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::services::controller::reconcile_all;
use berth_control::{Control, ControlConfig};
use berth_model::agent::{ContainerReport, ReportRequest, TaskReport};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::sync::Arc;

async fn control() -> Arc<Control> {
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), config).await.unwrap()
}

async fn agent(control: &Control, name: &str) -> (String, String) {
    common::join_agent(control, name).await
}

async fn task_definition(control: &Control, family: &str) -> String {
    common::register_app(control, family, "x").await
}

/// Every non-STOPPED task of the service, as (arn, lastStatus, desiredStatus, startedBy).
fn tasks(control: &Control) -> Vec<(String, String, String, String)> {
    let state = control.cache().read();
    state
        .tasks
        .values()
        .filter(|t| t.record.last_status != berth_control::status::TaskStatus::Stopped)
        .map(|t| {
            let task = &t.record;
            (
                task.arn.clone(),
                task.last_status.as_str().to_string(),
                task.desired_status.as_str().to_string(),
                task.started_by.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// Plays the agent: every task it should run reports RUNNING; every task asked to stop reports STOPPED.
async fn agent_acts(control: &Control, cluster_instance: &str) {
    let desired = control.desired_state("default", cluster_instance);
    let reports: Vec<TaskReport> = desired
        .tasks
        .iter()
        .map(|t| {
            let stop = t.desired_status == "STOPPED";
            TaskReport {
                task_arn: t.task_arn.clone(),
                last_status: if stop { "STOPPED".into() } else { "RUNNING".into() },
                containers: vec![ContainerReport {
                    name: "app".into(),
                    last_status: if stop { "STOPPED".into() } else { "RUNNING".into() },
                    exit_code: stop.then_some(0),
                    health_status: "UNKNOWN".into(),
                    ..Default::default()
                }],
                health_status: "UNKNOWN".into(),
                ..Default::default()
            }
        })
        .collect();
    control
        .agent_report(
            "default",
            cluster_instance,
            ReportRequest { tasks: reports, applied_revision: 0, usage: Vec::new() },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_replica_service_reaches_its_desired_count_and_no_more() {
    let control = control().await;
    let (_arn, id) = agent(&control, "host-a").await;
    task_definition(&control, "web").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web".into()),
            desired_count: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..5 {
        reconcile_all(&control).await.unwrap();
    }
    assert_eq!(tasks(&control).len(), 3, "{:?}", tasks(&control));
    agent_acts(&control, &id).await;
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
    }
    assert_eq!(tasks(&control).len(), 3);
    let out = control
        .describe_services(DescribeServicesRequest { services: vec!["web".into()], ..Default::default() })
        .unwrap();
    let service = &out.services.unwrap()[0];
    assert_eq!(service.running_count, 3);
    let deployments = service.deployments.clone().unwrap();
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].rollout_state, Some(DeploymentRolloutState::Completed));
    let events: Vec<String> = service.events.clone().unwrap().into_iter().filter_map(|e| e.message).collect();
    assert!(events[0].ends_with("has reached a steady state."), "{events:?}");
}

async fn settle(control: &Control, instances: &[&str], rounds: usize, max_seen: &mut usize) {
    for _ in 0..rounds {
        reconcile_all(control).await.unwrap();
        *max_seen = (*max_seen).max(tasks(control).len());
        for id in instances {
            agent_acts(control, id).await;
        }
    }
}

fn service(control: &Control, name: &str) -> Service {
    control
        .describe_services(DescribeServicesRequest { services: vec![name.into()], ..Default::default() })
        .unwrap()
        .services
        .unwrap()
        .remove(0)
}

#[tokio::test]
async fn rolling_deployment_stays_within_maximum_percent_and_completes() {
    let control = control().await;
    let (_, id) = agent(&control, "host-a").await;
    task_definition(&control, "web").await;
    let v2 = task_definition(&control, "web").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(4),
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: Some(50),
                maximum_percent: Some(150),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut max_seen = 0;
    settle(&control, &[&id], 4, &mut max_seen).await;
    assert_eq!(service(&control, "web").running_count, 4);
    control
        .update_service(UpdateServiceRequest {
            service: "web".into(),
            task_definition: Some("web:2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut max_seen = 0;
    settle(&control, &[&id], 10, &mut max_seen).await;
    assert!(max_seen <= 6, "at most 150% of 4 tasks may exist, saw {max_seen}");
    let s = service(&control, "web");
    assert_eq!(s.running_count, 4);
    let deployments = s.deployments.unwrap();
    assert_eq!(deployments.len(), 1, "the old deployment is gone");
    assert_eq!(deployments[0].task_definition.as_deref(), Some(v2.as_str()));
    assert_eq!(deployments[0].rollout_state, Some(DeploymentRolloutState::Completed));
    assert!(tasks(&control).iter().all(|t| t.3 == deployments[0].id.clone().unwrap()));
    // Scale in.
    control
        .update_service(UpdateServiceRequest { service: "web".into(), desired_count: Some(1), ..Default::default() })
        .await
        .unwrap();
    settle(&control, &[&id], 3, &mut max_seen).await;
    assert_eq!(tasks(&control).len(), 1);
}

#[tokio::test]
async fn circuit_breaker_fails_and_rolls_back() {
    // A manual clock: starts that fail are throttled (5 s, then 10 s, ...), so the test moves time on.
    let clock = Arc::new(berth_model::clock::ManualClock::new(1_000_000.0));
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    let control = Control::start(Arc::new(MemoryStore::new()), clock.clone(), config).await.unwrap();
    let (_, id) = agent(&control, "host-a").await;
    task_definition(&control, "web").await;
    let v1 = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".to_string();
    task_definition(&control, "web").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(2),
            deployment_configuration: Some(DeploymentConfiguration {
                deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                    enable: true,
                    rollback: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut max_seen = 0;
    settle(&control, &[&id], 4, &mut max_seen).await;
    control
        .update_service(UpdateServiceRequest {
            service: "web".into(),
            task_definition: Some("web:2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    // web:2's tasks fail to start, every time.
    for _ in 0..20 {
        reconcile_all(&control).await.unwrap();
        let desired = control.desired_state("default", &id);
        let reports: Vec<TaskReport> = desired
            .tasks
            .iter()
            .map(|t| {
                let bad = t.task_definition_arn.ends_with(":2");
                TaskReport {
                    task_arn: t.task_arn.clone(),
                    last_status: if bad || t.desired_status == "STOPPED" { "STOPPED".into() } else { "RUNNING".into() },
                    stop_code: bad.then(|| "TaskFailedToStart".into()),
                    stopped_reason: bad.then(|| "CannotPullContainerError: no such image".into()),
                    health_status: "UNKNOWN".into(),
                    ..Default::default()
                }
            })
            .collect();
        control
            .agent_report("default", &id, ReportRequest { tasks: reports, applied_revision: 0, usage: Vec::new() })
            .await
            .unwrap();
        clock.advance(30.0);
        // The agent heartbeats every 3 s meanwhile (liveness runs on the same manual clock).
        control.touch_agent("default", &id).await.unwrap();
    }
    let s = service(&control, "web");
    let events: Vec<String> = s.events.clone().unwrap().into_iter().filter_map(|e| e.message).collect();
    assert!(events.iter().any(|e| e.contains("deployment failed: tasks failed to start.")), "{events:?}");
    assert!(events.iter().any(|e| e.contains("rolling back to deployment")), "{events:?}");
    let deployments = s.deployments.unwrap();
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    assert_eq!(deployments[0].task_definition.as_deref(), Some(v1.as_str()), "rolled back to web:1");
    assert_eq!(deployments[0].rollout_state, Some(DeploymentRolloutState::Completed));
    assert_eq!(s.running_count, 2);
    let sd = control
        .list_service_deployments(ListServiceDeploymentsRequest { service: "web".into(), ..Default::default() })
        .unwrap()
        .service_deployments
        .unwrap();
    assert_eq!(sd[0].status, Some(ServiceDeploymentStatus::RollbackSuccessful), "{sd:?}");
}

#[tokio::test]
async fn daemon_runs_one_task_per_instance_including_new_ones() {
    let control = control().await;
    let (_, a) = agent(&control, "host-a").await;
    task_definition(&control, "logs").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "logs".into(),
            task_definition: Some("logs".into()),
            scheduling_strategy: Some(SchedulingStrategy::Daemon),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut max_seen = 0;
    settle(&control, &[&a], 3, &mut max_seen).await;
    assert_eq!(tasks(&control).len(), 1);
    let (_, b) = agent(&control, "host-b").await;
    settle(&control, &[&a, &b], 3, &mut max_seen).await;
    let all = tasks(&control);
    assert_eq!(all.len(), 2);
    let s = service(&control, "logs");
    assert_eq!((s.desired_count, s.running_count), (2, 2));
}

#[tokio::test]
async fn delete_service_drains_then_goes_inactive() {
    let control = control().await;
    let (_, id) = agent(&control, "host-a").await;
    task_definition(&control, "web").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web".into()),
            desired_count: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut max_seen = 0;
    settle(&control, &[&id], 3, &mut max_seen).await;
    let refused = control.delete_service(DeleteServiceRequest { service: "web".into(), ..Default::default() }).await;
    assert!(refused.unwrap_err().to_string().contains("scaled above 0"));
    control
        .delete_service(DeleteServiceRequest { service: "web".into(), force: Some(true), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(service(&control, "web").status.as_deref(), Some("DRAINING"));
    settle(&control, &[&id], 4, &mut max_seen).await;
    assert!(tasks(&control).is_empty());
    assert_eq!(service(&control, "web").status.as_deref(), Some("INACTIVE"));
    // The name can be used again.
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web".into()),
            desired_count: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn tasks_on_a_draining_instance_move_without_dropping_below_the_minimum() {
    let control = control().await;
    let (arn_a, a) = agent(&control, "host-a").await;
    let (_, b) = agent(&control, "host-b").await;
    task_definition(&control, "web").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web".into()),
            desired_count: Some(4),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut max_seen = 0;
    settle(&control, &[&a, &b], 4, &mut max_seen).await;
    let on_a = |control: &Control| {
        let state = control.cache().read();
        state
            .tasks_on_instance(&a)
            .filter(|t| t.record.last_status != berth_control::status::TaskStatus::Stopped)
            .count()
    };
    assert!(on_a(&control) > 0, "the default spread uses both instances");
    control
        .update_container_instances_state(UpdateContainerInstancesStateRequest {
            container_instances: vec![arn_a.clone()],
            status: ContainerInstanceStatus::Draining,
            ..Default::default()
        })
        .await
        .unwrap();
    // Step by step: running tasks never drop below 4 (minimumHealthyPercent 100).
    for _ in 0..8 {
        reconcile_all(&control).await.unwrap();
        agent_acts(&control, &a).await;
        agent_acts(&control, &b).await;
        let running = service(&control, "web").running_count;
        assert!(running >= 4, "running dropped to {running}");
    }
    assert_eq!(on_a(&control), 0, "everything moved off the draining instance");
    assert_eq!(service(&control, "web").running_count, 4);
}

#[tokio::test]
async fn a_crash_looping_revision_never_completes_and_the_breaker_rolls_it_back() {
    use berth_model::clock::ManualClock;
    let clock = Arc::new(ManualClock::new(1_000.0));
    let control = Control::start(Arc::new(MemoryStore::new()), clock.clone(), ControlConfig::default()).await.unwrap();
    let (_, id) = agent(&control, "host-a").await;
    task_definition(&control, "web").await;
    task_definition(&control, "web").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(2),
            deployment_configuration: Some(DeploymentConfiguration {
                deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                    enable: true,
                    rollback: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut max_seen = 0;
    settle(&control, &[&id], 3, &mut max_seen).await;
    clock.advance(5.0);
    settle(&control, &[&id], 2, &mut max_seen).await;
    assert_eq!(service(&control, "web").deployments.unwrap()[0].rollout_state, Some(DeploymentRolloutState::Completed));

    control
        .update_service(UpdateServiceRequest {
            service: "web".into(),
            task_definition: Some("web:2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    // web:2's tasks reach RUNNING, then die a moment later, again and again.
    for _ in 0..12 {
        reconcile_all(&control).await.unwrap();
        agent_acts(&control, &id).await; // everything RUNNING (or STOPPED when asked)
        reconcile_all(&control).await.unwrap();
        let s = service(&control, "web");
        let v2 = s
            .deployments
            .unwrap()
            .into_iter()
            .find(|d| d.task_definition.as_deref().is_some_and(|t| t.ends_with(":2")));
        assert!(
            v2.is_none_or(|d| d.rollout_state != Some(DeploymentRolloutState::Completed)),
            "a crash loop must not complete"
        );
        clock.advance(1.0);
        let desired = control.desired_state("default", &id);
        let reports: Vec<TaskReport> = desired
            .tasks
            .iter()
            .filter(|t| t.task_definition_arn.ends_with(":2"))
            .map(|t| TaskReport {
                task_arn: t.task_arn.clone(),
                last_status: "STOPPED".into(),
                stop_code: Some("EssentialContainerExited".into()),
                stopped_reason: Some("Essential container in task exited".into()),
                health_status: "UNKNOWN".into(),
                ..Default::default()
            })
            .collect();
        control
            .agent_report("default", &id, ReportRequest { tasks: reports, applied_revision: 0, usage: Vec::new() })
            .await
            .unwrap();
    }
    clock.advance(5.0);
    settle(&control, &[&id], 3, &mut max_seen).await;
    let s = service(&control, "web");
    let events: Vec<String> = s.events.clone().unwrap().into_iter().filter_map(|e| e.message).collect();
    assert!(events.iter().any(|e| e.contains("rolling back to deployment")), "{events:?}");
    assert!(s.task_definition.unwrap().ends_with("web:1"));
}

#[tokio::test]
async fn rolling_back_over_revision_tasks_being_stopped_is_not_called_a_stall() {
    // ecs-deploy's --rollback: UpdateService to web:2, then back to web:1 before web:2's tasks ever ran. At the
    // maximum (4 of 2 x 200%) with the old tasks at the minimum, web:2's tasks are being stopped: progress, so no
    // "unable to stop or start tasks ... because of the service deployment configuration" event.
    let control = control().await;
    let (_, id) = agent(&control, "host-a").await;
    task_definition(&control, "web").await;
    task_definition(&control, "web").await;
    let create = CreateServiceRequest {
        service_name: "web".into(),
        task_definition: Some("web:1".into()),
        desired_count: Some(2),
        ..Default::default()
    };
    control.create_service(create).await.unwrap();
    let mut max_seen = 0;
    settle(&control, &[&id], 3, &mut max_seen).await;
    let update = |td: &str| UpdateServiceRequest {
        service: "web".into(),
        task_definition: Some(td.into()),
        ..Default::default()
    };
    control.update_service(update("web:2")).await.unwrap();
    reconcile_all(&control).await.unwrap(); // web:2's two tasks placed, not yet running
    assert_eq!(tasks(&control).len(), 4, "{:?}", tasks(&control));
    control.update_service(update("web:1")).await.unwrap();
    reconcile_all(&control).await.unwrap(); // web:2's tasks asked to stop
    reconcile_all(&control).await.unwrap(); // ... and still stopping
    settle(&control, &[&id], 4, &mut max_seen).await;
    assert!(max_seen <= 4, "at most 200% of 2 tasks, saw {max_seen}");
    let s = service(&control, "web");
    let events: Vec<String> = s.events.clone().unwrap().into_iter().filter_map(|e| e.message).collect();
    assert!(!events.iter().any(|e| e.contains("unable to stop or start tasks")), "{events:?}");
    assert!(s.task_definition.unwrap().ends_with("web:1"));
    assert_eq!(s.deployments.unwrap().len(), 1);
    assert_eq!(s.running_count, 2);
}

#[tokio::test]
async fn a_deployment_its_configuration_holds_says_so_in_ecss_event() {
    // minimumHealthyPercent 100 and maximumPercent 100: a new revision may neither start a task (the maximum is
    // reached) nor stop an old one (the minimum is reached). ECS says so in a service event and waits.
    let control = control().await;
    let (_, id) = agent(&control, "host-a").await;
    task_definition(&control, "web").await;
    task_definition(&control, "web").await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web:1".into()),
            desired_count: Some(2),
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: Some(100),
                maximum_percent: Some(100),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut max_seen = 0;
    settle(&control, &[&id], 3, &mut max_seen).await;
    assert_eq!(service(&control, "web").running_count, 2);
    control
        .update_service(UpdateServiceRequest {
            service: "web".into(),
            task_definition: Some("web:2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    settle(&control, &[&id], 4, &mut max_seen).await;
    assert!(max_seen <= 2, "never above 100% of 2 tasks, saw {max_seen}");
    let s = service(&control, "web");
    let events: Vec<String> = s.events.clone().unwrap().into_iter().filter_map(|e| e.message).collect();
    let held = "(service web) was unable to stop or start tasks during a deployment because of the service \
                deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.";
    assert_eq!(events.iter().filter(|e| *e == held).count(), 1, "said once, not every pass: {events:?}");
    let deployments = s.deployments.unwrap();
    assert_eq!(deployments.len(), 2, "web:1 keeps its two tasks, web:2 has none");
    assert_eq!(deployments[0].running_count, 0);
    assert_eq!(s.running_count, 2);
}
