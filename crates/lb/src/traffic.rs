//! A target group's traffic counters: what CloudWatch's `AWS/ApplicationELB` metrics are computed from.
//!
//! Counters are cumulative since the group was first configured (a group outlives configuration changes), updated
//! with relaxed atomic adds on the request path; a publisher reads [`TrafficCounts`] periodically and takes
//! differences. A request is counted once when a target is chosen for it (a retry on another target is the same
//! request), and its target's answer by status class with the time from sending the request to the response head.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters of one target group.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    requests: AtomicU64,
    by_class: [AtomicU64; 4],
    responses: AtomicU64,
    response_micros: AtomicU64,
    target_errors: AtomicU64,
}

/// A reading of a target group's counters (cumulative since it was first configured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCounts {
    /// Requests routed to a target of the group (`RequestCount`).
    pub requests: u64,
    /// Target responses with status 2xx, 3xx, 4xx and 5xx (`HTTPCode_Target_<n>XX_Count`).
    pub target_2xx: u64,
    /// See `target_2xx`.
    pub target_3xx: u64,
    /// See `target_2xx`.
    pub target_4xx: u64,
    /// See `target_2xx`.
    pub target_5xx: u64,
    /// Target responses timed (every response head received).
    pub responses: u64,
    /// Their summed time from request sent to response head, microseconds (`TargetResponseTime` is the mean).
    pub response_micros: u64,
    /// Requests that got no response head from a target (connection failed or broke, or timed out):
    /// `TargetConnectionErrorCount` plus the timeouts.
    pub target_errors: u64,
}

impl TrafficCounts {
    /// The counts gained since `earlier` (a counter never goes back, so this is never negative).
    pub fn since(&self, earlier: &TrafficCounts) -> TrafficCounts {
        TrafficCounts {
            requests: self.requests.saturating_sub(earlier.requests),
            target_2xx: self.target_2xx.saturating_sub(earlier.target_2xx),
            target_3xx: self.target_3xx.saturating_sub(earlier.target_3xx),
            target_4xx: self.target_4xx.saturating_sub(earlier.target_4xx),
            target_5xx: self.target_5xx.saturating_sub(earlier.target_5xx),
            responses: self.responses.saturating_sub(earlier.responses),
            response_micros: self.response_micros.saturating_sub(earlier.response_micros),
            target_errors: self.target_errors.saturating_sub(earlier.target_errors),
        }
    }
}

impl Traffic {
    /// A request was routed to a target of the group.
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A target answered with `status` after `micros`.
    pub(crate) fn response(&self, status: u16, micros: u64) {
        if let Some(class) = (status / 100).checked_sub(2).filter(|c| *c < 4) {
            self.by_class[usize::from(class)].fetch_add(1, Ordering::Relaxed);
        }
        self.responses.fetch_add(1, Ordering::Relaxed);
        self.response_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// No target answered the request (the load balancer answered 502 or 504 itself).
    pub(crate) fn target_error(&self) {
        self.target_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A reading of the counters.
    pub(crate) fn counts(&self) -> TrafficCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TrafficCounts {
            requests: get(&self.requests),
            target_2xx: get(&self.by_class[0]),
            target_3xx: get(&self.by_class[1]),
            target_4xx: get(&self.by_class[2]),
            target_5xx: get(&self.by_class[3]),
            responses: get(&self.responses),
            response_micros: get(&self.response_micros),
            target_errors: get(&self.target_errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_count_by_status_class_and_differences_are_what_was_gained() {
        let t = Traffic::default();
        for status in [200, 204, 301, 404, 500, 503, 101] {
            t.request();
            t.response(status, 1000);
        }
        t.request();
        t.target_error();
        let first = t.counts();
        assert_eq!(
            (first.requests, first.target_2xx, first.target_3xx, first.target_4xx, first.target_5xx),
            (8, 2, 1, 1, 2),
            "101 is in no class"
        );
        assert_eq!((first.responses, first.response_micros, first.target_errors), (7, 7000, 1));
        t.request();
        t.response(200, 500);
        let gained = t.counts().since(&first);
        assert_eq!((gained.requests, gained.target_2xx, gained.responses, gained.response_micros), (1, 1, 1, 500));
        assert_eq!(gained.target_5xx, 0);
    }
}
