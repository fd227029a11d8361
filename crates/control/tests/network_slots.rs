//! awsvpc slots (issue 11): each container instance takes a `/24` slot of every subnet at its first awsvpc task, and
//! a deregistered instance whose tasks have all stopped gives its slot back, so instances that come and go (scale-in,
//! replaced hosts) never use up the VPC's 16 slots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::{Control, ControlConfig};
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::clock::ManualClock;
use berth_model::ecs::*;
use berth_store::{MemoryStore, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

const SUBNET: &str = "subnet-0be7f00000000000a";

async fn join(control: &Control, hostname: &str, attributes: &BTreeMap<String, String>) -> String {
    let out = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: hostname.into(),
            resources: AgentResources { cpu: 1024, memory_mib: 1024, ..Default::default() },
            attributes: attributes.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    out.container_instance_arn.rsplit('/').next().unwrap().to_string()
}

/// Starts the awsvpc task on `instance`; its address (or the placement failure's reason).
async fn start(control: &Control, td: &str, instance: &str) -> Result<String, String> {
    let out = control
        .start_task(StartTaskRequest {
            task_definition: td.into(),
            container_instances: vec![instance.into()],
            network_configuration: Some(NetworkConfiguration {
                awsvpc_configuration: Some(AwsVpcConfiguration { subnets: vec![SUBNET.into()], ..Default::default() }),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    match out.tasks.unwrap_or_default().first() {
        Some(task) => {
            let details = &task.attachments.as_ref().unwrap()[0].details;
            let address = details.iter().flatten().find(|d| d.name.as_deref() == Some("privateIPv4Address")).unwrap();
            Ok(address.value.clone().unwrap())
        }
        None => Err(out.failures.unwrap()[0].reason.clone().unwrap_or_default()),
    }
}

#[tokio::test]
async fn a_deregistered_instance_gives_its_slot_back_once_its_tasks_have_stopped() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let control = Control::start(store.clone(), clock, ControlConfig::default()).await.unwrap();
    let td = control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: "web".into(),
            network_mode: Some(NetworkMode::Awsvpc),
            container_definitions: vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some("x".into()),
                memory: Some(32),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .task_definition
        .unwrap();
    // The agents have what the definition requires, in the subnet's zone.
    let mut attributes: BTreeMap<String, String> = td
        .requires_attributes
        .iter()
        .flatten()
        .map(|a| (a.name.clone(), a.value.clone().unwrap_or_default()))
        .collect();
    attributes.insert("ecs.availability-zone".into(), "us-east-1a".into());
    let td = td.task_definition_arn.unwrap();

    // Sixteen instances take the sixteen slots.
    let mut instances = Vec::new();
    let mut addresses = Vec::new();
    for i in 0..berth_vpc::layout::MAX_SLOTS {
        let instance = join(&control, &format!("node-{i}"), &attributes).await;
        addresses.push(start(&control, &td, &instance).await.unwrap());
        instances.push(instance);
    }
    let seventeenth = join(&control, "node-16", &attributes).await;
    assert_eq!(start(&control, &td, &seventeenth).await, Err(berth_control::network::NO_ADDRESS.to_string()));

    // The first instance is deregistered with force (its task stops with it): after the cleanup its slot is free,
    // its claim key gone, and the seventeenth instance gets the first instance's slice.
    control
        .deregister_container_instance(DeregisterContainerInstanceRequest {
            container_instance: instances[0].clone(),
            force: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let claims_before = store.range("/ecs/vpcslots/").await.unwrap().kvs.len();
    berth_control::liveness::reconcile(&control).await.unwrap();
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(store.range("/ecs/vpcslots/").await.unwrap().kvs.len(), claims_before - 1);
    let address = start(&control, &td, &seventeenth).await.unwrap();
    let slice = |a: &str| a.rsplit_once('.').unwrap().0.to_string();
    assert_eq!(slice(&address), slice(&addresses[0]), "{address} takes {}'s slice", addresses[0]);

    // An ACTIVE instance keeps its slot through the cleanup, and an INACTIVE one with a task not yet stopped too.
    berth_control::liveness::reconcile(&control).await.unwrap();
    let another = join(&control, "node-17", &attributes).await;
    assert_eq!(start(&control, &td, &another).await, Err(berth_control::network::NO_ADDRESS.to_string()));
}
