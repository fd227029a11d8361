//! One registered target: its requests in progress, its health as the probes found it, and the passive marks the
//! proxy puts on it between probes. A target keeps this state across configuration changes as long as it stays
//! registered (or draining) in its target group.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the probes say about a target (draining and unused are decided by its group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probed {
    /// Not yet passed a check.
    Initial,
    /// Passing.
    Healthy,
    /// Failing.
    Unhealthy,
}

/// Why the last check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The target answered with a status code the matcher refuses.
    Code(u16),
    /// No answer within the health check's timeout.
    Timeout,
    /// The connection failed (refused, reset, malformed answer).
    Failed,
}

/// A probe's outcome.
pub(crate) type Outcome = Result<(), Failure>;

/// A probe's state of one target.
#[derive(Debug)]
pub(crate) struct Health {
    /// The state.
    pub probed: Probed,
    /// Consecutive passes.
    pub passes: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// Why the last check failed, while unhealthy or failing.
    pub last_failure: Option<Failure>,
    /// When (proxy milliseconds) the next check is due.
    pub next_probe: u64,
    /// A check is running.
    pub probing: bool,
}

/// A registered target.
#[derive(Debug)]
pub(crate) struct Target {
    /// Its address.
    pub addr: SocketAddr,
    /// Its address as a URI authority (made once, cloned per request).
    pub authority: http::uri::Authority,
    /// Requests in progress (until their response body ends).
    in_flight: AtomicUsize,
    /// [`Probed`] as a number, read on every request.
    routable: AtomicU8,
    /// Until when (proxy milliseconds) a failed connection keeps it out of rotation; 0 = not marked.
    passive_until: AtomicU64,
    /// When (proxy milliseconds + 1) its slow start began; 0 = not in slow start.
    slow_start_from: AtomicU64,
    health: Mutex<Health>,
}

const INITIAL: u8 = 0;
const HEALTHY: u8 = 1;
const UNHEALTHY: u8 = 2;

impl Target {
    /// A newly registered target, checked at once.
    pub(crate) fn new(addr: SocketAddr) -> Arc<Self> {
        let authority = http::uri::Authority::from_maybe_shared(bytes::Bytes::from(addr.to_string()))
            .unwrap_or_else(|_| http::uri::Authority::from_static("invalid"));
        Arc::new(Self {
            addr,
            authority,
            in_flight: AtomicUsize::new(0),
            routable: AtomicU8::new(INITIAL),
            passive_until: AtomicU64::new(0),
            slow_start_from: AtomicU64::new(0),
            health: Mutex::new(Health {
                probed: Probed::Initial,
                passes: 0,
                failures: 0,
                last_failure: None,
                next_probe: 0,
                probing: false,
            }),
        })
    }

    /// The health record (poisoning is ignored: the record stays consistent field by field).
    pub(crate) fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the probes last found it healthy.
    pub(crate) fn is_healthy(&self) -> bool {
        self.routable.load(Ordering::Relaxed) == HEALTHY
    }

    /// Requests in progress.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether a failed connection keeps it out of rotation at `now`.
    pub(crate) fn passively_failed(&self, now: u64) -> bool {
        self.passive_until.load(Ordering::Relaxed) > now
    }

    /// Marks a failed connection: out of rotation until `until`, or until a probe passes.
    pub(crate) fn mark_passive_failure(&self, until: u64) {
        self.passive_until.store(until, Ordering::Relaxed);
    }

    /// Its relative weight at `now` (1000 at full weight), ramping linearly over `slow_start_ms`.
    pub(crate) fn weight(&self, now: u64, slow_start_ms: u64) -> i64 {
        let from = self.slow_start_from.load(Ordering::Relaxed);
        if from == 0 || slow_start_ms == 0 {
            return 1000;
        }
        let elapsed = now.saturating_sub(from - 1);
        if elapsed >= slow_start_ms {
            self.slow_start_from.store(0, Ordering::Relaxed);
            return 1000;
        }
        ((elapsed * 1000 / slow_start_ms) as i64).max(1)
    }

    /// Whether it is ramping up at `now`.
    pub(crate) fn in_slow_start(&self, now: u64, slow_start_ms: u64) -> bool {
        self.weight(now, slow_start_ms) < 1000
    }

