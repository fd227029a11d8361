//! The in-memory index of the registry's metadata, fed by a store watch.
//!
//! Reads (manifest GET/HEAD, tag lists, DescribeImages) take a read lock on this index and never touch the store.
//! Writers commit to the store and then wait until the watch has brought their revision into the index
//! ([`Index::wait_for`]), so every request sees its own writes.

use super::keys::{Key, PREFIX};
use super::records::{ImageRecord, LinkRecord, PreviewRecord, RepositoryRecord, ScanRecord, TagRecord};
use crate::error::RegistryError;
use berth_model::Timestamp;
use berth_store::{Event, EventKind, KeyValue, SharedStore, StoreError};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// A manifest in the index.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    /// Its record.
    pub record: Arc<ImageRecord>,
    /// The manifest bytes, ready to serve.
    pub manifest: Bytes,
    /// The record's mod revision.
    pub revision: i64,
}

/// Everything indexed about one repository. Entries may exist briefly without a record (a key whose repository
/// record is being deleted in the same batch); such a repository does not exist for requests.
#[derive(Debug, Clone, Default)]
pub struct RepoEntry {
    /// The repository record and its mod revision.
    pub record: Option<(Arc<RepositoryRecord>, i64)>,
    /// Manifests by digest.
    pub images: HashMap<String, ImageEntry>,
    /// Tags: tag -> (digest, mod revision).
    pub tags: BTreeMap<String, (String, i64)>,
    /// Tags of each digest.
    pub tags_of: HashMap<String, BTreeSet<String>>,
    /// Blobs linked by upload or mount: digest -> (record, mod revision).
    pub links: HashMap<String, (LinkRecord, i64)>,
    /// How many manifests reference each blob.
    pub blob_refs: HashMap<String, usize>,
    /// Scans by image digest.
    pub scans: HashMap<String, (Arc<ScanRecord>, i64)>,
    /// Recorded pulls by image digest.
    pub pulls: HashMap<String, Timestamp>,
    /// The last lifecycle preview and its mod revision.
    pub preview: Option<(Arc<PreviewRecord>, i64)>,
    /// When a pull-through cache last checked each tag upstream.
    pub upstream_checks: HashMap<String, Timestamp>,
}

impl RepoEntry {
    /// Whether the repository may serve `digest` as a blob: it was linked, or a manifest references it.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.links.contains_key(digest) || self.blob_refs.get(digest).is_some_and(|n| *n > 0)
    }

    /// The size of a blob the repository may serve, as recorded.
    pub fn blob_size(&self, digest: &str) -> Option<i64> {
        if let Some((link, _)) = self.links.get(digest) {
            return Some(link.size as i64);
        }
        self.images.values().flat_map(|i| i.record.blobs.iter()).find(|b| b.digest == digest).map(|b| b.size)
    }

    /// The tags of an image, sorted.
    pub fn tags_for(&self, digest: &str) -> Vec<String> {
        self.tags_of.get(digest).map(|t| t.iter().cloned().collect()).unwrap_or_default()
    }

    fn add_refs(&mut self, record: &ImageRecord, delta: isize) {
        for blob in &record.blobs {
            let n = self.blob_refs.entry(blob.digest.clone()).or_insert(0);
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                self.blob_refs.remove(&blob.digest);
            }
        }
    }
}

/// The indexed state at one store revision.
#[derive(Debug, Default)]
pub struct IndexState {
    /// The last store revision applied.
    pub revision: i64,
    /// Repositories by name.
    pub repos: BTreeMap<String, RepoEntry>,
    /// Records that do not decode, by store key (with the decoding error): quarantined, never treated as absent.
    pub quarantined: BTreeMap<String, String>,
}

impl IndexState {
    /// A repository that exists (has its record).
    pub fn repo(&self, name: &str) -> Option<&RepoEntry> {
        self.repos.get(name).filter(|r| r.record.is_some())
    }

    /// A repository that exists, or why not: `Quarantined` when its record does not decode (so callers never
    /// treat an unreadable repository as absent), else `RepositoryNotFound`.
    pub fn existing_repo(&self, name: &str) -> Result<&RepoEntry, RegistryError> {
        if let Some(entry) = self.repo(name) {
            return Ok(entry);
        }
        let key = Key::Repo(name.to_string()).render();
        if self.quarantined.contains_key(&key) {
            return Err(RegistryError::Quarantined { key });
        }
        Err(RegistryError::RepositoryNotFound { name: name.to_string() })
    }

