//! A server's clock shifted by a fixed offset (the hidden `--clock-offset SECONDS` test knob): the fault tests run
//! one server of several with a skewed wall clock, as a host whose NTP is off would have.
//!
//! Only wall time moves: [`Clock::now`] is the inner clock's plus the offset, and [`Clock::sleep_until`] waits
//! until that shifted time is reached. [`Clock::monotonic`] is the inner clock's untouched (durations, timeouts and
//! latencies never follow a wall-clock offset, as they do not follow a wall-clock jump).

use berth_model::Timestamp;
use berth_model::clock::{Clock, Sleep};
use std::sync::Arc;

/// A clock whose wall time is `inner`'s plus `offset` seconds.
pub struct OffsetClock {
    inner: Arc<dyn Clock>,
    offset: f64,
}

impl OffsetClock {
    /// `inner` shifted by `offset` seconds (negative: behind).
    pub fn new(inner: Arc<dyn Clock>, offset: f64) -> Self {
        Self { inner, offset }
    }
}

/// The server's clock: `inner` itself when `offset` is zero (or not a finite number of seconds: the flag's parser
/// refuses those), else `inner` shifted by it.
pub fn with_offset(inner: Arc<dyn Clock>, offset: f64) -> Arc<dyn Clock> {
    if offset == 0.0 || !offset.is_finite() { inner } else { Arc::new(OffsetClock::new(inner, offset)) }
}

/// Parses `--clock-offset`: a finite number of seconds, at most a day either way.
pub fn parse_offset(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !seconds.is_finite() || seconds.abs() > 86_400.0 {
        return Err(format!("{text:?}: the offset must be within a day (86400 seconds) either way"));
    }
    Ok(seconds)
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        self.inner.now() + self.offset
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        // The inner clock reaches `at - offset` when this one reaches `at`.
        self.inner.sleep_until(at - self.offset)
    }

    fn monotonic(&self) -> tokio::time::Instant {
        self.inner.monotonic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::ManualClock;

    #[test]
    fn wall_time_moves_and_monotonic_time_does_not() {
        let manual = Arc::new(ManualClock::new(1_000.0));
        let skewed = OffsetClock::new(manual.clone(), 30.0);
        assert_eq!(skewed.now(), 1_030.0);
        assert_eq!(skewed.monotonic(), manual.monotonic());
        manual.advance(2.5);
        assert_eq!(skewed.now(), 1_032.5);
        assert_eq!(skewed.monotonic(), manual.monotonic());
        let behind = OffsetClock::new(manual.clone(), -10.0);
        assert_eq!(behind.now(), 992.5);
    }

    #[tokio::test]
    async fn sleep_until_waits_for_the_shifted_time() {
        let manual = Arc::new(ManualClock::new(1_000.0));
        let skewed = OffsetClock::new(manual.clone(), 30.0);
        // 1_031 on the skewed clock is 1_001 on the inner one.
        let mut sleep = skewed.sleep_until(1_031.0);
        assert!(futures::poll!(&mut sleep).is_pending());
        manual.advance(0.5);
        assert!(futures::poll!(&mut sleep).is_pending());
        manual.advance(0.5);
        assert!(futures::poll!(&mut sleep).is_ready());
        // A moment the skewed clock has passed is due at once.
        assert!(futures::poll!(skewed.sleep_until(1_020.0)).is_ready());
    }

    #[test]
    fn zero_offset_is_the_inner_clock() {
        let manual: Arc<dyn Clock> = Arc::new(ManualClock::new(5.0));
        assert!(Arc::ptr_eq(&with_offset(manual.clone(), 0.0), &manual));
        assert_eq!(with_offset(manual.clone(), -3.0).now(), 2.0);
    }

    #[test]
    fn the_flag_takes_seconds_within_a_day() {
        assert_eq!(parse_offset("30"), Ok(30.0));
        assert_eq!(parse_offset("-2.5"), Ok(-2.5));
        assert!(parse_offset("abc").is_err());
        assert!(parse_offset("NaN").is_err());
        assert!(parse_offset("100000").is_err());
    }
}
