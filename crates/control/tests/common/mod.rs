//! Shared helpers for the control plane's in-memory tests: a pretend agent joining, and a one-container task
//! definition.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly by design

use berth_control::Control;
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::ecs::{ContainerDefinition, RegisterTaskDefinitionRequest};
use std::collections::BTreeMap;

/// Joins a pretend agent named `hostname` to cluster `default` with 4 vCPU and 4 GiB; returns (instance ARN, id).
pub async fn join_agent(control: &Control, hostname: &str) -> (String, String) {
    let mut attributes = BTreeMap::new();
    attributes.insert("com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(), String::new());
    let out = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: hostname.into(),
            resources: AgentResources { cpu: 4096, memory_mib: 4096, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
    let id = out.container_instance_arn.rsplit('/').next().unwrap().to_string();
    (out.container_instance_arn, id)
}

/// Registers a revision of `family` with one container `app` of `image` and 64 MiB; returns its ARN.
pub async fn register_app(control: &Control, family: &str, image: &str) -> String {
    control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: family.into(),
            container_definitions: vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some(image.into()),
                memory: Some(64),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}
