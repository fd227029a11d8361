//! `berth admin`: offline administration of a data dir.

use anyhow::{Context, Result};
use berth_store::SqliteStore;
use std::path::Path;

/// The exit code of `berth admin quarantine` when some record is quarantined.
pub const QUARANTINE_FOUND_EXIT: u8 = 3;

/// `berth admin quarantine`: prints every stored record that does not decode (one line each: key, revision,
/// error) and returns how many there are. Reads `state.db` read-only.
pub fn quarantine(data_dir: &Path) -> Result<usize> {
    let path = data_dir.join("state.db");
    if !path.exists() {
        anyhow::bail!("no store at {}", path.display());
    }
    let kvs = SqliteStore::read_only_range(&path, "/").with_context(|| format!("reading {}", path.display()))?;
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
