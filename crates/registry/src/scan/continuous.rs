//! Continuous scanning (the ENHANCED scan type's CONTINUOUS_SCAN frequency): when the advisory database changes
//! (an import, in this process or by `berth registry advisories import`), every stored image of the repositories a
//! CONTINUOUS_SCAN rule matches is scanned again against it.
//!
//! The import the last re-scan ran for is kept in the registry settings, so a restart neither repeats a finished
//! re-scan nor forgets an unfinished one. Re-scans take places in the scan queue like any scan, one at a time, so
//! pushes' scans are not crowded out.

use crate::Registry;
use crate::error::Result;
use crate::manifest::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use std::time::Duration;

/// How long a re-scan waits for a place in a full scan queue before trying again.
const QUEUE_RETRY: Duration = Duration::from_millis(200);

impl Registry {
    /// Re-scans the images of the repositories under a CONTINUOUS_SCAN rule if the advisory database changed since
    /// the last re-scan; how many images were scanned.
    pub async fn continuous_rescan(&self) -> Result<usize> {
        let db = self.advisories();
        let Some(imported) = db.imported_at else { return Ok(0) };
        let settings = self.settings();
        // Nothing is continuous, or this import was re-scanned for already. (Enabling a CONTINUOUS_SCAN rule later
        // re-scans its repositories against the database in use at the next run.)
        if !settings.has_continuous_rules() || settings.continuous_scan_db == Some(imported) {
            return Ok(0);
        }
        let images: Vec<(String, String)> = {
            let state = self.index.read();
            state
                .repos
                .iter()
                .filter(|(name, entry)| entry.record.is_some() && settings.scans_continuously(name))
                .flat_map(|(name, entry)| {
                    entry
                        .images
                        .values()
                        .filter(|i| i.record.is_pullable())
                        .filter(|i| !matches!(i.record.media_type.as_str(), OCI_INDEX | DOCKER_MANIFEST_LIST))
                        .map(move |i| (name.clone(), i.record.digest.clone()))
                })
                .collect()
        };
        let mut scanned = 0;
        for (repo, digest) in images {
            let ticket = loop {
                match self.scans.enter() {
                    Some(ticket) => break ticket,
                    None => tokio::time::sleep(QUEUE_RETRY).await,
                }
            };
            let _running = ticket.run().await;
            match self.scan_image(&repo, &digest).await {
                Ok(record) => match self.put_scan(&repo, &digest, &record).await {
                    Ok(()) => scanned += 1,
                    Err(e) => tracing::info!(%repo, %digest, error = %e, "continuous scan result not recorded"),
                },
                // An image deleted meanwhile, or a missing blob: the image keeps its last scan.
                Err(e) => tracing::warn!(%repo, %digest, error = %e, "continuous scan failed"),
            }
        }
        self.update_settings(|s| {
            s.continuous_scan_db = Some(imported);
            Ok::<_, crate::RegistryError>(())
        })
        .await?;
        Ok(scanned)
    }
}
