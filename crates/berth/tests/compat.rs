//! Compatibility through the AWS SDK against a real `berth up` (issue 9): the exceptions ECS gives, one test per
//! operation family (exception class and the message's key words), and the leniency ECS shows to deploy tools
//! (empty role ARNs, `startedBy: "ECS Deploy"`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{
    Attribute, CapacityProviderStrategyItem, ContainerInstanceStatus, IpcMode, LaunchType, NetworkMode, PidMode,
    TargetType, TaskDefinitionStatus,
};
use common::*;
use std::time::Duration;

const NOPE: &str = "no-such-cluster";
const CLUSTER_NOT_FOUND: &str = "ClusterNotFoundException";
const CLUSTER_MESSAGE: &str = "Cluster not found.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_operations_on_an_unknown_cluster_are_cluster_not_found() {
    let (_berth, client) = berth_up().await;
    register_workload(&client, "tasks", &[]).await;
    let instances = wait_for_instances(&client, "default", 1).await;
    assert_error(client.describe_tasks().cluster(NOPE).tasks("t").send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);
    assert_error(client.list_tasks().cluster(NOPE).send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);
    assert_error(client.stop_task().cluster(NOPE).task("t").send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);
    assert_error(
        client.run_task().cluster(NOPE).task_definition("tasks").send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(
        client.start_task().cluster(NOPE).task_definition("tasks").container_instances(&instances[0]).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    let arn = "arn:aws:ecs:us-east-1:000000000000:cluster/no-such-cluster";
    assert_error(client.list_tasks().cluster(arn).send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_instance_operations_on_an_unknown_cluster_are_cluster_not_found() {
    let (_berth, client) = berth_up().await;
    let instances = wait_for_instances(&client, "default", 1).await;
    let id = &instances[0];
    assert_error(
        client.describe_container_instances().cluster(NOPE).container_instances(id).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(client.list_container_instances().cluster(NOPE).send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);
    assert_error(
        client
            .update_container_instances_state()
            .cluster(NOPE)
            .container_instances(id)
            .status(ContainerInstanceStatus::Draining)
            .send()
            .await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(
        client.deregister_container_instance().cluster(NOPE).container_instance(id).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    let attribute = Attribute::builder().name("stack").value("blue").target_id(id).build().unwrap();
    assert_error(
        client.put_attributes().cluster(NOPE).attributes(attribute.clone()).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(
        client.list_attributes().cluster(NOPE).target_type(TargetType::ContainerInstance).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(
        client.delete_attributes().cluster(NOPE).attributes(attribute).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(client.update_cluster().cluster(NOPE).send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);
    assert_error(client.delete_cluster().cluster(NOPE).send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);
    assert_error(
        client.update_cluster_settings().cluster(NOPE).set_settings(Some(vec![])).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_operations_tell_unknown_clusters_unknown_services_and_inactive_services_apart() {
    let (_berth, client) = berth_up().await;
    let td = register_workload(&client, "svc", &[]).await;
    assert_error(client.list_services().cluster(NOPE).send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);
    assert_error(
        client.describe_services().cluster(NOPE).services("s").send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(
        client.create_service().cluster(NOPE).service_name("s").task_definition(&td).desired_count(1).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(
        client.update_service().cluster(NOPE).service("s").desired_count(1).send().await,
        CLUSTER_NOT_FOUND,
        CLUSTER_MESSAGE,
    );
    assert_error(client.delete_service().cluster(NOPE).service("s").send().await, CLUSTER_NOT_FOUND, CLUSTER_MESSAGE);

    assert_error(
        client.update_service().service("never").desired_count(1).send().await,
        "ServiceNotFoundException",
        "Service not found.",
    );
    assert_error(
        client.delete_service().service("never").send().await,
        "ServiceNotFoundException",
        "Service not found.",
    );
    client.create_service().service_name("gone").task_definition(&td).desired_count(0).send().await.unwrap();
    client.delete_service().service("gone").send().await.unwrap();
    // Deleted: DRAINING, then INACTIVE once its tasks are gone (it has none).
    berth_testkit::wait_for("the deleted service to be INACTIVE", Duration::from_secs(30), || async {
        let s = client.describe_services().services("gone").send().await.ok()?.services?.into_iter().next()?;
        (s.status.as_deref() == Some("INACTIVE")).then_some(())
    })
    .await
    .expect("the service becomes INACTIVE");
    assert_error(
        client.update_service().service("gone").desired_count(1).send().await,
        "ServiceNotActiveException",
        "Service was not ACTIVE.",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_task_definitions_fails_with_ecs_reasons() {
    let (_berth, client) = berth_up().await;
    let arn = register_workload(&client, "del", &[]).await;
    let out = client
        .delete_task_definitions()
        .task_definitions(&arn)
        .task_definitions("del:99")
        .task_definitions("del")
        .send()
        .await
        .unwrap();
    let reasons: Vec<&str> = out.failures().iter().map(|f| f.reason().unwrap_or_default()).collect();
    assert_eq!(
        reasons,
        [
            "The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
            "The specified task definition does not exist. Specify a valid account, family, revision and try again.",
            "The specified task definition identifier is invalid. Specify a valid name or ARN and try again.",
        ]
    );
    client.deregister_task_definition().task_definition(&arn).send().await.unwrap();
    let out = client.delete_task_definitions().task_definitions(&arn).send().await.unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    assert_eq!(out.task_definitions()[0].status(), Some(&TaskDefinitionStatus::DeleteInProgress));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_launch_type_errors_are_invalid_parameters_as_ecs_gives_them() {
    let (_berth, client) = berth_up().await;
    register_workload(&client, "lt", &[]).await;
    let strategy = CapacityProviderStrategyItem::builder().capacity_provider("cp").weight(1).build().unwrap();
    assert_error(
        client
            .run_task()
            .task_definition("lt")
            .launch_type(LaunchType::Ec2)
            .capacity_provider_strategy(strategy.clone())
            .send()
            .await,
        "InvalidParameterException",
        "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
    );
    assert_error(
        client
            .create_service()
            .service_name("both")
            .task_definition("lt")
            .desired_count(1)
            .launch_type(LaunchType::Ec2)
            .capacity_provider_strategy(strategy)
            .send()
            .await,
        "InvalidParameterException",
        "Specifying both a launch type and capacity provider strategy",
    );
    // An unknown launch type names the model's values.
    let result = client.run_task().task_definition("lt").launch_type(LaunchType::from("EC3")).send().await;
    assert_error(result, "InvalidParameterException", "launchType");
    let result = client.run_task().task_definition("lt").launch_type(LaunchType::from("EC3")).send().await;
    assert_error(result, "InvalidParameterException", "`EC2`, `FARGATE`, `EXTERNAL`, `MANAGED_INSTANCES`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_definition_with_empty_role_arns_places_and_runs() {
    let (_berth, client) = berth_up().await;
    let td = client
        .register_task_definition()
        .family("copied")
        .task_role_arn("")
        .execution_role_arn("")
        .network_mode(NetworkMode::from(""))
        .pid_mode(PidMode::from(""))
        .ipc_mode(IpcMode::from(""))
        .container_definitions(workload_container("app").build())
        .send()
        .await
        .expect("an empty role ARN is accepted")
        .task_definition
        .unwrap();
    assert_eq!(td.task_role_arn(), None, "the empty task role is not stored as set");
    assert_eq!(td.execution_role_arn(), None, "the empty execution role is not stored as set");
    assert_eq!((td.network_mode(), td.pid_mode(), td.ipc_mode()), (None, None, None), "empty modes are absent");
    let required: Vec<&str> = td.requires_attributes().iter().map(|a| a.name()).collect();
    assert!(!required.contains(&"com.amazonaws.ecs.capability.task-iam-role"), "requiresAttributes {required:?}");
    let out = client.run_task().task_definition(td.task_definition_arn().unwrap()).send().await.unwrap();
    assert!(out.failures().is_empty(), "the revision places: {:?}", out.failures());
    let arn = out.tasks()[0].task_arn().unwrap().to_string();
    wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    client.stop_task().task(&arn).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_task_started_by_ecs_deploy_runs_and_is_described() {
    let (_berth, client) = berth_up().await;
    let td = register_workload(&client, "oneoff", &[]).await;
    let out =
        client.run_task().task_definition(&td).started_by("ECS Deploy").send().await.expect("a space is accepted");
    let arn = out.tasks()[0].task_arn().unwrap().to_string();
    let task = describe(&client, &arn).await;
    assert_eq!(task.started_by(), Some("ECS Deploy"));
    let listed = client.list_tasks().started_by("ECS Deploy").send().await.unwrap();
    assert_eq!(listed.task_arns(), std::slice::from_ref(&arn));
    let instances = wait_for_instances(&client, "default", 1).await;
    let started = client
        .start_task()
        .task_definition(&td)
        .container_instances(&instances[0])
        .started_by("ECS Deploy")
        .send()
        .await;
    assert_eq!(started.expect("StartTask takes it too").tasks()[0].started_by(), Some("ECS Deploy"));
    wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    assert_error(
        client.run_task().task_definition(&td).started_by("x".repeat(129)).send().await,
        "InvalidParameterException",
        "startedBy",
    );
}
