//! The scaling controller, on `berth_runtime`: key `schedules` runs due scheduled actions every
//! [`crate::ScalingConfig::evaluate_every`]; key `alarms` handles the alarm events the metrics hook queued (step
//! policies, and target tracking's AlarmHigh/AlarmLow). Time comes from the service's `Clock`; every change of a
//! desired count goes through the control plane's UpdateService and is recorded as a scaling activity.

use crate::decide::{self, Side};
use crate::ecs::{self, ServiceState};
use crate::records::{self, ActivityRecord, PolicyConfig, PolicyRecord, SCHEMA, ScheduledRecord, TargetRecord};
use crate::{Scaling, ScalingError};
use berth_metrics::AlarmEvent;
use berth_model::autoscaling::{AdjustmentType, MetricAggregationType};
use berth_model::cloudwatch::StateValue;
use berth_runtime::{Action, Backoff, Controller, Reconciler, Trigger};
use berth_store::Txn;
use serde_json::{Value, json};
use std::sync::{Arc, Weak};

/// The key of the alarm-event job.
pub(crate) const ALARMS: &str = "alarms";
/// The key of the scheduled-action job.
pub(crate) const SCHEDULES: &str = "schedules";

/// The error policy: a failing pass is retried after 5 s, doubling up to 5 minutes.
pub const BACKOFF: Backoff = Backoff { initial: 5.0, max: 300.0 };

struct Jobs {
    scaling: Weak<Scaling>,
    every: f64,
    /// The runtime's source of revisions; nothing in the store triggers these jobs, so it never changes.
    _source: tokio::sync::watch::Sender<i64>,
}

impl Reconciler for Jobs {
    type Key = &'static str;
    type Error = String;

    fn keys(&self) -> Vec<&'static str> {
        vec![SCHEDULES, ALARMS]
    }

    fn changed_keys(&self, _revision: i64) -> Vec<&'static str> {
        Vec::new()
    }

    async fn reconcile(&self, key: &'static str, _trigger: Trigger) -> Result<Action, String> {
        let Some(scaling) = self.scaling.upgrade() else { return Ok(Action::await_change()) };
        if key == SCHEDULES {
            let summary = run_schedules(&scaling).await.map_err(|e| format!("scheduled actions: {e}"))?;
            tracing::debug!(%summary, "scheduled actions looked at");
            return Ok(Action::requeue(self.every));
        }
        let summary = run_alarms(&scaling).await.map_err(|e| format!("alarm actions: {e}"))?;
        tracing::debug!(%summary, "alarm actions handled");
        Ok(Action::await_change())
    }
}

/// The controller running `scaling`'s jobs.
pub(crate) fn controller(scaling: &Arc<Scaling>) -> Controller<impl Reconciler<Key = &'static str>> {
    let (tx, source) = tokio::sync::watch::channel(0_i64);
    let jobs = Jobs {
        scaling: Arc::downgrade(scaling),
        every: scaling.config.evaluate_every.as_secs_f64().max(0.01),
        _source: tx,
    };
    Controller::new("autoscaling", Arc::new(jobs), scaling.clock.clone(), source).with_backoff(BACKOFF)
}

/// Sets the service's desired count and records the activity (Successful or Failed). True if it was set.
async fn apply(s: &Scaling, resource_id: &str, desired: i32, cause: String) -> bool {
    let start = s.clock.now();
    let result = ecs::set_desired(&s.control, resource_id, desired).await;
    let (status, message) = match &result {
        Ok(()) => (
            "Successful",
            format!("Successfully set desired count to {desired}. Change successfully fulfilled by ecs."),
        ),
        Err(e) => ("Failed", format!("Failed to set desired count to {desired}. Reason: {e}")),
    };
    tracing::info!(resource_id, desired, %cause, status, "scaling activity");
    let id = uuid::Uuid::new_v4().to_string();
    let activity = ActivityRecord {
        schema: SCHEMA,
        id: id.clone(),
        resource_id: resource_id.to_string(),
        description: format!("Setting desired count to {desired}."),
        cause,
        start,
        end: Some(s.clock.now()),
        status: status.to_string(),
        status_message: Some(message),
    };
    record_activity(s, &activity).await;
    result.is_ok()
}

