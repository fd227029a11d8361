//! One pass of the service scheduler over a service with the EXTERNAL deployment controller, as a pure function
//! ([`plan`]) of the service record, its tasks (read from one cache state) and the [`Env`]:
//!
//! 1. Start failures of its tasks feed the start-failure throttle (`services::throttle`), as for ECS services.
//! 2. RUNNING tasks that turned UNHEALTHY after the grace period are stopped (and so replaced).
//! 3. Tasks of no live task set (a DRAINING one, one deleted, or all of them once the service is deleted) and
//!    tasks on instances that leave are stopped.
//! 4. Each task set is brought to its `computedDesiredCount`: extra tasks stop (least useful first, never
//!    protected ones), missing ones start (primary task set first, within the throttle).
//! 5. Each task set's `stabilityStatus`: STEADY_STATE when it runs exactly its computed count, all healthy, and
//!    nothing is pending, stopping or starting for it; DRAINING task sets without tasks are removed; the service is
//!    steady when every task set is.
//!
//! Scaling between task sets is the external controller's: there is no `minimumHealthyPercent` ordering across task
//! sets (ECS leaves it to the controller too, which changes scales and the primary task set in its own order).

use crate::cache::{State, Versioned};
use crate::records::{ServiceRecord, Stability, TaskRecord, TaskSetStatus};
use crate::services::env::Env;
use crate::services::failures::failure_event;
use crate::services::machine::{HEALTH_CHECK_FAILURE, TaskStop, is_healthy_running, should_repeat};
use crate::services::{service_group, throttle};
use crate::status::{DesiredStatus, HealthState, InstanceStatus, ServiceStatus, TaskStatus};
use crate::task_protection::protected_now;

/// What one pass decided for an EXTERNAL service.
#[derive(Debug, Default)]
pub struct TaskSetPlan {
    /// Tasks to stop, with their reasons.
    pub stops: Vec<TaskStop>,
    /// Task set id → how many tasks to start for it (primary first).
    pub starts: Vec<(String, usize)>,
    /// The service record as it should be after this pass.
    pub record: ServiceRecord,
    /// Whether `record` differs from the stored one.
    pub changed: bool,
    /// The stored record's revision.
    pub revision: i64,
    /// The service is DRAINING and has no tasks left: make it INACTIVE.
    pub inactive: bool,
}

/// The stop reason of a task a task set no longer wants.
pub fn scaling_reason(task_set_id: &str) -> String {
    format!("Scaling activity initiated by (deployment {task_set_id})")
}

fn key(t: &Versioned<TaskRecord>) -> (String, String) {
    (t.record.cluster.clone(), t.record.id().to_string())
}

fn leaving(state: &State, task: &TaskRecord) -> bool {
    !crate::managed_scaling::reservation::is_waiting(task)
        && state.instances.get(&task.instance_key()).is_none_or(|i| i.record.status() != Some(InstanceStatus::Active))
}

