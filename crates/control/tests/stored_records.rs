//! What is on disk does not move under the code: every record kind has a fixture written by this version of the
//! control plane (`tests/fixtures/records/v1/`), and each must still decode and encode to the same JSON. A change of
//! a record's shape — a regenerated botocore model, a renamed or retyped field — fails here; the fix is a new schema
//! version with an upgrade (`berth_control::stored`), never a silent change of what older installations stored.
//!
//! `BERTH_WRITE_RECORD_FIXTURES=1 cargo test -p berth-control --test stored_records` writes the fixtures of a new
//! schema version directory from a control plane driven through its API (existing files are never overwritten).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::records::{
    AccountSettingRecord, ClientTokenRecord, ClusterRecord, FamilyRecord, InstanceRecord, ServiceRecord,
    TaskDefinitionRecord, TaskRecord, keys,
};
use berth_control::stored::{StoredRecord, decode, encode};
use berth_control::{Control, ControlConfig};
use berth_model::agent::{ContainerReport, ReportRequest, TaskReport};
use berth_model::clock::ManualClock;
use berth_model::ecs::*;
use berth_store::{MemoryStore, Store};
use std::path::PathBuf;
use std::sync::Arc;

/// Each record kind: its fixture's file name and its key prefix.
const KINDS: &[(&str, &str)] = &[
    ("cluster.json", keys::CLUSTERS),
    ("family.json", keys::FAMILIES),
    ("task-definition.json", keys::TASK_DEFINITIONS),
    ("task.json", keys::TASKS),
    ("container-instance.json", keys::INSTANCES),
    ("service.json", keys::SERVICES),
    ("client-token.json", keys::TOKENS),
    ("account-setting.json", keys::ACCOUNT_SETTINGS),
];

fn fixtures(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/records/v{version}"))
}

/// Decodes `bytes` as a `T` and checks that encoding it again gives the same JSON (member order aside).
fn round_trip<T: StoredRecord>(name: &str, bytes: &[u8]) {
    let record: T = decode(bytes).unwrap_or_else(|e| panic!("{name} no longer decodes as a {}: {e}", T::KIND));
    let again: serde_json::Value = serde_json::from_slice(&encode(&record).unwrap()).unwrap();
    let mut stored: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    // A value written before versions existed has no `schema` member; encoding adds version 1.
    if let Some(object) = stored.as_object_mut() {
        object.entry("schema").or_insert(1.into());
    }
    assert_eq!(again, stored, "{name}: a {} record no longer encodes as it was stored", T::KIND);
}

fn check(name: &str, bytes: &[u8]) {
    match name {
        "cluster.json" => round_trip::<ClusterRecord>(name, bytes),
        "family.json" => round_trip::<FamilyRecord>(name, bytes),
        "task-definition.json" => round_trip::<TaskDefinitionRecord>(name, bytes),
        "task.json" => round_trip::<TaskRecord>(name, bytes),
        "container-instance.json" => round_trip::<InstanceRecord>(name, bytes),
        "service.json" => round_trip::<ServiceRecord>(name, bytes),
        "client-token.json" => round_trip::<ClientTokenRecord>(name, bytes),
        "account-setting.json" => round_trip::<AccountSettingRecord>(name, bytes),
        other => panic!("no record kind for fixture {other}"),
    }
}

#[test]
fn every_record_kind_written_by_schema_version_1_still_reads_and_writes_the_same() {
    for (name, _) in KINDS {
        let path = fixtures(1).join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check(name, &bytes);
    }
}

/// Drives a control plane through the operations that fill every kind of record with its optional parts.
async fn populated() -> (Arc<MemoryStore>, Arc<Control>) {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_798_000_000.0));
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    let control = Control::start(store.clone(), clock, config).await.unwrap();
    let tag = |k: &str, v: &str| Tag { key: Some(k.into()), value: Some(v.into()) };
    control
        .create_cluster(CreateClusterRequest {
            cluster_name: Some("default".into()),
            tags: Some(vec![tag("team", "web")]),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut attributes = std::collections::BTreeMap::new();
    for name in [
        "com.amazonaws.ecs.capability.docker-remote-api.1.18",
        "com.amazonaws.ecs.capability.docker-remote-api.1.24",
        "com.amazonaws.ecs.capability.docker-remote-api.1.29",
        "ecs.capability.container-health-check",
    ] {
        attributes.insert(name.to_string(), String::new());
    }
    let joined = control
        .register_agent(berth_model::agent::RegisterRequest {
            cluster: "default".into(),
            hostname: "host-a".into(),
            resources: berth_model::agent::AgentResources { cpu: 4096, memory_mib: 4096, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
    let instance = joined.container_instance_arn.rsplit('/').next().unwrap().to_string();
    control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: "web".into(),
            container_definitions: vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some("berth-workload:latest".into()),
                memory: Some(64),
                cpu: 128,
                port_mappings: Some(vec![PortMapping {
                    container_port: Some(8080),
                    host_port: Some(0),
                    protocol: Some(TransportProtocol::Tcp),
                    ..Default::default()
                }]),
                environment: Some(vec![KeyValuePair { name: Some("MODE".into()), value: Some("web".into()) }]),
                health_check: Some(HealthCheck {
                    command: vec!["CMD".into(), "/workload".into(), "probe".into()],
                    interval: Some(5),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            tags: Some(vec![tag("tier", "front")]),
            ..Default::default()
        })
        .await
        .unwrap();
    let run = control
        .run_task(RunTaskRequest {
            task_definition: "web".into(),
            client_token: Some("fixture-token".into()),
            overrides: Some(TaskOverride {
                container_overrides: Some(vec![ContainerOverride {
                    name: Some("app".into()),
                    command: Some(vec!["serve".into()]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(run.failures.unwrap_or_default().is_empty(), "the task must be placed");
    let task_arn = control.desired_state("default", &instance).tasks[0].task_arn.clone();
    let report = TaskReport {
        task_arn,
        last_status: "RUNNING".into(),
        containers: vec![ContainerReport {
            name: "app".into(),
            runtime_id: Some("0123456789ab".into()),
            last_status: "RUNNING".into(),
            health_status: "HEALTHY".into(),
            ..Default::default()
        }],
        health_status: "HEALTHY".into(),
        started_at: Some(1_798_000_001.0),
        ..Default::default()
    };
    control
        .agent_report("default", &instance, ReportRequest { tasks: vec![report], applied_revision: 0 })
        .await
        .unwrap();
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web".into()),
            desired_count: Some(1),
            deployment_configuration: Some(DeploymentConfiguration {
                deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                    enable: true,
                    rollback: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            tags: Some(vec![tag("owner", "ops")]),
            ..Default::default()
        })
        .await
        .unwrap();
    control
        .put_account_setting(PutAccountSettingRequest {
            name: SettingName::ContainerInsights,
            value: "enabled".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    (store, control)
}

#[tokio::test]
async fn what_the_control_plane_writes_today_round_trips_and_has_a_fixture() {
    let (store, _control) = populated().await;
    let write = std::env::var_os("BERTH_WRITE_RECORD_FIXTURES").is_some();
    for (name, prefix) in KINDS {
        let range = store.range(prefix).await.unwrap();
        let kv = range.kvs.first().unwrap_or_else(|| panic!("the control plane wrote no {name} record"));
        check(name, &kv.value);
        let path = fixtures(1).join(name);
        if write && !path.exists() {
            let value: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
        }
        assert!(path.exists(), "no fixture {} for a record kind the control plane writes", path.display());
    }
}
