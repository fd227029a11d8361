//! Several agents on one Docker Engine standing for several container instances (each with its own availability
//! zone, attributes and virtual size): placement strategies and constraints, custom attributes, DAEMON services,
//! and lost agents.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{
    Attribute, ContainerDefinition, PlacementConstraint, PlacementConstraintType, PlacementStrategy,
    PlacementStrategyType, SchedulingStrategy, TargetType,
};
use berth_testkit::wait_for;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn small(family: &str) -> ContainerDefinition {
    let _ = family;
    ContainerDefinition::builder().name("app").image("berth-workload:latest").memory(32).build()
}

fn spread(field: &str) -> PlacementStrategy {
    PlacementStrategy::builder().r#type(PlacementStrategyType::Spread).field(field).build()
}

fn member_of(expression: &str) -> PlacementConstraint {
    PlacementConstraint::builder().r#type(PlacementConstraintType::MemberOf).expression(expression).build()
}

/// Instance ARN -> availability zone.
async fn zones(client: &aws_sdk_ecs::Client, instances: &[String]) -> BTreeMap<String, String> {
    let out =
        client.describe_container_instances().set_container_instances(Some(instances.to_vec())).send().await.unwrap();
    out.container_instances()
        .iter()
        .map(|ci| {
            let az = ci
                .attributes()
                .iter()
                .find(|a| a.name() == "ecs.availability-zone")
                .and_then(|a| a.value.clone())
                .unwrap();
            (ci.container_instance_arn.clone().unwrap(), az)
        })
        .collect()
}

