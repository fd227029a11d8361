//! What is on disk does not move under the code: every record kind has a fixture written by this version of the
//! control plane (`tests/fixtures/records/v<schema>/`), and each must still decode and encode to the same JSON. A change of
//! a record's shape — a regenerated botocore model, a renamed or retyped field — fails here; the fix is a new schema
//! version with an upgrade (`berth_control::stored`), never a silent change of what older installations stored.
//!
//! When a kind moves to a new schema version, its fixtures of the older versions stay, and a fixture of the new
//! version is added: `BERTH_WRITE_RECORD_FIXTURES=1 cargo test -p berth-control --test stored_records` writes it
//! by upgrading the version-1 fixture (so both hold the same resource and the test can check the upgrade gives
//! exactly the new fixture), and writes a version-1 fixture of a new kind from a control plane driven through its
//! API. Existing files are never overwritten. A fixture of a version after 1 is `encode`'s output, indented: it is
//! checked byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::daemons::records::{
    DaemonFamilyRecord, DaemonRecord, DaemonTaskDefinitionRecord, keys as daemon_keys,
};
use berth_control::records::{
    AccountSettingRecord, CapacityProviderRecord, ClientTokenRecord, ClusterRecord, FamilyRecord, InstanceRecord,
    ServiceRecord, TaskDefinitionRecord, TaskRecord, keys,
};
use berth_control::stored::{StoredRecord, decode, decode_reading, encode, encode_at};
use berth_control::{Control, ControlConfig};
use berth_model::agent::{ContainerReport, ReportRequest, TaskReport};
use berth_model::clock::ManualClock;
use berth_model::ecs::*;
use berth_store::{MemoryStore, Store};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
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
    ("capacity-provider.json", keys::CAPACITY_PROVIDERS),
    ("daemon-family.json", daemon_keys::FAMILIES),
    ("daemon-task-definition.json", daemon_keys::TASK_DEFINITIONS),
    ("daemon.json", daemon_keys::DAEMONS),
];

