//! Ephemeral storage in Fargate placement (issue 15, item 2), on an in-memory store: a FARGATE task reserves its
//! `ephemeralStorage` on the pool's instance like its CPU and memory, a task that fits CPU and memory but not the
//! storage gets ECS's capacity answer, a stopped task gives its storage back, and the account is in the records: a
//! restarted control plane and a re-registered agent keep it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::records::keys;
use berth_control::tasks::fargate::{CAPACITY_UNAVAILABLE, POOL};
use berth_control::{Control, ControlConfig};
use berth_model::agent::{AgentResources, Capacity, ContainerReport, RegisterRequest, ReportRequest, TaskReport};
use berth_model::clock::ManualClock;
use berth_model::ecs::*;
use berth_store::{MemoryStore, Store};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const SUBNET: &str = "subnet-0be7f00000000000a";

/// A Fargate definition of 256 CPU units, 512 MiB and `gib` of ephemeral storage; its ARN and the attributes an
/// instance needs to take it.
async fn register(control: &Control, family: &str, gib: Option<i32>) -> (String, BTreeMap<String, String>) {
    let td = control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: family.into(),
            network_mode: Some(NetworkMode::Awsvpc),
            requires_compatibilities: Some(vec![Compatibility::Fargate]),
            cpu: Some("256".into()),
            memory: Some("512".into()),
            ephemeral_storage: gib.map(|size_in_gi_b| EphemeralStorage { size_in_gi_b }),
            container_definitions: vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some("x".into()),
                essential: Some(true),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let mut attributes: BTreeMap<String, String> = td
        .requires_attributes
        .iter()
        .flatten()
        .map(|a| (a.name.clone(), a.value.clone().unwrap_or_default()))
        .collect();
    attributes.insert("ecs.availability-zone".into(), "us-east-1a".into());
    (td.task_definition_arn.unwrap(), attributes)
}

