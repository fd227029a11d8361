use super::*;
use crate::RegistryConfig;
use crate::digest::Algorithm;
use crate::meta::records::RepositoryRecord;
use crate::storage::{BlobStore, MemoryBlobStore};
use berth_model::clock::ManualClock;
use berth_model::ecr::ImageTagMutability;
use berth_store::MemoryStore;
use std::time::Duration;

async fn registry() -> (Arc<Registry>, Arc<ManualClock>, tempfile::TempDir) {
    registry_with(|_| {}).await
}

async fn registry_with(
    configure: impl FnOnce(&mut RegistryConfig),
) -> (Arc<Registry>, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000.0));
    let mut config = RegistryConfig::new(dir.path(), "us-east-1", "000000000000", "127.0.0.1:1");
    config.upload_ttl = Duration::from_secs(60);
    configure(&mut config);
    let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
    let r = Registry::open_with(config, Arc::new(MemoryStore::new()), clock.clone(), blobs).await.unwrap();
    for name in ["app", "other"] {
        create_repo(&r, name).await;
    }
    (r, clock, dir)
}

async fn create_repo(r: &Registry, name: &str) {
    r.create_repository(RepositoryRecord {
        name: name.into(),
        created_at: 0.0,
        image_tag_mutability: ImageTagMutability::Mutable,
        exclusion_filters: vec![],
        scan_on_push: false,
        encryption: None,
        tags: vec![],
        lifecycle_policy: None,
        lifecycle_evaluated_at: None,
        policy: None,
    })
    .await
    .unwrap();
}

fn chunk(start: Option<u64>, data: &[u8]) -> Chunk {
    Chunk::bytes(start, Bytes::copy_from_slice(data))
}

fn failing(data: &'static [u8], declared: u64) -> Chunk {
    let body: ByteStream = Box::pin(futures::stream::iter(vec![
        Ok(Bytes::from_static(data)),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client went away")),
    ]));
    Chunk { start: None, len: Some(declared), body }
}

#[tokio::test]
async fn chunks_append_in_order_and_finish_verified() {
    let (r, _, _d) = registry().await;
    let s = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    assert_eq!(r.upload_append("app", &s.id, chunk(Some(0), b"hello ")).await.unwrap().offset, 6);
    assert_eq!(r.upload_append("app", &s.id, chunk(None, b"wor")).await.unwrap().offset, 9);
    let digest = Digest::sha256_of(b"hello world");
    let blob = r.upload_finish("app", &s.id, &digest, Some(chunk(Some(9), b"ld")), true).await.unwrap();
    assert_eq!(blob.size, 11);
    assert_eq!(r.blobs.read_all(&digest, 100).await.unwrap().unwrap().as_ref(), b"hello world");
    assert!(r.index.read().repo("app").unwrap().has_blob(&digest.to_string()));
    // Finished sessions are gone.
    assert!(matches!(r.upload_status("app", &s.id).await, Err(RegistryError::UploadUnknown { .. })));
}

#[tokio::test]
async fn out_of_order_chunks_are_refused_and_leave_no_trace() {
    let (r, _, _d) = registry().await;
    let s = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    r.upload_append("app", &s.id, chunk(Some(0), b"abc")).await.unwrap();
    for start in [0, 2, 4, 100] {
        let e = r.upload_append("app", &s.id, chunk(Some(start), b"zzz")).await.unwrap_err();
        assert!(matches!(e, RegistryError::RangeInvalid { offset: 3, .. }), "{e:?}");
    }
    assert_eq!(r.upload_status("app", &s.id).await.unwrap().offset, 3);
    let blob = r.upload_finish("app", &s.id, &Digest::sha256_of(b"abc"), None, true).await.unwrap();
    assert_eq!(blob.size, 3);
}

