//! Hardening of the control plane and its store, end to end on the real `berth` binary: a corrupt store file stops
//! the server, corrupt records are quarantined (nothing running is stopped, each is reported), and memory returns
//! after many large task definitions are registered and deleted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use crate::common::{ecs_client, register_workload, wait_status, workload_container};
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::KeyValuePair;
use berth_testkit::{Berth, BerthOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn start(role: &'static str, extra: &[&str]) -> Berth {
    Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role,
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
    })
    .expect("berth starts")
}

fn state_db(berth: &Berth) -> PathBuf {
    berth.data_dir.path().join("data").join("state.db")
}

/// Moves the WAL into the main file (the server must be stopped).
fn checkpoint(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
}

/// Writes garbage into the value column of an existing record.
fn corrupt(db: &Path, key: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let changed = conn
        .execute("UPDATE kv SET value = ?1 WHERE key = ?2", rusqlite::params![b"\x00\xffnot json{".to_vec(), key])
        .unwrap();
    assert_eq!(changed, 1, "no record {key}");
}

/// Inserts a record with a garbage value (for registry kinds this test does not create through the API).
fn insert_garbage(db: &Path, key: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "INSERT INTO kv (key, value, create_revision, mod_revision)
         SELECT ?1, ?2, value, value FROM meta WHERE name = 'revision'",
        rusqlite::params![key, b"\x00\xffnot json{".to_vec()],
    )
    .unwrap();
}

