//! Image storage classes (ECR's archive): an image is ACTIVE (standard storage, pullable) or ARCHIVED (archive
//! storage: described and listed when asked for, never served to a pull).
//!
//! Berth keeps an archived image's manifest and blobs where they were, so a restore is immediate: the image is
//! ACTIVE again when UpdateImageStorageClass answers (ECR's restore takes hours and passes through ACTIVATING,
//! which Berth therefore never reports). Archiving a manifest list archives the images it lists with it, and an
//! image a manifest list references cannot be archived on its own.

use crate::Registry;
use crate::error::RegistryError;
use crate::meta::Key;
use crate::meta::records::ImageRecord;
use berth_model::Timestamp;
use berth_model::ecr::{ImageStatus, ImageStatusFilter};
use berth_store::{Txn, TxnOutcome};

const MAX_ATTEMPTS: usize = 16;

/// Whether an image with `status` passes a DescribeImages / ListImages `imageStatus` filter (none: ACTIVE only).
pub(crate) fn status_matches(filter: Option<ImageStatusFilter>, status: ImageStatus) -> bool {
    match filter.unwrap_or(ImageStatusFilter::Active) {
        ImageStatusFilter::Any => true,
        ImageStatusFilter::Active => status == ImageStatus::Active,
        ImageStatusFilter::Archived => status == ImageStatus::Archived,
        ImageStatusFilter::Activating => status == ImageStatus::Activating,
    }
}

/// `record` restored to standard storage at `now`.
pub(crate) fn restored(record: &ImageRecord, now: Timestamp) -> ImageRecord {
    ImageRecord { status: None, last_activated_at: Some(now), ..record.clone() }
}

/// `record` moved to archive storage at `now`.
fn archived(record: &ImageRecord, now: Timestamp) -> ImageRecord {
    ImageRecord { status: Some(ImageStatus::Archived), last_archived_at: Some(now), ..record.clone() }
}

/// Why an image's storage class cannot change.
#[derive(Debug)]
pub enum StorageClassError {
    /// The registry failed (the repository or image is gone, the store failed ...).
    Registry(RegistryError),
    /// The change is not one Berth makes (ECR's `ImageStorageClassUpdateNotSupportedException`).
    NotSupported(String),
}

impl From<RegistryError> for StorageClassError {
    fn from(e: RegistryError) -> Self {
        StorageClassError::Registry(e)
    }
}

impl Registry {
    /// Moves image `digest` of `repo` to the archive (`archive`) or back to standard storage; the image's status
    /// afterwards. A change to the class the image is already in changes nothing.
    pub async fn set_storage_class(
        &self,
        repo: &str,
        digest: &str,
        archive: bool,
    ) -> std::result::Result<ImageStatus, StorageClassError> {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.now();
            let txn = {
                let state = self.index.read();
                let entry = state.existing_repo(repo)?;
                let image = entry.images.get(digest).ok_or_else(|| RegistryError::ManifestUnknown {
                    name: repo.to_string(),
                    reference: digest.to_string(),
                })?;
                if let Some(list) = entry.images.values().find(|i| i.record.children.iter().any(|c| c == digest)) {
                    return Err(StorageClassError::NotSupported(format!(
                        "The image is listed by manifest list {} in the repository; change the storage class of \
                         the manifest list, which carries the images it lists with it",
                        list.record.digest
                    )));
                }
                let target = if archive { ImageStatus::Archived } else { ImageStatus::Active };
                let mut txn = Txn::new();
                let mut changed = false;
                let members = std::iter::once(image)
                    .chain(image.record.children.iter().filter_map(|c| entry.images.get(c)))
                    .filter(|i| i.record.image_status() != target);
                for member in members {
                    let record = if archive { archived(&member.record, now) } else { restored(&member.record, now) };
                    let key = Key::Image(repo.to_string(), member.record.digest.clone()).render();
                    let value = serde_json::to_vec(&record)
                        .map_err(|source| RegistryError::Record { key: key.clone(), source })?;
                    txn = txn.expect(key.clone(), member.revision).put(key, value);
                    changed = true;
                }
                if !changed {
                    return Ok(target);
                }
                (txn, target)
            };
            let (txn, target) = txn;
            match self.store.txn(txn).await.map_err(RegistryError::from)? {
                TxnOutcome::Committed { revision } => {
                    self.index.wait_for(revision).await;
                    return Ok(target);
                }
                TxnOutcome::Conflict { actual_revision, .. } => self.index.wait_for(actual_revision).await,
            }
        }
        Err(RegistryError::Contention { what: format!("the storage class of {digest} in {repo}") }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_filter_only_active_images_are_listed() {
        assert!(status_matches(None, ImageStatus::Active));
        assert!(!status_matches(None, ImageStatus::Archived));
        assert!(status_matches(Some(ImageStatusFilter::Archived), ImageStatus::Archived));
        assert!(!status_matches(Some(ImageStatusFilter::Archived), ImageStatus::Active));
        assert!(status_matches(Some(ImageStatusFilter::Any), ImageStatus::Archived));
        assert!(!status_matches(Some(ImageStatusFilter::Activating), ImageStatus::Active));
    }
}
