//! The leniency sweep, part 2 (docs/COMPATIBILITY.md §7), on an in-memory store: each relaxed member is accepted
//! through the same deserialisation the API uses, normalised, and its effect observed through another operation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::{Control, ControlConfig, ControlError, EcsException};
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use serde_json::json;
use std::sync::Arc;

async fn control_with_agent() -> Arc<Control> {
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    let control = Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), config).await.unwrap();
    control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "node".into(),
            resources: AgentResources { cpu: 4096, memory_mib: 4096, ..Default::default() },
            attributes: berth_model::capabilities::supported().into_iter().map(|a| (a, String::new())).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    control
}

/// Decodes a request as the API does (serde, from the wire JSON).
fn decode<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("the request decodes")
}

async fn register(control: &Control, body: serde_json::Value) -> TaskDefinition {
    control.register_task_definition(decode(body)).await.unwrap().task_definition.unwrap()
}

#[tokio::test]
async fn empty_task_cpu_and_memory_are_absent() {
    let control = control_with_agent().await;
    let td = register(
        &control,
        json!({"family": "lenient", "cpu": "", "memory": "",
               "containerDefinitions": [{"name": "app", "image": "x", "memory": 64}]}),
    )
    .await;
    assert_eq!((td.cpu, td.memory), (None, None));
    let described = control
        .describe_task_definition(DescribeTaskDefinitionRequest {
            task_definition: "lenient".into(),
            ..Default::default()
        })
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!((described.cpu, described.memory), (None, None));
}

#[tokio::test]
async fn empty_run_task_strings_are_absent_and_the_task_gets_the_defaults() {
    let control = control_with_agent().await;
    register(&control, json!({"family": "job", "containerDefinitions": [{"name": "app", "image": "x", "memory": 64}]}))
        .await;
    let out = control
        .run_task(decode(json!({"taskDefinition": "job", "group": "", "startedBy": "", "platformVersion": "",
                                "referenceId": "", "clientToken": ""})))
        .await
        .unwrap();
    assert_eq!(out.failures.unwrap_or_default(), vec![]);
    let task = out.tasks.unwrap().remove(0);
    let described = control
        .describe_tasks(DescribeTasksRequest { tasks: vec![task.task_arn.clone().unwrap()], ..Default::default() })
        .unwrap()
        .tasks
        .unwrap()
        .remove(0);
    assert_eq!(described.group.as_deref(), Some("family:job"), "an empty group is the default group");
    assert_eq!(described.started_by, None, "an empty startedBy is none");
    // A second call with an empty token is a new task, not a replay of a token "".
    let again = control.run_task(decode(json!({"taskDefinition": "job", "clientToken": ""}))).await.unwrap();
    assert_ne!(again.tasks.unwrap()[0].task_arn, task.task_arn);
}

#[tokio::test]
async fn services_take_an_empty_role_and_platform_version_and_a_maximum_above_200() {
    let control = control_with_agent().await;
    register(&control, json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "x", "memory": 64}]}))
        .await;
    let service = control
        .create_service(decode(json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1, "role": "",
            "platformVersion": "", "clientToken": "",
            "deploymentConfiguration": {"maximumPercent": 400, "minimumHealthyPercent": 50}})))
        .await
        .unwrap()
        .service
        .unwrap();
    assert_eq!(service.role_arn, None);
    let described = |control: &Control| {
        control
            .describe_services(DescribeServicesRequest { services: vec!["web".into()], ..Default::default() })
            .unwrap()
            .services
            .unwrap()
            .remove(0)
    };
    let s = described(&control);
    assert_eq!(s.role_arn, None);
    assert_eq!(s.deployment_configuration.unwrap().maximum_percent, Some(400));
    control
        .update_service(decode(json!({"service": "web", "platformVersion": "",
            "deploymentConfiguration": {"maximumPercent": 300}})))
        .await
        .unwrap();
    assert_eq!(described(&control).deployment_configuration.unwrap().maximum_percent, Some(300));
    let below = control
        .update_service(decode(json!({"service": "web", "deploymentConfiguration": {"maximumPercent": 50}})))
        .await;
    match below {
        Err(ControlError::Ecs { exception: EcsException::InvalidParameterException, message, .. }) => {
            assert!(message.contains("at least 100"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn container_port_ranges_register_and_run_task_says_why_they_do_not_run() {
    let control = control_with_agent().await;
    let td = register(
        &control,
        json!({"family": "ranges", "containerDefinitions": [{"name": "app", "image": "x", "memory": 64,
               "portMappings": [{"containerPortRange": "8000-8010"}]}]}),
    )
    .await;
    let containers = td.container_definitions.clone().unwrap();
    let mapping = &containers[0].port_mappings.as_ref().unwrap()[0];
    assert_eq!(mapping.container_port_range.as_deref(), Some("8000-8010"));
    let required: Vec<String> = td.requires_attributes.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(required, vec![berth_model::capabilities::CONTAINER_PORT_RANGE.to_string()]);
    match control.run_task(decode(json!({"taskDefinition": "ranges"}))).await {
        Err(ControlError::Ecs { exception: EcsException::UnsupportedFeatureException, message, .. }) => {
            assert!(message.contains("containerPortRange"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
