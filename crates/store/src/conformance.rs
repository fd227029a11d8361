//! The same behavioural tests run against every backend.

use crate::{EventKind, MemoryStore, SqliteStore, Store, StoreError, Txn, TxnOutcome};
use std::sync::Arc;

async fn backends() -> Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    vec![("memory", Arc::new(MemoryStore::new()), None), ("sqlite", Arc::new(sqlite), Some(dir))]
}

#[tokio::test]
async fn put_get_range_and_revisions() {
    for (name, store, _dir) in backends().await {
        assert_eq!(
            store.txn(Txn::new().put("/a/1", b"x".to_vec())).await.unwrap(),
            TxnOutcome::Committed { revision: 1 }
        );
        store.txn(Txn::new().put("/a/2", b"y".to_vec()).put("/b/1", b"z".to_vec())).await.unwrap();
        store.txn(Txn::new().put("/a/1", b"x2".to_vec())).await.unwrap();
        let kv = store.get("/a/1").await.unwrap().unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.value), (1, 3, b"x2".to_vec()), "{name}");
        let range = store.range("/a/").await.unwrap();
        assert_eq!(range.revision, 3, "{name}");
        assert_eq!(range.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), vec!["/a/1", "/a/2"], "{name}");
        assert!(store.get("/missing").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn compare_and_swap() {
    for (name, store, _dir) in backends().await {
        // Create-if-absent.
        assert!(matches!(
            store.txn(Txn::new().expect("/k", 0).put("/k", b"1".to_vec())).await.unwrap(),
            TxnOutcome::Committed { .. }
        ));
        let conflict = store.txn(Txn::new().expect("/k", 0).put("/k", b"2".to_vec())).await.unwrap();
        assert_eq!(conflict, TxnOutcome::Conflict { key: "/k".into(), actual_revision: 1 }, "{name}");
        // Nothing was written by the failed transaction.
        assert_eq!(store.get("/k").await.unwrap().unwrap().value, b"1".to_vec());
        assert_eq!(store.revision(), 1);
        assert!(matches!(
            store.txn(Txn::new().expect("/k", 1).delete("/k")).await.unwrap(),
            TxnOutcome::Committed { revision: 2 }
        ));
        assert!(store.get("/k").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn rejects_bad_keys() {
    for (_name, store, _dir) in backends().await {
        assert!(matches!(store.txn(Txn::new().put("", vec![])).await, Err(StoreError::InvalidKey { .. })));
        assert!(matches!(store.txn(Txn::new().put("/k\n", vec![])).await, Err(StoreError::InvalidKey { .. })));
        assert_eq!(store.revision(), 0);
    }
}

#[tokio::test]
async fn watch_delivers_in_order_from_a_revision() {
    for (name, store, _dir) in backends().await {
        store.txn(Txn::new().put("/w/1", b"a".to_vec())).await.unwrap();
        store.txn(Txn::new().put("/other", b"b".to_vec())).await.unwrap();
        let mut watch = store.watch("/w/", 0).unwrap();
        store.txn(Txn::new().put("/w/2", b"c".to_vec()).delete("/w/1")).await.unwrap();
        let (rev, events) = watch.next().await.unwrap();
        assert_eq!((rev, events.len(), events[0].kv.key.as_str()), (1, 1, "/w/1"), "{name}");
        let (rev, events) = watch.next().await.unwrap();
        assert_eq!(rev, 3, "{name}: revision 2 touched no /w/ key");
        assert_eq!(events[0].kind, EventKind::Put);
        assert_eq!(events[1].kind, EventKind::Delete);
        assert_eq!(events[1].kv.key, "/w/1");
    }
}

#[tokio::test]
async fn concurrent_cas_has_one_winner() {
    for (name, store, _dir) in backends().await {
        store.txn(Txn::new().put("/counter", b"0".to_vec())).await.unwrap();
        let mut handles = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                store.txn(Txn::new().expect("/counter", 1).put("/counter", format!("{i}").into_bytes())).await.unwrap()
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