fn keys(db: &Path, prefix: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT key FROM kv WHERE key LIKE ?1 ORDER BY key").unwrap();
    stmt.query_map([format!("{prefix}%")], |row| row.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

fn admin_quarantine(berth: &Berth) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["admin", "quarantine", "--data-dir"])
        .arg(berth.data_dir.path().join("data"))
        .output()
        .unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn a_store_that_fails_quick_check_stops_the_server_with_a_clear_message() {
    let mut berth = start("server", &[]);
    let client = ecs_client(&berth);
    // Enough records for the file to have many pages.
    for i in 0..40 {
        let env = [("PAD", "p".repeat(3000))];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        register_workload(&client, &format!("fam{i}"), &env).await;
    }
    berth.kill();
    let db = state_db(&berth);
    checkpoint(&db);
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() >= 4096 * 8, "the store is only {} bytes", bytes.len());
    // Overwrite one page in the middle of the file.
    for b in &mut bytes[4096 * 4..4096 * 5] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(berth.data_dir.path().join("data"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "berth started on a corrupt store: {stderr}");
    assert!(stderr.contains("is corrupt") && stderr.contains("refusing to start"), "{stderr}");
}

#[tokio::test]
async fn corrupt_records_are_quarantined_and_nothing_running_is_stopped() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    // Short timeouts, so that waiting 45 s is well past both the agent and the lost-instance timeouts.
    let mut berth = start("up", &["--agent-timeout-seconds", "5", "--lost-instance-timeout-seconds", "10"]);
    let client = ecs_client(&berth);
    // A second agent (its own process, which outlives the server's restart), so that one instance's record can be
    // corrupted while the other's tasks show that quarantined task records keep their containers.
    let agent_dir = tempfile::tempdir().unwrap();
    berth.start_agent(&agent_dir.path().join("agent"), &["--hostname", "second"]).unwrap();
    crate::common::wait_for_instances(&client, "default", 2).await;
    let solo = register_workload(&client, "solo", &[]).await;
    let web = register_workload(&client, "web", &[]).await;
    let mut arns = Vec::new();
    for _ in 0..2 {
        let out = client.run_task().task_definition(&solo).count(4).send().await.unwrap();
        arns.extend(out.tasks().iter().filter_map(|t| t.task_arn.clone()));
    }
    client.create_service().service_name("web").task_definition(&web).desired_count(2).send().await.unwrap();
    let service_tasks = berth_testkit::wait_for("the service's tasks", Duration::from_secs(60), || async {
        let list = client.list_tasks().service_name("web").send().await.ok()?;
        (list.task_arns().len() == 2).then(|| list.task_arns().to_vec())
    })
    .await
    .unwrap();
    arns.extend(service_tasks.iter().cloned());
    assert_eq!(arns.len(), 10);
    for arn in &arns {
        wait_status(&client, arn, "RUNNING", Duration::from_secs(120)).await;
    }
    let before = crate::common::running_task_containers(&berth);
    assert_eq!(before.len(), 10, "{before:?}");
    // Corrupt the instance that does not run the corrupted standalone task.
    let solo_instance = crate::common::describe(&client, &arns[0]).await.container_instance_arn.unwrap();

    berth.kill();
    let db = state_db(&berth);
    let id = |arn: &str| arn.rsplit('/').next().unwrap().to_string();
    let solo_task = format!("/ecs/tasks/default/{}", id(&arns[0]));
    let service_task = format!("/ecs/tasks/default/{}", id(&service_tasks[0]));
    let instance =
        keys(&db, "/ecs/instances/default/").into_iter().find(|k| !k.ends_with(&id(&solo_instance))).unwrap();
    let service = "/ecs/services/default/web".to_string();
    let task_definition = "/ecs/taskdefs/solo/0000000001".to_string();
    for key in [&solo_task, &service_task, &instance, &service, &task_definition] {
        corrupt(&db, key);
    }
    // The registry's records: a repository and an image.
    let repository = "/ecr/repo/quarantined-repo".to_string();
    let image = format!("/ecr/image/quarantined-repo@sha256:{}", "ab".repeat(32));
    insert_garbage(&db, &repository);
    insert_garbage(&db, &image);
    let raw_before: Vec<Vec<u8>> = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        [&solo_task, &instance, &service]
            .iter()
            .map(|k| conn.query_row("SELECT value FROM kv WHERE key = ?1", [k], |r| r.get(0)).unwrap())
            .collect()
    };

    berth.restart().expect("berth restarts on a store with corrupt records");
    // Well past the agent timeout (5 s) and the lost-instance timeout (10 s).
    tokio::time::sleep(Duration::from_secs(45)).await;

    let after = crate::common::running_task_containers(&berth);
    let mut before_ids: Vec<&String> = before.iter().map(|(id, _)| id).collect();
    let mut after_ids: Vec<&String> = after.iter().map(|(id, _)| id).collect();
    before_ids.sort();
    after_ids.sort();
    assert_eq!(before_ids, after_ids, "containers were stopped or replaced; log:\n{}", berth.log());

    // Each corruption is reported: in the log, by the API, and by `berth admin quarantine`.
    let log = berth.log();
    for key in [&solo_task, &service_task, &instance, &service, &task_definition, &repository, &image] {
        assert!(log.contains(key.as_str()), "the log does not name {key}");
    }
    let described = client.describe_tasks().tasks(&arns[0]).tasks(&service_tasks[0]).send().await.unwrap();
    let failures = described.failures();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures.iter().all(|f| f.reason() == Some("CORRUPT_RECORD")), "{failures:?}");
    let services = client.describe_services().services("web").send().await.unwrap();
    assert_eq!(services.failures()[0].reason(), Some("CORRUPT_RECORD"), "{:?}", services.failures());
    let instances = client.describe_container_instances().container_instances(id(&instance)).send().await.unwrap();
    assert_eq!(instances.failures()[0].reason(), Some("CORRUPT_RECORD"), "{:?}", instances.failures());
    let td = client.describe_task_definition().task_definition("solo:1").send().await.unwrap_err();
    assert_eq!(td.code(), Some("ClientException"));
    assert!(td.message().unwrap_or_default().contains("quarantined"), "{td:?}");
    let (code, listing) = admin_quarantine(&berth);
    assert_eq!(code, Some(3), "{listing}");
    for key in [&solo_task, &service_task, &instance, &service, &task_definition, &repository, &image] {
        assert!(listing.contains(key.as_str()), "`berth admin quarantine` does not list {key}:\n{listing}");
    }
    // The raw bytes are untouched.
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (key, raw) in [&solo_task, &instance, &service].iter().zip(raw_before) {
        let now: Vec<u8> = conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0)).unwrap();
        assert_eq!(now, raw, "{key} was rewritten");
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Registers, deregisters and deletes one task definition of about 60 KiB of JSON.
async fn cycle(client: &aws_sdk_ecs::Client, i: usize) {
    let pad = format!("{i:08}").repeat(60 * 1024 / 8 - 64);
    let container = workload_container("app").environment(KeyValuePair::builder().name("PAD").value(pad).build());
    let arn = client
        .register_task_definition()
        .family("big")
        .container_definitions(container.build())
        .send()
        .await
        .unwrap()
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .unwrap();
    client.deregister_task_definition().task_definition(&arn).send().await.unwrap();
    client.delete_task_definitions().task_definitions(&arn).send().await.unwrap();
}

#[tokio::test]
#[ignore = "heavy: tools/test --heavy (a 1,200-cycle memory soak)"]
async fn memory_returns_after_many_large_task_definitions_are_deleted() {
    let berth = start("server", &[]);
    let client = ecs_client(&berth);
    let pid = berth.pid().unwrap();
    // Warm up: allocator arenas, the watch history (bounded by bytes) and the HTTP stack reach their steady size.
    for i in 0..200 {
        cycle(&client, i).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rss_kib(pid);
    for i in 200..1200 {
        cycle(&client, i).await;
    }
    // Let the controller remove the deleted revisions.
    let mut after = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after = rss_kib(pid);
        if after as f64 <= before as f64 * 1.2 {
            break;
        }
    }
    let remaining = client.list_task_definitions().send().await.unwrap().task_definition_arns().len();
    eprintln!("RSS before {before} KiB, after 1,000 cycles {after} KiB; {remaining} task definitions listed");
    assert!(after as f64 <= before as f64 * 1.2, "RSS grew from {before} KiB to {after} KiB");
}
