//! An in-memory store with the same semantics as the SQLite one; for tests and benchmarks.

use crate::watch::{Event, EventKind, WatchHub};
use crate::{Compare, KeyValue, Op, Range, Store, StoreError, Txn, TxnOutcome, Watch, check_key, check_txn};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

struct Inner {
    data: BTreeMap<String, KeyValue>,
    revision: i64,
}

/// A store held in memory; its contents die with the process.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    hub: Arc<WatchHub>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner { data: BTreeMap::new(), revision: 0 }),
            hub: WatchHub::new(0, 10_000, 8 * 1024 * 1024),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn apply(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        check_txn(&txn)?;
        let mut inner = self.lock();
        for Compare::ModRevision { key, revision } in &txn.compares {
            let actual = inner.data.get(key).map(|kv| kv.mod_revision).unwrap_or(0);
            if actual != *revision {
                return Ok(TxnOutcome::Conflict { key: key.clone(), actual_revision: actual });
            }
        }
        let revision = inner.revision + 1;
        let mut events = Vec::with_capacity(txn.ops.len());
        for op in txn.ops {
            match op {
                Op::Put { key, value } => {
                    let create_revision = inner.data.get(&key).map(|kv| kv.create_revision).unwrap_or(revision);
                    let kv = KeyValue { key: key.clone(), value, create_revision, mod_revision: revision };
                    inner.data.insert(key, kv.clone());
                    events.push(Event { kind: EventKind::Put, kv });
                }
                Op::Delete { key } => {
                    if let Some(old) = inner.data.remove(&key) {
                        let kv = KeyValue {
                            key,
                            value: Vec::new(),
                            create_revision: old.create_revision,
                            mod_revision: revision,
                        };
                        events.push(Event { kind: EventKind::Delete, kv });
                    }
                }
            }
        }
        inner.revision = revision;
        self.hub.publish(revision, events);
        Ok(TxnOutcome::Committed { revision })
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>> {
        let result = check_key(key).map(|_| self.lock().data.get(key).cloned());
        Box::pin(async move { result })
    }

    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<Range, StoreError>> {
        let inner = self.lock();
        let kvs = inner
            .data
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        let range = Range { kvs, revision: inner.revision };
        Box::pin(async move { Ok(range) })
    }

    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
        let outcome = self.apply(txn);
        Box::pin(async move { outcome })
    }

    fn watch(&self, prefix: &str, after_revision: i64) -> Result<Watch, StoreError> {
        self.hub.watch(prefix, after_revision)
    }

    fn revision(&self) -> i64 {
        self.hub.last_revision()
    }
}
