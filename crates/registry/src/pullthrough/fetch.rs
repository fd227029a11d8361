//! The pull path of a pull-through cache: a manifest or blob GET on a repository a rule covers fetches what is
//! missing (or, for a tag, what was last checked more than `pull_through_recheck` ago) from the upstream and stores
//! it, so the normal read path serves it.
//!
//! - **Manifests** are fetched whole (they are small), stored with [`PushMode::PullThrough`] (their blobs need not
//!   be here yet) and their tag records carry the time of the upstream check. A tag is checked upstream at most
//!   once per `pull_through_recheck` (24 h, as ECR does); when the upstream fails, what is cached is served.
//! - **Blobs** are streamed: each upstream chunk goes both to an upload file and to the client, hashed on the way.
//!   The last chunk is held back until the digest and length are verified, so a client never receives a complete
//!   body for a blob that did not verify; a mismatch discards the upload (nothing is stored) and breaks the client's
//!   body. A client that goes away does not stop the caching.

use super::rules::{RuleRecord, UpstreamCredentials};
use super::upstream::{MANIFEST_ACCEPT, Target, UpstreamError};
use super::{SecretProblem, UpstreamSecrets};
use crate::Registry;
use crate::digest::{Digest, Hasher};
use crate::error::{RegistryError, Result};
use crate::images::{PushMode, Reference};
use crate::manifest::MAX_MANIFEST_BYTES;
use crate::meta::records::RepositoryRecord;
use crate::storage::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Arc;

/// What a blob GET streams to the client.
pub(crate) struct StreamedBlob {
    /// The blob's size, if the upstream said.
    pub len: Option<u64>,
    /// The bytes, as they arrive.
    pub stream: ByteStream,
}

/// Why a rule's credentials could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CredentialProblem {
    /// The secret could not be read.
    Secret(SecretProblem),
    /// The secret is not `{"username": ..., "accessToken": ...}`.
    Malformed(String),
}

impl std::fmt::Display for CredentialProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialProblem::Secret(SecretProblem::NotFound(m) | SecretProblem::Unreadable(m)) => f.write_str(m),
            CredentialProblem::Malformed(m) => f.write_str(m),
        }
    }
}

impl Registry {
    /// Sets who reads the Secrets Manager secrets of pull-through rules.
    pub fn set_upstream_secrets(&self, secrets: Arc<dyn UpstreamSecrets>) {
        *self.upstream_secrets.write().unwrap_or_else(|p| p.into_inner()) = Some(secrets);
    }

    /// Reads a rule's secret, if it names one.
    /// The upstream repository a cached repository `name` mirrors under `rule`, and the rule's credentials.
    async fn upstream_of(&self, rule: &RuleRecord, name: &str) -> Result<(String, Option<UpstreamCredentials>)> {
        let upstream_repo = rule
            .upstream_repository(name)
            .ok_or_else(|| RegistryError::RepositoryNotFound { name: name.to_string() })?;
        let credentials = self
            .rule_credentials(rule.credential_arn.as_deref())
            .await
            .map_err(|e| RegistryError::Upstream { reason: e.to_string() })?;
        Ok((upstream_repo, credentials))
    }

    pub(crate) async fn rule_credentials(
        &self,
        credential_arn: Option<&str>,
    ) -> std::result::Result<Option<UpstreamCredentials>, CredentialProblem> {
        let Some(arn) = credential_arn.filter(|a| !a.is_empty()) else { return Ok(None) };
        let secrets = self.upstream_secrets.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(secrets) = secrets else {
            return Err(CredentialProblem::Secret(SecretProblem::Unreadable(
                "this registry runs without Secrets Manager, so it cannot read upstream credentials".into(),
            )));
        };
        let text = secrets.read(arn).await.map_err(CredentialProblem::Secret)?;
        serde_json::from_str::<UpstreamCredentials>(&text).map(Some).map_err(|_| {
            CredentialProblem::Malformed(format!(
                "the secret {arn} must be a JSON object with the string members \"username\" and \"accessToken\""
            ))
        })
    }

