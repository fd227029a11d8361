//! The API history of the fault test: every call a client made, with when it was sent and when it returned (seconds
//! since the test began, on the monotonic clock) and its outcome.
//!
//! This is the thin adapter the test records through, so that moving to `berth-lincheck`'s recorder and checker is
//! one place: [`History::begin`] / [`History::ok`] / [`History::fail`] / [`History::unknown`] map onto its
//! `begin` / `end` / `end_unknown`. Until then the history is saved as JSON ([`History::save`]) for the checker.
//!
//! Outcomes: an answer is `ok` (with what the test needs of it) or `fail` (a 4xx error: the call had no effect);
//! a timeout, a dropped connection or a 5xx is `unknown` (the call may or may not have taken effect).

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One recorded call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Op {
    /// The client that made it.
    pub client: usize,
    /// The server it was sent to.
    pub server: usize,
    /// The operation (`RunTask`, `StopTask`, `DescribeTasks`, `UpdateService`, `DescribeServices`).
    pub op: String,
    /// Its input (what the checker needs).
    pub input: Value,
    /// When it was sent, seconds since the test began.
    pub call: f64,
    /// When it returned (`None`: never, the outcome is unknown).
    pub ret: Option<f64>,
    /// `ok`, `fail` or `unknown`.
    pub outcome: &'static str,
    /// The answer (`ok`) or the error (`fail`, `unknown`).
    pub output: Value,
}

/// The outcome of an SDK call, classified.
pub enum Outcome<T> {
    /// The call succeeded.
    Ok(T),
    /// The server refused it (4xx): no effect.
    Fail(String),
    /// No answer, or a 5xx: it may have taken effect.
    Unknown(String),
}

/// Classifies an SDK result.
pub fn classify<T, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, SdkError<E, aws_sdk_ecs::config::http::HttpResponse>>,
) -> Outcome<T> {
    match result {
        Ok(v) => Outcome::Ok(v),
        Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() < 500 => {
            Outcome::Fail(format!("{}: {}", e.err().code().unwrap_or("?"), e.err().message().unwrap_or_default()))
        }
        Err(e) => Outcome::Unknown(format!("{e:?}").chars().take(300).collect()),
    }
}

/// The history being recorded.
pub struct History {
    start: Instant,
    ops: Mutex<Vec<Op>>,
}

impl History {
    /// An empty history whose clock starts now.
    pub fn new() -> Self {
        Self { start: Instant::now(), ops: Mutex::new(Vec::new()) }
    }

    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn ops(&self) -> std::sync::MutexGuard<'_, Vec<Op>> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `client` sends `op` with `input` to `server`; returns the call's id.
    pub fn begin(&self, client: usize, server: usize, op: &str, input: Value) -> usize {
        let call = self.now();
        let mut ops = self.ops();
        ops.push(Op {
            client,
            server,
            op: op.to_string(),
            input,
            call,
            ret: None,
            outcome: "unknown",
            output: Value::Null,
        });
        ops.len() - 1
    }

    /// The call `id` returned `output`.
    pub fn ok(&self, id: usize, output: Value) {
        self.end(id, "ok", output, true);
    }

    /// The call `id` was refused (no effect).
    pub fn fail(&self, id: usize, error: String) {
        self.end(id, "fail", json!(error), true);
    }

    /// The call `id` has an unknown outcome (it may have taken effect at any time after its call).
    pub fn unknown(&self, id: usize, error: String) {
        self.end(id, "unknown", json!(error), false);
    }

    fn end(&self, id: usize, outcome: &'static str, output: Value, returned: bool) {
        let ret = returned.then(|| self.now());
        if let Some(op) = self.ops().get_mut(id) {
            op.ret = ret;
            op.outcome = outcome;
            op.output = output;
        }
    }

    /// How many calls, and how many of each outcome: (total, ok, fail, unknown).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let ops = self.ops();
        let of = |o: &str| ops.iter().filter(|op| op.outcome == o).count();
        (ops.len(), of("ok"), of("fail"), of("unknown"))
    }

    /// Writes the history as a JSON array to `path`.
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(&*self.ops()).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }

    /// Seconds since the test began.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}