async fn stop_all(client: &aws_sdk_ecs::Client) {
    for arn in client.list_tasks().send().await.unwrap().task_arns() {
        client.stop_task().task(arn).send().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_and_constraints_on_three_instances() {
    let (_berth, client, instances) =
        cluster_of_agents(&[], 3, &[&["stack=blue"], &["stack=green"], &["stack=green"]], 1024, 512).await;
    let zone_of = zones(&client, &instances).await;
    client.register_task_definition().family("t").container_definitions(small("t")).send().await.unwrap();

    // spread over availability zones: one task in each.
    let out = client
        .run_task()
        .task_definition("t")
        .count(3)
        .placement_strategy(spread("attribute:ecs.availability-zone"))
        .send()
        .await
        .unwrap();
    let azs: BTreeSet<String> =
        out.tasks().iter().map(|t| zone_of[t.container_instance_arn().unwrap()].clone()).collect();
    assert_eq!(azs.len(), 3, "{azs:?}");
    stop_all(&client).await;

    // memberOf with an attribute: only the blue instance.
    let out = client
        .run_task()
        .task_definition("t")
        .count(2)
        .placement_constraints(member_of("attribute:stack == blue"))
        .send()
        .await
        .unwrap();
    let hosts: BTreeSet<String> = out.tasks().iter().map(|t| t.container_instance_arn().unwrap().to_string()).collect();
    assert_eq!(hosts.len(), 1);
    assert_eq!(zone_of[hosts.iter().next().unwrap()], "us-east-1a");

    // binpack on memory: every task lands on the instance with the least memory left (the blue one, now).
    let out = client
        .run_task()
        .task_definition("t")
        .count(3)
        .placement_strategy(PlacementStrategy::builder().r#type(PlacementStrategyType::Binpack).field("memory").build())
        .send()
        .await
        .unwrap();
    let packed: BTreeSet<String> =
        out.tasks().iter().map(|t| t.container_instance_arn().unwrap().to_string()).collect();
    assert_eq!(packed, hosts, "binpack fills the fullest instance");
    stop_all(&client).await;

    // A memberOf no instance satisfies: ATTRIBUTE failures, one per instance.
    let out = client
        .run_task()
        .task_definition("t")
        .placement_constraints(member_of("attribute:stack == red"))
        .send()
        .await
        .unwrap();
    assert!(out.tasks().is_empty());
    assert_eq!(out.failures().len(), 3);
    assert!(out.failures().iter().all(|f| f.reason() == Some("ATTRIBUTE")), "{:?}", out.failures());

    // A syntax error points at the error.
    assert_error(
        client
            .run_task()
            .task_definition("t")
            .placement_constraints(member_of("attribute:stack == blue and ("))
            .send()
            .await,
        "InvalidParameterException",
        "position",
    );

    // Custom attributes through the API take part in placement and are listed (on a green instance).
    let green = {
        let out = client
            .describe_container_instances()
            .set_container_instances(Some(instances.clone()))
            .send()
            .await
            .unwrap();
        out.container_instances()
            .iter()
            .find(|ci| ci.attributes().iter().any(|a| a.name() == "stack" && a.value() == Some("green")))
            .and_then(|ci| ci.container_instance_arn.clone())
            .unwrap()
    };
    let instances = [instances[0].clone(), instances[1].clone(), green];
    client
        .put_attributes()
        .attributes(
            Attribute::builder()
                .name("team")
                .value("search")
                .target_type(TargetType::ContainerInstance)
                .target_id(&instances[2])
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let listed = client
        .list_attributes()
        .target_type(TargetType::ContainerInstance)
        .attribute_name("team")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.attributes().len(), 1);
    let out = client
        .run_task()
        .task_definition("t")
        .placement_constraints(member_of("attribute:team == search"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.tasks()[0].container_instance_arn(), Some(instances[2].as_str()));
    let filtered = client
        .list_container_instances()
        .filter("attribute:team exists and attribute:stack == green")
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.container_instance_arns(), std::slice::from_ref(&instances[2]));
    client
        .delete_attributes()
        .attributes(
            Attribute::builder()
                .name("team")
                .target_type(TargetType::ContainerInstance)
                .target_id(&instances[2])
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        client
            .list_attributes()
            .target_type(TargetType::ContainerInstance)
            .attribute_name("team")
            .send()
            .await
            .unwrap()
            .attributes()
            .is_empty()
    );
    stop_all(&client).await;

    // A service with distinctInstance: one task per instance; a fourth cannot be placed, with ECS's event.
    client
        .create_service()
        .service_name("web")
        .task_definition("t")
        .desired_count(3)
        .placement_constraints(PlacementConstraint::builder().r#type(PlacementConstraintType::DistinctInstance).build())
        .send()
        .await
        .unwrap();
    wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    let tasks = client.list_tasks().service_name("web").send().await.unwrap().task_arns().to_vec();
    let described = client.describe_tasks().set_tasks(Some(tasks)).send().await.unwrap();
    let used: BTreeSet<&str> = described.tasks().iter().filter_map(|t| t.container_instance_arn()).collect();
    assert_eq!(used.len(), 3);
    client.update_service().service("web").desired_count(4).send().await.unwrap();
    let service = wait_for("a placement failure event", Duration::from_secs(30), || async {
        let s = describe_service(&client, "default", "web").await;
        events(&s)
            .iter()
            .any(|e| {
                e.contains("was unable to place a task because no container instance met all of its requirements.")
            })
            .then_some(s)
    })
    .await
    .unwrap();
    assert_eq!(service.running_count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_services_and_lost_instances() {
    let (mut berth, client, instances) =
        cluster_of_agents(&["--agent-timeout-seconds", "3", "--lost-instance-timeout-seconds", "6"], 3, &[], 1024, 512)
            .await;
    client.register_task_definition().family("d").container_definitions(small("d")).send().await.unwrap();
    client
        .create_service()
        .service_name("daemon")
        .task_definition("d")
        .scheduling_strategy(SchedulingStrategy::Daemon)
        .send()
        .await
        .unwrap();
    let service = wait_stable(&client, "default", "daemon", Duration::from_secs(60)).await;
    assert_eq!((service.desired_count, service.running_count), (3, 3));
    // An instance joins: it gets its daemon task too.
    let dir = berth.data_dir.path().join("agent-late");
    berth
        .start_agent(
            &dir,
            &["--availability-zone", "us-east-1d", "--hostname", "late", "--cpu-units", "1024", "--memory-mib", "512"],
        )
        .unwrap();
    wait_for_instances(&client, "default", 4).await;
    wait_for("the new instance's daemon task", Duration::from_secs(60), || async {
        let s = describe_service(&client, "default", "daemon").await;
        (s.desired_count == 4 && s.running_count == 4).then_some(())
    })
    .await
    .unwrap();

    // A replica service; then the agent of one of its instances freezes.
    client.register_task_definition().family("w").container_definitions(small("w")).send().await.unwrap();
    client.create_service().service_name("web").task_definition("w").desired_count(2).send().await.unwrap();
    wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    let arns = client.list_tasks().service_name("web").send().await.unwrap().task_arns().to_vec();
    let victim = describe(&client, &arns[0]).await;
    let victim_instance = victim.container_instance_arn().unwrap().to_string();
    let described = client.describe_container_instances().container_instances(&victim_instance).send().await.unwrap();
    let host = described.container_instances()[0].ec2_instance_id().unwrap().to_string();
    // Agents were started in order as host-0, host-1, host-2, then "late" (index 3).
    let index = host.strip_prefix("host-").map(|n| n.parse::<usize>().unwrap()).unwrap_or(3);
    assert!(instances.len() == 3);
    let pid = berth.agent_pid(index).unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());

    let stopped = wait_status(&client, victim.task_arn().unwrap(), "STOPPED", Duration::from_secs(30)).await;
    assert_eq!(stopped.stop_code.as_ref().map(|c| c.as_str()), Some("ServiceSchedulerInitiated"));
    assert!(stopped.stopped_reason().unwrap().contains(&victim_instance), "{:?}", stopped.stopped_reason());
    let service = wait_for("a replacement elsewhere", Duration::from_secs(60), || async {
        let s = describe_service(&client, "default", "web").await;
        (s.running_count == 2).then_some(s)
    })
    .await
    .unwrap();
    assert_eq!(service.running_count, 2);
    let now_running = client.list_tasks().service_name("web").send().await.unwrap().task_arns().to_vec();
    let described = client.describe_tasks().set_tasks(Some(now_running)).send().await.unwrap();
    assert!(described.tasks().iter().all(|t| t.container_instance_arn() != Some(victim_instance.as_str())));

    // The agent comes back: the container of the task that was replaced is stopped, so it does not run twice.
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let victim_arn = victim.task_arn().unwrap().to_string();
    wait_for("the replaced task's container to stop", Duration::from_secs(30), || async {
        let running =
            berth_testkit::docker(&["ps", "-q", "--filter", &format!("label=com.amazonaws.ecs.task-arn={victim_arn}")])
                .unwrap_or_default();
        running.trim().is_empty().then_some(())
    })
    .await
    .unwrap();
}
