//! The service scheduler: a level-triggered controller that keeps every service's tasks at its desired count,
//! rolls deployments within `minimumHealthyPercent`/`maximumPercent`, replaces tasks that fail, turn unhealthy or
//! sit on instances that drain, trips the deployment circuit breaker, and writes ECS's service events.
//!
//! Each pass over a service reads one consistent view of the cache, plans (which tasks to stop, how many to start,
//! what to record), then acts: stops in one transaction, placements through the placement path, and the service
//! record with compare-and-swap. Any lost race, crash or restart is repaired by the next pass.
//!
//! It runs on `berth_runtime` ([`controller`]): one key per service, looked at whenever the cache changes (the
//! work queue folds a burst of changes into one pass per service) and again a second after each pass (grace
//! periods, throttle waits and held-back events are re-checked on that beat); a failing service backs off on its
//! own without holding up the others.

use super::{math, service_group};
use crate::cache::{State, Versioned};
use crate::records::{DeploymentState, ServiceRecord, TaskRecord, keys};
use crate::task_protection::protected_now;
use crate::tasks::stop::{InstanceUpdates, add_instance_updates, release_if_stopped};
use crate::tasks::stop_record;
use crate::{Control, ControlError, Result, encode};
use berth_model::ecs::{HealthStatus, SchedulingStrategy, ServiceDeploymentStatus};
use berth_runtime::{Action, Backoff, Controller, Reconciler, Trigger};
use berth_store::Txn;
use std::fmt;
use std::sync::Arc;

/// How soon a service is looked at again after a pass even when nothing changed, in seconds (grace periods,
/// throttle waits, held-back events).
pub const RESYNC_SECONDS: f64 = 1.0;
/// How long a repeated placement-failure event is held back.
const EVENT_REPEAT_SECONDS: f64 = 60.0;

/// The service scheduler's key: one service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    /// The cluster's name.
    pub cluster: String,
    /// The service's name.
    pub name: String,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service {}/{}", self.cluster, self.name)
    }
}

/// The service scheduler's [`Reconciler`].
pub struct ServiceScheduler {
    control: Arc<Control>,
}

impl ServiceScheduler {
    /// The reconciler for `control`.
    pub fn new(control: Arc<Control>) -> Self {
        Self { control }
    }
}

impl Reconciler for ServiceScheduler {
    type Key = ServiceKey;
    type Error = ControlError;

    /// Every service that is not INACTIVE.
    fn keys(&self) -> Vec<ServiceKey> {
        active_services(&self.control).into_iter().map(|(cluster, name)| ServiceKey { cluster, name }).collect()
    }

    // Any change (a task report, an instance, the service itself) may concern any service: all of them get a look,
    // deduplicated by the work queue. `changed_keys` keeps the default (all keys).

    async fn reconcile(&self, key: ServiceKey, _trigger: Trigger) -> Result<Action> {
        reconcile_service(&self.control, &key.cluster, &key.name).await?;
        Ok(Action::requeue(RESYNC_SECONDS))
    }
}

/// The service scheduler on `control`'s cache and clock. Services are reconciled one at a time (placements of
/// different services would contend for the same instances); a failing one retries after 0.1 s, doubling to 5 s.
pub fn controller(control: Arc<Control>) -> Controller<ServiceScheduler> {
    let source = control.cache.subscribe();
    let clock = control.clock.clone();
    Controller::new("service-scheduler", Arc::new(ServiceScheduler::new(control)), clock, source)
        .with_backoff(Backoff { initial: 0.1, max: 5.0 })
        .with_max_concurrent(1)
}

/// Runs the service scheduler until the cache stops.
pub async fn run(control: Arc<Control>) {
    controller(control).run().await;
}

fn active_services(control: &Control) -> Vec<(String, String)> {
    control
        .cache
        .read()
        .services
        .iter()
        .filter(|(_, v)| v.record.service.status.as_deref() != Some("INACTIVE"))
        .map(|(k, _)| k.clone())
        .collect()
}

/// One pass over every service that is not INACTIVE.
/// (For tests and tools; the running scheduler reconciles services one key at a time.)
pub async fn reconcile_all(control: &Control) -> Result<()> {
    for (cluster, name) in active_services(control) {
        if let Err(error) = reconcile_service(control, &cluster, &name).await {
            tracing::warn!(%cluster, service = %name, %error, "service reconcile failed");
        }
    }
    Ok(())
}

