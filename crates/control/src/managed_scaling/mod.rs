//! Managed scaling's arithmetic, as pure functions: the CapacityProviderReservation metric (M/N×100), the instances
//! a capacity provider's tasks need (M), and how many instances one scale-out adds or one scale-in removes under a
//! provider's `targetCapacity` and step sizes.
//!
//! `reservation` computes the metric from the cache and `controller` publishes it (docs/COMPATIBILITY.md §30.4);
//! `scaler` decides, and `node_groups` asks the node provider the server configured for a provider's node group
//! (`nodes`) to add or remove hosts.

pub mod controller;
pub mod node_groups;
pub mod nodes;
pub mod replacement;
pub mod reservation;
pub mod scaler;
pub mod waiting;

use crate::records::ManagedScalingRecord;

/// CapacityProviderReservation, percent: `needed / running × 100`; 100 when both are 0, and 200 when instances are
/// needed but none runs (target tracking treats 0 as 1; AWS-NOTES §13).
pub fn reservation(needed: u64, running: u64) -> f64 {
    match (needed, running) {
        (0, 0) => 100.0,
        (_, 0) => 200.0,
        (m, n) => m as f64 * 100.0 / n as f64,
    }
}

/// What one task asks of an instance: CPU units and MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// CPU units.
    pub cpu: i64,
    /// Memory, MiB.
    pub memory: i64,
}

/// M: the instances a provider's tasks need. `busy` instances run at least one of its non-stopped tasks and are
/// needed as they are; `waiting` tasks (PROVISIONING, placed nowhere) are packed first-fit, largest first, onto
/// fresh instances of `instance` size. A task larger than an instance still needs one (it can never fit: the
/// count does not pretend otherwise).
pub fn instances_needed(busy: u64, waiting: &[Size], instance: Size) -> u64 {
    let mut sorted = waiting.to_vec();
    sorted.sort_by_key(|t| std::cmp::Reverse((t.cpu, t.memory)));
    let mut bins: Vec<Size> = Vec::new();
    for task in sorted {
        match bins.iter_mut().find(|free| free.cpu >= task.cpu && free.memory >= task.memory) {
            Some(free) => {
                free.cpu -= task.cpu;
                free.memory -= task.memory;
            }
            None => bins
                .push(Size { cpu: (instance.cpu - task.cpu).max(0), memory: (instance.memory - task.memory).max(0) }),
        }
    }
    busy + bins.len() as u64
}

/// The instances the provider should have for `needed` at `targetCapacity`: `ceil(needed × 100 / target)`.
fn desired(needed: u64, settings: &ManagedScalingRecord) -> u64 {
    let target = u64::try_from(settings.target_capacity.clamp(1, 100)).unwrap_or(100);
    (needed * 100).div_ceil(target)
}

/// How many instances one scale-out adds (0 when the reservation is at or under the target): the shortfall,
/// raised to `minimumScalingStepSize` and capped at `maximumScalingStepSize`.
pub fn scale_out(needed: u64, running: u64, settings: &ManagedScalingRecord) -> u64 {
    let want = desired(needed, settings);
    if want <= running {
        return 0;
    }
    let min = u64::try_from(settings.minimum_scaling_step_size.max(1)).unwrap_or(1);
    let max = u64::try_from(settings.maximum_scaling_step_size.max(1)).unwrap_or(1).max(min);
    (want - running).clamp(min, max)
}

/// How many instances one scale-in may remove (0 when the reservation is at or over the target): the surplus over
/// what the target needs, at most the `idle` ones (instances without non-daemon tasks; managed termination
/// protection never removes others).
pub fn scale_in(needed: u64, running: u64, idle: u64, settings: &ManagedScalingRecord) -> u64 {
    let want = desired(needed, settings);
    running.saturating_sub(want).min(idle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(target: i32, min: i32, max: i32) -> ManagedScalingRecord {
        ManagedScalingRecord {
            enabled: true,
            target_capacity: target,
            minimum_scaling_step_size: min,
            maximum_scaling_step_size: max,
            ..Default::default()
        }
    }

    #[test]
    fn the_reservation_follows_ecs_rules() {
        assert_eq!(reservation(0, 0), 100.0);
        assert_eq!(reservation(3, 0), 200.0);
        assert_eq!(reservation(0, 4), 0.0);
        assert_eq!(reservation(3, 4), 75.0);
        assert_eq!(reservation(5, 4), 125.0);
    }

    #[test]
    fn waiting_tasks_are_packed_onto_fresh_instances() {
        let instance = Size { cpu: 1024, memory: 1024 };
        let half = Size { cpu: 512, memory: 256 };
        assert_eq!(instances_needed(0, &[], instance), 0);
        assert_eq!(instances_needed(2, &[], instance), 2);
        assert_eq!(instances_needed(0, &[half; 5], instance), 3);
        let big = Size { cpu: 2048, memory: 64 };
        assert_eq!(instances_needed(1, &[big, half], instance), 3, "a task no instance holds still counts one");
    }

    #[test]
    fn steps_are_bounded_and_scale_in_spares_busy_instances() {
        let s = settings(100, 1, 10_000);
        assert_eq!(scale_out(3, 0, &s), 3);
        assert_eq!(scale_out(3, 3, &s), 0);
        assert_eq!(scale_out(1, 0, &settings(100, 2, 10)), 2, "the minimum step");
        assert_eq!(scale_out(50, 0, &settings(100, 1, 10)), 10, "the maximum step");
        // targetCapacity 80: 4 needed want 5 instances.
        assert_eq!(scale_out(4, 4, &settings(80, 1, 100)), 1);
        assert_eq!(scale_in(2, 5, 3, &s), 3);
        assert_eq!(scale_in(2, 5, 1, &s), 1, "only idle instances go");
        assert_eq!(scale_in(4, 5, 5, &settings(80, 1, 100)), 0);
    }
}
