//! maxResults / nextToken paging on the List operations, and the SDK's paginators over them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, SortOrder, TaskDefinitionFamilyStatus};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_operations_page() {
    let (_berth, client) = berth_up().await;
    let def = || ContainerDefinition::builder().name("a").image("berth-workload:latest").memory(8).build();
    for family in ["alpha", "beta", "gamma"] {
        for _ in 0..4 {
            client.register_task_definition().family(family).container_definitions(def()).send().await.unwrap();
        }
    }
    for i in 0..7 {
        client.create_cluster().cluster_name(format!("c{i}")).send().await.unwrap();
    }

    // Page by hand.
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = client.list_task_definitions().max_results(5).set_next_token(token).send().await.unwrap();
        assert!(page.task_definition_arns().len() <= 5);
        arns.extend(page.task_definition_arns().iter().cloned());
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(arns.len(), 12);
    assert!(arns[0].ends_with("alpha:1") && arns[11].ends_with("gamma:4"), "{arns:?}");

    // Descending, through the SDK's paginator.
    let desc: Vec<String> = client
        .list_task_definitions()
        .sort(SortOrder::Desc)
        .max_results(3)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(desc.len(), 12);
    assert!(desc[0].ends_with("gamma:4") && desc[11].ends_with("alpha:1"), "{desc:?}");

    // familyPrefix names one family exactly.
    let beta = client.list_task_definitions().family_prefix("beta").send().await.unwrap();
    assert_eq!(beta.task_definition_arns().len(), 4);

    // Families: prefix and status.
    client.deregister_task_definition().task_definition("gamma:1").send().await.unwrap();
    for r in 2..=4 {
        client.deregister_task_definition().task_definition(format!("gamma:{r}")).send().await.unwrap();
    }
    let active =
        client.list_task_definition_families().status(TaskDefinitionFamilyStatus::Active).send().await.unwrap();
    assert_eq!(active.families(), ["alpha", "beta"]);
    let inactive =
        client.list_task_definition_families().status(TaskDefinitionFamilyStatus::Inactive).send().await.unwrap();
    assert_eq!(inactive.families(), ["gamma"]);
    let page = client.list_task_definition_families().family_prefix("b").send().await.unwrap();
    assert_eq!(page.families(), ["beta"]);

    // Clusters: 8 with default, in pages of 3.
    let clusters: Vec<String> = client
        .list_clusters()
        .max_results(3)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(clusters.len(), 8);

    // Tasks: 5 running, pages of 2.
    register_workload(&client, "web", &[]).await;
    client.run_task().task_definition("web").count(5).send().await.unwrap();
    let tasks: Vec<String> = client
        .list_tasks()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 5);
    let mut unique = tasks.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5);
    let by_family = client.list_tasks().family("web").send().await.unwrap();
    assert_eq!(by_family.task_arns().len(), 5);
    let by_other = client.list_tasks().family("alpha").send().await.unwrap();
    assert!(by_other.task_arns().is_empty());
}
