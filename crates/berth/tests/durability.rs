//! Restarts: the control plane and the agent come back without stopping containers and tell the truth after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use berth_testkit::{Berth, BerthOptions, http_get, wait_for};
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_keeps_containers_and_state() {
    let (mut berth, client) = berth_up().await;
    register_workload(&client, "web", &[]).await;
    let arn = client.run_task().task_definition("web").send().await.unwrap().tasks()[0].task_arn.clone().unwrap();
    let before = wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let runtime_id = before.containers()[0].runtime_id.clone().unwrap();
    let port = host_port(&before);
    wait_http_ok(&format!("http://127.0.0.1:{port}/health")).await;

    // kill -9: no chance to clean up.
    berth.kill();
    assert_eq!(
        http_get(&format!("http://127.0.0.1:{port}/health")).unwrap().0,
        200,
        "the container survives the server"
    );
    berth.restart().unwrap();
    let client = ecs_client(&berth);
    let after = describe(&client, &arn).await;
    assert_eq!(after.last_status.as_deref(), Some("RUNNING"));
    assert_eq!(after.containers()[0].runtime_id.as_deref(), Some(runtime_id.as_str()), "the same container");
    assert_eq!(host_port(&after), port);

    // Ctrl-C as well: it exits promptly and leaves the container running.
    let started = Instant::now();
    berth.interrupt().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "Ctrl-C took {:?}", started.elapsed());
    assert_eq!(http_get(&format!("http://127.0.0.1:{port}/health")).unwrap().0, 200);
    berth.restart().unwrap();
    let client = ecs_client(&berth);

    // After the restarts, a container exit is still noticed and reported.
    let _ = http_get(&format!("http://127.0.0.1:{port}/exit?code=7"));
    let stopped = wait_status(&client, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped.containers()[0].exit_code, Some(7));
    assert_eq!(
        stopped.stop_code.as_ref().map(|c| c.as_str()),
        Some("EssentialContainerExited"),
        "{stopped:?}\nlog:\n{}",
        berth.log()
    );

    // Every object is still there.
    assert_eq!(client.list_task_definitions().send().await.unwrap().task_definition_arns().len(), 1);
    assert_eq!(
        client.list_container_instances().send().await.unwrap().container_instance_arns().len(),
        1,
        "the agent rejoined as the same instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_adopts_running_containers_and_silence_is_noticed() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().unwrap();
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--agent-timeout-seconds".into(), "10".into()],
    })
    .unwrap();
    let client = ecs_client(&berth);
    let agent_dir = berth.data_dir.path().join("agent");
    let first = berth.start_agent(&agent_dir, &["--availability-zone", "us-east-1b"]).unwrap();
    let instance = wait_for_instances(&client, "default", 1).await.remove(0);
    register_workload(&client, "web", &[]).await;
    let arn = client.run_task().task_definition("web").send().await.unwrap().tasks()[0].task_arn.clone().unwrap();
    let before = wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let runtime_id = before.containers()[0].runtime_id.clone().unwrap();
    assert_eq!(before.availability_zone.as_deref(), Some("us-east-1b"));

    // The agent goes silent (frozen, not exited): agentConnected turns false within 15 s.
    let pid = berth.agent_pid(first).unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let frozen = Instant::now();
    wait_for("agentConnected to turn false", Duration::from_secs(15), || async {
        let out = client.describe_container_instances().container_instances(&instance).send().await.ok()?;
        (!out.container_instances()[0].agent_connected).then_some(())
    })
    .await
    .unwrap();
    println!("agentConnected false after {:?}", frozen.elapsed());
    berth.kill_agent(first);

    // A new agent process on the same data dir adopts the running container.
    berth.start_agent(&agent_dir, &["--availability-zone", "us-east-1b"]).unwrap();
    wait_for("agentConnected to turn true", Duration::from_secs(30), || async {
        let out = client.describe_container_instances().container_instances(&instance).send().await.ok()?;
        out.container_instances()[0].agent_connected.then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        client.list_container_instances().send().await.unwrap().container_instance_arns(),
        std::slice::from_ref(&instance)
    );
    let after = describe(&client, &arn).await;
    assert_eq!(after.last_status.as_deref(), Some("RUNNING"));
    assert_eq!(after.containers()[0].runtime_id.as_deref(), Some(runtime_id.as_str()), "adopted, not recreated");
    let port = host_port(&after);
    assert_eq!(http_get(&format!("http://127.0.0.1:{port}/health")).unwrap().0, 200);

    // And it still manages it.
    client.stop_task().task(&arn).send().await.unwrap();
    let stopped = wait_status(&client, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped.containers()[0].exit_code, Some(0));
}
