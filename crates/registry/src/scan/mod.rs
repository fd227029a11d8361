//! Vulnerability scanning (ECR's basic scanning): scan on push and StartImageScan.
//!
//! A scan reads the image's layers from blob storage, flattens them into the files of interest
//! ([`inventory`]), lists the installed packages ([`dpkg`], [`apk`], [`lockfiles`]) and matches them against the
//! OSV advisories the operator imported ([`osv`]). The result is stored as the image's scan record in the Berth
//! store (`IN_PROGRESS`, then `COMPLETE` or `FAILED`) and served by DescribeImageScanFindings and DescribeImages.
//!
//! Scans are bounded ([`ScanLimits`]): layers are streamed, never held in memory; files of interest are read up
//! to a per-file and a per-image cap; one image's layers are inflated up to a cap; at most `max_concurrent` scans
//! run and `max_queued` wait or run ([`queue`]). Whatever a scan left out is named in its status description
//! (`imageScanStatus.description` in DescribeImageScanFindings and DescribeImages).
//!
//! Under the ENHANCED scan type, images of repositories a CONTINUOUS_SCAN rule matches are scanned again when the
//! advisory database changes ([`continuous`]).
//!
//! Limitations: zstd layers are skipped.

pub mod apk;
pub mod budget;
pub mod continuous;
pub mod dpkg;
pub mod inventory;
pub mod lockfiles;
pub mod osv;
pub mod queue;
pub mod version;

use crate::Registry;
use crate::digest::Digest;
use crate::error::{RegistryError, Result};
use crate::manifest::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use crate::meta::Key;
use crate::meta::records::ScanRecord;
use berth_model::ecr::{Attribute, FindingSeverity, ImageScanFinding, ImageScanStatus, ScanStatus};
use berth_store::{Txn, TxnOutcome};
use inventory::Ecosystem;
use std::path::{Path, PathBuf};

/// The status description of a scan that ran with no advisories to match against: it could not find anything, and
/// says so rather than reporting a clean image.
pub const NO_ADVISORIES: &str = "The scan was completed, but the advisory database is empty: no vulnerability could \
be found. Import OSV advisories with `berth registry advisories import DIR` and scan again (StartImageScan).";
use std::sync::Arc;

pub use budget::ScanLimits;

/// What an advisory import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// JSON files read.
    pub files: usize,
    /// Advisories imported (new or replaced).
    pub imported: usize,
    /// Advisories in the database afterwards.
    pub total: usize,
    /// Files that were not OSV advisories, with why.
    pub skipped: Vec<String>,
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Imports every `*.json` under `dir` (one advisory per file, or a JSON array of advisories) into the advisory
/// database in `data_dir`, without a running registry: `berth registry advisories import` uses this, and a running
/// registry picks the new database up on its next scan.
pub fn import_offline(data_dir: &Path, dir: &Path, now: f64) -> Result<(osv::AdvisoryDb, ImportSummary)> {
    let mut files = Vec::new();
    json_files(dir, &mut files).map_err(|source| RegistryError::Io {
        operation: "list",
        path: dir.display().to_string(),
        source,
    })?;
    files.sort();
    let mut db = osv::AdvisoryDb::load(data_dir)?;
    let mut summary = ImportSummary { files: files.len(), ..Default::default() };
    for file in files {
        let parsed = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string()));
        let values = match parsed {
            Ok(serde_json::Value::Array(items)) => items,
            Ok(value) => vec![value],
            Err(e) => {
                summary.skipped.push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        for value in values {
            if db.insert(value) {
                summary.imported += 1;
            } else {
                summary.skipped.push(format!("{}: not an OSV advisory", file.display()));
            }
        }
    }
    db.imported_at = Some(now);
    db.reindex();
    db.save(data_dir)?;
    summary.total = db.len();
    Ok((db, summary))
}

/// Imports advisories into a running registry.
pub(crate) async fn import(registry: &Registry, dir: &Path) -> Result<ImportSummary> {
    let dir = dir.to_path_buf();
    let data_dir = registry.config.data_dir.clone();
    let now = registry.now();
    let (db, summary) =
        tokio::task::spawn_blocking(move || import_offline(&data_dir, &dir, now)).await.map_err(|e| {
            RegistryError::Io { operation: "import advisories", path: String::new(), source: std::io::Error::other(e) }
        })??;
    *registry.advisories.write().unwrap_or_else(|p| p.into_inner()) =
        (file_mtime(&registry.config.data_dir), Arc::new(db));
    // Repositories under a CONTINUOUS_SCAN rule are scanned again against the new advisories.
    registry.spawn(|registry| async move {
        if let Err(e) = registry.continuous_rescan().await {
            tracing::warn!(error = %e, "continuous re-scan after an advisory import failed");
        }
    });
    Ok(summary)
}

