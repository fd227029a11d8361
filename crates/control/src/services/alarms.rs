//! Deployment alarms (`deploymentConfiguration.alarms`): CloudWatch alarms that fail a service deployment when one
//! goes to ALARM, and roll it back to the last completed deployment when `rollback` is set.
//!
//! The alarms are read through the [`DeploymentAlarms`] hook the server wires ([`crate::Control::set_deployment_alarms`],
//! over Berth's CloudWatch); the controller reads them before each pass ([`watch`]) into the pass's [`Env`], and the
//! decision ([`check_alarms`]) is a pure function of the record and that `Env`, like the circuit breaker's. What
//! Berth follows of ECS (docs/COMPATIBILITY.md §38):
//! - Only the PRIMARY deployment is watched, while its rollout is IN_PROGRESS; any named alarm in ALARM fails it.
//! - An alarm already in ALARM when the deployment starts is not counted until it leaves ALARM (ECS ignores alarms
//!   already in alarm). A rollback continues the failed service deployment with a new deployment, which is watched
//!   afresh: the alarm that failed the deployment does not fail its rollback while it stays in ALARM.
//! - The bake time: a deployment whose alarms are enabled completes only once its tasks have run healthy for the
//!   alarms' evaluation time (the hook's [`DeploymentAlarms::bake_seconds`]), so that the alarms can see them.
//! - The service deployment's `alarms` show MONITORING, TRIGGERED (with `triggeredAlarmNames`), MONITORING_COMPLETE
//!   once it finished without a trip, or DISABLED when the configuration names alarms with `enable: false`.

use super::MAX_EVENTS;
use super::env::Env;
use crate::records::{DeploymentAlarmsRecord, ServiceRecord};
use crate::status::{RollbackMonitorsStatus, RolloutState, ServiceDeploymentStatus};
use crate::{Control, ControlError, Result};
use berth_model::ecs::DeploymentAlarms as AlarmsConfig;
use futures::future::BoxFuture;
use std::collections::BTreeSet;

/// The most alarm names a service's deployment alarms may name (ECS documents no bound; this one is CloudWatch's
/// DescribeAlarms bound on names in one call).
pub const MAX_ALARM_NAMES: usize = 100;

/// The CloudWatch `StateValue` that fails a deployment.
pub const ALARM: &str = "ALARM";

/// Alarm names with their state value (`None`: no such alarm).
pub type AlarmStates = Vec<(String, Option<String>)>;

/// Where the service scheduler reads the CloudWatch alarms that deployment alarms name.
pub trait DeploymentAlarms: Send + Sync + 'static {
    /// Each named alarm's state value (`OK`, `ALARM`, `INSUFFICIENT_DATA`), `None` when no alarm has that name; an
    /// error when the alarms cannot be read.
    fn alarm_states(&self, names: Vec<String>) -> BoxFuture<'_, std::result::Result<AlarmStates, String>>;

    /// ECS's bake time for these alarms, in seconds: how long a deployment's tasks must have run before it is
    /// COMPLETED, so that the alarms have evaluated them. 0 by default.
    fn bake_seconds(&self, names: Vec<String>) -> BoxFuture<'_, std::result::Result<f64, String>> {
        let _ = names;
        Box::pin(async { Ok(0.0) })
    }
}

/// Checks a service's `deploymentConfiguration.alarms` at CreateService and UpdateService: enabled alarms need at
/// least one name (at most [`MAX_ALARM_NAMES`]), and no name may be empty. `enable: false` is taken as is.
pub fn validate(alarms: Option<&AlarmsConfig>) -> Result<()> {
    let Some(alarms) = alarms else { return Ok(()) };
    if alarms.enable && alarms.alarm_names.is_empty() {
        return Err(ControlError::invalid(
            "deploymentConfiguration.alarms.alarmNames must name at least one CloudWatch alarm when alarms are enabled.",
        ));
    }
    if alarms.alarm_names.len() > MAX_ALARM_NAMES {
        return Err(ControlError::invalid(format!(
            "deploymentConfiguration.alarms.alarmNames may name at most {MAX_ALARM_NAMES} alarms, got {}.",
            alarms.alarm_names.len()
        )));
    }
    if let Some(bad) = alarms.alarm_names.iter().find(|n| n.is_empty() || n.chars().count() > 255) {
        return Err(ControlError::invalid(format!(
            "Invalid alarm name {bad:?} in deploymentConfiguration.alarms.alarmNames: a CloudWatch alarm name has 1 to \
             255 characters."
        )));
    }
    Ok(())
}

