//! [`Logs`]: the service, its write path for shippers, and its maintenance.

use crate::LogsError;
use crate::events::{EventStore, EventStoreConfig};
use crate::meta::Meta;
use crate::metric_filters::MetricSink;
use berth_model::clock::Clock;
use berth_model::logs::{InputLogEvent, RejectedLogEventsInfo};
use berth_store::SharedStore;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where and how the service keeps its data.
#[derive(Debug, Clone)]
pub struct LogsConfig {
    /// The event store's directory (`<data-dir>/logs`).
    pub dir: PathBuf,
    /// The region in ARNs.
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
    /// Segment limits.
    pub events: EventStoreConfig,
    /// How often segments are sealed and retention is applied.
    pub maintain_every: Duration,
}

impl LogsConfig {
    /// Defaults for a data dir, region and account.
    pub fn new(dir: PathBuf, region: &str, account_id: &str) -> Self {
        Self {
            dir,
            region: region.to_string(),
            account_id: account_id.to_string(),
            events: EventStoreConfig::default(),
            maintain_every: Duration::from_secs(60),
        }
    }
}

/// What an append stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    /// Events refused for their timestamps, as PutLogEvents reports them (None: all were stored).
    pub rejected: Option<RejectedLogEventsInfo>,
    /// How many events were stored.
    pub stored: usize,
    /// The batch id was seen before: nothing was stored again.
    pub duplicate: bool,
}

/// CloudWatch Logs on one store and data dir.
pub struct Logs {
    pub(crate) meta: Meta,
    pub(crate) events: Arc<EventStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: LogsConfig,
    pub(crate) metric_sink: std::sync::RwLock<Option<Arc<dyn MetricSink>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Logs {
    /// Opens the event store under `config.dir` (rebuilding its index) and removes event directories no group
    /// record names (a delete interrupted by a crash).
    pub async fn open(config: LogsConfig, store: SharedStore, clock: Arc<dyn Clock>) -> Result<Arc<Self>, LogsError> {
        let dir = config.dir.clone();
        let segments = config.events;
        let events = tokio::task::spawn_blocking(move || EventStore::open(&dir, segments))
            .await
            .map_err(|e| LogsError::internal(&e))??;
        let logs = Arc::new(Self {
            meta: Meta::new(store),
            events: Arc::new(events),
            clock,
            config,
            metric_sink: std::sync::RwLock::default(),
            tasks: Mutex::default(),
        });
        let live: std::collections::HashSet<String> = logs.meta.groups().await?.into_iter().map(|g| g.dir).collect();
        for id in logs.events.group_ids() {
            if !live.contains(&id) {
                tracing::info!(dir = %id, "removing the events of a deleted log group");
                logs.blocking(move |events| events.drop_group(&id)).await??;
            }
        }
        Ok(logs)
    }

    /// Now, in epoch milliseconds, from the clock.
    pub(crate) fn now_millis(&self) -> i64 {
        (self.clock.now() * 1000.0) as i64
    }

    /// Runs event store work off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EventStore) -> T + Send + 'static,
    ) -> Result<T, LogsError> {
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || f(&events)).await.map_err(|e| LogsError::internal(&e))
    }

    /// Calls a Logs operation with its JSON body; the JSON response.
    pub async fn call(&self, operation: &str, body: &[u8]) -> Result<Vec<u8>, LogsError> {
        crate::ops::dispatch(self, operation, body).await
    }

    /// Appends events to an existing stream with PutLogEvents' rules (the write path of an in-process shipper).
    /// Events must be in timestamp order; with a `batch_id` the stream stored before (its last 256 are kept, across
    /// restarts), nothing is stored again and `duplicate` is set, so a shipper may retry a batch safely.
    pub async fn append(
        &self,
        group: &str,
        stream: &str,
        events: Vec<InputLogEvent>,
        batch_id: Option<String>,
    ) -> Result<AppendOutcome, LogsError> {
        crate::ops::put::append(self, group, stream, events, batch_id).await
    }

    /// Registers where metric filters' data points go (replacing any before it). Without a sink, metric filters
    /// are stored and described but feed no series.
    pub fn set_metric_sink(&self, sink: Arc<dyn MetricSink>) {
        *self.metric_sink.write().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    /// The registered metric sink, if any.
    pub(crate) fn metric_sink(&self) -> Option<Arc<dyn MetricSink>> {
        self.metric_sink.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The metric filters of a group (for the metrics feature: pass them to [`crate::metric_filters::apply`]).
    pub async fn metric_filters(&self, group: &str) -> Result<Vec<berth_model::logs::MetricFilter>, LogsError> {
        self.meta.metric_filters(Some(group)).await
    }

    /// One maintenance pass over every group: seals rotated and idle segments, applies retention and drops the
    /// events of deleted streams. A summary.
    pub async fn maintain(&self) -> Result<String, LogsError> {
        let now = self.now_millis();
        let (mut sealed, mut removed) = (0, 0);
        for group in self.meta.groups().await? {
            let cutoff = group.cutoff(now);
            let (s, r) = self.blocking(move |events| events.maintain(&group.dir, now, cutoff)).await??;
            sealed += s;
            removed += r;
        }
        Ok(format!("{sealed} segments sealed, {removed} events removed"))
    }

    /// Starts the maintenance job on the runtime.
    pub fn spawn_background(self: &Arc<Self>) {
        let handle = tokio::spawn(crate::background::controller(self).run());
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}
