//! Placement by CPU, memory and host ports: what fits is placed with its reservation, what does not comes back in
//! `failures` with ECS's reasons, and nothing is half-placed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, PortMapping};
use common::*;
use std::time::Duration;

fn resource(list: &[aws_sdk_ecs::types::Resource], name: &str) -> aws_sdk_ecs::types::Resource {
    list.iter().find(|r| r.name() == Some(name)).cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_do_not_fit_come_back_as_failures() {
    let (_berth, client) = berth_up().await;
    let instance = wait_for_instances(&client, "default", 1).await.remove(0);
    let described = client.describe_container_instances().container_instances(&instance).send().await.unwrap();
    let ci = &described.container_instances()[0];
    let total_memory = resource(ci.registered_resources(), "MEMORY").integer_value;
    let total_cpu = resource(ci.registered_resources(), "CPU").integer_value;
    assert!(total_cpu >= 1024 && total_memory > 256, "cpu {total_cpu}, memory {total_memory}");
    assert!(resource(ci.registered_resources(), "PORTS").string_set_value().contains(&"22".to_string()));

    let register = |family: &str, container: ContainerDefinition| {
        let client = client.clone();
        let family = family.to_string();
        async move {
            client.register_task_definition().family(family).container_definitions(container).send().await.unwrap()
        }
    };
    register(
        "huge-mem",
        ContainerDefinition::builder().name("a").image("berth-workload:latest").memory(total_memory + 1).build(),
    )
    .await;
    register(
        "huge-cpu",
        ContainerDefinition::builder().name("a").image("berth-workload:latest").memory(16).cpu(total_cpu + 1).build(),
    )
    .await;
    register(
        "fixed-port",
        ContainerDefinition::builder()
            .name("a")
            .image("berth-workload:latest")
            .memory(16)
            .port_mappings(
                PortMapping::builder().container_port(8080).host_port(berth_testkit::free_port() as i32).build(),
            )
            .build(),
    )
    .await;
    register(
        "ssh-port",
        ContainerDefinition::builder()
            .name("a")
            .image("berth-workload:latest")
            .memory(16)
            .port_mappings(PortMapping::builder().container_port(8080).host_port(22).build())
            .build(),
    )
    .await;

    let reason = |out: &aws_sdk_ecs::operation::run_task::RunTaskOutput| {
        out.failures().iter().map(|f| f.reason().unwrap_or_default().to_string()).collect::<Vec<_>>()
    };
    let out = client.run_task().task_definition("huge-mem").send().await.unwrap();
    assert!(out.tasks().is_empty());
    assert_eq!(reason(&out), ["RESOURCE:MEMORY"]);
    assert_eq!(out.failures()[0].arn(), Some(instance.as_str()));

    let out = client.run_task().task_definition("huge-cpu").send().await.unwrap();
    assert_eq!(reason(&out), ["RESOURCE:CPU"]);
    let out = client.run_task().task_definition("ssh-port").send().await.unwrap();
    assert_eq!(reason(&out), ["RESOURCE:PORTS"]);

    // A fixed host port fits once: the second copy in the same call fails, the first is placed and runs.
    let out = client.run_task().task_definition("fixed-port").count(2).send().await.unwrap();
    assert_eq!(out.tasks().len(), 1);
    assert_eq!(reason(&out), ["RESOURCE:PORTS"]);
    let arn = out.tasks()[0].task_arn.clone().unwrap();
    let task = wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let described = client.describe_container_instances().container_instances(&instance).send().await.unwrap();
    let ports = resource(described.container_instances()[0].remaining_resources(), "PORTS");
    assert!(ports.string_set_value().contains(&host_port(&task).to_string()), "the port is reserved");

    // Nothing was half-placed: only the one task exists.
    assert_eq!(client.list_tasks().send().await.unwrap().task_arns().len(), 1);
    // After it stops the port is free again.
    client.stop_task().task(&arn).send().await.unwrap();
    wait_status(&client, &arn, "STOPPED", Duration::from_secs(60)).await;
    let out = client.run_task().task_definition("fixed-port").send().await.unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());

    // A cluster without instances.
    client.create_cluster().cluster_name("empty").send().await.unwrap();
    client
        .register_task_definition()
        .family("x")
        .container_definitions(ContainerDefinition::builder().name("a").image("x").memory(16).build())
        .send()
        .await
        .unwrap();
    assert_error(
        client.run_task().cluster("empty").task_definition("x").send().await,
        "InvalidParameterException",
        "No Container Instances were found in your cluster.",
    );
}