/// The enabled deployment alarms of a service's configuration, if any.
fn enabled(record: &ServiceRecord) -> Option<&AlarmsConfig> {
    record.deployment_configuration.as_ref().and_then(|c| c.alarms.as_ref()).filter(|a| a.enable)
}

/// Reads, for a service whose configuration enables deployment alarms, which of its alarms are in ALARM into
/// `env.alarms_in_alarm`, and stretches `env.stabilization` to the alarms' bake time. When the alarms cannot be
/// read, no deployment of the service completes on this pass (it could not be told whether an alarm fired).
pub(super) async fn watch(control: &Control, cluster: &str, name: &str, env: &mut Env) {
    let names = {
        let state = control.cache.read();
        let Some(v) = state.services.get(&(cluster.to_string(), name.to_string())) else { return };
        match enabled(&v.record) {
            Some(alarms) => alarms.alarm_names.clone(),
            None => return,
        }
    };
    let Some(hook) = control.deployment_alarms() else { return };
    let states = hook.alarm_states(names.clone()).await;
    let bake = hook.bake_seconds(names).await;
    match (states, bake) {
        (Ok(states), Ok(bake)) => {
            env.alarms_in_alarm =
                states.into_iter().filter(|(_, s)| s.as_deref() == Some(ALARM)).map(|(n, _)| n).collect();
            if bake.is_finite() && bake > env.stabilization {
                env.stabilization = bake;
            }
        }
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%cluster, service = %name, %error, "deployment alarms could not be read");
            env.stabilization = f64::INFINITY;
        }
    }
}

/// Marks the alarms of finished service deployments that never tripped MONITORING_COMPLETE.
fn finish_monitoring(record: &mut ServiceRecord, changed: &mut bool) {
    for sd in record.service_deployments.iter_mut() {
        let finished = matches!(
            sd.status,
            ServiceDeploymentStatus::Successful
                | ServiceDeploymentStatus::Stopped
                | ServiceDeploymentStatus::RollbackSuccessful
                | ServiceDeploymentStatus::RollbackFailed
        );
        if let Some(alarms) = sd.alarms.as_mut()
            && finished
            && alarms.status == RollbackMonitorsStatus::Monitoring
        {
            alarms.status = RollbackMonitorsStatus::MonitoringComplete;
            alarms.ignored.clear();
            *changed = true;
        }
    }
}

/// The words of a trip: `alarm(s) a, b in ALARM state`.
fn in_alarm_words(names: &[String]) -> String {
    format!("alarm(s) {} in ALARM state", names.join(", "))
}

