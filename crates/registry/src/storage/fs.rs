//! Blobs on the local filesystem.
//!
//! Layout under the root: `blobs/<algorithm>/<first two hex>/<hex>` (each blob once), `uploads/<uuid>/data` and
//! `uploads/<uuid>/info` (sessions in progress). Uploads and blobs share a filesystem, so committing an upload is a
//! `rename` after an `fsync` of the data, followed by an `fsync` of the blob's directory: a blob path either does
//! not exist or holds the complete, verified content, whatever moment the process dies at.
//!
//! Writes and reads run on the blocking pool, one thread per transfer, fed through a small channel so that the
//! network and the disk overlap; hashing happens on the writing thread, so each byte is hashed exactly once.

use super::{Appended, BlobBody, BlobStore, ByteStream, StorageError, StoredUpload, is_valid_upload_id};
use crate::digest::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Blobs read whole in one go (one allocation) instead of streamed.
const SMALL_BLOB: u64 = 1 << 20;
/// The size of each chunk a streamed read sends.
const READ_CHUNK: usize = 1 << 20;

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

/// Fsyncs a directory so that a rename or create inside it is durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync directory", dir))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
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

impl FsBlobStore {
    /// A store rooted at `root` (created if missing).
    pub fn open(root: &Path) -> Result<Self, StorageError> {
        for sub in ["blobs", "uploads"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
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
        tokio::task::spawn_blocking(move || f(this)).await.map_err(join_err)?
    }

    fn stream_file(mut file: File, start: u64, len: u64) -> ByteStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            let mut left = len;
            while left > 0 {
                let want = left.min(READ_CHUNK as u64);
                // read_to_end into spare capacity: no zero-filling of a buffer about to be overwritten.
                let mut buf = Vec::with_capacity(want as usize);
                match (&mut file).take(want).read_to_end(&mut buf) {
                    Ok(0) => {
                        let _ = tx.blocking_send(Err(io::Error::from(io::ErrorKind::UnexpectedEof)));
                        return;
                    }
                    Ok(n) => {
                        left -= n as u64;
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return; // the client went away
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        tokio_stream_from(rx)
    }
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>) -> ByteStream {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
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
                    let mut file = match File::open(&path) {
                        Ok(f) => f,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                        Err(e) => return Err(io_err("open", &path)(e)),
                    };
                    let total = file.metadata().map_err(io_err("stat", &path))?.len();
                    let range = range.unwrap_or(0..total);
                    let len = range.end.saturating_sub(range.start);
                    if len <= SMALL_BLOB {
                        let mut buf = vec![0u8; len as usize];
                        file.seek(SeekFrom::Start(range.start)).map_err(io_err("seek", &path))?;
                        file.read_exact(&mut buf).map_err(io_err("read", &path))?;
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
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
            let data = dir.join("data");
            File::create(&data).map_err(io_err("create", &data))?;
            write_atomic(&dir.join("info"), &info)
        }))
    }

    fn upload_append(
        &self,
        id: &str,
        offset: u64,
        mut body: ByteStream,
        hasher: Option<Hasher>,
        limit: u64,
    ) -> BoxFuture<'_, Result<Appended, StorageError>> {
        let dir = self.upload_dir(id);
        let id = id.to_string();
        Box::pin(async move {
            let data = dir?.join("data");
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
            let writer_path = data.clone();
            let writer_id = id.clone();
            let writer = tokio::task::spawn_blocking(move || -> Result<Appended, StorageError> {
                let file = match OpenOptions::new().append(true).open(&writer_path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(StorageError::UploadUnknown { id: writer_id });
                    }
                    Err(e) => return Err(io_err("open", &writer_path)(e)),
                };
                let actual = file.metadata().map_err(io_err("stat", &writer_path))?.len();
                if actual != offset {
                    return Err(StorageError::OffsetMismatch { id: writer_id, expected: offset, actual });
                }
                let mut hasher = hasher;
                let mut out = BufWriter::with_capacity(1 << 20, file);
                let mut len = offset;
                while let Some(chunk) = rx.blocking_recv() {
                    len += chunk.len() as u64;
                    if len > limit {
                        return Err(StorageError::TooLarge { limit });
                    }
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                    out.write_all(&chunk).map_err(io_err("write", &writer_path))?;
                }
                out.flush().map_err(io_err("write", &writer_path))?;
                Ok(Appended { len, hasher })
            });
            let mut received = 0u64;
            let mut body_error = None;
            while let Some(frame) = body.next().await {
                match frame {
                    Ok(chunk) => {
                        received += chunk.len() as u64;
                        if tx.send(chunk).await.is_err() {
                            break; // the writer stopped: its error is reported below
                        }
                    }
                    Err(e) => {
                        body_error = Some(e);
                        break;
                    }
                }
            }
            drop(tx);
            let written = writer.await.map_err(join_err)?;
            let failure = match (written, body_error) {
                (Ok(appended), None) => return Ok(appended),
                (_, Some(source)) => StorageError::Body { received, source },
                (Err(e), None) => e,
            };
            if !matches!(failure, StorageError::OffsetMismatch { .. } | StorageError::UploadUnknown { .. }) {
                // Roll back to the offset the append started at, so a failed chunk leaves no trace.
                let rollback = data.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    OpenOptions::new().write(true).open(&rollback).and_then(|f| f.set_len(offset))
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
                fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
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
                let len = read_upload_len(&dir.join("data"));
                match (is_valid_upload_id(&id), info, len) {
                    (true, Ok(info), Ok(len)) => out.push(StoredUpload { id, len, info }),
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
