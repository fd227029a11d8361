//! Signing on push: when an image is pushed to a repository a signing rule matches, each matching profile's key
//! signs it in the background, in the Notation and the cosign format, and the two signature artifacts are stored
//! in the same repository as referrers of the image (their `subject`). The state (IN_PROGRESS, then COMPLETE, or
//! FAILED with a code and a reason) is recorded per profile ([`super::status`]). Artifacts that have a subject
//! (signatures, attestations) are not signed themselves.

use super::status::{ProfileState, STATUS_PREFIX, StatusRecord};
use super::{SigningProfile, parse_profile_arn, profiles_for};
use crate::Registry;
use crate::digest::{Algorithm, Digest};
use crate::error::{RegistryError, Result};
use crate::images::{PushMode, PushOutcome};
use crate::uploads::Chunk;
use berth_model::ecr::SigningStatus;
use berth_signature::{Artifact, Descriptor, OCI_MANIFEST, cosign, notation};
use std::sync::Arc;

/// `failureCode` when the rule's profile is not configured on the server any more.
pub const PROFILE_NOT_FOUND: &str = "SIGNING_PROFILE_NOT_FOUND";
/// `failureCode` when making or storing a signature failed.
pub const SIGNING_FAILED: &str = "SIGNING_FAILED";

/// An image waiting to be signed with the profiles of the rules that matched its push.
#[derive(Debug)]
pub(crate) struct SignJob {
    repo: String,
    digest: String,
    arns: Vec<String>,
}

/// The queue from pushes to the signing worker.
#[derive(Debug)]
pub(crate) struct SigningQueue {
    tx: tokio::sync::mpsc::UnboundedSender<SignJob>,
    rx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<SignJob>>>,
}

impl Default for SigningQueue {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        SigningQueue { tx, rx: std::sync::Mutex::new(Some(rx)) }
    }
}

/// What signs, as the `io.cncf.notary.signingAgent` header says.
const SIGNING_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

impl Registry {
    /// Starts signing an image just pushed to `repo` with the profile of every matching signing rule, recording
    /// IN_PROGRESS before it returns (so a DescribeImageSigningStatus right after the push sees it).
    pub(crate) async fn sign_after_push(&self, repo: &str, outcome: &PushOutcome) {
        if outcome.subject.is_some() {
            return;
        }
        let settings = self.settings();
        let Some(config) = settings.signing.as_ref() else { return };
        let mut arns = profiles_for(config, repo);
        if arns.is_empty() {
            return;
        }
        let digest = outcome.digest.to_string();
        // An image pushed again (another tag, the same manifest) keeps the signatures it has or is getting.
        if let Ok(record) = self.signing_status(repo, &digest).await {
            arns.retain(|arn| record.profiles.get(arn).is_none_or(|s| s.status == SigningStatus::Failed));
        }
        if arns.is_empty() {
            return;
        }
        for arn in &arns {
            self.record_signing(repo, &digest, arn, SigningStatus::InProgress, None, Vec::new()).await;
        }
        if self.signing_queue.tx.send(SignJob { repo: repo.to_string(), digest, arns }).is_err() {
            tracing::error!(%repo, "the signing worker is not running");
        }
    }

