//! Host reach is gated by capability attributes: requiresAttributes derived at RegisterTaskDefinition, placement
//! failures `ATTRIBUTE` naming the attribute (RunTask, StartTask, services), host paths by prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::services::controller::reconcile_all;
use berth_control::{Control, ControlConfig};
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_model::host_access::{HOST_NETWORK, HOST_PATH, HostAccess, PRIVILEGED};
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

async fn control() -> Arc<Control> {
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), ControlConfig::default()).await.unwrap()
}

async fn agent(control: &Control, name: &str, access: &HostAccess) -> String {
    let mut attributes: BTreeMap<String, String> = access.attributes();
    attributes.insert("com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(), String::new());
    control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: name.into(),
            resources: AgentResources { cpu: 4096, memory_mib: 4096, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap()
        .container_instance_arn
}

fn app() -> ContainerDefinition {
    ContainerDefinition { name: Some("app".into()), image: Some("x".into()), memory: Some(64), ..Default::default() }
}

async fn register(control: &Control, req: RegisterTaskDefinitionRequest) -> TaskDefinition {
    control.register_task_definition(req).await.unwrap().task_definition.unwrap()
}

fn privileged(family: &str) -> RegisterTaskDefinitionRequest {
    RegisterTaskDefinitionRequest {
        family: family.into(),
        container_definitions: vec![ContainerDefinition { privileged: Some(true), ..app() }],
        ..Default::default()
    }
}

fn host_path(family: &str, path: &str) -> RegisterTaskDefinitionRequest {
    RegisterTaskDefinitionRequest {
        family: family.into(),
        container_definitions: vec![ContainerDefinition {
            mount_points: Some(vec![MountPoint {
                source_volume: Some("v".into()),
                container_path: Some("/v".into()),
                read_only: None,
            }]),
            ..app()
        }],
        volumes: Some(vec![Volume {
            name: Some("v".into()),
            host: Some(HostVolumeProperties { source_path: Some(path.into()) }),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

async fn run(control: &Control, family: &str) -> RunTaskResponse {
    control.run_task(RunTaskRequest { task_definition: family.into(), ..Default::default() }).await.unwrap()
}

fn required(td: &TaskDefinition) -> Vec<String> {
    td.requires_attributes.iter().flatten().map(|a| a.name.clone()).collect()
}

#[tokio::test]
async fn requires_attributes_name_host_reach_and_hardening_needs_none() {
    let control = control().await;
    let td = register(&control, privileged("p")).await;
    assert!(required(&td).contains(&PRIVILEGED.to_string()));
    let td =
        register(&control, RegisterTaskDefinitionRequest { network_mode: Some(NetworkMode::Host), ..privileged("hn") })
            .await;
    assert!(required(&td).contains(&HOST_NETWORK.to_string()));
    let td = register(&control, host_path("hp", "/srv/data")).await;
    assert!(required(&td).contains(&HOST_PATH.to_string()));
    let mut hardened = app();
    hardened.readonly_root_filesystem = Some(true);
    hardened.user = Some("65534".into());
    hardened.linux_parameters = Some(LinuxParameters {
        capabilities: Some(KernelCapabilities { add: None, drop: Some(vec!["ALL".into()]) }),
        ..Default::default()
    });
    let td = register(
        &control,
        RegisterTaskDefinitionRequest {
            family: "hard".into(),
            container_definitions: vec![hardened],
            ..Default::default()
        },
    )
    .await;
    assert!(required(&td).iter().all(|a| !a.starts_with("berth.") && a != PRIVILEGED), "{:?}", required(&td));
}

#[tokio::test]
async fn a_task_no_agent_allows_fails_with_attribute_naming_it() {
    let control = control().await;
    let arn = agent(&control, "plain", &HostAccess::default()).await;
    register(&control, privileged("p")).await;
    let out = run(&control, "p").await;
    assert!(out.tasks.unwrap().is_empty());
    let failures = out.failures.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].arn.as_deref(), Some(arn.as_str()));
    assert_eq!(failures[0].reason.as_deref(), Some("ATTRIBUTE"));
    assert!(failures[0].detail.as_deref().unwrap().contains(PRIVILEGED), "{:?}", failures[0].detail);
    // An override cannot lift it (no override member reaches the host), and it still fails.
    let out = control
        .run_task(RunTaskRequest {
            task_definition: "p".into(),
            overrides: Some(TaskOverride {
                container_overrides: Some(vec![ContainerOverride {
                    name: Some("app".into()),
                    command: Some(vec!["true".into()]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.failures.unwrap()[0].reason.as_deref(), Some("ATTRIBUTE"));
    // StartTask on the named instance fails the same way.
    let out = control
        .start_task(StartTaskRequest {
            task_definition: "p".into(),
            container_instances: vec![arn.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(out.tasks.unwrap().is_empty());
    assert!(out.failures.unwrap()[0].detail.as_deref().unwrap().contains(PRIVILEGED));
    // An agent that allows it runs it.
    agent(&control, "open", &HostAccess { privileged: true, ..Default::default() }).await;
    let out = run(&control, "p").await;
    assert_eq!(out.tasks.unwrap().len(), 1);
}

#[tokio::test]
async fn host_paths_match_the_agents_prefixes() {
    let control = control().await;
    agent(&control, "data", &HostAccess { host_paths: vec!["/srv/data".into(), "/".into()], ..Default::default() })
        .await;
    register(&control, host_path("ok", "/srv/data/app")).await;
    register(&control, host_path("root", "/")).await;
    register(&control, host_path("sock", "/var/run/docker.sock")).await;
    register(&control, host_path("escape", "/srv/data/../../var/run/docker.sock")).await;
    assert_eq!(run(&control, "ok").await.tasks.unwrap().len(), 1);
    assert_eq!(run(&control, "root").await.tasks.unwrap().len(), 1, "/ is named, so / is allowed");
    for family in ["sock", "escape"] {
        let failures = run(&control, family).await.failures.unwrap();
        let detail = failures[0].detail.clone().unwrap();
        assert_eq!(failures[0].reason.as_deref(), Some("ATTRIBUTE"));
        assert!(detail.contains(HOST_PATH) && detail.contains("/var/run/docker.sock"), "{detail}");
    }
}

#[tokio::test]
async fn a_service_of_a_gated_task_gets_an_event_naming_the_attribute() {
    let control = control().await;
    agent(&control, "plain", &HostAccess::default()).await;
    register(&control, RegisterTaskDefinitionRequest { network_mode: Some(NetworkMode::Host), ..privileged("hn") })
        .await;
    control
        .create_service(CreateServiceRequest {
            service_name: "hn".into(),
            task_definition: Some("hn".into()),
            desired_count: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    reconcile_all(&control).await.unwrap();
    let service = control
        .describe_services(DescribeServicesRequest { services: vec!["hn".into()], ..Default::default() })
        .unwrap()
        .services
        .unwrap()
        .remove(0);
    let events: Vec<String> = service.events.iter().flatten().filter_map(|e| e.message.clone()).collect();
    assert!(
        events.iter().any(|m| m.contains("is missing an attribute required by your task") && m.contains(PRIVILEGED)),
        "{events:?}"
    );
    assert_eq!(service.running_count + service.pending_count, 0);
}

#[tokio::test]
async fn put_attributes_cannot_claim_a_capability() {
    let control = control().await;
    let arn = agent(&control, "plain", &HostAccess::default()).await;
    for name in [HOST_NETWORK, HOST_PATH, PRIVILEGED] {
        let err = control
            .put_attributes(PutAttributesRequest {
                attributes: vec![Attribute {
                    name: name.into(),
                    value: Some("x".into()),
                    target_id: Some(arn.clone()),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
    }
}
