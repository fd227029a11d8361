//! The asynchronous copy of a pushed image to each replication destination whose rule matches its repository:
//! log in to the destination Berth, create the repository there unless it exists, upload the blobs it lacks, put
//! the manifests (the images a manifest list names first), then the image's tags. A failed attempt is retried with
//! backoff ([`RETRY_DELAYS`]); the state (IN_PROGRESS, COMPLETE, or FAILED with the last reason) is recorded per
//! destination ([`super::status`]).

use super::client::DestinationClient;
use super::status::{DestinationState, STATUS_PREFIX, StatusRecord};
use super::{Destination, destinations_for};
use crate::Registry;
use crate::digest::Digest;
use crate::meta::ImageEntry;
use berth_model::ecr::{ReplicationDestination, ReplicationStatus};
use std::sync::Arc;
use std::time::Duration;

/// The pauses between attempts: four attempts in all over about 7 seconds before an image is FAILED.
pub const RETRY_DELAYS: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)];

/// The deepest nesting of manifest lists replication follows.
const MAX_DEPTH: usize = 2;

impl Registry {
    /// Starts replicating an image just pushed to `repo` to the destinations of every matching rule.
    pub(crate) fn replicate_after_push(&self, repo: &str, digest: &str) {
        let settings = self.settings();
        let Some(config) = settings.replication.as_ref() else { return };
        for target in destinations_for(config, repo) {
            let (repo, digest) = (repo.to_string(), digest.to_string());
            self.spawn(move |registry| async move { registry.replicate(&repo, &digest, &target).await });
        }
    }

    /// Restarts the replications that were IN_PROGRESS when the registry last stopped (at start, from
    /// [`Registry::spawn_background`]).
    pub(crate) async fn resume_replications(self: Arc<Self>) {
        let range = match self.store.range(STATUS_PREFIX).await {
            Ok(range) => range,
            Err(e) => {
                tracing::error!(error = %e, "reading the replication statuses to resume failed");
                return;
            }
        };
        for kv in range.kvs {
            let Some((repo, digest)) = kv.key.strip_prefix(STATUS_PREFIX).and_then(|k| k.rsplit_once('@')) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<StatusRecord>(&kv.value) else { continue };
            for (name, state) in record.destinations {
                let Some((region, registry_id)) = name.split_once(':') else { continue };
                if state.status != ReplicationStatus::InProgress {
                    continue;
                }
                let target =
                    ReplicationDestination { region: region.to_string(), registry_id: registry_id.to_string() };
                let (repo, digest) = (repo.to_string(), digest.to_string());
                tracing::info!(%repo, %digest, destination = %name, "resuming an interrupted replication");
                self.spawn(move |registry| async move { registry.replicate(&repo, &digest, &target).await });
            }
        }
    }

    /// Replicates one image to one destination, retrying, and records the outcome.
    async fn replicate(self: Arc<Self>, repo: &str, digest: &str, target: &ReplicationDestination) {
        let name = format!("{}:{}", target.region, target.registry_id);
        let mut failure: Option<String> = None;
        for attempt in 0..=RETRY_DELAYS.len() {
            self.record_state(repo, digest, &name, ReplicationStatus::InProgress, failure.clone(), attempt as u32)
                .await;
            let outcome = match self.destination(target) {
                Some(destination) => self.push_image(&destination, repo, digest).await,
                None => Err(format!(
                    "no Berth server is configured for the destination {name} (berth server --replication-destination)"
                )),
            };
            match outcome {
                Ok(()) => {
                    self.record_state(repo, digest, &name, ReplicationStatus::Complete, None, attempt as u32 + 1).await;
                    tracing::info!(%repo, %digest, destination = %name, "image replicated");
                    return;
                }
                Err(reason) => {
                    tracing::warn!(%repo, %digest, destination = %name, attempt, %reason, "replication attempt failed");
                    failure = Some(reason);
                }
            }
            if let Some(delay) = RETRY_DELAYS.get(attempt) {
                tokio::time::sleep(*delay).await;
            }
        }
        let attempts = RETRY_DELAYS.len() as u32 + 1;
        self.record_state(repo, digest, &name, ReplicationStatus::Failed, failure, attempts).await;
    }

    async fn record_state(
        &self,
        repo: &str,
        digest: &str,
        destination: &str,
        status: ReplicationStatus,
        failure: Option<String>,
        attempts: u32,
    ) {
        let state = DestinationState { status, failure, attempts, updated_at: self.now() };
        if let Err(e) = self.set_replication_state(repo, digest, destination, state).await {
            tracing::error!(%repo, %digest, %destination, error = %e, "recording the replication status failed");
        }
    }

    /// The configured server standing for a destination.
    fn destination(&self, target: &ReplicationDestination) -> Option<Destination> {
        self.config
            .replication_destinations
            .iter()
            .find(|d| d.region == target.region && d.registry_id == target.registry_id)
            .cloned()
    }

    fn image_entry(&self, repo: &str, digest: &str) -> Option<ImageEntry> {
        self.index.read().repo(repo).and_then(|r| r.images.get(digest).cloned())
    }

    /// One attempt: the whole image (its manifests, the blobs the destination lacks, its tags).
    async fn push_image(&self, destination: &Destination, repo: &str, digest: &str) -> Result<(), String> {
        let mut client = DestinationClient::new(self.upstream.http(), destination, &self.config.account_id, self.now());
        client.login().await?;
        super::policy::check(&client, destination, &self.config.account_id, repo).await?;
        client.ensure_repository(repo).await?;
        self.push_manifest(&client, repo, digest, 0).await?;
        let (entry, tags) = {
            let state = self.index.read();
            let repo_entry = state.repo(repo);
            let entry = repo_entry.and_then(|r| r.images.get(digest).cloned());
            let tags: Vec<String> =
                repo_entry.and_then(|r| r.tags_of.get(digest)).map(|t| t.iter().cloned().collect()).unwrap_or_default();
            (entry, tags)
        };
        let entry = entry.ok_or_else(|| format!("the image {repo}@{digest} was deleted before it was replicated"))?;
        for tag in tags {
            client.put_manifest(repo, &tag, &entry.record.media_type, entry.manifest.clone()).await?;
        }
        Ok(())
    }

    /// Pushes a manifest by digest after what it references: its blobs, or the manifests a list names.
    async fn push_manifest(
        &self,
        client: &DestinationClient<'_>,
        repo: &str,
        digest: &str,
        depth: usize,
    ) -> Result<(), String> {
        let entry = self
            .image_entry(repo, digest)
            .ok_or_else(|| format!("the image {repo}@{digest} was deleted before it was replicated"))?;
        if depth < MAX_DEPTH {
            for child in &entry.record.children {
                Box::pin(self.push_manifest(client, repo, child, depth + 1)).await?;
            }
        }
        for blob in &entry.record.blobs {
            if client.has_blob(repo, &blob.digest).await? {
                continue;
            }
            let parsed = Digest::parse(&blob.digest).map_err(|e| format!("blob {}: {e}", blob.digest))?;
            let body = self
                .blobs
                .read(&parsed, None)
                .await
                .map_err(|e| format!("reading blob {}: {e}", blob.digest))?
                .ok_or_else(|| format!("blob {} is missing from this registry", blob.digest))?;
            client.upload_blob(repo, &blob.digest, body.total, reqwest::Body::wrap_stream(body.stream)).await?;
        }
        client.put_manifest(repo, digest, &entry.record.media_type, entry.manifest.clone()).await
    }
}