    /// Starts the worker that signs the queued images one at a time (from [`Registry::open_with`]). The queue
    /// keeps a push from naming the signing's future, which pushes in turn. It stops with the registry.
    pub(crate) fn start_signing(self: &Arc<Self>) {
        let Some(mut jobs) = crate::lock(&self.signing_queue.rx).take() else { return };
        let registry = Arc::downgrade(self);
        let worker = tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                let Some(registry) = registry.upgrade() else { return };
                for arn in &job.arns {
                    registry.sign_with(&job.repo, &job.digest, arn).await;
                }
            }
        });
        crate::lock(&self.tasks).push(worker);
    }

    /// Signs again what was IN_PROGRESS when the registry last stopped (at start, from
    /// [`Registry::spawn_background`]).
    pub(crate) async fn resume_signing(self: Arc<Self>) {
        let range = match self.store.range(STATUS_PREFIX).await {
            Ok(range) => range,
            Err(e) => {
                tracing::error!(error = %e, "reading the signing statuses to resume failed");
                return;
            }
        };
        for kv in range.kvs {
            let Some((repo, digest)) = kv.key.strip_prefix(STATUS_PREFIX).and_then(|k| k.rsplit_once('@')) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<StatusRecord>(&kv.value) else { continue };
            for (arn, state) in record.profiles {
                if state.status == SigningStatus::InProgress {
                    tracing::info!(%repo, %digest, profile = %arn, "resuming an interrupted signing");
                    self.sign_with(repo, digest, &arn).await;
                }
            }
        }
    }

    /// Signs one image with one profile, stores both signatures and records the outcome.
    async fn sign_with(&self, repo: &str, digest: &str, arn: &str) {
        let name = parse_profile_arn(arn).map(|(_, _, _, name)| name).unwrap_or_default();
        let Some(profile) = self.config.signing_profiles.iter().find(|p| p.name == name).cloned() else {
            let reason = format!("the signing profile {name:?} is not configured on this Berth server");
            self.record_signing(
                repo,
                digest,
                arn,
                SigningStatus::Failed,
                Some((PROFILE_NOT_FOUND, reason)),
                Vec::new(),
            )
            .await;
            return;
        };
        match self.sign_and_store(repo, digest, &profile).await {
            Ok(signatures) => {
                tracing::info!(%repo, %digest, profile = %name, "image signed");
                self.record_signing(repo, digest, arn, SigningStatus::Complete, None, signatures).await;
            }
            Err(e) => {
                tracing::warn!(%repo, %digest, profile = %name, error = %e, "signing failed");
                let failure = Some((SIGNING_FAILED, e.to_string()));
                self.record_signing(repo, digest, arn, SigningStatus::Failed, failure, Vec::new()).await;
            }
        }
    }

    async fn sign_and_store(&self, repo: &str, digest: &str, profile: &SigningProfile) -> Result<Vec<String>> {
        let (media_type, size) = {
            let state = self.index.read();
            let entry = state.existing_repo(repo)?;
            let image = entry.images.get(digest).ok_or_else(|| RegistryError::ManifestUnknown {
                name: repo.to_string(),
                reference: digest.to_string(),
            })?;
            (image.record.media_type.clone(), image.manifest.len() as u64)
        };
        let subject =
            Descriptor { media_type, digest: digest.to_string(), size, annotations: None, artifact_type: None };
        let now = self.now() as i64;
        let failed = |e: berth_signature::SignatureError| RegistryError::InvalidParameter { reason: e.to_string() };
        let artifacts = [
            notation::sign(&profile.signer, &subject, now, SIGNING_AGENT).map_err(failed)?,
            cosign::sign(&profile.signer, &subject, &self.repository_uri(repo), now).map_err(failed)?,
        ];
        let mut stored = Vec::new();
        for artifact in artifacts {
            stored.push(self.store_artifact(repo, &artifact).await?);
        }
        Ok(stored)
    }

    /// Stores a signature artifact's blobs and then its manifest in `repo`; the manifest's digest.
    async fn store_artifact(&self, repo: &str, artifact: &Artifact) -> Result<String> {
        for (descriptor, content) in &artifact.blobs {
            let digest = Digest::parse(&descriptor.digest)?;
            let upload = self.upload_start(repo, Algorithm::Sha256).await?;
            let chunk = Chunk::bytes(None, bytes::Bytes::from(content.clone()));
            self.upload_finish(repo, &upload.id, &digest, Some(chunk), false).await?;
        }
        let outcome =
            self.put_manifest(repo, &artifact.manifest, Some(OCI_MANIFEST), None, &[], PushMode::Idempotent).await?;
        Ok(outcome.digest.to_string())
    }

    async fn record_signing(
        &self,
        repo: &str,
        digest: &str,
        arn: &str,
        status: SigningStatus,
        failure: Option<(&str, String)>,
        signatures: Vec<String>,
    ) {
        let (failure_code, failure_reason) = match failure {
            Some((code, reason)) => (Some(code.to_string()), Some(reason)),
            None => (None, None),
        };
        let state = ProfileState { status, failure_code, failure_reason, signatures, updated_at: self.now() };
        if let Err(e) = self.set_signing_state(repo, digest, arn, state).await {
            tracing::error!(%repo, %digest, profile = %arn, error = %e, "recording the signing status failed");
        }
    }
}
