//! Recording a history from many concurrent clients.
//!
//! Each call is bracketed: [`Recorder::begin`] before the request is sent, then one of [`Recorder::end`] (an answer
//! arrived), [`Recorder::end_unknown`] (timeout, cut connection, 5xx: it may or may not have applied) or
//! [`Recorder::discard`] (an error that certainly did not apply, such as a 4xx validation error);
//! [`Recorder::end_error`] picks between the last two by HTTP status. A token dropped without any of them leaves its
//! operation pending, which is the safe reading of a call whose end was not seen.
//!
//! The recorder stamps both ends with a clock it is given (`Fn() -> u64`, e.g. nanoseconds of
//! `berth_model::clock::Clock::monotonic` since a start), so the workspace's rule that only `berth_model::clock` reads
//! the system's clocks holds, and tests may drive it by hand. The clock must never go backwards, across threads too.
//!
//! Let one recorded operation be one request: turn the SDK's retries off (`max_attempts(1)`), or a retried call
//! whose first attempt applied could end in an error that the caller would read as "did not apply".

use crate::history::{History, Operation, Return};
use std::sync::{Arc, Mutex, MutexGuard};

/// The clock a [`Recorder`] stamps calls and returns with.
pub type RecorderClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A thread-safe history recorder; clones share one history.
pub struct Recorder<I, O> {
    clock: RecorderClock,
    slots: Arc<Mutex<Vec<Slot<I, O>>>>,
}

impl<I, O> Clone for Recorder<I, O> {
    fn clone(&self) -> Self {
        Self { clock: Arc::clone(&self.clock), slots: Arc::clone(&self.slots) }
    }
}

/// One begun operation: recorded, or dropped because it certainly failed.
enum Slot<I, O> {
    Recorded(Operation<I, O>),
    Discarded,
}

/// A begun operation; hand it back to [`Recorder::end`], [`Recorder::end_unknown`] or [`Recorder::discard`].
#[derive(Debug)]
#[must_use = "an operation left open stays pending: end it, or discard it if it certainly failed"]
pub struct OpToken {
    index: usize,
}

impl OpToken {
    /// The id the operation has in the history.
    pub fn id(&self) -> u64 {
        self.index as u64
    }
}

impl<I, O> Recorder<I, O> {
    /// A recorder stamping with `clock`, a monotonic reading (any unit; nanoseconds suit).
    pub fn new(clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self { clock: Arc::new(clock), slots: Arc::new(Mutex::new(Vec::new())) }
    }

    fn slots(&self) -> MutexGuard<'_, Vec<Slot<I, O>>> {
        // A client that panicked while holding the lock left a whole history behind: keep it.
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that `client` is about to call with `input`; stamp taken now.
    pub fn begin(&self, client: u64, input: I) -> OpToken {
        let mut slots = self.slots();
        // Stamped under the lock, so ids follow call times.
        let call = (self.clock)();
        let index = slots.len();
        slots.push(Slot::Recorded(Operation::pending(index as u64, client, call, input)));
        OpToken { index }
    }

    /// Records that the call answered `output`; stamp taken now.
    pub fn end(&self, token: OpToken, output: O) {
        let at = (self.clock)();
        if let Some(Slot::Recorded(op)) = self.slots().get_mut(token.index) {
            op.returned = Some(Return { at, output });
        }
    }

    /// Records that the call's outcome is unknown (it stays pending: it may have applied at any time after its call).
    pub fn end_unknown(&self, token: OpToken) {
        drop(token);
    }

    /// Drops the call from the history: it failed in a way that certainly did not apply (a 4xx validation error).
    pub fn discard(&self, token: OpToken) {
        if let Some(slot) = self.slots().get_mut(token.index) {
            *slot = Slot::Discarded;
        }
    }

    /// Records a call that failed: with an HTTP status of 400-499 (`ClientException`, `InvalidParameterException`,
    /// `ServiceNotFoundException`, throttling: the request was refused) it is dropped as [`Recorder::discard`] does;
    /// with a 5xx, or no response at all (`None`: timeout, cut connection), it stays pending.
    pub fn end_error(&self, token: OpToken, http_status: Option<u16>) {
        match http_status {
            Some(400..=499) => self.discard(token),
            _ => self.end_unknown(token),
        }
    }
}

impl<I: Clone, O: Clone> Recorder<I, O> {
    /// The history so far: operations not ended yet are pending.
    pub fn history(&self) -> History<I, O> {
        let ops = self
            .slots()
            .iter()
            .filter_map(|slot| match slot {
                Slot::Recorded(op) => Some(op.clone()),
                Slot::Discarded => None,
            })
            .collect();
        History::new(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn ticking() -> impl Fn() -> u64 + Send + Sync + 'static {
        let now = AtomicU64::new(0);
        move || now.fetch_add(10, Ordering::SeqCst)
    }

    #[test]
    fn records_returns_pending_and_discards() {
        let recorder: Recorder<&str, u32> = Recorder::new(ticking());
        let a = recorder.begin(1, "write");
        let b = recorder.begin(2, "read");
        let c = recorder.begin(3, "invalid");
        let d = recorder.begin(4, "lost");
        let e = recorder.begin(5, "throttled");
        let f = recorder.begin(6, "server error");
        recorder.end(b, 7);
        recorder.discard(c);
        recorder.end_unknown(a);
        drop(d);
        recorder.end_error(e, Some(400));
        recorder.end_error(f, Some(500));
        let history = recorder.history();
        assert_eq!(
            history.ops,
            vec![
                Operation::pending(0, 1, 0, "write"),
                Operation::completed(1, 2, 10, 60, "read", 7),
                Operation::pending(3, 4, 30, "lost"),
                Operation::pending(5, 6, 50, "server error"),
            ]
        );
        history.validate().unwrap();
    }

    #[test]
    fn clones_share_one_history_across_threads() {
        let recorder: Recorder<u64, u64> = Recorder::new(ticking());
        let threads: Vec<_> = (0..4)
            .map(|client| {
                let recorder = recorder.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let token = recorder.begin(client, i);
                        recorder.end(token, i * 2);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let history = recorder.history();
        assert_eq!(history.ops.len(), 100);
        history.validate().unwrap();
        assert!(history.ops.iter().all(|op| op.output() == Some(&(op.input * 2))));
    }

    #[test]
    fn history_round_trips_through_json() {
        let recorder: Recorder<String, Option<u32>> = Recorder::new(ticking());
        let token = recorder.begin(9, "describe".to_string());
        recorder.end(token, None);
        let _open = recorder.begin(9, "update".to_string());
        let history = recorder.history();
        let dir = std::env::temp_dir().join(format!("lincheck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.json");
        history.save(&path).unwrap();
        let loaded = History::<String, Option<u32>>::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(loaded, history);
    }
}
