//! Time, behind a trait so that controllers, health checks and timeouts are tested without sleeping.
//!
//! A [`Clock`] both tells the time and waits for it: [`Clock::sleep_until`] resolves once [`Clock::now`] has reached
//! a timestamp. [`SystemClock`] waits on tokio timers; [`ManualClock`] wakes its sleepers when a test advances it, so
//! a controller's timers are driven deterministically without real sleeps. [`Clock::monotonic`] is the reading for
//! durations (timeouts, silences, latencies): it never goes backwards and does not follow wall-clock jumps.
//!
//! This module is the only place that reads the system's clocks (`SystemTime::now`, `Instant::now`): clippy's
//! `disallowed-methods` (clippy.toml) bans them everywhere else except tests, benchmarks, examples and the testkit.

use crate::Timestamp;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::watch;
use tokio::time::Instant;

/// A wait for a moment of a [`Clock`]; owns everything it needs.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> Timestamp;

    /// A future that resolves once [`Clock::now`] is at or after `at` (at once if it already is).
    fn sleep_until(&self, at: Timestamp) -> Sleep;

    /// A monotonic reading, for measuring durations: it never goes backwards and ignores wall-clock jumps. For
    /// [`SystemClock`] it is tokio's `Instant::now()`, so it also serves as the deadline of a tokio timer (and
    /// follows tokio's paused time in tests); for [`ManualClock`] it moves only when the clock is advanced.
    fn monotonic(&self) -> Instant;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
    }

    /// Sleeps on a tokio timer for the time left until `at` (so it needs a tokio runtime with time enabled). A
    /// wall-clock jump while sleeping is not followed: the wait is measured on the monotonic clock.
    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let left = at - self.now();
        let wait = if left.is_finite() && left > 0.0 {
            std::time::Duration::try_from_secs_f64(left).unwrap_or(std::time::Duration::MAX)
        } else {
            std::time::Duration::ZERO
        };
        Box::pin(tokio::time::sleep(wait))
    }

    #[allow(clippy::disallowed_methods)] // the one place that reads the monotonic clock
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to; for tests. Advancing it wakes every sleeper whose moment has come.
#[derive(Debug)]
pub struct ManualClock {
    millis: watch::Sender<u64>,
    /// The monotonic reading at creation; [`Clock::monotonic`] is this plus the time advanced since.
    origin: Instant,
    start: u64,
}

/// A timestamp in whole milliseconds (the manual clock's resolution); negative and non-finite values clamp.
fn millis_of(ts: Timestamp) -> u64 {
    if ts.is_finite() && ts > 0.0 { (ts * 1000.0).round() as u64 } else { 0 }
}

impl ManualClock {
    /// A clock stopped at `start` (epoch seconds).
    #[allow(clippy::disallowed_methods)] // an origin for the monotonic readings; it never moves on its own
    pub fn new(start: Timestamp) -> Self {
        let start = millis_of(start);
        Self { millis: watch::Sender::new(start), origin: Instant::now(), start }
    }

    /// Moves the clock forward by `seconds`, waking the sleepers whose moment has come.
    pub fn advance(&self, seconds: f64) {
        let step = millis_of(seconds);
        self.millis.send_modify(|m| *m = m.saturating_add(step));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.millis.borrow() as f64 / 1000.0
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let target = if at.is_finite() { millis_of(at) } else { u64::MAX };
        let mut rx = self.millis.subscribe();
        Box::pin(async move {
            // Err means the clock was dropped: time stops, so the sleeper never wakes (like a timer never due).
            if rx.wait_for(|m| *m >= target).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }

    fn monotonic(&self) -> Instant {
        let advanced = self.millis.borrow().saturating_sub(self.start);
        self.origin + std::time::Duration::from_millis(advanced)
    }
}

/// Rounds a timestamp to milliseconds, the precision ECS returns.
pub fn to_millis(ts: Timestamp) -> Timestamp {
    (ts * 1000.0).round() / 1000.0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`); `month` is 1-12.
/// Callers check that the date exists.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian `(year, month, day)` of a count of days since 1970-01-01 (the inverse of
/// [`days_from_civil`], Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 23), 20_780);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in [-1, 0, 11_017, 20_780, 59, 60, -719_468] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(20_780), (2026, 11, 23));
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(100.0);
        assert_eq!(clock.now(), 100.0);
        let before = clock.monotonic();
        clock.advance(2.5);
        assert_eq!(clock.now(), 102.5);
        assert_eq!(clock.monotonic().saturating_duration_since(before), std::time::Duration::from_millis(2500));
    }

    #[tokio::test]
    async fn manual_sleepers_wake_when_the_clock_reaches_their_moment() {
        use std::task::{Context, Poll, Waker};
        let clock = ManualClock::new(100.0);
        let mut early = clock.sleep_until(101.0);
        let mut late = clock.sleep_until(105.0);
        let mut past = clock.sleep_until(50.0);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(early.as_mut().poll(&mut cx).is_pending());
        assert!(late.as_mut().poll(&mut cx).is_pending());
        assert_eq!(past.as_mut().poll(&mut cx), Poll::Ready(()), "a moment already past is ready at once");
        clock.advance(1.0);
        assert_eq!(early.as_mut().poll(&mut cx), Poll::Ready(()));
        assert!(late.as_mut().poll(&mut cx).is_pending());
        clock.advance(3.999);
        assert!(late.as_mut().poll(&mut cx).is_pending(), "one millisecond early");
        clock.advance(0.001);
        assert_eq!(late.as_mut().poll(&mut cx), Poll::Ready(()));
    }

    #[tokio::test(start_paused = true)]
    async fn system_sleepers_wait_on_tokio_timers() {
        let clock = SystemClock;
        let started = clock.monotonic();
        clock.sleep_until(clock.now() + 2.0).await;
        let waited = clock.monotonic().saturating_duration_since(started);
        assert!(waited >= std::time::Duration::from_millis(1900), "{waited:?}");
        clock.sleep_until(0.0).await; // the past: at once
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > 1_577_836_800.0);
    }
}
