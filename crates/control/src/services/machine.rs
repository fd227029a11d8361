//! The deployment state machine of one service, as a pure function ([`plan`]): from the service record, its
//! tasks and the cluster's instances (read from one cache state), the time and the settings ([`Env`]), it decides
//! which tasks to stop and why (named buckets), how many to start or on which instances (DAEMON), and the record's
//! next state — deployments completing, failing (the circuit breaker) or rolling back, the start-failure throttle,
//! steady-state and stalled events. It reads nothing else and writes nothing; [`super::controller`] carries a plan
//! out (stops in one transaction, placements, the record with compare-and-swap), and the next pass repairs any race.
//!
//! The rules, in the order a pass applies them:
//! 1. Count newly failed tasks of the PRIMARY deployment (circuit breaker, throttle, events: `failures`), then
//!    look at its deployment alarms (`alarms`).
//! 2. Replace RUNNING tasks that turned UNHEALTHY after the grace period (`replace_unhealthy`).
//! 3. Scale in primary tasks beyond the desired count, least useful first, never protected ones (`scale_in`).
//! 4. Start primary tasks up to what `maximumPercent` allows (`start`, throttled), or, for DAEMON, one per ACTIVE
//!    instance it fits (`daemon_targets`).
//! 5. Retire tasks of older deployments or leaving instances within `minimumHealthyPercent` (`retire`).
//! 6. Drop deployments with no task left; complete the PRIMARY once only it runs, at the desired count, healthy for
//!    the stabilization time; then steady state. A DRAINING service with no task left becomes INACTIVE.

use super::env::Env;
use super::math;
use super::service_group;
use crate::cache::{State, Versioned};
use crate::records::{DeploymentState, InstanceRecord, ServiceRecord, Stage, TaskRecord};
use crate::status::{
    DesiredStatus, HealthState, InstanceStatus, RolloutState, ServiceDeploymentStatus, ServiceStatus, TaskStatus,
};
use crate::task_protection::protected_now;

/// How long a repeated event (placement failure, stalled deployment) is held back, in seconds.
pub const EVENT_REPEAT_SECONDS: f64 = 60.0;

/// Whether a task is RUNNING and, where its task definition checks health, HEALTHY, and, where its service has
/// load balancers, healthy in every target group.
pub fn is_healthy_running(task: &TaskRecord) -> bool {
    if task.last_status() != Some(TaskStatus::Running) || task.desired_status() != Some(DesiredStatus::Running) {
        return false;
    }
    let targets_ok = task.targets.as_ref().is_none_or(|t| !t.load_balanced() || t.healthy);
    targets_ok && (!has_health_checks(task) || task.health_status == HealthState::Healthy)
}

/// Whether an essential container of the task has a health check.
pub(super) fn has_health_checks(task: &TaskRecord) -> bool {
    task.containers.iter().any(|c| c.definition.essential != Some(false) && c.definition.health_check.is_some())
}

/// The stop reason of a task replaced for failing its health checks.
pub const HEALTH_CHECK_FAILURE: &str = "Task failed container health checks";

/// The last segment of an ARN (a task id, an instance id).
pub(super) fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// One task a plan stops: its cache key (cluster, id), the revision the plan saw, and the stop reason.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskStop {
    /// (cluster, task id).
    pub key: (String, String),
    /// The task record's revision when planned (the stop is skipped if it changed).
    pub revision: i64,
    /// The task's `stoppedReason`.
    pub reason: String,
}

/// What one pass decided for one service, in named buckets.
#[derive(Debug, Default)]
pub struct Plan {
    /// RUNNING tasks that turned UNHEALTHY after the grace period: stopped to be replaced.
    pub replace_unhealthy: Vec<TaskStop>,
    /// Primary tasks beyond the desired count.
    pub scale_in: Vec<TaskStop>,
    /// Tasks of older deployments (or on leaving instances) stopped within the minimum healthy percent.
    pub retire: Vec<TaskStop>,
    /// New primary tasks to start (REPLICA).
    pub start: usize,
    /// Instances that need a task of the primary deployment (DAEMON).
    pub daemon_targets: Vec<(String, String)>,
    /// The service record as it should be after this pass.
    pub record: ServiceRecord,
    /// Whether `record` differs from the stored one.
    pub changed: bool,
    /// The stored record's revision.
    pub revision: i64,
    /// The service is DRAINING and has no tasks left: make it INACTIVE.
    pub inactive: bool,
}

