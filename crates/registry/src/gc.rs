//! Online garbage collection of blobs no manifest references.
//!
//! The CNCF registry collects offline, in read-only mode, because a push may reference a blob between the
//! collector's mark and its sweep. Here the two are serialised instead:
//! - a manifest push holds the GC lock shared from "its blobs exist" until "its record is committed"; so does
//!   committing an upload and mounting a blob;
//! - the collector lists blob files first, then takes the lock exclusively, marks from a fresh listing of the
//!   store (not the cache, which may lag), and sweeps;
//! - blobs uploaded, mounted or checked with HEAD (how clients decide to skip an upload) within `gc_grace` are
//!   live, as are blobs linked to a repository within `gc_grace`, and nothing is collected during the first
//!   `gc_grace` after start-up (the in-memory record of recent checks was lost with the previous process).
//!
//! So a blob a push is about to reference is always spared, and a blob nothing references goes after `gc_grace`.
//! Links older than the grace period are removed too (the blobs stay visible to repositories whose manifests
//! reference them).

use crate::Registry;
use crate::error::Result;
use crate::lock;
use crate::meta::Key;
use crate::meta::keys::PREFIX;
use crate::meta::records::{ImageRecord, LinkRecord};
use berth_store::{Txn, TxnOutcome};
use std::collections::HashSet;

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blob files deleted.
    pub blobs_deleted: usize,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Blob files kept.
    pub blobs_kept: usize,
    /// Expired repository links removed.
    pub links_removed: usize,
}

impl Registry {
    /// Runs one garbage collection.
    pub async fn collect_garbage(&self) -> Result<GcReport> {
        let grace = self.config.gc_grace.as_secs_f64();
        let mut report = GcReport::default();
        if self.now() - self.started_at < grace {
            return Ok(report);
        }
        let candidates = self.blobs.list().await?;
        let _exclusive = self.gc_lock.write().await;
        let now = self.now();
        let cutoff = now - grace;
        let listing = self.store.range(PREFIX).await?;
        let mut live: HashSet<String> = HashSet::new();
        let mut stale_links = Vec::new();
        for kv in &listing.kvs {
            match Key::parse(&kv.key) {
                Some(Key::Image(..)) => {
                    if let Ok(image) = serde_json::from_slice::<ImageRecord>(&kv.value) {
                        live.extend(image.blobs.into_iter().map(|b| b.digest));
                    } else {
                        // An unreadable manifest record: be safe and collect nothing this round.
                        tracing::warn!(key = %kv.key, "garbage collection skipped: unreadable image record");
                        return Ok(report);
                    }
                }
                Some(Key::Link(_, digest)) => match serde_json::from_slice::<LinkRecord>(&kv.value) {
                    Ok(link) if link.linked_at < cutoff => stale_links.push((kv.key.clone(), kv.mod_revision, digest)),
                    _ => {
                        live.insert(digest);
                    }
                },
                _ => {}
            }
        }
        {
            let mut touched = lock(&self.touched);
            touched.retain(|_, at| *at >= cutoff);
            live.extend(touched.keys().cloned());
            // A blob checked recently keeps its links too: a push that saw it (HEAD) will reference it.
            stale_links.retain(|(_, _, digest)| !touched.contains_key(digest));
        }
        for (digest, size) in candidates {
            if live.contains(&digest.to_string()) {
                report.blobs_kept += 1;
                continue;
            }
            if self.blobs.delete(&digest).await? {
                report.blobs_deleted += 1;
                report.bytes_freed += size;
            }
        }
        if !stale_links.is_empty() {
            let mut txn = Txn::new();
            for (key, revision, _) in &stale_links {
                txn = txn.expect(key.clone(), *revision).delete(key.clone());
            }
            // A link refreshed meanwhile makes this conflict: those links are simply kept until the next run.
            if let TxnOutcome::Committed { revision } = self.store.txn(txn).await? {
                report.links_removed = stale_links.len();
                self.index.wait_for(revision).await;
            }
        }
        if report.blobs_deleted > 0 {
            tracing::info!(?report, "registry garbage collection");
        }
        Ok(report)
    }
}