/// Whether a task is RUNNING and, where its task definition checks health, HEALTHY.
pub fn is_healthy_running(task: &TaskRecord) -> bool {
    if task.task.last_status.as_deref() != Some("RUNNING") || task.task.desired_status.as_deref() != Some("RUNNING") {
        return false;
    }
    !has_health_checks(task) || task.task.health_status == Some(HealthStatus::Healthy)
}

/// Whether an essential container of the task has a health check.
pub(super) fn has_health_checks(task: &TaskRecord) -> bool {
    task.containers.iter().any(|c| c.definition.essential != Some(false) && c.definition.health_check.is_some())
}

/// The stop reason of a task replaced for failing its health checks.
pub const HEALTH_CHECK_FAILURE: &str = "Task failed container health checks";

fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What one pass decided for one service.
#[derive(Default)]
struct Plan {
    /// Tasks to stop: (cluster, id), mod revision, reason.
    stops: Vec<((String, String), i64, String)>,
    /// New primary tasks to start (REPLICA).
    start: usize,
    /// Instances that need a task (DAEMON).
    daemon_targets: Vec<(String, String)>,
    /// The service record as it should be after this pass.
    record: ServiceRecord,
    /// Whether `record` differs from the stored one.
    changed: bool,
    /// The stored record's revision.
    revision: i64,
    /// The service is DRAINING and has no tasks left: make it INACTIVE.
    inactive: bool,
}

/// The event a service gets while the scheduler holds it because records in its cluster are quarantined.
fn hold_message(keys: &[String]) -> String {
    format!(
        "is on hold: {} task or container instance records in its cluster are corrupt and quarantined ({}); no task is started or stopped until they are repaired (see `berth admin quarantine`).",
        keys.len(),
        keys.join(", ")
    )
}

async fn reconcile_service(control: &Control, cluster: &str, name: &str) -> Result<()> {
    let (plan, held) = {
        let state = control.cache.read();
        let Some(v) = state.services.get(&(cluster.to_string(), name.to_string())).cloned() else { return Ok(()) };
        let hold = state.cluster_hold(cluster);
        if hold.is_empty() { (Some(plan(control, &state, &v)), None) } else { (None, Some((v, hold))) }
    };
    if let Some((v, hold)) = held {
        // A quarantined task may be one of this service's: counting it as absent would start a replacement, and a
        // quarantined instance's tasks would look lost. Hold the service and say why.
        let message = hold_message(&hold);
        if !should_repeat(control, &v.record, &message) {
            return Ok(());
        }
        tracing::warn!(%cluster, service = %name, "service held: records in its cluster are quarantined");
        let mut record = (*v.record).clone();
        control.push_event(&mut record, message);
        let key = keys::service(cluster, name);
        let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
        control.commit(txn, "recording a held service").await?;
        return Ok(());
    }
    let Some(plan) = plan else { return Ok(()) };
    let mut record = plan.record;
    let mut changed = plan.changed;
    if !plan.stops.is_empty() {
        let stopped = stop_tasks(control, &plan.stops).await?;
        if !stopped.is_empty() {
            let ids: Vec<String> = stopped.iter().map(|id| format!("(task {id})")).collect();
            control.push_event(&mut record, format!("has stopped {} running tasks: {}.", stopped.len(), ids.join(" ")));
            record.steady = false;
            changed = true;
        }
    }
    let primary = record.deployments.first().cloned();
    if let Some(primary) = primary {
        let constraints = record.service.placement_constraints.clone().unwrap_or_default();
        let strategy = record.service.placement_strategy.clone().unwrap_or_default();
        let group = service_group(name);
        let mut requests: Vec<(usize, Option<(String, String)>)> = Vec::new();
        if plan.start > 0 {
            requests.push((plan.start, None));
        }
        requests.extend(plan.daemon_targets.iter().map(|k| (1, Some(k.clone()))));
        let mut started = Vec::new();
        for (count, only) in requests {
            let placed = control
                .place_service_tasks(
                    cluster,
                    &primary.task_definition,
                    &group,
                    &primary.id,
                    crate::tags::TaskTagging {
                        request: &[],
                        propagate: record.service.propagate_tags,
                        service: Some((name, record.service.tags.as_deref().unwrap_or_default())),
                        managed: record.service.enable_ecs_managed_tags,
                    },
                    &constraints,
                    &strategy,
                    count,
                    only,
                    record.service.enable_execute_command,
                )
                .await;
            let (tasks, failures, closest) = match placed {
                Ok(placed) => placed,
                Err(crate::ControlError::Ecs { message, .. }) => {
                    // The service cannot place or launch at all (no instance in the cluster, a task definition
                    // gone): say why, and keep what this pass did.
                    let message = launch_error_event(&message);
                    if should_repeat(control, &record, &message) {
                        control.push_event(&mut record, message);
                        changed = true;
                    }
                    record.steady = false;
                    break;
                }
                Err(error) => return Err(error),
            };
            started.extend(tasks.iter().filter_map(|t| t.task_arn.clone()));
            if tasks.len() < count && record.service.scheduling_strategy != Some(SchedulingStrategy::Daemon) {
                let closest = match closest {
                    Some((arn, phrase)) => {
                        format!(" The closest matching (container-instance {}) {phrase}.", short_id(&arn))
                    }
                    None => String::new(),
                };
                let message = format!("{UNABLE_TO_PLACE}{closest}{TROUBLESHOOTING}");
                if should_repeat(control, &record, &message) {
                    control.push_event(&mut record, message);
                    changed = true;
                }
                record.last_placement_failures = failures;
                record.steady = false;
            }
        }
        if !started.is_empty() {
            let ids: Vec<String> = started.iter().map(|a| format!("(task {})", short_id(a))).collect();
            control.push_event(&mut record, format!("has started {} tasks: {}.", started.len(), ids.join(" ")));
            record.steady = false;
            changed = true;
        }
    }
    if plan.inactive {
        record.service.status = Some("INACTIVE".into());
        changed = true;
    }
    if changed {
        let key = keys::service(cluster, name);
        let txn = Txn::new().expect(key.clone(), plan.revision).put(key, encode(&record)?);
        // A conflict means a user changed the service meanwhile; the next pass plans again.
        control.commit(txn, "recording a service's state").await?;
    }
    Ok(())
}