/// The modification time of the advisory database file, if it exists.
pub(crate) fn file_mtime(data_dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(osv::db_path(data_dir)).and_then(|m| m.modified()).ok()
}

fn attribute(key: &str, value: impl Into<String>) -> Attribute {
    Attribute { key: key.to_string(), value: Some(value.into()) }
}

fn severity_rank(s: FindingSeverity) -> u8 {
    match s {
        FindingSeverity::Critical => 0,
        FindingSeverity::High => 1,
        FindingSeverity::Medium => 2,
        FindingSeverity::Low => 3,
        FindingSeverity::Informational => 4,
        FindingSeverity::Undefined => 5,
    }
}

/// Matches an inventory against the advisories: one finding per (advisory, package).
pub fn findings(db: &osv::AdvisoryDb, inv: &inventory::Inventory) -> Vec<ImageScanFinding> {
    let mut out = Vec::new();
    for package in &inv.packages {
        let release = match package.ecosystem {
            Ecosystem::Debian | Ecosystem::Ubuntu | Ecosystem::Alpine => inv.os_version.as_deref(),
            _ => None,
        };
        for (advisory, affected) in db.matches(package, release) {
            let (severity, cvss) = osv::severity_of(advisory, affected);
            let name = advisory.aliases.iter().find(|a| a.starts_with("CVE-")).cloned().unwrap_or(advisory.id.clone());
            let uri = advisory
                .references
                .iter()
                .find(|r| r.kind == "ADVISORY" || r.kind == "WEB")
                .map(|r| r.url.clone())
                .unwrap_or_else(|| format!("https://osv.dev/vulnerability/{}", advisory.id));
            let mut attributes = vec![
                attribute("package_name", &package.name),
                attribute("package_version", &package.version),
                attribute("package_ecosystem", package.ecosystem.osv_name()),
                attribute("advisory_id", &advisory.id),
                attribute("package_path", &package.path),
            ];
            if let Some(fixed) = osv::fixed_version(affected) {
                attributes.push(attribute("fixed_in_version", fixed));
            }
            if let Some((vector, score)) = cvss {
                attributes.push(attribute("CVSS3_VECTOR", vector));
                attributes.push(attribute("CVSS3_SCORE", format!("{score:.1}")));
            }
            out.push(ImageScanFinding {
                name: Some(name),
                description: advisory.summary.clone().or_else(|| advisory.details.clone()),
                uri: Some(uri),
                severity: Some(severity),
                attributes: Some(attributes),
            });
        }
    }
    out.sort_by(|a, b| {
        let sa = a.severity.map(severity_rank).unwrap_or(9);
        let sb = b.severity.map(severity_rank).unwrap_or(9);
        sa.cmp(&sb).then_with(|| a.name.cmp(&b.name))
    });
    out
}

impl Registry {
    /// The advisory database in use, reloaded when another process (the `berth registry advisories import`
    /// command) rewrote its file.
    pub fn advisories(&self) -> Arc<osv::AdvisoryDb> {
        let current = file_mtime(&self.config.data_dir);
        {
            let guard = self.advisories.read().unwrap_or_else(|p| p.into_inner());
            if guard.0 == current {
                return guard.1.clone();
            }
        }
        match osv::AdvisoryDb::load(&self.config.data_dir) {
            Ok(db) => {
                let db = Arc::new(db);
                *self.advisories.write().unwrap_or_else(|p| p.into_inner()) = (current, db.clone());
                db
            }
            Err(error) => {
                tracing::warn!(%error, "cannot reload the advisory database; keeping the loaded one");
                self.advisories.read().unwrap_or_else(|p| p.into_inner()).1.clone()
            }
        }
    }

    pub(crate) async fn put_scan(&self, repo: &str, digest: &str, record: &ScanRecord) -> Result<()> {
        let key = Key::Scan(repo.to_string(), digest.to_string()).render();
        let image_key = Key::Image(repo.to_string(), digest.to_string()).render();
        let value = serde_json::to_vec(record).map_err(|source| RegistryError::Record { key: key.clone(), source })?;
        let image_rev = self.index.read().repo(repo).and_then(|r| r.images.get(digest).map(|i| i.revision));
        let Some(image_rev) = image_rev else {
            return Err(RegistryError::ManifestUnknown { name: repo.to_string(), reference: digest.to_string() });
        };
        // Only while the image exists: a scan finishing after a delete must not resurrect a record.
        match self.store.txn(Txn::new().expect(image_key, image_rev).put(key, value)).await? {
            TxnOutcome::Committed { revision } => {
                self.index.wait_for(revision).await;
                Ok(())
            }
            TxnOutcome::Conflict { .. } => {
                Err(RegistryError::ManifestUnknown { name: repo.to_string(), reference: digest.to_string() })
            }
        }
    }

