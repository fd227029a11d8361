//! Blob storage behind a trait: content-addressed blobs plus the upload sessions that become them.
//!
//! A blob becomes visible only through [`BlobStore::upload_commit`], after the caller verified its digest; the
//! filesystem implementation makes that an fsync'd rename, so a crash at any point leaves either no blob or the
//! whole blob. Each blob is stored once, whatever the number of repositories that use it: which repository may
//! see a blob is metadata, kept in the Berth store.

mod fs;
mod memory;

pub use fs::FsBlobStore;
pub(crate) use fs::{create_private_dir, write_atomic};
pub use memory::MemoryBlobStore;

use crate::digest::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::io;
use std::ops::Range;

/// A stream of body bytes, as it arrives from a client or leaves for one.
pub type ByteStream = BoxStream<'static, Result<Bytes, io::Error>>;

/// A blob (or a range of one) being read.
pub struct BlobBody {
    /// The blob's full size.
    pub total: u64,
    /// The bytes of the requested range.
    pub stream: ByteStream,
}

/// A blob opened for blocking, sequential reads.
pub type BlobReader = Box<dyn io::Read + Send>;

/// The result of appending to an upload.
#[derive(Debug)]
pub struct Appended {
    /// The upload's size after the append.
    pub len: u64,
    /// The hasher, fed with everything appended (if one was given).
    pub hasher: Option<Hasher>,
}

/// An upload session found in storage.
#[derive(Debug, Clone)]
pub struct StoredUpload {
    /// The upload id.
    pub id: String,
    /// Bytes received so far.
    pub len: u64,
    /// The caller's metadata, as given to [`BlobStore::upload_create`].
    pub info: Vec<u8>,
    /// When its bytes last changed (seconds since the Unix epoch), if storage knows.
    pub modified: Option<f64>,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path involved.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The upload does not exist (expired, cancelled or never started).
    #[error("upload {id} is unknown")]
    UploadUnknown {
        /// The upload id.
        id: String,
    },
    /// An append did not start where the upload ends.
    #[error("upload {id} is at offset {actual}, not {expected}")]
    OffsetMismatch {
        /// The upload id.
        id: String,
        /// The offset the append assumed.
        expected: u64,
        /// The upload's real size.
        actual: u64,
    },
    /// The client's body failed mid-stream (connection closed, length mismatch); nothing of it was kept.
    #[error("request body failed after {received} bytes: {source}")]
    Body {
        /// Bytes received before the failure.
        received: u64,
        /// The transport error.
        #[source]
        source: io::Error,
    },
    /// The upload would exceed the size limit.
    #[error("upload exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
}

/// Content-addressed blob storage with resumable uploads.
pub trait BlobStore: Send + Sync + 'static {
    /// The size of a stored blob, or `None`.
    fn stat(&self, digest: &Digest) -> BoxFuture<'_, Result<Option<u64>, StorageError>>;
    /// Reads a blob, or the byte range `range` of it (already checked against its size by the caller).
    fn read(&self, digest: &Digest, range: Option<Range<u64>>)
    -> BoxFuture<'_, Result<Option<BlobBody>, StorageError>>;
    /// Reads a whole blob into memory if it is at most `limit` bytes (`Ok(None)` if absent or larger).
    fn read_all(&self, digest: &Digest, limit: u64) -> BoxFuture<'_, Result<Option<Bytes>, StorageError>>;
    /// Opens a blob for reading as a stream on the calling (blocking) thread, for work the server paces itself
    /// (scans), never for a client.
    fn open_reader(&self, digest: &Digest) -> BoxFuture<'_, Result<Option<BlobReader>, StorageError>>;
    /// Deletes a blob; `false` if it was absent.
    fn delete(&self, digest: &Digest) -> BoxFuture<'_, Result<bool, StorageError>>;
    /// Every stored blob with its size.
    fn list(&self) -> BoxFuture<'_, Result<Vec<(Digest, u64)>, StorageError>>;
    /// Starts an empty upload with the caller's metadata.
    fn upload_create(&self, id: &str, info: Vec<u8>) -> BoxFuture<'_, Result<(), StorageError>>;
    /// Appends a body to an upload that must currently be `offset` bytes long, feeding `hasher` as it writes. On
    /// any failure the upload is rolled back to `offset` bytes. `limit` caps the upload's total size.
    fn upload_append(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        hasher: Option<Hasher>,
        limit: u64,
    ) -> BoxFuture<'_, Result<Appended, StorageError>>;
    /// Hashes an upload's bytes from storage (when no running hasher survived, e.g. after a restart).
    fn upload_hash(&self, id: &str, algorithm: Algorithm) -> BoxFuture<'_, Result<Digest, StorageError>>;
    /// Makes a verified upload the blob `digest`, atomically and durably, and removes the upload. If the blob
    /// already exists the upload is discarded. Returns the blob's size.
    fn upload_commit(&self, id: &str, digest: &Digest) -> BoxFuture<'_, Result<u64, StorageError>>;
    /// Removes an upload (no error if absent).
    fn upload_delete(&self, id: &str) -> BoxFuture<'_, Result<(), StorageError>>;
    /// Every upload in storage.
    fn upload_list(&self) -> BoxFuture<'_, Result<Vec<StoredUpload>, StorageError>>;
}

/// Whether an upload id is safe to use as a file name (a UUID in its hyphenated lowercase form).
pub fn is_valid_upload_id(id: &str) -> bool {
    uuid::Uuid::try_parse(id).map(|u| u.hyphenated().to_string() == id).unwrap_or(false)
}
