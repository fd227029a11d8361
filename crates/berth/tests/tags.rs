//! Tags through the AWS SDK against a real `berth up`: TagResource / UntagResource / ListTagsForResource on every
//! resource type Berth has, `include: ["TAGS"]` on the Describe operations, `propagateTags` and
//! `enableECSManagedTags` on the tasks services and RunTask start, and ECS's limits and errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    ClusterField, ContainerInstanceField, PropagateTags, ServiceField, Tag, TaskDefinitionField, TaskField,
};
use berth_testkit::wait_for;
use common::*;
use std::time::Duration;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = tags
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect();
    out.sort();
    out
}

fn expect(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    out.sort();
    out
}

async fn listed(client: &Client, arn: &str) -> Vec<(String, String)> {
    pairs(client.list_tags_for_resource().resource_arn(arn).send().await.expect("list tags").tags())
}

/// Tags `arn` with `a=1,b=2`, removes `a`, and checks the listing after each step.
async fn tag_untag_list(client: &Client, arn: &str, before: &[(&str, &str)]) {
    assert_eq!(listed(client, arn).await, expect(before), "{arn} before");
    client.tag_resource().resource_arn(arn).tags(tag("a", "1")).tags(tag("b", "2")).send().await.expect("tag");
    let mut with: Vec<(&str, &str)> = before.to_vec();
    with.extend([("a", "1"), ("b", "2")]);
    assert_eq!(listed(client, arn).await, expect(&with), "{arn} tagged");
    client.untag_resource().resource_arn(arn).tag_keys("a").send().await.expect("untag");
    with.retain(|(k, _)| *k != "a");
    assert_eq!(listed(client, arn).await, expect(&with), "{arn} untagged");
}

/// Waits for the first task a service started; returns its ARN.
async fn service_task(client: &Client, service: &str) -> String {
    wait_for(&format!("a task of {service}"), Duration::from_secs(30), || async {
        let out = client.list_tasks().service_name(service).send().await.ok()?;
        out.task_arns().first().cloned()
    })
    .await
    .expect("the service starts a task")
}

