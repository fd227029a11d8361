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

use super::machine::{TaskStop, plan, short_id, should_repeat};
use super::service_group;
use crate::records::{PlacementFailure, StoredTag, keys};
use crate::status::{InstanceStatus, ServiceStatus, TagPropagation};
use crate::tasks::stop::{InstanceUpdates, add_instance_updates, release_if_stopped};
use crate::tasks::stop_record;
use crate::{Control, ControlError, Result, encode};
use berth_runtime::{Action, Backoff, Controller, Reconciler, Trigger};
use berth_store::Txn;
use std::fmt;
use std::sync::Arc;

/// How soon a service is looked at again after a pass even when nothing changed, in seconds (grace periods,
/// throttle waits, held-back events).
pub const RESYNC_SECONDS: f64 = 1.0;

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
        .filter(|(_, v)| v.record.status() != Some(ServiceStatus::Inactive))
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

/// The event a service gets while the scheduler holds it because records in its cluster are quarantined.
fn hold_message(keys: &[String]) -> String {
    format!(
        "is on hold: {} task or container instance records in its cluster are corrupt and quarantined ({}); no task is started or stopped until they are repaired (see `berth admin quarantine`).",
        keys.len(),
        keys.join(", ")
    )
}

async fn reconcile_service(control: &Control, cluster: &str, name: &str) -> Result<()> {
    if control.cache.read().cluster_hold(cluster).is_empty() {
        // Registrations first, so that the plan counts tasks by their targets' health as of now.
        super::targets::sync(control, cluster, name).await?;
        let external = {
            let state = control.cache.read();
            state.services.get(&(cluster.to_string(), name.to_string())).is_some_and(|v| v.record.is_external())
        };
        if external {
            // Task sets decide what runs (EXTERNAL deployment controller).
            return super::task_sets::scheduler::reconcile(control, cluster, name).await;
        }
    }
    let mut env = control.service_env(control.now());
    super::alarms::watch(control, cluster, name, &mut env).await;
    let (plan, held) = {
        let state = control.cache.read();
        let Some(v) = state.services.get(&(cluster.to_string(), name.to_string())).cloned() else { return Ok(()) };
        let hold = state.cluster_hold(cluster);
        if hold.is_empty() {
            let td = v.record.deployments.first().map(|d| d.task_definition.clone()).unwrap_or_default();
            let fits =
                |instance: &crate::records::InstanceRecord| control.daemon_fits(&state, &v.record, &td, instance);
            (Some(plan(&env, &state, &v, &fits)), None)
        } else {
            (None, Some((v, hold)))
        }
    };
    if let Some((v, hold)) = held {
        // A quarantined task may be one of this service's: counting it as absent would start a replacement, and a
        // quarantined instance's tasks would look lost. Hold the service and say why.
        let message = hold_message(&hold);
        if !should_repeat(&env, &v.record, &message) {
            return Ok(());
        }
        tracing::warn!(%cluster, service = %name, "service held: records in its cluster are quarantined");
        let mut record = (*v.record).clone();
        env.push_event(&mut record, message);
        let key = keys::service(cluster, name);
        let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
        control.commit(txn, "recording a held service").await?;
        return Ok(());
    }
    let Some(plan) = plan else { return Ok(()) };
    let stops: Vec<TaskStop> = plan.stops().cloned().collect();
    let mut record = plan.record;
    let mut changed = plan.changed;
    // Blue/green: the listener rules follow the record as stored (repairing any drift), and due webhook hooks are
    // called; their answers are written with the rest of this pass.
    if super::blue_green::config::is_blue_green(record.deployment_configuration.as_ref()) {
        super::blue_green::effects::apply_weights(control, &record).await;
    }
    changed |= super::blue_green::effects::call_due_webhooks(control, &env, &mut record).await;
    if !stops.is_empty() {
        let stopped = stop_tasks(control, &stops).await?;
        changed |= record_stopped(&env, &mut record, &stopped);
    }
    let primary = record.deployments.first().cloned();
    if let Some(primary) = primary {
        let constraints = record.placement_constraints.clone().unwrap_or_default();
        let strategy = record.placement_strategy.clone().unwrap_or_default();
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
                        propagate: record.propagate_tags.and_then(TagPropagation::to_wire),
                        service: Some((name, &StoredTag::to_wire(&record.tags))),
                        managed: record.enable_ecs_managed_tags,
                    },
                    &constraints,
                    &strategy,
                    count,
                    only,
                    record.enable_execute_command,
                    super::targets::new_targets_record(control, &record),
                    record.network_configuration.as_ref(),
                    &record.launch(),
                )
                .await;
            let (tasks, failures, closest) = match placed {
                Ok(placed) => placed,
                Err(crate::ControlError::Ecs { message, .. }) => {
                    // The service cannot place or launch at all (no instance in the cluster, a task definition
                    // gone): say why, and keep what this pass did.
                    let message = launch_error_event(&message);
                    if should_repeat(&env, &record, &message) {
                        env.push_event(&mut record, message);
                        changed = true;
                    }
                    record.steady = false;
                    break;
                }
                Err(error) => return Err(error),
            };
            started.extend(tasks.iter().filter_map(|t| t.task_arn.clone()));
            if tasks.len() < count && !record.is_daemon() {
                changed |= record_shortfall(&env, &mut record, &failures, closest);
            }
        }
        changed |= record_started(&env, &mut record, &started);
    }
    if plan.inactive {
        record.set_status(ServiceStatus::Inactive);
        changed = true;
    }
    if changed {
        let key = keys::service(cluster, name);
        let txn = Txn::new().expect(key.clone(), plan.revision).put(key, encode(&record)?);
        // A conflict means a user changed the service meanwhile; the next pass plans again.
        if control.commit(txn, "recording a service's state").await?.is_some()
            && super::blue_green::config::is_blue_green(record.deployment_configuration.as_ref())
        {
            // A traffic change reaches the load balancer now, not a pass later.
            super::blue_green::effects::apply_weights(control, &record).await;
        }
    }
    Ok(())
}

