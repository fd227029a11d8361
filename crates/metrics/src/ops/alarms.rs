//! The alarm operations, and the evaluation pass the controller runs.

use super::{Empty, check_dimensions, check_len, offset_of, token_at};
use crate::alarms::evaluate::Rule;
use crate::alarms::hook::{AlarmEvent, is_autoscaling};
use crate::alarms::record::AlarmRecord;
use crate::ops::read::check_period;
use crate::series::{SeriesKey, Stat};
use crate::{Metrics, MetricsError};
use berth_model::cloudwatch::{
    AlarmHistoryItem, AlarmType, ComparisonOperator, DeleteAlarmsInput, DescribeAlarmHistoryInput,
    DescribeAlarmHistoryOutput, DescribeAlarmsForMetricInput, DescribeAlarmsForMetricOutput, DescribeAlarmsInput,
    DescribeAlarmsOutput, HistoryItemType, MetricAlarm, PutMetricAlarmInput, ScanBy, SetAlarmStateInput, StateValue,
};

/// Alarms an account may have (CloudWatch's default quota is larger; Berth's bound keeps evaluation cheap).
pub const MAX_ALARMS: usize = 5000;

const TREAT_MISSING: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

/// The evaluation rule of an alarm's configuration (`None` for an alarm Berth cannot evaluate).
pub(crate) fn rule_of(alarm: &MetricAlarm) -> Option<Rule> {
    let n = i64::from(alarm.evaluation_periods?);
    Some(Rule {
        stat: match (&alarm.statistic, &alarm.extended_statistic) {
            (Some(s), _) => Stat::parse(s.as_str())?,
            (None, Some(e)) => Stat::parse(e)?,
            (None, None) => return None,
        },
        period: i64::from(alarm.period?),
        evaluation_periods: n,
        datapoints_to_alarm: alarm.datapoints_to_alarm.map_or(n, i64::from),
        threshold: alarm.threshold?,
        comparison: alarm.comparison_operator?,
        treat_missing_data: alarm.treat_missing_data.clone().unwrap_or_else(|| "missing".into()),
    })
}

fn series_of(alarm: &MetricAlarm) -> SeriesKey {
    let dims = alarm.dimensions.iter().flatten().map(|d| (d.name.clone(), d.value.clone())).collect();
    SeriesKey::new(
        alarm.namespace.as_deref().unwrap_or_default(),
        alarm.metric_name.as_deref().unwrap_or_default(),
        dims,
    )
}

fn history(name: &str, kind: HistoryItemType, now: f64, summary: String, data: String) -> AlarmHistoryItem {
    AlarmHistoryItem {
        alarm_name: Some(name.to_string()),
        alarm_type: Some(AlarmType::MetricAlarm),
        timestamp: Some(now),
        history_item_type: Some(kind),
        history_summary: Some(summary),
        history_data: Some(data),
        ..Default::default()
    }
}

fn check_actions(actions: Option<&[String]>, what: &str) -> Result<(), MetricsError> {
    let actions = actions.unwrap_or_default();
    if actions.len() > 5 {
        return Err(MetricsError::invalid(format!("The collection {what} must not have a size greater than 5.")));
    }
    for a in actions {
        if !a.starts_with("arn:") || a.len() > 1024 {
            return Err(MetricsError::invalid(format!("Invalid arn syntax: {a} (in {what}).")));
        }
    }
    Ok(())
}

