//! The assignment lease: an agent starts a task's containers only while the server has recently confirmed that
//! the tasks it was given are still its own.
//!
//! The server counts an instance lost after `lost_instance_seconds` of silence, stops its tasks and has them
//! replaced elsewhere, and bumps the instance's assignment epoch. An agent cut off from every server cannot learn
//! that; if it went on starting tasks from its last desired state, a task the server replaced would run twice when
//! the agent's image pull finished after the loss, or when it came back before its stream delivered the new desired
//! state. So:
//!
//! - every answered report confirms the lease as of the moment the report was **sent** (the server heard the agent
//!   at or after that, so its lost-instance clock restarted no earlier), for [`LEASE_FRACTION`] of the
//!   lost-instance timeout; registering confirms it too;
//! - an answer naming a newer assignment epoch than the desired state the agent holds means the instance was found
//!   lost while away: the lease holds again only once a desired state of that epoch has arrived (it no longer
//!   lists the replaced tasks, so they are stopped, never started);
//! - a start worker waits at [`AssignmentLease::wait`] after its image pulls and before it creates anything.
//!
//! Containers already running are left running while the lease lapses (as ECS's agent does when disconnected):
//! the lease only fences starts. Clock rates, not clocks, must agree: both sides measure durations.

use berth_model::clock::Clock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The part of the server's lost-instance timeout an agent's lease lasts (the rest is margin for delays and clock
/// rates).
pub const LEASE_FRACTION: f64 = 2.0 / 3.0;

/// How often a waiting start looks at the lease again (besides being woken by a confirmation).
const RECHECK: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct Inner {
    /// How long a confirmation lasts; `None`: no lease (a server that does not say its lost-instance timeout).
    length: Option<Duration>,
    /// When the last confirmed report was sent (monotonic).
    confirmed_at: Option<Instant>,
    /// The epoch of the desired state the engine holds.
    desired_epoch: Option<u64>,
    /// The newest epoch the server answered with.
    server_epoch: Option<u64>,
}

/// Why the lease does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lapse {
    /// No report was confirmed within the lease.
    Unconfirmed,
    /// The server found the instance lost while the agent was away (its epoch is newer than the desired state's).
    Superseded {
        /// The desired state's epoch.
        held: u64,
        /// The server's epoch.
        server: u64,
    },
}

impl std::fmt::Display for Lapse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lapse::Unconfirmed => f.write_str("no server has confirmed this instance's assignment within its lease"),
            Lapse::Superseded { held, server } => write!(
                f,
                "the server found this instance lost while it was away (assignment epoch {held} -> {server}); \
                 waiting for the new desired state"
            ),
        }
    }
}

/// The agent's assignment lease (shared by the reporter, the stream and the start workers).
pub struct AssignmentLease {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
    changed: Notify,
    /// Set while a start waits, so the reporter reports at once instead of at its next heartbeat.
    wanted: Notify,
}

impl std::fmt::Debug for AssignmentLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssignmentLease").field("inner", &*self.lock()).finish()
    }
}

impl AssignmentLease {
    /// A lease with no length yet (it holds until the server says its lost-instance timeout).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { inner: Mutex::new(Inner::default()), clock, changed: Notify::new(), wanted: Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server's lost-instance timeout, from its registration answer (`None` from older servers: no lease).
    pub fn set_lost_after(&self, seconds: Option<u64>) {
        self.lock().length = seconds.map(|s| Duration::from_secs_f64(s as f64 * LEASE_FRACTION));
        self.changed.notify_waiters();
    }

    /// A server answered a call sent at `sent` (a report, or a registration) and named `server_epoch` as the
    /// instance's assignment epoch (`None`: it did not say).
    pub fn confirmed(&self, sent: Instant, server_epoch: Option<u64>) {
        {
            let mut inner = self.lock();
            if inner.confirmed_at.is_none_or(|at| sent > at) {
                inner.confirmed_at = Some(sent);
            }
            if let Some(epoch) = server_epoch {
                inner.server_epoch = Some(inner.server_epoch.map_or(epoch, |known| known.max(epoch)));
            }
        }
        self.changed.notify_waiters();
    }

    /// The engine now holds a desired state of `epoch` (`None`: the server did not say).
    pub fn desired(&self, epoch: Option<u64>) {
        if let Some(epoch) = epoch {
            let mut inner = self.lock();
            inner.desired_epoch = Some(inner.desired_epoch.map_or(epoch, |known| known.max(epoch)));
        }
        self.changed.notify_waiters();
    }