/// ECS's service event when no container instance can take a task (after the `(service NAME)` prefix).
const UNABLE_TO_PLACE: &str = "was unable to place a task because no container instance met all of its requirements.";
/// The sentence ECS ends its placement events with.
const TROUBLESHOOTING: &str =
    " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

/// The event for a placement the service could not even try: ECS's placement event when the cluster has no
/// container instance, else the error's message.
fn launch_error_event(message: &str) -> String {
    if message == crate::tasks::run::NO_INSTANCES {
        format!("{UNABLE_TO_PLACE}{TROUBLESHOOTING}")
    } else {
        format!("failed to launch a task with (error {message}).")
    }
}

/// Whether an event may be written again: not written yet, or last written a while ago ([`EVENT_REPEAT_SECONDS`]).
pub(super) fn should_repeat(control: &Control, record: &ServiceRecord, message: &str) -> bool {
    let wanted = format!("(service {}) {message}", record.service.service_name.as_deref().unwrap_or_default());
    let last = record.service.events.iter().flatten().find(|e| e.message.as_deref() == Some(&wanted));
    last.is_none_or(|e| control.now() - e.created_at.unwrap_or_default() >= EVENT_REPEAT_SECONDS)
}

async fn stop_tasks(control: &Control, stops: &[((String, String), i64, String)]) -> Result<Vec<String>> {
    let now = control.now();
    let (txn, ids) = {
        let state = control.cache.read();
        let mut txn = Txn::new();
        let mut ids = Vec::new();
        let mut updates = InstanceUpdates::new();
        for (key, revision, reason) in stops {
            let Some(v) = state.tasks.get(key).filter(|v| v.mod_revision == *revision) else { continue };
            let mut task = (*v.record).clone();
            let orphaned = state
                .instances
                .get(&(task.cluster.clone(), task.instance_id.clone()))
                .is_none_or(|i| i.record.instance.status.as_deref() == Some("INACTIVE"));
            stop_record(&mut task, now, reason, "ServiceSchedulerInitiated", orphaned);
            release_if_stopped(&state, &mut task, &mut updates);
            let task_key = keys::task(&key.0, &key.1);
            txn = txn.expect(task_key.clone(), *revision).put(task_key, encode(&task)?);
            ids.push(key.1.clone());
        }
        (add_instance_updates(txn, updates)?, ids)
    };
    if ids.is_empty() {
        return Ok(ids);
    }
    Ok(match control.commit(txn, "stopping service tasks").await? {
        Some(_) => ids,
        None => Vec::new(),
    })
}

/// The task's instance is gone, deregistered or draining: its tasks are replaced elsewhere.
fn on_leaving_instance(state: &State, task: &TaskRecord) -> bool {
    state
        .instances
        .get(&(task.cluster.clone(), task.instance_id.clone()))
        .is_none_or(|i| i.record.instance.status.as_deref() != Some("ACTIVE"))
}

