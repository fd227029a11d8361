//! Bad input through the AWS SDK and raw HTTP: each gets the exception ECS gives and a useful message, never a 500,
//! and nothing already stored changes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{
    Compatibility, ContainerCondition, ContainerDefinition, ContainerDependency, ContainerInstanceStatus,
    ContainerOverride, HealthCheck, LaunchType, NetworkMode, PortMapping, Tag, TaskOverride,
};
use common::*;

fn c(name: &str) -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
    ContainerDefinition::builder().name(name).image("berth-workload:latest").memory(64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_task_definitions_are_refused_with_ecs_messages() {
    let (_berth, client) = berth_up().await;
    register_workload(&client, "good", &[]).await;
    let register = |family: &str| client.register_task_definition().family(family);

    assert_error(
        register("bad family").container_definitions(c("a").build()).send().await,
        "ClientException",
        "Family contains invalid characters.",
    );
    assert_error(
        register("empty").set_container_definitions(Some(vec![])).send().await,
        "ClientException",
        "Container list cannot be empty.",
    );
    let many: Vec<_> = (0..11).map(|i| c(&format!("c{i}")).build()).collect();
    assert_error(
        register("many").set_container_definitions(Some(many)).send().await,
        "ClientException",
        "at most 10 containers",
    );
    assert_error(
        register("badname").container_definitions(c("my app").build()).send().await,
        "ClientException",
        "Container.name contains invalid characters.",
    );
    assert_error(
        register("noimage")
            .container_definitions(ContainerDefinition::builder().name("a").memory(64).build())
            .send()
            .await,
        "ClientException",
        "Container.image should not be null or empty.",
    );
    assert_error(
        register("nomem")
            .container_definitions(ContainerDefinition::builder().name("a").image("x").build())
            .send()
            .await,
        "ClientException",
        "At least one of 'memory' or 'memoryReservation' must be specified.",
    );
    assert_error(
        register("softhard").container_definitions(c("a").memory_reservation(128).build()).send().await,
        "ClientException",
        "'memoryReservation' must be less than or equal to 'memory'",
    );
    assert_error(
        register("tiny").container_definitions(c("a").memory(4).build()).send().await,
        "ClientException",
        "Invalid 'memory' setting for container 'a'.",
    );
    assert_error(
        register("dupes").container_definitions(c("a").build()).container_definitions(c("a").build()).send().await,
        "ClientException",
        "Duplicate container name 'a'",
    );
    let port = |h| PortMapping::builder().container_port(80).host_port(h).build();
    assert_error(
        register("ports")
            .container_definitions(c("a").port_mappings(port(8080)).build())
            .container_definitions(c("b").port_mappings(port(8080)).build())
            .send()
            .await,
        "ClientException",
        "host port 8080/tcp is used by both container 'a' and container 'b'",
    );
    assert_error(
        register("noessential").container_definitions(c("a").essential(false).build()).send().await,
        "ClientException",
        "doesn't have any essential container",
    );
    assert_error(
        register("taskcpu").cpu("lots").container_definitions(c("a").build()).send().await,
        "ClientException",
        "Invalid 'cpu' setting for task.",
    );
    assert_error(
        register("cpusum").cpu("256").container_definitions(c("a").cpu(512).build()).send().await,
        "ClientException",
        "cannot be greater than the value of the task 'cpu'",
    );
    assert_error(
        register("fargate")
            .requires_compatibilities(Compatibility::Fargate)
            .container_definitions(c("a").build())
            .send()
            .await,
        "ClientException",
        "Fargate only supports network mode \u{2018}awsvpc\u{2019}.",
    );
    assert_error(
        register("fargatesize")
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu("256")
            .memory("4096")
            .container_definitions(c("a").build())
            .send()
            .await,
        "ClientException",
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory",
    );
    assert_error(
        register("health")
            .container_definitions(c("a").health_check(HealthCheck::builder().command("curl").build().unwrap()).build())
            .send()
            .await,
        "ClientException",
        "must start with \"CMD\"",
    );
    assert_error(
        register("deps")
            .container_definitions(
                c("a")
                    .depends_on(
                        ContainerDependency::builder()
                            .container_name("ghost")
                            .condition(ContainerCondition::Start)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await,
        "ClientException",
        "Container 'ghost' is not defined",
    );
    assert_error(
        register("awsvpc")
            .network_mode(NetworkMode::Awsvpc)
            .container_definitions(c("a").port_mappings(port(8080)).build())
            .send()
            .await,
        "ClientException",
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    );
    assert_error(
        register("tags")
            .container_definitions(c("a").build())
            .tags(Tag::builder().key("aws:x").value("y").build())
            .send()
            .await,
        "InvalidParameterException",
        "may not start with \"aws:\"",
    );

    // Nothing was stored by the refused requests: one family, one revision.
    let families = client.list_task_definition_families().send().await.unwrap();
    assert_eq!(families.families(), ["good"]);
    let again = register_workload(&client, "good", &[]).await;
    assert!(again.ends_with("task-definition/good:2"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_calls_on_clusters_tasks_and_instances() {
    let (_berth, client) = berth_up().await;
    register_workload(&client, "web", &[]).await;

    assert_error(
        client.run_task().task_definition("web").count(11).send().await,
        "InvalidParameterException",
        "count must be between 1 and 10",
    );
    assert_error(
        client.run_task().task_definition("nope").send().await,
        "ClientException",
        "Unable to describe task definition.",
    );
    assert_error(
        client.run_task().cluster("nowhere").task_definition("web").send().await,
        "ClusterNotFoundException",
        "Cluster not found.",
    );
    assert_error(
        client.run_task().task_definition("web").launch_type(LaunchType::Fargate).send().await,
        "InvalidParameterException",
        "Task definition does not support launch_type FARGATE.",
    );
    assert_error(
        // Printable characters are accepted as ECS accepts them (docs/COMPATIBILITY.md); control characters are not.
        client.run_task().task_definition("web").started_by("bad\tby").send().await,
        "InvalidParameterException",
        "startedBy",
    );
    assert_error(
        client
            .run_task()
            .task_definition("web")
            .overrides(
                TaskOverride::builder().container_overrides(ContainerOverride::builder().name("ghost").build()).build(),
            )
            .send()
            .await,
        "InvalidParameterException",
        "Override for container named ghost is not a container in the TaskDefinition.",
    );
    client.register_task_definition().family("old").container_definitions(c("a").build()).send().await.unwrap();
    client.deregister_task_definition().task_definition("old:1").send().await.unwrap();
    assert_error(
        client.run_task().task_definition("old:1").send().await,
        "ClientException",
        "TaskDefinition is inactive",
    );
    assert_error(
        client.deregister_task_definition().task_definition("web").send().await,
        "ClientException",
        "revision is required",
    );
    assert_error(
        client.describe_task_definition().task_definition("web:99").send().await,
        "ClientException",
        "Unable to describe task definition.",
    );
    assert_error(
        client.stop_task().task("0123456789abcdef0123456789abcdef").send().await,
        "InvalidParameterException",
        "The referenced task was not found.",
    );
    assert_error(
        client.delete_cluster().cluster("default").send().await,
        "ClusterContainsContainerInstancesException",
        "Container Instances are active or draining",
    );
    assert_error(
        client.create_cluster().cluster_name("bad name").send().await,
        "InvalidParameterException",
        "Cluster names can have up to 255 characters",
    );
    assert_error(
        client.list_tasks().family("bad family").send().await,
        "InvalidParameterException",
        "family must match",
    );
    assert_error(
        client.list_tasks().max_results(0).send().await,
        "InvalidParameterException",
        "maxResults must be between 1 and 100",
    );
    assert_error(
        client.list_clusters().next_token("%%%").send().await,
        "InvalidParameterException",
        "Invalid nextToken.",
    );
    assert_error(
        client.list_tags_for_resource().resource_arn("not-an-arn").send().await,
        "InvalidParameterException",
        "invalid arn",
    );
    assert_error(
        client
            .list_tags_for_resource()
            .resource_arn("arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef")
            .send()
            .await,
        "ResourceNotFoundException",
        "could not be found",
    );
    let instance = wait_for_instances(&client, "default", 1).await.remove(0);
    assert_error(
        client
            .update_container_instances_state()
            .container_instances(&instance)
            .status(ContainerInstanceStatus::Registering)
            .send()
            .await,
        "InvalidParameterException",
        "only be set to ACTIVE or DRAINING",
    );
    let many: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    assert_error(
        client.describe_clusters().set_clusters(Some(many)).send().await,
        "InvalidParameterException",
        "up to 100 clusters",
    );
    assert_error(
        client.describe_tasks().set_tasks(Some(vec![])).send().await,
        "InvalidParameterException",
        "between 1 and 100 tasks",
    );

    // The default cluster and its instance are untouched by all that.
    let clusters = client.describe_clusters().send().await.unwrap();
    assert_eq!(clusters.clusters()[0].registered_container_instances_count, 1);
    assert_eq!(clusters.clusters()[0].status.as_deref(), Some("ACTIVE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_are_400s_in_the_aws_shape() {
    let (berth, _client) = berth_up().await;
    let list = ecs_target("ListClusters");
    let cases: Vec<(Option<String>, Vec<u8>, &str)> = vec![
        (Some(list.clone()), b"{".to_vec(), "SerializationException"),
        (Some(list.clone()), b"[]".to_vec(), "SerializationException"),
        (
            Some(ecs_target("RunTask")),
            br#"{"taskDefinition": "web", "count": "two"}"#.to_vec(),
            "SerializationException",
        ),
        (Some(ecs_target("RegisterTaskDefinition")), br#"{"family": "web"}"#.to_vec(), "InvalidParameterException"),
        (Some(ecs_target("ListTasks")), br#"{"desiredStatus": "SLEEPING"}"#.to_vec(), "InvalidParameterException"),
        (Some(ecs_target("FlyToTheMoon")), b"{}".to_vec(), "UnknownOperationException"),
        (Some("SomeOtherService.ListClusters".into()), b"{}".to_vec(), "UnknownOperationException"),
        (None, b"{}".to_vec(), "UnknownOperationException"),
        (Some(ecs_target("ContinueServiceDeployment")), b"{}".to_vec(), "InvalidParameterException"),
        (Some(ecs_target("CreateCapacityProvider")), b"{}".to_vec(), "InvalidParameterException"),
        (Some(ecs_target("RegisterTaskDefinition")), vec![b' '; 2 * 1024 * 1024], "InvalidParameterException"),
    ];
    for (target, body, code) in cases {
        let (status, answer) = raw_request(&berth, target.as_deref(), &body, None, None, None).await;
        assert_eq!(status, 400, "{target:?} -> {answer}");
        assert_eq!(answer["__type"], code, "{target:?} -> {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    // A valid request still works afterwards.
    let (status, answer) = raw_request(&berth, Some(&list), b"{}", None, None, None).await;
    assert_eq!(status, 200, "{answer}");
}
