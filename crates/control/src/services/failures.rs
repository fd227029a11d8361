//! A service's failed tasks, counted once each: the PRIMARY deployment's `failedTasks` (with or without the
//! circuit breaker), the start-failure throttle ([`super::throttle`]), the events that say why tasks fail, and the
//! deployment circuit breaker that trips on them.

use super::env::Env;
use super::machine::{HEALTH_CHECK_FAILURE, has_health_checks, is_healthy_running, should_repeat};
use super::{MAX_EVENTS, math, throttle};
use crate::cache::Versioned;
use crate::records::{CircuitBreakerRecord, ServiceRecord, TaskRecord};
use crate::status::{
    ContainerStatus, DesiredStatus, RollbackMonitorsStatus, RolloutState, ServiceDeploymentStatus, StopCode, TaskStatus,
};
use std::collections::BTreeSet;

/// Whether a stopped task is a failure: it failed to start, its essential container exited, or it failed its
/// container or load balancer health checks (not tasks the scheduler or a user stopped otherwise).
pub(crate) fn is_failure(task: &TaskRecord) -> bool {
    matches!(task.stop_code, Some(StopCode::TaskFailedToStart | StopCode::EssentialContainerExited))
        || task.stopped_reason.as_deref() == Some(HEALTH_CHECK_FAILURE)
        || task.stopped_reason.as_deref().is_some_and(|r| r.starts_with(super::targets::ELB_STOP_REASON_PREFIX))
}

/// Whether a task stopped or is stopping.
fn stopping(task: &TaskRecord) -> bool {
    task.desired_status() == Some(DesiredStatus::Stopped) || task.last_status() == Some(TaskStatus::Stopped)
}

fn task_id(task: &TaskRecord) -> &str {
    task.id()
}

/// The event (after the `(service NAME)` prefix) that says why a task failed. It names no task id, so that the
/// same cause is not repeated for every replacement (the stopped tasks carry the details).
pub(super) fn failure_event(task: &TaskRecord) -> String {
    let reason = task.stopped_reason.clone().unwrap_or_default();
    if task.stop_code == Some(StopCode::TaskFailedToStart) {
        return format!("failed to launch a task with (error {reason}).");
    }
    let exited = task.containers.iter().zip(&task.container_states).find(|(spec, c)| {
        c.last_status == ContainerStatus::Stopped
            && spec.definition.essential != Some(false)
            && (c.exit_code.is_some() || c.reason.is_some())
    });
    match exited {
        Some((spec, c)) if task.stop_code == Some(StopCode::EssentialContainerExited) => {
            let name = spec.definition.name.as_deref().unwrap_or_default();
            let code = c.exit_code.map(|e| format!(" (exit code {e})")).unwrap_or_default();
            let why = c.reason.as_deref().map(|r| format!(" (reason {r})")).unwrap_or_default();
            format!("has a task that stopped: {reason}: (container {name}){code}{why}.")
        }
        _ => format!("has a task that stopped: {reason}."),
    }
}

/// Counts the PRIMARY deployment's newly stopped failed tasks: its `failedTasks` while its rollout is in
/// progress, the start-failure throttle, the events saying why, and the circuit breaker when it is enabled.
pub(super) fn count_failures(
    env: &Env,
    record: &mut ServiceRecord,
    tasks: &[&Versioned<TaskRecord>],
    changed: &mut bool,
) {
    let now = env.now;
    let breaker = record.deployment_configuration.as_ref().and_then(|c| c.deployment_circuit_breaker.clone());
    let Some(primary) = record.deployments.first_mut() else { return };
    let ours: Vec<&TaskRecord> =
        tasks.iter().map(|t| &*t.record).filter(|t| t.started_by.as_deref() == Some(primary.id.as_str())).collect();
    // Forget the ids of tasks the store no longer keeps, so the list stays as short as the stopped-task history.
    let alive: BTreeSet<&str> = ours.iter().map(|t| task_id(t)).collect();
    let before = primary.counted_failures.len();
    primary.counted_failures.retain(|id| alive.contains(id.as_str()));
    *changed |= primary.counted_failures.len() != before;
    let mut counted: BTreeSet<String> = primary.counted_failures.iter().cloned().collect();
    let mut new: Vec<&TaskRecord> = ours
        .iter()
        .copied()
        // Counted as soon as the task is on its way to STOPPED: a replacement may start in the same pass.
        .filter(|t| stopping(t) && is_failure(t))
        .filter(|t| counted.insert(task_id(t).to_string()))
        .collect();
    new.sort_by(|a, b| a.stopping_at.partial_cmp(&b.stopping_at).unwrap_or(std::cmp::Ordering::Equal));
    let in_progress = primary.rollout_state == RolloutState::InProgress;
    if !new.is_empty() {
        primary.counted_failures = counted.into_iter().collect();
        if in_progress {
            primary.failed_tasks += new.len() as i32;
        }
        *changed = true;
    }
    let reset_on_healthy = breaker.as_ref().is_none_or(|b| b.reset_on_healthy_task.unwrap_or(true));
    let healthy = ours.iter().any(|t| has_health_checks(t) && is_healthy_running(t));
    if in_progress && reset_on_healthy && healthy && primary.failed_tasks > 0 {
        primary.failed_tasks = 0;
        *changed = true;
    }

    // The throttle: start failures count; a task that reached RUNNING since the last one ends the run.
    let starts = new.iter().filter(|t| throttle::failed_to_start(t)).count() as u32;
    let last = record.start_throttle.last_failure_at;
    let ran =
        ours.iter().any(|t| t.last_status() == Some(TaskStatus::Running) && t.started_at.is_some_and(|s| s > last));
    if ran && record.start_throttle.engaged() && starts == 0 {
        record.start_throttle = Default::default();
        *changed = true;
    }
    record.start_throttle.record_failures(starts, now);

    if let Some(latest) = new.last() {
        let message = failure_event(latest);
        if should_repeat(env, record, &message) {
            env.push_event(record, message);
        }
    }
    if starts > 0 && record.start_throttle.impaired() && should_repeat(env, record, throttle::IMPAIRED_EVENT) {
        env.push_event(record, throttle::IMPAIRED_EVENT.to_string());
    }
    if let Some(breaker) = breaker.filter(|b| b.enable)
        && in_progress
    {
        circuit_breaker(env, record, &breaker, changed);
    }
}

