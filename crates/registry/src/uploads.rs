//! Upload sessions: the state machine behind OCI chunked uploads and ECR's layer upload operations.
//!
//! A session is `started -> (append)* -> finished | cancelled | expired`. Each append must start exactly where
//! the upload ends (else `RangeInvalid`, and nothing of the chunk is kept); a failed or truncated body rolls the
//! upload back to where the chunk started. Finishing verifies the digest (the running hash, or a re-hash from
//! disk after a restart), commits the blob atomically and links it into the repository.
//!
//! Sessions are bounded: a repository holds at most `max_uploads_per_repository` of them (another start answers
//! `TOOMANYREQUESTS` / `LimitExceededException` until one finishes or expires), and a session expires once no
//! request and no byte reached it for `upload_ttl` (168 hours by default, the age at which the CNCF Distribution
//! registry purges uploads). A chunk that stalls mid-body counts as idle from its last byte: expiry cancels it.

use crate::Registry;
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{RegistryError, Result};
use crate::lock;
use crate::meta::Key;
use crate::meta::records::LinkRecord;
use crate::storage::{ByteStream, StorageError, is_valid_upload_id};
use berth_model::Timestamp;
use berth_model::clock::Clock;
use berth_store::{Txn, TxnOutcome};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A session's state, behind its lock (held for the length of a request).
#[derive(Debug)]
pub(crate) struct UploadSession {
    offset: u64,
    hasher: Option<Hasher>,
    closed: bool,
}

/// A session in the registry's table: what may be read without its lock (its repository, when it was last
/// active, its cancellation), and its state.
pub(crate) struct SessionEntry {
    repo: String,
    last_active: std::sync::Mutex<Timestamp>,
    cancel: CancellationToken,
    state: tokio::sync::Mutex<UploadSession>,
}

impl SessionEntry {
    fn new(repo: String, state: UploadSession, now: Timestamp) -> Arc<Self> {
        Arc::new(SessionEntry {
            repo,
            last_active: std::sync::Mutex::new(now),
            cancel: CancellationToken::new(),
            state: tokio::sync::Mutex::new(state),
        })
    }

    fn touch(&self, now: Timestamp) {
        let mut last = lock(&self.last_active);
        if now > *last {
            *last = now;
        }
    }

    fn last_active(&self) -> Timestamp {
        *lock(&self.last_active)
    }
}

/// Marks its session active each time a chunk of the body arrives.
struct Activity {
    inner: ByteStream,
    entry: Arc<SessionEntry>,
    clock: Arc<dyn Clock>,
}

impl futures::Stream for Activity {
    type Item = std::io::Result<Bytes>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let std::task::Poll::Ready(Some(Ok(_))) = &polled {
            self.entry.touch(self.clock.now());
        }
        polled
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadInfo {
    repo: String,
    started_at: Timestamp,
}

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    /// The session id.
    pub id: String,
    /// Bytes received.
    pub offset: u64,
}

/// A blob that became visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

/// A chunk of an upload: its declared position and length, and its bytes.
pub struct Chunk {
    /// The first byte's offset, if the client declared one (`Content-Range`, `partFirstByte`).
    pub start: Option<u64>,
    /// The exact length, if the client declared one.
    pub len: Option<u64>,
    /// The bytes.
    pub body: ByteStream,
}

impl Chunk {
    /// A chunk already in memory.
    pub fn bytes(start: Option<u64>, bytes: Bytes) -> Self {
        let len = Some(bytes.len() as u64);
        Chunk { start, len, body: Box::pin(futures::stream::once(async move { Ok(bytes) })) }
    }
}

/// Enforces a declared length on a stream: a shorter or longer body becomes an error, so storage rolls it back.
fn exact_length(body: ByteStream, expected: u64) -> ByteStream {
    Box::pin(LengthCheck { inner: body, expected, seen: 0, finished: false })
}

struct LengthCheck {
    inner: ByteStream,
    expected: u64,
    seen: u64,
    finished: bool,
}