#[tokio::test]
async fn a_failed_or_short_body_rolls_the_chunk_back() {
    let (r, _, _d) = registry().await;
    let s = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    r.upload_append("app", &s.id, chunk(None, b"keep")).await.unwrap();
    let e = r.upload_append("app", &s.id, failing(b"partial", 100)).await.unwrap_err();
    assert!(matches!(e, RegistryError::SizeInvalid { .. }), "{e:?}");
    // Declared longer than sent.
    let short = Chunk {
        start: None,
        len: Some(10),
        body: Box::pin(futures::stream::iter(vec![Ok(Bytes::from_static(b"abc"))])),
    };
    assert!(matches!(r.upload_append("app", &s.id, short).await, Err(RegistryError::SizeInvalid { .. })));
    // Declared shorter than sent.
    let long = Chunk {
        start: None,
        len: Some(1),
        body: Box::pin(futures::stream::iter(vec![Ok(Bytes::from_static(b"abc"))])),
    };
    assert!(matches!(r.upload_append("app", &s.id, long).await, Err(RegistryError::SizeInvalid { .. })));
    assert_eq!(r.upload_status("app", &s.id).await.unwrap().offset, 4);
    // The running hash survived the failures: the blob verifies.
    r.upload_finish("app", &s.id, &Digest::sha256_of(b"keep"), None, true).await.unwrap();
}

#[tokio::test]
async fn a_wrong_digest_discards_the_upload() {
    let (r, _, _d) = registry().await;
    let s = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    r.upload_append("app", &s.id, chunk(None, b"data")).await.unwrap();
    let wrong = Digest::sha256_of(b"other");
    let e = r.upload_finish("app", &s.id, &wrong, None, true).await.unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }));
    assert!(r.blobs.stat(&wrong).await.unwrap().is_none());
    assert!(r.blobs.stat(&Digest::sha256_of(b"data")).await.unwrap().is_none());
    assert_eq!(r.upload_count(), 0);
    assert!(r.blobs.upload_list().await.unwrap().is_empty());
}

#[tokio::test]
async fn sha512_uploads_verify() {
    let (r, _, _d) = registry().await;
    let s = r.upload_start("app", Algorithm::Sha512).await.unwrap();
    r.upload_append("app", &s.id, chunk(None, b"x")).await.unwrap();
    let mut h = crate::digest::Hasher::new(Algorithm::Sha512);
    h.update(b"x");
    let digest = h.finish();
    r.upload_finish("app", &s.id, &digest, None, true).await.unwrap();
    // A sha256 digest of a sha512-hashed upload is re-hashed from storage.
    let s = r.upload_start("app", Algorithm::Sha512).await.unwrap();
    r.upload_append("app", &s.id, chunk(None, b"y")).await.unwrap();
    r.upload_finish("app", &s.id, &Digest::sha256_of(b"y"), None, true).await.unwrap();
}

#[tokio::test]
async fn unknown_foreign_and_cancelled_sessions() {
    let (r, _, _d) = registry().await;
    assert!(matches!(r.upload_status("app", "../../etc").await, Err(RegistryError::UploadUnknown { .. })));
    let id = uuid::Uuid::new_v4().to_string();
    assert!(matches!(r.upload_status("app", &id).await, Err(RegistryError::UploadUnknown { .. })));
    assert!(matches!(r.upload_start("nope", Algorithm::Sha256).await, Err(RegistryError::RepositoryNotFound { .. })));
    let s = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    assert!(matches!(r.upload_status("other", &s.id).await, Err(RegistryError::UploadUnknown { .. })));
    r.upload_cancel("app", &s.id).await.unwrap();
    assert!(matches!(r.upload_append("app", &s.id, chunk(None, b"x")).await, Err(RegistryError::UploadUnknown { .. })));
}

#[tokio::test]
async fn empty_uploads_follow_the_caller() {
    let (r, _, _d) = registry().await;
    let s = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    assert!(matches!(
        r.upload_finish("app", &s.id, &Digest::sha256_of(b""), None, false).await,
        Err(RegistryError::EmptyUpload { .. })
    ));
    let blob = r.upload_finish("app", &s.id, &Digest::sha256_of(b""), None, true).await.unwrap();
    assert_eq!(blob.size, 0);
}

#[tokio::test]
async fn idle_uploads_expire() {
    let (r, clock, _d) = registry().await;
    let old = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    clock.advance(50.0);
    let young = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    clock.advance(20.0);
    assert_eq!(r.expire_uploads().await.unwrap(), 1);
    assert!(r.upload_status("app", &old.id).await.is_err());
    assert!(r.upload_status("app", &young.id).await.is_ok());
    assert_eq!(r.blobs.upload_list().await.unwrap().len(), 1);
}

