//! Watches: ordered, gap-free delivery of committed changes under a key prefix.
//!
//! A store publishes each committed transaction as one batch to its [`WatchHub`] while it still holds its write
//! lock, so batches arrive in revision order. The hub keeps the most recent batches; a new watch replays from that
//! history and then follows a broadcast channel. The history is bounded both by a number of batches and by the
//! bytes of keys and values it holds, so large records cannot pin unbounded memory. A watch that lags behind the channel refills from history, and
//! fails with [`StoreError::Compacted`] only when history no longer covers the gap.
//!
//! A [`Watch`] is either such a hub watch (the embedded stores) or fed over a channel by a backend's task (etcd: one
//! etcd watch stream each); callers see the same ordered, per-revision batches either way.

use crate::{KeyValue, StoreError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Whether a key was written or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or replaced.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change. For a delete, `kv.value` is empty and `kv.mod_revision` is the deleting revision; `kv.create_revision`
/// is the deleted key's on the embedded stores and 0 on etcd (whose delete events do not carry it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key-value after the change.
    pub kv: KeyValue,
}

/// The changes of one committed transaction.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) revision: i64,
    pub(crate) events: Vec<Event>,
}

impl Batch {
    /// The bytes this batch holds: keys and values plus a fixed overhead per event.
    fn size(&self) -> usize {
        self.events.iter().map(|e| e.kv.key.len() + e.kv.value.len() + 64).sum::<usize>() + 64
    }
}

struct HubState {
    history: VecDeque<Arc<Batch>>,
    history_bytes: usize,
    last_revision: i64,
}

/// Fan-out of committed batches to watches, with a bounded history.
pub struct WatchHub {
    state: Mutex<HubState>,
    sender: broadcast::Sender<Arc<Batch>>,
    history_capacity: usize,
    history_max_bytes: usize,
}

/// How many batches the broadcast channel buffers for slow watchers (they refill from history beyond that).
const CHANNEL_CAPACITY: usize = 1024;

impl WatchHub {
    /// A hub for a store currently at `revision`, keeping at most `history_capacity` batches and
    /// `history_max_bytes` bytes of them (the newest batch is always kept).
    pub(crate) fn new(revision: i64, history_capacity: usize, history_max_bytes: usize) -> Arc<Self> {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Arc::new(Self {
            state: Mutex::new(HubState { history: VecDeque::new(), history_bytes: 0, last_revision: revision }),
            sender,
            history_capacity,
            history_max_bytes,
        })
    }

