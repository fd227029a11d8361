//! Blobs on the local filesystem.
//!
//! Layout under the root: `blobs/<algorithm>/<first two hex>/<hex>` (each blob once), `uploads/<uuid>/data` and
//! `uploads/<uuid>/info` (sessions in progress). Uploads and blobs share a filesystem, so committing an upload is a
//! `rename` after an `fsync` of the data, followed by an `fsync` of the blob's directory: a blob path either does
//! not exist or holds the complete, verified content, whatever moment the process dies at.
//!
//! Every directory is created 0700 and every file 0600, whatever the process umask: blobs are private images.
//!
//! No transfer holds a thread while it waits for its client. Uploads are received on the async runtime and
//! written in batches of up to [`WRITE_BATCH`] bytes, each batch one short job on the blocking pool (hashing
//! happens there too, so each byte is hashed exactly once, off the runtime's workers); the next batch is received
//! while the previous one is written. Downloads read one [`READ_CHUNK`] at a time, each read one short job, and
//! read the next only when the client took the previous one. A stalled client therefore costs a socket and at
//! most one chunk of memory, never a thread of a pool the control plane needs.

use super::{Appended, BlobBody, BlobReader, BlobStore, ByteStream, StorageError, StoredUpload, is_valid_upload_id};
use crate::digest::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Blobs read whole in one go (one allocation) instead of streamed.
const SMALL_BLOB: u64 = 1 << 20;
/// The size of each chunk a streamed read sends (what an unread download may keep in memory).
const READ_CHUNK: u64 = 256 << 10;
/// How many received bytes an upload gathers before writing them in one blocking job.
const WRITE_BATCH: usize = 1 << 20;
/// The mode of every directory the registry creates.
pub(crate) const DIR_MODE: u32 = 0o700;
/// The mode of every file the registry creates.
pub(crate) const FILE_MODE: u32 = 0o600;

/// A [`BlobStore`] in a directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

fn io_err(operation: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.display().to_string();
    move |source| StorageError::Io { operation, path, source }
}

fn join_err(e: tokio::task::JoinError) -> StorageError {
    StorageError::Io { operation: "join blocking task", path: String::new(), source: io::Error::other(e) }
}

/// Runs one short filesystem job on the blocking pool.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.map_err(join_err)?
}

/// Creates a directory and its missing parents, each 0700 whatever the umask.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Creates (or truncates) a file 0600 whatever the umask.
fn create_private_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(path)?;
    // `mode` only applies to a new file: an existing one keeps its mode unless set here.
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync", dir))
}