/// Registers the pool agent (Fargate only, 250 GiB), or registers it again as the same instance.
async fn join(
    control: &Control,
    attributes: &BTreeMap<String, String>,
    again: Option<(&str, &str)>,
) -> berth_model::agent::RegisterResponse {
    control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "pool-0".into(),
            container_instance_arn: again.map(|(arn, _)| arn.to_string()),
            instance_secret: again.map(|(_, secret)| secret.to_string()),
            resources: AgentResources {
                cpu: 4096,
                memory_mib: 8192,
                ephemeral_storage_gib: Some(250),
                ..Default::default()
            },
            attributes: attributes.clone(),
            capacity: vec![Capacity::Fargate],
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn run(control: &Control, td: &str, count: i32) -> RunTaskResponse {
    control
        .run_task(RunTaskRequest {
            task_definition: td.into(),
            count: Some(count),
            launch_type: Some(LaunchType::Fargate),
            network_configuration: Some(NetworkConfiguration {
                awsvpc_configuration: Some(AwsVpcConfiguration { subnets: vec![SUBNET.into()], ..Default::default() }),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
}

/// The pool instance's record as stored.
async fn record(store: &MemoryStore, id: &str) -> Value {
    let kv = store.get(&keys::instance(POOL, id)).await.unwrap().unwrap();
    serde_json::from_slice(&kv.value).unwrap()
}

async fn stopped(control: &Control, instance: &str, task_arn: &str) {
    let report = TaskReport {
        task_arn: task_arn.into(),
        last_status: "STOPPED".into(),
        containers: vec![ContainerReport {
            name: "app".into(),
            last_status: "STOPPED".into(),
            exit_code: Some(0),
            health_status: "UNKNOWN".into(),
            ..Default::default()
        }],
        health_status: "UNKNOWN".into(),
        ..Default::default()
    };
    let req = ReportRequest { tasks: vec![report], applied_revision: 0, usage: Vec::new() };
    control.agent_report(POOL, instance, req).await.unwrap();
}

#[tokio::test]
async fn fargate_tasks_reserve_their_storage_get_it_back_and_keep_the_account_across_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let control = Control::start(store.clone(), clock.clone(), ControlConfig::default()).await.unwrap();
    let (big, attributes) = register(&control, "big", Some(100)).await;
    let (small, _) = register(&control, "small", None).await;
    let joined = join(&control, &attributes, None).await;
    let id = joined.container_instance_arn.rsplit('/').next().unwrap().to_string();
    let secret = joined.instance_secret.clone().unwrap();
    assert_eq!(record(&store, &id).await["remainingEphemeralStorageGib"], 250);

    // Two 100 GiB tasks fit in 250 GiB; the third fits CPU and memory (4096 / 8192) but not the storage.
    let out = run(&control, &big, 3).await;
    let tasks = out.tasks.unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].ephemeral_storage, Some(EphemeralStorage { size_in_gi_b: 100 }));
    let failures = out.failures.unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].reason.as_deref(), Some(CAPACITY_UNAVAILABLE));
    let detail = failures[0].detail.clone().unwrap();
    assert!(detail.contains("RESOURCE:EPHEMERAL_STORAGE"), "{detail}");
    let stored = record(&store, &id).await;
    assert_eq!(stored["remainingEphemeralStorageGib"], 50);
    assert_eq!(
        (stored["remainingCpu"].as_i64(), stored["remainingMemory"].as_i64()),
        (Some(4096 - 512), Some(8192 - 1024))
    );
    // A default-sized task (20 GiB) still fits in what is left.
    let out = run(&control, &small, 1).await;
    assert_eq!(out.tasks.unwrap()[0].ephemeral_storage, Some(EphemeralStorage { size_in_gi_b: 20 }));
    assert_eq!(record(&store, &id).await["remainingEphemeralStorageGib"], 30);

    // A stopped task gives its storage back: the third 100 GiB task fits now.
    stopped(&control, &id, tasks[0].task_arn.as_deref().unwrap()).await;
    assert_eq!(record(&store, &id).await["remainingEphemeralStorageGib"], 130);
    let out = run(&control, &big, 1).await;
    assert_eq!(out.tasks.unwrap().len(), 1, "{:?}", out.failures);
    assert_eq!(record(&store, &id).await["remainingEphemeralStorageGib"], 30);

    // A restarted control plane reads the account from the records; a re-registering agent's remainder is
    // recomputed from its tasks (220 GiB held).
    drop(control);
    let control = Control::start(store.clone(), clock, ControlConfig::default()).await.unwrap();
    join(&control, &attributes, Some((&joined.container_instance_arn, &secret))).await;
    assert_eq!(record(&store, &id).await["remainingEphemeralStorageGib"], 30);
    let out = run(&control, &big, 1).await;
    assert!(out.tasks.unwrap().is_empty());
    assert_eq!(out.failures.unwrap()[0].reason.as_deref(), Some(CAPACITY_UNAVAILABLE));
    assert_eq!(run(&control, &small, 1).await.tasks.unwrap().len(), 1, "20 GiB of the 30 left");
}

#[tokio::test]
async fn an_agent_serving_only_ec2_keeps_no_storage_account_and_negative_storage_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let control = Control::start(store.clone(), clock, ControlConfig::default()).await.unwrap();
    let register = |capacity: Vec<Capacity>, gib: i64| RegisterRequest {
        cluster: "default".into(),
        hostname: "node".into(),
        resources: AgentResources {
            cpu: 1024,
            memory_mib: 1024,
            ephemeral_storage_gib: Some(gib),
            ..Default::default()
        },
        capacity,
        ..Default::default()
    };
    let joined = control.register_agent(register(vec![Capacity::Ec2], 100)).await.unwrap();
    let id = joined.container_instance_arn.rsplit('/').next().unwrap();
    let kv = store.get(&keys::instance("default", id)).await.unwrap().unwrap();
    let stored: Value = serde_json::from_slice(&kv.value).unwrap();
    assert!(stored.get("remainingEphemeralStorageGib").is_none(), "{stored}");
    assert!(stored["offered"].get("ephemeralStorageGib").is_none(), "{stored}");
    let err = control.register_agent(register(vec![Capacity::Fargate], -1)).await.unwrap_err().to_string();
    assert!(err.contains("negative ephemeral storage"), "{err}");
}
