//! The small ECS operations on a real Berth over TCP: DiscoverPollEndpoint, Get/UpdateTaskProtection with the
//! service scheduler, the Submit* state changes (agents only), and UpdateContainerAgent with a separate agent
//! that re-executes itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{AgentUpdateStatus, NetworkBinding, TransportProtocol};
use berth_testkit::{Berth, BerthOptions, wait_for};
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

/// `berth server` without agents (no Docker needed).
fn server() -> (Berth, aws_sdk_ecs::Client) {
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let client = ecs_client(&berth);
    (berth, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_poll_endpoint_answers_the_base_agents_register_at() {
    let (berth, client) = server();
    let out = client.discover_poll_endpoint().cluster("default").send().await.unwrap();
    let endpoint = out.endpoint.unwrap();
    assert_eq!(endpoint, format!("{}/agent/v1/", berth.url()));
    assert_eq!(out.telemetry_endpoint.as_deref(), Some(endpoint.as_str()));
    assert_eq!(out.service_connect_endpoint, None, "Berth has no Service Connect");
    // An agent registers through exactly that endpoint, and the instance shows in the ECS API.
    let (arn, _) = register_pretend_agent(&endpoint, &berth.join_token().unwrap(), "polled-host", "1.0.0", false).await;
    let described = client.describe_container_instances().container_instances(&arn).send().await.unwrap();
    assert_eq!(described.container_instances()[0].ec2_instance_id.as_deref(), Some("polled-host"));
    let again = client.discover_poll_endpoint().container_instance(&arn).send().await.unwrap();
    assert_eq!(again.endpoint.as_deref(), Some(endpoint.as_str()));
    assert_error(
        client.discover_poll_endpoint().cluster("nope").send().await,
        "ClusterNotFoundException",
        "Cluster not found",
    );
    assert_error(
        client.discover_poll_endpoint().container_instance("0123456789abcdef").send().await,
        "InvalidParameterException",
        "not registered",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_state_changes_show_in_describe_tasks_and_only_agents_may_submit() {
    let (berth, client) = server();
    let base = format!("{}/agent/v1/", berth.url());
    let (_, token) = register_pretend_agent(&base, &berth.join_token().unwrap(), "pretend", "1.0.0", false).await;
    register_workload(&client, "sub", &[]).await;
    let run = client.run_task().task_definition("sub").send().await.unwrap();
    let task = run.tasks()[0].task_arn.clone().unwrap();

    // Root credentials, through the SDK and the aws CLI: refused.
    let denied =
        client.submit_container_state_change().task(&task).container_name("app").status("RUNNING").send().await;
    let error = denied.expect_err("root may not submit");
    assert_eq!(error.code(), Some("AccessDeniedException"), "{error:?}");
    let cli = with_user_env(
        std::process::Command::new("aws").args([
            "ecs",
            "submit-task-state-change",
            "--task",
            &task,
            "--status",
            "RUNNING",
        ]),
        &berth,
    )
    .output()
    .expect("the aws CLI is installed (tools/test installs it)");
    assert!(!cli.status.success());
    assert!(String::from_utf8_lossy(&cli.stderr).contains("AccessDeniedException"), "{cli:?}");
    assert_eq!(describe(&client, &task).await.last_status.as_deref(), Some("PROVISIONING"), "nothing changed");

    // The agent's instance token: accepted, and DescribeTasks shows what it submitted.
    let (status, answer) = agent_call(
        &berth,
        &token,
        "SubmitContainerStateChange",
        json!({"task": task, "containerName": "app", "status": "RUNNING", "runtimeId": "cafe01",
               "networkBindings": [{"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": 41234, "protocol": "tcp"}]}),
    )
    .await;
    assert_eq!((status, answer["acknowledgment"].as_str()), (200, Some("ACK")), "{answer}");
    let (status, answer) = agent_call(
        &berth,
        &token,
        "SubmitTaskStateChange",
        json!({"task": task, "status": "RUNNING", "pullStartedAt": 1_700_000_000.5, "pullStoppedAt": 1_700_000_002.0}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let shown = describe(&client, &task).await;
    assert_eq!(shown.last_status.as_deref(), Some("RUNNING"));
    assert_eq!(shown.pull_started_at.map(|t| t.secs()), Some(1_700_000_000));
    let container = &shown.containers()[0];
    assert_eq!(container.last_status.as_deref(), Some("RUNNING"));
    assert_eq!(container.runtime_id.as_deref(), Some("cafe01"));
    let expected = NetworkBinding::builder()
        .bind_ip("0.0.0.0")
        .container_port(8080)
        .host_port(41234)
        .protocol(TransportProtocol::Tcp)
        .build();
    assert_eq!(container.network_bindings(), &[expected]);

    let (status, _) = agent_call(
        &berth,
        &token,
        "SubmitContainerStateChange",
        json!({"task": task, "containerName": "app", "status": "STOPPED", "exitCode": 3, "reason": "boom"}),
    )
    .await;
    assert_eq!(status, 200);
    let container = describe(&client, &task).await.containers()[0].clone();
    assert_eq!((container.exit_code, container.reason.as_deref()), (Some(3), Some("boom")));

    // What an agent's token may not do, and what Berth has none of.
    let (status, answer) = agent_call(&berth, &token, "RunTask", json!({"taskDefinition": "sub"})).await;
    assert_eq!((status, answer["__type"].as_str()), (403, Some("AccessDeniedException")), "{answer}");
    let exec = json!({"task": task, "command": "/berth-workload version", "interactive": true});
    let (status, answer) = agent_call(&berth, &token, "ExecuteCommand", exec).await;
    assert_eq!((status, answer["__type"].as_str()), (403, Some("AccessDeniedException")), "{answer}");
    let (status, answer) = agent_call(
        &berth,
        &token,
        "SubmitAttachmentStateChanges",
        json!({"attachments": [{"attachmentArn": "arn:aws:ecs:us-east-1:0:attachment/x", "status": "ATTACHED"}]}),
    )
    .await;
    assert_eq!((status, answer["__type"].as_str()), (400, Some("InvalidParameterException")), "{answer}");
    let (status, answer) = agent_call(&berth, "default/nope/bad", "SubmitTaskStateChange", json!({"task": task})).await;
    assert_eq!((status, answer["__type"].as_str()), (403, Some("AccessDeniedException")), "{answer}");
    let (status, answer) =
        agent_call(&berth, &token, "SubmitTaskStateChange", json!({"task": task, "status": "SLEEPING"})).await;
    assert_eq!((status, answer["__type"].as_str()), (400, Some("InvalidParameterException")), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_container_agent_refuses_what_it_cannot_do() {
    let (berth, client) = server();
    let base = format!("{}/agent/v1/", berth.url());
    let join = berth.join_token().unwrap();
    let (no_version, _) = register_pretend_agent(&base, &join, "no-version", "", true).await;
    assert_error(
        client.update_container_agent().container_instance(&no_version).send().await,
        "MissingVersionException",
        "did not report its version",
    );
    let current = env!("CARGO_PKG_VERSION");
    let (same, _) = register_pretend_agent(&base, &join, "same", current, true).await;
    assert_error(
        client.update_container_agent().container_instance(&same).send().await,
        "NoUpdateAvailableException",
        current,
    );
    let (old, _) = register_pretend_agent(&base, &join, "old", "0.0.1", true).await;
    let out = client.update_container_agent().container_instance(&old).send().await.unwrap();
    assert_eq!(out.container_instance.unwrap().agent_update_status, Some(AgentUpdateStatus::Pending));
    // This pretend agent never acts on it: the update stays in progress.
    assert_error(
        client.update_container_agent().container_instance(&old).send().await,
        "UpdateInProgressException",
        "already in progress",
    );
    let (fixed, _) = register_pretend_agent(&base, &join, "not-self-updating", "0.0.1", false).await;
    assert_error(
        client.update_container_agent().container_instance(&fixed).send().await,
        "ClientException",
        "cannot update itself",
    );
    assert_error(
        client.update_container_agent().cluster("nope").container_instance(&old).send().await,
        "ClusterNotFoundException",
        "Cluster not found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_agent_updates_itself_in_place() {
    berth_testkit::require_docker();
    let (mut berth, client) = server();
    let dir = berth.data_dir.path().join("agent-0");
    let index = berth.start_agent(&dir, &["--test-report-agent-version", "0.0.1"]).expect("an agent starts");
    let pid = berth.agent_pid(index).unwrap();
    let arn = wait_for_instances(&client, "default", 1).await.remove(0);
    let instance = |client: aws_sdk_ecs::Client, arn: String| async move {
        let out = client.describe_container_instances().container_instances(arn).send().await.ok()?;
        out.container_instances.unwrap_or_default().into_iter().next()
    };
    let before = instance(client.clone(), arn.clone()).await.unwrap();
    assert_eq!(before.version_info.unwrap().agent_version.as_deref(), Some("0.0.1"));
    // A task runs on the agent through the update.
    berth_testkit::workload_image().expect("the workload image builds");
    register_workload(&client, "through-update", &[]).await;
    let run = client.run_task().task_definition("through-update").send().await.unwrap();
    let task = run.tasks()[0].task_arn.clone().unwrap();
    let running = wait_status(&client, &task, "RUNNING", Duration::from_secs(60)).await;
    let container = running.containers()[0].runtime_id.clone().unwrap();
    let started = std::time::Instant::now();
    let out = client.update_container_agent().container_instance(&arn).send().await.unwrap();
    assert_eq!(out.container_instance.unwrap().agent_update_status, Some(AgentUpdateStatus::Pending));
    let updated = wait_for("the agent to update itself", Duration::from_secs(60), || {
        let (client, arn) = (client.clone(), arn.clone());
        async move { instance(client, arn).await.filter(|i| i.agent_update_status == Some(AgentUpdateStatus::Updated)) }
    })
    .await
    .unwrap_or_else(|e| {
        panic!("{e}\nagent log:\n{}", std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default())
    });
    eprintln!("agent updated in {:?}", started.elapsed());
    assert_eq!(updated.version_info.unwrap().agent_version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(updated.agent_connected);
    assert_eq!(updated.container_instance_arn.as_deref(), Some(arn.as_str()), "the same container instance");
    assert_eq!(berth.agent_pid(index), Some(pid), "replaced in place (exec), not a new process");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the agent process is alive");
    let log = std::fs::read_to_string(dir.with_extension("log")).unwrap();
    assert!(log.contains("re-executing the agent"), "{log}");
    // The task kept its container, and the updated agent manages it: StopTask stops it.
    let after = describe(&client, &task).await;
    assert_eq!(after.last_status.as_deref(), Some("RUNNING"));
    assert_eq!(after.containers()[0].runtime_id.as_deref(), Some(container.as_str()));
    let state = berth_testkit::docker(&["inspect", "-f", "{{.State.Running}}", &container]).unwrap();
    assert_eq!(state.trim(), "true", "the container was not restarted by the update");
    client.stop_task().task(&task).send().await.unwrap();
    wait_status(&client, &task, "STOPPED", Duration::from_secs(60)).await;
    assert_error(
        client.update_container_agent().container_instance(&arn).send().await,
        "NoUpdateAvailableException",
        "already runs",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_tasks_survive_scale_in_and_a_restart_until_unprotected() {
    let (mut berth, client) = berth_up().await;
    // The agent embedded in `berth up` runs the server's version: nothing to update.
    let local = wait_for_instances(&client, "default", 1).await.remove(0);
    assert_error(
        client.update_container_agent().container_instance(&local).send().await,
        "NoUpdateAvailableException",
        "embedded",
    );
    register_workload(&client, "guarded", &[]).await;
    client.create_service().service_name("guarded").task_definition("guarded").desired_count(3).send().await.unwrap();
    wait_stable(&client, "default", "guarded", Duration::from_secs(90)).await;
    let mut tasks = client.list_tasks().service_name("guarded").send().await.unwrap().task_arns.unwrap();
    tasks.sort();
    let (a, b, c) = (tasks[0].clone(), tasks[1].clone(), tasks[2].clone());

    // Protect two through the aws CLI; the third stays unprotected.
    let out: Value = serde_json::from_str(&aws_cli(
        &berth,
        &[
            "ecs",
            "update-task-protection",
            "--cluster",
            "default",
            "--tasks",
            &a,
            &b,
            "--protection-enabled",
            "--expires-in-minutes",
            "30",
        ],
    ))
    .unwrap();
    let protected = out["protectedTasks"].as_array().unwrap();
    assert_eq!(protected.len(), 2, "{out}");
    assert!(protected.iter().all(|p| p["protectionEnabled"] == true && p["expirationDate"].is_number()), "{out}");
    let get = |client: aws_sdk_ecs::Client, tasks: Vec<String>| async move {
        client
            .get_task_protection()
            .cluster("default")
            .set_tasks(Some(tasks))
            .send()
            .await
            .unwrap()
            .protected_tasks
            .unwrap()
    };
    let before = get(client.clone(), vec![a.clone(), b.clone()]).await;
    let expiry = before[0].expiration_date.unwrap().as_secs_f64();
    let now = berth_model::clock::Clock::now(&berth_model::clock::SystemClock);
    assert!((expiry - (now + 1800.0)).abs() < 60.0, "expires in 30 minutes: {expiry} vs {now}");

    // Protection is kept in the store: it survives a restart of Berth.
    berth.restart().expect("berth restarts");
    wait_for_instances(&client, "default", 1).await;
    let after = get(client.clone(), vec![a.clone(), b.clone()]).await;
    assert!(after.iter().all(|p| p.protection_enabled), "{after:?}");
    assert_eq!(after[0].expiration_date.unwrap().as_secs_f64(), expiry);

    // Scale in from 3 to 1: only the unprotected task stops; the protected two keep running.
    client.update_service().service("guarded").desired_count(1).send().await.unwrap();
    wait_status(&client, &c, "STOPPED", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for t in [&a, &b] {
        assert_eq!(describe(&client, t).await.last_status.as_deref(), Some("RUNNING"), "{t} is protected");
    }
    assert_eq!(describe_service(&client, "default", "guarded").await.running_count, 2);

    // Unprotected, one of them goes; the other is still protected and stays.
    client.update_task_protection().cluster("default").tasks(&a).protection_enabled(false).send().await.unwrap();
    wait_status(&client, &a, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(describe(&client, &b).await.last_status.as_deref(), Some("RUNNING"));
    let still = get(client.clone(), vec![b.clone()]).await;
    assert!(still[0].protection_enabled && still[0].expiration_date.is_some());
    let unprotected = get(client.clone(), vec![a.clone()]).await;
    assert!(!unprotected[0].protection_enabled);
}
