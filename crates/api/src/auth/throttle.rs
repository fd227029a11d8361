//! Per-principal request rate limits: one token bucket per access key, refilled from the control plane's clock.
//!
//! A request is counted only once its signature has been verified, so nobody can spend another principal's
//! budget by sending requests that merely name its access key. Requests over the limit are answered as AWS does,
//! 400 `ThrottlingException` "Rate exceeded"; the SDKs and the CLI back off and retry those by themselves. Agents
//! (bearer-token endpoints) are not counted here.

use berth_model::clock::Clock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many requests per second each access key may make, and how many it may make at once after being idle.
///
/// The defaults, 200 requests per second with a burst of 400, are far above what the CLI, Terraform or a
/// deployment pipeline sends (AWS's own ECS limits are 20-100 per second per operation family), so they only stop
/// a runaway or hostile client from monopolising the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second; `0` (or less) turns the limit off.
    pub per_second: f64,
    /// The bucket's size: the most requests admitted at once after a quiet period (at least 1).
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { per_second: 200.0, burst: 400 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: f64,
}

/// The token buckets of every principal that has made a request.
pub struct RateLimiter {
    limit: RateLimit,
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Buckets with this limit, refilled by this clock.
    pub fn new(limit: RateLimit, clock: Arc<dyn Clock>) -> Self {
        Self { limit, clock, buckets: Mutex::new(HashMap::new()) }
    }

    /// The limit in force.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one token from the access key's bucket: `true` if the request may go ahead, `false` if it is over
    /// the limit. Only authenticated access keys reach this, so there is one bucket per known principal.
    pub fn admit(&self, access_key_id: &str) -> bool {
        if self.limit.per_second <= 0.0 {
            return true;
        }
        let burst = f64::from(self.limit.burst.max(1));
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(access_key_id.to_string()).or_insert(Bucket { tokens: burst, updated: now });
        let elapsed = (now - bucket.updated).max(0.0);
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(burst);
        bucket.updated = now;
        // A hair of tolerance: the clock counts in milliseconds and floats do not add up exactly.
        if bucket.tokens >= 1.0 - 1e-9 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::ManualClock;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let clock = Arc::new(ManualClock::new(1_000.0));
        let limiter = RateLimiter::new(RateLimit { per_second: 10.0, burst: 5 }, clock.clone());
        assert_eq!((0..8).filter(|_| limiter.admit("AKIA1")).count(), 5, "the burst, then nothing");
        // Another principal has its own bucket.
        assert!(limiter.admit("AKIA2"));
        clock.advance(0.1);
        assert!(limiter.admit("AKIA1"), "one token after 100 ms at 10/s");
        assert!(!limiter.admit("AKIA1"));
        // A long quiet period refills to the burst, not beyond.
        clock.advance(3600.0);
        assert_eq!((0..20).filter(|_| limiter.admit("AKIA1")).count(), 5);
        // Steady state: one second admits the rate.
        clock.advance(1.0);
        assert_eq!((0..20).filter(|_| limiter.admit("AKIA1")).count(), 5, "capped by the burst");
        for _ in 0..10 {
            clock.advance(0.1);
            assert!(limiter.admit("AKIA1"));
            assert!(!limiter.admit("AKIA1"));
        }
    }

    #[test]
    fn a_zero_rate_means_no_limit_and_a_zero_burst_admits_one() {
        let clock = Arc::new(ManualClock::new(1_000.0));
        let off = RateLimiter::new(RateLimit { per_second: 0.0, burst: 1 }, clock.clone());
        assert!((0..1000).all(|_| off.admit("AKIA1")));
        let limiter = RateLimiter::new(RateLimit { per_second: 1.0, burst: 0 }, clock);
        assert!(limiter.admit("AKIA1"), "a burst of 0 still admits one request");
        assert!(!limiter.admit("AKIA1"));
    }
}
