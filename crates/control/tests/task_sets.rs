//! Task sets on an in-memory store with a simulated agent (no Docker): ECS's rules on the five operations and on
//! CreateService/UpdateService/DeleteService for the EXTERNAL deployment controller, the scheduler keeping each
//! task set at its share, and DRAINING task sets leaving once their tasks stopped. (The aws CLI, real containers and
//! the load balancer: crates/berth/tests/task_sets.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::services::controller::reconcile_all;
use berth_control::{Control, ControlConfig, EcsException};
use berth_model::agent::{ContainerReport, ReportRequest, TaskReport};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::sync::Arc;

async fn control() -> Arc<Control> {
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), config).await.unwrap()
}

/// Plays the agent: tasks to run report RUNNING, tasks to stop report STOPPED.
async fn agent_acts(control: &Control, instance: &str) {
    let desired = control.desired_state("default", instance);
    let tasks = desired
        .tasks
        .iter()
        .map(|t| {
            let stop = t.desired_status == "STOPPED";
            let status = if stop { "STOPPED" } else { "RUNNING" };
            TaskReport {
                task_arn: t.task_arn.clone(),
                last_status: status.into(),
                containers: vec![ContainerReport {
                    name: "app".into(),
                    last_status: status.into(),
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
        .agent_report("default", instance, ReportRequest { tasks, applied_revision: 0, usage: Vec::new() })
        .await
        .unwrap();
}

/// Scheduler passes and agent reports until nothing changes.
async fn settle(control: &Control, instance: &str) {
    for _ in 0..6 {
        reconcile_all(control).await.unwrap();
        agent_acts(control, instance).await;
    }
}

fn external(name: &str, desired: i32) -> CreateServiceRequest {
    CreateServiceRequest {
        service_name: name.into(),
        desired_count: Some(desired),
        deployment_controller: Some(DeploymentController { r#type: DeploymentControllerType::External }),
        ..Default::default()
    }
}

fn create_set(td: &str, scale: f64) -> CreateTaskSetRequest {
    CreateTaskSetRequest {
        service: "web".into(),
        cluster: "default".into(),
        task_definition: td.into(),
        scale: Some(Scale { value: scale, unit: Some(ScaleUnit::Percent) }),
        ..Default::default()
    }
}

fn exception<T: std::fmt::Debug>(result: berth_control::Result<T>) -> (EcsException, String) {
    let err = result.unwrap_err();
    (err.exception(), err.to_string())
}

fn describe(control: &Control) -> Vec<TaskSet> {
    let req = DescribeTaskSetsRequest { cluster: "default".into(), service: "web".into(), ..Default::default() };
    control.describe_task_sets(req).unwrap().task_sets.unwrap()
}

/// Running tasks by `startedBy`.
fn running_by(control: &Control, started_by: &str) -> usize {
    let state = control.cache().read();
    state
        .tasks
        .values()
        .filter(|t| t.record.started_by.as_deref() == Some(started_by))
        .filter(|t| t.record.last_status == berth_control::status::TaskStatus::Running)
        .count()
}

#[tokio::test]
async fn create_service_and_task_set_rules_for_the_external_controller() {
    let control = control().await;
    let td = common::register_app(&control, "web", "x").await;
    // CODE_DEPLOY: no CodeDeploy API; EXTERNAL: task set members refused on the service.
    let code_deploy = CreateServiceRequest {
        deployment_controller: Some(DeploymentController { r#type: DeploymentControllerType::CodeDeploy }),
        ..external("web", 1)
    };
    let (e, m) = exception(control.create_service(code_deploy).await);
    assert_eq!(e, EcsException::UnsupportedFeatureException, "{m}");
    assert!(m.contains("CodeDeploy"), "{m}");
    let with_td = CreateServiceRequest { task_definition: Some(td.clone()), ..external("web", 1) };
    let (e, m) = exception(control.create_service(with_td).await);
    assert_eq!(e, EcsException::InvalidParameterException, "{m}");
    let daemon = CreateServiceRequest {
        scheduling_strategy: Some(SchedulingStrategy::Daemon),
        desired_count: None,
        ..external("web", 1)
    };
    assert_eq!(exception(control.create_service(daemon).await).0, EcsException::InvalidParameterException);
    let breaker = CreateServiceRequest {
        deployment_configuration: Some(DeploymentConfiguration {
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable: true,
                rollback: true,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..external("web", 1)
    };
    assert_eq!(exception(control.create_service(breaker).await).0, EcsException::InvalidParameterException);

    // Task set operations on a missing service, on an ECS service, and in a missing cluster.
    let (e, _) = exception(control.create_task_set(create_set(&td, 100.0)).await);
    assert_eq!(e, EcsException::ServiceNotFoundException);
    control
        .create_service(CreateServiceRequest {
            service_name: "ecs".into(),
            task_definition: Some(td.clone()),
            desired_count: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    let (e, m) = exception(
        control.create_task_set(CreateTaskSetRequest { service: "ecs".into(), ..create_set(&td, 1.0) }).await,
    );
    assert_eq!(e, EcsException::InvalidParameterException);
    assert!(m.contains("EXTERNAL"), "{m}");
    let (e, _) = exception(
        control.create_task_set(CreateTaskSetRequest { cluster: "nope".into(), ..create_set(&td, 1.0) }).await,
    );
    assert_eq!(e, EcsException::ClusterNotFoundException);

    // The service: no deployments, no task sets yet.
    let created = control.create_service(external("web", 4)).await.unwrap().service.unwrap();
    assert_eq!(created.deployments, Some(vec![]));
    assert_eq!(created.task_sets, Some(vec![]));
    assert_eq!(created.deployment_controller.unwrap().r#type, DeploymentControllerType::External);

    // Bad task sets: scale, task definition.
    let (e, m) = exception(control.create_task_set(create_set(&td, 101.0)).await);
    assert_eq!(e, EcsException::InvalidParameterException, "{m}");
    let (e, _) = exception(control.create_task_set(create_set("missing:1", 10.0)).await);
    assert_eq!(e, EcsException::ClientException);

    // A task set with a client token, retried, is the same task set; the sixth one is refused.
    let token = CreateTaskSetRequest { client_token: Some("t-1".into()), ..create_set(&td, 10.0) };
    let first = control.create_task_set(token.clone()).await.unwrap().task_set.unwrap();
    let again = control.create_task_set(token).await.unwrap().task_set.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(first.status.as_deref(), Some("ACTIVE"));
    assert_eq!(first.computed_desired_count, 1, "ceil(4 x 10%)");
    for _ in 0..4 {
        control.create_task_set(create_set(&td, 0.0)).await.unwrap();
    }
    let (e, m) = exception(control.create_task_set(create_set(&td, 0.0)).await);
    assert_eq!(e, EcsException::InvalidParameterException);
    assert!(m.contains("5 deployments exist on the service"), "{m}");

    // UpdateService: the desired count changes, task set members do not.
    let update = UpdateServiceRequest { service: "web".into(), desired_count: Some(10), ..Default::default() };
    control.update_service(update.clone()).await.unwrap();
    assert_eq!(describe(&control)[0].computed_desired_count, 1, "ceil(10 x 10%)");
    let new_td = UpdateServiceRequest { task_definition: Some(td.clone()), ..update.clone() };
    let (e, m) = exception(control.update_service(new_td).await);
    assert_eq!(e, EcsException::InvalidParameterException);
    assert!(m.contains("CreateTaskSet"), "{m}");
    let to_ecs = UpdateServiceRequest {
        deployment_controller: Some(DeploymentController { r#type: DeploymentControllerType::Ecs }),
        ..update
    };
    assert_eq!(exception(control.update_service(to_ecs).await).0, EcsException::UnsupportedFeatureException);

    // DescribeTaskSets: by id and ARN, unknown ones as MISSING failures.
    let named = DescribeTaskSetsRequest {
        cluster: "default".into(),
        service: "web".into(),
        task_sets: Some(vec![first.task_set_arn.clone().unwrap(), "ecs-svc/123".into()]),
        ..Default::default()
    };
    let out = control.describe_task_sets(named).unwrap();
    assert_eq!(out.task_sets.unwrap().len(), 1);
    let failures = out.failures.unwrap();
    assert_eq!(failures[0].reason.as_deref(), Some("MISSING"));
    assert!(failures[0].arn.as_deref().unwrap().ends_with(":task-set/default/web/ecs-svc/123"), "{failures:?}");

    // Unknown task sets, and the service deletion rule.
    let missing = UpdateTaskSetRequest {
        cluster: "default".into(),
        service: "web".into(),
        task_set: "ecs-svc/1".into(),
        scale: Scale { value: 1.0, unit: None },
    };
    assert_eq!(exception(control.update_task_set(missing).await).0, EcsException::TaskSetNotFoundException);
    let (e, m) = exception(
        control.delete_service(DeleteServiceRequest { service: "web".into(), force: None, ..Default::default() }).await,
    );
    assert_eq!(e, EcsException::InvalidParameterException, "{m}");
}

#[tokio::test]
async fn the_scheduler_keeps_each_task_set_at_its_share_and_deleted_ones_drain_away() {
    let control = control().await;
    let (_, instance) = common::join_agent(&control, "host-a").await;
    let blue_td = common::register_app(&control, "web", "blue").await;
    let green_td = common::register_app(&control, "web", "green").await;
    control.create_service(external("web", 4)).await.unwrap();
    let blue = control.create_task_set(create_set(&blue_td, 100.0)).await.unwrap().task_set.unwrap().id.unwrap();
    let green = control.create_task_set(create_set(&green_td, 50.0)).await.unwrap().task_set.unwrap().id.unwrap();
    settle(&control, &instance).await;
    assert_eq!((running_by(&control, &blue), running_by(&control, &green)), (4, 2));
    let sets = describe(&control);
    assert!(sets.iter().all(|t| t.stability_status == Some(StabilityStatus::SteadyState)), "{sets:?}");
    assert_eq!((sets[0].running_count, sets[1].running_count), (4, 2));

    // The primary switches; the service shows it and counts every task.
    let primary = UpdateServicePrimaryTaskSetRequest {
        cluster: "default".into(),
        service: "web".into(),
        primary_task_set: green.clone(),
    };
    assert_eq!(
        control.update_service_primary_task_set(primary).await.unwrap().task_set.unwrap().status.as_deref(),
        Some("PRIMARY")
    );
    let service = control
        .describe_services(DescribeServicesRequest { services: vec!["web".into()], ..Default::default() })
        .unwrap()
        .services
        .unwrap()
        .remove(0);
    assert_eq!(service.task_definition.as_deref(), Some(green_td.as_str()));
    assert_eq!(service.running_count, 6);

    // The primary needs force to go; blue (ACTIVE, scaled above 0) needs force too, or a scale of 0 first.
    let delete = |id: &str, force: Option<bool>| DeleteTaskSetRequest {
        cluster: "default".into(),
        service: "web".into(),
        task_set: id.into(),
        force,
    };
    let (_, m) = exception(control.delete_task_set(delete(&green, None)).await);
    assert!(m.contains("primary task set"), "{m}");
    let (_, m) = exception(control.delete_task_set(delete(&blue, None)).await);
    assert!(m.contains("scaled above 0"), "{m}");
    let scale = UpdateTaskSetRequest {
        cluster: "default".into(),
        service: "web".into(),
        task_set: blue.clone(),
        scale: Scale { value: 0.0, unit: Some(ScaleUnit::Percent) },
    };
    assert_eq!(control.update_task_set(scale).await.unwrap().task_set.unwrap().computed_desired_count, 0);
    settle(&control, &instance).await;
    assert_eq!(running_by(&control, &blue), 0);
    let deleted = control.delete_task_set(delete(&blue, None)).await.unwrap().task_set.unwrap();
    assert_eq!(deleted.status.as_deref(), Some("DRAINING"));
    settle(&control, &instance).await;
    let left: Vec<String> = describe(&control).into_iter().filter_map(|t| t.id).collect();
    assert_eq!(left, vec![green.clone()]);

    // Deleting the service with force drains every task set with it.
    control
        .delete_service(DeleteServiceRequest { service: "web".into(), force: Some(true), ..Default::default() })
        .await
        .unwrap();
    settle(&control, &instance).await;
    assert_eq!(running_by(&control, &green), 0);
    let service = control
        .describe_services(DescribeServicesRequest { services: vec!["web".into()], ..Default::default() })
        .unwrap()
        .services
        .unwrap()
        .remove(0);
    assert_eq!(service.status.as_deref(), Some("INACTIVE"));
}
