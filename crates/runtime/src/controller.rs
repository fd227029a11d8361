//! The controller loop: triggers in, one reconcile per key at a time, outcomes back into the queue.

use crate::queue::{Work, WorkQueue};
use crate::{Action, Backoff, Reconciler, Trigger, wait_for};
use berth_model::clock::Clock;
use berth_store::leader::Term;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::{Id, JoinError, JoinSet};
use tracing::Instrument;

#[cfg(test)]
mod tests;

/// How long a reconcile waits for the source to reach the revision it must see, by default (seconds).
const DEFAULT_WAIT_TIMEOUT: f64 = 10.0;

/// How many reconciles of one controller run at once, by default.
const DEFAULT_MAX_CONCURRENT: usize = 16;

/// Asks a running [`Controller`] to reconcile keys; cheap to clone.
#[derive(Debug)]
pub struct Handle<K> {
    requests: mpsc::UnboundedSender<(K, i64)>,
}

impl<K> Clone for Handle<K> {
    fn clone(&self) -> Self {
        Self { requests: self.requests.clone() }
    }
}

impl<K> Handle<K> {
    /// Asks for a reconcile of `key` that sees at least source revision `revision` (e.g. the revision of a write
    /// the caller just made). Returns false when the controller has stopped.
    pub fn request(&self, key: K, revision: i64) -> bool {
        self.requests.send((key, revision)).is_ok()
    }
}

/// What a controller runs under: a plain flag ([`Controller::with_gate`]) or the process's leadership (a server on
/// etcd, [`berth_store::leader::process`]), whose term's token fences each reconcile's writes.
enum Gate {
    Flag(watch::Receiver<bool>),
    Leader(watch::Receiver<Option<Term>>),
}

impl Gate {
    /// Whether it is open now (marking the value seen).
    fn open_now(&mut self) -> bool {
        match self {
            Gate::Flag(g) => *g.borrow_and_update(),
            Gate::Leader(g) => g.borrow_and_update().is_some(),
        }
    }

    async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        match self {
            Gate::Flag(g) => g.changed().await,
            Gate::Leader(g) => g.changed().await,
        }
    }

    /// What a reconcile started now runs under: `Ok(None)` unfenced, `Ok(Some(token))` fenced with the current
    /// term's token, `Err(())` not at all (the leadership ended and the loop has not seen it yet).
    fn fence(&self) -> Result<Option<i64>, ()> {
        match self {
            Gate::Flag(_) => Ok(None),
            Gate::Leader(g) => g.borrow().map(|t| Some(t.token)).ok_or(()),
        }
    }
}

/// A controller: a [`Reconciler`] driven by a watched revision, requeues, retries and requests.
pub struct Controller<R: Reconciler> {
    name: &'static str,
    reconciler: Arc<R>,
    clock: Arc<dyn Clock>,
    source: watch::Receiver<i64>,
    gate: Option<Gate>,
    backoff: Backoff,
    max_concurrent: usize,
    wait_timeout: f64,
    resync: Option<f64>,
    requests_tx: mpsc::UnboundedSender<(R::Key, i64)>,
    requests: mpsc::UnboundedReceiver<(R::Key, i64)>,
}

impl<R: Reconciler> Controller<R> {
    /// A controller named `name` (in logs and spans) whose reconciles are triggered by changes of `source` (a
    /// store revision, such as the control plane cache's `subscribe()`), with time from `clock`. In a process
    /// with an installed leadership ([`berth_store::leader::install`]: a server on etcd among others) it runs only
    /// while the process leads, each reconcile fenced with the term it started in; elsewhere always.
    pub fn new(name: &'static str, reconciler: Arc<R>, clock: Arc<dyn Clock>, source: watch::Receiver<i64>) -> Self {
        let (requests_tx, requests) = mpsc::unbounded_channel();
        Self {
            name,
            reconciler,
            clock,
            source,
            gate: berth_store::leader::process().map(|l| Gate::Leader(l.subscribe())),
            backoff: Backoff::default(),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            resync: None,
            requests_tx,
            requests,
        }
    }