fn plan(control: &Control, state: &State, v: &Versioned<ServiceRecord>) -> Plan {
    let mut record = (*v.record).clone();
    let mut plan = Plan { revision: v.mod_revision, ..Plan::default() };
    let now = control.now();
    let name = record.service.service_name.clone().unwrap_or_default();
    let draining = record.service.status.as_deref() == Some("DRAINING");
    let daemon = record.service.scheduling_strategy == Some(SchedulingStrategy::Daemon);
    let tasks: Vec<&Versioned<TaskRecord>> = state.tasks_in_group(&record.cluster, &service_group(&name)).collect();
    let reason = |d: &DeploymentState| format!("Scaling activity initiated by (deployment {})", d.id);

    super::failures::count_failures(control, &mut record, &tasks, &mut plan.changed);

    let Some(primary) = record.deployments.first().cloned() else {
        plan.record = record;
        return plan;
    };
    let config = record.service.deployment_configuration.clone().unwrap_or_default();
    let grace = f64::from(record.service.health_check_grace_period_seconds.unwrap_or(0));
    let mut stops: Vec<((String, String), i64, String)> = Vec::new();
    let (mut occupied, mut healthy, mut stopping) = (0usize, 0usize, 0usize);
    let mut primary_good: Vec<&Versioned<TaskRecord>> = Vec::new();
    let mut retiring: Vec<&Versioned<TaskRecord>> = Vec::new();
    for t in &tasks {
        let task = &t.record.task;
        if task.last_status.as_deref() == Some("STOPPED") {
            continue;
        }
        occupied += 1;
        if task.desired_status.as_deref() != Some("RUNNING") {
            stopping += 1;
            continue;
        }
        let key = (t.record.cluster.clone(), task.task_arn.as_deref().map(short_id).unwrap_or_default().to_string());
        let unhealthy = task.last_status.as_deref() == Some("RUNNING")
            && task.health_status == Some(HealthStatus::Unhealthy)
            && task.started_at.is_none_or(|s| now >= s + grace);
        if unhealthy {
            stops.push((key, t.mod_revision, HEALTH_CHECK_FAILURE.to_string()));
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
        daemon_plan(control, state, &record, &primary, &primary_good, &mut plan)
    } else {
        record.service.desired_count.max(0) as usize
    };
    if daemon && record.service.desired_count != desired as i32 {
        record.service.desired_count = desired as i32;
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
                is_healthy_running(&a.record).cmp(&is_healthy_running(&b.record)).then(
                    b.record
                        .task
                        .created_at
                        .partial_cmp(&a.record.task.created_at)
                        .unwrap_or(std::cmp::Ordering::Equal),
                ),
            )
        });
        let unprotected = primary_good.iter().filter(|t| !protected_now(&t.record, now)).count();
        for t in primary_good.drain(..(primary_good.len() - desired).min(unprotected)) {
            if is_healthy_running(&t.record) {
                healthy -= 1;
            }
            stops.push((task_key(t), t.mod_revision, reason(&primary)));
        }
    }

    // Scale out / roll forward within the maximum; a FAILED deployment launches nothing more; tasks that keep
    // failing to start are started more and more slowly (the start-failure throttle).
    if !daemon && primary.rollout_state != "FAILED" {
        let wanted = math::to_start(desired, primary_good.len(), occupied, bounds);
        plan.start = record.start_throttle.allowed(wanted, now);
    }
    if daemon {
        let allowed = record.start_throttle.allowed(plan.daemon_targets.len(), now);
        plan.daemon_targets.truncate(allowed);
    }

    // Retire old tasks within the minimum: not-yet-healthy ones freely, healthy ones while the budget lasts.
    let mut budget = math::stop_budget(healthy, bounds);
    retiring.sort_by_key(|t| is_healthy_running(&t.record));
    for t in &retiring {
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
            .find(|d| Some(d.id.as_str()) == t.record.task.started_by.as_deref())
            .map(reason)
            .unwrap_or_else(|| reason(&primary));
        stops.push((task_key(t), t.mod_revision, why));
    }
    // Protected tasks held back are not the configuration's doing: they do not make a deployment "stalled".
    let retiring_left =
        retiring.iter().filter(|t| !stops.iter().any(|s| s.0 == task_key(t)) && !protected_now(&t.record, now)).count();
    // Tasks on their way out (asked to stop before or in this plan) free room when they stop: that is progress,
    // not a deployment held by its configuration (a rollback over a failing revision passes through this).
    let settling = stopping > 0 || !stops.is_empty();
    if !daemon
        && !draining
        && !settling
        && math::stalled(desired, primary_good.len(), occupied, healthy, retiring_left, bounds)
    {
        let message = "was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.".to_string();
        if should_repeat(control, &record, &message) {
            control.push_event(&mut record, message);
            plan.changed = true;
        }
    }

    // Deployments that have no tasks left are done.
    let alive = |d: &DeploymentState| {
        tasks.iter().any(|t| {
            t.record.task.started_by.as_deref() == Some(d.id.as_str())
                && t.record.task.last_status.as_deref() != Some("STOPPED")
        })
    };
    let before = record.deployments.len();
    let primary_id = primary.id.clone();
    record.deployments.retain(|d| d.id == primary_id || alive(d));
    plan.changed |= record.deployments.len() != before;

    // Rollout completion and steady state.
    let settled = now - control.config.deployment_stabilization.as_secs_f64();
    let primary_healthy = primary_good
        .iter()
        .filter(|t| is_healthy_running(&t.record) && t.record.task.started_at.is_some_and(|s| s <= settled))
        .count();
    let only_primary = record.deployments.len() == 1;
    if only_primary
        && primary_healthy == desired
        && stops.is_empty()
        && plan.start == 0
        && plan.daemon_targets.is_empty()
    {
        if record.deployments[0].rollout_state == "IN_PROGRESS" {
            complete_deployment(control, &mut record, now);
            plan.changed = true;
        }
        if !record.steady && !draining {
            control.push_event(&mut record, "has reached a steady state.".into());
            record.steady = true;
            plan.changed = true;
        }
    }
    if draining && occupied == 0 {
        plan.inactive = true;
    }
    plan.stops = stops;
    plan.record = record;
    plan
}

