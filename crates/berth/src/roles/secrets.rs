//! The value store of Secrets Manager, Parameter Store and KMS: where its master key comes from, and
//! `berth secrets rotate-master-key`.

use anyhow::{Context, Result};
use berth_secrets::master::{self, MASTER_KEY_ENV, MasterKeySource};
use berth_store::StoreSpec;
use std::path::{Path, PathBuf};

/// The master key's source: `BERTH_MASTER_KEY` if set, else the key file (default `<data-dir>/master.key`).
pub fn master_key_source(data_dir: &Path, file: Option<PathBuf>) -> MasterKeySource {
    let file = file.unwrap_or_else(|| data_dir.join("master.key"));
    MasterKeySource::from_env_or_file(std::env::var(MASTER_KEY_ENV).ok(), file)
}

/// `berth secrets rotate-master-key`: re-wraps the KMS keys of a stopped server's store under a new master key.
pub async fn rotate_master_key(data_dir: &Path, file: Option<PathBuf>, store: Option<StoreSpec>) -> Result<()> {
    let spec = store.unwrap_or_else(|| StoreSpec::Sqlite(data_dir.join("state.db")));
    if let StoreSpec::Sqlite(db) = &spec
        && !db.exists()
    {
        anyhow::bail!("no store at {} (for an etcd store, pass --store etcd:...)", db.display());
    }
    let store = spec.open().await.with_context(|| format!("opening the store {spec}"))?;
    let source = master_key_source(data_dir, file);
    let rotation = master::rotate(&store, &source).await.context("rotating the master key")?;
    println!("Re-wrapped {} KMS key(s) under a new master key, now in {}.", rotation.keys, rotation.file.display());
    if rotation.from_env {
        println!(
            "The old key came from {MASTER_KEY_ENV}: set it to the new key (the file's contents) before starting Berth."
        );
    }
    Ok(())
}
