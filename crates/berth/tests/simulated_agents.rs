//! `berth agent --simulate N`: N simulated container instances from one process join through the real agent
//! protocol, say they are simulated, run tasks (PENDING, RUNNING, STOPPED with an exit code), and SIGUSR1 silences
//! some of them, whose tasks the server then stops as lost. No Docker.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, PortMapping};
use berth_testkit::{Berth, BerthOptions, wait_for};
use common::{ecs_client, wait_status};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simulated_instances_join_and_run_a_task_to_stopped() {
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: ["--agent-timeout-seconds", "4", "--lost-instance-timeout-seconds", "6"].map(String::from).to_vec(),
    })
    .expect("berth server starts");
    let client = ecs_client(&berth);
    let dir = tempfile::tempdir().unwrap();
    let sim = berth
        .start_agent(
            &dir.path().join("sim"),
            &[
                "--simulate",
                "20",
                "--simulate-heartbeat-seconds",
                "1",
                "--simulate-lose",
                "2",
                "--metrics-listen",
                "off",
            ],
        )
        .unwrap();
    let connected = wait_for("20 simulated instances to connect", Duration::from_secs(60), || async {
        let out =
            client.list_container_instances().filter("agentConnected == true").max_results(100).send().await.ok()?;
        (out.container_instance_arns().len() == 20).then(|| out.container_instance_arns().to_vec())
    })
    .await
    .unwrap_or_else(|e| {
        panic!("{e}; agent log:\n{}", std::fs::read_to_string(dir.path().join("sim.log")).unwrap_or_default())
    });
    let described =
        client.describe_container_instances().set_container_instances(Some(connected)).send().await.unwrap();
    assert_eq!(described.container_instances().len(), 20);
    for instance in described.container_instances() {
        let simulated = instance.attributes().iter().find(|a| a.name() == "berth.simulated");
        assert_eq!(simulated.and_then(|a| a.value()), Some("true"), "{instance:?}");
        assert_eq!(instance.version_info().and_then(|v| v.agent_version()), Some("simulated"));
        assert!(instance.ec2_instance_id().unwrap_or_default().starts_with("sim-"));
    }

    client
        .register_task_definition()
        .family("sim")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("simulated/app:1")
                .memory(64)
                .port_mappings(PortMapping::builder().container_port(8080).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = client.run_task().task_definition("sim").send().await.unwrap();
    let arn = out.tasks()[0].task_arn().unwrap().to_string();
    let running = wait_status(&client, &arn, "RUNNING", Duration::from_secs(30)).await;
    let container = &running.containers()[0];
    assert_eq!(container.runtime_id().map(str::len), Some(64), "{container:?}");
    assert!(container.network_bindings()[0].host_port().unwrap_or_default() >= 32768, "{container:?}");
    assert!(running.started_at().is_some() && running.pull_started_at().is_some());
    client.stop_task().task(&arn).reason("done with it").send().await.unwrap();
    let stopped = wait_status(&client, &arn, "STOPPED", Duration::from_secs(30)).await;
    assert_eq!(stopped.stopped_reason(), Some("done with it"));
    assert_eq!(stopped.containers()[0].exit_code(), Some(143), "ended by SIGTERM");
    assert!(stopped.execution_stopped_at().is_some());

    // SIGUSR1 silences two instances: the server marks them disconnected, the others stay.
    let service =
        client.create_service().service_name("web").task_definition("sim").desired_count(4).send().await.unwrap();
    assert!(service.service().is_some());
    common::wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    let pid = berth.agent_pid(sim).unwrap().to_string();
    assert!(std::process::Command::new("kill").arg("-USR1").arg(&pid).status().unwrap().success());
    wait_for("two instances to be disconnected", Duration::from_secs(30), || async {
        let out = client.list_container_instances().filter("agentConnected == false").send().await.ok()?;
        (out.container_instance_arns().len() == 2).then_some(())
    })
    .await
    .unwrap();
    // The lost instances ran service tasks (the simulator picks those first): they are replaced elsewhere.
    wait_for("the lost instances' service tasks to be replaced", Duration::from_secs(60), || async {
        let stopped = client
            .list_tasks()
            .service_name("web")
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
            .send()
            .await
            .ok()?;
        let service = common::describe_service(&client, "default", "web").await;
        (!stopped.task_arns().is_empty() && service.running_count() == 4).then_some(())
    })
    .await
    .unwrap();
}
