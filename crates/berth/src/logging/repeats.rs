//! The rate limit of repeated log lines, as a pure state machine: the first line with a given key is written, the
//! same key again within the window is counted and dropped, and the first one after the window is written with the
//! count of those dropped since the last one written ("(repeated K times)").

use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The most keys remembered; past it, keys not written within the window are forgotten (then the oldest).
const MAX_KEYS: usize = 4096;

/// What to do with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it; `repeated` lines with the same key were dropped since the last one written.
    Write {
        /// How many were dropped.
        repeated: u64,
    },
    /// Drop it (counted).
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    written_at: Instant,
    dropped: u64,
}

/// Lines by key: when each was last written and how many were dropped since.
#[derive(Debug)]
pub struct Repeats {
    window: Duration,
    seen: HashMap<String, Seen>,
}

impl Repeats {
    /// A limiter writing each key at most once per `window` (a zero window writes everything).
    pub fn new(window: Duration) -> Self {
        Self { window, seen: HashMap::new() }
    }

    /// The verdict on a line with `key` at `now`.
    pub fn check(&mut self, key: &str, now: Instant) -> Verdict {
        if self.window.is_zero() {
            return Verdict::Write { repeated: 0 };
        }
        if let Some(seen) = self.seen.get_mut(key) {
            if now.saturating_duration_since(seen.written_at) < self.window {
                seen.dropped += 1;
                return Verdict::Drop;
            }
            let repeated = std::mem::take(&mut seen.dropped);
            seen.written_at = now;
            return Verdict::Write { repeated };
        }
        if self.seen.len() >= MAX_KEYS {
            self.forget(now);
        }
        self.seen.insert(key.to_string(), Seen { written_at: now, dropped: 0 });
        Verdict::Write { repeated: 0 }
    }

    /// Forgets the keys whose window has passed (their dropped count is lost), or the oldest half when all are
    /// recent.
    fn forget(&mut self, now: Instant) {
        let window = self.window;
        self.seen.retain(|_, s| now.saturating_duration_since(s.written_at) < window);
        if self.seen.len() >= MAX_KEYS {
            let mut times: Vec<Instant> = self.seen.values().map(|s| s.written_at).collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            self.seen.retain(|_, s| s.written_at > cut);
        }
    }

    /// How many keys are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no key is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::{Clock, SystemClock};

    #[test]
    fn the_first_is_written_then_one_per_window_with_the_count() {
        let start = SystemClock.monotonic();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut repeats = Repeats::new(Duration::from_secs(10));
        assert_eq!(repeats.check("a", at(0)), Verdict::Write { repeated: 0 });
        assert_eq!(repeats.check("a", at(1)), Verdict::Drop);
        assert_eq!(repeats.check("b", at(1)), Verdict::Write { repeated: 0 }, "another key is its own");
        assert_eq!(repeats.check("a", at(9)), Verdict::Drop);
        assert_eq!(repeats.check("a", at(10)), Verdict::Write { repeated: 2 });
        assert_eq!(repeats.check("a", at(25)), Verdict::Write { repeated: 0 }, "nothing dropped since");
        assert_eq!(repeats.check("a", at(26)), Verdict::Drop);
    }

    #[test]
    fn a_zero_window_writes_everything() {
        let now = SystemClock.monotonic();
        let mut repeats = Repeats::new(Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(repeats.check("a", now), Verdict::Write { repeated: 0 });
        }
        assert!(repeats.is_empty());
    }

    #[test]
    fn the_keys_remembered_are_bounded() {
        let start = SystemClock.monotonic();
        let mut repeats = Repeats::new(Duration::from_secs(60));
        for i in 0..(MAX_KEYS as u64 * 3) {
            repeats.check(&format!("k{i}"), start + Duration::from_millis(i));
        }
        assert!(repeats.len() <= MAX_KEYS, "{}", repeats.len());
        let late = start + Duration::from_millis(MAX_KEYS as u64 * 3 - 1);
        assert_eq!(repeats.check(&format!("k{}", MAX_KEYS * 3 - 1), late), Verdict::Drop, "recent keys are kept");
    }
}
