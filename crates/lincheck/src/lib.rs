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
