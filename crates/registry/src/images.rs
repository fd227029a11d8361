//! Manifests and tags: push (with blob checks, tag immutability and compare-and-swap), lookup, deletion, and
//! pull-time recording. Shared by the OCI API and ECR's PutImage / BatchGetImage / BatchDeleteImage.

use crate::Registry;
use crate::digest::Digest;
use crate::error::{RegistryError, Result};
use crate::lock;
use crate::manifest::{self, ManifestKind};
use crate::meta::records::{BlobRef, ImageRecord, PullRecord, RepositoryRecord, TagRecord};
use crate::meta::{ImageEntry, Key};
use crate::names;
use berth_model::ecr::{ImageTagMutability, ImageTagMutabilityExclusionFilter};
use berth_store::{Txn, TxnOutcome};
use std::collections::BTreeSet;

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

impl Reference {
    /// Parses a URL reference: a digest if it has `:`, else a tag (validated with the OCI grammar).
    pub fn parse(reference: &str) -> Result<Self> {
        if reference.contains(':') {
            Ok(Reference::Digest(Digest::parse(reference)?))
        } else if let Some(reason) = names::tag_problem(reference, names::MAX_OCI_TAG) {
            Err(RegistryError::InvalidTag { reason })
        } else {
            Ok(Reference::Tag(reference.to_string()))
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// What a manifest push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// The subject digest, if the manifest has one.
    pub subject: Option<String>,
    /// The tags that now point at it.
    pub tags: Vec<String>,
}

/// How strict a push is about repeating itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// OCI: pushing the same manifest again succeeds.
    Idempotent,
    /// ECR PutImage: pushing the same manifest with no new tag is `ImageAlreadyExistsException`.
    RejectUnchanged,
    /// A pull-through cache storing what the upstream sent: the blobs and child manifests may not be here yet
    /// (they are fetched when asked for), and each tag is rewritten with the time of the upstream check.
    PullThrough,
}

/// Whether `tag` may be moved, under the repository's mutability setting.
pub fn tag_is_immutable(
    mutability: ImageTagMutability,
    filters: &[ImageTagMutabilityExclusionFilter],
    tag: &str,
) -> bool {
    let excluded = || filters.iter().any(|f| names::wildcard_match(&f.filter, tag));
    match mutability {
        ImageTagMutability::Mutable => false,
        ImageTagMutability::Immutable => true,
        ImageTagMutability::ImmutableWithExclusion => !excluded(),
        ImageTagMutability::MutableWithExclusion => excluded(),
    }
}

const MAX_CAS_ATTEMPTS: usize = 16;

impl Registry {
    /// Stores a manifest in `repo`, pointing `tags` at it. `reference`, when a digest, must match the content.
    pub async fn put_manifest(
        &self,
        repo: &str,
        bytes: &[u8],
        content_type: Option<&str>,
        digest_reference: Option<&Digest>,
        tags: &[String],
        mode: PushMode,
    ) -> Result<PushOutcome> {
        self.require_repo(repo)?;
        let parsed = manifest::parse(bytes, content_type)?;
        if let Some(expected) = digest_reference
            && expected != &parsed.digest
        {
            // Manifests are addressed by sha256 (their identity in ECR), so any other reference cannot match.
            return Err(RegistryError::DigestMismatch {
                expected: expected.to_string(),
                actual: parsed.digest.to_string(),
            });
        }
        let digest = parsed.digest.to_string();
        let text = std::str::from_utf8(bytes)
            .map_err(|_| manifest::ManifestError::Invalid { reason: "manifest is not UTF-8".into() })?
            .to_string();

        let _gc = self.gc_lock.read().await;
        let mut blob_refs = Vec::new();
        for blob in parsed.required_blobs() {
            let blob_digest = Digest::parse(&blob.digest)?;
            let known = self.index.read().repo(repo).is_some_and(|r| r.has_blob(&blob.digest));
            let stored = if known { self.blobs.stat(&blob_digest).await? } else { None };
            let stored = if mode == PushMode::PullThrough { stored.or(Some(blob.size.max(0) as u64)) } else { stored };
            let Some(size) = stored else {
                return Err(RegistryError::ManifestBlobUnknown { name: repo.to_string(), digest: blob.digest.clone() });
            };
            if size as i64 != blob.size {
                return Err(manifest::ManifestError::Invalid {
                    reason: format!("blob {} is {size} bytes, but the manifest says {}", blob.digest, blob.size),
                }
                .into());
            }
            self.touch(&blob.digest);
            blob_refs.push(BlobRef {
                digest: blob.digest.clone(),
                size: blob.size,
                media_type: blob.media_type.clone(),
            });
        }
        if parsed.kind == ManifestKind::Index && mode != PushMode::PullThrough {
            let state = self.index.read();
            let entry = state.repo(repo);
            for child in &parsed.manifests {
                if !entry.is_some_and(|r| r.images.contains_key(&child.digest)) {
                    return Err(RegistryError::ReferencedManifestUnknown {
                        name: repo.to_string(),
                        digest: child.digest.clone(),
                    });
                }
            }
        }
        let record = ImageRecord {
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
            manifest: text,
            pushed_at: self.now(),
            size: parsed.content_size(bytes.len()),
            config_media_type: parsed.config.as_ref().map(|c| c.media_type.clone()),
            blobs: blob_refs,
            children: parsed.manifests.iter().map(|m| m.digest.clone()).collect(),
            subject: parsed.subject.as_ref().map(|s| s.digest.clone()),
            artifact_type: parsed.effective_artifact_type(),
            annotations: parsed.annotations.clone(),
            status: None,
            last_archived_at: None,
            last_activated_at: None,
        };
        let image_key = Key::Image(repo.to_string(), digest.clone()).render();
        let image_value =
            serde_json::to_vec(&record).map_err(|source| RegistryError::Record { key: image_key.clone(), source })?;
        let tags: Vec<String> = tags.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();

        for _ in 0..MAX_CAS_ATTEMPTS {
            let mut txn = Txn::new();
            let mut changed = false;
            {
                let state = self.index.read();
                let entry = state.existing_repo(repo)?;
                let (repo_record, repo_rev) = entry
                    .record
                    .as_ref()
                    .map(|(r, rev)| (r.clone(), *rev))
                    .ok_or_else(|| RegistryError::RepositoryNotFound { name: repo.to_string() })?;
                txn = txn.expect(Key::Repo(repo.to_string()).render(), repo_rev);
                match entry.images.get(&digest) {
                    Some(existing) if !existing.record.is_pullable() && mode != PushMode::PullThrough => {
                        // Pushing an archived image again restores it, as in ECR.
                        let restored = crate::storage_class::restored(&existing.record, self.now());
                        let value = serde_json::to_vec(&restored)
                            .map_err(|source| RegistryError::Record { key: image_key.clone(), source })?;
                        txn = txn.expect(image_key.clone(), existing.revision).put(image_key.clone(), value);
                        changed = true;
                    }
                    Some(existing) => txn = txn.expect(image_key.clone(), existing.revision),
                    None => {
                        txn = txn.expect(image_key.clone(), 0).put(image_key.clone(), image_value.clone());
                        changed = true;
                    }
                }
                for tag in &tags {
                    let tag_key = Key::Tag(repo.to_string(), tag.clone()).render();
                    match entry.tags.get(tag) {
                        Some((current, rev)) if current == &digest => {
                            if mode == PushMode::PullThrough {
                                txn = txn.expect(tag_key.clone(), *rev).put(tag_key, self.tag_value(&digest, mode)?);
                                changed = true;
                            }
                        }
                        Some((_, rev)) => {
                            if is_immutable(&repo_record, tag) {
                                return Err(RegistryError::TagImmutable { name: repo.to_string(), tag: tag.clone() });
                            }
                            txn = txn.expect(tag_key.clone(), *rev).put(tag_key, self.tag_value(&digest, mode)?);
                            changed = true;
                        }
                        None => {
                            txn = txn.expect(tag_key.clone(), 0).put(tag_key, self.tag_value(&digest, mode)?);
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                if mode == PushMode::RejectUnchanged {
                    return Err(RegistryError::ImageAlreadyExists {
                        name: repo.to_string(),
                        digest,
                        tag: tags.first().cloned().unwrap_or_default(),
                    });
                }
                return Ok(self.push_outcome(parsed, tags));
            }
            match self.store.txn(txn).await? {
                TxnOutcome::Committed { revision } => {
                    self.index.wait_for(revision).await;
                    let outcome = self.push_outcome(parsed, tags);
                    self.after_push(repo, &outcome);
                    if mode != PushMode::PullThrough {
                        self.sign_after_push(repo, &outcome).await;
                    }
                    if mode != PushMode::PullThrough {
                        // Pull-through cache fills are not replicated: the destination can fill from the upstream.
                        self.replicate_after_push(repo, &outcome.digest.to_string());
                    }
                    return Ok(outcome);
                }
                TxnOutcome::Conflict { actual_revision, .. } => self.index.wait_for(actual_revision).await,
            }
        }
        Err(RegistryError::Contention { what: format!("manifest {digest} in {repo}") })
    }

    fn push_outcome(&self, parsed: manifest::Manifest, tags: Vec<String>) -> PushOutcome {
        PushOutcome {
            digest: parsed.digest,
            media_type: parsed.media_type,
            subject: parsed.subject.map(|s| s.digest),
            tags,
        }
    }

    fn tag_value(&self, digest: &str, mode: PushMode) -> Result<Vec<u8>> {
        let now = self.now();
        let checked = (mode == PushMode::PullThrough).then_some(now);
        let record = TagRecord { digest: digest.to_string(), updated_at: now, upstream_checked_at: checked };
        serde_json::to_vec(&record).map_err(|source| RegistryError::Record { key: digest.to_string(), source })
    }

    fn after_push(&self, repo: &str, outcome: &PushOutcome) {
        let own = self.index.read().repo(repo).and_then(|r| r.record.as_ref().map(|(rec, _)| rec.scan_on_push));
        // The repository's own flag, or a registry scanning rule matching the repository, as ECR does.
        if own == Some(true) || (own.is_some() && self.settings().scans_on_push(repo)) {
            let (repo, digest) = (repo.to_string(), outcome.digest.to_string());
            self.spawn(move |registry| async move { registry.scan_on_push(&repo, &digest).await });
        }
    }

    /// Looks up a manifest by tag or digest.
    pub fn get_manifest(&self, repo: &str, reference: &Reference) -> Result<ImageEntry> {
        let state = self.index.read();
        let entry = state.existing_repo(repo)?;
        let digest = match reference {
            Reference::Tag(tag) => entry.tags.get(tag).map(|(d, _)| d.clone()),
            Reference::Digest(d) => Some(d.to_string()),
        };
        digest
            .and_then(|d| entry.images.get(&d).cloned())
            .ok_or_else(|| RegistryError::ManifestUnknown { name: repo.to_string(), reference: reference.to_string() })
    }

    /// Notes a pull of an image by `principal` (flushed to the store in the background, for
    /// `lastRecordedPullTime`), unless the principal is excluded from pull-time updates.
    pub(crate) fn record_pull(&self, repo: &str, digest: &str, principal: &str) {
        if self.settings().pull_excluded(principal) {
            return;
        }
        let now = self.now();
        lock(&self.pending_pulls).insert((repo.to_string(), digest.to_string()), now);
    }

    /// The last pull of an image: pending in memory, else as recorded in the store.
    pub(crate) fn last_pull(&self, repo: &str, digest: &str, recorded: Option<f64>) -> Option<f64> {
        let pending = lock(&self.pending_pulls).get(&(repo.to_string(), digest.to_string())).copied();
        match (pending, recorded) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes pending pull times to the store; returns how many.
    pub async fn flush_pulls(&self) -> Result<usize> {
        let pending: Vec<((String, String), f64)> = lock(&self.pending_pulls).drain().collect();
        let mut txn = Txn::new();
        let mut n = 0;
        for ((repo, digest), at) in pending {
            let exists = self.index.read().repo(&repo).is_some_and(|r| r.images.contains_key(&digest));
            if !exists {
                continue;
            }
            let key = Key::Pull(repo, digest).render();
            let value = serde_json::to_vec(&PullRecord { at })
                .map_err(|source| RegistryError::Record { key: key.clone(), source })?;
            txn = txn.put(key, value);
            n += 1;
        }
        if n > 0
            && let TxnOutcome::Committed { revision } = self.store.txn(txn).await?
        {
            self.index.wait_for(revision).await;
        }
        Ok(n)
    }

    /// Deletes a manifest and every tag pointing at it (with its scan and pull records).
    pub async fn delete_manifest(&self, repo: &str, digest: &str) -> Result<()> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let txn = {
                let state = self.index.read();
                let entry = state.existing_repo(repo)?;
                let image = entry.images.get(digest).ok_or_else(|| RegistryError::ManifestUnknown {
                    name: repo.to_string(),
                    reference: digest.to_string(),
                })?;
                if let Some(index) = entry.images.values().find(|i| i.record.children.iter().any(|c| c == digest)) {
                    return Err(RegistryError::ReferencedByIndex {
                        name: repo.to_string(),
                        digest: digest.to_string(),
                        index: index.record.digest.clone(),
                    });
                }
                let image_key = Key::Image(repo.to_string(), digest.to_string()).render();
                let mut txn = Txn::new().expect(image_key.clone(), image.revision).delete(image_key);
                for tag in entry.tags_for(digest) {
                    let rev = entry.tags.get(&tag).map(|(_, r)| *r).unwrap_or(0);
                    let key = Key::Tag(repo.to_string(), tag).render();
                    txn = txn.expect(key.clone(), rev).delete(key);
                }
                txn.delete(Key::Scan(repo.to_string(), digest.to_string()).render())
                    .delete(Key::Pull(repo.to_string(), digest.to_string()).render())
            };
            match self.store.txn(txn).await? {
                TxnOutcome::Committed { revision } => {
                    lock(&self.pending_pulls).remove(&(repo.to_string(), digest.to_string()));
                    self.index.wait_for(revision).await;
                    return Ok(());
                }
                TxnOutcome::Conflict { actual_revision, .. } => self.index.wait_for(actual_revision).await,
            }
        }
        Err(RegistryError::Contention { what: format!("deleting {digest} in {repo}") })
    }

    /// Removes a tag (the manifest stays, untagged); returns the digest it pointed at.
    pub async fn delete_tag(&self, repo: &str, tag: &str) -> Result<String> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (digest, rev) = {
                let state = self.index.read();
                let entry = state.existing_repo(repo)?;
                entry.tags.get(tag).cloned().ok_or_else(|| RegistryError::ManifestUnknown {
                    name: repo.to_string(),
                    reference: tag.to_string(),
                })?
            };
            let key = Key::Tag(repo.to_string(), tag.to_string()).render();
            match self.store.txn(Txn::new().expect(key.clone(), rev).delete(key)).await? {
                TxnOutcome::Committed { revision } => {
                    self.index.wait_for(revision).await;
                    return Ok(digest);
                }
                TxnOutcome::Conflict { actual_revision, .. } => self.index.wait_for(actual_revision).await,
            }
        }
        Err(RegistryError::Contention { what: format!("deleting tag {tag} in {repo}") })
    }
}

fn is_immutable(record: &RepositoryRecord, tag: &str) -> bool {
    tag_is_immutable(record.image_tag_mutability, &record.exclusion_filters, tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecr::ImageTagMutabilityExclusionFilterType;

    fn filter(f: &str) -> ImageTagMutabilityExclusionFilter {
        ImageTagMutabilityExclusionFilter {
            filter_type: ImageTagMutabilityExclusionFilterType::Wildcard,
            filter: f.into(),
        }
    }

    #[test]
    fn mutability_modes_and_exclusions() {
        let filters = [filter("dev-*"), filter("latest")];
        assert!(!tag_is_immutable(ImageTagMutability::Mutable, &filters, "v1"));
        assert!(tag_is_immutable(ImageTagMutability::Immutable, &filters, "dev-1"));
        assert!(tag_is_immutable(ImageTagMutability::ImmutableWithExclusion, &filters, "v1"));
        assert!(!tag_is_immutable(ImageTagMutability::ImmutableWithExclusion, &filters, "dev-1"));
        assert!(!tag_is_immutable(ImageTagMutability::ImmutableWithExclusion, &filters, "latest"));
        assert!(!tag_is_immutable(ImageTagMutability::MutableWithExclusion, &filters, "v1"));
        assert!(tag_is_immutable(ImageTagMutability::MutableWithExclusion, &filters, "dev-7"));
    }

    #[test]
    fn references_parse_as_tag_or_digest() {
        assert_eq!(Reference::parse("latest").unwrap(), Reference::Tag("latest".into()));
        let d = format!("sha256:{}", "0".repeat(64));
        assert_eq!(Reference::parse(&d).unwrap(), Reference::Digest(Digest::parse(&d).unwrap()));
        assert!(matches!(Reference::parse("sha256:xyz"), Err(RegistryError::InvalidDigest(_))));
        assert!(matches!(Reference::parse("-bad"), Err(RegistryError::InvalidTag { .. })));
    }
}
