//! The scaling decisions, pure: step adjustments (AWS's rounding and bounds) and target tracking's proportional
//! scale-out and conservative scale-in. The controller ([`crate::controller`]) reads the inputs and applies the
//! result.

use berth_model::autoscaling::{AdjustmentType, StepAdjustment};

/// Which side of its threshold an alarm breaches: it decides which bound of a step is inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `GreaterThan...` alarms: a step's lower bound is inclusive, its upper bound exclusive.
    Above,
    /// `LessThan...` alarms: a step's lower bound is exclusive, its upper bound inclusive.
    Below,
}

/// The step whose interval holds `breach` (the metric minus the alarm's threshold).
pub fn pick_step(steps: &[StepAdjustment], breach: f64, side: Side) -> Option<&StepAdjustment> {
    steps.iter().find(|s| {
        let lo = s.metric_interval_lower_bound.unwrap_or(f64::NEG_INFINITY);
        let hi = s.metric_interval_upper_bound.unwrap_or(f64::INFINITY);
        match side {
            Side::Above => lo <= breach && breach < hi,
            Side::Below => lo < breach && breach <= hi,
        }
    })
}

/// The capacity a step asks for from `current`, before min/max: ChangeInCapacity adds, ExactCapacity sets,
/// PercentChangeInCapacity adds a percentage rounded as AWS rounds it (above 1 down, between 0 and 1 to 1,
/// between -1 and 0 to -1, below -1 up), at least `min_magnitude` tasks for a percentage.
pub fn step_capacity(current: i32, kind: AdjustmentType, adjustment: i32, min_magnitude: Option<i32>) -> i32 {
    match kind {
        AdjustmentType::ChangeInCapacity => current.saturating_add(adjustment),
        AdjustmentType::ExactCapacity => adjustment,
        AdjustmentType::PercentChangeInCapacity => {
            let raw = f64::from(current) * f64::from(adjustment) / 100.0;
            let mut change = if raw > 1.0 {
                raw.floor()
            } else if raw > 0.0 {
                1.0
            } else if raw < -1.0 {
                raw.ceil()
            } else if raw < 0.0 {
                -1.0
            } else {
                0.0
            } as i32;
            if let Some(m) = min_magnitude.filter(|m| *m > 0)
                && change != 0
                && change.abs() < m
            {
                change = m * change.signum();
            }
            current.saturating_add(change)
        }
    }
}

/// Target tracking's scale-out: the capacity that brings `metric` to `target` if the load spreads evenly,
/// `ceil(base × metric / target)` (an empty service counts as one task). Outside a scale-out cooldown `base` is
/// the current capacity and at least one task is added; during one, `base` is the capacity before the cooldown
/// began, so what the last scale-out added counts toward this one (the result may then be `current`: nothing to do).
pub fn scale_out(current: i32, base: i32, metric: f64, target: f64, in_cooldown: bool) -> i32 {
    let want = (f64::from(base.max(1)) * metric / target).ceil();
    let want = if want.is_finite() { want.min(f64::from(i32::MAX)) as i32 } else { current };
    if in_cooldown { want.max(current) } else { want.max(current + 1) }
}

/// Target tracking's scale-in, conservative: toward `ceil(current × metric / target)` (rounded up, so capacity
/// stays at or above what the target needs), removing at most half the gap and at least one task.
pub fn scale_in(current: i32, metric: f64, target: f64) -> i32 {
    let want = (f64::from(current) * metric / target).ceil();
    let want = if want.is_finite() { want.max(0.0) as i32 } else { current };
    if want >= current {
        return current;
    }
    let gap = current - want;
    current - (gap / 2).max(1)
}

/// Keeps a capacity within the scalable target's bounds.
pub fn clamp(capacity: i32, min: i32, max: i32) -> i32 {
    capacity.max(min).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(lo: Option<f64>, hi: Option<f64>, adj: i32) -> StepAdjustment {
        StepAdjustment { metric_interval_lower_bound: lo, metric_interval_upper_bound: hi, scaling_adjustment: adj }
    }

    #[test]
    fn steps_are_chosen_by_bounds_relative_to_the_threshold() {
        let up = [step(Some(0.0), Some(10.0), 1), step(Some(10.0), Some(20.0), 2), step(Some(20.0), None, 3)];
        assert_eq!(pick_step(&up, 0.0, Side::Above).unwrap().scaling_adjustment, 1);
        assert_eq!(pick_step(&up, 9.99, Side::Above).unwrap().scaling_adjustment, 1);
        assert_eq!(pick_step(&up, 10.0, Side::Above).unwrap().scaling_adjustment, 2);
        assert_eq!(pick_step(&up, 500.0, Side::Above).unwrap().scaling_adjustment, 3);
        assert!(pick_step(&up, -1.0, Side::Above).is_none());
        let down = [step(None, Some(-10.0), -2), step(Some(-10.0), Some(0.0), -1)];
        assert_eq!(pick_step(&down, -10.0, Side::Below).unwrap().scaling_adjustment, -2);
        assert_eq!(pick_step(&down, -9.0, Side::Below).unwrap().scaling_adjustment, -1);
        assert_eq!(pick_step(&down, 0.0, Side::Below).unwrap().scaling_adjustment, -1);
    }

    #[test]
    fn adjustments_round_as_aws_does() {
        assert_eq!(step_capacity(4, AdjustmentType::ChangeInCapacity, 2, None), 6);
        assert_eq!(step_capacity(4, AdjustmentType::ChangeInCapacity, -3, None), 1);
        assert_eq!(step_capacity(4, AdjustmentType::ExactCapacity, 7, None), 7);
        // 25% of 10 = 2.5 → 2; of 2 = 0.5 → 1; -25% of 2 = -0.5 → -1; -25% of 10 = -2.5 → -2.
        assert_eq!(step_capacity(10, AdjustmentType::PercentChangeInCapacity, 25, None), 12);
        assert_eq!(step_capacity(2, AdjustmentType::PercentChangeInCapacity, 25, None), 3);
        assert_eq!(step_capacity(2, AdjustmentType::PercentChangeInCapacity, -25, None), 1);
        assert_eq!(step_capacity(10, AdjustmentType::PercentChangeInCapacity, -25, None), 8);
        // MinAdjustmentMagnitude raises a small percentage change.
        assert_eq!(step_capacity(10, AdjustmentType::PercentChangeInCapacity, 10, Some(3)), 13);
        assert_eq!(step_capacity(10, AdjustmentType::PercentChangeInCapacity, -10, Some(3)), 7);
    }

    #[test]
    fn target_tracking_scales_out_in_proportion_and_in_by_smaller_steps() {
        assert_eq!(scale_out(1, 1, 150.0, 50.0, false), 3);
        assert_eq!(scale_out(0, 0, 120.0, 50.0, false), 3);
        // Just above target: still one more task.
        assert_eq!(scale_out(4, 4, 51.0, 50.0, false), 5);
        // During a scale-out cooldown the base is the capacity before it: a repeat of the same load adds nothing,
        // a higher load adds only what the first scale-out did not.
        assert_eq!(scale_out(3, 1, 150.0, 50.0, true), 3);
        assert_eq!(scale_out(3, 1, 250.0, 50.0, true), 5);
        assert_eq!(scale_in(10, 10.0, 50.0), 6);
        assert_eq!(scale_in(3, 10.0, 50.0), 2);
        assert_eq!(scale_in(2, 10.0, 50.0), 1);
        assert_eq!(scale_in(2, 45.0, 50.0), 2);
        assert_eq!(clamp(12, 1, 10), 10);
        assert_eq!(clamp(0, 1, 10), 1);
    }
}