    fn apply(&mut self, kind: EventKind, kv: &KeyValue) {
        let Some(key) = Key::parse(&kv.key) else { return };
        let put = kind == EventKind::Put;
        self.note_readability(put, kv, &key);
        let repo = self.repos.entry(key.repository().to_string()).or_default();
        match key {
            Key::Repo(_) => repo.record = decode(kv, put).map(|r| (Arc::new(r), kv.mod_revision)),
            Key::Image(_, digest) => {
                if let Some(old) = repo.images.remove(&digest) {
                    repo.add_refs(&old.record, -1);
                }
                if let Some(record) = decode::<ImageRecord>(kv, put) {
                    repo.add_refs(&record, 1);
                    let manifest = Bytes::from(record.manifest.clone().into_bytes());
                    repo.images
                        .insert(digest, ImageEntry { record: Arc::new(record), manifest, revision: kv.mod_revision });
                }
            }
            Key::Tag(_, tag) => {
                if let Some((old, _)) = repo.tags.remove(&tag)
                    && let Some(set) = repo.tags_of.get_mut(&old)
                {
                    set.remove(&tag);
                    if set.is_empty() {
                        repo.tags_of.remove(&old);
                    }
                }
                repo.upstream_checks.remove(&tag);
                if let Some(record) = decode::<TagRecord>(kv, put) {
                    if let Some(at) = record.upstream_checked_at {
                        repo.upstream_checks.insert(tag.clone(), at);
                    }
                    repo.tags_of.entry(record.digest.clone()).or_default().insert(tag.clone());
                    repo.tags.insert(tag, (record.digest, kv.mod_revision));
                }
            }
            Key::Link(_, digest) => match decode::<LinkRecord>(kv, put) {
                Some(link) => {
                    repo.links.insert(digest, (link, kv.mod_revision));
                }
                None => {
                    repo.links.remove(&digest);
                }
            },
            Key::Scan(_, digest) => match decode::<ScanRecord>(kv, put) {
                Some(scan) => {
                    repo.scans.insert(digest, (Arc::new(scan), kv.mod_revision));
                }
                None => {
                    repo.scans.remove(&digest);
                }
            },
            Key::Pull(_, digest) => match decode::<super::records::PullRecord>(kv, put) {
                Some(pull) => {
                    let at = repo.pulls.get(&digest).copied().unwrap_or(0.0).max(pull.at);
                    repo.pulls.insert(digest, at);
                }
                None => {
                    repo.pulls.remove(&digest);
                }
            },
            Key::Preview(_) => repo.preview = decode(kv, put).map(|p| (Arc::new(p), kv.mod_revision)),
        }
    }

    /// Records whether a put's value decodes as its kind's record; a delete clears the mark.
    fn note_readability(&mut self, put: bool, kv: &KeyValue, key: &Key) {
        fn check<T: DeserializeOwned>(value: &[u8]) -> Option<String> {
            serde_json::from_slice::<T>(value).err().map(|e| e.to_string())
        }
        let problem = if !put {
            None
        } else {
            match key {
                Key::Repo(_) => check::<RepositoryRecord>(&kv.value),
                Key::Image(..) => check::<ImageRecord>(&kv.value),
                Key::Tag(..) => check::<TagRecord>(&kv.value),
                Key::Link(..) => check::<LinkRecord>(&kv.value),
                Key::Scan(..) => check::<ScanRecord>(&kv.value),
                Key::Pull(..) => check::<super::records::PullRecord>(&kv.value),
                Key::Preview(_) => check::<PreviewRecord>(&kv.value),
            }
        };
        match problem {
            Some(error) => {
                tracing::error!(key = %kv.key, %error, "QUARANTINED: an unreadable registry record is kept aside, untouched");
                self.quarantined.insert(kv.key.clone(), error);
            }
            None => {
                self.quarantined.remove(&kv.key);
            }
        }
    }