    /// Makes sure the manifest `reference` of repository `name` is cached when a pull-through rule covers `name`:
    /// fetches it from the upstream if it is missing, or if it is a tag last checked `pull_through_recheck` ago or
    /// more. Does nothing for repositories no rule covers. An upstream failure is an error only when nothing is
    /// cached.
    pub(crate) async fn pull_through_manifest(&self, name: &str, reference: &str, access_key: &str) -> Result<()> {
        let Some(rule) = self.pull_through_rule(name) else { return Ok(()) };
        let Ok(reference) = Reference::parse(reference) else { return Ok(()) };
        let now = self.now();
        let (cached, checked_at) = {
            let state = self.index.read();
            match state.repo(name) {
                Some(entry) => match &reference {
                    Reference::Tag(t) => (entry.tags.contains_key(t), entry.upstream_checks.get(t).copied()),
                    Reference::Digest(d) => (entry.images.contains_key(&d.to_string()), None),
                },
                None => (false, None),
            }
        };
        if cached {
            let fresh = checked_at.is_some_and(|at| now - at < self.config.pull_through_recheck.as_secs_f64());
            if matches!(reference, Reference::Digest(_)) || fresh {
                return Ok(());
            }
        }
        if let Err(e) = self.check_access(access_key, "ecr:BatchImportUpstreamImage", Some(name)) {
            return if cached { Ok(()) } else { Err(e) };
        }
        let fetched = self.fetch_upstream_manifest(&rule, name, &reference).await;
        let (bytes, content_type) = match fetched {
            Ok(found) => found,
            Err(e) if cached => {
                tracing::warn!(repository = name, %reference, error = %e, "upstream check failed; serving the cached image");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.ensure_cache_repository(name, access_key).await?;
        let (digest_reference, tags) = match &reference {
            Reference::Digest(d) => (Some(d), Vec::new()),
            Reference::Tag(t) => (None, vec![t.clone()]),
        };
        match self
            .put_manifest(name, &bytes, content_type.as_deref(), digest_reference, &tags, PushMode::PullThrough)
            .await
        {
            Ok(_) => Ok(()),
            Err(RegistryError::TagImmutable { .. }) if cached => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn fetch_upstream_manifest(
        &self,
        rule: &RuleRecord,
        name: &str,
        reference: &Reference,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let (upstream_repo, credentials) = self.upstream_of(rule, name).await?;
        let base = rule.base_url();
        let target = Target { base: &base, repository: Some(&upstream_repo), credentials: credentials.as_ref() };
        let unknown = || RegistryError::ManifestUnknown { name: name.to_string(), reference: reference.to_string() };
        let mut response =
            self.upstream.get(&target, &format!("manifests/{reference}"), Some(MANIFEST_ACCEPT)).await.map_err(
                |e| match e {
                    UpstreamError::NotFound { .. } => unknown(),
                    other => RegistryError::Upstream { reason: other.to_string() },
                },
            )?;
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_MANIFEST_BYTES {
                        return Err(RegistryError::Upstream {
                            reason: format!("the upstream manifest is larger than {MAX_MANIFEST_BYTES} bytes"),
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(RegistryError::Upstream { reason: format!("the upstream manifest broke off: {e}") });
                }
            }
        }
        Ok((bytes, content_type))
    }

    /// Creates a pull-through cache repository on its first pull (the caller needs `ecr:CreateRepository`), from
    /// the longest matching PULL_THROUGH_CACHE creation template if one matches.
    async fn ensure_cache_repository(&self, name: &str, access_key: &str) -> Result<()> {
        if self.index.read().repo(name).is_some() {
            return Ok(());
        }
        self.check_access(access_key, "ecr:CreateRepository", Some(name))?;
        let record = self
            .templated_repository(name, crate::templates::AppliedFor::PullThroughCache)
            .unwrap_or_else(|| RepositoryRecord::with_defaults(name, berth_model::clock::to_millis(self.now())));
        match self.create_repository(record).await {
            Ok(_) | Err(RegistryError::RepositoryAlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Streams blob `digest` of repository `name` from the upstream while storing it, when a pull-through rule
    /// covers `name`, the repository exists (its first manifest pull created it) and the blob is not stored here.
    /// `None` when no rule covers `name`.
    pub(crate) async fn pull_through_blob(
        &self,
        name: &str,
        digest: &Digest,
        access_key: &str,
    ) -> Result<Option<StreamedBlob>> {
        let Some(rule) = self.pull_through_rule(name) else { return Ok(None) };
        self.require_repo(name)?;
        self.check_access(access_key, "ecr:BatchImportUpstreamImage", Some(name))?;
        let (upstream_repo, credentials) = self.upstream_of(&rule, name).await?;
        let base = rule.base_url();
        let target = Target { base: &base, repository: Some(&upstream_repo), credentials: credentials.as_ref() };
        let response = self.upstream.get(&target, &format!("blobs/{digest}"), None).await.map_err(|e| match e {
            UpstreamError::NotFound { .. } => {
                RegistryError::BlobUnknown { name: name.to_string(), digest: digest.to_string() }
            }
            other => RegistryError::Upstream { reason: other.to_string() },
        })?;
        let len = response.content_length();
        if len.is_some_and(|l| l > self.config.max_blob_bytes) {
            return Err(RegistryError::Upstream {
                reason: format!("the upstream blob exceeds the limit of {} bytes", self.config.max_blob_bytes),
            });
        }
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        // Not an upload session's metadata: a restart deletes such a leftover instead of resuming it.
        self.blobs.upload_create(&id, br#"{"pullThrough":true}"#.to_vec()).await?;
        let (client_tx, client_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
        let (name, digest) = (name.to_string(), digest.clone());
        let upstream: ByteStream = Box::pin(response.bytes_stream().map(|r| r.map_err(std::io::Error::other)));
        self.spawn(move |registry| async move {
            registry.cache_blob(&name, &digest, &id, len, upstream, client_tx).await;
        });
        let stream: ByteStream = Box::pin(tokio_stream_from(client_rx));
        Ok(Some(StreamedBlob { len, stream }))
    }

    /// Copies an upstream blob into upload `id` and to the client, then verifies and commits it (or discards it).
    async fn cache_blob(
        &self,
        name: &str,
        digest: &Digest,
        id: &str,
        expected_len: Option<u64>,
        mut upstream: ByteStream,
        client: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    ) {
        let (store_tx, store_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
        let append =
            self.blobs.upload_append(id, 0, Box::pin(tokio_stream_from(store_rx)), None, self.config.max_blob_bytes);
        let pump = async {
            let mut hasher = Hasher::new(digest.algorithm());
            let mut held: Option<Bytes> = None;
            let mut total = 0u64;
            while let Some(chunk) = upstream.next().await {
                let chunk = chunk.map_err(|e| format!("the upstream transfer broke off after {total} bytes: {e}"))?;
                hasher.update(&chunk);
                total += chunk.len() as u64;
                if store_tx.send(Ok(chunk.clone())).await.is_err() {
                    return Err("storing the blob failed".to_string());
                }
                if let Some(previous) = held.replace(chunk) {
                    // A client that went away does not stop the caching.
                    let _ = client.send(Ok(previous)).await;
                }
            }
            drop(store_tx);
            Ok::<_, String>((hasher.finish(), total, held))
        };
        let (appended, pumped) = tokio::join!(append, pump);
        let verdict = match (appended, pumped) {
            (Err(e), _) => Err(format!("storing the blob failed: {e}")),
            (_, Err(e)) => Err(e),
            (Ok(_), Ok((actual, total, held))) => {
                if &actual != digest {
                    Err(format!("the upstream sent content with digest {actual}, not {digest}"))
                } else if expected_len.is_some_and(|l| l != total) {
                    Err(format!("the upstream sent {total} bytes, not the {} it announced", expected_len.unwrap_or(0)))
                } else {
                    Ok((total, held))
                }
            }
        };
        match verdict {
            Ok((total, held)) => {
                let committed = async {
                    let _gc = self.gc_lock.read().await;
                    self.touch(&digest.to_string());
                    let size = self.blobs.upload_commit(id, digest).await?;
                    self.link_blob(name, digest, size).await
                }
                .await;
                match committed {
                    Ok(()) => {
                        tracing::info!(repository = name, %digest, bytes = total, "pull-through cached a blob");
                        if let Some(last) = held {
                            let _ = client.send(Ok(last)).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(repository = name, %digest, error = %e, "pull-through could not store a blob");
                        let _ = self.blobs.upload_delete(id).await;
                        // The bytes verified: the client still gets them whole.
                        if let Some(last) = held {
                            let _ = client.send(Ok(last)).await;
                        }
                    }
                }
            }
            Err(reason) => {
                tracing::warn!(repository = name, %digest, %reason, "pull-through discarded a blob");
                let _ = self.blobs.upload_delete(id).await;
                let _ = client.send(Err(std::io::Error::other(reason))).await;
            }
        }
    }
}

/// A stream over an mpsc receiver.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> futures::stream::BoxStream<'static, T> {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
