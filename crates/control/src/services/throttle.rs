//! The start-failure throttle, ECS's "service throttle logic": when a service's tasks keep failing to start, the
//! service scheduler waits longer and longer between starts instead of starting a replacement on every pass.
//!
//! - **What counts:** a task of the PRIMARY deployment that stopped with stop code `TaskFailedToStart` (the agent
//!   could not pull an image, or create or start a container, or a dependency failed). A task that ran its
//!   containers (reached RUNNING) never counts, even if its essential container exited a moment later; placement
//!   failures start no task and do not count either.
//! - **Schedule:** after `n` consecutive start failures the next start waits [`delay_seconds`]`(n)`: 5 s, doubling
//!   to at most 15 minutes. While failures are counted, the scheduler starts one task per wait, whatever the
//!   desired count, until one reaches RUNNING.
//! - **Reset:** a task of the service that reaches RUNNING after the last failure, or a new deployment (a new task
//!   definition, `forceNewDeployment`, a placement change, or a circuit-breaker rollback).
//! - **Event:** from the third failure in a row, `(service NAME) is unable to consistently start tasks
//!   successfully.` (ECS's words), repeated at most once a minute like the scheduler's other repeated events.
//!
//! docs/COMPATIBILITY.md ("Start-failure throttle") names where this departs from ECS.

use crate::records::{StartThrottle, TaskRecord};
use crate::status::StopCode;
use berth_model::Timestamp;

/// The wait after the first start failure.
pub const FIRST_DELAY_SECONDS: f64 = 5.0;
/// The longest wait between starts (ECS documents 27 minutes today, 15 minutes until 2023).
pub const MAX_DELAY_SECONDS: f64 = 15.0 * 60.0;
/// How many start failures in a row make the service "unable to consistently start tasks".
pub const IMPAIRED_AFTER: u32 = 3;
/// ECS's event (after the `(service NAME)` prefix) for a throttled service.
pub const IMPAIRED_EVENT: &str = "is unable to consistently start tasks successfully.";

/// Seconds to wait before the next start after `failures` consecutive start failures (0 for none).
pub fn delay_seconds(failures: u32) -> f64 {
    if failures == 0 {
        return 0.0;
    }
    let doublings = i32::try_from(failures - 1).unwrap_or(i32::MAX).min(30);
    (FIRST_DELAY_SECONDS * 2f64.powi(doublings)).min(MAX_DELAY_SECONDS)
}

/// Whether a stopped task failed to start: it never ran its containers.
pub fn failed_to_start(task: &TaskRecord) -> bool {
    task.stop_code == Some(StopCode::TaskFailedToStart)
}

impl StartThrottle {
    /// Counts `n` more start failures, seen at `now`.
    pub fn record_failures(&mut self, n: u32, now: Timestamp) {
        if n == 0 {
            return;
        }
        self.failures = self.failures.saturating_add(n);
        self.last_failure_at = now;
        self.not_before = now + delay_seconds(self.failures);
    }

    /// Whether the service is throttled: tasks failed to start and none has run since.
    pub fn engaged(&self) -> bool {
        self.failures > 0
    }

    /// How many of `wanted` new tasks may start at `now`: all of them when no start failed, none before the
    /// wait is over, else one.
    pub fn allowed(&self, wanted: usize, now: Timestamp) -> usize {
        match (self.engaged(), now >= self.not_before) {
            (false, _) => wanted,
            (true, false) => 0,
            (true, true) => wanted.min(1),
        }
    }

    /// Whether the service just became impaired (the event is due) with this many failures counted.
    pub fn impaired(&self) -> bool {
        self.failures >= IMPAIRED_AFTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_to_a_cap() {
        let waits: Vec<f64> = (0..10).map(delay_seconds).collect();
        assert_eq!(waits, [0.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 900.0]);
        assert_eq!(delay_seconds(u32::MAX), MAX_DELAY_SECONDS);
    }

    #[test]
    fn one_task_per_wait_while_engaged() {
        let mut t = StartThrottle::default();
        assert_eq!(t.allowed(5, 0.0), 5);
        t.record_failures(2, 100.0);
        assert_eq!(t.not_before, 110.0);
        assert_eq!(t.allowed(5, 109.9), 0);
        assert_eq!(t.allowed(5, 110.0), 1);
        assert!(!t.impaired());
        t.record_failures(1, 120.0);
        assert!(t.impaired());
        assert_eq!(t.not_before, 140.0);
    }
}
