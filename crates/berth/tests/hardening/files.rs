//! Files at rest: the data dir and everything secret in it are private to Berth's user whatever the umask.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_testkit::{Berth, BerthOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A wrapper that starts `berth` under umask 022, the common default that made files world-readable.
fn berth_under_umask_022(dir: &Path) -> PathBuf {
    let wrapper = dir.join("berth-umask-022");
    let script = format!("#!/bin/sh\numask 022\nexec {} \"$@\"\n", env!("CARGO_BIN_EXE_berth"));
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_dir_and_store_are_private_under_umask_022() {
    let scratch = tempfile::tempdir().unwrap();
    let binary = berth_under_umask_022(scratch.path());
    let berth = Berth::start(BerthOptions { binary, role: "server", extra_args: Vec::new() }).expect("berth starts");
    // A write, so the WAL exists.
    let client = crate::common::ecs_client(&berth);
    client.create_cluster().cluster_name("modes").send().await.expect("create a cluster");
    let data = berth.data_dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "the data dir");
    for name in ["state.db", "state.db-wal", "state.db-shm", "join-token"] {
        let path = data.join(name);
        assert!(path.exists(), "{name} exists");
        assert_eq!(mode(&path), 0o600, "{name}");
    }
}
