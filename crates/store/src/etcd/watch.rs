//! A [`Watch`] on etcd: one etcd watch stream per watch, run by a task that groups events by revision, resumes
//! from the revision after the last one it delivered when the stream breaks (a member restarts, a connection
//! drops), and ends the watch with [`StoreError::Compacted`] when etcd no longer has the revision it needs.

use super::config::range_end;
use crate::watch::{Event, EventKind, Progress};
use crate::{KeyValue, StoreError, Watch};
use etcd_client::{EventType, WatchClient, WatchOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// How many revisions the task may deliver ahead of the watcher (etcd's stream waits beyond that).
const CHANNEL_CAPACITY: usize = 64;

/// The longest wait between two attempts to re-open a broken stream.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What a watch task needs.
pub(crate) struct WatchTask {
    /// A watch client of the store's connection.
    pub(crate) client: WatchClient,
    /// The installation's key prefix (stripped from delivered keys).
    pub(crate) namespace: String,
    /// The watched prefix, under the namespace.
    pub(crate) prefix: String,
    /// The first revision to deliver.
    pub(crate) from: i64,
    /// The store's revision, raised from every response header.
    pub(crate) revision: Arc<AtomicI64>,
    /// The watcher's progress requests, and whether it wants progress reports at all.
    pub(crate) progress: Arc<Progress>,
}

/// Starts the task on the current tokio runtime.
pub(crate) fn start(task: WatchTask) -> Result<Watch, StoreError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|e| StoreError::Backend {
        operation: "start an etcd watch (it needs a tokio runtime)",
        source: Box::new(e),
    })?;
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    let progress = task.progress.clone();
    let handle = runtime.spawn(task.run(sender));
    Ok(Watch::from_channel(receiver, handle, progress))
}

type Delivery = Result<(i64, Vec<Event>), StoreError>;

impl WatchTask {
    async fn run(mut self, sender: mpsc::Sender<Delivery>) {
        let start = format!("{}{}", self.namespace, self.prefix).into_bytes();
        let end = range_end(&start);
        // etcd has no empty key: the whole keyspace starts at "\0".
        let start = if start.is_empty() { vec![0] } else { start };
        let mut next = self.from.max(1);
        let mut backoff = Duration::from_millis(100);
        loop {
            let options = WatchOptions::new().with_range(end.clone()).with_start_revision(next).with_progress_notify();
            match self.client.watch(start.clone(), Some(options)).await {
                Ok(stream) => {
                    let (mut requests, mut responses) = stream.split();
                    loop {
                        let message = tokio::select! {
                            message = responses.message() => message,
                            () = self.progress.requested.notified() => {
                                if let Err(error) = requests.request_progress().await {
                                    tracing::warn!(%error, from = next, "cannot ask an etcd watch for progress; re-opening");
                                    // The request is lost with the stream: ask again on the new one.
                                    self.progress.requested.notify_one();
                                    break;
                                }
                                continue;
                            }
                        };
                        let response = match message {
                            Ok(Some(response)) => response,
                            Ok(None) => {
                                tracing::warn!(from = next, "etcd watch stream ended; re-opening");
                                break;
                            }
                            Err(error) => {
                                tracing::warn!(%error, from = next, "etcd watch stream broke; re-opening");
                                break;
                            }
                        };
                        backoff = Duration::from_millis(100);
                        if let Some(header) = response.header() {
                            self.revision.fetch_max(header.revision(), Ordering::SeqCst);
                        }
                        if response.canceled() {
                            let error = if response.compact_revision() > 0 {
                                StoreError::Compacted { requested: next, oldest: response.compact_revision() }
                            } else {
                                StoreError::Backend {
                                    operation: "watch",
                                    source: format!("etcd cancelled the watch: {}", response.cancel_reason()).into(),
                                }
                            };
                            let _ = sender.send(Err(error)).await;
                            return;
                        }
                        if let Some(progress) = self.progress_report(&response, next) {
                            // Every change up to `progress` was delivered: say so, and resume after it.
                            if sender.send(Ok((progress, Vec::new()))).await.is_err() {
                                return;
                            }
                            next = progress + 1;
                            continue;
                        }
                        match self.deliver(response.events(), &sender).await {
                            Ok(Some(last)) => next = last + 1,
                            Ok(None) => {}
                            Err(Gone) => return,
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, from = next, "cannot open an etcd watch; retrying"),
            }
            if sender.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The revision a progress notification reports, when `response` is one the watcher wants: etcd sends them
    /// (asked for, or every few minutes with `progress_notify`) as a response with no events that neither creates
    /// nor cancels the watch, once the stream has sent every change up to its header's revision. Reports that
    /// say nothing new (not past `next - 1`) are left out.
    fn progress_report(&self, response: &etcd_client::WatchResponse, next: i64) -> Option<i64> {
        let is_progress = response.events().is_empty() && !response.created() && !response.canceled();
        let revision = response.header()?.revision();
        (is_progress && self.progress.wanted.load(Ordering::SeqCst) && revision >= next).then_some(revision)
    }

    /// Sends the events of one response, one revision at a time; the last revision sent, if any.
    async fn deliver(
        &self,
        events: &[etcd_client::Event],
        sender: &mpsc::Sender<Delivery>,
    ) -> Result<Option<i64>, Gone> {
        let mut last = None;
        let mut batch: Vec<Event> = Vec::new();
        let mut batch_revision = 0;
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let revision = kv.mod_revision();
            if revision != batch_revision && !batch.is_empty() {
                sender.send(Ok((batch_revision, std::mem::take(&mut batch)))).await.map_err(|_| Gone)?;
                last = Some(batch_revision);
            }
            batch_revision = revision;
            let key = match kv.key().strip_prefix(self.namespace.as_bytes()).map(std::str::from_utf8) {
                Some(Ok(key)) => key.to_string(),
                _ => {
                    let error = StoreError::Backend {
                        operation: "watch",
                        source: format!("etcd delivered a key outside the prefix or not UTF-8: {:?}", kv.key()).into(),
                    };
                    let _ = sender.send(Err(error)).await;
                    return Err(Gone);
                }
            };
            let (kind, value, create_revision) = match event.event_type() {
                EventType::Put => (EventKind::Put, kv.value().to_vec(), kv.create_revision()),
                EventType::Delete => (EventKind::Delete, Vec::new(), kv.create_revision()),
            };
            batch.push(Event { kind, kv: KeyValue { key, value, create_revision, mod_revision: revision } });
        }
        if !batch.is_empty() {
            sender.send(Ok((batch_revision, batch))).await.map_err(|_| Gone)?;
            last = Some(batch_revision);
        }
        Ok(last)
    }
}

/// The watcher went away (or was told the watch is over): the task ends.
struct Gone;
