//! The JSON records the registry keeps in the Berth store.

use berth_model::Timestamp;
use berth_model::ecr::{
    EncryptionConfiguration, FindingSeverity, ImageScanFinding, ImageStatus, ImageTagMutability,
    ImageTagMutabilityExclusionFilter, LifecyclePolicyPreviewResult, LifecyclePolicyPreviewStatus, ScanStatus, Tag,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A repository's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRecord {
    /// The repository name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Tag mutability.
    pub image_tag_mutability: ImageTagMutability,
    /// Exclusions from the mutability setting.
    #[serde(default)]
    pub exclusion_filters: Vec<ImageTagMutabilityExclusionFilter>,
    /// Whether images are scanned when pushed.
    #[serde(default)]
    pub scan_on_push: bool,
    /// The encryption configuration, as given (storage is not encrypted by Berth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionConfiguration>,
    /// Resource tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The lifecycle policy text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_policy: Option<String>,
    /// When the lifecycle policy last ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_evaluated_at: Option<Timestamp>,
    /// The repository policy (an IAM resource policy document), as set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl RepositoryRecord {
    /// A repository with ECR's default settings (mutable tags, no scan on push, AES256, no policies).
    pub fn with_defaults(name: impl Into<String>, created_at: Timestamp) -> Self {
        RepositoryRecord {
            name: name.into(),
            created_at,
            image_tag_mutability: ImageTagMutability::Mutable,
            exclusion_filters: Vec::new(),
            scan_on_push: false,
            encryption: None,
            tags: Vec::new(),
            lifecycle_policy: None,
            lifecycle_evaluated_at: None,
            policy: None,
        }
    }
}

/// A manifest stored in a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// The manifest digest.
    pub digest: String,
    /// The manifest media type.
    pub media_type: String,
    /// The manifest, byte for byte (manifests are JSON, hence UTF-8).
    pub manifest: String,
    /// When it was pushed.
    pub pushed_at: Timestamp,
    /// The size ECR reports.
    pub size: i64,
    /// The config media type (ECR's `artifactMediaType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_media_type: Option<String>,
    /// The blobs it references (config and layers, with sizes).
    #[serde(default)]
    pub blobs: Vec<BlobRef>,
    /// The manifests it references (an index's children).
    #[serde(default)]
    pub children: Vec<String>,
    /// The manifest it refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The artifact type the referrers API reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifest's annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The storage status (`None`: ACTIVE, the standard storage class; ARCHIVED: the archive storage class, not
    /// pullable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ImageStatus>,
    /// When the image was last archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_archived_at: Option<Timestamp>,
    /// When the image was last restored from the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activated_at: Option<Timestamp>,
}

impl ImageRecord {
    /// The image's status (ACTIVE unless archived).
    pub fn image_status(&self) -> ImageStatus {
        self.status.unwrap_or(ImageStatus::Active)
    }

    /// Whether the image may be pulled (it is not archived).
    pub fn is_pullable(&self) -> bool {
        self.image_status() == ImageStatus::Active
    }
}

/// A blob an image references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobRef {
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: i64,
    /// Its media type.
    pub media_type: String,
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagRecord {
    /// The manifest digest it points to.
    pub digest: String,
    /// When it was last moved.
    pub updated_at: Timestamp,
    /// When a pull-through cache last checked the tag upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_checked_at: Option<Timestamp>,
}

/// A blob uploaded or mounted into a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRecord {
    /// Its size.
    pub size: u64,
    /// When it was linked (the garbage collector spares recent links).
    pub linked_at: Timestamp,
}

/// An image's vulnerability scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRecord {
    /// The scan status.
    pub status: ScanStatus,
    /// A description of the status.
    pub description: String,
    /// When the scan started.
    pub started_at: Timestamp,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// When the advisory database was last imported, at scan time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_updated_at: Option<Timestamp>,
    /// The findings, most severe first.
    #[serde(default)]
    pub findings: Vec<ImageScanFinding>,
    /// Counts per severity.
    #[serde(default)]
    pub severity_counts: BTreeMap<String, i32>,
}

impl ScanRecord {
    /// A scan with no findings (yet): in progress, failed or unsupported.
    pub fn without_findings(status: ScanStatus, description: impl Into<String>, started_at: Timestamp) -> Self {
        ScanRecord {
            status,
            description: description.into(),
            started_at,
            completed_at: None,
            source_updated_at: None,
            findings: Vec::new(),
            severity_counts: BTreeMap::new(),
        }
    }

    /// Counts findings per severity name.
    pub fn count_severities(findings: &[ImageScanFinding]) -> BTreeMap<String, i32> {
        let mut counts = BTreeMap::new();
        for f in findings {
            let severity = f.severity.unwrap_or(FindingSeverity::Undefined);
            *counts.entry(severity.as_str().to_string()).or_insert(0) += 1;
        }
        counts
    }
}

/// An image's last recorded pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRecord {
    /// When.
    pub at: Timestamp,
}

/// A lifecycle policy preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRecord {
    /// The policy previewed.
    pub policy_text: String,
    /// Its status.
    pub status: LifecyclePolicyPreviewStatus,
    /// The images it would expire.
    #[serde(default)]
    pub results: Vec<LifecyclePolicyPreviewResult>,
}