impl Plan {
    /// Every task the plan stops, in bucket order.
    pub fn stops(&self) -> impl Iterator<Item = &TaskStop> {
        self.replace_unhealthy.iter().chain(&self.scale_in).chain(&self.retire)
    }
}

/// Whether an event may be written again: not written yet, or last written a while ago ([`EVENT_REPEAT_SECONDS`]).
pub(super) fn should_repeat(env: &Env, record: &ServiceRecord, message: &str) -> bool {
    let wanted = format!("(service {}) {message}", record.name.as_str());
    let last = record.events.iter().find(|e| e.message == wanted);
    last.is_none_or(|e| env.now - e.created_at >= EVENT_REPEAT_SECONDS)
}

/// The task's instance is gone, deregistered or draining: its tasks are replaced elsewhere. A task waiting for
/// capacity (managed scaling) has no instance yet and is not leaving one.
fn on_leaving_instance(state: &State, task: &TaskRecord) -> bool {
    !crate::managed_scaling::reservation::is_waiting(task)
        && state.instances.get(&task.instance_key()).is_none_or(|i| i.record.status() != Some(InstanceStatus::Active))
}

/// Decides one pass over one service: a pure function of the service's record, the cache state it reads its tasks
/// and the cluster's instances from, the [`Env`] (time and settings), and, for DAEMON services, whether a task of
/// the primary deployment fits on an instance. It writes nothing; the controller carries the plan out.
pub fn plan(env: &Env, state: &State, v: &Versioned<ServiceRecord>, fits: &dyn Fn(&InstanceRecord) -> bool) -> Plan {
    let mut record = (*v.record).clone();
    let mut plan = Plan { revision: v.mod_revision, ..Plan::default() };
    let now = env.now;
    let name = record.name.clone();
    let draining = record.status() == Some(ServiceStatus::Draining);
    let daemon = record.is_daemon();
    let tasks: Vec<&Versioned<TaskRecord>> = state.tasks_in_group(&record.cluster, &service_group(&name)).collect();
    let reason = |d: &DeploymentState| format!("Scaling activity initiated by (deployment {})", d.id);

    super::failures::count_failures(env, &mut record, &tasks, &mut plan.changed);
    super::alarms::check_alarms(env, &mut record, &mut plan.changed);

    let Some(primary) = record.deployments.first().cloned() else {
        plan.record = record;
        return plan;
    };
    let config = record.deployment_configuration.clone().unwrap_or_default();
    // A blue/green deployment in progress keeps blue (the production side's tasks) until its CLEAN_UP stage.
    let blue_green = super::blue_green::active(&record).map(|p| p.stage);
    let grace = f64::from(record.health_check_grace_period_seconds.unwrap_or(0));
    let (mut occupied, mut healthy, mut stopping) = (0usize, 0usize, 0usize);
    let mut primary_good: Vec<&Versioned<TaskRecord>> = Vec::new();
    let mut retiring: Vec<&Versioned<TaskRecord>> = Vec::new();
    for t in &tasks {
        let task = &t.record;
        if t.record.last_status() == Some(TaskStatus::Stopped) {
            continue;
        }
        occupied += 1;
        if t.record.desired_status() != Some(DesiredStatus::Running) {
            stopping += 1;
            continue;
        }
        let key = (t.record.cluster.clone(), task.id().to_string());
        let unhealthy = t.record.last_status() == Some(TaskStatus::Running)
            && task.health_status == HealthState::Unhealthy
            && task.started_at.is_none_or(|s| now >= s + grace);
        if unhealthy {
            plan.replace_unhealthy.push(TaskStop {
                key,
                revision: t.mod_revision,
                reason: HEALTH_CHECK_FAILURE.into(),
            });
            continue;
        }
        if is_healthy_running(&t.record) {
            healthy += 1;
        }
        if !draining
            && task.started_by.as_deref() == Some(primary.id.as_str())
            && !on_leaving_instance(state, &t.record)
        {
            primary_good.push(t);
        } else {
            retiring.push(t);
        }
    }

    let desired = if daemon {
        daemon_plan(fits, state, &record, &primary, &primary_good, &mut plan)
    } else {
        record.desired_count.max(0) as usize
    };
    if daemon && record.desired_count != desired as i32 {
        record.desired_count = desired as i32;
        plan.changed = true;
    }
    let desired = if draining { 0 } else { desired };
    let bounds =
        math::bounds(desired, config.minimum_healthy_percent.unwrap_or(100), config.maximum_percent.unwrap_or(200));

    // Scale in: stop primary tasks beyond the desired count, the least useful first (not yet healthy, then newest).
    // Protected tasks are never chosen (they sort last and the count stops short of them).
    if primary_good.len() > desired && !daemon {
        primary_good.sort_by(|a, b| {
            protected_now(&a.record, now).cmp(&protected_now(&b.record, now)).then(
                is_healthy_running(&a.record)
                    .cmp(&is_healthy_running(&b.record))
                    .then(b.record.created_at.partial_cmp(&a.record.created_at).unwrap_or(std::cmp::Ordering::Equal)),
            )
        });
        let unprotected = primary_good.iter().filter(|t| !protected_now(&t.record, now)).count();
        for t in primary_good.drain(..(primary_good.len() - desired).min(unprotected)) {
            if is_healthy_running(&t.record) {
                healthy -= 1;
            }
            plan.scale_in.push(TaskStop { key: task_key(t), revision: t.mod_revision, reason: reason(&primary) });
        }
    }

    // Scale out / roll forward within the maximum; a FAILED deployment launches nothing more; tasks that keep
    // failing to start are started more and more slowly (the start-failure throttle).
    if !daemon && primary.rollout_state != RolloutState::Failed {
        let wanted = match blue_green {
            // Green scales up to the full desired count beside blue, whatever maximumPercent says.
            Some(_) => desired.saturating_sub(primary_good.len()),
            None => math::to_start(desired, primary_good.len(), occupied, bounds),
        };
        plan.start = record.start_throttle.allowed(wanted, now);
    }
    if daemon {
        let allowed = record.start_throttle.allowed(plan.daemon_targets.len(), now);
        plan.daemon_targets.truncate(allowed);
    }

    // Retire old tasks within the minimum: not-yet-healthy ones freely, healthy ones while the budget lasts.
    let mut budget = math::stop_budget(healthy, bounds);
    if blue_green == Some(Stage::CleanUp) {
        // Green has all traffic and its full count: blue goes at once.
        budget = usize::MAX;
    }
    retiring.sort_by_key(|t| is_healthy_running(&t.record));
    for t in &retiring {
        if blue_green.is_some_and(|s| s != Stage::CleanUp)
            && super::blue_green::progress::on_production_side(&record, &t.record)
            && !on_leaving_instance(state, &t.record)
        {
            continue;
        }
        if super::blue_green::progress::held_after_rollback(env, &record, &t.record) {
            continue;
        }
        let healthy_task = is_healthy_running(&t.record);
        if healthy_task && budget == 0 {
            continue;
        }
        // A deployment waits for a protected task of an older deployment (not for one on a leaving instance).
        if protected_now(&t.record, now) && !draining && !on_leaving_instance(state, &t.record) {
            continue;
        }
        if healthy_task {
            budget -= 1;
        }
        let why = record
            .deployments
            .iter()
            .find(|d| Some(d.id.as_str()) == t.record.started_by.as_deref())
            .map(reason)
            .unwrap_or_else(|| reason(&primary));
        plan.retire.push(TaskStop { key: task_key(t), revision: t.mod_revision, reason: why });
    }
    // Protected tasks held back are not the configuration's doing: they do not make a deployment "stalled".
    let retiring_left = retiring
        .iter()
        .filter(|t| !plan.stops().any(|s| s.key == task_key(t)) && !protected_now(&t.record, now))
        .count();
    // Tasks on their way out (asked to stop before or in this plan) free room when they stop: that is progress,
    // not a deployment held by its configuration (a rollback over a failing revision passes through this).
    let settling = stopping > 0 || plan.stops().next().is_some();
    if !daemon
        && !draining
        && !settling
        && blue_green.is_none()
        && math::stalled(desired, primary_good.len(), occupied, healthy, retiring_left, bounds)
    {
        let message = "was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.".to_string();
        if should_repeat(env, &record, &message) {
            env.push_event(&mut record, message);
            plan.changed = true;
        }
    }

    // A blue/green deployment moves on (or rolls back) as green becomes ready, hooks pass and bake times end.
    if blue_green.is_some() {
        let green_ready = primary_good.len() == desired
            && primary_good.iter().all(|t| is_healthy_running(&t.record))
            && plan.start == 0;
        if super::blue_green::progress::advance(env, &mut record, green_ready) {
            plan.changed = true;
            if super::blue_green::active(&record).is_none() {
                // Rolled back: blue is PRIMARY again; green's tasks are scaled in from the next pass on.
                plan.start = 0;
                plan.retire.clear();
            }
        }
    }
    let blue_green = super::blue_green::active(&record).map(|p| p.stage);

    // Deployments that have no tasks left are done.
    let alive = |d: &DeploymentState| {
        tasks.iter().any(|t| {
            t.record.started_by.as_deref() == Some(d.id.as_str()) && t.record.last_status() != Some(TaskStatus::Stopped)
        })
    };
    let before = record.deployments.len();
    let primary_id = primary.id.clone();
    record.deployments.retain(|d| d.id == primary_id || alive(d));
    plan.changed |= record.deployments.len() != before;
    plan.changed |= super::blue_green::progress::finish_rollbacks(env, &mut record);

    // Rollout completion and steady state.
    let settled = now - env.stabilization;
    let primary_healthy = primary_good
        .iter()
        .filter(|t| is_healthy_running(&t.record) && t.record.started_at.is_some_and(|s| s <= settled))
        .count();
    let only_primary = record.deployments.len() == 1;
    if only_primary
        && blue_green.is_none_or(|s| s == Stage::CleanUp)
        && primary_healthy == desired
        && plan.stops().next().is_none()
        && plan.start == 0
        && plan.daemon_targets.is_empty()
    {
        if record.deployments[0].rollout_state == RolloutState::InProgress {
            complete_deployment(env, &mut record);
            plan.changed = true;
        }
        if !record.steady && !draining {
            env.push_event(&mut record, "has reached a steady state.".into());
            record.steady = true;
            plan.changed = true;
        }
    }
    if draining && occupied == 0 {
        plan.inactive = true;
    }
    plan.record = record;
    plan
}

