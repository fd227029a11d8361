//! The control plane on etcd, end to end: `berth server --store etcd:...` keeps a cluster and a task definition
//! made with the aws CLI across a restart; `berth store backup` of it restores into a fresh SQLite file; `berth
//! store migrate` moves that file back onto etcd (refused onto a non-empty prefix without `--force`), and the
//! server on the result lists what the backup held and nothing made after it. A real etcd (Debian's etcd-server)
//! runs for the test; without it the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_store::testing::EtcdProcess;
use berth_testkit::{Berth, BerthOptions};
use common::{ecs, s};
use std::process::Command;

/// Runs `berth store ARGS`: its success and its combined output.
fn berth_store(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_berth")).arg("store").args(args).output().expect("berth runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn cluster_names(berth: &Berth) -> Vec<String> {
    let mut names: Vec<String> = ecs(berth, &["list-clusters"])["clusterArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arn| s(arn).rsplit('/').next().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn the_control_plane_runs_on_etcd_and_moves_between_backends() {
    let etcd = EtcdProcess::start().unwrap_or_else(|e| panic!("{e}"));
    let spec = format!("etcd:{}?prefix=/e2e", etcd.url());
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--store".into(), spec.clone()],
    })
    .expect("berth server starts on etcd");

    ecs(&berth, &["create-cluster", "--cluster-name", "on-etcd"]);
    let definition = r#"[{"name":"web","image":"busybox","memory":64,"essential":true}]"#;
    ecs(&berth, &["register-task-definition", "--family", "web", "--container-definitions", definition]);
    assert!(!berth.data_dir.path().join("data").join("state.db").exists(), "no SQLite store beside the etcd one");

    berth.restart().expect("berth restarts");
    assert_eq!(ecs(&berth, &["describe-clusters", "--clusters", "on-etcd"])["clusters"][0]["status"], "ACTIVE");
    let described = ecs(&berth, &["describe-task-definition", "--task-definition", "web:1"]);
    assert_eq!(described["taskDefinition"]["containerDefinitions"][0]["image"], "busybox");

    // Back the etcd store up, and restore it into a fresh SQLite file.
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.jsonl");
    let (ok, out) = berth_store(&["backup", "--store", &spec, "--out", backup.to_str().unwrap()]);
    assert!(ok, "{out}");
    let header = std::fs::read_to_string(&backup).unwrap().lines().next().unwrap().to_string();
    assert!(header.starts_with(r#"{"format":"berth-store-backup","version":1,"revision":"#), "{header}");
    let restored = format!("sqlite:{}", dir.path().join("restored.db").display());
    let (ok, out) = berth_store(&["restore", "--store", &restored, "--in", backup.to_str().unwrap()]);
    assert!(ok && out.contains("every key was read back and matches"), "{out}");
    let (ok, out) = berth_store(&["restore", "--store", &restored, "--in", backup.to_str().unwrap()]);
    assert!(!ok && out.contains("not empty"), "a second restore must be refused: {out}");

    // A change after the backup, which the migration below replaces.
    ecs(&berth, &["create-cluster", "--cluster-name", "after-backup"]);
    assert_eq!(cluster_names(&berth), vec!["after-backup", "default", "on-etcd"]);
    berth.kill();

    let (ok, out) = berth_store(&["migrate", "--from", &restored, "--to", &spec]);
    assert!(!ok && out.contains("not empty") && out.contains("--force"), "{out}");
    let (ok, out) = berth_store(&["migrate", "--from", &restored, "--to", &spec, "--force"]);
    assert!(ok && out.contains("every key was read back and matches"), "{out}");

    berth.restart().expect("berth starts on the migrated store");
    assert_eq!(cluster_names(&berth), vec!["default", "on-etcd"], "the migrated store is the backup's");
    let described = ecs(&berth, &["describe-task-definition", "--task-definition", "web:1"]);
    assert_eq!(described["taskDefinition"]["family"], "web");
}