fn task_key(t: &Versioned<TaskRecord>) -> (String, String) {
    (t.record.cluster.clone(), t.record.task.task_arn.as_deref().map(short_id).unwrap_or_default().to_string())
}

/// Marks the PRIMARY deployment COMPLETED (the rollback target from now on), with its event.
pub(crate) fn complete_deployment(control: &Control, record: &mut ServiceRecord, now: f64) {
    let primary = &mut record.deployments[0];
    primary.rollout_state = "COMPLETED".into();
    primary.rollout_state_reason = format!("ECS deployment {} completed.", primary.id);
    primary.updated_at = now;
    let (id, arn, td, rollback) =
        (primary.id.clone(), primary.service_deployment_arn.clone(), primary.task_definition.clone(), primary.rollback);
    record.last_completed_task_definition = Some(td);
    if let Some(sd) = record.service_deployments.iter_mut().find(|d| d.service_deployment_arn.as_deref() == Some(&arn))
    {
        sd.status = Some(if rollback {
            ServiceDeploymentStatus::RollbackSuccessful
        } else {
            ServiceDeploymentStatus::Successful
        });
        sd.finished_at = Some(now);
        sd.updated_at = Some(now);
    }
    control.push_event(record, format!("(deployment {id}) deployment completed."));
}

/// DAEMON: one task of the primary deployment on every ACTIVE instance it fits; old tasks are replaced instance
/// by instance (stop first, as the DAEMON defaults 0%/100% allow). Returns the desired count.
fn daemon_plan(
    control: &Control,
    state: &State,
    record: &ServiceRecord,
    primary: &DeploymentState,
    primary_good: &[&Versioned<TaskRecord>],
    plan: &mut Plan,
) -> usize {
    let cluster = &record.cluster;
    let name = record.service.service_name.clone().unwrap_or_default();
    let group = service_group(&name);
    let mut desired = 0;
    for ((c, id), instance) in state.instances.range((cluster.clone(), String::new())..) {
        if c != cluster {
            break;
        }
        if instance.record.instance.status.as_deref() != Some("ACTIVE") {
            continue;
        }
        let on_instance: Vec<&Versioned<TaskRecord>> = state
            .tasks_on_instance(id)
            .filter(|t| {
                t.record.task.group.as_deref() == Some(group.as_str())
                    && t.record.task.last_status.as_deref() != Some("STOPPED")
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
        if primary.rollout_state == "FAILED" {
            continue;
        }
        if control.daemon_fits(state, record, &primary.task_definition, &instance.record) {
            desired += 1;
            plan.daemon_targets.push((c.clone(), id.clone()));
        }
    }
    desired
}
