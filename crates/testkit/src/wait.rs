//! Polling helpers: check a condition every [`POLL_INTERVAL`] until it yields a value or the timeout passes.
//!
//! These are for tests against real processes (Docker, the Berth server), where there is no clock to advance;
//! unit tests of controllers use a manual `Clock` instead and never sleep.

// Polling real processes: the deadline is real time by nature (the testkit may read the clock; clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::future::Future;
use std::time::{Duration, Instant};

use crate::TestkitError;

/// How often conditions are checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`, or fails with [`TestkitError::Timeout`] naming `what`.
///
/// `check` runs at least once, even with a zero timeout.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, TestkitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(TestkitError::Timeout { what: what.to_string(), after: timeout });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The blocking twin of [`wait_for`], for tests without an async runtime.
pub fn wait_for_blocking<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, TestkitError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(TestkitError::Timeout { what: what.to_string(), after: timeout });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_first_value() {
        let mut n = 0;
        let got = wait_for("n to reach 3", Duration::from_secs(5), || {
            n += 1;
            let v = n;
            async move { (v >= 3).then_some(v) }
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
    }

    #[tokio::test]
    async fn times_out_with_the_condition_named() {
        let err = wait_for("never", Duration::from_millis(120), || async { None::<()> }).await.unwrap_err();
        assert!(err.to_string().contains("waiting for never"), "{err}");
    }

    #[test]
    fn blocking_variant_checks_at_least_once() {
        assert_eq!(wait_for_blocking("now", Duration::ZERO, || Some(7)).unwrap(), 7);
        assert!(wait_for_blocking("never", Duration::from_millis(60), || None::<u8>).is_err());
    }
}