    /// Applies a check's outcome with the thresholds; returns whether it just turned healthy. `slow_start` says
    /// whether a target turning healthy now begins a slow start (the group decides).
    pub(crate) fn record(
        &self,
        outcome: Outcome,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
        now: u64,
        slow_start: bool,
    ) -> bool {
        let mut h = self.health();
        h.probing = false;
        let before = h.probed;
        match outcome {
            Ok(()) => {
                h.passes = h.passes.saturating_add(1);
                h.failures = 0;
                self.passive_until.store(0, Ordering::Relaxed);
                // A new target needs one pass; a failing one needs the healthy threshold (ELBv2's behaviour).
                let needed = if before == Probed::Initial { 1 } else { healthy_threshold };
                if before != Probed::Healthy && h.passes >= needed {
                    h.probed = Probed::Healthy;
                    h.last_failure = None;
                }
            }
            Err(f) => {
                h.failures = h.failures.saturating_add(1);
                h.passes = 0;
                h.last_failure = Some(f);
                if before != Probed::Unhealthy && h.failures >= unhealthy_threshold {
                    h.probed = Probed::Unhealthy;
                }
            }
        }
        let turned_healthy = before != Probed::Healthy && h.probed == Probed::Healthy;
        if turned_healthy && slow_start {
            self.slow_start_from.store(now + 1, Ordering::Relaxed);
        }
        let code = match h.probed {
            Probed::Initial => INITIAL,
            Probed::Healthy => HEALTHY,
            Probed::Unhealthy => UNHEALTHY,
        };
        self.routable.store(code, Ordering::Relaxed);
        turned_healthy
    }
}

/// A request in progress on a target: counted from its choice until dropped (when the response body ends, or the
/// upgraded connection closes).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Target>);

impl InFlight {
    /// Counts a request on `target`.
    pub(crate) fn new(target: Arc<Target>) -> Self {
        target.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(target)
    }

    /// The target.
    pub(crate) fn target(&self) -> &Arc<Target> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Arc<Target> {
        Target::new("127.0.0.1:1".parse().unwrap())
    }

    #[test]
    fn one_pass_makes_a_new_target_healthy_then_thresholds_apply() {
        let t = target();
        assert!(t.record(Ok(()), 3, 2, 0, false));
        assert!(t.is_healthy());
        assert!(!t.record(Err(Failure::Code(500)), 3, 2, 0, false));
        assert!(t.is_healthy(), "one failure is under the unhealthy threshold");
        t.record(Err(Failure::Code(500)), 3, 2, 0, false);
        assert_eq!(t.health().probed, Probed::Unhealthy);
        assert_eq!(t.health().last_failure, Some(Failure::Code(500)));
        t.record(Ok(()), 3, 2, 0, false);
        t.record(Ok(()), 3, 2, 0, false);
        assert!(!t.is_healthy(), "recovery needs the healthy threshold");
        assert!(t.record(Ok(()), 3, 2, 0, false));
        assert!(t.is_healthy());
    }

    #[test]
    fn a_new_target_failing_turns_unhealthy_at_the_threshold() {
        let t = target();
        t.record(Err(Failure::Timeout), 5, 2, 0, false);
        assert_eq!(t.health().probed, Probed::Initial);
        t.record(Err(Failure::Timeout), 5, 2, 0, false);
        assert_eq!(t.health().probed, Probed::Unhealthy);
    }

    #[test]
    fn slow_start_ramps_linearly() {
        let t = target();
        t.record(Ok(()), 5, 2, 1000, true);
        assert_eq!(t.weight(1000, 30_000), 1);
        assert_eq!(t.weight(16_000, 30_000), 500);
        assert!(t.in_slow_start(30_000, 30_000));
        assert_eq!(t.weight(31_000, 30_000), 1000);
        assert!(!t.in_slow_start(31_000, 30_000));
    }

    #[test]
    fn in_flight_counts_until_dropped() {
        let t = target();
        let a = InFlight::new(t.clone());
        let b = InFlight::new(t.clone());
        assert_eq!(t.in_flight(), 2);
        drop(a);
        assert_eq!(b.target().in_flight(), 1);
    }

    #[test]
    fn passive_failure_clears_on_a_passing_probe() {
        let t = target();
        t.mark_passive_failure(5000);
        assert!(t.passively_failed(4000));
        assert!(!t.passively_failed(5000));
        t.mark_passive_failure(9000);
        t.record(Ok(()), 5, 2, 4000, false);
        assert!(!t.passively_failed(4000));
    }
}
