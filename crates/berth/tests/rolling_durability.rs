//! `kill -9` of the control plane in the middle of a rolling deployment of 12 tasks: after a restart the
//! deployment completes, no container is leaked, and at no moment do more containers run than maximumPercent
//! allows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, DeploymentConfiguration, KeyValuePair};
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_rolling_deployment() {
    let (mut berth, client) = berth_up().await;
    let def = |v: &str| {
        ContainerDefinition::builder()
            .name("app")
            .image("berth-workload:latest")
            .memory(16)
            .environment(KeyValuePair::builder().name("VERSION").value(v).build())
            .build()
    };
    client.register_task_definition().family("roll").container_definitions(def("1")).send().await.unwrap();
    client.register_task_definition().family("roll").container_definitions(def("2")).send().await.unwrap();
    client
        .create_service()
        .service_name("roll")
        .task_definition("roll:1")
        .desired_count(12)
        .deployment_configuration(
            DeploymentConfiguration::builder().minimum_healthy_percent(50).maximum_percent(150).build(),
        )
        .send()
        .await
        .unwrap();
    wait_stable(&client, "default", "roll", Duration::from_secs(120)).await;

    // Watch the containers that really run, every 50 ms, from a thread that survives the server's death.
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (most, done, prefix) = (most.clone(), done.clone(), berth.arn_prefix());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let listing = berth_testkit::docker(&[
                    "ps",
                    "--filter",
                    "label=com.amazonaws.ecs.task-definition-family=roll",
                    "--format",
                    "{{.Label \"com.amazonaws.ecs.task-arn\"}}",
                ])
                .unwrap_or_default();
                let n = listing.lines().filter(|l| l.starts_with(&prefix)).count();
                most.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    client.update_service().service("roll").task_definition("roll:2").send().await.unwrap();
    // Let it get going: some tasks of the new revision start.
    berth_testkit::wait_for("the rollout to start", Duration::from_secs(60), || async {
        let s = describe_service(&client, "default", "roll").await;
        (s.deployments().len() == 2 && s.deployments()[0].running_count >= 2).then_some(())
    })
    .await
    .unwrap();
    berth.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    berth.restart().unwrap();
    let client = ecs_client(&berth);

    let started = Instant::now();
    let service = loop {
        let s = describe_service(&client, "default", "roll").await;
        if s.deployments().len() == 1
            && s.running_count == 12
            && s.task_definition().is_some_and(|t| t.ends_with("roll:2"))
            && s.deployments()[0].rollout_state.as_ref().map(|r| r.as_str()) == Some("COMPLETED")
        {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the deployment did not complete after the restart: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(service.deployments()[0].rollout_state.as_ref().map(|s| s.as_str()), Some("COMPLETED"));
    // Give the last stopped containers a moment to go: a retiring container gets its stop timeout (30 s by
    // default) before the engine kills it, so wait a little longer than that.
    let settled = berth_testkit::wait_for("exactly 12 containers", Duration::from_secs(45), || async {
        (containers_of(&berth, "roll").len() == 12).then_some(())
    })
    .await;
    if settled.is_err() {
        let tasks = client.list_tasks().service_name("roll").send().await.map(|o| o.task_arns().to_vec());
        panic!(
            "not exactly 12 containers 45 s after the deployment completed: {:?}\ntasks of the service: {tasks:?}\nlog tail:\n{}",
            containers_of(&berth, "roll"),
            berth.log().lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    done.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 18, "at most 150% of 12 containers may run at once, saw {most}");
    println!("most containers at once: {most}");

    // No leak: every running Berth container of this account belongs to a RUNNING task of roll:2.
    let listing = berth_testkit::docker(&[
        "ps",
        "--filter",
        "label=com.amazonaws.ecs.task-arn",
        "--format",
        "{{.Label \"com.amazonaws.ecs.task-arn\"}}",
    ])
    .unwrap();
    let mine: Vec<String> =
        listing.lines().filter(|l| l.starts_with(&berth.arn_prefix())).map(str::to_string).collect();
    assert_eq!(mine.len(), 12);
    let described = client.describe_tasks().set_tasks(Some(mine)).send().await.unwrap();
    assert!(described.failures().is_empty(), "{:?}", described.failures());
    for t in described.tasks() {
        assert_eq!(t.last_status.as_deref(), Some("RUNNING"));
        assert!(t.task_definition_arn().unwrap().ends_with("roll:2"));
    }
}
