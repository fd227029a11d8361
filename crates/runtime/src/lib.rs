//! Berth's controller runtime: the one loop every control-plane controller runs on.
//!
//! # Background
//! A controller makes the world match the store, one *key* at a time (an instance, a service, a periodic chore). It
//! is level-triggered: a reconcile reads the current state, never an event, so a missed trigger only delays a fix.
//! This crate follows kube-runtime's shape: a watch says "something changed", a work queue says "these keys need a
//! look", and the reconcile says when to look again.
//!
//! # Design
//! - [`Reconciler`]: the controller's logic, `reconcile(key, trigger) -> Result<Action>`, plus the keys to look at.
//! - [`Controller`]: the loop. Triggers come from a `tokio::sync::watch` of a store revision (the control plane's
//!   cache), from [`Action::requeue_after`], from retries, and from a [`Handle`]. The [`queue::WorkQueue`] runs one
//!   reconcile per key at a time; a key triggered while it runs runs once more afterwards. Errors (and panics, caught
//!   as the reconcile task's `JoinError`) back off per key ([`Backoff`]: capped exponential). Each reconcile runs in
//!   a tracing span naming the controller, the key and the [`Trigger`].
//! - Time comes only from `berth_model::clock::Clock` (`now` and `sleep_until`), so tests drive a controller with a
//!   `ManualClock` and no real sleeps. clippy.toml bans `SystemTime::now` and `Instant::now` (std and tokio)
//!   outside the clock, so no controller can read the time any other way.
//! - [`wait_for`]: waits until the cache reaches a revision, bounded by a timeout on the clock; a reconcile
//!   requested at revision R sees at least R.
//! - A leader gate (`watch::Receiver<bool>`): reconciles start only while it is true (default: always).
//! - An optional periodic resync ([`Controller::with_resync`]) looks at every key again, so a missed trigger
//!   heals on a timer, as DESIGN.md's level-triggered controllers require.
//!
//! # Who runs on it
//! The liveness controller and the service scheduler (both following the control plane's cache), and the
//! registry's background jobs (`berth_registry::background`: one key per job, each requeued after its configured
//! period, following the registry index's revision only as a source, since store changes trigger no job).
//!
//! # Limitations
//! The agent's task engine is a single-owner message loop, not a reconciler, and does not run here; its periodic
//! resync is a plain timer on the agent's `Clock`. Keys of a change trigger are whatever
//! [`Reconciler::changed_keys`] returns: the runtime does not know which records a change touched.
//! [`Controller::with_resync`] has one period for every key; controllers whose keys have periods of their own
//! (the registry's jobs) requeue each key with [`Action::requeue`] instead.

mod action;
mod backoff;
mod controller;
pub mod queue;
mod reconciler;
mod trigger;
mod wait;

pub use action::Action;
pub use backoff::Backoff;
pub use controller::{Controller, Handle};
pub use reconciler::Reconciler;
pub use trigger::Trigger;
pub use wait::{WaitError, wait_for};