    /// Runs reconciles only while `gate` is true (the leader-election hook). Reconciles already running when it
    /// turns false finish; keys triggered meanwhile wait; when it turns true again every key is looked at. A gate
    /// whose sender is dropped counts as false: nothing can tell this process it still leads.
    /// It replaces the process's leadership as the gate.
    pub fn with_gate(mut self, gate: watch::Receiver<bool>) -> Self {
        self.gate = Some(Gate::Flag(gate));
        self
    }

    /// Runs reconciles only while `leadership` leads, each fenced with the term it started in (the process's
    /// installed leadership is the default; this names one explicitly).
    pub fn with_leadership(mut self, leadership: &berth_store::leader::Leadership) -> Self {
        self.gate = Some(Gate::Leader(leadership.subscribe()));
        self
    }

    /// Runs on every server, leader or not (no gate): for work on what each server keeps itself (its own files,
    /// its own memory), never for writes only the leader may make.
    pub fn everywhere(mut self) -> Self {
        self.gate = None;
        self
    }

    /// The error policy (default: [`Backoff::default`]).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How many reconciles (of different keys) may run at once (at least 1).
    pub fn with_max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = max.max(1);
        self
    }

    /// How long a reconcile waits for the source to reach the revision it must see before it counts as failed.
    pub fn with_wait_timeout(mut self, seconds: f64) -> Self {
        self.wait_timeout = seconds;
        self
    }

    /// Looks at every key again every `seconds` (level-triggered controllers converge even if a trigger was
    /// missed); default: never.
    pub fn with_resync(mut self, seconds: f64) -> Self {
        self.resync = Some(seconds).filter(|s| s.is_finite() && *s > 0.0);
        self
    }

    /// A handle to request reconciles of keys while the controller runs.
    pub fn handle(&self) -> Handle<R::Key> {
        Handle { requests: self.requests_tx.clone() }
    }

    /// Runs until the source's sender is dropped (the cache stopped). Reconciles still running then are aborted.
    pub async fn run(self) {
        let Controller {
            name,
            reconciler,
            clock,
            mut source,
            mut gate,
            backoff,
            max_concurrent,
            wait_timeout,
            resync,
            requests_tx,
            mut requests,
        } = self;
        let mut next_resync = resync.map(|period| millis(clock.now() + period));
        drop(requests_tx); // handles keep the channel open; the loop must not
        let mut queue = WorkQueue::new();
        let mut running: JoinSet<Result<Action, String>> = JoinSet::new();
        let mut keys_of: HashMap<Id, R::Key> = HashMap::new();
        let mut open = gate.as_mut().is_none_or(|g| g.open_now());
        let mut requests_live = true;
        let revision = *source.borrow_and_update();
        for key in reconciler.keys() {
            queue.trigger(key, Trigger::Startup, revision);
        }
        tracing::debug!(controller = name, open, "controller started");
        loop {
            while open && running.len() < max_concurrent {
                let fence = match gate.as_ref().map(Gate::fence) {
                    None => None,
                    Some(Ok(fence)) => fence,
                    Some(Err(())) => break,
                };
                let Some(work) = queue.pop() else { break };
                let key = work.key.clone();
                let task = spawn(name, &reconciler, &clock, &source, wait_timeout, fence, work, &mut running);
                keys_of.insert(task, key);
            }
            let due = match (queue.next_due(), next_resync) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = due.map(|at| clock.sleep_until(at as f64 / 1000.0));
            tokio::select! {
                biased;
                Some(joined) = running.join_next_with_id(), if !running.is_empty() => {
                    let (id, outcome) = match joined {
                        Ok((id, outcome)) => (id, outcome),
                        Err(error) => (error.id(), Err(panic_message(error))),
                    };
                    let Some(key) = keys_of.remove(&id) else { continue };
                    let now = millis(clock.now());
                    match outcome {
                        Ok(action) => {
                            let at = action.requeue_after.map(|s| now.saturating_add(millis(s)));
                            queue.succeeded(&key, at);
                        }
                        Err(error) => {
                            let (failures, delay) = queue.failed(&key, now, &backoff);
                            tracing::warn!(controller = name, %key, failures, retry_in_seconds = delay, %error, "reconcile failed; backing off");
                        }
                    }
                }
                changed = source.changed() => {
                    if changed.is_err() {
                        tracing::debug!(controller = name, "the watched source stopped; the controller ends");
                        return;
                    }
                    let revision = *source.borrow_and_update();
                    for key in reconciler.changed_keys(revision) {
                        queue.trigger(key, Trigger::Change { revision }, revision);
                    }
                }
                changed = async { match gate.as_mut() { Some(g) => g.changed().await, None => std::future::pending().await } }, if gate.is_some() => {
                    let now_open = changed.is_ok() && gate.as_mut().is_some_and(|g| g.open_now());
                    if changed.is_err() {
                        gate = None;
                    }
                    if now_open && !open {
                        let revision = *source.borrow();
                        for key in reconciler.keys() {
                            queue.trigger(key, Trigger::Leader, revision);
                        }
                    }
                    if now_open != open {
                        tracing::info!(controller = name, leading = now_open, "leader gate changed");
                    }
                    open = now_open;
                }
                request = requests.recv(), if requests_live => match request {
                    Some((key, revision)) => { queue.trigger(key, Trigger::Requested { revision }, revision); }
                    None => requests_live = false,
                },
                () = async { match sleep { Some(s) => s.await, None => std::future::pending().await } }, if due.is_some() => {
                    let now = millis(clock.now());
                    queue.fire_due(now);
                    if let (Some(at), Some(period)) = (next_resync, resync)
                        && at <= now
                    {
                        next_resync = Some(now.saturating_add(millis(period)));
                        let revision = *source.borrow();
                        for key in reconciler.keys() {
                            queue.trigger(key, Trigger::Resync, revision);
                        }
                    }
                }
            }
        }
    }
}

