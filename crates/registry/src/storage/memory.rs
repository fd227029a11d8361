//! Blobs in memory, with the same semantics as the filesystem store; for tests.

use super::{Appended, BlobBody, BlobReader, BlobStore, ByteStream, StorageError, StoredUpload};
use crate::digest::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Inner {
    blobs: HashMap<Digest, Bytes>,
    uploads: HashMap<String, (Vec<u8>, Vec<u8>)>,
}

/// A [`BlobStore`] in memory.
#[derive(Default)]
pub struct MemoryBlobStore {
    inner: Mutex<Inner>,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BlobStore for MemoryBlobStore {
    fn stat(&self, digest: &Digest) -> BoxFuture<'_, Result<Option<u64>, StorageError>> {
        let size = self.lock().blobs.get(digest).map(|b| b.len() as u64);
        Box::pin(async move { Ok(size) })
    }

    fn read(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'_, Result<Option<BlobBody>, StorageError>> {
        let blob = self.lock().blobs.get(digest).cloned();
        Box::pin(async move {
            Ok(blob.map(|bytes| {
                let total = bytes.len() as u64;
                let range = range.unwrap_or(0..total);
                let slice = bytes.slice(range.start as usize..range.end.min(total) as usize);
                let stream: ByteStream = Box::pin(futures::stream::once(async move { Ok(slice) }));
                BlobBody { total, stream }
            }))
        })
    }

    fn read_all(&self, digest: &Digest, limit: u64) -> BoxFuture<'_, Result<Option<Bytes>, StorageError>> {
        let blob = self.lock().blobs.get(digest).cloned().filter(|b| b.len() as u64 <= limit);
        Box::pin(async move { Ok(blob) })
    }

    fn open_reader(&self, digest: &Digest) -> BoxFuture<'_, Result<Option<BlobReader>, StorageError>> {
        let blob = self.lock().blobs.get(digest).cloned();
        Box::pin(async move { Ok(blob.map(|b| Box::new(std::io::Cursor::new(b)) as BlobReader)) })
    }

    fn delete(&self, digest: &Digest) -> BoxFuture<'_, Result<bool, StorageError>> {
        let removed = self.lock().blobs.remove(digest).is_some();
        Box::pin(async move { Ok(removed) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<(Digest, u64)>, StorageError>> {
        let all = self.lock().blobs.iter().map(|(d, b)| (d.clone(), b.len() as u64)).collect();
        Box::pin(async move { Ok(all) })
    }

    fn upload_create(&self, id: &str, info: Vec<u8>) -> BoxFuture<'_, Result<(), StorageError>> {
        self.lock().uploads.insert(id.to_string(), (Vec::new(), info));
        Box::pin(async { Ok(()) })
    }

    fn upload_append(
        &self,
        id: &str,
        offset: u64,
        mut body: ByteStream,
        hasher: Option<Hasher>,
        limit: u64,
    ) -> BoxFuture<'_, Result<Appended, StorageError>> {
        let id = id.to_string();
        Box::pin(async move {
            let actual = match self.lock().uploads.get(&id) {
                Some((data, _)) => data.len() as u64,
                None => return Err(StorageError::UploadUnknown { id }),
            };
            if actual != offset {
                return Err(StorageError::OffsetMismatch { id, expected: offset, actual });
            }
            let mut received = Vec::new();
            while let Some(frame) = body.next().await {
                match frame {
                    Ok(chunk) => {
                        received.extend_from_slice(&chunk);
                        if offset + received.len() as u64 > limit {
                            return Err(StorageError::TooLarge { limit });
                        }
                    }
                    Err(source) => return Err(StorageError::Body { received: received.len() as u64, source }),
                }
            }
            let mut hasher = hasher;
            if let Some(h) = hasher.as_mut() {
                h.update(&received);
            }
            let mut inner = self.lock();
            let (data, _) = inner.uploads.get_mut(&id).ok_or(StorageError::UploadUnknown { id: id.clone() })?;
            if data.len() as u64 != offset {
                return Err(StorageError::OffsetMismatch { id, expected: offset, actual: data.len() as u64 });
            }
            data.extend_from_slice(&received);
            Ok(Appended { len: data.len() as u64, hasher })
        })
    }

    fn upload_hash(&self, id: &str, algorithm: Algorithm) -> BoxFuture<'_, Result<Digest, StorageError>> {
        let data = self.lock().uploads.get(id).map(|(d, _)| d.clone());
        let id = id.to_string();
        Box::pin(async move {
            let data = data.ok_or(StorageError::UploadUnknown { id })?;
            let mut h = Hasher::new(algorithm);
            h.update(&data);
            Ok(h.finish())
        })
    }

    fn upload_commit(&self, id: &str, digest: &Digest) -> BoxFuture<'_, Result<u64, StorageError>> {
        let mut inner = self.lock();
        let result = match inner.uploads.remove(id) {
            Some((data, _)) => {
                let len = data.len() as u64;
                inner.blobs.entry(digest.clone()).or_insert_with(|| Bytes::from(data));
                Ok(len)
            }
            None => Err(StorageError::UploadUnknown { id: id.to_string() }),
        };
        Box::pin(async move { result })
    }

    fn upload_delete(&self, id: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        self.lock().uploads.remove(id);
        Box::pin(async { Ok(()) })
    }

    fn upload_list(&self) -> BoxFuture<'_, Result<Vec<StoredUpload>, StorageError>> {
        let all = self
            .lock()
            .uploads
            .iter()
            .map(|(id, (data, info))| StoredUpload {
                id: id.clone(),
                len: data.len() as u64,
                info: info.clone(),
                modified: None,
            })
            .collect();
        Box::pin(async move { Ok(all) })
    }
}
