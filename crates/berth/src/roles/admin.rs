//! `berth admin`: offline administration of a data dir.

use anyhow::{Context, Result};
use berth_store::{SqliteStore, StoreSpec};
use std::path::Path;

/// The exit code of `berth admin quarantine` when some record is quarantined.
pub const QUARANTINE_FOUND_EXIT: u8 = 3;

/// `berth admin quarantine`: prints every stored record that does not decode (one line each: key, revision,
/// error) and returns how many there are. Reads a SQLite store (`<data-dir>/state.db` by default) read-only, an
/// etcd store through etcd.
pub async fn quarantine(data_dir: &Path, store: Option<&StoreSpec>) -> Result<usize> {
    let kvs = match store {
        Some(spec @ StoreSpec::Etcd(_)) => {
            let store = spec.open().await.with_context(|| format!("opening the store {spec}"))?;
            store.range("/").await.with_context(|| format!("reading {spec}"))?.kvs
        }
        Some(StoreSpec::Sqlite(path)) => read_sqlite(path)?,
        None => read_sqlite(&data_dir.join("state.db"))?,
    };
    let mut found = 0;
    for kv in &kvs {
        if let Err(error) = berth_control::cache::check_record(&kv.key, &kv.value) {
            if found == 0 {
                println!("KEY\tREVISION\tERROR");
            }
            println!("{}\t{}\t{}", kv.key, kv.mod_revision, error.replace(['\t', '\n'], " "));
            found += 1;
        }
    }
    if found == 0 {
        println!("No quarantined records ({} records checked).", kvs.len());
    } else {
        println!(
            "{found} quarantined record(s) of {}: the server leaves them untouched and their containers running; \
             restore them from a backup or delete them (after stopping what they describe).",
            kvs.len()
        );
    }
    Ok(found)
}

/// Every record of a SQLite store file, through a read-only connection.
fn read_sqlite(path: &Path) -> Result<Vec<berth_store::KeyValue>> {
    if !path.exists() {
        anyhow::bail!("no store at {} (for an etcd store, pass --store etcd:...)", path.display());
    }
    SqliteStore::read_only_range(path, "/").with_context(|| format!("reading {}", path.display()))
}
