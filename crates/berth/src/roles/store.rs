//! `berth store migrate`, `backup` and `restore`: thin edges over `berth_store::transfer`.

use crate::cli::StoreCommand;
use anyhow::{Context, Result};
use berth_store::StoreSpec;
use berth_store::transfer::{self, Summary};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Runs one `berth store` command.
pub async fn run(command: StoreCommand) -> Result<()> {
    match command {
        StoreCommand::Migrate { from, to, force } => {
            if from == to {
                anyhow::bail!("--from and --to name the same store ({from})");
            }
            let source = open(&from).await?;
            let target = open(&to).await?;
            let summary = transfer::copy(source.as_ref(), target.as_ref(), force)
                .await
                .with_context(|| format!("copying {from} to {to}"))?;
            report("Copied", &summary, &to);
        }
        StoreCommand::Backup { store, out } => {
            let source = open(&store).await?;
            let summary = backup(source.as_ref(), &out).await.with_context(|| format!("backing {store} up"))?;
            println!(
                "Wrote {} keys ({} bytes of values) of {store} at revision {} to {}.",
                summary.keys,
                summary.value_bytes,
                summary.source_revision,
                out.display()
            );
        }
        StoreCommand::Restore { store, input } => {
            let file = std::fs::File::open(&input).with_context(|| format!("opening {}", input.display()))?;
            let target = open(&store).await?;
            let summary = transfer::restore(target.as_ref(), &mut BufReader::new(file))
                .await
                .with_context(|| format!("restoring {} into {store}", input.display()))?;
            report("Restored", &summary, &store);
        }
    }
    Ok(())
}

async fn open(spec: &StoreSpec) -> Result<berth_store::SharedStore> {
    spec.open().await.with_context(|| format!("opening the store {spec}"))
}

fn report(verb: &str, summary: &Summary, target: &StoreSpec) {
    println!(
        "{verb} {} keys ({} bytes of values, source revision {}) into {target}, now at revision {}; every key was \
         read back and matches.",
        summary.keys, summary.value_bytes, summary.source_revision, summary.target_revision
    );
}

/// Writes the backup to a 0600 temporary file beside `out`, then renames it into place, so a failed backup
/// never leaves a partial file under the final name.
async fn backup(store: &dyn berth_store::Store, out: &Path) -> Result<Summary> {
    let name = out.file_name().context("the backup path names no file")?.to_string_lossy().to_string();
    let partial = out.with_file_name(format!(".{name}.partial"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut writer = BufWriter::new(file);
    let result = transfer::backup(store, &mut writer).await;
    let finished = result.map_err(anyhow::Error::from).and_then(|summary| {
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(summary)
    });
    match finished {
        Ok(summary) => {
            std::fs::rename(&partial, out).with_context(|| format!("renaming into {}", out.display()))?;
            Ok(summary)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backup_writes_a_private_file_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = berth_store::MemoryStore::new();
        berth_store::Store::txn(&store, berth_store::Txn::new().put("/k", b"v".to_vec())).await.unwrap();
        let out = dir.path().join("b.jsonl");
        let summary = backup(&store, &out).await.unwrap();
        assert_eq!(summary.keys, 1);
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no partial file left");
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2, "a header and one key");
    }
}
