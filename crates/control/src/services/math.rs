//! The arithmetic of ECS rolling deployments and of the deployment circuit breaker, kept pure for testing.
//!
//! ECS bounds a deployment by the desired count D: at least `ceil(D × minimumHealthyPercent / 100)` tasks stay
//! healthy and running, at most `floor(D × maximumPercent / 100)` tasks exist (the minimum rounds up, the maximum
//! rounds down). Berth counts every task that is not STOPPED yet — including tasks still stopping — against the
//! maximum, so the bound holds for containers that really run, not only for desired states.

use berth_model::ecs::{ThresholdConfiguration, ThresholdType};

/// The default `minimumHealthyPercent` and `maximumPercent` of REPLICA services.
pub const REPLICA_DEFAULTS: (i32, i32) = (100, 200);
/// The defaults of DAEMON services.
pub const DAEMON_DEFAULTS: (i32, i32) = (0, 100);

/// The task counts a deployment must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Healthy running tasks that must remain.
    pub min_healthy: usize,
    /// Tasks that may exist at once.
    pub max_total: usize,
}

/// The bounds for `desired` tasks.
pub fn bounds(desired: usize, minimum_healthy_percent: i32, maximum_percent: i32) -> Bounds {
    let min = (desired * minimum_healthy_percent.max(0) as usize).div_ceil(100);
    let max = desired * maximum_percent.max(0) as usize / 100;
    Bounds { min_healthy: min, max_total: max }
}

/// How many new tasks of the primary deployment to start now.
pub fn to_start(desired: usize, primary_good: usize, occupied: usize, bounds: Bounds) -> usize {
    desired.saturating_sub(primary_good).min(bounds.max_total.saturating_sub(occupied))
}

/// How many healthy tasks may be stopped now without going below the minimum.
pub fn stop_budget(healthy: usize, bounds: Bounds) -> usize {
    healthy.saturating_sub(bounds.min_healthy)
}

/// Whether a deployment can make no progress because of its configuration: nothing may start (the maximum is
/// reached) and no healthy old task may stop (the minimum is reached), while old tasks remain.
pub fn stalled(
    desired: usize,
    primary_good: usize,
    occupied: usize,
    healthy: usize,
    retiring: usize,
    bounds: Bounds,
) -> bool {
    retiring > 0
        && to_start(desired, primary_good, occupied, bounds) == 0
        && primary_good < desired
        && stop_budget(healthy, bounds) == 0
}

/// The circuit breaker's failure threshold for `desired` tasks: by default half the desired count, at least 3 and
/// at most 200 (`BOUNDED_PERCENT` 50); `UNBOUNDED_PERCENT` drops the bounds (keeping at least 1); `COUNT` is the
/// value itself.
pub fn failure_threshold(desired: usize, config: Option<&ThresholdConfiguration>) -> usize {
    let (kind, value) = match config {
        Some(c) => (c.r#type, usize::try_from(c.value).unwrap_or(0)),
        None => (ThresholdType::BoundedPercent, 50),
    };
    let percent = (desired * value).div_ceil(100);
    match kind {
        ThresholdType::BoundedPercent => percent.clamp(3, 200),
        ThresholdType::UnboundedPercent => percent.max(1),
        ThresholdType::Count => value.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_rounds_up_and_maximum_rounds_down() {
        assert_eq!(bounds(3, 50, 150), Bounds { min_healthy: 2, max_total: 4 });
        assert_eq!(bounds(1, 100, 200), Bounds { min_healthy: 1, max_total: 2 });
        assert_eq!(bounds(4, 0, 100), Bounds { min_healthy: 0, max_total: 4 });
        assert_eq!(bounds(0, 100, 200), Bounds { min_healthy: 0, max_total: 0 });
        assert_eq!(bounds(7, 75, 125), Bounds { min_healthy: 6, max_total: 8 });
    }

    #[test]
    fn desired_one_with_100_200_starts_before_stopping() {
        let b = bounds(1, 100, 200);
        // Old task healthy, no new one yet: start one, stop none.
        assert_eq!(to_start(1, 0, 1, b), 1);
        assert_eq!(stop_budget(1, b), 0);
        // New one healthy too: nothing to start, one may stop.
        assert_eq!(to_start(1, 1, 2, b), 0);
        assert_eq!(stop_budget(2, b), 1);
    }

    #[test]
    fn minimum_zero_stops_first() {
        let b = bounds(1, 0, 100);
        assert_eq!(to_start(1, 0, 1, b), 0, "the maximum is reached");
        assert_eq!(stop_budget(1, b), 1);
        assert_eq!(to_start(1, 0, 0, b), 1, "after the old task is gone");
    }

    #[test]
    fn hundred_hundred_stalls() {
        let b = bounds(2, 100, 100);
        assert!(stalled(2, 0, 2, 2, 2, b));
        assert!(!stalled(2, 2, 2, 2, 0, b));
        assert!(!stalled(2, 0, 2, 2, 2, bounds(2, 50, 100)));
    }

    #[test]
    fn scale_up_is_bounded_by_the_maximum() {
        assert_eq!(to_start(10, 0, 0, bounds(10, 100, 200)), 10);
        assert_eq!(to_start(10, 4, 15, bounds(10, 100, 200)), 5);
        assert_eq!(to_start(10, 10, 20, bounds(10, 100, 200)), 0);
    }

    #[test]
    fn circuit_breaker_threshold() {
        assert_eq!(failure_threshold(1, None), 3);
        assert_eq!(failure_threshold(10, None), 5);
        assert_eq!(failure_threshold(11, None), 6);
        assert_eq!(failure_threshold(1000, None), 200);
        let count = ThresholdConfiguration { r#type: ThresholdType::Count, value: 2 };
        assert_eq!(failure_threshold(100, Some(&count)), 2);
        let unbounded = ThresholdConfiguration { r#type: ThresholdType::UnboundedPercent, value: 10 };
        assert_eq!(failure_threshold(1000, Some(&unbounded)), 100);
        assert_eq!(failure_threshold(1, Some(&unbounded)), 1);
    }
}