/// Starts one reconcile in its own task (so a panic is caught as its `JoinError`), inside a span naming the
/// controller, the key and the trigger. It first waits for the source to reach the work's revision. With a
/// `fence` (the leader's token), its store writes carry it ([`berth_store::leader::fenced`]).
#[allow(clippy::too_many_arguments)]
fn spawn<R: Reconciler>(
    name: &'static str,
    reconciler: &Arc<R>,
    clock: &Arc<dyn Clock>,
    source: &watch::Receiver<i64>,
    wait_timeout: f64,
    fence: Option<i64>,
    work: Work<R::Key>,
    running: &mut JoinSet<Result<Action, String>>,
) -> Id {
    let span = tracing::info_span!("reconcile", controller = name, key = %work.key, trigger = %work.trigger);
    let (reconciler, clock, mut source) = (reconciler.clone(), clock.clone(), source.clone());
    let future = async move {
        if let Err(error) = wait_for(&mut source, work.min_revision, &*clock, wait_timeout).await {
            return Err(error.to_string());
        }
        let reconcile = reconciler.reconcile(work.key, work.trigger);
        let outcome = match fence {
            Some(token) => berth_store::leader::fenced(token, reconcile).await,
            None => reconcile.await,
        };
        outcome.map_err(|e| e.to_string())
    };
    running.spawn(future.instrument(span)).id()
}

/// The message of a reconcile task that panicked (or was cancelled).
fn panic_message(error: JoinError) -> String {
    if !error.is_panic() {
        return format!("the reconcile task was cancelled: {error}");
    }
    let payload = error.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".into());
    format!("the reconcile panicked: {text}")
}

/// Clock seconds to whole milliseconds (the queue's unit); negative and non-finite values clamp to 0.
fn millis(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 { (seconds * 1000.0).round() as u64 } else { 0 }
}