/// Checks a PutMetricAlarm input as CloudWatch does, for the alarms Berth evaluates (a single metric, a simple
/// statistic, a static threshold).
fn validate(input: &PutMetricAlarmInput) -> Result<(), MetricsError> {
    check_len(&input.alarm_name, 1, 255, "AlarmName")?;
    if let Some(d) = &input.alarm_description {
        check_len(d, 0, 1024, "AlarmDescription")?;
    }
    if input.metrics.as_ref().is_some_and(|m| !m.is_empty()) || input.threshold_metric_id.is_some() {
        return Err(MetricsError::invalid(
            "Alarms on metric math (Metrics, ThresholdMetricId) are not supported by Berth; give MetricName, \
             Namespace, Statistic and Period.",
        ));
    }
    if input.evaluation_criteria.is_some() || input.evaluation_interval.is_some() {
        return Err(MetricsError::invalid("EvaluationCriteria (PromQL alarms) are not supported by Berth."));
    }
    let (Some(_), Some(namespace)) = (&input.metric_name, &input.namespace) else {
        return Err(MetricsError::missing("The parameters MetricName and Namespace are required."));
    };
    check_len(input.metric_name.as_deref().unwrap_or_default(), 1, 255, "MetricName")?;
    check_len(namespace, 1, 255, "Namespace")?;
    match (&input.statistic, &input.extended_statistic) {
        (Some(_), Some(_)) => {
            return Err(MetricsError::combination(
                "Exactly one of the parameters Statistic and ExtendedStatistic must be specified.",
            ));
        }
        (None, None) => {
            return Err(MetricsError::combination(
                "Exactly one of the parameters Statistic and ExtendedStatistic must be specified.",
            ));
        }
        (None, Some(e)) if crate::sketch::parse_percentile(e).is_none() => {
            return Err(MetricsError::invalid(format!(
                "The value {e} for parameter ExtendedStatistic is invalid: Berth computes percentiles (p0.0 to p100)."
            )));
        }
        (None, Some(_)) => {}
        (Some(_), None) => {}
    }
    let Some(period) = input.period else { return Err(MetricsError::missing("The parameter Period is required.")) };
    check_period(i64::from(period), "Period")?;
    let Some(n) = input.evaluation_periods else {
        return Err(MetricsError::missing("The parameter EvaluationPeriods is required."));
    };
    if n < 1 {
        return Err(MetricsError::invalid("The parameter EvaluationPeriods must be at least 1."));
    }
    if i64::from(period) * i64::from(n) > 86_400 {
        return Err(MetricsError::invalid(
            "The evaluation range (Period multiplied by EvaluationPeriods) must not exceed one day (86400 seconds).",
        ));
    }
    if let Some(m) = input.datapoints_to_alarm
        && (m < 1 || m > n)
    {
        return Err(MetricsError::invalid(format!(
            "DatapointsToAlarm ({m}) must be between 1 and EvaluationPeriods ({n})."
        )));
    }
    if input.threshold.is_none_or(|t| !t.is_finite()) {
        return Err(MetricsError::missing("The parameter Threshold is required."));
    }
    match input.comparison_operator {
        None => return Err(MetricsError::missing("The parameter ComparisonOperator is required.")),
        Some(
            ComparisonOperator::GreaterThanOrEqualToThreshold
            | ComparisonOperator::GreaterThanThreshold
            | ComparisonOperator::LessThanThreshold
            | ComparisonOperator::LessThanOrEqualToThreshold,
        ) => {}
        Some(other) => {
            return Err(MetricsError::invalid(format!(
                "ComparisonOperator {other} needs an anomaly detection band, which Berth does not support."
            )));
        }
    }
    if let Some(t) = &input.treat_missing_data
        && !TREAT_MISSING.contains(&t.as_str())
    {
        return Err(MetricsError::invalid(format!(
            "The value {t} for parameter TreatMissingData is invalid: it must be one of breaching, notBreaching, \
             ignore, missing."
        )));
    }
    check_actions(input.alarm_actions.as_deref(), "AlarmActions")?;
    check_actions(input.ok_actions.as_deref(), "OKActions")?;
    check_actions(input.insufficient_data_actions.as_deref(), "InsufficientDataActions")?;
    check_dimensions(input.dimensions.as_deref().unwrap_or_default(), "Dimensions")?;
    Ok(())
}