/// Compares the PRIMARY deployment's failures with the breaker's threshold; on a trip the deployment is FAILED and,
/// with rollback, a deployment of the last completed task definition replaces it.
fn circuit_breaker(
    env: &Env,
    record: &mut ServiceRecord,
    breaker: &berth_model::ecs::DeploymentCircuitBreaker,
    changed: &mut bool,
) {
    let desired = record.desired_count.max(0) as usize;
    let threshold = math::failure_threshold(desired, breaker.threshold_configuration.as_ref());
    let Some(primary) = record.deployments.first() else { return };
    let arn = primary.service_deployment_arn.clone();
    let failed_count = primary.failed_tasks;
    if let Some(sd) = record.service_deployments.iter_mut().find(|d| d.arn == arn) {
        let status = if (failed_count as usize) >= threshold {
            RollbackMonitorsStatus::Triggered
        } else {
            RollbackMonitorsStatus::Monitoring
        };
        let snapshot = Some(CircuitBreakerRecord { status, failure_count: failed_count, threshold: threshold as i32 });
        if sd.circuit_breaker != snapshot {
            sd.circuit_breaker = snapshot;
            *changed = true;
        }
    }
    if (failed_count as usize) < threshold {
        return;
    }
    // Tripped.
    let now = env.now;
    let primary = &mut record.deployments[0];
    primary.rollout_state = RolloutState::Failed;
    primary.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start.".into();
    primary.updated_at = now;
    let (id, was_rollback) = (primary.id.clone(), primary.rollback);
    *changed = true;
    env.push_event(record, format!("(deployment {id}) deployment failed: tasks failed to start."));
    if super::blue_green::active(record).is_some() {
        // A blue/green deployment returns to blue, which still runs with its traffic, whatever `rollback` says:
        // leaving a failed green as the PRIMARY would scale blue in.
        let reason = "ECS deployment circuit breaker: tasks failed to start.";
        super::blue_green::roll_back(env, record, "Circuit breaker triggered: rolling back to blue.", reason);
        record.events.truncate(MAX_EVENTS);
        return;
    }
    let target = record.last_completed_task_definition.clone();
    let sd = record.service_deployments.iter_mut().find(|d| d.arn == arn);
    match (breaker.rollback, target, was_rollback) {
        (true, Some(td), false) => {
            let rollback_id = env.start_rollback(
                record,
                &arn,
                &td,
                "Circuit breaker triggered: rolling back to the last completed deployment.",
                "ECS deployment circuit breaker: tasks failed to start.",
            );
            env.push_event(record, format!("(deployment {id}) rolling back to deployment {rollback_id}."));
        }
        (_, _, rollback) => {
            if let Some(sd) = sd {
                sd.status =
                    if rollback { ServiceDeploymentStatus::RollbackFailed } else { ServiceDeploymentStatus::Stopped };
                sd.status_reason = Some("Circuit breaker triggered: tasks failed to start.".into());
                sd.stopped_at = Some(now);
                sd.updated_at = Some(now);
            }
        }
    }
    record.events.truncate(MAX_EVENTS);
}
