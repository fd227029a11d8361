//! The error policy: capped exponential backoff per key.

/// How long a failing key waits before its next try: `initial * 2^(failures - 1)`, at most `max` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait after the first failure, in seconds.
    pub initial: f64,
    /// The longest wait, in seconds.
    pub max: f64,
}

impl Default for Backoff {
    /// 1 s after the first failure, doubling up to 60 s.
    fn default() -> Self {
        Self { initial: 1.0, max: 60.0 }
    }
}

impl Backoff {
    /// The wait in seconds after `failures` consecutive failures (`failures` >= 1; 0 counts as 1).
    pub fn delay(&self, failures: u32) -> f64 {
        let exponent = failures.saturating_sub(1).min(62) as i32;
        (self.initial * 2f64.powi(exponent)).min(self.max).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_stays_at_the_cap() {
        let b = Backoff { initial: 0.5, max: 4.0 };
        let delays: Vec<f64> = (1..=7).map(|n| b.delay(n)).collect();
        assert_eq!(delays, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]);
        assert_eq!(b.delay(u32::MAX), 4.0, "no overflow at absurd counts");
        assert_eq!(b.delay(0), 0.5);
    }
}