pub(crate) async fn put_metric_alarm(metrics: &Metrics, input: PutMetricAlarmInput) -> Result<Empty, MetricsError> {
    validate(&input)?;
    let name = input.alarm_name.clone();
    if metrics.alarms.get(&name).await?.is_none() && metrics.alarms.count().await? >= MAX_ALARMS {
        return Err(MetricsError::limit(format!("The maximum number of alarms ({MAX_ALARMS}) is reached.")));
    }
    let now = metrics.clock.now();
    let arn = metrics.alarm_arn(&name);
    metrics
        .alarms
        .update(&name, |current| {
            let created = current.is_none();
            let mut record = current.unwrap_or_else(|| {
                let mut r = AlarmRecord {
                    tags: input.tags.iter().flatten().map(|t| (t.key.clone(), t.value.clone())).collect(),
                    ..Default::default()
                };
                r.alarm.state_value = Some(StateValue::InsufficientData);
                r.alarm.state_reason = Some("Unchecked: Initial alarm creation".into());
                r.alarm.state_updated_timestamp = Some(now);
                r.alarm.state_transitioned_timestamp = Some(now);
                r
            });
            let old = record.alarm.clone();
            let mut dimensions = input.dimensions.clone().unwrap_or_default();
            dimensions.sort_by(|a, b| a.name.cmp(&b.name));
            record.alarm = MetricAlarm {
                alarm_name: Some(name.clone()),
                alarm_arn: Some(arn.clone()),
                alarm_description: input.alarm_description.clone(),
                alarm_configuration_updated_timestamp: Some(now),
                actions_enabled: Some(input.actions_enabled.unwrap_or(true)),
                ok_actions: Some(input.ok_actions.clone().unwrap_or_default()),
                alarm_actions: Some(input.alarm_actions.clone().unwrap_or_default()),
                insufficient_data_actions: Some(input.insufficient_data_actions.clone().unwrap_or_default()),
                state_value: old.state_value,
                state_reason: old.state_reason,
                state_reason_data: old.state_reason_data,
                state_updated_timestamp: old.state_updated_timestamp,
                state_transitioned_timestamp: old.state_transitioned_timestamp,
                metric_name: input.metric_name.clone(),
                namespace: input.namespace.clone(),
                statistic: input.statistic,
                extended_statistic: input.extended_statistic.clone(),
                dimensions: Some(dimensions),
                period: input.period,
                unit: input.unit,
                evaluation_periods: input.evaluation_periods,
                datapoints_to_alarm: input.datapoints_to_alarm,
                threshold: input.threshold,
                comparison_operator: input.comparison_operator,
                treat_missing_data: input.treat_missing_data.clone(),
                ..Default::default()
            };
            let verb = if created { "created" } else { "updated" };
            let data = serde_json::json!({"type": if created { "Create" } else { "Update" }}).to_string();
            record.record(history(
                &name,
                HistoryItemType::ConfigurationUpdate,
                now,
                format!("Alarm \"{name}\" {verb}"),
                data,
            ));
            Ok((Some(record), ()))
        })
        .await?;
    Ok(Empty {})
}

fn page<T: Clone>(
    items: &[T],
    token: Option<&str>,
    max: Option<i32>,
    default: usize,
) -> Result<(Vec<T>, Option<String>), MetricsError> {
    let size = match max {
        Some(n) if !(1..=100).contains(&n) => {
            return Err(MetricsError::invalid(format!(
                "The value {n} for parameter MaxRecords is invalid: it must be between 1 and 100."
            )));
        }
        Some(n) => n as usize,
        None => default,
    };
    let start = offset_of(token)?;
    if start > items.len() {
        return Err(MetricsError::next_token("The NextToken is invalid for this listing."));
    }
    let end = (start + size).min(items.len());
    Ok((items[start..end].to_vec(), (end < items.len()).then(|| token_at(end))))
}

pub(crate) async fn describe_alarms(
    metrics: &Metrics,
    input: DescribeAlarmsInput,
) -> Result<DescribeAlarmsOutput, MetricsError> {
    let names = input.alarm_names.unwrap_or_default();
    if names.len() > 100 {
        return Err(MetricsError::invalid("The collection AlarmNames must not have a size greater than 100."));
    }
    if !names.is_empty() && input.alarm_name_prefix.is_some() {
        return Err(MetricsError::combination("AlarmNames and AlarmNamePrefix may not be specified together."));
    }
    if input.children_of_alarm_name.is_some() || input.parents_of_alarm_name.is_some() {
        return Err(MetricsError::invalid("Composite alarms are not supported by Berth."));
    }
    let types = input.alarm_types.unwrap_or_default();
    let wants_metric_alarms = types.is_empty() || types.contains(&AlarmType::MetricAlarm);
    let alarms: Vec<MetricAlarm> = if wants_metric_alarms {
        metrics
            .alarms
            .list()
            .await?
            .into_iter()
            .map(|r| r.alarm)
            .filter(|a| {
                let name = a.alarm_name.as_deref().unwrap_or_default();
                (names.is_empty() || names.iter().any(|n| n == name))
                    && input.alarm_name_prefix.as_deref().is_none_or(|p| name.starts_with(p))
                    && input.state_value.is_none_or(|s| a.state_value == Some(s))
                    && input.action_prefix.as_deref().is_none_or(|p| {
                        [&a.alarm_actions, &a.ok_actions, &a.insufficient_data_actions]
                            .iter()
                            .any(|list| list.iter().flatten().any(|arn| arn.starts_with(p)))
                    })
            })
            .collect()
    } else {
        Vec::new()
    };
    let (page, next_token) = page(&alarms, input.next_token.as_deref(), input.max_records, 50)?;
    Ok(DescribeAlarmsOutput { composite_alarms: Some(Vec::new()), metric_alarms: Some(page), next_token })
}

