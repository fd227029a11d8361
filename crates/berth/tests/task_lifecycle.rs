//! RunTask through the AWS SDK on a real Berth and a real Docker Engine: the whole life of a task.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, ContainerOverride, KeyValuePair, TaskOverride};
use berth_testkit::http_get;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_answer_stop() {
    let (berth, client) = berth_up().await;
    register_workload(&client, "web", &[("GREETING", "hello")]).await;

    let run = client.run_task().task_definition("web").count(2).started_by("tester").send().await.unwrap();
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let tasks = run.tasks();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].last_status.as_deref(), Some("PROVISIONING"));
    assert_eq!(tasks[0].desired_status.as_deref(), Some("RUNNING"));
    assert_eq!(tasks[0].group.as_deref(), Some("family:web"));
    let arn = tasks[0].task_arn.clone().unwrap();
    assert!(arn.starts_with(&format!("{}task/default/", berth.arn_prefix())));

    let task = wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    for field in [task.created_at, task.pull_started_at, task.pull_stopped_at, task.started_at, task.connectivity_at] {
        assert!(field.is_some(), "RUNNING tasks carry their timestamps: {task:?}");
    }
    let container = &task.containers()[0];
    assert_eq!(container.last_status.as_deref(), Some("RUNNING"));
    assert!(container.runtime_id.is_some());
    let body = wait_http_ok(&format!("http://127.0.0.1:{}/", host_port(&task))).await;
    assert!(body.contains("\"GREETING\":\"hello\""), "{body}");

    let stop = client.stop_task().task(&arn).reason("done").send().await.unwrap().task.unwrap();
    assert_eq!(stop.desired_status.as_deref(), Some("STOPPED"));
    let stopped = wait_status(&client, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped.stop_code.as_ref().map(|c| c.as_str().to_string()).as_deref(), Some("UserInitiated"));
    assert_eq!(stopped.stopped_reason.as_deref(), Some("done"));
    assert_eq!(stopped.containers()[0].exit_code, Some(0), "the workload exits 0 on SIGTERM");
    for field in [stopped.stopping_at, stopped.execution_stopped_at, stopped.stopped_at] {
        assert!(field.is_some(), "STOPPED tasks carry their timestamps: {stopped:?}");
    }

    // The stopped task is listed with desiredStatus STOPPED, the other one still RUNNING.
    let running = client.list_tasks().send().await.unwrap().task_arns.unwrap_or_default();
    assert_eq!(running, vec![tasks[1].task_arn.clone().unwrap()]);
    let stopped_list =
        client.list_tasks().desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped).send().await.unwrap();
    assert_eq!(stopped_list.task_arns(), std::slice::from_ref(&arn));

    // The reservation came back: one task's 64 MiB is still held.
    let instance = client.list_container_instances().send().await.unwrap().container_instance_arns.unwrap()[0].clone();
    let described = client.describe_container_instances().container_instances(&instance).send().await.unwrap();
    let ci = &described.container_instances()[0];
    let mem =
        |list: &[aws_sdk_ecs::types::Resource]| list.iter().find(|r| r.name() == Some("MEMORY")).unwrap().integer_value;
    assert_eq!(mem(ci.registered_resources()) - mem(ci.remaining_resources()), 64);
    assert_eq!(ci.running_tasks_count, 1);
    assert!(ci.agent_connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn essential_container_exit_stops_the_task_with_its_exit_code() {
    let (_berth, client) = berth_up().await;
    client
        .register_task_definition()
        .family("exiter")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("berth-workload:latest")
                .memory(32)
                .command("exit")
                .command("3")
                .build(),
        )
        .container_definitions(workload_container("sidecar").essential(false).build())
        .send()
        .await
        .unwrap();
    let run = client.run_task().task_definition("exiter").send().await.unwrap();
    let arn = run.tasks()[0].task_arn.clone().unwrap();
    let task = wait_status(&client, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(task.stop_code.as_ref().map(|c| c.as_str().to_string()).as_deref(), Some("EssentialContainerExited"));
    assert_eq!(task.stopped_reason.as_deref(), Some("Essential container in task exited"));
    let app = task.containers().iter().find(|c| c.name() == Some("app")).unwrap();
    assert_eq!(app.exit_code, Some(3));
    let sidecar = task.containers().iter().find(|c| c.name() == Some("sidecar")).unwrap();
    assert_eq!(sidecar.last_status.as_deref(), Some("STOPPED"), "the other containers are stopped too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_overrides_and_stop_timeout() {
    let (_berth, client) = berth_up().await;
    client
        .register_task_definition()
        .family("healthy")
        .container_definitions(
            workload_container("app")
                .environment(KeyValuePair::builder().name("IGNORE_SIGTERM").value("1").build())
                .stop_timeout(2)
                .health_check(workload_health_check())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = client
        .run_task()
        .task_definition("healthy")
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name("app")
                        .environment(KeyValuePair::builder().name("FROM_OVERRIDE").value("yes").build())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = run.tasks()[0].task_arn.clone().unwrap();
    let task = wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let port = host_port(&task);
    let body = wait_http_ok(&format!("http://127.0.0.1:{port}/")).await;
    assert!(body.contains("\"FROM_OVERRIDE\":\"yes\""), "{body}");

    let healthy = berth_testkit::wait_for("the task to turn HEALTHY", Duration::from_secs(30), || async {
        let t = describe(&client, &arn).await;
        (t.health_status.as_ref().map(|h| h.as_str()) == Some("HEALTHY")).then_some(t)
    })
    .await
    .unwrap();
    assert_eq!(healthy.containers()[0].health_status.as_ref().map(|h| h.as_str()), Some("HEALTHY"));

    // The container ignores SIGTERM: it is killed after its 2 s stopTimeout (exit code 137).
    let _ = http_get(&format!("http://127.0.0.1:{port}/sick"));
    let started = std::time::Instant::now();
    client.stop_task().task(&arn).send().await.unwrap();
    let stopped = wait_status(&client, &arn, "STOPPED", Duration::from_secs(30)).await;
    let took = started.elapsed();
    assert_eq!(stopped.containers()[0].exit_code, Some(137));
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(15), "stop took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_metadata_endpoint_answers_inside_the_container() {
    let (_berth, client) = berth_up().await;
    register_workload(&client, "meta", &[]).await;
    let tag = aws_sdk_ecs::types::Tag::builder().key("team").value("a").build();
    let run = client.run_task().task_definition("meta").tags(tag).send().await.unwrap();
    let arn = run.tasks()[0].task_arn.clone().unwrap();
    let task = wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let base = format!("http://127.0.0.1:{}", host_port(&task));
    let own: serde_json::Value = serde_json::from_str(&wait_http_ok(&format!("{base}/")).await).unwrap();
    let uri = own["env"]["ECS_CONTAINER_METADATA_URI_V4"].as_str().expect("the container gets the endpoint's URI");
    assert_eq!(own["env"]["AWS_EXECUTION_ENV"], "AWS_ECS_EC2");

    // From inside the container (the workload GETs the URL itself), as an application would.
    let fetch = |path: String| {
        let url = format!("{base}/fetch?url={uri}{path}");
        async move {
            let body = wait_http_ok(&url).await;
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
        }
    };
    let container = fetch(String::new()).await;
    assert_eq!(container["Name"], "app");
    assert_eq!(container["DockerId"].as_str(), task.containers()[0].runtime_id());
    assert_eq!(container["KnownStatus"], "RUNNING");
    assert_eq!(container["Limits"]["Memory"], 64);
    assert_eq!(container["Ports"][0]["HostPort"], i64::from(host_port(&task)));
    let meta = fetch("/task".into()).await;
    assert_eq!(meta["TaskARN"].as_str(), Some(arn.as_str()));
    assert_eq!(meta["Family"], "meta");
    assert_eq!(meta["Revision"], "1");
    assert_eq!(meta["LaunchType"], "EC2");
    assert!(meta["PullStartedAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{meta}");
    assert_eq!(meta["Containers"].as_array().map(Vec::len), Some(1));
    // Docker's stats of the container, sampled twice so CPU use can be computed.
    let stats = fetch("/stats".into()).await;
    assert!(stats["memory_stats"]["usage"].as_u64().is_some_and(|u| u > 0), "{stats}");
    assert!(stats["precpu_stats"]["cpu_usage"]["total_usage"].as_u64().is_some(), "{stats}");
    let task_stats = fetch("/task/stats".into()).await;
    assert!(task_stats[task.containers()[0].runtime_id().unwrap()]["memory_stats"].is_object(), "{task_stats}");
    // The task's document with its tags and its instance's.
    let tags = fetch("/taskWithTags".into()).await;
    assert_eq!(tags["TaskARN"], meta["TaskARN"], "{tags}");
    assert_eq!(tags["TaskTags"], serde_json::json!({"team": "a"}), "{tags}");
    assert!(tags["ContainerInstanceTags"].is_object(), "{tags}");
}
