//! Services that cannot start tasks, on a real Berth and Docker through the AWS SDK (issue 9, item 4): CreateService
//! and UpdateService refuse what RunTask refuses with the same error, a service whose image does not exist is
//! throttled and says why, failed tasks leave a bounded number of exited containers, and DescribeClusters counts
//! services and tasks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::types::{
    AwsVpcConfiguration, CapacityProviderStrategyItem, ClusterField, ContainerDefinition, DesiredStatus, LaunchType,
    NetworkConfiguration, NetworkMode, Secret,
};
use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// An image no registry or local store has; its tasks fail to start with CannotPullContainerError.
const MISSING_IMAGE: &str = "berth-test/does-not-exist:nope";

/// The error code and message of a failed SDK call.
fn refusal<T: std::fmt::Debug, E: aws_sdk_ecs::error::ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
) -> (String, String) {
    let error = result.expect_err("the call is refused");
    (error.code().unwrap_or_default().to_string(), error.message().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_update_service_refuse_what_run_task_refuses() {
    let (_berth, client) = berth_up().await;
    let register = |family: &str, container: ContainerDefinition, awsvpc: bool| {
        let mut req = client.register_task_definition().family(family).container_definitions(container);
        if awsvpc {
            req = req.network_mode(NetworkMode::Awsvpc);
        }
        req.send()
    };
    register("good", workload_container("app").build(), false).await.unwrap();
    register("vpc", workload_container("app").build(), true).await.unwrap();
    let secret =
        Secret::builder().name("P").value_from("arn:aws:ssm:us-east-1:000000000000:parameter/p").build().unwrap();
    register("secret", workload_container("app").secrets(secret).build(), false).await.unwrap();
    client.create_service().service_name("existing").task_definition("good").desired_count(0).send().await.unwrap();
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(AwsVpcConfiguration::builder().subnets("subnet-1").build().unwrap())
        .build();
    let strategy = CapacityProviderStrategyItem::builder().capacity_provider("FARGATE").build().unwrap();

    // (case, task definition, network configuration, platform version, capacity provider strategy, launch type)
    type Case = (&'static str, &'static str, bool, bool, bool, Option<LaunchType>);
    let cases: [Case; 6] = [
        ("awsvpc task definition", "vpc", false, false, false, None),
        ("secrets", "secret", false, false, false, None),
        ("network configuration on bridge", "good", true, false, false, None),
        ("platform version", "good", false, true, false, None),
        ("capacity provider strategy", "good", false, false, true, None),
        ("FARGATE launch type", "good", false, false, false, Some(LaunchType::Fargate)),
    ];
    for (name, td, with_network, with_platform, with_strategy, launch_type) in cases {
        let run = client
            .run_task()
            .task_definition(td)
            .set_network_configuration(with_network.then(|| network.clone()))
            .set_platform_version(with_platform.then(|| "LATEST".to_string()))
            .set_capacity_provider_strategy(with_strategy.then(|| vec![strategy.clone()]))
            .set_launch_type(launch_type.clone())
            .send()
            .await;
        let expected = refusal(run);
        let create = client
            .create_service()
            .service_name("refused")
            .desired_count(1)
            .task_definition(td)
            .set_network_configuration(with_network.then(|| network.clone()))
            .set_platform_version(with_platform.then(|| "LATEST".to_string()))
            .set_capacity_provider_strategy(with_strategy.then(|| vec![strategy.clone()]))
            .set_launch_type(launch_type.clone())
            .send()
            .await;
        assert_eq!(refusal(create), expected, "{name}: CreateService against RunTask");
        if launch_type.is_none() {
            // UpdateService has no launch type; request settings go with the service's own task definition.
            let request_only = with_network || with_platform || with_strategy;
            let update = client
                .update_service()
                .service("existing")
                .set_task_definition((!request_only).then(|| td.to_string()))
                .set_network_configuration(with_network.then(|| network.clone()))
                .set_platform_version(with_platform.then(|| "LATEST".to_string()))
                .set_capacity_provider_strategy(with_strategy.then(|| vec![strategy.clone()]))
                .send()
                .await;
            assert_eq!(refusal(update), expected, "{name}: UpdateService against RunTask");
        }
        println!("{name}: {} {}", expected.0, expected.1);
    }
    // The refused calls changed nothing: one service, still on `good`, and no task.
    let services = client.list_services().send().await.unwrap();
    assert_eq!(services.service_arns().len(), 1, "{services:?}");
    let existing = describe_service(&client, "default", "existing").await;
    assert!(existing.task_definition().unwrap().ends_with("/good:1"));
    assert_eq!(existing.deployments().len(), 1);
    let tasks = client.list_tasks().desired_status(DesiredStatus::Stopped).send().await.unwrap();
    assert!(tasks.task_arns().is_empty() && client.list_tasks().send().await.unwrap().task_arns().is_empty());
}

/// Every task of a service (running or stopped), with its createdAt, stopCode and stoppedReason.
async fn service_tasks(client: &aws_sdk_ecs::Client, service: &str) -> Vec<aws_sdk_ecs::types::Task> {
    // Every page: a crash loop makes more than ListTasks' 100 per page, and a task missing from the list would look
    // like a failed one to the callers.
    let mut arns = Vec::new();
    for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let mut next_token = None;
        loop {
            let out = client
                .list_tasks()
                .service_name(service)
                .desired_status(status.clone())
                .set_next_token(next_token)
                .send()
                .await
                .unwrap();
            arns.extend(out.task_arns().iter().cloned());
            next_token = out.next_token().map(str::to_string);
            if next_token.is_none() {
                break;
            }
        }
    }
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let out = client.describe_tasks().set_tasks(Some(chunk.to_vec())).send().await.unwrap();
        tasks.extend(out.tasks().iter().cloned());
    }
    tasks
}