pub(crate) async fn describe_alarms_for_metric(
    metrics: &Metrics,
    input: DescribeAlarmsForMetricInput,
) -> Result<DescribeAlarmsForMetricOutput, MetricsError> {
    let mut dims: Vec<(String, String)> =
        check_dimensions(input.dimensions.as_deref().unwrap_or_default(), "Dimensions")?;
    dims.sort();
    let key = SeriesKey::new(&input.namespace, &input.metric_name, dims);
    let alarms = metrics
        .alarms
        .list()
        .await?
        .into_iter()
        .map(|r| r.alarm)
        .filter(|a| {
            series_of(a) == key
                && input.statistic.is_none_or(|s| a.statistic == Some(s))
                && input.extended_statistic.as_ref().is_none_or(|e| a.extended_statistic.as_ref() == Some(e))
                && input.period.is_none_or(|p| a.period == Some(p))
                && input.unit.is_none_or(|u| a.unit == Some(u))
        })
        .collect();
    Ok(DescribeAlarmsForMetricOutput { metric_alarms: Some(alarms) })
}

pub(crate) async fn describe_alarm_history(
    metrics: &Metrics,
    input: DescribeAlarmHistoryInput,
) -> Result<DescribeAlarmHistoryOutput, MetricsError> {
    let mut items: Vec<AlarmHistoryItem> = metrics
        .alarms
        .list()
        .await?
        .into_iter()
        .filter(|r| input.alarm_name.as_deref().is_none_or(|n| n == r.name()))
        .flat_map(|r| r.history)
        .filter(|h| {
            input.history_item_type.is_none_or(|t| h.history_item_type == Some(t))
                && input.start_date.is_none_or(|s| h.timestamp.unwrap_or_default() >= s)
                && input.end_date.is_none_or(|e| h.timestamp.unwrap_or_default() <= e)
        })
        .collect();
    items.sort_by(|a, b| a.timestamp.unwrap_or_default().total_cmp(&b.timestamp.unwrap_or_default()));
    if !matches!(input.scan_by, Some(ScanBy::TimestampAscending)) {
        items.reverse();
    }
    let (page, next_token) = page(&items, input.next_token.as_deref(), input.max_records, 100)?;
    Ok(DescribeAlarmHistoryOutput { alarm_history_items: Some(page), next_token })
}

pub(crate) async fn delete_alarms(metrics: &Metrics, input: DeleteAlarmsInput) -> Result<Empty, MetricsError> {
    if input.alarm_names.len() > 100 {
        return Err(MetricsError::invalid("The collection AlarmNames must not have a size greater than 100."));
    }
    for name in &input.alarm_names {
        if metrics.alarms.get(name).await?.is_none() {
            return Err(MetricsError::alarm_not_found(format!("1 alarm(s) not found: [{name}]")));
        }
    }
    for name in &input.alarm_names {
        metrics.alarms.update(name, |_| Ok((None, ()))).await?;
    }
    Ok(Empty {})
}

pub(crate) async fn set_actions_enabled(
    metrics: &Metrics,
    names: Vec<String>,
    enabled: bool,
) -> Result<Empty, MetricsError> {
    for name in &names {
        metrics
            .alarms
            .update(name, |current| {
                let Some(mut r) = current else { return Ok((None, ())) };
                r.alarm.actions_enabled = Some(enabled);
                Ok((Some(r), ()))
            })
            .await?;
    }
    Ok(Empty {})
}

/// Moves an alarm's record to `state` with a reason, recording history; the hook event, if its actions are due.
fn transition(
    record: &mut AlarmRecord,
    state: StateValue,
    reason: String,
    reason_data: Option<String>,
    now: f64,
) -> Option<AlarmEvent> {
    let old = record.alarm.state_value.unwrap_or(StateValue::InsufficientData);
    let name = record.name().to_string();
    record.alarm.state_value = Some(state);
    record.alarm.state_reason = Some(reason.clone());
    record.alarm.state_reason_data = reason_data;
    record.alarm.state_updated_timestamp = Some(now);
    if old != state {
        record.alarm.state_transitioned_timestamp = Some(now);
    }
    let data = serde_json::json!({
        "version": "1.0",
        "oldState": {"stateValue": old.as_str()},
        "newState": {"stateValue": state.as_str(), "stateReason": reason},
    })
    .to_string();
    record.record(history(
        &name,
        HistoryItemType::StateUpdate,
        now,
        format!("Alarm updated from {old} to {state}"),
        data,
    ));
    let actions = match state {
        StateValue::Alarm => record.alarm.alarm_actions.clone(),
        StateValue::Ok => record.alarm.ok_actions.clone(),
        StateValue::InsufficientData => record.alarm.insufficient_data_actions.clone(),
    }
    .unwrap_or_default();
    // Actions run on changes only (SetAlarmState to the current state runs none); the evaluation repeats
    // Auto Scaling actions itself.
    (old != state && record.alarm.actions_enabled.unwrap_or(true) && !actions.is_empty()).then(|| AlarmEvent {
        alarm_name: name,
        alarm_arn: record.alarm.alarm_arn.clone().unwrap_or_default(),
        old_state: old,
        new_state: state,
        actions,
        repeat: false,
    })
}

