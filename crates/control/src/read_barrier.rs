//! Linearizable API calls on a cache: before a call reads the cache, the cache must hold every write the store
//! committed before the call arrived. Each server serves from its own cache, which follows the store a moment
//! behind; without this a server that just restarted, came back from a partition, or simply had not yet seen
//! another server's write answered from the past (DescribeTasks: MISSING for a task another server created
//! moments before; UpdateService: ServiceNotFoundException).
//!
//! The store's current revision costs a round trip on etcd (a linearizable read through its leader). Calls that
//! arrive while one such read is under way share the next one, as etcd batches its own read-index requests: at most
//! one read is in flight per server, and each call waits for at most the one in flight plus one more.

use berth_store::{Store, StoreError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Shares the store's current revision between the calls that arrive together.
#[derive(Default)]
pub struct ReadBarrier {
    /// How many reads of the store's revision were started; each read is numbered by it.
    started: AtomicU64,
    /// The last finished read; held while a read is in flight, so the calls behind it queue here.
    last: tokio::sync::Mutex<Finished>,
    /// Set once the store answered that it needs no barrier (a store this process is the only writer of): calls
    /// then skip the queue altogether.
    unneeded: AtomicBool,
}

/// A finished read of the store's revision.
#[derive(Default)]
struct Finished {
    /// Its number (0: none yet).
    number: u64,
    /// What it found: the revision, `None` for a store this process is the only writer of, or the failure.
    outcome: Option<Result<Option<i64>, String>>,
}

impl ReadBarrier {
    /// The store's revision, read after this call began (a read that started after it, shared with the calls that
    /// arrived with it); `None` when the store needs no barrier (see [`Store::current_revision`]).
    pub async fn current_revision(&self, store: &dyn Store) -> Result<Option<i64>, StoreError> {
        if self.unneeded.load(Ordering::Relaxed) {
            return Ok(None);
        }
        // A read numbered above `arrived` started after this call arrived, so its revision covers every write
        // committed before then.
        let arrived = self.started.load(Ordering::SeqCst);
        let mut last = self.last.lock().await;
        if last.number > arrived
            && let Some(outcome) = &last.outcome
        {
            return outcome.clone().map_err(|message| StoreError::Backend {
                operation: "read the store's revision",
                source: message.into(),
            });
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let outcome = store.current_revision().await;
        *last = Finished { number, outcome: Some(outcome.as_ref().copied().map_err(|e| e.to_string())) };
        if matches!(outcome, Ok(None)) {
            self.unneeded.store(true, Ordering::Relaxed);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store::{KeyValue, Range, Txn, TxnOutcome, Watch};
    use futures::future::BoxFuture;
    use std::sync::Arc;
    use std::sync::atomic::AtomicI64;

    /// A store whose revision reads count themselves (the n-th answers n x 100), each taking until a permit of
    /// `gate` releases it; with `fail_first`, the first read fails.
    struct RevisionStore {
        reads: AtomicI64,
        gate: tokio::sync::Semaphore,
        fail_first: bool,
    }

    impl RevisionStore {
        fn new(permits: usize, fail_first: bool) -> Self {
            Self { reads: AtomicI64::new(0), gate: tokio::sync::Semaphore::new(permits), fail_first }
        }
    }

    impl Store for RevisionStore {
        fn get(&self, _: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>> {
            Box::pin(async { Ok(None) })
        }
        fn range(&self, _: &str) -> BoxFuture<'_, Result<Range, StoreError>> {
            Box::pin(async { Err(StoreError::Closed) })
        }
        fn txn(&self, _: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
            Box::pin(async { Err(StoreError::Closed) })
        }
        fn watch(&self, _: &str, _: i64) -> Result<Watch, StoreError> {
            Err(StoreError::Closed)
        }
        fn revision(&self) -> i64 {
            0
        }
        fn current_revision(&self) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
            Box::pin(async {
                let read = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
                self.gate.acquire().await.map_err(|_| StoreError::Closed)?.forget();
                if self.fail_first && read == 1 {
                    return Err(StoreError::Backend { operation: "read the revision", source: "etcd is away".into() });
                }
                Ok(Some(read * 100))
            })
        }
    }

    /// Calls that arrive while a read is in flight do not use it (it may have started before their writes'
    /// commits reached the store); they share the next read, which starts after the first finishes.
    #[tokio::test]
    async fn calls_share_the_next_read_not_the_one_in_flight() {
        let store = Arc::new(RevisionStore::new(0, false));
        let barrier = Arc::new(ReadBarrier::default());
        let first = tokio::spawn({
            let (barrier, store) = (barrier.clone(), store.clone());
            async move { barrier.current_revision(store.as_ref()).await.unwrap() }
        });
        while store.reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = (0..5)
            .map(|_| {
                let (barrier, store) = (barrier.clone(), store.clone());
                tokio::spawn(async move { barrier.current_revision(store.as_ref()).await.unwrap() })
            })
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        store.gate.add_permits(2);
        assert_eq!(first.await.unwrap(), Some(100));
        for call in later {
            assert_eq!(call.await.unwrap(), Some(200), "the five later calls share the second read");
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }

    /// A failed read fails the calls that share it, with the store's message; the next call reads again.
    #[tokio::test]
    async fn a_failed_read_is_shared_and_then_retried() {
        let store = RevisionStore::new(10, true);
        let barrier = ReadBarrier::default();
        let error = barrier.current_revision(&store).await.unwrap_err();
        assert!(error.to_string().contains("etcd is away"), "{error}");
        assert_eq!(barrier.current_revision(&store).await.unwrap(), Some(200));
    }
}
