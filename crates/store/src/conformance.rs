//! The same behavioural tests run against every backend: memory, SQLite, and a real etcd (started per test, so
//! its revisions are this test's alone). Revisions are checked relative to the store's revision at the start: a
//! fresh etcd starts at revision 1, the embedded stores at 0.

use crate::testing::EtcdProcess;
use crate::{EtcdConfig, EtcdStore, EventKind, MemoryStore, SqliteStore, Store, StoreError, Txn, TxnOutcome};
use std::sync::Arc;

/// What keeps a backend alive (a temp dir, an etcd process) for the test's duration.
type Guard = Box<dyn std::any::Any + Send>;

async fn backends() -> Vec<(&'static str, Arc<dyn Store>, Guard)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let (etcd, process) = etcd_store("/conformance").await;
    vec![
        ("memory", Arc::new(MemoryStore::new()), Box::new(())),
        ("sqlite", Arc::new(sqlite), Box::new(dir)),
        ("etcd", Arc::new(etcd), Box::new(process)),
    ]
}

/// A store on a fresh etcd under `prefix`; the process must outlive the store.
pub(crate) async fn etcd_store(prefix: &str) -> (EtcdStore, EtcdProcess) {
    let process = EtcdProcess::start().unwrap_or_else(|e| panic!("{e}"));
    let config = EtcdConfig::parse(&format!("{}?prefix={prefix}", process.url())).unwrap();
    (EtcdStore::connect(config).await.unwrap(), process)
}

#[tokio::test]
async fn put_get_range_and_revisions() {
    for (name, store, _guard) in backends().await {
        let base = store.revision();
        assert_eq!(
            store.txn(Txn::new().put("/a/1", b"x".to_vec())).await.unwrap(),
            TxnOutcome::Committed { revision: base + 1 },
            "{name}"
        );
        store.txn(Txn::new().put("/a/2", b"y".to_vec()).put("/b/1", b"z".to_vec())).await.unwrap();
        store.txn(Txn::new().put("/a/1", b"x2".to_vec())).await.unwrap();
        let kv = store.get("/a/1").await.unwrap().unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.value), (base + 1, base + 3, b"x2".to_vec()), "{name}");
        let range = store.range("/a/").await.unwrap();
        assert_eq!(range.revision, base + 3, "{name}");
        assert_eq!(range.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), vec!["/a/1", "/a/2"], "{name}");
        assert!(store.get("/missing").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn compare_and_swap() {
    for (name, store, _guard) in backends().await {
        let base = store.revision();
        // Create-if-absent.
        assert!(matches!(
            store.txn(Txn::new().expect("/k", 0).put("/k", b"1".to_vec())).await.unwrap(),
            TxnOutcome::Committed { .. }
        ));
        let conflict = store.txn(Txn::new().expect("/k", 0).put("/k", b"2".to_vec())).await.unwrap();
        assert_eq!(conflict, TxnOutcome::Conflict { key: "/k".into(), actual_revision: base + 1 }, "{name}");
        // Nothing was written by the failed transaction.
        assert_eq!(store.get("/k").await.unwrap().unwrap().value, b"1".to_vec());
        assert_eq!(store.revision(), base + 1, "{name}");
        assert!(matches!(
            store.txn(Txn::new().expect("/k", base + 1).delete("/k")).await.unwrap(),
            TxnOutcome::Committed { revision } if revision == base + 2
        ));
        assert!(store.get("/k").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_conflict_names_the_first_failed_compare() {
    for (name, store, _guard) in backends().await {
        let base = store.revision();
        store.txn(Txn::new().put("/x", b"1".to_vec()).put("/y", b"1".to_vec())).await.unwrap();
        store.txn(Txn::new().put("/y", b"2".to_vec())).await.unwrap();
        // /x matches, /y does not, /z (absent) does not either: /y is named, with its actual revision.
        let txn = Txn::new().expect("/x", base + 1).expect("/y", base + 1).expect("/z", 5).put("/x", b"3".to_vec());
        let outcome = store.txn(txn).await.unwrap();
        assert_eq!(outcome, TxnOutcome::Conflict { key: "/y".into(), actual_revision: base + 2 }, "{name}");
        let absent = store.txn(Txn::new().expect("/z", 5).put("/z", vec![])).await.unwrap();
        assert_eq!(absent, TxnOutcome::Conflict { key: "/z".into(), actual_revision: 0 }, "{name}");
        assert_eq!(store.get("/x").await.unwrap().unwrap().value, b"1".to_vec(), "{name}");
    }
}

#[tokio::test]
async fn rejects_bad_keys() {
    for (name, store, _guard) in backends().await {
        let base = store.revision();
        assert!(matches!(store.txn(Txn::new().put("", vec![])).await, Err(StoreError::InvalidKey { .. })));
        assert!(matches!(store.txn(Txn::new().put("/k\n", vec![])).await, Err(StoreError::InvalidKey { .. })));
        assert!(matches!(store.get("/k\u{e9}").await, Err(StoreError::InvalidKey { .. })));
        assert_eq!(store.revision(), base, "{name}");
    }
}

#[tokio::test]
async fn watch_delivers_in_order_from_a_revision() {
    for (name, store, _guard) in backends().await {
        let base = store.revision();
        store.txn(Txn::new().put("/w/1", b"a".to_vec())).await.unwrap();
        store.txn(Txn::new().put("/other", b"b".to_vec())).await.unwrap();
        let mut watch = store.watch("/w/", base).unwrap();
        store.txn(Txn::new().put("/w/2", b"c".to_vec()).delete("/w/1")).await.unwrap();
        let (rev, events) = watch.next().await.unwrap();
        assert_eq!((rev, events.len(), events[0].kv.key.as_str()), (base + 1, 1, "/w/1"), "{name}");
        assert_eq!(events[0].kv.value, b"a".to_vec(), "{name}");
        let (rev, events) = watch.next().await.unwrap();
        assert_eq!(rev, base + 3, "{name}: revision {} touched no /w/ key", base + 2);
        assert_eq!(events[0].kind, EventKind::Put);
        assert_eq!(events[1].kind, EventKind::Delete);
        assert_eq!(events[1].kv.key, "/w/1");
    }
}

#[tokio::test]
async fn concurrent_cas_has_one_winner() {
    for (name, store, _guard) in backends().await {
        let base = store.revision();
        store.txn(Txn::new().put("/counter", b"0".to_vec())).await.unwrap();
        let mut handles = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                store
                    .txn(Txn::new().expect("/counter", base + 1).put("/counter", format!("{i}").into_bytes()))
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for h in handles {
            if matches!(h.await.unwrap(), TxnOutcome::Committed { .. }) {
                wins += 1;
            }
        }
        assert_eq!(wins, 1, "{name}");
    }
}
