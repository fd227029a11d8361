//! One container's awslogs shipper: it reads the container's log from the engine, turns entries into lines, lines
//! into events and events into batches, and sends them in order to the log store, checkpointing each delivered
//! batch.
//!
//! How the driver's options are honoured:
//! - **Source.** The container runs with Docker's `json-file` driver (so `docker logs` keeps working), and the
//!   shipper reads that file from disk ([`super::tail`]), across rotations, as Fluent Bit or the CloudWatch agent
//!   do: each event keeps the time Docker read the line, and a restarted shipper resumes at its checkpoint (a
//!   file and offset). (Docker 20.10's follow API loses and repeats entries under a fast writer, so it is not
//!   used.) The agent must run on the Docker host for this.
//! - **Blocking mode** (`mode` unset or `blocking`). The shipper also attaches to the container's output before
//!   it starts and reads that attach stream only while fewer than [`PACE_BYTES`] of what the container wrote
//!   are undelivered: when the store is unreachable the engine's attach buffer fills and the container's writes
//!   block, as they do with Docker's awslogs driver. (While the agent itself is down nothing is attached, so the
//!   container runs on and its lines wait in the json-file log for the agent's return.)
//! - **Non-blocking mode.** Nothing is attached: the container never waits. While the store is unreachable the
//!   shipper keeps at most `max-buffer-size` bytes of undelivered events and drops the oldest beyond that (the
//!   log reports how many); while the store is reachable it reads at the pace it can deliver, and loses nothing.
//! - **Batches.** A batch is sent when the queue holds a full one, when its oldest event has waited the flush
//!   interval (`awslogs-force-flush-interval-seconds`, 5 s by default), or at once when the container stopped.
//!   One batch is in flight at a time, so a stream's events arrive in order; a failed send is retried with the
//!   same batch id.

use super::batch::{self, Batch};
use super::cursor::{Checkpoint, Positions};
use super::events::{Event, Grouper};
use super::lines::Assembler;
use super::sink::{self, LogSink, SinkError};
use super::state::{Inflight, StateDir};
use super::tail::Tail;
use crate::runtime::ContainerRuntime;
use berth_model::awslogs::{AwsLogsOptions, DeliveryMode};
use berth_model::clock::Clock;
use futures::StreamExt;
use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Blocking mode: how many bytes the container may have written beyond what was delivered before its writes
/// wait (the engine buffers about a mebibyte more of its own).
pub const PACE_BYTES: u64 = 256 * 1024;
/// Blocking mode: how many bytes of undelivered events the shipper reads ahead of the store.
const READ_AHEAD_BYTES: usize = 4 * batch::MAX_BYTES;
/// How often the shipper looks for new output and at its timers when nothing is happening, in seconds.
const TICK: f64 = 0.1;
/// How much of the log one read takes at most.
const READ_BUDGET: usize = 1 << 20;
/// How often, at the end of what is written, the shipper asks whether the container has stopped, in seconds.
const STOP_CHECK_EVERY: f64 = 0.5;
/// The longest wait between two tries of a failed send.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the shipper needs from the agent.
pub struct Context<R> {
    /// The engine.
    pub runtime: Arc<R>,
    /// The log store.
    pub sink: Arc<dyn LogSink>,
    /// Checkpoints and in-flight batches.
    pub state: StateDir,
    /// The agent's clock.
    pub clock: Arc<dyn Clock>,
}

/// The container a shipper serves.
#[derive(Debug, Clone)]
pub struct Target {
    /// The container's id.
    pub container_id: String,
    /// The log group.
    pub group: String,
    /// The log stream.
    pub stream: String,
    /// The driver's options.
    pub options: AwsLogsOptions,
}

/// Blocking mode's pacing between the attach stream and the deliveries.
#[derive(Debug, Default)]
pub struct Pace {
    /// Bytes the container wrote since the attach.
    written: AtomicU64,
    /// Bytes of lines written since the attach that were delivered.
    delivered: AtomicU64,
    /// When the attach began, in milliseconds since the epoch.
    since_ms: AtomicU64,
    /// The container's process has exited: nothing is held back any more ([`super::exit_watch`]).
    exited: AtomicBool,
    /// The container's main process, once a session found it.
    process: std::sync::OnceLock<super::exit_watch::ProcessWatch>,
    wake: tokio::sync::Notify,
}