pub(crate) async fn set_alarm_state(metrics: &Metrics, input: SetAlarmStateInput) -> Result<Empty, MetricsError> {
    check_len(&input.state_reason, 0, 1023, "StateReason")?;
    if let Some(data) = &input.state_reason_data
        && serde_json::from_str::<serde_json::Value>(data).is_err()
    {
        return Err(MetricsError::format("The parameter StateReasonData must be valid JSON."));
    }
    let now = metrics.clock.now();
    let name = input.alarm_name.clone();
    let event = metrics
        .alarms
        .update(&name, |current| {
            let Some(mut record) = current else {
                return Err(MetricsError::alarm_not_found(format!("Alarm {name} not found")));
            };
            let event = transition(
                &mut record,
                input.state_value,
                input.state_reason.clone(),
                input.state_reason_data.clone(),
                now,
            );
            Ok((Some(record), event))
        })
        .await?;
    metrics.fire(event.as_ref());
    Ok(Empty {})
}

/// Evaluates every alarm once at the clock's time, writes the state changes and fires their actions. A summary.
pub(crate) async fn evaluate_all(metrics: &Metrics) -> Result<String, MetricsError> {
    let now = metrics.clock.now();
    let (mut checked, mut changed) = (0, 0);
    for record in metrics.alarms.list().await? {
        let Some(rule) = rule_of(&record.alarm) else { continue };
        checked += 1;
        let key = series_of(&record.alarm);
        let unit = record.alarm.unit;
        let points = super::blocking(|| {
            metrics
                .points
                .with_series(&key, |s| {
                    let unit_ok = unit.is_none_or(|u| s.unit.as_deref().unwrap_or("None") == u.as_str());
                    rule.datapoints(unit_ok.then_some(s), now)
                })
                .unwrap_or_else(|| rule.datapoints(None, now))
        });
        let outcome = rule.evaluate(&points);
        let name = record.name().to_string();
        let current = record.alarm.state_value.unwrap_or(StateValue::InsufficientData);
        let Some(state) = outcome.state.filter(|s| *s != current) else {
            // No change: only Auto Scaling actions repeat while the alarm stays in its state.
            let actions: Vec<String> = match current {
                StateValue::Alarm => record.alarm.alarm_actions.clone(),
                StateValue::Ok => record.alarm.ok_actions.clone(),
                StateValue::InsufficientData => None,
            }
            .unwrap_or_default()
            .into_iter()
            .filter(|a| is_autoscaling(a))
            .collect();
            if record.alarm.actions_enabled.unwrap_or(true) && !actions.is_empty() && outcome.state.is_some() {
                metrics.fire(Some(&AlarmEvent {
                    alarm_name: name,
                    alarm_arn: record.alarm.alarm_arn.clone().unwrap_or_default(),
                    old_state: current,
                    new_state: current,
                    actions,
                    repeat: true,
                }));
            }
            continue;
        };
        let event = metrics
            .alarms
            .update(&name, |latest| {
                // Written only if the alarm is still as evaluated (not updated, deleted or set meanwhile).
                let Some(mut latest) = latest else { return Ok((None, None)) };
                if latest.alarm.state_value != record.alarm.state_value
                    || latest.alarm.alarm_configuration_updated_timestamp
                        != record.alarm.alarm_configuration_updated_timestamp
                {
                    return Ok((Some(latest), None));
                }
                let event =
                    transition(&mut latest, state, outcome.reason.clone(), Some(outcome.reason_data.clone()), now);
                Ok((Some(latest), Some(event)))
            })
            .await?;
        if let Some(event) = event {
            changed += 1;
            metrics.fire(event.as_ref());
        }
    }
    Ok(format!("{checked} alarms evaluated, {changed} changed state"))
}