    /// The number of batches and bytes the history holds now.
    pub fn history_usage(&self) -> (usize, usize) {
        let state = self.lock();
        (state.history.len(), state.history_bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes a committed batch. Callers hold their store's write lock, so batches come in revision order.
    pub(crate) fn publish(&self, revision: i64, events: Vec<Event>) {
        let batch = Arc::new(Batch { revision, events });
        let mut state = self.lock();
        state.last_revision = revision;
        state.history_bytes += batch.size();
        state.history.push_back(batch.clone());
        while state.history.len() > 1
            && (state.history.len() > self.history_capacity || state.history_bytes > self.history_max_bytes)
        {
            if let Some(old) = state.history.pop_front() {
                state.history_bytes = state.history_bytes.saturating_sub(old.size());
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.sender.send(batch);
    }

    /// The newest published revision.
    pub(crate) fn last_revision(&self) -> i64 {
        self.lock().last_revision
    }

    /// Starts a watch of `prefix` for revisions after `after_revision`.
    pub(crate) fn watch(self: &Arc<Self>, prefix: &str, after_revision: i64) -> Result<Watch, StoreError> {
        let state = self.lock();
        let receiver = self.sender.subscribe();
        let backlog = Self::backlog(&state, after_revision + 1)?;
        Ok(Watch {
            source: Source::Hub(HubWatch {
                prefix: prefix.to_string(),
                next_revision: after_revision + 1,
                backlog,
                receiver,
                hub: self.clone(),
            }),
        })
    }

    fn backlog(state: &HubState, from: i64) -> Result<VecDeque<Arc<Batch>>, StoreError> {
        if from > state.last_revision {
            return Ok(VecDeque::new());
        }
        let oldest = state.history.front().map(|b| b.revision).unwrap_or(state.last_revision + 1);
        if from < oldest {
            return Err(StoreError::Compacted { requested: from, oldest });
        }
        Ok(state.history.iter().filter(|b| b.revision >= from).cloned().collect())
    }
}

/// A stream of changes under one prefix.
pub struct Watch {
    source: Source,
}

/// Where a watch's changes come from.
enum Source {
    /// An embedded store's hub.
    Hub(HubWatch),
    /// A backend task that delivers revisions over a channel (etcd); the task ends when the watch is dropped.
    Channel(ChannelWatch),
}

/// A watch on a [`WatchHub`].
struct HubWatch {
    prefix: String,
    next_revision: i64,
    backlog: VecDeque<Arc<Batch>>,
    receiver: broadcast::Receiver<Arc<Batch>>,
    hub: Arc<WatchHub>,
}

/// A watch fed by a backend task.
struct ChannelWatch {
    receiver: tokio::sync::mpsc::Receiver<Result<(i64, Vec<Event>), StoreError>>,
    task: tokio::task::JoinHandle<()>,
    /// Set once an error was delivered: the task has ended, and later calls repeat that the watch is over.
    failed: bool,
    /// How the watcher asks the task for progress reports.
    progress: Arc<Progress>,
}

/// A watch's progress reports, shared between the watcher and the backend task that feeds it.
#[derive(Default)]
pub(crate) struct Progress {
    /// Set once the watcher took a [`ProgressRequester`]: from then on the task delivers progress reports.
    pub(crate) wanted: std::sync::atomic::AtomicBool,
    /// Woken for each request (requests made while one is pending coalesce into it).
    pub(crate) requested: tokio::sync::Notify,
}

/// Asks a watch to report how far it has come: the watch then delivers, once every change up to the store's
/// revision at the time has been delivered, that revision with no events (`(revision, [])`). Backends that see
/// every write in-process (SQLite, memory) report nothing: a reader there never lags a write another process made,
/// and [`crate::Store::current_revision`] says so.
#[derive(Clone, Default)]
pub struct ProgressRequester(Option<Arc<Progress>>);

impl ProgressRequester {
    /// Asks for one progress report (coalesced with a request still pending).
    pub fn request(&self) {
        if let Some(progress) = &self.0 {
            progress.requested.notify_one();
        }
    }
}

impl Drop for ChannelWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watch {
    /// A watch fed by `task` through `receiver`: each item is one revision's events (in revision order, each
    /// revision once), or the error that ended the watch. The task is aborted when the watch is dropped.
    pub(crate) fn from_channel(
        receiver: tokio::sync::mpsc::Receiver<Result<(i64, Vec<Event>), StoreError>>,
        task: tokio::task::JoinHandle<()>,
        progress: Arc<Progress>,
    ) -> Self {
        Self { source: Source::Channel(ChannelWatch { receiver, task, failed: false, progress }) }
    }

    /// A handle that asks this watch for progress reports. Taking it is what turns them on: from then on
    /// [`Watch::next`] may also yield a revision with no events, meaning every change up to that revision has
    /// been delivered (etcd's progress notifications, asked for or periodic).
    pub fn progress_requester(&self) -> ProgressRequester {
        match &self.source {
            Source::Hub(_) => ProgressRequester(None),
            Source::Channel(watch) => {
                watch.progress.wanted.store(true, std::sync::atomic::Ordering::SeqCst);
                ProgressRequester(Some(watch.progress.clone()))
            }
        }
    }

    /// The changes of the next revision that touches the prefix, with that revision.
    pub async fn next(&mut self) -> Result<(i64, Vec<Event>), StoreError> {
        match &mut self.source {
            Source::Hub(watch) => watch.next().await,
            Source::Channel(watch) => {
                if watch.failed {
                    return Err(StoreError::Closed);
                }
                match watch.receiver.recv().await {
                    Some(Ok(item)) => Ok(item),
                    Some(Err(error)) => {
                        watch.failed = true;
                        Err(error)
                    }
                    None => Err(StoreError::Closed),
                }
            }
        }
    }
}

impl HubWatch {
    async fn next(&mut self) -> Result<(i64, Vec<Event>), StoreError> {
        loop {
            let batch = match self.backlog.pop_front() {
                Some(batch) => batch,
                None => match self.receiver.recv().await {
                    Ok(batch) => batch,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let state = self.hub.lock();
                        self.backlog = WatchHub::backlog(&state, self.next_revision)?;
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(StoreError::Closed),
                },
            };
            if batch.revision < self.next_revision {
                continue;
            }
            self.next_revision = batch.revision + 1;
            let events: Vec<Event> =
                batch.events.iter().filter(|e| e.kv.key.starts_with(&self.prefix)).cloned().collect();
            if !events.is_empty() {
                return Ok((batch.revision, events));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, bytes: usize, revision: i64) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: key.into(),
                value: vec![b'x'; bytes],
                create_revision: revision,
                mod_revision: revision,
            },
        }
    }

    #[test]
    fn history_is_bounded_by_bytes_as_well_as_count() {
        let hub = WatchHub::new(0, 10_000, 1024 * 1024);
        for revision in 1..=1000 {
            hub.publish(revision, vec![put("/k", 60 * 1024, revision)]);
        }
        let (batches, bytes) = hub.history_usage();
        assert!(bytes <= 1024 * 1024, "{bytes} bytes kept");
        assert!(batches < 20, "{batches} batches kept");
        // A watcher that fell behind the bytes bound must re-list, as with the count bound.
        assert!(matches!(hub.watch("/", 10), Err(StoreError::Compacted { .. })));
        assert!(hub.watch("/", 999).is_ok());
    }

    #[test]
    fn history_is_bounded_by_count() {
        let hub = WatchHub::new(0, 5, usize::MAX);
        for revision in 1..=50 {
            hub.publish(revision, vec![put("/k", 1, revision)]);
        }
        assert_eq!(hub.history_usage().0, 5);
    }
}
