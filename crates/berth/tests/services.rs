//! Services on a real Berth and Docker, through the AWS SDK: desired count, replacement of dead and unhealthy
//! tasks, rolling deployments, the circuit breaker with rollback, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, PlacementConstraint,
    PlacementConstraintType, PlacementStrategy, PlacementStrategyType, SchedulingStrategy,
};
use berth_testkit::{docker, http_get, wait_for};
use common::*;
use std::time::{Duration, Instant};

async fn register(client: &aws_sdk_ecs::Client, family: &str, container: ContainerDefinition) {
    client.register_task_definition().family(family).container_definitions(container).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_keeps_its_tasks_and_rolls_out_new_revisions() {
    let (berth, client) = berth_up().await;
    register(&client, "web", workload_container("app").build()).await;
    register(
        &client,
        "web",
        workload_container("app")
            .environment(aws_sdk_ecs::types::KeyValuePair::builder().name("V").value("2").build())
            .build(),
    )
    .await;

    let created =
        client.create_service().service_name("web").task_definition("web:1").desired_count(3).send().await.unwrap();
    let created = created.service.unwrap();
    assert_eq!(created.status.as_deref(), Some("ACTIVE"));
    assert_eq!(created.deployments()[0].rollout_state.as_ref().map(|s| s.as_str()), Some("IN_PROGRESS"));
    let service = wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    assert_eq!(service.running_count, 3);
    assert!(
        events(&service).iter().any(|e| e.starts_with("(service web) has started 3 tasks:")),
        "{:?}",
        events(&service)
    );
    let deployment = service.deployments()[0].id.clone().unwrap();
    let tasks = client.list_tasks().service_name("web").send().await.unwrap().task_arns.unwrap();
    assert_eq!(tasks.len(), 3);
    let task = describe(&client, &tasks[0]).await;
    assert_eq!(task.group.as_deref(), Some("service:web"));
    assert_eq!(task.started_by.as_deref(), Some(deployment.as_str()));
    wait_for("steady-state event", Duration::from_secs(10), || async {
        events(&describe_service(&client, "default", "web").await)
            .iter()
            .any(|e| e.ends_with("has reached a steady state."))
            .then_some(())
    })
    .await
    .unwrap();

    // A container dies: the task stops and a replacement runs.
    let victim = containers_of(&berth, "web")[0].clone();
    let killed = Instant::now();
    docker(&["kill", &victim]).unwrap();
    wait_for("a replacement task", Duration::from_secs(30), || async {
        let s = describe_service(&client, "default", "web").await;
        (containers_of(&berth, "web").len() == 3
            && !containers_of(&berth, "web").contains(&victim)
            && s.running_count == 3)
            .then_some(())
    })
    .await
    .unwrap();
    println!("replacement RUNNING {:?} after the container was killed", killed.elapsed());

    // Scale out, then roll out web:2 with the defaults (100% / 200%): never more than 2x the desired count.
    client.update_service().service("web").desired_count(4).send().await.unwrap();
    wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    client.update_service().service("web").task_definition("web:2").send().await.unwrap();
    let started = Instant::now();
    let mut most = 0;
    let service = loop {
        most = most.max(containers_of(&berth, "web").len());
        let s = describe_service(&client, "default", "web").await;
        if s.deployments().len() == 1
            && s.running_count == 4
            && s.task_definition().is_some_and(|t| t.ends_with("web:2"))
            && s.deployments()[0].rollout_state.as_ref().map(|r| r.as_str()) == Some("COMPLETED")
        {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the rollout did not finish: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(most <= 8, "at most 200% of 4 containers may run, saw {most}");
    assert_eq!(service.deployments()[0].rollout_state.as_ref().map(|s| s.as_str()), Some("COMPLETED"));
    let evs = events(&service);
    assert!(evs.iter().any(|e| e.contains("deployment completed.")), "{evs:?}");
    let port =
        describe(&client, &client.list_tasks().service_name("web").send().await.unwrap().task_arns.unwrap()[0]).await;
    let body = wait_http_ok(&format!("http://127.0.0.1:{}/", host_port(&port))).await;
    assert!(body.contains("\"V\":\"2\""), "{body}");

    // Service deployments and revisions.
    let deployments = client.list_service_deployments().service("web").send().await.unwrap();
    let briefs = deployments.service_deployments();
    assert_eq!(briefs.len(), 2);
    assert_eq!(briefs[0].status.as_ref().map(|s| s.as_str()), Some("SUCCESSFUL"));
    let arn = briefs[0].service_deployment_arn.clone().unwrap();
    let described = client.describe_service_deployments().service_deployment_arns(&arn).send().await.unwrap();
    let target = described.service_deployments()[0].target_service_revision.clone().unwrap().arn.unwrap();
    let revision = client.describe_service_revisions().service_revision_arns(&target).send().await.unwrap();
    assert!(revision.service_revisions()[0].task_definition().unwrap().ends_with("web:2"));

    // Delete: refused while scaled up, then drains to INACTIVE and stops every container.
    assert_error(client.delete_service().service("web").send().await, "InvalidParameterException", "scaled above 0");
    let deleted = client.delete_service().service("web").force(true).send().await.unwrap().service.unwrap();
    assert_eq!(deleted.status.as_deref(), Some("DRAINING"));
    wait_for("the service to be INACTIVE", Duration::from_secs(60), || async {
        (describe_service(&client, "default", "web").await.status.as_deref() == Some("INACTIVE")).then_some(())
    })
    .await
    .unwrap();
    assert!(containers_of(&berth, "web").is_empty());
    assert!(client.list_services().send().await.unwrap().service_arns().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_tasks_are_replaced_after_the_grace_period() {
    let (berth, client) = berth_up().await;
    register(&client, "checked", workload_container("app").health_check(workload_health_check()).build()).await;
    client
        .create_service()
        .service_name("checked")
        .task_definition("checked")
        .desired_count(2)
        .health_check_grace_period_seconds(0)
        .send()
        .await
        .unwrap();
    let service = wait_stable(&client, "default", "checked", Duration::from_secs(90)).await;
    assert_eq!(service.running_count, 2, "running counts healthy tasks only");
    let arns = client.list_tasks().service_name("checked").send().await.unwrap().task_arns.unwrap();
    let sick = describe(&client, &arns[0]).await;
    assert_eq!(sick.health_status.as_ref().map(|h| h.as_str()), Some("HEALTHY"));
    let port = host_port(&sick);
    assert_eq!(http_get(&format!("http://127.0.0.1:{port}/sick")).unwrap().0, 200);
    let stopped = wait_status(&client, sick.task_arn().unwrap(), "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped.stopped_reason.as_deref(), Some("Task failed container health checks"));
    assert_eq!(stopped.stop_code.as_ref().map(|c| c.as_str()), Some("ServiceSchedulerInitiated"));
    let service = wait_stable(&client, "default", "checked", Duration::from_secs(90)).await;
    assert_eq!(service.running_count, 2);
    assert!(
        !client
            .list_tasks()
            .service_name("checked")
            .send()
            .await
            .unwrap()
            .task_arns()
            .contains(&sick.task_arn.clone().unwrap())
    );
    drop(berth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_breaker_rolls_back_a_deployment_that_cannot_start() {
    let (_berth, client) = berth_up().await;
    register(&client, "app", workload_container("app").build()).await;
    // Revision 2 exits at once: its tasks never stay up.
    register(
        &client,
        "app",
        ContainerDefinition::builder()
            .name("app")
            .image("berth-workload:latest")
            .memory(16)
            .command("exit")
            .command("1")
            .build(),
    )
    .await;
    client
        .create_service()
        .service_name("app")
        .task_definition("app:1")
        .desired_count(2)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_stable(&client, "default", "app", Duration::from_secs(60)).await;
    client.update_service().service("app").task_definition("app:2").send().await.unwrap();
    let service = wait_for("the rollback to complete", Duration::from_secs(120), || async {
        let s = describe_service(&client, "default", "app").await;
        let evs = events(&s);
        (evs.iter().any(|e| e.contains("rolling back to deployment"))
            && s.deployments().len() == 1
            && s.running_count == 2
            && s.deployments()[0].rollout_state.as_ref().map(|r| r.as_str()) == Some("COMPLETED"))
        .then_some(s)
    })
    .await
    .unwrap_or_else(|e| {
        let s = futures_lite_block(&client);
        panic!("{e}: {s}")
    });
    assert!(service.task_definition().unwrap().ends_with("app:1"), "rolled back to app:1");
    let evs = events(&service);
    assert!(evs.iter().any(|e| e.contains("deployment failed: tasks failed to start.")), "{evs:?}");
    let deployments = client.list_service_deployments().service("app").send().await.unwrap();
    assert_eq!(deployments.service_deployments()[0].status.as_ref().map(|s| s.as_str()), Some("ROLLBACK_SUCCESSFUL"));
}

/// The service's state, for a failure message.
fn futures_lite_block(client: &aws_sdk_ecs::Client) -> String {
    let client = client.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move { format!("{:#?}", describe_service(&client, "default", "app").await) })
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_service_requests_get_ecs_exceptions() {
    let (_berth, client) = berth_up().await;
    register(&client, "web", workload_container("app").build()).await;
    let create = |name: &str| client.create_service().service_name(name).task_definition("web");
    assert_error(
        create("a").cluster("nowhere").desired_count(1).send().await,
        "ClusterNotFoundException",
        "Cluster not found.",
    );
    assert_error(
        client.create_service().service_name("a").task_definition("nope").desired_count(1).send().await,
        "ClientException",
        "Unable to describe task definition.",
    );
    assert_error(
        create("a").desired_count(-1).send().await,
        "InvalidParameterException",
        "desiredCount must be 0 or more",
    );
    assert_error(create("a").send().await, "InvalidParameterException", "desiredCount is required");
    assert_error(create("bad name").desired_count(1).send().await, "InvalidParameterException", "Service names");
    assert_error(
        create("a")
            .desired_count(1)
            .deployment_configuration(
                DeploymentConfiguration::builder().minimum_healthy_percent(150).maximum_percent(50).build(),
            )
            .send()
            .await,
        "InvalidParameterException",
        "minimumHealthyPercent must be between 0 and 100",
    );
    assert_error(
        create("a")
            .desired_count(1)
            .deployment_configuration(DeploymentConfiguration::builder().maximum_percent(50).build())
            .send()
            .await,
        "InvalidParameterException",
        "maximumPercent must be at least 100",
    );
    assert_error(
        create("a")
            .desired_count(1)
            .placement_constraints(
                PlacementConstraint::builder()
                    .r#type(PlacementConstraintType::MemberOf)
                    .expression("attribute:stack == (")
                    .build(),
            )
            .send()
            .await,
        "InvalidParameterException",
        "position",
    );
    assert_error(
        create("a")
            .desired_count(1)
            .placement_strategy(
                PlacementStrategy::builder().r#type(PlacementStrategyType::Binpack).field("disk").build(),
            )
            .send()
            .await,
        "InvalidParameterException",
        "binpack",
    );
    assert_error(
        create("a")
            .desired_count(1)
            .placement_constraints(
                PlacementConstraint::builder()
                    .r#type(PlacementConstraintType::DistinctInstance)
                    .expression("x")
                    .build(),
            )
            .send()
            .await,
        "InvalidParameterException",
        "distinctInstance",
    );
    assert_error(
        create("d")
            .scheduling_strategy(SchedulingStrategy::Daemon)
            .placement_strategy(PlacementStrategy::builder().r#type(PlacementStrategyType::Random).build())
            .send()
            .await,
        "InvalidParameterException",
        "DAEMON",
    );
    assert_error(
        client.update_service().service("ghost").desired_count(1).send().await,
        "ServiceNotFoundException",
        "Service not found.",
    );
    create("ok").desired_count(0).send().await.unwrap();
    assert_error(
        create("ok").desired_count(5).send().await,
        "InvalidParameterException",
        "Creation of service was not idempotent.",
    );
    assert_error(
        client.update_service().service("ok").desired_count(-2).send().await,
        "InvalidParameterException",
        "desiredCount",
    );
    // Nothing was stored by the refused calls.
    assert_eq!(client.list_services().send().await.unwrap().service_arns().len(), 1);
}
