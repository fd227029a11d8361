//! Waiting for a watched revision, bounded by a timeout on the clock.

use berth_model::clock::Clock;
use tokio::sync::watch;

/// Why [`wait_for`] gave up.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum WaitError {
    /// The timeout passed first.
    #[error("the cache did not reach revision {wanted} within {timeout} s (it is at {reached})")]
    TimedOut {
        /// The revision waited for.
        wanted: i64,
        /// The revision reached when the wait gave up.
        reached: i64,
        /// The timeout, in seconds.
        timeout: f64,
    },
    /// The watched source is gone (the cache stopped).
    #[error("the cache stopped before reaching revision {wanted}")]
    Closed {
        /// The revision waited for.
        wanted: i64,
    },
}

/// Waits until `revisions` shows at least `revision`, for at most `timeout` seconds of `clock`. Returns the
/// revision reached.
pub async fn wait_for(
    revisions: &mut watch::Receiver<i64>,
    revision: i64,
    clock: &dyn Clock,
    timeout: f64,
) -> Result<i64, WaitError> {
    let deadline = clock.sleep_until(clock.now() + timeout);
    tokio::select! {
        biased;
        reached = async { revisions.wait_for(|r| *r >= revision).await.map(|r| *r) } => {
            reached.map_err(|_| WaitError::Closed { wanted: revision })
        }
        () = deadline => Err(WaitError::TimedOut { wanted: revision, reached: *revisions.borrow(), timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::ManualClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn returns_once_the_revision_is_reached_and_times_out_on_the_clock() {
        let clock = Arc::new(ManualClock::new(1000.0));
        let (tx, rx) = watch::channel(3);
        // Already there: at once.
        assert_eq!(wait_for(&mut rx.clone(), 2, &*clock, 5.0).await, Ok(3));
        // Reached later.
        let mut waiting = rx.clone();
        let c = clock.clone();
        let task = tokio::spawn(async move { wait_for(&mut waiting, 7, &*c, 5.0).await });
        tokio::task::yield_now().await;
        tx.send_replace(7);
        assert_eq!(task.await.unwrap(), Ok(7));
        // Never reached: gives up when the clock passes the timeout, not before.
        let mut waiting = rx.clone();
        let c = clock.clone();
        let task = tokio::spawn(async move { wait_for(&mut waiting, 9, &*c, 5.0).await });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        clock.advance(4.9);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!task.is_finished(), "the timeout has not passed yet");
        clock.advance(0.1);
        assert_eq!(task.await.unwrap(), Err(WaitError::TimedOut { wanted: 9, reached: 7, timeout: 5.0 }));
        drop(tx);
        assert_eq!(wait_for(&mut rx.clone(), 10, &*clock, 5.0).await, Err(WaitError::Closed { wanted: 10 }));
    }
}