/// ECS's service event when no container instance can take a task (after the `(service NAME)` prefix).
pub(super) const UNABLE_TO_PLACE: &str =
    "was unable to place a task because no container instance met all of its requirements.";
/// The sentence ECS ends its placement events with.
pub(super) const TROUBLESHOOTING: &str =
    " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

/// The event for a placement the service could not even try: ECS's placement event when the cluster has no
/// container instance, else the error's message.
pub(super) fn launch_error_event(message: &str) -> String {
    if message == crate::tasks::run::NO_INSTANCES {
        format!("{UNABLE_TO_PLACE}{TROUBLESHOOTING}")
    } else {
        format!("failed to launch a task with (error {message}).")
    }
}

pub(super) async fn stop_tasks(control: &Control, stops: &[TaskStop]) -> Result<Vec<String>> {
    let now = control.now();
    let (txn, ids) = {
        let state = control.cache.read();
        let mut txn = Txn::new();
        let mut ids = Vec::new();
        let mut updates = InstanceUpdates::new();
        for TaskStop { key, revision, reason } in stops {
            let Some(v) = state.tasks.get(key).filter(|v| v.mod_revision == *revision) else { continue };
            let mut task = (*v.record).clone();
            let orphaned = state
                .instances
                .get(&task.instance_key())
                .is_none_or(|i| i.record.status() == Some(InstanceStatus::Inactive));
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

/// Records that a pass placed fewer tasks than it asked for: ECS's event (repeated only as ECS repeats it; Fargate's
/// own when its capacity ran out, since no container instance is the user's to name), the placement failures, and
/// that the service is not steady. True when an event was added.
pub(crate) fn record_shortfall(
    env: &super::env::Env,
    record: &mut crate::records::ServiceRecord,
    failures: &[berth_model::ecs::Failure],
    closest: Option<(String, String)>,
) -> bool {
    let closest = match closest {
        Some((arn, phrase)) => format!(" The closest matching (container-instance {}) {phrase}.", short_id(&arn)),
        None => String::new(),
    };
    let capacity = crate::tasks::fargate::CAPACITY_UNAVAILABLE;
    let message = if failures.iter().any(|f| f.reason.as_deref() == Some(capacity)) {
        format!("was unable to place a task. Reason: {capacity}.")
    } else {
        format!("{UNABLE_TO_PLACE}{closest}{TROUBLESHOOTING}")
    };
    let repeat = should_repeat(env, record, &message);
    if repeat {
        env.push_event(record, message);
    }
    record.last_placement_failures = failures.iter().map(PlacementFailure::from_wire).collect();
    record.steady = false;
    repeat
}

/// Adds the "has stopped N running tasks" event when a pass stopped any (their ids); true when it did.
pub(crate) fn record_stopped(
    env: &super::env::Env,
    record: &mut crate::records::ServiceRecord,
    stopped: &[String],
) -> bool {
    if stopped.is_empty() {
        return false;
    }
    let ids: Vec<String> = stopped.iter().map(|id| format!("(task {id})")).collect();
    env.push_event(record, format!("has stopped {} running tasks: {}.", stopped.len(), ids.join(" ")));
    record.steady = false;
    true
}

/// Adds the "has started N tasks" event when a pass started any (their ARNs); true when it did.
pub(crate) fn record_started(
    env: &super::env::Env,
    record: &mut crate::records::ServiceRecord,
    started: &[String],
) -> bool {
    if started.is_empty() {
        return false;
    }
    let ids: Vec<String> = started.iter().map(|a| format!("(task {})", short_id(a))).collect();
    env.push_event(record, format!("has started {} tasks: {}.", started.len(), ids.join(" ")));
    record.steady = false;
    true
}