impl futures::Stream for LengthCheck {
    type Item = std::io::Result<Bytes>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.finished {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.seen += chunk.len() as u64;
                if self.seen > self.expected {
                    self.finished = true;
                    let msg = format!("body is longer than the declared {} bytes", self.expected);
                    return Poll::Ready(Some(Err(std::io::Error::other(msg))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.finished = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.finished = true;
                if self.seen != self.expected {
                    let msg = format!("body ended after {} of the declared {} bytes", self.seen, self.expected);
                    return Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, msg))));
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Registry {
    /// Fails unless the repository exists.
    pub(crate) fn require_repo(&self, name: &str) -> Result<()> {
        if self.index.read().repo(name).is_some() {
            Ok(())
        } else {
            Err(RegistryError::RepositoryNotFound { name: name.to_string() })
        }
    }

    /// Starts an upload into `repo`; at most `max_uploads_per_repository` may be open in one repository.
    pub async fn upload_start(&self, repo: &str, algorithm: Algorithm) -> Result<UploadStatus> {
        self.require_repo(repo)?;
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let now = self.now();
        let info = serde_json::to_vec(&UploadInfo { repo: repo.to_string(), started_at: now })
            .map_err(|source| RegistryError::Record { key: id.clone(), source })?;
        let state = UploadSession { offset: 0, hasher: Some(Hasher::new(algorithm)), closed: false };
        let entry = SessionEntry::new(repo.to_string(), state, now);
        {
            // Counted and reserved under one lock, so concurrent starts cannot overshoot the cap.
            let mut uploads = lock(&self.uploads);
            let open = uploads.values().filter(|e| e.repo == repo).count();
            let cap = self.config.max_uploads_per_repository;
            if open >= cap {
                return Err(RegistryError::LimitExceeded {
                    reason: format!(
                        "repository '{repo}' already has {open} uploads in progress, the most it may have ({cap}); \
                         finish or cancel one, or wait for idle ones to expire"
                    ),
                });
            }
            uploads.insert(id.clone(), entry);
        }
        if let Err(e) = self.blobs.upload_create(&id, info).await {
            lock(&self.uploads).remove(&id);
            return Err(e.into());
        }
        Ok(UploadStatus { id, offset: 0 })
    }

    fn session(&self, repo: &str, id: &str) -> Result<Arc<SessionEntry>> {
        let unknown = || RegistryError::UploadUnknown { id: id.to_string() };
        if !is_valid_upload_id(id) {
            return Err(unknown());
        }
        let entry = lock(&self.uploads).get(id).cloned().ok_or_else(unknown)?;
        // A session of another repository is unknown here (no probing other repositories' uploads).
        if entry.repo != repo {
            return Err(unknown());
        }
        entry.touch(self.now());
        Ok(entry)
    }

    /// Where an upload stands.
    pub async fn upload_status(&self, repo: &str, id: &str) -> Result<UploadStatus> {
        let entry = self.session(repo, id)?;
        let s = entry.state.lock().await;
        if s.closed {
            return Err(RegistryError::UploadUnknown { id: id.to_string() });
        }
        Ok(UploadStatus { id: id.to_string(), offset: s.offset })
    }

    /// Appends a chunk to an upload.
    pub async fn upload_append(&self, repo: &str, id: &str, chunk: Chunk) -> Result<UploadStatus> {
        let entry = self.session(repo, id)?;
        let mut s = entry.state.lock().await;
        self.append_locked(&entry, &mut s, id, chunk).await?;
        Ok(UploadStatus { id: id.to_string(), offset: s.offset })
    }

    async fn append_locked(
        &self,
        entry: &Arc<SessionEntry>,
        s: &mut UploadSession,
        id: &str,
        chunk: Chunk,
    ) -> Result<()> {
        if s.closed {
            return Err(RegistryError::UploadUnknown { id: id.to_string() });
        }
        if let Some(start) = chunk.start
            && start != s.offset
        {
            return Err(RegistryError::RangeInvalid {
                id: id.to_string(),
                offset: s.offset,
                reason: format!("the chunk starts at {start}, not at the end of the upload"),
            });
        }
        let body = match chunk.len {
            Some(len) => exact_length(chunk.body, len),
            None => chunk.body,
        };
        let body: ByteStream = Box::pin(Activity { inner: body, entry: entry.clone(), clock: self.clock.clone() });
        let hasher = s.hasher.clone();
        let appended = tokio::select! {
            appended = self.blobs.upload_append(id, s.offset, body, hasher, self.config.max_blob_bytes) => appended,
            // The session expired while its body stalled: it is being deleted.
            () = entry.cancel.cancelled() => return Err(RegistryError::UploadUnknown { id: id.to_string() }),
        };
        entry.touch(self.now());
        match appended {
            Ok(a) => {
                s.offset = a.len;
                s.hasher = a.hasher;
                Ok(())
            }
            Err(StorageError::OffsetMismatch { actual, .. }) => {
                // Storage is the truth about the length (e.g. after a crash mid-chunk); resync and re-hash later.
                s.offset = actual;
                s.hasher = None;
                Err(RegistryError::RangeInvalid {
                    id: id.to_string(),
                    offset: actual,
                    reason: "the upload's stored length changed".into(),
                })
            }
            Err(StorageError::Body { received, source }) => Err(RegistryError::SizeInvalid {
                reason: format!("the chunk failed after {received} bytes and was discarded: {source}"),
            }),
            Err(StorageError::TooLarge { limit }) => {
                Err(RegistryError::SizeInvalid { reason: format!("the blob exceeds the limit of {limit} bytes") })
            }
            Err(StorageError::UploadUnknown { .. }) => Err(RegistryError::UploadUnknown { id: id.to_string() }),
            Err(e) => Err(e.into()),
        }
    }

    /// Finishes an upload: appends the final chunk if any, verifies `digest`, and commits the blob. A digest
    /// mismatch discards the whole upload.
    pub async fn upload_finish(
        &self,
        repo: &str,
        id: &str,
        digest: &Digest,
        last: Option<Chunk>,
        allow_empty: bool,
    ) -> Result<CommittedBlob> {
        let entry = self.session(repo, id)?;
        let mut s = entry.state.lock().await;
        if let Some(chunk) = last {
            self.append_locked(&entry, &mut s, id, chunk).await?;
        }
        if s.offset == 0 && !allow_empty {
            return Err(RegistryError::EmptyUpload { id: id.to_string() });
        }
        let actual = match s.hasher.take() {
            Some(h) if h.algorithm() == digest.algorithm() => h.finish(),
            _ => self.blobs.upload_hash(id, digest.algorithm()).await?,
        };
        if &actual != digest {
            s.closed = true;
            drop(s);
            self.forget_upload(id).await;
            return Err(RegistryError::DigestMismatch { expected: digest.to_string(), actual: actual.to_string() });
        }
        let _gc = self.gc_lock.read().await;
        self.touch(&digest.to_string());
        let size = self.blobs.upload_commit(id, digest).await?;
        s.closed = true;
        drop(s);
        lock(&self.uploads).remove(id);
        self.link_blob(repo, digest, size).await?;
        Ok(CommittedBlob { digest: digest.clone(), size })
    }

    /// Cancels an upload.
    pub async fn upload_cancel(&self, repo: &str, id: &str) -> Result<()> {
        let entry = self.session(repo, id)?;
        let mut s = entry.state.lock().await;
        s.closed = true;
        drop(s);
        self.forget_upload(id).await;
        Ok(())
    }

    async fn forget_upload(&self, id: &str) {
        lock(&self.uploads).remove(id);
        if let Err(e) = self.blobs.upload_delete(id).await {
            tracing::warn!(upload = id, error = %e, "could not delete an upload");
        }
    }

    /// Records that `repo` may serve blob `digest` (after an upload or a mount).
    pub(crate) async fn link_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<()> {
        let key = Key::Link(repo.to_string(), digest.to_string()).render();
        let record = LinkRecord { size, linked_at: self.now() };
        let value = serde_json::to_vec(&record).map_err(|source| RegistryError::Record { key: key.clone(), source })?;
        let repo_key = Key::Repo(repo.to_string()).render();
        let repo_rev = self.index.read().repo(repo).and_then(|r| r.record.as_ref().map(|(_, rev)| *rev));
        let Some(repo_rev) = repo_rev else {
            return Err(RegistryError::RepositoryNotFound { name: repo.to_string() });
        };
        match self.store.txn(Txn::new().expect(repo_key, repo_rev).put(key, value)).await? {
            TxnOutcome::Committed { revision } => {
                self.index.wait_for(revision).await;
                Ok(())
            }
            TxnOutcome::Conflict { actual_revision: 0, .. } => {
                Err(RegistryError::RepositoryNotFound { name: repo.to_string() })
            }
            // The repository record changed (a setting, not a deletion): linking does not depend on it.
            TxnOutcome::Conflict { .. } => {
                let key = Key::Link(repo.to_string(), digest.to_string()).render();
                let value =
                    serde_json::to_vec(&record).map_err(|source| RegistryError::Record { key: key.clone(), source })?;
                let TxnOutcome::Committed { revision } = self.store.txn(Txn::new().put(key, value)).await? else {
                    return Err(RegistryError::Contention { what: "blob link".into() });
                };
                self.index.wait_for(revision).await;
                Ok(())
            }
        }
    }

    /// Mounts blob `digest` from repository `from` into `repo`; `None` if `from` does not hold it.
    pub async fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> Result<Option<u64>> {
        self.require_repo(repo)?;
        let visible = self.index.read().repo(from).is_some_and(|r| r.has_blob(&digest.to_string()));
        if !visible {
            return Ok(None);
        }
        let _gc = self.gc_lock.read().await;
        self.touch(&digest.to_string());
        let Some(size) = self.blobs.stat(digest).await? else { return Ok(None) };
        self.link_blob(repo, digest, size).await?;
        Ok(Some(size))
    }

    /// Reloads upload sessions left in storage by a previous process (they continue, re-hashed at the end). A
    /// session's idle time runs from its last write, not from the restart, so restarts do not keep it alive.
    pub(crate) async fn restore_uploads(&self) -> Result<()> {
        let now = self.now();
        for stored in self.blobs.upload_list().await? {
            let Ok(info) = serde_json::from_slice::<UploadInfo>(&stored.info) else {
                let _ = self.blobs.upload_delete(&stored.id).await;
                continue;
            };
            let last_active = stored.modified.unwrap_or(now).min(now).max(info.started_at.min(now));
            let state = UploadSession { offset: stored.len, hasher: None, closed: false };
            lock(&self.uploads).insert(stored.id, SessionEntry::new(info.repo, state, last_active));
        }
        Ok(())
    }

    /// Deletes sessions that received no request and no byte for longer than `upload_ttl`, cancelling a chunk
    /// stalled mid-body; returns how many.
    pub async fn expire_uploads(&self) -> Result<usize> {
        let cutoff = self.now() - self.config.upload_ttl.as_secs_f64();
        let stale: Vec<(String, Arc<SessionEntry>)> = lock(&self.uploads)
            .iter()
            .filter(|(_, e)| e.last_active() < cutoff)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut expired = 0;
        for (id, entry) in stale {
            entry.cancel.cancel();
            // A stalled append lets go of the lock as soon as it sees the cancellation.
            let mut s = entry.state.lock().await;
            if s.closed {
                continue; // finished or cancelled meanwhile
            }
            s.closed = true;
            drop(s);
            self.forget_upload(&id).await;
            expired += 1;
        }
        Ok(expired)
    }

    /// The number of live upload sessions.
    pub fn upload_count(&self) -> usize {
        lock(&self.uploads).len()
    }
}

#[cfg(test)]
mod tests;