/// Decides one pass over one EXTERNAL service (see the module doc). It writes nothing.
pub fn plan(env: &Env, state: &State, v: &Versioned<ServiceRecord>) -> TaskSetPlan {
    let mut record = (*v.record).clone();
    let mut plan = TaskSetPlan { revision: v.mod_revision, ..TaskSetPlan::default() };
    let now = env.now;
    let draining_service = record.status() == Some(ServiceStatus::Draining);
    let desired = if draining_service { 0 } else { record.desired_count.max(0) };
    let grace = f64::from(record.health_check_grace_period_seconds.unwrap_or(0));
    let tasks: Vec<&Versioned<TaskRecord>> =
        state.tasks_in_group(&record.cluster, &service_group(&record.name)).collect();

    // 1. The start-failure throttle: start failures since the last one counted; a task that ran since resets it.
    let last = record.start_throttle.last_failure_at;
    let failed = tasks
        .iter()
        .filter(|t| throttle::failed_to_start(&t.record) && t.record.stopping_at.is_some_and(|s| s > last))
        .count() as u32;
    let ran = tasks
        .iter()
        .any(|t| t.record.last_status() == Some(TaskStatus::Running) && t.record.started_at.is_some_and(|s| s > last));
    if ran && failed == 0 && record.start_throttle.engaged() {
        record.start_throttle = Default::default();
        plan.changed = true;
    }
    if failed > 0 {
        record.start_throttle.record_failures(failed, now);
        let latest = tasks.iter().filter(|t| throttle::failed_to_start(&t.record)).max_by(|a, b| {
            a.record.stopping_at.partial_cmp(&b.record.stopping_at).unwrap_or(std::cmp::Ordering::Equal)
        });
        if let Some(latest) = latest {
            let message = failure_event(&latest.record);
            if should_repeat(env, &record, &message) {
                env.push_event(&mut record, message);
            }
        }
        if record.start_throttle.impaired() && should_repeat(env, &record, throttle::IMPAIRED_EVENT) {
            env.push_event(&mut record, throttle::IMPAIRED_EVENT.to_string());
        }
        plan.changed = true;
    }

    // 2 and 3: sort the tasks that should run into their task sets, stopping the ones nothing wants.
    let mut occupied = 0usize;
    let mut stopping_by_set: Vec<usize> = vec![0; record.task_sets.len()];
    let mut good: Vec<Vec<&Versioned<TaskRecord>>> = vec![Vec::new(); record.task_sets.len()];
    for t in &tasks {
        let task = &t.record;
        if task.last_status() == Some(TaskStatus::Stopped) {
            continue;
        }
        occupied += 1;
        let set = record.task_sets.iter().position(|s| Some(s.id.as_str()) == task.started_by.as_deref());
        if task.desired_status() != Some(DesiredStatus::Running) {
            if let Some(i) = set {
                stopping_by_set[i] += 1;
            }
            continue;
        }
        let unhealthy = task.last_status() == Some(TaskStatus::Running)
            && task.health_status == HealthState::Unhealthy
            && task.started_at.is_none_or(|s| now >= s + grace);
        if unhealthy {
            plan.stops.push(TaskStop { key: key(t), revision: t.mod_revision, reason: HEALTH_CHECK_FAILURE.into() });
            continue;
        }
        let live = set.filter(|i| !draining_service && record.task_sets[*i].status != TaskSetStatus::Draining);
        match live {
            Some(i) if !leaving(state, task) => good[i].push(t),
            _ => {
                let by = task.started_by.clone().unwrap_or_default();
                plan.stops.push(TaskStop { key: key(t), revision: t.mod_revision, reason: scaling_reason(&by) });
            }
        }
    }

    // 4. Each live task set to its computed desired count.
    let mut order: Vec<usize> = (0..record.task_sets.len()).collect();
    order.sort_by_key(|i| record.task_sets[*i].status != TaskSetStatus::Primary);
    let mut wanted_total = 0usize;
    let mut wanted: Vec<(usize, usize)> = Vec::new();
    let mut stopped_for: Vec<usize> = vec![0; record.task_sets.len()];
    for &i in &order {
        let ts = &record.task_sets[i];
        if ts.status == TaskSetStatus::Draining || draining_service {
            continue;
        }
        let computed = ts.computed_desired_count(desired).max(0) as usize;
        let mine = &mut good[i];
        if mine.len() > computed {
            // Least useful first: not yet healthy, then newest; protected tasks last and never chosen.
            mine.sort_by(|a, b| {
                protected_now(&a.record, now).cmp(&protected_now(&b.record, now)).then(
                    is_healthy_running(&a.record).cmp(&is_healthy_running(&b.record)).then(
                        b.record.created_at.partial_cmp(&a.record.created_at).unwrap_or(std::cmp::Ordering::Equal),
                    ),
                )
            });
            let unprotected = mine.iter().filter(|t| !protected_now(&t.record, now)).count();
            let extra = (mine.len() - computed).min(unprotected);
            for t in mine.drain(..extra) {
                plan.stops.push(TaskStop { key: key(t), revision: t.mod_revision, reason: scaling_reason(&ts.id) });
                stopped_for[i] += 1;
            }
        } else if mine.len() < computed {
            wanted.push((i, computed - mine.len()));
            wanted_total += computed - mine.len();
        }
    }
    let mut allowed = record.start_throttle.allowed(wanted_total, now);
    for (i, n) in wanted {
        let n = n.min(allowed);
        allowed -= n;
        if n > 0 {
            plan.starts.push((record.task_sets[i].id.clone(), n));
        }
    }

    // 5. Stability, draining task sets that are done, the service's steady state.
    let mut all_steady = true;
    for i in 0..record.task_sets.len() {
        let computed = record.task_sets[i].computed_desired_count(desired).max(0) as usize;
        let healthy = good[i].iter().filter(|t| is_healthy_running(&t.record)).count();
        let steady = record.task_sets[i].status != TaskSetStatus::Draining
            && !draining_service
            && good[i].len() == computed
            && healthy == computed
            && stopping_by_set[i] == 0
            && stopped_for[i] == 0;
        let stability = if steady { Stability::SteadyState } else { Stability::Stabilizing };
        all_steady &= steady;
        if record.task_sets[i].stability != stability {
            let ts = &mut record.task_sets[i];
            ts.stability = stability;
            ts.stability_at = now;
            plan.changed = true;
            if steady {
                let id = ts.id.clone();
                env.push_event(&mut record, format!("(taskSet {id}) has reached a steady state."));
            }
        }
    }
    let alive = |id: &str| {
        tasks
            .iter()
            .any(|t| t.record.started_by.as_deref() == Some(id) && t.record.last_status() != Some(TaskStatus::Stopped))
    };
    let before = record.task_sets.len();
    record.task_sets.retain(|ts| ts.status != TaskSetStatus::Draining || alive(&ts.id));
    plan.changed |= record.task_sets.len() != before;
    if all_steady && plan.stops.is_empty() && plan.starts.is_empty() && !draining_service && !record.steady {
        env.push_event(&mut record, "has reached a steady state.".into());
        record.steady = true;
        plan.changed = true;
    }
    if draining_service && occupied == 0 {
        plan.inactive = true;
    }
    plan.record = record;
    plan
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