async fn record_activity(s: &Scaling, activity: &ActivityRecord) {
    let seq = s.activity_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let key = records::activity_key(&activity.resource_id, activity.start, seq, &activity.id);
    let written = match records::encode(activity) {
        Ok(value) => s.store.txn(Txn::new().put(key, value)).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = written {
        tracing::warn!(error = %e, "recording a scaling activity");
    }
    if let Err(e) = prune_activities(s, &activity.resource_id).await {
        tracing::warn!(error = %e, "pruning scaling activities");
    }
}

/// Activities kept per scalable target; older ones are deleted.
pub const MAX_ACTIVITIES: usize = 1000;

async fn prune_activities(s: &Scaling, resource_id: &str) -> Result<(), ScalingError> {
    let range = s.store.range(&records::activities_prefix(resource_id)).await?;
    let excess = range.kvs.len().saturating_sub(MAX_ACTIVITIES);
    if excess > 0 {
        let txn = range.kvs.iter().take(excess).fold(Txn::new(), |txn, kv| txn.delete(kv.key.clone()));
        s.store.txn(txn).await?;
    }
    Ok(())
}

/// Brings a desired count inside the target's bounds (after RegisterScalableTarget or a scheduled action).
pub(crate) async fn bring_within_bounds(s: &Scaling, target: &TargetRecord, current: i32, cause: Option<&str>) {
    let (desired, why) = if current < target.min {
        (target.min, format!("minimum capacity was set to {}", target.min))
    } else if current > target.max {
        (target.max, format!("maximum capacity was set to {}", target.max))
    } else {
        return;
    };
    apply(s, &target.resource_id, desired, cause.map(str::to_string).unwrap_or(why)).await;
}

/// Runs every scheduled action that is due; advances each to its next run.
pub(crate) async fn run_schedules(s: &Scaling) -> Result<String, ScalingError> {
    let _writes = s.writes.lock().await;
    let now = s.clock.now();
    let all: Vec<(String, ScheduledRecord)> =
        records::list(&s.store, &format!("{}scheduled/", records::PREFIX)).await?;
    let mut ran = 0;
    for (key, mut action) in all {
        if action.next_run.is_none_or(|t| t > now) {
            continue;
        }
        let target_key = records::target_key(&action.resource_id);
        let Some((mut target, _)) = records::get::<TargetRecord>(&s.store, &target_key).await? else { continue };
        action.next_run = crate::ops_first_run(&action, now)?;
        s.store.txn(Txn::new().put(key, records::encode(&action)?)).await?;
        if target.scheduled_suspended {
            tracing::info!(action = %action.name, "scheduled scaling is suspended: run skipped");
            continue;
        }
        ran += 1;
        if let Some(min) = action.min {
            target.min = min;
            target.max = target.max.max(min);
        }
        if let Some(max) = action.max {
            target.max = max;
            target.min = target.min.min(max);
        }
        s.store.txn(Txn::new().put(target_key, records::encode(&target)?)).await?;
        let cause = format!("scheduled action name {} was triggered", action.name);
        let mut parts = Vec::new();
        if let Some(min) = action.min {
            parts.push(format!("min capacity to {min}"));
        }
        if let Some(max) = action.max {
            parts.push(format!("max capacity to {max}"));
        }
        if !parts.is_empty() {
            let activity = ActivityRecord {
                schema: SCHEMA,
                id: uuid::Uuid::new_v4().to_string(),
                resource_id: target.resource_id.clone(),
                description: format!("Setting {}", parts.join(" and ")),
                cause: cause.clone(),
                start: now,
                end: Some(now),
                status: "Successful".into(),
                status_message: Some("Successfully set scalable target bounds.".into()),
            };
            record_activity(s, &activity).await;
        }
        if let Some(state) = ecs::service_state(&s.control, &target.resource_id) {
            bring_within_bounds(s, &target, state.desired, None).await;
        }
    }
    Ok(format!("{ran} scheduled actions run"))
}

/// Handles every queued alarm event.
pub(crate) async fn run_alarms(s: &Scaling) -> Result<String, ScalingError> {
    let mut handled = 0;
    loop {
        let event = s.events.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let Some(event) = event else { break };
        for arn in event.actions.iter().filter(|a| berth_metrics::alarms::hook::is_autoscaling(a)) {
            handled += 1;
            if let Err(e) = run_policy(s, arn, &event).await {
                tracing::warn!(policy = %arn, alarm = %event.alarm_name, error = %e, "running a scaling policy");
            }
        }
    }
    Ok(format!("{handled} policy invocations"))
}

async fn run_policy(s: &Scaling, arn: &str, event: &AlarmEvent) -> Result<(), ScalingError> {
    let _writes = s.writes.lock().await;
    let all: Vec<(String, PolicyRecord)> = records::list(&s.store, &format!("{}policy/", records::PREFIX)).await?;
    let Some((key, policy)) = all.into_iter().find(|(_, p)| p.arn == arn) else {
        tracing::info!(policy = %arn, "an alarm names a scaling policy that does not exist");
        return Ok(());
    };
    let target_key = records::target_key(&policy.resource_id);
    let Some((target, _)) = records::get::<TargetRecord>(&s.store, &target_key).await? else { return Ok(()) };
    let Some(state) = ecs::service_state(&s.control, &policy.resource_id) else { return Ok(()) };
    match &policy.config {
        PolicyConfig::Step { .. } => run_step(s, key, policy, target, state, event).await,
        PolicyConfig::TargetTracking { .. } => run_tracking(s, &policy, target, state, event).await,
    }
}

/// Whether a change may be made now: suspended states and, for scale-in, a deployment in progress.
fn allowed(target: &TargetRecord, state: &ServiceState, desired: i32) -> bool {
    if desired > state.desired { !target.scale_out_suspended } else { !target.scale_in_suspended && !state.deploying }
}

async fn run_step(
    s: &Scaling,
    key: String,
    mut policy: PolicyRecord,
    target: TargetRecord,
    state: ServiceState,
    event: &AlarmEvent,
) -> Result<(), ScalingError> {
    let PolicyConfig::Step { config } = &policy.config else { return Ok(()) };
    let now = s.clock.now();
    let cooldown = f64::from(config.cooldown.unwrap_or(300));
    if policy.last_step.is_some_and(|t| now < t + cooldown) {
        return Ok(());
    }
    let alarm = describe_alarm(s, &event.alarm_name).await?;
    let threshold = alarm["Threshold"].as_f64().unwrap_or(0.0);
    let side = if alarm["ComparisonOperator"].as_str().unwrap_or("").starts_with("LessThan") {
        Side::Below
    } else {
        Side::Above
    };
    let aggregation = config.metric_aggregation_type.unwrap_or(MetricAggregationType::Average);
    let value = alarm_metric_value(s, &alarm, aggregation).await?;
    // An alarm set by SetAlarmState with no data behind it: the breach is taken as zero, on the alarm's side.
    let breach = value.map(|v| v - threshold).unwrap_or(0.0);
    let steps = config.step_adjustments.as_deref().unwrap_or_default();
    let Some(step) = decide::pick_step(steps, breach, side) else { return Ok(()) };
    let kind = config.adjustment_type.unwrap_or(AdjustmentType::ChangeInCapacity);
    let wanted = decide::step_capacity(state.desired, kind, step.scaling_adjustment, config.min_adjustment_magnitude);
    let desired = decide::clamp(wanted, target.min, target.max);
    if desired == state.desired || !allowed(&target, &state, desired) {
        return Ok(());
    }
    let cause =
        format!("monitor alarm {} in state {} triggered policy {}", event.alarm_name, event.new_state, policy.name);
    if apply(s, &policy.resource_id, desired, cause).await {
        policy.last_step = Some(now);
        s.store.txn(Txn::new().put(key, records::encode(&policy)?)).await?;
    }
    Ok(())
}

async fn run_tracking(
    s: &Scaling,
    policy: &PolicyRecord,
    mut target: TargetRecord,
    state: ServiceState,
    event: &AlarmEvent,
) -> Result<(), ScalingError> {
    let PolicyConfig::TargetTracking {
        target: value_target,
        predefined,
        customized,
        scale_out_cooldown,
        scale_in_cooldown,
        disable_scale_in,
        alarm_high,
        alarm_low,
    } = &policy.config
    else {
        return Ok(());
    };
    if event.new_state != StateValue::Alarm {
        return Ok(());
    }
    let high = event.alarm_name == *alarm_high;
    if !high && event.alarm_name != *alarm_low {
        return Ok(());
    }
    let (namespace, metric, dims, stat) =
        crate::ops_tracked_metric(&policy.resource_id, predefined.as_ref(), customized.as_ref());
    // No data, no action.
    let points = s.config.target_tracking_datapoints;
    let minutes = if high { points.high } else { points.low };
    let Some((minute, value)) = latest(s, &namespace, &metric, &dims, &stat, i64::from(minutes)).await? else {
        return Ok(());
    };
    // One action per datapoint: alarms evaluated more often than their period (`--alarm-evaluation-seconds`) repeat
    // their action on the same minute's value, and acting again on it would compound (AWS evaluates each minute,
    // so each of its repeats sees a new datapoint). Per direction: the load may turn on the minute a scale-out
    // acted on (a late datapoint rewrites it), and the scale-in must not wait for another minute.
    if s.acted_on(&policy.arn, high).is_some_and(|done| done >= minute) {
        return Ok(());
    }
    let now = s.clock.now();
    let current = state.desired;
    let desired = if high {
        let in_cooldown = target.last_scale_out.is_some_and(|(t, _)| now < t + f64::from(*scale_out_cooldown));
        let base = match target.last_scale_out {
            Some((_, before)) if in_cooldown => before,
            _ => current,
        };
        let desired =
            decide::clamp(decide::scale_out(current, base, value, *value_target, in_cooldown), target.min, target.max);
        if desired <= current || !allowed(&target, &state, desired) {
            return Ok(());
        }
        target.last_scale_out = Some((now, base));
        // A scale-out ends a scale-in cooldown.
        target.last_scale_in = None;
        desired
    } else {
        if *disable_scale_in || target.last_scale_in.is_some_and(|t| now < t + f64::from(*scale_in_cooldown)) {
            return Ok(());
        }
        if !others_agree_to_scale_in(s, policy).await? {
            return Ok(());
        }
        let desired = decide::clamp(decide::scale_in(current, value, *value_target), target.min, target.max);
        if desired >= current || !allowed(&target, &state, desired) {
            return Ok(());
        }
        target.last_scale_in = Some(now);
        desired
    };
    let cause =
        format!("monitor alarm {} in state {} triggered policy {}", event.alarm_name, event.new_state, policy.name);
    if apply(s, &policy.resource_id, desired, cause).await {
        s.set_acted_on(&policy.arn, high, minute);
        s.store.txn(Txn::new().put(records::target_key(&policy.resource_id), records::encode(&target)?)).await?;
    }
    Ok(())
}

/// With several target tracking policies on a target, scale-in needs them all: every other one (that may scale
/// in) must have its AlarmLow in ALARM too.
async fn others_agree_to_scale_in(s: &Scaling, policy: &PolicyRecord) -> Result<bool, ScalingError> {
    let others: Vec<(String, PolicyRecord)> =
        records::list(&s.store, &records::policies_prefix(&policy.resource_id)).await?;
    for (_, other) in others.iter().filter(|(_, p)| p.arn != policy.arn) {
        if let PolicyConfig::TargetTracking { alarm_low, disable_scale_in: false, .. } = &other.config {
            let alarm = describe_alarm(s, alarm_low).await?;
            if alarm["StateValue"].as_str() != Some("ALARM") {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// DescribeAlarms for one alarm, as JSON (its `MetricAlarms[0]`).
async fn describe_alarm(s: &Scaling, name: &str) -> Result<Value, ScalingError> {
    let out = s
        .metrics
        .call("DescribeAlarms", json!({"AlarmNames": [name]}).to_string().as_bytes())
        .await
        .map_err(|e| ScalingError::internal(&e))?;
    let out: Value = serde_json::from_slice(&out)?;
    Ok(out["MetricAlarms"].get(0).cloned().unwrap_or(Value::Null))
}

/// The datapoints of a metric over the last `periods` whole periods, oldest first.
async fn datapoints(
    s: &Scaling,
    namespace: &str,
    metric: &str,
    dims: &[(String, String)],
    stat: &str,
    period: i64,
    periods: i64,
) -> Result<Vec<f64>, ScalingError> {
    Ok(timed_datapoints(s, namespace, metric, dims, stat, period, periods).await?.into_iter().map(|(_, v)| v).collect())
}

/// The datapoints of a metric over the last `periods` whole periods with their times, oldest first.
async fn timed_datapoints(
    s: &Scaling,
    namespace: &str,
    metric: &str,
    dims: &[(String, String)],
    stat: &str,
    period: i64,
    periods: i64,
) -> Result<Vec<(f64, f64)>, ScalingError> {
    let now = s.clock.now();
    let end = (now / period as f64).floor() * period as f64;
    let start = end - (period * periods) as f64;
    let dims: Vec<Value> = dims.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect();
    let mut input = json!({
        "Namespace": namespace, "MetricName": metric, "Dimensions": dims,
        "StartTime": start, "EndTime": end, "Period": period,
    });
    let extended = stat.starts_with('p');
    if extended {
        input["ExtendedStatistics"] = json!([stat]);
    } else {
        input["Statistics"] = json!([stat]);
    }
    let out = s
        .metrics
        .call("GetMetricStatistics", input.to_string().as_bytes())
        .await
        .map_err(|e| ScalingError::internal(&e))?;
    let out: Value = serde_json::from_slice(&out)?;
    let mut points: Vec<(f64, f64)> = out["Datapoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let v = if extended { p["ExtendedStatistics"][stat].as_f64() } else { p[stat].as_f64() };
            Some((p["Timestamp"].as_f64()?, v?))
        })
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(points)
}

/// The newest minute (its start, epoch seconds) and value of a tracked metric within the last `minutes` whole
/// minutes.
async fn latest(
    s: &Scaling,
    namespace: &str,
    metric: &str,
    dims: &[(String, String)],
    stat: &str,
    minutes: i64,
) -> Result<Option<(f64, f64)>, ScalingError> {
    Ok(timed_datapoints(s, namespace, metric, dims, stat, 60, minutes).await?.last().copied())
}

/// A step alarm's metric over its evaluation range, aggregated as the policy says.
async fn alarm_metric_value(
    s: &Scaling,
    alarm: &Value,
    aggregation: MetricAggregationType,
) -> Result<Option<f64>, ScalingError> {
    let (Some(namespace), Some(metric)) = (alarm["Namespace"].as_str(), alarm["MetricName"].as_str()) else {
        return Ok(None);
    };
    let dims: Vec<(String, String)> = alarm["Dimensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| Some((d["Name"].as_str()?.to_string(), d["Value"].as_str()?.to_string())))
        .collect();
    let stat = alarm["Statistic"].as_str().or(alarm["ExtendedStatistic"].as_str()).unwrap_or("Average");
    let period = alarm["Period"].as_i64().unwrap_or(60).max(60);
    let periods = alarm["EvaluationPeriods"].as_i64().unwrap_or(1).max(1);
    let values = datapoints(s, namespace, metric, &dims, stat, period, periods).await?;
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(match aggregation {
        MetricAggregationType::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
        MetricAggregationType::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        MetricAggregationType::Average => values.iter().sum::<f64>() / values.len() as f64,
    }))
}
