//! etcd-only behaviour, on a real etcd: resuming a watch across a restart, compaction, contention, limits,
//! prefixes, paging and leases.

use super::*;
use crate::conformance::etcd_store;
use crate::{EventKind, StoreError, Txn, TxnOutcome};

/// Retries a transaction while etcd comes back (a restarted member refuses or times out for a moment).
async fn txn_retrying(store: &EtcdStore, txn: Txn) -> TxnOutcome {
    for _ in 0..100 {
        match store.txn(txn.clone()).await {
            Ok(outcome) => return outcome,
            Err(StoreError::Backend { .. }) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(other) => panic!("{other}"),
        }
    }
    panic!("etcd did not come back within 10 s");
}

async fn next_within(watch: &mut Watch) -> (i64, Vec<crate::Event>) {
    tokio::time::timeout(Duration::from_secs(20), watch.next()).await.expect("no event within 20 s").unwrap()
}

#[tokio::test]
async fn a_watch_resumes_after_etcd_restarts() {
    let (store, mut etcd) = etcd_store("/b").await;
    let base = store.revision();
    let mut watch = store.watch("/w/", base).unwrap();
    store.txn(Txn::new().put("/w/1", b"a".to_vec())).await.unwrap();
    assert_eq!(next_within(&mut watch).await.0, base + 1);
    etcd.restart().unwrap();
    let TxnOutcome::Committed { revision: second } = txn_retrying(&store, Txn::new().put("/w/2", b"b".to_vec())).await
    else {
        panic!("conflict without compares")
    };
    store.txn(Txn::new().put("/w/3", b"c".to_vec()).delete("/w/1")).await.unwrap();
    let (revision, events) = next_within(&mut watch).await;
    assert_eq!((revision, events[0].kv.key.as_str()), (second, "/w/2"), "resumed without a gap or a repeat");
    let (revision, events) = next_within(&mut watch).await;
    assert_eq!(revision, second + 1);
    assert_eq!(
        events.iter().map(|e| (e.kind, e.kv.key.as_str())).collect::<Vec<_>>(),
        vec![(EventKind::Put, "/w/3"), (EventKind::Delete, "/w/1")]
    );
}

/// A linearizable read through a cache: the store's current revision counts writes under every prefix, and a
/// watch of one prefix, asked for progress, reports once it has delivered everything up to that revision; a watch
/// whose progress nobody asked for delivers events only.
#[tokio::test]
async fn a_watch_asked_for_progress_reports_the_current_revision() {
    let (store, _etcd) = etcd_store("/p").await;
    let base = store.revision();
    let mut watch = store.watch("/ecs/", base).unwrap();
    let mut quiet = store.watch("/ecs/", base).unwrap();
    store.txn(Txn::new().put("/ecs/a", b"a".to_vec())).await.unwrap();
    store.txn(Txn::new().put("/other/b", b"b".to_vec())).await.unwrap();
    let current = store.current_revision().await.unwrap().expect("etcd names its revision");
    assert_eq!(current, base + 2, "the other prefix's write counts");
    let requester = watch.progress_requester();
    assert_eq!(next_within(&mut watch).await.0, base + 1);
    requester.request();
    let (revision, events) = next_within(&mut watch).await;
    assert!(events.is_empty() && revision >= current, "a progress report at {revision} with {} events", events.len());
    store.txn(Txn::new().put("/ecs/c", b"c".to_vec())).await.unwrap();
    assert_eq!(next_within(&mut watch).await.0, base + 3, "events go on after the report");
    assert_eq!(next_within(&mut quiet).await.0, base + 1);
    assert_eq!(next_within(&mut quiet).await.0, base + 3, "no report where none was asked for");
}