/// Writes `bytes` to `path` atomically (mode 0600): a temporary file in the same directory, fsync, rename, fsync
/// the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(io_err("create directory", dir))?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut file = create_private_file(&tmp).map_err(io_err("create", &tmp))?;
        file.write_all(bytes).map_err(io_err("write", &tmp))?;
        file.sync_all().map_err(io_err("fsync", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("rename", path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// An upload's open file and running hash, moved into each blocking write and back.
struct WriteState {
    file: File,
    path: PathBuf,
    hasher: Option<Hasher>,
}

fn write_batch(mut state: WriteState, chunks: Vec<Bytes>) -> Result<WriteState, StorageError> {
    for chunk in &chunks {
        if let Some(h) = state.hasher.as_mut() {
            h.update(chunk);
        }
        state.file.write_all(chunk).map_err(io_err("write", &state.path))?;
    }
    Ok(state)
}

/// Writes batches one at a time on the blocking pool, one in flight while the next is received.
struct BatchWriter {
    idle: Option<WriteState>,
    in_flight: Option<tokio::task::JoinHandle<Result<WriteState, StorageError>>>,
}

impl BatchWriter {
    async fn settle(&mut self) -> Result<(), StorageError> {
        if let Some(handle) = self.in_flight.take() {
            self.idle = Some(handle.await.map_err(join_err)??);
        }
        Ok(())
    }

    async fn submit(&mut self, chunks: Vec<Bytes>) -> Result<(), StorageError> {
        if chunks.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let Some(state) = self.idle.take() else {
            return Err(StorageError::Io {
                operation: "write",
                path: String::new(),
                source: io::Error::other("an earlier write failed"),
            });
        };
        self.in_flight = Some(tokio::task::spawn_blocking(move || write_batch(state, chunks)));
        Ok(())
    }

    async fn finish(mut self) -> Result<Option<Hasher>, StorageError> {
        self.settle().await?;
        Ok(self.idle.and_then(|s| s.hasher))
    }
}

impl FsBlobStore {
    /// A store rooted at `root` (created if missing; the root, `blobs` and `uploads` are made 0700).
    pub fn open(root: &Path) -> Result<Self, StorageError> {
        for dir in [root.to_path_buf(), root.join("blobs"), root.join("uploads")] {
            create_private_dir(&dir).map_err(io_err("create directory", &dir))?;
            // Directories made by an older version (or by hand) are tightened too.
            fs::set_permissions(&dir, fs::Permissions::from_mode(DIR_MODE)).map_err(io_err("chmod", &dir))?;
        }
        Ok(Self { root: root.to_path_buf() })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join("blobs").join(digest.algorithm().as_str()).join(&hex[..2]).join(hex)
    }

    fn upload_dir(&self, id: &str) -> Result<PathBuf, StorageError> {
        if !is_valid_upload_id(id) {
            return Err(StorageError::UploadUnknown { id: id.to_string() });
        }
        Ok(self.root.join("uploads").join(id))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(FsBlobStore) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let this = self.clone();
        run_blocking(move || f(this)).await
    }

    /// Streams `len` bytes of `file` from `start`, one chunk per short blocking read, each read only when the
    /// client has taken the previous chunk.
    fn stream_file(file: File, start: u64, len: u64) -> ByteStream {
        let file = Arc::new(file);
        let chunks = futures::stream::try_unfold((file, start, len), |(file, pos, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = left.min(READ_CHUNK) as usize;
            let reader = file.clone();
            let buf = tokio::task::spawn_blocking(move || -> io::Result<Vec<u8>> {
                let mut buf = vec![0u8; want];
                let mut filled = 0;
                while filled < want {
                    match reader.read_at(&mut buf[filled..], pos + filled as u64) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                buf.truncate(filled);
                Ok(buf)
            })
            .await
            .map_err(io::Error::other)??;
            if buf.is_empty() {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            let n = buf.len() as u64;
            Ok(Some((Bytes::from(buf), (file, pos + n, left - n))))
        });
        Box::pin(chunks)
    }

    /// Receives `body` into an upload that must be `offset` bytes long (see [`BlobStore::upload_append`]); does
    /// not roll back.
    async fn receive(
        data: PathBuf,
        id: String,
        offset: u64,
        mut body: ByteStream,
        hasher: Option<Hasher>,
        limit: u64,
    ) -> Result<Appended, StorageError> {
        let path = data.clone();
        let file = run_blocking(move || {
            let file = match OpenOptions::new().append(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::UploadUnknown { id }),
                Err(e) => return Err(io_err("open", &path)(e)),
            };
            let actual = file.metadata().map_err(io_err("stat", &path))?.len();
            if actual != offset {
                return Err(StorageError::OffsetMismatch { id, expected: offset, actual });
            }
            Ok(file)
        })
        .await?;
        let mut writer = BatchWriter { idle: Some(WriteState { file, path: data, hasher }), in_flight: None };
        let (mut batch, mut batch_len, mut received) = (Vec::new(), 0usize, 0u64);
        let outcome = loop {
            match body.next().await {
                Some(Ok(chunk)) => {
                    received += chunk.len() as u64;
                    if offset + received > limit {
                        break Err(StorageError::TooLarge { limit });
                    }
                    batch_len += chunk.len();
                    batch.push(chunk);
                    if batch_len >= WRITE_BATCH {
                        batch_len = 0;
                        if let Err(e) = writer.submit(std::mem::take(&mut batch)).await {
                            break Err(e);
                        }
                    }
                }
                Some(Err(source)) => break Err(StorageError::Body { received, source }),
                None => break writer.submit(std::mem::take(&mut batch)).await,
            }
        };
        // Always wait for the write in flight, so a rollback never races it.
        let finished = writer.finish().await;
        outcome?;
        Ok(Appended { len: offset + received, hasher: finished? })
    }
}

fn read_upload_len(data: &Path) -> Result<u64, StorageError> {
    fs::metadata(data).map(|m| m.len()).map_err(io_err("stat", data))
}

impl BlobStore for FsBlobStore {
    fn stat(&self, digest: &Digest) -> BoxFuture<'_, Result<Option<u64>, StorageError>> {
        let path = self.blob_path(digest);
        Box::pin(self.blocking(move |_| match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("stat", &path)(e)),
        }))
    }

    fn read(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'_, Result<Option<BlobBody>, StorageError>> {
        let path = self.blob_path(digest);
        Box::pin(async move {
            let opened = self
                .blocking(move |_| {
                    let file = match File::open(&path) {
                        Ok(f) => f,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                        Err(e) => return Err(io_err("open", &path)(e)),
                    };
                    let total = file.metadata().map_err(io_err("stat", &path))?.len();
                    let range = range.unwrap_or(0..total);
                    let len = range.end.saturating_sub(range.start);
                    if len <= SMALL_BLOB {
                        let mut buf = vec![0u8; len as usize];
                        file.read_exact_at(&mut buf, range.start).map_err(io_err("read", &path))?;
                        return Ok(Some((total, Ok(Bytes::from(buf)))));
                    }
                    Ok(Some((total, Err((file, range.start, len)))))
                })
                .await?;
            Ok(opened.map(|(total, body)| {
                let stream: ByteStream = match body {
                    Ok(bytes) => Box::pin(futures::stream::once(async move { Ok(bytes) })),
                    Err((file, start, len)) => Self::stream_file(file, start, len),
                };
                BlobBody { total, stream }
            }))
        })
    }

    fn read_all(&self, digest: &Digest, limit: u64) -> BoxFuture<'_, Result<Option<Bytes>, StorageError>> {
        let path = self.blob_path(digest);
        Box::pin(self.blocking(move |_| {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err("open", &path)(e)),
            };
            let len = file.metadata().map_err(io_err("stat", &path))?.len();
            if len > limit {
                return Ok(None);
            }
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf).map_err(io_err("read", &path))?;
            Ok(Some(Bytes::from(buf)))
        }))
    }

    fn open_reader(&self, digest: &Digest) -> BoxFuture<'_, Result<Option<BlobReader>, StorageError>> {
        let path = self.blob_path(digest);
        Box::pin(self.blocking(move |_| match File::open(&path) {
            Ok(file) => Ok(Some(Box::new(file) as BlobReader)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("open", &path)(e)),
        }))
    }

    fn delete(&self, digest: &Digest) -> BoxFuture<'_, Result<bool, StorageError>> {
        let path = self.blob_path(digest);
        Box::pin(self.blocking(move |_| match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("delete", &path)(e)),
        }))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<(Digest, u64)>, StorageError>> {
        Box::pin(self.blocking(|this| {
            let mut out = Vec::new();
            for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
                let dir = this.root.join("blobs").join(algorithm.as_str());
                let Ok(shards) = fs::read_dir(&dir) else { continue };
                for shard in shards.flatten() {
                    let Ok(entries) = fs::read_dir(shard.path()) else { continue };
                    for entry in entries.flatten() {
                        let name = entry.file_name().to_string_lossy().to_string();
                        let Ok(digest) = Digest::parse(&format!("{}:{name}", algorithm.as_str())) else { continue };
                        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                        out.push((digest, len));
                    }
                }
            }
            Ok(out)
        }))
    }

    fn upload_create(&self, id: &str, info: Vec<u8>) -> BoxFuture<'_, Result<(), StorageError>> {
        let dir = self.upload_dir(id);
        Box::pin(self.blocking(move |_| {
            let dir = dir?;
            create_private_dir(&dir).map_err(io_err("create directory", &dir))?;
            let data = dir.join("data");
            create_private_file(&data).map_err(io_err("create", &data))?;
            write_atomic(&dir.join("info"), &info)
        }))
    }

    fn upload_append(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        hasher: Option<Hasher>,
        limit: u64,
    ) -> BoxFuture<'_, Result<Appended, StorageError>> {
        let dir = self.upload_dir(id);
        let id = id.to_string();
        Box::pin(async move {
            let data = dir?.join("data");
            let failure = match Self::receive(data.clone(), id, offset, body, hasher, limit).await {
                Ok(appended) => return Ok(appended),
                Err(e) => e,
            };
            if !matches!(failure, StorageError::OffsetMismatch { .. } | StorageError::UploadUnknown { .. }) {
                // Roll back to the offset the append started at, so a failed chunk leaves no trace.
                let _ = run_blocking(move || {
                    OpenOptions::new()
                        .write(true)
                        .open(&data)
                        .and_then(|f| f.set_len(offset))
                        .map_err(io_err("truncate", &data))
                })
                .await;
            }
            Err(failure)
        })
    }

    fn upload_hash(&self, id: &str, algorithm: Algorithm) -> BoxFuture<'_, Result<Digest, StorageError>> {
        let dir = self.upload_dir(id);
        Box::pin(self.blocking(move |_| {
            let data = dir?.join("data");
            let mut file = File::open(&data).map_err(io_err("open", &data))?;
            let mut hasher = Hasher::new(algorithm);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).map_err(io_err("read", &data))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Ok(hasher.finish())
        }))
    }

    fn upload_commit(&self, id: &str, digest: &Digest) -> BoxFuture<'_, Result<u64, StorageError>> {
        let dir = self.upload_dir(id);
        let target = self.blob_path(digest);
        let id = id.to_string();
        Box::pin(self.blocking(move |_| {
            let dir = dir?;
            let data = dir.join("data");
            let file = match File::open(&data) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::UploadUnknown { id }),
                Err(e) => return Err(io_err("open", &data)(e)),
            };
            let len = file.metadata().map_err(io_err("stat", &data))?.len();
            if !target.exists() {
                file.sync_all().map_err(io_err("fsync", &data))?;
                let parent = target.parent().unwrap_or(Path::new("."));
                create_private_dir(parent).map_err(io_err("create directory", parent))?;
                fs::rename(&data, &target).map_err(io_err("rename", &target))?;
                sync_dir(parent)?;
            }
            drop(file);
            let _ = fs::remove_dir_all(&dir);
            Ok(len)
        }))
    }

    fn upload_delete(&self, id: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        let dir = self.upload_dir(id);
        Box::pin(self.blocking(move |_| {
            let dir = dir?;
            match fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err("delete", &dir)(e)),
            }
        }))
    }

    fn upload_list(&self) -> BoxFuture<'_, Result<Vec<StoredUpload>, StorageError>> {
        Box::pin(self.blocking(|this| {
            let root = this.root.join("uploads");
            let mut out = Vec::new();
            let entries = fs::read_dir(&root).map_err(io_err("list", &root))?;
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().to_string();
                let dir = entry.path();
                let info = fs::read(dir.join("info"));
                let data = dir.join("data");
                let len = read_upload_len(&data);
                let modified = fs::metadata(&data)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs_f64());
                match (is_valid_upload_id(&id), info, len) {
                    (true, Ok(info), Ok(len)) => out.push(StoredUpload { id, len, info, modified }),
                    // A session that died before its info was written, or a stray entry: remove it.
                    _ => {
                        let _ = fs::remove_dir_all(&dir);
                    }
                }
            }
            Ok(out)
        }))
    }
}