/// Looks at the PRIMARY deployment's alarms: while its rollout is IN_PROGRESS, a named alarm in ALARM (one that was
/// not already in ALARM when the deployment started) fails it; with `rollback`, a deployment of the last completed
/// task definition continues its service deployment (a failed rollback is ROLLBACK_FAILED, no rollback target
/// STOPPED), as the circuit breaker does. Also keeps the service deployment's `alarms` up to date. Pure: the alarm
/// states come from `env` ([`watch`]).
pub(crate) fn check_alarms(env: &Env, record: &mut ServiceRecord, changed: &mut bool) {
    finish_monitoring(record, changed);
    let Some(config) = record.deployment_configuration.as_ref().and_then(|c| c.alarms.clone()) else { return };
    let Some(primary) = record.deployments.first() else { return };
    let (id, arn, was_rollback) = (primary.id.clone(), primary.service_deployment_arn.clone(), primary.rollback);
    let in_progress = primary.rollout_state == RolloutState::InProgress;
    let sd = record.service_deployments.iter_mut().find(|d| d.arn == arn);
    if !config.enable {
        if let Some(sd) = sd
            && sd.alarms.is_none()
        {
            sd.alarms = Some(DeploymentAlarmsRecord {
                status: RollbackMonitorsStatus::Disabled,
                alarm_names: config.alarm_names.clone(),
                triggered_alarm_names: Vec::new(),
                watching: String::new(),
                ignored: Vec::new(),
            });
            *changed = true;
        }
        return;
    }
    if !in_progress {
        return;
    }
    let names = config.alarm_names;
    let in_alarm = |n: &String| env.alarms_in_alarm.contains(n);
    let mut ignored: BTreeSet<String> = BTreeSet::new();
    if let Some(sd) = sd {
        let before = sd.alarms.clone();
        let alarms = sd.alarms.get_or_insert_with(|| DeploymentAlarmsRecord {
            status: RollbackMonitorsStatus::Monitoring,
            alarm_names: names.clone(),
            triggered_alarm_names: Vec::new(),
            watching: String::new(),
            ignored: Vec::new(),
        });
        if alarms.status == RollbackMonitorsStatus::Disabled {
            alarms.status = RollbackMonitorsStatus::Monitoring;
        }
        alarms.alarm_names.clone_from(&names);
        if alarms.watching != id {
            // A new deployment (or a rollback continuing this service deployment): what is in ALARM now is ignored.
            alarms.watching.clone_from(&id);
            alarms.ignored = names.iter().filter(|n| in_alarm(n)).cloned().collect();
        } else {
            alarms.ignored.retain(|n| in_alarm(n));
        }
        ignored = alarms.ignored.iter().cloned().collect();
        *changed |= sd.alarms != before;
    }
    let triggered: Vec<String> = names.iter().filter(|n| in_alarm(n) && !ignored.contains(*n)).cloned().collect();
    if triggered.is_empty() {
        return;
    }
    trip(env, record, &id, &arn, was_rollback, config.rollback, &triggered);
    *changed = true;
}

/// Fails the PRIMARY deployment on `triggered` alarms and, with `rollback`, rolls back to the last completed task
/// definition.
fn trip(
    env: &Env,
    record: &mut ServiceRecord,
    id: &str,
    arn: &str,
    was_rollback: bool,
    rollback: bool,
    triggered: &[String],
) {
    let now = env.now;
    let words = in_alarm_words(triggered);
    let reason = format!("ECS deployment alarms: {words}.");
    let primary = &mut record.deployments[0];
    primary.rollout_state = RolloutState::Failed;
    primary.rollout_state_reason.clone_from(&reason);
    primary.updated_at = now;
    if let Some(alarms) = record.service_deployments.iter_mut().find(|d| d.arn == arn).and_then(|d| d.alarms.as_mut()) {
        alarms.status = RollbackMonitorsStatus::Triggered;
        for name in triggered {
            if !alarms.triggered_alarm_names.contains(name) {
                alarms.triggered_alarm_names.push(name.clone());
            }
        }
    }
    env.push_event(record, format!("(deployment {id}) deployment failed: {words}."));
    if super::blue_green::active(record).is_some() {
        // Blue still runs with its traffic: a blue/green deployment always returns to it.
        super::blue_green::roll_back(env, record, "Deployment alarms triggered: rolling back to blue.", &reason);
        return;
    }
    match (rollback, record.last_completed_task_definition.clone(), was_rollback) {
        (true, Some(td), false) => {
            let rollback_id = env.start_rollback(
                record,
                arn,
                &td,
                "Deployment alarms triggered: rolling back to the last completed deployment.",
                &reason,
            );
            record.deployments[0].rollout_state_reason =
                "ECS deployment alarms: rolling back to the last completed deployment.".into();
            env.push_event(record, format!("(deployment {id}) rolling back to deployment {rollback_id}."));
        }
        (_, _, rollback) => {
            if let Some(sd) = record.service_deployments.iter_mut().find(|d| d.arn == arn) {
                sd.status =
                    if rollback { ServiceDeploymentStatus::RollbackFailed } else { ServiceDeploymentStatus::Stopped };
                sd.status_reason = Some(format!("Deployment alarms triggered: {words}."));
                sd.stopped_at = Some(now);
                sd.updated_at = Some(now);
            }
        }
    }
    record.events.truncate(MAX_EVENTS);
}

#[cfg(test)]
#[path = "alarms_tests.rs"]
mod tests;