    /// Starts a scan of an image (in the background); returns the status it starts with. A full scan queue
    /// answers [`RegistryError::LimitExceeded`].
    pub async fn start_scan(&self, repo: &str, digest: &str) -> Result<ImageScanStatus> {
        let image = self.get_manifest(repo, &crate::Reference::Digest(Digest::parse(digest)?))?;
        let now = self.now();
        if matches!(image.record.media_type.as_str(), OCI_INDEX | DOCKER_MANIFEST_LIST) {
            let record = ScanRecord::without_findings(
                ScanStatus::UnsupportedImage,
                "The image is a manifest list; scan the images it lists.",
                now,
            );
            self.put_scan(repo, digest, &record).await?;
            return Ok(ImageScanStatus { status: Some(record.status), description: Some(record.description) });
        }
        let Some(ticket) = self.scans.enter() else {
            return Err(RegistryError::LimitExceeded {
                reason: format!(
                    "{} image scans are already queued or running, the most the registry holds; start the scan \
                     again later",
                    self.scans.capacity()
                ),
            });
        };
        let record = ScanRecord::without_findings(ScanStatus::InProgress, "The scan is in progress.", now);
        self.put_scan(repo, digest, &record).await?;
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.spawn(move |registry| async move {
            let _running = ticket.run().await;
            let done = match registry.scan_image(&repo, &digest).await {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(%repo, %digest, error = %e, "scan failed");
                    ScanRecord::without_findings(ScanStatus::Failed, "The scan failed; the server log has why.", now)
                }
            };
            drop(ticket);
            if let Err(e) = registry.put_scan(&repo, &digest, &done).await {
                tracing::info!(%repo, %digest, error = %e, "scan result not recorded");
            }
        });
        Ok(ImageScanStatus { status: Some(record.status), description: Some(record.description) })
    }

    /// Scan on push: starts a scan, or records why none was started (a full queue) as a `FAILED` scan.
    pub(crate) async fn scan_on_push(&self, repo: &str, digest: &str) {
        match self.start_scan(repo, digest).await {
            Ok(_) => {}
            Err(RegistryError::LimitExceeded { reason }) => {
                let description = format!("The scan on push was not run: {reason} (StartImageScan).");
                let record = ScanRecord::without_findings(ScanStatus::Failed, description, self.now());
                if let Err(e) = self.put_scan(repo, digest, &record).await {
                    tracing::info!(%repo, %digest, error = %e, "scan result not recorded");
                }
            }
            Err(e) => tracing::warn!(%repo, %digest, error = %e, "scan on push failed to start"),
        }
    }

    /// Scans an image now and returns its completed scan record. Layers are streamed from blob storage within
    /// the configured [`ScanLimits`]; what was left out is named in the record's description.
    pub async fn scan_image(&self, repo: &str, digest: &str) -> Result<ScanRecord> {
        let started_at = self.now();
        let image = self.get_manifest(repo, &crate::Reference::Digest(Digest::parse(digest)?))?;
        // The record lists the config first, then the layers in order.
        let skip = usize::from(image.record.config_media_type.is_some());
        let mut layers = Vec::new();
        for blob in image.record.blobs.iter().skip(skip) {
            let d = Digest::parse(&blob.digest)?;
            layers.push((blob.digest.clone(), self.blobs.open_reader(&d).await?));
        }
        let db = self.advisories();
        let limits = self.config.scan_limits;
        // The scan runs on one blocking thread: the server paces it (reading its own files), and the scan queue
        // bounds how many run at once.
        let (inv, found) = tokio::task::spawn_blocking(move || {
            let mut flattener = inventory::Flattener::new(&limits);
            for (index, (digest, reader)) in layers.into_iter().enumerate() {
                match reader {
                    Some(reader) => flattener.add_layer(index, reader),
                    None => flattener.skip_layer(index, format!("blob {digest} is missing")),
                }
            }
            let inv = flattener.into_inventory();
            let found = findings(&db, &inv);
            (inv, found)
        })
        .await
        .map_err(|e| RegistryError::Io {
            operation: "scan",
            path: String::new(),
            source: std::io::Error::other(e),
        })?;
        let mut description = "The scan was completed successfully.".to_string();
        if self.advisories().is_empty() {
            description = NO_ADVISORIES.to_string();
        }
        if !inv.skipped.is_empty() {
            description.push_str(&format!(" Not scanned: {}.", inv.skipped.describe().join("; ")));
        }
        Ok(ScanRecord {
            status: ScanStatus::Complete,
            description,
            started_at,
            completed_at: Some(self.now()),
            source_updated_at: self.advisories().imported_at,
            severity_counts: ScanRecord::count_severities(&found),
            findings: found,
        })
    }
}