fn task_key(t: &Versioned<TaskRecord>) -> (String, String) {
    (t.record.cluster.clone(), t.record.id().to_string())
}

/// Marks the PRIMARY deployment COMPLETED (the rollback target from now on), with its event.
pub(crate) fn complete_deployment(env: &Env, record: &mut ServiceRecord) {
    let now = env.now;
    let primary = &mut record.deployments[0];
    primary.rollout_state = RolloutState::Completed;
    primary.rollout_state_reason = format!("ECS deployment {} completed.", primary.id);
    primary.updated_at = now;
    let (id, arn, td, rollback) =
        (primary.id.clone(), primary.service_deployment_arn.clone(), primary.task_definition.clone(), primary.rollback);
    record.last_completed_task_definition = Some(td);
    super::blue_green::progress::complete(record, &arn);
    if let Some(sd) = record.service_deployments.iter_mut().find(|d| d.arn == arn) {
        sd.status =
            if rollback { ServiceDeploymentStatus::RollbackSuccessful } else { ServiceDeploymentStatus::Successful };
        sd.finished_at = Some(now);
        sd.updated_at = Some(now);
    }
    env.push_event(record, format!("(deployment {id}) deployment completed."));
}

/// DAEMON: one task of the primary deployment on every ACTIVE instance it fits; old tasks are replaced instance
/// by instance (stop first, as the DAEMON defaults 0%/100% allow). Returns the desired count.
fn daemon_plan(
    fits: &dyn Fn(&InstanceRecord) -> bool,
    state: &State,
    record: &ServiceRecord,
    primary: &DeploymentState,
    primary_good: &[&Versioned<TaskRecord>],
    plan: &mut Plan,
) -> usize {
    let cluster = &record.cluster;
    let name = record.name.clone();
    let group = service_group(&name);
    let mut desired = 0;
    for ((c, id), instance) in state.instances.range((cluster.clone(), String::new())..) {
        if c != cluster {
            break;
        }
        if instance.record.status() != Some(InstanceStatus::Active) {
            continue;
        }
        let on_instance: Vec<&Versioned<TaskRecord>> = state
            .tasks_on_instance(id)
            .filter(|t| {
                t.record.group.as_deref() == Some(group.as_str()) && t.record.last_status() != Some(TaskStatus::Stopped)
            })
            .collect();
        if primary_good.iter().any(|t| t.record.instance_id == *id) {
            desired += 1;
            continue;
        }
        if !on_instance.is_empty() {
            // An old task still holds the instance: it is being retired (stopped in the caller's retire step).
            desired += 1;
            continue;
        }
        if primary.rollout_state == RolloutState::Failed {
            continue;
        }
        if fits(&instance.record) {
            desired += 1;
            plan.daemon_targets.push((c.clone(), id.clone()));
        }
    }
    desired
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
