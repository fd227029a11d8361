//! The registry's error type, shared by the OCI and ECR front ends, which each map it to their own wire errors.

use crate::digest::DigestError;
use crate::manifest::ManifestError;
use crate::storage::StorageError;
use berth_store::StoreError;

/// Everything that can go wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The repository does not exist.
    #[error("the repository with name '{name}' does not exist in the registry")]
    RepositoryNotFound {
        /// The repository name.
        name: String,
    },
    /// A record the request needs does not decode: it is quarantined (kept untouched in the store, listed by
    /// `berth admin quarantine`), never treated as absent.
    #[error("the registry record {key} is unreadable and quarantined; an operator must repair it")]
    Quarantined {
        /// The store key.
        key: String,
    },
    /// The repository already exists.
    #[error("the repository with name '{name}' already exists in the registry")]
    RepositoryAlreadyExists {
        /// The repository name.
        name: String,
    },
    /// The repository still holds images and `force` was not given.
    #[error("the repository with name '{name}' cannot be deleted because it still contains images")]
    RepositoryNotEmpty {
        /// The repository name.
        name: String,
    },
    /// A repository name is malformed.
    #[error("invalid repository name: {reason}")]
    InvalidName {
        /// Why.
        reason: String,
    },
    /// A tag is malformed.
    #[error("invalid image tag: {reason}")]
    InvalidTag {
        /// Why.
        reason: String,
    },
    /// A digest is malformed.
    #[error("invalid digest: {0}")]
    InvalidDigest(#[from] DigestError),
    /// A request parameter is invalid.
    #[error("{reason}")]
    InvalidParameter {
        /// Why.
        reason: String,
    },
    /// The upload session does not exist.
    #[error("upload {id} does not exist (it expired, was cancelled or never started)")]
    UploadUnknown {
        /// The upload id.
        id: String,
    },
    /// A chunk does not continue the upload where it ends.
    #[error("upload {id} is at offset {offset}: {reason}")]
    RangeInvalid {
        /// The upload id.
        id: String,
        /// Bytes received so far.
        offset: u64,
        /// What was wrong with the chunk.
        reason: String,
    },
    /// The uploaded bytes do not have the digest the client gave.
    #[error("digest {expected} does not match the uploaded content ({actual})")]
    DigestMismatch {
        /// The digest the client gave.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },
    /// A length did not match the content.
    #[error("{reason}")]
    SizeInvalid {
        /// What was wrong.
        reason: String,
    },
    /// An upload completed with no bytes where bytes are required.
    #[error("upload {id} is empty")]
    EmptyUpload {
        /// The upload id.
        id: String,
    },
    /// The manifest is malformed, too large or of an unsupported type.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The manifest references a blob the repository does not hold.
    #[error("manifest references blob {digest}, which is unknown to repository '{name}'")]
    ManifestBlobUnknown {
        /// The repository name.
        name: String,
        /// The missing blobs.
        digest: String,
    },
    /// The index references a manifest the repository does not hold.
    #[error("index references manifest {digest}, which is unknown to repository '{name}'")]
    ReferencedManifestUnknown {
        /// The repository name.
        name: String,
        /// The missing manifest.
        digest: String,
    },
    /// No manifest has this tag or digest.
    #[error("manifest '{reference}' does not exist in repository '{name}'")]
    ManifestUnknown {
        /// The repository name.
        name: String,
        /// The tag or digest.
        reference: String,
    },
    /// The repository does not hold this blob.
    #[error("blob {digest} does not exist in repository '{name}'")]
    BlobUnknown {
        /// The repository name.
        name: String,
        /// The blob digest.
        digest: String,
    },
    /// The tag exists and the repository's tags are immutable.
    #[error(
        "the image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the tag is immutable"
    )]
    TagImmutable {
        /// The repository name.
        name: String,
        /// The tag.
        tag: String,
    },
    /// The same manifest is already stored under this tag (or untagged, when no tag was given).
    #[error("image with digest '{digest}' and tag '{tag}' already exists in the repository with name '{name}'")]
    ImageAlreadyExists {
        /// The repository name.
        name: String,
        /// The manifest digest.
        digest: String,
        /// The tag (may be empty).
        tag: String,
    },
    /// The image is a child of an index in the repository and cannot be deleted alone.
    #[error("image {digest} is referenced by manifest list {index}")]
    ReferencedByIndex {
        /// The repository name.
        name: String,
        /// The image.
        digest: String,
        /// The index that references it.
        index: String,
    },
    /// A client's credentials are missing, malformed or expired.
    #[error("authentication required: {reason}")]
    Unauthorized {
        /// Why.
        reason: String,
    },
    /// The credentials do not allow this action.
    #[error("requested access to the resource is denied: {reason}")]
    Denied {
        /// Why.
        reason: String,
    },
    /// A pull-through cache's upstream failed and nothing is cached.
    #[error("pull through cache: {reason}")]
    Upstream {
        /// What the upstream did.
        reason: String,
    },
    /// The Berth store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Blob storage failed.
    #[error("storage: {0}")]
    Storage(StorageError),
    /// A limit on open resources (upload sessions, queued scans) was reached; retry later.
    #[error("{reason}")]
    LimitExceeded {
        /// Which limit, and how to get under it.
        reason: String,
    },
    /// A compare-and-swap kept failing under contention.
    #[error("{what} conflicted with concurrent writes too many times")]
    Contention {
        /// What was being written.
        what: String,
    },
    /// A record could not be encoded or decoded.
    #[error("record {key}: {source}")]
    Record {
        /// The store key.
        key: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A file outside blob storage (the auth secret, the advisory database) failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl From<StorageError> for RegistryError {
    fn from(e: StorageError) -> Self {
        RegistryError::Storage(e)
    }
}

/// A `Result` with [`RegistryError`].
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Where a problem with a Put*Configuration request (replication, signing) belongs: a model constraint
/// (`ValidationException`) or a semantic one (`InvalidParameterException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// Breaks a constraint of the model.
    Constraint(String),
    /// Valid in form, refused by the registry.
    Invalid(String),
}
