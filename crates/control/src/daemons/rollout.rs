//! The daemon scheduler's decisions as pure functions: which instances get a daemon task, which daemon tasks a
//! deployment replaces next (in batches of `drainPercent`), when a deployment is done, and the circuit breaker's
//! threshold. `controller.rs` gathers the facts from the cache and carries the plan out.

/// ECS's default `drainPercent`.
pub const DEFAULT_DRAIN_PERCENT: f64 = 25.0;

/// How long after a daemon task failed its instance waits before the next one starts, in seconds (so a daemon
/// that exits at once does not start again in a tight loop).
pub const RESTART_DELAY_SECONDS: f64 = 5.0;

/// How many instances a deployment replaces at once: `drainPercent` of them, rounded up, at least one.
pub fn batch_size(instances: usize, drain_percent: f64) -> usize {
    if instances == 0 {
        return 0;
    }
    let percent = if drain_percent.is_finite() { drain_percent.clamp(0.0, 100.0) } else { DEFAULT_DRAIN_PERCENT };
    let size = (instances as f64 * percent / 100.0).ceil() as usize;
    size.clamp(1, instances)
}

/// How many failed daemon tasks trip a deployment's circuit breaker: half the instances, rounded up, between 3
/// and 200 (the rule of services' default threshold).
pub fn breaker_threshold(instances: usize) -> i32 {
    let half = instances.div_ceil(2);
    half.clamp(3, 200) as i32
}

/// The daemon task on one instance, as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonTaskView {
    /// The task's key in the cache.
    pub key: (String, String),
    /// The daemon revision it runs.
    pub revision: String,
    /// It is RUNNING (and desired RUNNING).
    pub running: bool,
    /// It was asked to stop and has not stopped yet.
    pub stopping: bool,
}

/// One instance of the daemon's capacity providers.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    /// The instance's id.
    pub id: String,
    /// The daemon's task on it that has not stopped, if any.
    pub task: Option<DaemonTaskView>,
    /// A new daemon task may start now (its last one did not fail within [`RESTART_DELAY_SECONDS`], and it fits).
    pub may_start: bool,
}

/// What the daemon scheduler does in one pass for one daemon.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Instances that get a new daemon task (of the deployment's revision).
    pub start: Vec<String>,
    /// Daemon tasks to stop because a deployment replaces them.
    pub replace: Vec<(String, String)>,
    /// No replacement is under way and every instance that can take a daemon task has one RUNNING: the current
    /// step of the deployment is done (its bake time may start).
    pub step_done: bool,
    /// The step is done and every instance runs the revision: the deployment is done.
    pub settled: bool,
}

/// Decides one pass: every instance without a daemon task gets one of `revision`; while `rolling`, outdated tasks
/// are stopped in batches of `batch` instances (a batch counts instances whose task is stopping or not yet running),
/// and none while `hold` (the bake time of the last step runs).
pub fn plan(instances: &[InstanceView], revision: &str, rolling: bool, batch: usize, hold: bool) -> Plan {
    let mut out = Plan::default();
    let mut in_flight = 0;
    let mut outdated = Vec::new();
    for instance in instances {
        match &instance.task {
            None => {
                if instance.may_start {
                    out.start.push(instance.id.clone());
                }
            }
            Some(task) if task.stopping || !task.running => in_flight += 1,
            Some(task) if task.revision != revision => outdated.push(task.key.clone()),
            Some(_) => {}
        }
    }
    let waiting_for_room = instances.iter().any(|i| i.task.is_none() && i.may_start);
    if rolling && !hold {
        let room = batch.saturating_sub(in_flight + out.start.len());
        out.replace = outdated.iter().take(room).cloned().collect();
    }
    out.step_done = in_flight == 0 && !waiting_for_room;
    out.settled = out.step_done && outdated.is_empty();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, task: Option<(&str, bool, bool)>) -> InstanceView {
        InstanceView {
            id: id.into(),
            task: task.map(|(revision, running, stopping)| DaemonTaskView {
                key: ("c".into(), format!("t-{id}")),
                revision: revision.into(),
                running,
                stopping,
            }),
            may_start: true,
        }
    }

    #[test]
    fn batches_are_drain_percent_rounded_up_and_at_least_one() {
        assert_eq!(batch_size(4, 25.0), 1);
        assert_eq!(batch_size(5, 25.0), 2);
        assert_eq!(batch_size(3, 0.0), 1);
        assert_eq!(batch_size(3, 100.0), 3);
        assert_eq!(batch_size(10, 33.3), 4);
        assert_eq!(batch_size(0, 50.0), 0);
        assert_eq!(batch_size(2, f64::NAN), 1);
    }

    #[test]
    fn the_threshold_is_half_the_instances_between_3_and_200() {
        assert_eq!(breaker_threshold(1), 3);
        assert_eq!(breaker_threshold(9), 5);
        assert_eq!(breaker_threshold(1000), 200);
    }

    #[test]
    fn instances_without_a_daemon_task_get_one() {
        let instances = [instance("a", None), instance("b", Some(("r1", true, false)))];
        let plan = plan(&instances, "r1", false, 1, false);
        assert_eq!(plan.start, ["a"]);
        assert!(plan.replace.is_empty());
        assert!(!plan.settled);
        let mut blocked = instance("a", None);
        blocked.may_start = false;
        let plan = super::plan(&[blocked], "r1", false, 1, false);
        assert!(plan.start.is_empty() && plan.settled, "an instance without room does not hold the rollout");
    }

    #[test]
    fn a_deployment_replaces_one_batch_at_a_time() {
        let instances = [
            instance("a", Some(("r1", true, false))),
            instance("b", Some(("r1", true, false))),
            instance("c", Some(("r1", true, false))),
        ];
        let first = plan(&instances, "r2", true, 2, false);
        assert_eq!(first.replace.len(), 2);
        // One replaced task still stopping, one new one not running yet: the batch is full.
        let busy = [
            instance("a", Some(("r1", false, true))),
            instance("b", Some(("r2", false, false))),
            instance("c", Some(("r1", true, false))),
        ];
        assert!(plan(&busy, "r2", true, 2, false).replace.is_empty());
        let half = [
            instance("a", Some(("r2", true, false))),
            instance("b", Some(("r2", true, false))),
            instance("c", Some(("r1", true, false))),
        ];
        assert_eq!(plan(&half, "r2", true, 2, false).replace, [("c".to_string(), "t-c".to_string())]);
        let between = plan(&half, "r2", true, 2, true);
        assert!(between.step_done && !between.settled, "a step is done before the deployment is");
        assert!(!plan(&busy, "r2", true, 2, false).step_done);
        assert!(plan(&half, "r2", true, 2, true).replace.is_empty(), "nothing is replaced while baking");
        let done = [instance("a", Some(("r2", true, false))), instance("b", Some(("r2", true, false)))];
        assert!(plan(&done, "r2", true, 2, false).settled);
    }
}