/// A body that sends what arrives on a channel, and stalls while nothing does.
fn channel_chunk() -> (tokio::sync::mpsc::Sender<Bytes>, Chunk) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let body: ByteStream = Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(Ok))));
    (tx, Chunk { start: None, len: None, body })
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn a_stalled_chunk_expires_from_its_last_byte_and_is_cancelled() {
    let (r, clock, _d) = registry().await;
    let s = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    let (tx, body) = channel_chunk();
    let (r2, id) = (r.clone(), s.id.clone());
    let append = tokio::spawn(async move { r2.upload_append("app", &id, body).await });
    tx.send(Bytes::from_static(b"x")).await.unwrap();
    settle().await;
    clock.advance(50.0);
    tx.send(Bytes::from_static(b"y")).await.unwrap();
    settle().await;
    clock.advance(20.0);
    // 70 s after the start but 20 s after the last byte: busy and not idle.
    assert_eq!(r.expire_uploads().await.unwrap(), 0);
    clock.advance(41.0);
    // The body stalls (the sender is alive): 61 s without a byte is idle, whatever the lock says.
    assert_eq!(r.expire_uploads().await.unwrap(), 1);
    let outcome = tokio::time::timeout(Duration::from_secs(5), append).await.unwrap().unwrap();
    assert!(matches!(outcome, Err(RegistryError::UploadUnknown { .. })), "{outcome:?}");
    assert!(r.upload_status("app", &s.id).await.is_err());
    assert!(r.blobs.upload_list().await.unwrap().is_empty());
    assert_eq!(r.upload_count(), 0);
    drop(tx);
}

#[tokio::test]
async fn requests_keep_a_session_alive() {
    let (r, clock, _d) = registry().await;
    let s = r.upload_start("app", Algorithm::Sha256).await.unwrap();
    clock.advance(50.0);
    r.upload_status("app", &s.id).await.unwrap();
    clock.advance(50.0);
    assert_eq!(r.expire_uploads().await.unwrap(), 0);
    clock.advance(11.0);
    assert_eq!(r.expire_uploads().await.unwrap(), 1);
}

#[tokio::test]
async fn sessions_are_capped_per_repository() {
    let (r, _, _d) = registry_with(|c| c.max_uploads_per_repository = 3).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(r.upload_start("app", Algorithm::Sha256).await.unwrap().id);
    }
    let refused = r.upload_start("app", Algorithm::Sha256).await.unwrap_err();
    assert!(matches!(refused, RegistryError::LimitExceeded { .. }), "{refused:?}");
    assert!(refused.to_string().contains("'app' already has 3 uploads in progress"), "{refused}");
    assert_eq!(crate::oci::status_and_code(&refused), (http::StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"));
    assert_eq!(crate::EcrError::from(refused).exception(), "LimitExceededException");
    // Another repository has its own allowance; a cancelled session frees a place.
    r.upload_start("other", Algorithm::Sha256).await.unwrap();
    r.upload_cancel("app", &ids[0]).await.unwrap();
    r.upload_start("app", Algorithm::Sha256).await.unwrap();
}

/// Issue 8, point 12: an upload orphaned by a crash (the process died mid-push) is restored by the next process
/// and still expires after its TTL; the restart does not keep it alive for ever.
#[tokio::test]
async fn an_upload_orphaned_by_a_restart_expires_after_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000.0));
    let store: berth_store::SharedStore = Arc::new(MemoryStore::new());
    let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
    let config = || {
        let mut config = RegistryConfig::new(dir.path(), "us-east-1", "000000000000", "127.0.0.1:1");
        config.upload_ttl = Duration::from_secs(60);
        config
    };
    let first = Registry::open_with(config(), store.clone(), clock.clone(), blobs.clone()).await.unwrap();
    create_repo(&first, "app").await;
    let orphan = first.upload_start("app", Algorithm::Sha256).await.unwrap();
    first.upload_append("app", &orphan.id, chunk(None, b"half a layer")).await.unwrap();
    drop(first); // the process dies: nobody finishes or cancels the upload

    clock.advance(10.0);
    let second = Registry::open_with(config(), store, clock.clone(), blobs.clone()).await.unwrap();
    assert!(second.upload_status("app", &orphan.id).await.is_ok(), "the next process restores the session");
    clock.advance(30.0);
    assert_eq!(second.expire_uploads().await.unwrap(), 0, "not before its TTL");
    clock.advance(31.0);
    assert_eq!(second.expire_uploads().await.unwrap(), 1, "the orphan expires after its TTL");
    assert!(blobs.upload_list().await.unwrap().is_empty(), "its data is gone");
}
