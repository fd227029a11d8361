//! Manifest parsing and validation for the four manifest media types the registry stores: OCI image manifests,
//! OCI image indexes, Docker schema 2 manifests and Docker manifest lists.
//!
//! The raw bytes are kept exactly as pushed (their digest is the manifest's identity); this module only reads
//! what the registry needs from them: the media type, the blobs and child manifests they reference, the subject
//! and artifact type for the referrers API. Anything that would make a client fail later is refused here.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 (signed), which the registry refuses.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker schema 1 (unsigned), which the registry refuses.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// The size limit of a manifest, as ECR and the Distribution Spec's minimum.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The kind of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image manifest (OCI or Docker): a config and layers.
    Image,
    /// An index (OCI index or Docker manifest list): child manifests.
    Index,
}

/// A content descriptor, as manifests carry them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: i64,
    /// Where else it may be fetched (non-distributable layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The artifact type (in indexes and referrers lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The platform (in indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// What the registry knows of a manifest after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Image or index.
    pub kind: ManifestKind,
    /// The media type (one of the four supported).
    pub media_type: String,
    /// The digest of the raw bytes.
    pub digest: Digest,
    /// The image's config descriptor.
    pub config: Option<Descriptor>,
    /// The image's layers.
    pub layers: Vec<Descriptor>,
    /// The index's child manifests.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    pub subject: Option<Descriptor>,
    /// The declared artifact type.
    pub artifact_type: Option<String>,
    /// The manifest's annotations.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The manifest is larger than [`MAX_MANIFEST_BYTES`].
    #[error("manifest is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The manifest is malformed or inconsistent.
    #[error("manifest invalid: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The media type is not one the registry stores.
    #[error("manifest media type {media_type:?} is not supported")]
    Unsupported {
        /// The media type.
        media_type: String,
    },
}

fn invalid(reason: impl Into<String>) -> ManifestError {
    ManifestError::Invalid { reason: reason.into() }
}

/// Strips parameters (`; charset=...`) from a Content-Type value.
pub fn bare_media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Whether `media_type` is one of the four stored manifest types.
pub fn is_manifest_media_type(media_type: &str) -> bool {
    matches!(media_type, OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST)
}

fn check_descriptor(d: &Descriptor, what: &str) -> Result<(), ManifestError> {
    Digest::parse(&d.digest).map_err(|e| invalid(format!("{what}: {e}")))?;
    if d.size < 0 {
        return Err(invalid(format!("{what} {} has a negative size", d.digest)));
    }
    if d.media_type.is_empty() {
        return Err(invalid(format!("{what} {} has no mediaType", d.digest)));
    }
    Ok(())
}

/// Whether a layer descriptor may point outside the registry (a non-distributable layer with URLs), so that
/// the registry need not hold it.
pub fn is_foreign(d: &Descriptor) -> bool {
    d.urls.as_ref().is_some_and(|u| !u.is_empty())
        && (d.media_type.contains("foreign") || d.media_type.contains("nondistributable"))
}

/// Parses and validates a manifest. `content_type` is the type the client declared (Content-Type header or
/// the ECR `imageManifestMediaType`), if any.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge { size: bytes.len(), limit: MAX_MANIFEST_BYTES });
    }
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a JSON manifest: {e}")))?;
    let declared = content_type.map(bare_media_type).filter(|t| !t.is_empty() && !is_generic_type(t));
    let media_type = match (&raw.media_type, declared) {
        (Some(field), Some(header)) if field != header => {
            return Err(invalid(format!("mediaType {field:?} does not match the declared type {header:?}")));
        }
        (Some(field), _) => field.clone(),
        (None, Some(header)) => header.to_string(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => ManifestKind::Image,
        OCI_INDEX | DOCKER_MANIFEST_LIST => ManifestKind::Index,
        _ => return Err(ManifestError::Unsupported { media_type }),
    };
    if raw.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let digest = Digest::sha256_of(bytes);
    let manifest = match kind {
        ManifestKind::Image => {
            if raw.manifests.is_some() {
                return Err(invalid("an image manifest must not have manifests"));
            }
            let config = raw.config.ok_or_else(|| invalid("an image manifest needs a config"))?;
            check_descriptor(&config, "config")?;
            let layers = raw.layers.ok_or_else(|| invalid("an image manifest needs layers"))?;
            if media_type == DOCKER_MANIFEST && layers.is_empty() {
                return Err(invalid("a Docker image manifest needs at least one layer"));
            }
            for layer in &layers {
                check_descriptor(layer, "layer")?;
            }
            Manifest {
                kind,
                media_type,
                digest,
                config: Some(config),
                layers,
                manifests: Vec::new(),
                subject: raw.subject,
                artifact_type: raw.artifact_type,
                annotations: raw.annotations,
            }
        }
        ManifestKind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(invalid("an index must not have a config or layers"));
            }
            let manifests = raw.manifests.ok_or_else(|| invalid("an index needs manifests"))?;
            for child in &manifests {
                check_descriptor(child, "manifest")?;
            }
            Manifest {
                kind,
                media_type,
                digest,
                config: None,
                layers: Vec::new(),
                manifests,
                subject: raw.subject,
                artifact_type: raw.artifact_type,
                annotations: raw.annotations,
            }
        }
    };
    if let Some(subject) = &manifest.subject {
        check_descriptor(subject, "subject")?;
    }
    Ok(manifest)
}

fn is_generic_type(t: &str) -> bool {
    matches!(t, "application/json" | "application/octet-stream" | "text/plain")
}

impl Manifest {
    /// The artifact type the referrers API reports: `artifactType`, else the config's media type (images only).
    pub fn effective_artifact_type(&self) -> Option<String> {
        match (&self.artifact_type, self.kind, &self.config) {
            (Some(t), _, _) if !t.is_empty() => Some(t.clone()),
            (_, ManifestKind::Image, Some(config)) => Some(config.media_type.clone()),
            _ => None,
        }
    }

    /// The blobs the registry must hold for this manifest: config and distributable layers.
    pub fn required_blobs(&self) -> Vec<&Descriptor> {
        self.config.iter().chain(self.layers.iter().filter(|l| !is_foreign(l))).collect()
    }

    /// The size ECR reports for the image: the sum of its layers (compressed), or the index's own size.
    pub fn content_size(&self, manifest_len: usize) -> i64 {
        match self.kind {
            ManifestKind::Image => self.layers.iter().map(|d| d.size).sum(),
            ManifestKind::Index => manifest_len as i64,
        }
    }
}

#[cfg(test)]
mod tests;
