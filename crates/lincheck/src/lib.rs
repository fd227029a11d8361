//! # berth-lincheck: is a history of Berth's ECS API calls linearizable?
//!
//! A cluster of Berth servers under faults must still behave like one server answering one call at a time: every
//! call must appear to take effect at one instant between its call and its return. This crate records what clients
//! saw and checks exactly that.
//!
//! - [`Recorder`] records a history from many threads: `begin` before a request, `end` with the answer,
//!   `end_unknown` for a timeout, cut connection or 5xx (it may or may not have applied), `discard` for an error
//!   that certainly did not apply (a 4xx). It stamps with a clock the caller gives it (the workspace reads clocks
//!   only through `berth_model::clock`). A [`History`] saves and loads as JSON.
//! - [`Checker`] is Wing & Gong's search with Lowe's cache, as Porcupine runs it: a list of call and return
//!   entries, a depth-first search for an order that the model accepts, backtracking at a return that came before
//!   its operation could be placed, and a cache of (operations placed, state) that prunes orders ending alike. An
//!   operation that never returned may take effect at any point after its call, or never. The search is bounded by
//!   a step budget; a sub-history that exhausts it is reported undecided, not hung on.
//! - A [`Model`] is a sequential specification (`init`, `step`, and `step_pending` for calls whose answer was not
//!   seen) with a `partition` hook: linearizability is local, so a history splits into one sub-history per
//!   independent key (service, task ARN) and each is searched on its own, which keeps the search small.
//! - [`ecs`] has the models for Berth: [`ecs::Services`] (desiredCount per service: CreateService, UpdateService,
//!   DescribeServices), [`ecs::Tasks`] (per task ARN: RunTask, StopTask, DescribeTasks; desiredStatus and a lastStatus
//!   that only moves forward) and [`ecs::TaskLists`] (ListTasks per cluster); [`ecs::check`] runs them all.
//!
//! A failure names the key, the longest linearizable prefix found, the state after it, and the operation that
//! could not be placed (client, times, input, output) with the model's reason.
//!
//! ```
//! use berth_lincheck::ecs::{self, Call, Reply, ServiceRead};
//! use berth_lincheck::{Checker, Recorder};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! // In a test on Berth: `let origin = clock.monotonic();` then
//! // `Recorder::new(move || clock.monotonic().saturating_duration_since(origin).as_nanos() as u64)`.
//! let ticks = AtomicU64::new(0);
//! let recorder: Recorder<Call, Reply> = Recorder::new(move || ticks.fetch_add(1, Ordering::SeqCst));
//! let web = |count| Call::UpdateService { cluster: "c".into(), service: "web".into(), desired_count: Some(count) };
//!
//! let update = recorder.begin(1, web(3));
//! recorder.end(update, Reply::Done);
//! let lost = recorder.begin(1, web(5));
//! recorder.end_unknown(lost); // timed out: 5 may or may not have been applied
//! let read = recorder.begin(2, Call::DescribeServices { cluster: "c".into(), services: vec!["web".into()] });
//! recorder.end(read, Reply::Services(vec![ServiceRead { service: "web".into(), desired_count: Some(3) }]));
//!
//! let report = ecs::check(&Checker::new(), &recorder.history()).expect("valid times");
//! assert!(report.is_linearizable(), "{report}");
//! ```
//!
//! ## What it does not check
//!
//! - Invariants across keys, such as a service running its desired count of tasks, or a RunTask's tasks being
//!   placed: the test asserts those itself. (The task list model is the one check across a cluster's tasks.)
//! - Anything the models leave open: lastStatus is the agents' to move, so any forward move is accepted; desired
//!   counts set by Application Auto Scaling, DeleteService and ListTasks pagination are not modelled (see each
//!   model's assumptions).
//! - Real-time order across clients beyond what the recorded stamps show: operations whose intervals touch are
//!   taken as concurrent, so clock resolution can only hide an anomaly, never invent one.
//! - Liveness: a call that never returns is only pending, never a failure.

pub mod checker;
pub mod ecs;
pub mod history;
pub mod model;
pub mod recorder;

#[cfg(test)]
mod testing;

pub use checker::{Anomaly, Checker, Report, ReportOf, Undecided, Verdict};
pub use history::{History, HistoryFileError, InvalidHistory, Operation, Return};
pub use model::{Model, Partition};
pub use recorder::{OpToken, Recorder, RecorderClock};