/// The Docker containers (any state) of a task definition family of this Berth, as (id, state, task ARN).
fn containers_with_tasks(berth: &Berth, family: &str) -> Vec<(String, String, String)> {
    let listing = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-definition-family={family}"),
        "--format",
        "{{.ID}} {{.State}} {{.Label \"com.amazonaws.ecs.task-arn\"}}",
    ])
    .expect("docker ps -a");
    listing
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            Some((parts.next()?.to_string(), parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .filter(|(_, _, arn)| arn.starts_with(&berth.arn_prefix()))
        .collect()
}

/// The Docker containers (any state) of a task definition family of this Berth, as (id, state).
fn all_containers(berth: &Berth, family: &str) -> Vec<(String, String)> {
    containers_with_tasks(berth, family).into_iter().map(|(id, state, _)| (id, state)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_image_does_not_exist_is_throttled_and_says_why() {
    let (berth, client) = berth_up().await;
    client
        .register_task_definition()
        .family("ghost")
        .container_definitions(ContainerDefinition::builder().name("app").image(MISSING_IMAGE).memory(32).build())
        .send()
        .await
        .unwrap();
    let created = Instant::now();
    client.create_service().service_name("ghost").task_definition("ghost").desired_count(1).send().await.unwrap();
    let start = describe_service(&client, "default", "ghost").await.created_at.unwrap().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(180).saturating_sub(created.elapsed())).await;

    let tasks = service_tasks(&client, "ghost").await;
    let mut offsets: Vec<f64> = tasks.iter().map(|t| t.created_at.unwrap().as_secs_f64() - start).collect();
    offsets.sort_by(f64::total_cmp);
    let minute = |m: f64| offsets.iter().filter(|o| **o >= m * 60.0 && **o < (m + 1.0) * 60.0).count();
    let minutes = [minute(0.0), minute(1.0), minute(2.0)];
    println!("start attempts at {offsets:.1?} s; per minute {minutes:?}");
    assert!(minutes[0] >= 2 && minutes[0] <= 10, "{minutes:?}");
    assert!(minutes[1] < minutes[0] && minutes[2] <= minutes[1], "fewer in each following minute: {minutes:?}");
    for t in tasks.iter().filter(|t| t.last_status.as_deref() == Some("STOPPED")) {
        assert_eq!(t.stop_code.as_ref().map(|c| c.as_str()), Some("TaskFailedToStart"), "{t:?}");
        assert!(t.stopped_reason().unwrap_or_default().starts_with("CannotPullContainerError"), "{t:?}");
    }
    assert!(all_containers(&berth, "ghost").is_empty(), "no container is created for an image that is not there");

    let service = describe_service(&client, "default", "ghost").await;
    let evs = events(&service);
    println!("events: {evs:#?}");
    assert!(
        evs.contains(&"(service ghost) is unable to consistently start tasks successfully.".to_string()),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| e.starts_with("(service ghost) failed to launch a task with (error CannotPullContainerError")),
        "{evs:?}"
    );
    let stopped = tasks.iter().filter(|t| t.last_status.as_deref() == Some("STOPPED")).count() as i32;
    let failed = service.deployments()[0].failed_tasks;
    assert!(failed >= stopped - 1 && failed <= stopped && failed >= 3, "failedTasks {failed}, stopped {stopped}");

    // A new deployment resets the throttle: a task starts within seconds.
    let before = tasks.len();
    client.update_service().service("ghost").force_new_deployment(true).send().await.unwrap();
    wait_for("a start right after the new deployment", Duration::from_secs(10), || async {
        (service_tasks(&client, "ghost").await.len() > before).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tasks_leave_a_bounded_number_of_exited_containers() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let args = ["--failed-tasks-kept", "3", "--failed-cleanup-wait-seconds", "40"];
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: args.iter().map(|s| s.to_string()).collect(),
    })
    .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    // A healthy task stopped by its user keeps its container for the normal wait.
    register_workload(&client, "calm", &[]).await;
    let calm = client.run_task().task_definition("calm").send().await.unwrap().tasks()[0].task_arn.clone().unwrap();
    wait_status(&client, &calm, "RUNNING", Duration::from_secs(30)).await;
    client.stop_task().task(&calm).send().await.unwrap();
    wait_status(&client, &calm, "STOPPED", Duration::from_secs(60)).await;
    // A service whose container exits at once: every task fails after it ran.
    client
        .register_task_definition()
        .family("crash")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("berth-workload:latest")
                .memory(16)
                .command("exit")
                .command("3")
                .build(),
        )
        .send()
        .await
        .unwrap();
    client.create_service().service_name("crash").task_definition("crash").desired_count(2).send().await.unwrap();
    let started = Instant::now();
    let mut most = 0;
    let mut samples = BTreeMap::new();
    while started.elapsed() < Duration::from_secs(30) {
        let exited = all_containers(&berth, "crash").iter().filter(|(_, s)| s != "running").count();
        most = most.max(exited);
        samples.insert(started.elapsed().as_secs(), exited);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let failed = service_tasks(&client, "crash")
        .await
        .iter()
        .filter(|t| t.stop_code.as_ref().map(|c| c.as_str()) == Some("EssentialContainerExited"))
        .count();
    println!("{failed} failed tasks in 30 s; exited containers kept at most {most}; samples {samples:?}");
    assert!(failed >= 6, "the crash loop ran ({failed} failed tasks)");
    // 3 kept, plus at most the desired count of tasks whose containers just exited and are not yet reported.
    assert!(most <= 3 + 2, "at most 3 failed tasks keep their containers, saw {most}");
    // Scaled to 0, the failed tasks' containers go after the short wait. Tasks the scheduler stopped on the way
    // (before their container's exit was reported) are not failures and keep theirs for the normal wait.
    client.update_service().service("crash").desired_count(0).send().await.unwrap();
    // Which containers belong to failed tasks is read afresh each time: a replacement started just before the
    // scale-in landed is stopped by the scheduler (not a failure) and keeps its container for the normal wait.
    let failed_left = || async {
        let stop_codes: BTreeMap<String, String> = service_tasks(&client, "crash")
            .await
            .into_iter()
            .map(|t| (t.task_arn.unwrap_or_default(), t.stop_code.map(|c| c.as_str().to_string()).unwrap_or_default()))
            .collect();
        containers_with_tasks(&berth, "crash")
            .into_iter()
            .filter(|(_, _, arn)| stop_codes.get(arn).is_none_or(|c| c == "EssentialContainerExited"))
            .collect::<Vec<_>>()
    };
    let waited = Instant::now();
    let outcome =
        wait_for("the failed tasks' containers to go after the short wait", Duration::from_secs(90), || async {
            failed_left().await.is_empty().then_some(())
        })
        .await;
    if let Err(e) = outcome {
        panic!("{e}: {:?}", failed_left().await);
    }
    println!("failed tasks' containers gone {:?} after scaling to 0", waited.elapsed());
    // The tasks stopped while scaling in are at most what the service could have at once: maximumPercent 200% of
    // a desired count of 2 (a replacement may be starting when the scale-in lands).
    let scaled_in = all_containers(&berth, "crash");
    assert!(scaled_in.len() <= 4, "at most the tasks stopped while scaling in keep theirs: {scaled_in:?}");
    let calm_left = all_containers(&berth, "calm");
    assert_eq!(calm_left.len(), 1, "the healthy stopped task keeps its container for the normal wait: {calm_left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_clusters_counts_services_and_tasks() {
    let (_berth, client) = berth_up().await;
    register_workload(&client, "web", &[]).await;
    for (name, desired) in [("a", 1), ("b", 1), ("c", 0)] {
        client.create_service().service_name(name).task_definition("web").desired_count(desired).send().await.unwrap();
    }
    for name in ["a", "b", "c"] {
        wait_stable(&client, "default", name, Duration::from_secs(60)).await;
    }
    let run = client.run_task().task_definition("web").send().await.unwrap();
    wait_status(&client, run.tasks()[0].task_arn().unwrap(), "RUNNING", Duration::from_secs(30)).await;
    client.delete_service().service("c").send().await.unwrap();
    let out = client.describe_clusters().clusters("default").include(ClusterField::Statistics).send().await.unwrap();
    let cluster = &out.clusters()[0];
    let stats: BTreeMap<String, String> = cluster
        .statistics()
        .iter()
        .map(|kv| (kv.name.clone().unwrap_or_default(), kv.value.clone().unwrap_or_default()))
        .collect();
    println!("{cluster:?}");
    assert_eq!(cluster.active_services_count, 2, "a and b; c is deleted");
    assert_eq!(cluster.running_tasks_count, 3);
    assert_eq!(cluster.pending_tasks_count, 0);
    assert_eq!(cluster.registered_container_instances_count, 1);
    assert_eq!(stats["activeEC2ServiceCount"], "2");
    assert_eq!(stats["activeFargateServiceCount"], "0");
    assert_eq!(stats["runningEC2TasksCount"], "3");
    assert_eq!(stats["pendingEC2TasksCount"], "0");
    assert!(["0", "1"].contains(&stats["drainingEC2ServiceCount"].as_str()), "c drains, then is INACTIVE");
    // Without STATISTICS the counts are there, the statistics are not.
    let plain = client.describe_clusters().clusters("default").send().await.unwrap();
    assert_eq!(plain.clusters()[0].active_services_count, 2);
    assert!(plain.clusters()[0].statistics().is_empty());
    // A cluster with a service cannot be deleted (one without instances, so that only the service is in the way).
    client.create_cluster().cluster_name("empty").send().await.unwrap();
    client
        .create_service()
        .cluster("empty")
        .service_name("idle")
        .task_definition("web")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    assert_error(
        client.delete_cluster().cluster("empty").send().await,
        "ClusterContainsServicesException",
        "The Cluster cannot be deleted while Services are active.",
    );
    let empty = client.describe_clusters().clusters("empty").send().await.unwrap();
    assert_eq!(empty.clusters()[0].active_services_count, 1);
    assert_eq!(empty.clusters()[0].status.as_deref(), Some("ACTIVE"));
}