    /// Whether a start may go ahead now, or why not.
    pub fn check(&self) -> Result<(), Lapse> {
        let inner = self.lock();
        let Some(length) = inner.length else { return Ok(()) };
        if let (Some(held), Some(server)) = (inner.desired_epoch, inner.server_epoch)
            && held < server
        {
            return Err(Lapse::Superseded { held, server });
        }
        match inner.confirmed_at {
            Some(at) if self.clock.monotonic().saturating_duration_since(at) < length => Ok(()),
            _ => Err(Lapse::Unconfirmed),
        }
    }

    /// Waits until the lease holds (true), or `cancel` is set (false). Logs once per wait why it waits.
    pub async fn wait(&self, task_arn: &str, cancel: &AtomicBool) -> bool {
        let mut logged = false;
        loop {
            if cancel.load(Ordering::SeqCst) {
                return false;
            }
            let changed = self.changed.notified();
            match self.check() {
                Ok(()) => return true,
                Err(lapse) => {
                    if !logged {
                        tracing::warn!(task = task_arn, reason = %lapse, "holding a task's start until the server confirms the assignment");
                        metrics::counter!("berth_agent_starts_held_total").increment(1);
                        logged = true;
                    }
                    self.wanted.notify_one();
                }
            }
            let _ = tokio::time::timeout(RECHECK, changed).await;
        }
    }

    /// Resolves when a start is waiting for a confirmation (the reporter then reports at once).
    pub async fn confirmation_wanted(&self) {
        self.wanted.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::ManualClock;

    fn lease(lost: u64) -> (Arc<ManualClock>, AssignmentLease) {
        let clock = Arc::new(ManualClock::new(1_000.0));
        let lease = AssignmentLease::new(clock.clone());
        lease.set_lost_after(Some(lost));
        (clock, lease)
    }

    #[test]
    fn a_server_that_names_no_timeout_leaves_starts_unfenced() {
        let clock = Arc::new(ManualClock::new(1_000.0));
        let lease = AssignmentLease::new(clock.clone());
        assert_eq!(lease.check(), Ok(()));
        clock.advance(3_600.0);
        assert_eq!(lease.check(), Ok(()));
    }

    #[test]
    fn a_confirmation_lasts_two_thirds_of_the_lost_instance_timeout_from_when_it_was_sent() {
        let (clock, lease) = lease(30);
        assert_eq!(lease.check(), Err(Lapse::Unconfirmed), "nothing confirmed yet");
        let sent = clock.monotonic();
        clock.advance(2.0);
        lease.confirmed(sent, Some(0));
        lease.desired(Some(0));
        assert_eq!(lease.check(), Ok(()));
        clock.advance(17.9);
        assert_eq!(lease.check(), Ok(()), "19.9 s after sending");
        clock.advance(0.2);
        assert_eq!(lease.check(), Err(Lapse::Unconfirmed), "20.1 s after sending");
        // An older confirmation arriving late does not move it back.
        lease.confirmed(sent, Some(0));
        assert_eq!(lease.check(), Err(Lapse::Unconfirmed));
    }

    #[test]
    fn a_newer_epoch_holds_starts_until_its_desired_state_arrives() {
        let (clock, lease) = lease(30);
        lease.desired(Some(1));
        lease.confirmed(clock.monotonic(), Some(2));
        assert_eq!(lease.check(), Err(Lapse::Superseded { held: 1, server: 2 }));
        assert!(lease.check().unwrap_err().to_string().contains("found this instance lost"));
        lease.desired(Some(2));
        assert_eq!(lease.check(), Ok(()));
        // A late answer from a server that had not seen the loss yet does not move the epoch back.
        lease.confirmed(clock.monotonic(), Some(1));
        assert_eq!(lease.check(), Ok(()));
    }

    #[tokio::test]
    async fn a_waiting_start_goes_ahead_on_confirmation_and_gives_up_on_cancel() {
        let (clock, lease) = lease(30);
        let lease = Arc::new(lease);
        let cancel = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (lease, cancel) = (lease.clone(), cancel.clone());
            tokio::spawn(async move { lease.wait("t", &cancel).await })
        };
        // The waiting start asks the reporter for a confirmation.
        tokio::time::timeout(Duration::from_secs(5), lease.confirmation_wanted()).await.expect("asked for one");
        lease.confirmed(clock.monotonic(), None);
        assert!(tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("woken").expect("joined"));

        clock.advance(60.0);
        let waiter = {
            let (lease, cancel) = (lease.clone(), cancel.clone());
            tokio::spawn(async move { lease.wait("t", &cancel).await })
        };
        cancel.store(true, Ordering::SeqCst);
        assert!(!tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("gave up").expect("joined"));
    }
}
