//! `berth registry ...`: registry administration.

use anyhow::{Context, Result};
use berth_model::clock::{Clock, SystemClock};
use std::path::Path;

/// `berth registry advisories import DIR`.
pub fn import_advisories(dir: &Path, data_dir: &Path) -> Result<()> {
    let registry_dir = data_dir.join("registry");
    std::fs::create_dir_all(&registry_dir).with_context(|| format!("creating {}", registry_dir.display()))?;
    let (_, summary) = berth_registry::scan::import_offline(&registry_dir, dir, SystemClock.now())
        .with_context(|| format!("importing advisories from {}", dir.display()))?;
    println!(
        "Imported {} advisories from {} files ({} in the database).",
        summary.imported, summary.files, summary.total
    );
    for skipped in &summary.skipped {
        println!("skipped {skipped}");
    }
    Ok(())
}