    fn prune(&mut self, name: &str) {
        if let Some(r) = self.repos.get(name)
            && r.record.is_none()
            && r.images.is_empty()
            && r.tags.is_empty()
            && r.links.is_empty()
            && r.scans.is_empty()
            && r.preview.is_none()
        {
            self.repos.remove(name);
        }
    }
}

fn decode<T: DeserializeOwned>(kv: &KeyValue, put: bool) -> Option<T> {
    if !put {
        return None;
    }
    // An unreadable value was quarantined by `note_readability`.
    serde_json::from_slice(&kv.value).ok()
}

/// The index and the revision it has reached.
pub struct Index {
    state: RwLock<IndexState>,
    applied: tokio::sync::watch::Sender<i64>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { state: RwLock::new(IndexState::default()), applied: tokio::sync::watch::channel(0).0 })
    }

    /// A read view.
    pub fn read(&self) -> RwLockReadGuard<'_, IndexState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, IndexState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the whole index with a fresh listing.
    pub fn reset(&self, kvs: &[KeyValue], revision: i64) {
        let mut fresh = IndexState { revision, repos: BTreeMap::new(), quarantined: BTreeMap::new() };
        for kv in kvs {
            fresh.apply(EventKind::Put, kv);
        }
        let names: Vec<String> = fresh.repos.keys().cloned().collect();
        for name in names {
            fresh.prune(&name);
        }
        *self.write() = fresh;
        self.applied.send_replace(revision);
    }

    /// Applies the events of one revision.
    pub fn apply(&self, revision: i64, events: &[Event]) {
        {
            let mut state = self.write();
            let mut touched = BTreeSet::new();
            for event in events {
                state.apply(event.kind, &event.kv);
                if let Some(key) = Key::parse(&event.kv.key) {
                    touched.insert(key.repository().to_string());
                }
            }
            for name in touched {
                state.prune(&name);
            }
            state.revision = state.revision.max(revision);
        }
        self.applied.send_replace(revision);
    }

    /// The revisions the index has applied, as a watch (what the registry's background controller follows).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.applied.subscribe()
    }

    /// Waits until the index has applied `revision` (bounded: a stuck watch must not hang requests forever).
    pub async fn wait_for(&self, revision: i64) {
        let mut rx = self.applied.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|r| *r >= revision)).await;
    }

    /// Lists the registry's keys and follows the store from there, re-listing when the watch is compacted.
    /// Returns when the store closes.
    pub async fn follow(self: Arc<Self>, store: SharedStore, mut listed: Option<i64>) {
        loop {
            let from = match listed.take() {
                Some(revision) => revision,
                None => match store.range(PREFIX).await {
                    Ok(range) => {
                        self.reset(&range.kvs, range.revision);
                        range.revision
                    }
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "registry index: listing failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            let mut watch = match store.watch(PREFIX, from) {
                Ok(w) => w,
                Err(StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "registry index: watch failed; re-listing");
                    continue;
                }
            };
            loop {
                match watch.next().await {
                    Ok((revision, events)) => self.apply(revision, &events),
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        tracing::info!(error = %e, "registry index: watch interrupted; re-listing");
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &[u8], revision: i64) -> KeyValue {
        KeyValue { key: key.to_string(), value: value.to_vec(), create_revision: revision, mod_revision: revision }
    }

    #[test]
    fn an_unreadable_repository_record_is_quarantined_not_absent() {
        let index = Index::new();
        let key = Key::Repo("web".into()).render();
        index.reset(&[kv(&key, b"{not json", 3)], 3);
        let state = index.read();
        assert!(state.quarantined.contains_key(&key), "the key is listed as quarantined");
        assert!(
            matches!(state.existing_repo("web"), Err(RegistryError::Quarantined { key: k }) if k == key),
            "a quarantined repository is not reported as absent"
        );
        assert!(matches!(state.existing_repo("other"), Err(RegistryError::RepositoryNotFound { .. })));
        drop(state);
        index.apply(4, &[Event { kind: EventKind::Delete, kv: kv(&key, b"", 4) }]);
        let state = index.read();
        assert!(state.quarantined.is_empty(), "deleting the record clears the mark");
        assert!(matches!(state.existing_repo("web"), Err(RegistryError::RepositoryNotFound { .. })));
    }
}