async fn task_tags(client: &Client, arn: &str) -> Vec<(String, String)> {
    let out = client.describe_tasks().tasks(arn).include(TaskField::Tags).send().await.expect("describe task");
    pairs(out.tasks()[0].tags())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_type_is_taggable_and_describes_show_tags_only_when_asked() {
    let (_berth, client) = berth_up().await;
    let td = client
        .register_task_definition()
        .family("tagged")
        .container_definitions(workload_container("app").build())
        .tags(tag("team", "core"))
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    tag_untag_list(&client, &td, &[("team", "core")]).await;
    let shown = client.describe_task_definition().task_definition(&td).include(TaskDefinitionField::Tags).send();
    assert_eq!(pairs(shown.await.unwrap().tags()), expect(&[("b", "2"), ("team", "core")]));
    let hidden = client.describe_task_definition().task_definition(&td).send().await.unwrap();
    assert!(hidden.tags.is_none(), "no tags without include TAGS: {:?}", hidden.tags);

    let instance = wait_for_instances(&client, "default", 1).await.remove(0);
    tag_untag_list(&client, &instance, &[]).await;
    let out = client
        .describe_container_instances()
        .container_instances(&instance)
        .include(ContainerInstanceField::Tags)
        .send()
        .await
        .unwrap();
    assert_eq!(pairs(out.container_instances()[0].tags()), expect(&[("b", "2")]));
    let out = client.describe_container_instances().container_instances(&instance).send().await.unwrap();
    assert!(out.container_instances()[0].tags.is_none());

    let service = client
        .create_service()
        .service_name("svc")
        .task_definition(&td)
        .desired_count(0)
        .tags(tag("owner", "me"))
        .send()
        .await
        .expect("create the service")
        .service
        .unwrap()
        .service_arn
        .unwrap();
    tag_untag_list(&client, &service, &[("owner", "me")]).await;
    let out = client.describe_services().services("svc").include(ServiceField::Tags).send().await.unwrap();
    assert_eq!(pairs(out.services()[0].tags()), expect(&[("b", "2"), ("owner", "me")]));
    let out = client.describe_services().services("svc").send().await.unwrap();
    assert!(out.services()[0].tags.is_none());

    let cluster =
        client.describe_clusters().clusters("default").send().await.unwrap().clusters()[0].cluster_arn.clone().unwrap();
    tag_untag_list(&client, &cluster, &[]).await;
    let out = client.describe_clusters().clusters("default").include(ClusterField::Tags).send().await.unwrap();
    assert_eq!(pairs(out.clusters()[0].tags()), expect(&[("b", "2")]));

    // Limits and errors, as ECS gives them.
    let fifty_one: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_error(
        client.tag_resource().resource_arn(&service).set_tags(Some(fifty_one)).send().await,
        "InvalidParameterException",
        "at most 50 tags",
    );
    let forty_nine: Vec<Tag> = (0..49).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_error(
        client.tag_resource().resource_arn(&service).set_tags(Some(forty_nine)).send().await,
        "InvalidParameterException",
        "at most 50 tags",
    );
    assert_error(
        client.tag_resource().resource_arn(&service).tags(tag(&"k".repeat(129), "v")).send().await,
        "InvalidParameterException",
        "Invalid tag key",
    );
    assert_error(
        client.tag_resource().resource_arn(&service).tags(tag("k", &"v".repeat(257))).send().await,
        "InvalidParameterException",
        "Invalid value for tag",
    );
    assert_error(
        client.tag_resource().resource_arn(&service).tags(tag("aws:mine", "v")).send().await,
        "InvalidParameterException",
        "may not start with \"aws:\"",
    );
    assert_eq!(
        listed(&client, &service).await,
        expect(&[("b", "2"), ("owner", "me")]),
        "refused requests change nothing"
    );
    let missing = service.replace("service/default/svc", "service/default/nope");
    assert_error(
        client.list_tags_for_resource().resource_arn(&missing).send().await,
        "ResourceNotFoundException",
        "could not be found",
    );
    let other_cluster = service.replace("service/default/", "service/elsewhere/");
    assert_error(
        client.tag_resource().resource_arn(&other_cluster).tags(tag("a", "b")).send().await,
        "ClusterNotFoundException",
        "Cluster not found",
    );
    // A capacity provider that does not exist (capacity_providers.rs tags one that does).
    let provider = cluster.replace("cluster/default", "capacity-provider/cp");
    assert_error(
        client.tag_resource().resource_arn(&provider).tags(tag("a", "b")).send().await,
        "ResourceNotFoundException",
        "The specified resource could not be found.",
    );
    // A task set that does not exist (task_sets.rs tags one that does).
    let task_set = cluster.replace("cluster/default", "task-set/default/svc/ecs-svc/1");
    assert_error(
        client.list_tags_for_resource().resource_arn(&task_set).send().await,
        "ResourceNotFoundException",
        "The specified resource could not be found.",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_carry_propagated_and_managed_tags() {
    let (_berth, client) = berth_up().await;
    let td = client
        .register_task_definition()
        .family("web")
        .container_definitions(workload_container("app").build())
        .tags(tag("source", "task-definition"))
        .tags(tag("team", "core"))
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();

    // SERVICE propagation with ECS managed tags.
    client
        .create_service()
        .service_name("from-service")
        .task_definition(&td)
        .desired_count(1)
        .propagate_tags(PropagateTags::Service)
        .enable_ecs_managed_tags(true)
        .tags(tag("source", "service"))
        .tags(tag("owner", "me"))
        .send()
        .await
        .expect("create the service");
    let task = service_task(&client, "from-service").await;
    assert_eq!(
        task_tags(&client, &task).await,
        expect(&[
            ("aws:ecs:clusterName", "default"),
            ("aws:ecs:serviceName", "from-service"),
            ("owner", "me"),
            ("source", "service"),
        ])
    );
    let plain = client.describe_tasks().tasks(&task).send().await.unwrap();
    assert!(plain.tasks()[0].tags.is_none(), "tags are omitted without include TAGS");
    client.delete_service().service("from-service").force(true).send().await.unwrap();

    // TASK_DEFINITION propagation, no managed tags.
    client
        .create_service()
        .service_name("from-td")
        .task_definition(&td)
        .desired_count(1)
        .propagate_tags(PropagateTags::TaskDefinition)
        .tags(tag("source", "service"))
        .send()
        .await
        .expect("create the service");
    let task = service_task(&client, "from-td").await;
    assert_eq!(task_tags(&client, &task).await, expect(&[("source", "task-definition"), ("team", "core")]));
    client.delete_service().service("from-td").force(true).send().await.unwrap();

    // RunTask: TASK_DEFINITION propagation merged with the request's own tags (the request wins), managed tags.
    let out = client
        .run_task()
        .task_definition(&td)
        .propagate_tags(PropagateTags::TaskDefinition)
        .enable_ecs_managed_tags(true)
        .tags(tag("source", "run-task"))
        .tags(tag("job", "42"))
        .send()
        .await
        .expect("run the task");
    let task = out.tasks()[0].task_arn.clone().unwrap();
    assert_eq!(
        task_tags(&client, &task).await,
        expect(&[("aws:ecs:clusterName", "default"), ("job", "42"), ("source", "run-task"), ("team", "core")])
    );
    tag_untag_list(
        &client,
        &task,
        &[("aws:ecs:clusterName", "default"), ("job", "42"), ("source", "run-task"), ("team", "core")],
    )
    .await;
    assert_error(
        client.untag_resource().resource_arn(&task).tag_keys("aws:ecs:clusterName").send().await,
        "InvalidParameterException",
        "may not start with \"aws:\"",
    );
    assert_error(
        client.run_task().task_definition(&td).propagate_tags(PropagateTags::Service).send().await,
        "InvalidParameterException",
        "propagateTags SERVICE",
    );
}
