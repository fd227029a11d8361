//! A store whose watches lag, for tests of readers that serve from a cache: every change (and every progress
//! report) reaches a watcher a fixed delay after it was committed, as on a server whose watch stream runs behind
//! the cluster's writes. Reads and writes go straight to the wrapped store, and the store reports its revision as
//! a shared backend does ([`Store::current_revision`] is `Some`), so a reader must wait for its watch to catch up.

use crate::watch::{Event, Progress};
use crate::{KeyValue, Range, SharedStore, Store, StoreError, Txn, TxnOutcome, Watch};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Wraps a store so that its watches deliver each change `delay` late.
pub struct LaggingStore {
    inner: SharedStore,
    delay: Duration,
}

impl LaggingStore {
    /// `inner`, with watches `delay` behind it.
    pub fn new(inner: SharedStore, delay: Duration) -> Self {
        Self { inner, delay }
    }
}

impl Store for LaggingStore {
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>> {
        self.inner.get(key)
    }

    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<Range, StoreError>> {
        self.inner.range(prefix)
    }

    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
        self.inner.txn(txn)
    }

    fn watch(&self, prefix: &str, after_revision: i64) -> Result<Watch, StoreError> {
        let upstream = self.inner.watch(prefix, after_revision)?;
        let progress = Arc::new(Progress::default());
        let (sender, receiver) = mpsc::channel(1024);
        let relay = Relay { inner: self.inner.clone(), delay: self.delay, progress: progress.clone() };
        let task = tokio::spawn(relay.run(upstream, sender));
        Ok(Watch::from_channel(receiver, task, progress))
    }

    fn revision(&self) -> i64 {
        self.inner.revision()
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
        let revision = self.inner.revision();
        Box::pin(async move { Ok(Some(revision)) })
    }
}

/// An item on its way to the watcher, with the time it is due.
type Delayed = (Instant, Result<(i64, Vec<Event>), StoreError>);

/// The task between the wrapped store's watch and the lagging one.
struct Relay {
    inner: SharedStore,
    delay: Duration,
    progress: Arc<Progress>,
}

// Test support: the delay is real time by design (it stands for a watch stream running behind), so it reads
// tokio's clock rather than a berth_model::clock::Clock, which this crate does not depend on.
#[allow(clippy::disallowed_methods)]
impl Relay {
    async fn run(self, mut upstream: Watch, sender: mpsc::Sender<Result<(i64, Vec<Event>), StoreError>>) {
        let mut queue: VecDeque<Delayed> = VecDeque::new();
        loop {
            let due = queue.front().map(|(at, _)| *at);
            tokio::select! {
                item = upstream.next() => {
                    let failed = item.is_err();
                    queue.push_back((Instant::now() + self.delay, item));
                    if failed {
                        break;
                    }
                }
                () = self.progress.requested.notified() => {
                    // Every change up to the store's revision now is already in the queue: the wrapped stores
                    // hand a commit to their watchers before the commit returns, so draining what is ready
                    // takes them all.
                    let revision = self.inner.revision();
                    while let Some(item) = upstream.next().now_or_never() {
                        let failed = item.is_err();
                        queue.push_back((Instant::now() + self.delay, item));
                        if failed {
                            break;
                        }
                    }
                    queue.push_back((Instant::now() + self.delay, Ok((revision, Vec::new()))));
                }
                () = sleep_until(due) => {
                    if let Some((_, item)) = queue.pop_front()
                        && sender.send(item).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
        // The upstream watch ended: deliver what is queued, the error last.
        while let Some((at, item)) = queue.pop_front() {
            tokio::time::sleep_until(at).await;
            if sender.send(item).await.is_err() {
                return;
            }
        }
    }
}

/// Sleeps until `due`, or forever when nothing is due.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    /// A change reaches the lagging watch only after the delay; a progress report names the store's revision
    /// after the changes before it.
    #[tokio::test]
    async fn changes_and_progress_arrive_late_and_in_order() {
        let memory: SharedStore = Arc::new(MemoryStore::new());
        let lagging = LaggingStore::new(memory.clone(), Duration::from_millis(200));
        let mut watch = lagging.watch("/a/", 0).unwrap();
        let requester = watch.progress_requester();
        memory.txn(Txn::new().put("/a/1", b"x".to_vec())).await.unwrap();
        memory.txn(Txn::new().put("/b/1", b"y".to_vec())).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(100), watch.next()).await.is_err(), "not yet");
        let (revision, events) = watch.next().await.unwrap();
        assert_eq!((revision, events.len()), (1, 1));
        requester.request();
        let (revision, events) = watch.next().await.unwrap();
        assert_eq!((revision, events.len()), (2, 0), "a progress report at the store's revision");
        assert_eq!(lagging.current_revision().await.unwrap(), Some(2));
    }
}