fn fixtures(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/records/v{version}"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The JSON text without the whitespace between tokens (member order kept), to compare with what `encode` writes.
fn compact(bytes: &[u8]) -> Vec<u8> {
    let (mut out, mut in_string, mut escaped) = (Vec::with_capacity(bytes.len()), false, false);
    for &b in bytes {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !b.is_ascii_whitespace() {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

/// How a fixture of a schema version after 1 is written: `encode`'s member order, indented.
fn pretty<T: StoredRecord>(record: &T) -> String {
    let body = serde_json::to_string_pretty(record).unwrap();
    let rest = body.strip_prefix("{\n").unwrap();
    format!("{{\n  \"schema\": {},\n{rest}\n", T::SCHEMA)
}

/// Decodes `bytes` as a `T` and checks that encoding it again gives the same JSON (member order aside).
fn round_trip<T: StoredRecord>(name: &str, bytes: &[u8]) -> T {
    let record: T = decode(bytes).unwrap_or_else(|e| panic!("{name} no longer decodes as a {}: {e}", T::KIND));
    let again: serde_json::Value = serde_json::from_slice(&encode(&record).unwrap()).unwrap();
    let mut stored: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    // A value written before versions existed has no `schema` member; encoding adds version 1.
    if let Some(object) = stored.as_object_mut() {
        object.entry("schema").or_insert(1.into());
    }
    assert_eq!(again, stored, "{name}: a {} record no longer encodes as it was stored", T::KIND);
    record
}

/// Checks one kind's fixtures: the one of its current schema version decodes and encodes to the same bytes (the
/// same JSON for kinds still at version 1, whose fixtures were written with sorted members), and every older one
/// still decodes, through the upgrades, to that same record (the newer fixture was written from the older one, so
/// they hold the same resource).
fn check_kind<T: StoredRecord + PartialEq + std::fmt::Debug>(name: &str) {
    let current = fixtures(T::SCHEMA).join(name);
    let bytes = read(&current);
    let record: T = round_trip(name, &bytes);
    if T::SCHEMA > 1 {
        assert_eq!(
            String::from_utf8(encode(&record).unwrap()).unwrap(),
            String::from_utf8(compact(&bytes)).unwrap(),
            "{}: a {} record no longer encodes byte for byte as it was stored",
            current.display(),
            T::KIND
        );
    }
    for version in 1..T::SCHEMA {
        let older = fixtures(version).join(name);
        let upgraded: T = decode(&read(&older))
            .unwrap_or_else(|e| panic!("{} no longer decodes as a {}: {e}", older.display(), T::KIND));
        assert_eq!(upgraded, record, "{} upgrades to something else than {}", older.display(), current.display());
    }
    check_written_back::<T>(name, &record);
}

/// Checks that a kind that can write one version back ([`StoredRecord::OLDEST_WRITTEN`]) writes exactly that
/// version's fixture (as JSON: the members of a downgraded value are sorted), which a server of the previous
/// release (reading up to that version) and this one both read as the same record; and that a kind that cannot
/// refuses to.
fn check_written_back<T: StoredRecord + PartialEq + std::fmt::Debug>(name: &str, record: &T) {
    let back = T::SCHEMA - 1;
    if T::OLDEST_WRITTEN == T::SCHEMA {
        assert!(encode_at(record, back).is_err(), "{name}: a {} record has no downgrade to {back}", T::KIND);
        return;
    }
    let older = fixtures(back).join(name);
    let written = encode_at(record, back).unwrap_or_else(|e| panic!("{name}: no downgrade to {back}: {e}"));
    let as_json = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();
    assert_eq!(
        as_json(&written),
        as_json(&read(&older)),
        "{name}: written at {back}, it differs from {}",
        older.display()
    );
    assert_eq!(&decode_reading::<T>(&written, back).unwrap(), record, "{name}: the previous release reads it back");
    assert_eq!(&decode::<T>(&written).unwrap(), record, "{name}: this release reads it back");
    let error = decode_reading::<T>(&encode(record).unwrap(), back).unwrap_err();
    assert!(error.contains("newer"), "{name}: the previous release refuses the new version: {error}");
}

/// Checks the fixtures of the record kind of the file `name`.
fn check(name: &str) {
    match name {
        "cluster.json" => check_kind::<ClusterRecord>(name),
        "family.json" => check_kind::<FamilyRecord>(name),
        "task-definition.json" => check_kind::<TaskDefinitionRecord>(name),
        "task.json" => check_kind::<TaskRecord>(name),
        "container-instance.json" => check_kind::<InstanceRecord>(name),
        "service.json" => check_kind::<ServiceRecord>(name),
        "client-token.json" => check_kind::<ClientTokenRecord>(name),
        "account-setting.json" => check_kind::<AccountSettingRecord>(name),
        "capacity-provider.json" => check_kind::<CapacityProviderRecord>(name),
        "daemon-family.json" => check_kind::<DaemonFamilyRecord>(name),
        "daemon-task-definition.json" => check_kind::<DaemonTaskDefinitionRecord>(name),
        "daemon.json" => check_kind::<DaemonRecord>(name),
        other => panic!("no record kind for fixture {other}"),
    }
}

/// Decodes a value the control plane just wrote and checks it encodes the same, returning its schema version.
fn check_written(name: &str, bytes: &[u8]) -> u32 {
    fn go<T: StoredRecord>(name: &str, bytes: &[u8]) -> u32 {
        round_trip::<T>(name, bytes);
        T::SCHEMA
    }
    match name {
        "cluster.json" => go::<ClusterRecord>(name, bytes),
        "family.json" => go::<FamilyRecord>(name, bytes),
        "task-definition.json" => go::<TaskDefinitionRecord>(name, bytes),
        "task.json" => go::<TaskRecord>(name, bytes),
        "container-instance.json" => go::<InstanceRecord>(name, bytes),
        "service.json" => go::<ServiceRecord>(name, bytes),
        "client-token.json" => go::<ClientTokenRecord>(name, bytes),
        "account-setting.json" => go::<AccountSettingRecord>(name, bytes),
        "capacity-provider.json" => go::<CapacityProviderRecord>(name, bytes),
        "daemon-family.json" => go::<DaemonFamilyRecord>(name, bytes),
        "daemon-task-definition.json" => go::<DaemonTaskDefinitionRecord>(name, bytes),
        "daemon.json" => go::<DaemonRecord>(name, bytes),
        other => panic!("no record kind for fixture {other}"),
    }
}

/// Writes the fixture of a kind's new schema version from its version-1 fixture, upgraded (never overwriting).
fn write_upgraded_fixture(name: &str) {
    fn go<T: StoredRecord>(name: &str) {
        let path = fixtures(T::SCHEMA).join(name);
        if T::SCHEMA == 1 || path.exists() {
            return;
        }
        let record: T = decode(&read(&fixtures(1).join(name))).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, pretty(&record)).unwrap();
    }
    match name {
        "cluster.json" => go::<ClusterRecord>(name),
        "family.json" => go::<FamilyRecord>(name),
        "task-definition.json" => go::<TaskDefinitionRecord>(name),
        "task.json" => go::<TaskRecord>(name),
        "container-instance.json" => go::<InstanceRecord>(name),
        "service.json" => go::<ServiceRecord>(name),
        "client-token.json" => go::<ClientTokenRecord>(name),
        "account-setting.json" => go::<AccountSettingRecord>(name),
        "capacity-provider.json" => go::<CapacityProviderRecord>(name),
        "daemon-family.json" => go::<DaemonFamilyRecord>(name),
        "daemon-task-definition.json" => go::<DaemonTaskDefinitionRecord>(name),
        "daemon.json" => go::<DaemonRecord>(name),
        other => panic!("no record kind for fixture {other}"),
    }
}

/// The member paths of a JSON value (`task.containers[].name` ...), to compare a record's shape with a fixture's.
fn shape(value: &serde_json::Value, at: &str, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{at}.{k}");
                out.insert(path.clone());
                shape(v, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                shape(item, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

fn shape_of(bytes: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    shape(&serde_json::from_slice(bytes).unwrap(), "", &mut out);
    out
}

/// Readers accept every older version, not just one back: a record is only rewritten when it changes, so a task
/// written by schema 1 still reads after two shape changes.
#[test]
fn a_record_two_versions_back_still_upgrades() {
    let v1: TaskRecord = decode(&read(&fixtures(1).join("task.json"))).unwrap();
    let v3: TaskRecord = decode(&read(&fixtures(3).join("task.json"))).unwrap();
    assert_eq!(v1, v3);
    assert_eq!(TaskRecord::SCHEMA - 2, 1);
    assert_eq!(
        v3.container_instance_arn(),
        "arn:aws:ecs:us-east-1:000000000000:container-instance/default/8e829acba2225487dd1eed2b68c1dfa5"
    );
}

#[test]
fn every_fixture_of_every_schema_version_still_reads_and_the_current_ones_write_the_same() {
    if std::env::var_os("BERTH_WRITE_RECORD_FIXTURES").is_some() {
        for (name, _) in KINDS {
            write_upgraded_fixture(name);
        }
    }
    for (name, _) in KINDS {
        check(name);
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
        .agent_report(
            "default",
            &instance,
            ReportRequest { tasks: vec![report], applied_revision: 0, usage: Vec::new() },
        )
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
        .create_capacity_provider(CreateCapacityProviderRequest {
            name: "workers".into(),
            auto_scaling_group_provider: Some(AutoScalingGroupProvider {
                auto_scaling_group_arn: "workers".into(),
                ..Default::default()
            }),
            tags: Some(vec![tag("pool", "blue")]),
            ..Default::default()
        })
        .await
        .unwrap();
    control
        .put_cluster_capacity_providers(PutClusterCapacityProvidersRequest {
            cluster: "default".into(),
            capacity_providers: vec!["workers".into()],
            default_capacity_provider_strategy: Vec::new(),
        })
        .await
        .unwrap();
    let daemon_definition = control
        .register_daemon_task_definition(RegisterDaemonTaskDefinitionRequest {
            family: "node-agent".into(),
            container_definitions: vec![DaemonContainerDefinition {
                name: Some("agent".into()),
                image: "agent:1".into(),
                memory: Some(64),
                environment: Some(vec![KeyValuePair { name: Some("MODE".into()), value: Some("all".into()) }]),
                ..Default::default()
            }],
            tags: Some(vec![tag("team", "infra")]),
            ..Default::default()
        })
        .await
        .unwrap();
    control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "node-agent".into(),
            daemon_task_definition_arn: daemon_definition.daemon_task_definition_arn.unwrap(),
            capacity_provider_arns: vec!["workers".into()],
            tags: Some(vec![tag("team", "infra")]),
            propagate_tags: Some(DaemonPropagateTags::Daemon),
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
async fn what_the_control_plane_writes_today_round_trips_and_has_a_fixture_of_its_shape() {
    let (store, _control) = populated().await;
    let write = std::env::var_os("BERTH_WRITE_RECORD_FIXTURES").is_some();
    for (name, prefix) in KINDS {
        let range = store.range(prefix).await.unwrap();
        let kv = range.kvs.first().unwrap_or_else(|| panic!("the control plane wrote no {name} record"));
        let version = check_written(name, &kv.value);
        let path = fixtures(version).join(name);
        if write && version == 1 && !path.exists() {
            let value: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
        }
        assert!(path.exists(), "no fixture {} for a record kind the control plane writes", path.display());
        assert_eq!(
            shape_of(&kv.value),
            shape_of(&read(&path)),
            "{name}: what the control plane writes today has other members than {}",
            path.display()
        );
    }
}

/// A control plane started on a store that holds the schema-1 fixtures of `names` (as an older Berth left them).
async fn started_on_v1(names: &[&str]) -> Arc<Control> {
    let store = Arc::new(MemoryStore::new());
    let task: serde_json::Value = serde_json::from_slice(&read(&fixtures(1).join("task.json"))).unwrap();
    let task_id = task["task"]["taskArn"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let instance_id = task["instanceId"].as_str().unwrap().to_string();
    let mut txn = berth_store::Txn::new();
    for name in names {
        let key = match *name {
            "cluster.json" => keys::cluster("default"),
            "task.json" => keys::task("default", &task_id),
            "container-instance.json" => keys::instance("default", &instance_id),
            "service.json" => keys::service("default", "web"),
            other => panic!("no key for {other}"),
        };
        txn = txn.put(key, read(&fixtures(1).join(name)));
    }
    store.txn(txn).await.unwrap();
    let clock = Arc::new(ManualClock::new(1_798_000_100.0));
    Control::start(store, clock, ControlConfig::default()).await.unwrap()
}

#[tokio::test]
async fn a_cluster_stored_by_schema_1_is_described_as_it_was() {
    let control = started_on_v1(&["cluster.json"]).await;
    let described = control
        .describe_clusters(DescribeClustersRequest {
            clusters: Some(vec!["default".into()]),
            include: Some(vec![ClusterField::Settings, ClusterField::Tags, ClusterField::Configurations]),
        })
        .unwrap();
    let shown = serde_json::to_value(&described.clusters.unwrap()[0]).unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&read(&fixtures(1).join("cluster.json"))).unwrap();
    // Schema 1 stored the wire shape with zero counters; DescribeClusters always added an empty `statistics`.
    let mut expected = stored["cluster"].clone();
    expected["statistics"] = serde_json::json!([]);
    assert_eq!(shown, expected);
}

#[tokio::test]
async fn a_task_stored_by_schema_1_is_described_as_it_was() {
    let control = started_on_v1(&["cluster.json", "task.json"]).await;
    let stored: serde_json::Value = serde_json::from_slice(&read(&fixtures(1).join("task.json"))).unwrap();
    let described = control
        .describe_tasks(DescribeTasksRequest {
            tasks: vec![stored["task"]["taskArn"].as_str().unwrap().to_string()],
            include: Some(vec![TaskField::Tags]),
            ..Default::default()
        })
        .unwrap();
    let shown = serde_json::to_value(&described.tasks.unwrap()[0]).unwrap();
    // Schema 1 stored the wire `Task` that DescribeTasks returned (this task has no exec, so no managed agents).
    assert_eq!(shown, stored["task"]);
}

#[tokio::test]
async fn a_container_instance_stored_by_schema_1_is_described_as_it_was() {
    let control = started_on_v1(&["cluster.json", "container-instance.json"]).await;
    let stored: serde_json::Value =
        serde_json::from_slice(&read(&fixtures(1).join("container-instance.json"))).unwrap();
    let described = control
        .describe_container_instances(DescribeContainerInstancesRequest {
            container_instances: vec![stored["id"].as_str().unwrap().to_string()],
            include: Some(vec![ContainerInstanceField::ContainerInstanceHealth, ContainerInstanceField::Tags]),
            ..Default::default()
        })
        .unwrap();
    let mut shown = serde_json::to_value(&described.container_instances.unwrap()[0]).unwrap();
    // DescribeContainerInstances always computed the remaining resources (schema 1 did not store them).
    let remaining = shown.as_object_mut().unwrap().remove("remainingResources").unwrap();
    assert_eq!(remaining[0]["name"], "CPU");
    assert_eq!(remaining[0]["integerValue"], stored["remainingCpu"]);
    assert_eq!(shown, stored["instance"]);
}

#[tokio::test]
async fn a_service_stored_by_schema_1_is_described_as_it_was() {
    let control = started_on_v1(&["cluster.json", "service.json"]).await;
    let stored: serde_json::Value = serde_json::from_slice(&read(&fixtures(1).join("service.json"))).unwrap();
    let described = control
        .describe_services(DescribeServicesRequest {
            services: vec!["web".into()],
            include: Some(vec![ServiceField::Tags]),
            ..Default::default()
        })
        .unwrap();
    let mut shown = serde_json::to_value(&described.services.unwrap()[0]).unwrap();
    // DescribeServices always computed these from the deployment state (schema 1 did not store them either).
    let shown = shown.as_object_mut().unwrap();
    let deployments = shown.remove("deployments").unwrap();
    assert_eq!(deployments[0]["id"], stored["deployments"][0]["id"]);
    assert_eq!(shown.remove("currentServiceDeployment").unwrap(), stored["deployments"][0]["serviceDeploymentArn"]);
    assert_eq!(shown.remove("currentServiceRevisions").unwrap()[0]["arn"], stored["deployments"][0]["revisionArn"]);
    assert_eq!(serde_json::Value::Object(shown.clone()), stored["service"]);
    // Its history is answered as schema 1 recorded it (no task runs here, so the live counts are the stored 0s).
    let revision = stored["revisions"][0]["serviceRevisionArn"].as_str().unwrap().to_string();
    let revisions = control
        .describe_service_revisions(DescribeServiceRevisionsRequest { service_revision_arns: vec![revision] })
        .unwrap();
    assert_eq!(serde_json::to_value(revisions.service_revisions.unwrap()).unwrap(), stored["revisions"]);
    let deployment = stored["serviceDeployments"][0]["serviceDeploymentArn"].as_str().unwrap().to_string();
    let deployments = control
        .describe_service_deployments(DescribeServiceDeploymentsRequest { service_deployment_arns: vec![deployment] })
        .unwrap();
    assert_eq!(serde_json::to_value(deployments.service_deployments.unwrap()).unwrap(), stored["serviceDeployments"]);
}