impl Pace {
    fn may_read(&self) -> bool {
        let written = self.written.load(Ordering::SeqCst);
        let delivered = self.delivered.load(Ordering::SeqCst);
        if written.saturating_sub(delivered) <= PACE_BYTES || self.exited.load(Ordering::SeqCst) {
            return true;
        }
        if self.process.get().is_some_and(|p| p.exited()) {
            self.exited.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// The container's process exited: its output is read freely from now on, so the engine can finish writing it
    /// to the log before it closes the streams.
    fn process_exited(&self) {
        self.exited.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Watches the container's process (the first session that finds it running; the pace looks at it while it
    /// holds the container, at least every 200 ms).
    fn watch(&self, pid: u32, container_id: &str) {
        if self.process.get().is_none()
            && let Some(process) = super::exit_watch::ProcessWatch::open(pid, container_id)
        {
            let _ = self.process.set(process);
        }
    }

    fn delivered(&self, batch: &Batch) {
        let since = i64::try_from(self.since_ms.load(Ordering::SeqCst)).unwrap_or(i64::MAX);
        let bytes: usize = batch.events.iter().filter(|e| e.timestamp_ms >= since).map(|e| e.written_bytes).sum();
        self.delivered.fetch_add(bytes as u64, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// The shipper holds nothing it read undelivered: what the container wrote beyond that (lines the shipper has
    /// not read yet, bytes the accounting cannot match to events: partial lines, multi-line events, lines written
    /// before the attach) no longer counts against the pace, so it never waits on lines the shipper has not
    /// seen. It lets at most [`PACE_BYTES`] more through per call, not an unbounded read while the shipper sleeps.
    fn caught_up(&self) {
        let written = self.written.load(Ordering::SeqCst);
        if self.delivered.fetch_max(written, Ordering::SeqCst) < written {
            self.wake.notify_waiters();
        }
    }
}

/// Reads the attach stream at the pace of the deliveries, until the container's output closes.
async fn pace_container(pace: Arc<Pace>, mut written: crate::runtime::ByteCounts) {
    loop {
        while !pace.may_read() {
            let _ = tokio::time::timeout(Duration::from_millis(200), pace.wake.notified()).await;
        }
        match written.next().await {
            Some(Ok(bytes)) => {
                pace.written.fetch_add(bytes as u64, Ordering::SeqCst);
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "the attach stream broke; the container is no longer paced");
                return;
            }
            None => return,
        }
    }
}

/// Why a container cannot start with its awslogs configuration (the stopped reason ECS shows), from a failed
/// stream creation.
pub fn start_failure(error: &SinkError) -> String {
    format!(
        "failed to initialize logging driver: failed to create Cloudwatch log stream: {}",
        match error {
            SinkError::Refused { code, message } if code == "ResourceNotFoundException" => {
                format!("{code}: The specified log group does not exist. ({message})")
            }
            other => other.to_string(),
        }
    )
}

/// Makes sure the stream exists before the container starts. Blocking mode fails the start when the store
/// cannot be reached within `wait` (as Docker's driver fails the container); non-blocking mode only fails on a
/// refusal (a missing group), leaving an unreachable store to the shipper's retries.
pub async fn prepare_stream(
    sink: &dyn LogSink,
    target: &Target,
    wait: Duration,
    clock: &dyn Clock,
) -> Result<(), String> {
    let give_up_at = clock.now() + wait.as_secs_f64();
    let mut backoff = Duration::from_millis(200);
    loop {
        match sink::ensure_stream(sink, &target.group, &target.stream, target.options.create_group).await {
            Ok(()) => return Ok(()),
            Err(error @ SinkError::Refused { .. }) => return Err(start_failure(&error)),
            Err(error) => {
                if !matches!(target.options.mode, DeliveryMode::Blocking) {
                    tracing::warn!(%error, group = %target.group, "non-blocking awslogs: the stream is created later");
                    return Ok(());
                }
                if clock.now() >= give_up_at {
                    return Err(start_failure(&error));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Starts pacing a container in blocking mode: attaches to its output (before it starts, for a new container).
pub async fn attach<R: ContainerRuntime>(
    runtime: &R,
    target: &Target,
    now_ms: i64,
) -> Result<Option<Arc<Pace>>, String> {
    if !matches!(target.options.mode, DeliveryMode::Blocking) {
        return Ok(None);
    }
    let written = runtime
        .attach_output(&target.container_id)
        .await
        .map_err(|e| format!("failed to initialize logging driver: cannot attach to the container's output: {e}"))?;
    let pace = Arc::new(Pace::default());
    pace.since_ms.store(u64::try_from(now_ms).unwrap_or(0), Ordering::SeqCst);
    tokio::spawn(pace_container(pace.clone(), written));
    Ok(Some(pace))
}

/// Ships the container's log until it has stopped and everything it wrote is delivered; returns then (or when
/// the container is gone). `stream_ready`: the stream was made before the start ([`prepare_stream`]).
pub async fn run<R: ContainerRuntime>(
    ctx: Arc<Context<R>>,
    target: Target,
    pace: Option<Arc<Pace>>,
    mut stream_ready: bool,
) {
    let id = target.container_id.clone();
    if let Some(inflight) = ctx.state.inflight(&id) {
        resend(&ctx, &target, inflight).await;
    }
    loop {
        if !stream_ready {
            match sink::ensure_stream(&*ctx.sink, &target.group, &target.stream, target.options.create_group).await {
                Ok(()) => stream_ready = true,
                Err(error) => {
                    tracing::warn!(container = %id, group = %target.group, stream = %target.stream, %error,
                        "awslogs: cannot create the log stream; retrying");
                    tokio::time::sleep(MAX_BACKOFF).await;
                    continue;
                }
            }
        }
        let checkpoint = ctx.state.checkpoint(&id).unwrap_or_default();
        match Session::new(&ctx, &target, checkpoint, pace.clone()).run().await {
            Ok(()) => {
                let mut done = ctx.state.checkpoint(&id).unwrap_or_default();
                done.finished = true;
                if let Err(error) = ctx.state.save_checkpoint(&id, &done) {
                    tracing::warn!(container = %id, %error, "awslogs: cannot record the finished checkpoint");
                }
                return;
            }
            Err(SessionEnd::Gone) => return,
            Err(SessionEnd::Failed(error)) => {
                tracing::warn!(container = %id, %error, "awslogs: reading the container's log failed; retrying");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Sends a batch left in flight by an earlier run, until the store takes it.
async fn resend<R>(ctx: &Context<R>, target: &Target, inflight: Inflight) {
    let id = &target.container_id;
    let batch = Batch {
        events: inflight
            .events
            .iter()
            .map(|(timestamp_ms, message)| Event {
                timestamp_ms: *timestamp_ms,
                message: message.clone(),
                ..Default::default()
            })
            .collect(),
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        match deliver(&*ctx.sink, &inflight.group, &inflight.stream, &inflight.batch_id, &batch, target).await {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(container = %id, %error, "awslogs: resending the batch in flight failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    if let Some(after) = inflight.after
        && let Err(error) = ctx.state.save_checkpoint(id, &after)
    {
        tracing::warn!(container = %id, %error, "awslogs: cannot record the checkpoint");
    }
    ctx.state.clear_inflight(id);
}

/// PutLogEvents, re-creating the stream (and group, if allowed) once when it was deleted meanwhile.
async fn deliver(
    sink: &dyn LogSink,
    group: &str,
    stream: &str,
    batch_id: &str,
    batch: &Batch,
    target: &Target,
) -> Result<(), SinkError> {
    match sink::put(sink, group, stream, batch_id, batch).await {
        Err(error) if error.is("ResourceNotFoundException") => {
            sink::ensure_stream(sink, group, stream, target.options.create_group).await?;
            sink::put(sink, group, stream, batch_id, batch).await
        }
        other => other,
    }
}

/// A send in flight: the batch, its id, the checkpoint once delivered, and the outcome.
type Sending = BoxFuture<'static, (Batch, String, Option<Checkpoint>, Result<(), SinkError>)>;

/// Why a session ended before the container's log was all delivered.
enum SessionEnd {
    /// The container is gone.
    Gone,
    /// Reading failed; a new session resumes from the checkpoint.
    Failed(String),
}

/// One pass over the container's log, from a checkpoint until the container has stopped and everything it
/// wrote is delivered, or a failure.
struct Session<'a, R> {
    ctx: &'a Arc<Context<R>>,
    target: &'a Target,
    positions: Positions,
    pace: Option<Arc<Pace>>,
    queue: VecDeque<Event>,
    queue_bytes: usize,
    /// When the oldest queued event was queued (agent clock, seconds).
    oldest_queued_at: f64,
    /// A failed batch waiting for its next try, and when.
    retry: Option<(Batch, String, Option<Checkpoint>, f64)>,
    backoff: Duration,
    /// Set while the store is unreachable (non-blocking mode drops then).
    failing: bool,
    dropped: u64,
    batches: u64,
    checkpoint: Checkpoint,
}

impl<'a, R: ContainerRuntime> Session<'a, R> {
    fn new(ctx: &'a Arc<Context<R>>, target: &'a Target, checkpoint: Checkpoint, pace: Option<Arc<Pace>>) -> Self {
        Self {
            ctx,
            target,
            positions: Positions::default(),
            pace,
            queue: VecDeque::new(),
            queue_bytes: 0,
            oldest_queued_at: 0.0,
            retry: None,
            backoff: Duration::from_millis(200),
            failing: false,
            dropped: 0,
            batches: 0,
            checkpoint,
        }
    }

    async fn run(mut self) -> Result<(), SessionEnd> {
        let id = self.target.container_id.clone();
        let state = match self.ctx.runtime.inspect_container(&id).await {
            Ok(Some(state)) => state,
            Ok(None) => return Err(SessionEnd::Gone),
            Err(error) => return Err(SessionEnd::Failed(error.to_string())),
        };
        if let Some(pace) = &self.pace {
            match state.pid {
                Some(pid) if state.running => pace.watch(pid, &id),
                _ if !state.running => pace.process_exited(),
                _ => {}
            }
        }
        let Some(path) = state.log_path else {
            return Err(SessionEnd::Failed("the engine keeps no log file for the container".into()));
        };
        let (mut tail, warning) = Tail::open(Path::new(&path), &self.checkpoint)
            .map_err(|e| SessionEnd::Failed(format!("cannot open the container's log {path}: {e}")))?;
        if let Some(warning) = warning {
            tracing::warn!(container = %id, "awslogs: {warning}");
        }
        let mut assembler = Assembler::default();
        let mut grouper = Grouper::new(&self.target.options.multiline, self.target.options.flush_interval)
            .map_err(SessionEnd::Failed)?;
        let mut last_index: Option<u64> = None;
        let mut ended = false;
        let mut sending: Option<Sending> = None;
        let mut stop_checked_at = f64::MIN;
        let flush_after = self.target.options.flush_interval.as_secs_f64();
        loop {
            let now = self.ctx.clock.now();
            if let Some(event) = grouper.flush_due(seconds_to_ms(now)) {
                self.enqueue(event, now);
            }
            if sending.is_none() {
                sending = self.next_send(now, ended, flush_after);
            }
            let idle = self.queue.is_empty() && sending.is_none() && self.retry.is_none();
            if let Some(pace) = &self.pace
                && idle
                && assembler.is_empty()
            {
                pace.caught_up();
            }
            if ended && idle {
                if self.dropped > 0 {
                    tracing::warn!(container = %id, dropped = self.dropped,
                        "awslogs non-blocking mode dropped events while the log store was unreachable");
                }
                return Ok(());
            }
            let may_read = !ended
                && match self.target.options.mode {
                    DeliveryMode::Blocking => self.queue_bytes < READ_AHEAD_BYTES,
                    DeliveryMode::NonBlocking { max_buffer_bytes } => {
                        self.failing || self.queue_bytes < usize::try_from(max_buffer_bytes).unwrap_or(usize::MAX)
                    }
                };
            let mut read_some = false;
            if may_read {
                let read = tail.read(READ_BUDGET).map_err(|e| SessionEnd::Failed(format!("reading {path}: {e}")))?;
                if read.malformed > 0 {
                    tracing::warn!(container = %id, entries = read.malformed, "awslogs: skipped malformed log entries");
                }
                read_some = !read.entries.is_empty();
                for (entry, position) in read.entries {
                    let index = self.positions.read(position);
                    last_index = Some(index);
                    if let Some(line) = assembler.push(&entry, index) {
                        for event in grouper.push(&line) {
                            self.enqueue(event, now);
                        }
                    }
                }
                // At the end of what is written: has the container stopped? (The engine writes its last
                // output before it says so, so one more read after that finds everything.)
                if !read_some && now - stop_checked_at >= STOP_CHECK_EVERY {
                    stop_checked_at = now;
                    let running = match self.ctx.runtime.inspect_container(&id).await {
                        Ok(Some(state)) => state.running,
                        Ok(None) => false,
                        Err(_) => true,
                    };
                    if !running {
                        let rest =
                            tail.read(usize::MAX).map_err(|e| SessionEnd::Failed(format!("reading {path}: {e}")))?;
                        for (entry, position) in rest.entries {
                            let index = self.positions.read(position);
                            last_index = Some(index);
                            if let Some(line) = assembler.push(&entry, index) {
                                for event in grouper.push(&line) {
                                    self.enqueue(event, now);
                                }
                            }
                        }
                        for line in assembler.finish(last_index.unwrap_or(0)) {
                            for event in grouper.push(&line) {
                                self.enqueue(event, now);
                            }
                        }
                        if let Some(event) = grouper.finish() {
                            self.enqueue(event, now);
                        }
                        ended = true;
                        continue;
                    }
                }
            }
            let pause = if read_some { 0.0 } else { TICK };
            let tick = self.ctx.clock.sleep_until(now + pause);
            tokio::select! {
                (batch, batch_id, after, result) = in_flight(&mut sending), if sending.is_some() => {
                    sending = None;
                    self.sent(batch, batch_id, after, result);
                }
                _ = tick => {}
            }
        }
    }

    fn enqueue(&mut self, event: Event, now: f64) {
        if self.queue.is_empty() {
            self.oldest_queued_at = now;
        }
        self.queue_bytes += event.batch_bytes();
        self.queue.push_back(event);
        if let DeliveryMode::NonBlocking { max_buffer_bytes } = self.target.options.mode
            && self.failing
        {
            let limit = usize::try_from(max_buffer_bytes).unwrap_or(usize::MAX);
            while self.queue_bytes > limit
                && let Some(oldest) = self.queue.pop_front()
            {
                self.queue_bytes -= oldest.batch_bytes();
                self.dropped += 1;
                metrics::counter!("berth_agent_log_events_dropped_total").increment(1);
            }
        }
    }

    /// The next send, if a batch is due (or a failed one's retry time came).
    fn next_send(&mut self, now: f64, ended: bool, flush_after: f64) -> Option<Sending> {
        let (batch, batch_id, after) = match self.retry.take() {
            Some((batch, batch_id, after, at)) if now >= at => (batch, batch_id, after),
            Some(waiting) => {
                self.retry = Some(waiting);
                return None;
            }
            None => {
                let due = !self.queue.is_empty()
                    && (ended
                        || batch::holds_full_batch(self.queue.len(), self.queue_bytes)
                        || now - self.oldest_queued_at >= flush_after);
                if !due {
                    return None;
                }
                let batch = batch::take_batch(&mut self.queue);
                self.queue_bytes = self.queue.iter().map(Event::batch_bytes).sum();
                if !self.queue.is_empty() {
                    self.oldest_queued_at = now;
                }
                self.batches += 1;
                let batch_id = format!(
                    "{}-{}-{}",
                    self.target.container_id.get(..12).unwrap_or(&self.target.container_id),
                    (now * 1e6) as i64,
                    self.batches
                );
                let after = batch.end().and_then(|end| self.positions.delivered(end));
                let inflight = Inflight {
                    batch_id: batch_id.clone(),
                    group: self.target.group.clone(),
                    stream: self.target.stream.clone(),
                    events: batch.events.iter().map(|e| (e.timestamp_ms, e.message.clone())).collect(),
                    after,
                };
                if let Err(error) = self.ctx.state.save_inflight(&self.target.container_id, &inflight) {
                    tracing::warn!(container = %self.target.container_id, %error,
                        "awslogs: cannot record the batch in flight");
                }
                (batch, batch_id, after)
            }
        };
        let sink = self.ctx.sink.clone();
        let target = self.target.clone();
        Some(Box::pin(async move {
            let result = deliver(&*sink, &target.group, &target.stream, &batch_id, &batch, &target).await;
            (batch, batch_id, after, result)
        }))
    }

    fn sent(&mut self, batch: Batch, batch_id: String, after: Option<Checkpoint>, result: Result<(), SinkError>) {
        let id = &self.target.container_id;
        match result {
            Ok(()) => {
                if let Some(after) = after
                    && let Err(error) = self.ctx.state.save_checkpoint(id, &after)
                {
                    tracing::warn!(container = %id, %error, "awslogs: cannot record the checkpoint");
                }
                self.ctx.state.clear_inflight(id);
                metrics::counter!("berth_agent_log_events_shipped_total").increment(batch.events.len() as u64);
                if let Some(pace) = &self.pace {
                    pace.delivered(&batch);
                }
                if self.failing {
                    tracing::info!(container = %id, "awslogs: the log store is reachable again");
                }
                self.failing = false;
                self.backoff = Duration::from_millis(200);
            }
            Err(error) => {
                if !self.failing {
                    tracing::warn!(container = %id, %error, "awslogs: cannot deliver; retrying");
                }
                self.failing = true;
                let at = self.ctx.clock.now() + self.backoff.as_secs_f64();
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.retry = Some((batch, batch_id, after, at));
            }
        }
    }
}

/// The send in flight's outcome (never ready when there is none).
async fn in_flight(sending: &mut Option<Sending>) -> (Batch, String, Option<Checkpoint>, Result<(), SinkError>) {
    match sending.as_mut() {
        Some(send) => send.await,
        None => std::future::pending().await,
    }
}

fn seconds_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocking_mode_reads_the_container_only_as_far_as_deliveries_allow() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<usize, crate::runtime::RuntimeError>>();
        let pace = Arc::new(Pace::default());
        tokio::spawn(pace_container(pace.clone(), rx.boxed()));
        let chunk = 16 * 1024;
        for _ in 0..64 {
            tx.unbounded_send(Ok(chunk)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let written = pace.written.load(Ordering::SeqCst);
        assert!(written > PACE_BYTES && written <= PACE_BYTES + chunk as u64, "read {written} bytes undelivered");
        // A delivery of 128 KiB written since the attach lets as much more through.
        let delivered =
            Batch { events: vec![Event { timestamp_ms: 1, written_bytes: 128 * 1024, ..Default::default() }] };
        pace.delivered(&delivered);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let more = pace.written.load(Ordering::SeqCst);
        assert_eq!(more - written, 128 * 1024, "exactly what was delivered");
        // The shipper caught up (nothing it read is undelivered): the pace lets PACE_BYTES more through, not more.
        pace.caught_up();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after_catch_up = pace.written.load(Ordering::SeqCst);
        assert!(
            after_catch_up > more + PACE_BYTES && after_catch_up <= more + PACE_BYTES + chunk as u64,
            "one catch-up lets {} bytes through",
            after_catch_up - more
        );
        // A shipper that stays caught up never holds the container.
        for _ in 0..8 {
            pace.caught_up();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(pace.written.load(Ordering::SeqCst), 64 * chunk as u64);
    }
}