#[tokio::test]
async fn a_watch_from_a_compacted_revision_gets_compacted() {
    let (store, _etcd) = etcd_store("").await;
    let base = store.revision();
    for i in 0..5 {
        store.txn(Txn::new().put(format!("/k/{i}"), vec![i])).await.unwrap();
    }
    store.compact(base + 4).await.unwrap();
    let mut old = store.watch("/k/", base).unwrap();
    match tokio::time::timeout(Duration::from_secs(10), old.next()).await.unwrap() {
        Err(StoreError::Compacted { requested, oldest }) => assert_eq!((requested, oldest), (base + 1, base + 4)),
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(matches!(old.next().await, Err(StoreError::Closed)), "the watch stays over");
    // From the compaction point on, history is still there.
    let mut recent = store.watch("/k/", base + 3).unwrap();
    assert_eq!(next_within(&mut recent).await.0, base + 4);
    assert_eq!(next_within(&mut recent).await.0, base + 5);
}

#[tokio::test]
async fn compare_and_swap_counts_exactly_under_contention() {
    let (store, _etcd) = etcd_store("/b").await;
    let store = Arc::new(store);
    store.txn(Txn::new().put("/counter", b"0".to_vec())).await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..15 {
                loop {
                    let kv = store.get("/counter").await.unwrap().unwrap();
                    let n: u64 = String::from_utf8(kv.value).unwrap().parse().unwrap();
                    let txn = Txn::new()
                        .expect("/counter", kv.mod_revision)
                        .put("/counter", (n + 1).to_string().into_bytes());
                    match store.txn(txn).await.unwrap() {
                        TxnOutcome::Committed { .. } => break,
                        TxnOutcome::Conflict { key, actual_revision } => {
                            assert_eq!(key, "/counter");
                            assert!(actual_revision > kv.mod_revision);
                            conflicts += 1;
                        }
                    }
                }
            }
            conflicts
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(store.get("/counter").await.unwrap().unwrap().value, b"60".to_vec(), "no increment lost");
}

#[tokio::test]
async fn oversized_transactions_fail_clearly() {
    let etcd = crate::testing::EtcdProcess::start().unwrap_or_else(|e| panic!("{e}"));
    // The client's own check, at etcd's default limit.
    let store = EtcdStore::connect(EtcdConfig::parse(&etcd.url()).unwrap()).await.unwrap();
    let big = vec![b'x'; 2 * 1024 * 1024];
    let refused = store.txn(Txn::new().put("/big", big.clone())).await;
    assert!(
        matches!(&refused, Err(StoreError::TooLarge { detail }) if detail.contains("max-request-bytes")),
        "{refused:?}"
    );
    // A client told a larger limit than the member's: the member's refusal, mapped, not a hang.
    let lax = EtcdStore::connect(EtcdConfig::parse(&format!("{}?max-request-bytes=8000000", etcd.url())).unwrap())
        .await
        .unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), lax.txn(Txn::new().put("/big", big))).await.unwrap();
    assert!(matches!(refused, Err(StoreError::TooLarge { .. })), "{refused:?}");
    let many = (0..200).fold(Txn::new(), |txn, i| txn.put(format!("/k/{i}"), vec![]));
    assert!(matches!(store.txn(many).await, Err(StoreError::TooLarge { .. })));
    assert!(store.get("/big").await.unwrap().is_none());
}

#[tokio::test]
async fn prefixes_keep_installations_apart_and_ranges_page() {
    let etcd = crate::testing::EtcdProcess::start().unwrap_or_else(|e| panic!("{e}"));
    let open =
        |prefix: &str| EtcdStore::connect(EtcdConfig::parse(&format!("{}?prefix={prefix}", etcd.url())).unwrap());
    let (a, b) = (open("/one").await.unwrap(), open("/two").await.unwrap());
    for chunk in 0..12 {
        let txn = (0..100).fold(Txn::new(), |txn, i| txn.put(format!("/ecs/{:04}", chunk * 100 + i), vec![b'v'; 10]));
        a.txn(txn).await.unwrap();
    }
    b.txn(Txn::new().put("/ecs/0000", b"b's".to_vec())).await.unwrap();
    let range = a.range("").await.unwrap();
    assert_eq!(range.kvs.len(), 1200, "three pages, one revision");
    assert!(range.kvs.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(range.kvs[0].value, vec![b'v'; 10]);
    let other = b.range("/ecs/").await.unwrap();
    assert_eq!(other.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), vec!["/ecs/0000"]);
    assert_eq!(other.kvs[0].value, b"b's".to_vec());
    // Everything, seen without a prefix, is under the two prefixes.
    let all = open("").await.unwrap().range("").await.unwrap();
    assert_eq!(all.kvs.len(), 1201);
    assert!(all.kvs.iter().all(|kv| kv.key.starts_with("/one/ecs/") || kv.key.starts_with("/two/ecs/")));
}

#[tokio::test]
async fn leases_are_granted_renewed_and_revoked() {
    let (store, _etcd) = etcd_store("").await;
    let lease = store.grant_lease(30).await.unwrap();
    assert!(store.keep_lease_alive(lease).await.unwrap() > 0);
    store.revoke_lease(lease).await.unwrap();
    assert!(store.keep_lease_alive(lease).await.unwrap() <= 0, "a revoked lease is over");
}

#[tokio::test]
async fn an_unreachable_etcd_fails_at_connect() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = EtcdConfig::parse(&format!("http://127.0.0.1:{port}?timeout-seconds=2")).unwrap();
    let error = EtcdStore::connect(config).await.err().expect("connected to nothing");
    assert!(error.to_string().contains("reach etcd"), "{error}");
}
