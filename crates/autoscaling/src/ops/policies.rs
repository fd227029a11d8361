//! PutScalingPolicy, DeleteScalingPolicy, DescribeScalingPolicies; a target tracking policy's two CloudWatch
//! alarms are created (and deleted) with it through `berth-metrics`.

use super::{check_dimension, find_target, page};
use crate::records::{self, PolicyConfig, PolicyRecord, SCHEMA};
use crate::{Scaling, ScalingError};
use berth_model::autoscaling::{
    Alarm, CustomizedMetricSpecification, DeleteScalingPolicyRequest, DeleteScalingPolicyResponse,
    DescribeScalingPoliciesRequest, DescribeScalingPoliciesResponse, MetricType, PolicyType,
    PredefinedMetricSpecification, PutScalingPolicyRequest, PutScalingPolicyResponse, ScalableDimension, ScalingPolicy,
    ServiceNamespace, StepScalingPolicyConfiguration, TargetTrackingScalingPolicyConfiguration,
};
use berth_store::Txn;
use serde_json::{Value, json};

/// Policies allowed per scalable target (AWS's quota).
const MAX_POLICIES: usize = 50;
/// The cooldown when none is given (seconds), as AWS's default for ECS.
const DEFAULT_COOLDOWN: i32 = 300;

/// `PutScalingPolicy`: creates or replaces a policy (keeping its ARN).
pub(crate) async fn put(s: &Scaling, req: PutScalingPolicyRequest) -> Result<PutScalingPolicyResponse, ScalingError> {
    check_dimension(req.service_namespace, Some(req.scalable_dimension), Some(&req.resource_id))?;
    if req.policy_name.is_empty() || req.policy_name.len() > 256 {
        return Err(ScalingError::validation(
            "1 validation error detected: Value at 'policyName' failed to satisfy constraint: Member must have length between 1 and 256",
        ));
    }
    let kind = req.policy_type.unwrap_or(PolicyType::StepScaling);
    let _writes = s.writes.lock().await;
    find_target(s, &req.resource_id).await?;
    let key = records::policy_key(&req.resource_id, &req.policy_name);
    let existing: Option<(PolicyRecord, i64)> = records::get(&s.store, &key).await?;
    if existing.is_none() {
        let count = s.store.range(&records::policies_prefix(&req.resource_id)).await?.kvs.len();
        if count >= MAX_POLICIES {
            return Err(ScalingError::limit(format!(
                "Maximum number of scaling policies ({MAX_POLICIES}) reached for resource {}",
                req.resource_id
            )));
        }
    }
    let arn = match &existing {
        Some((p, _)) => p.arn.clone(),
        None => s.arn(
            "autoscaling",
            &format!(
                "scalingPolicy:{}:resource/ecs/{}:policyName/{}",
                uuid::Uuid::new_v4(),
                req.resource_id,
                req.policy_name
            ),
        ),
    };
    let config = match kind {
        PolicyType::StepScaling => {
            if req.target_tracking_scaling_policy_configuration.is_some() {
                return Err(ScalingError::validation(
                    "TargetTrackingScalingPolicyConfiguration is not allowed for a StepScaling policy",
                ));
            }
            let config = req.step_scaling_policy_configuration.ok_or_else(|| {
                ScalingError::validation("StepScalingPolicyConfiguration is required for a StepScaling policy")
            })?;
            check_steps(&config)?;
            PolicyConfig::Step { config }
        }
        PolicyType::TargetTrackingScaling => {
            if req.step_scaling_policy_configuration.is_some() {
                return Err(ScalingError::validation(
                    "StepScalingPolicyConfiguration is not allowed for a TargetTrackingScaling policy",
                ));
            }
            let config = req.target_tracking_scaling_policy_configuration.ok_or_else(|| {
                ScalingError::validation(
                    "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy",
                )
            })?;
            let (alarm_high, alarm_low) = match &existing {
                Some((PolicyRecord { config: PolicyConfig::TargetTracking { alarm_high, alarm_low, .. }, .. }, _)) => {
                    (alarm_high.clone(), alarm_low.clone())
                }
                _ => {
                    let base = format!("TargetTracking-{}", req.resource_id);
                    (
                        format!("{base}-AlarmHigh-{}", uuid::Uuid::new_v4()),
                        format!("{base}-AlarmLow-{}", uuid::Uuid::new_v4()),
                    )
                }
            };
            target_tracking(config, alarm_high, alarm_low)?
        }
        PolicyType::PredictiveScaling => {
            return Err(ScalingError::validation("PredictiveScaling policies are not supported by Berth."));
        }
    };
    if let Some((old, _)) = &existing
        && matches!(old.config, PolicyConfig::TargetTracking { .. })
        && !matches!(config, PolicyConfig::TargetTracking { .. })
    {
        delete_alarms(s, old).await?;
    }
    let record = PolicyRecord {
        schema: SCHEMA,
        name: req.policy_name.clone(),
        resource_id: req.resource_id.clone(),
        arn: arn.clone(),
        config,
        created: existing.as_ref().map(|(p, _)| p.created).unwrap_or_else(|| s.clock.now()),
        last_step: existing.as_ref().and_then(|(p, _)| p.last_step),
    };
    let alarms = put_alarms(s, &record).await?;
    s.store.txn(Txn::new().put(key, records::encode(&record)?)).await?;
    Ok(PutScalingPolicyResponse { policy_arn: arn, alarms: (!alarms.is_empty()).then_some(alarms) })
}

fn check_steps(config: &StepScalingPolicyConfiguration) -> Result<(), ScalingError> {
    let steps = config.step_adjustments.as_deref().unwrap_or_default();
    if steps.is_empty() {
        return Err(ScalingError::validation("StepAdjustments cannot be empty for a StepScaling policy"));
    }
    if config.cooldown.is_some_and(|c| c < 0) {
        return Err(ScalingError::validation("Cooldown must be greater than or equal to 0"));
    }
    let mut bounds: Vec<(f64, f64)> = steps
        .iter()
        .map(|st| {
            (
                st.metric_interval_lower_bound.unwrap_or(f64::NEG_INFINITY),
                st.metric_interval_upper_bound.unwrap_or(f64::INFINITY),
            )
        })
        .collect();
    if bounds.iter().any(|(lo, hi)| lo >= hi) {
        return Err(ScalingError::validation("Lower bound must be less than upper bound in a step adjustment"));
    }
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    if bounds.windows(2).any(|w| w[0].1 != w[1].0) {
        return Err(ScalingError::validation("Step adjustment intervals must not overlap and must have no gaps"));
    }
    let nulls_lo = steps.iter().filter(|st| st.metric_interval_lower_bound.is_none()).count();
    let nulls_hi = steps.iter().filter(|st| st.metric_interval_upper_bound.is_none()).count();
    if nulls_lo > 1 || nulls_hi > 1 || (nulls_hi == 0 && nulls_lo == 0) {
        return Err(ScalingError::validation(
            "Only one step adjustment may have an unbounded lower or upper bound, and one must be unbounded",
        ));
    }
    Ok(())
}

fn target_tracking(
    config: TargetTrackingScalingPolicyConfiguration,
    alarm_high: String,
    alarm_low: String,
) -> Result<PolicyConfig, ScalingError> {
    let target = config.target_value;
    if !target.is_finite() || target <= 0.0 {
        return Err(ScalingError::validation("TargetValue must be a positive number"));
    }
    match (&config.predefined_metric_specification, &config.customized_metric_specification) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(ScalingError::validation(
                "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be specified",
            ));
        }
        (Some(p), None) => match p.predefined_metric_type {
            MetricType::ECSServiceAverageCPUUtilization | MetricType::ECSServiceAverageMemoryUtilization => {}
            MetricType::ALBRequestCountPerTarget => {
                alb_resource_label(p.resource_label.as_deref())?;
            }
            other => {
                return Err(ScalingError::validation(format!(
                    "Predefined metric {other} is not valid for scalable dimension ecs:service:DesiredCount"
                )));
            }
        },
        (None, Some(c)) => {
            if c.metrics.is_some() {
                return Err(ScalingError::validation(
                    "CustomizedMetricSpecification with Metrics (metric math) is not supported by Berth; give MetricName, Namespace and Statistic.",
                ));
            }
            if c.metric_name.as_deref().is_none_or(str::is_empty)
                || c.namespace.as_deref().is_none_or(str::is_empty)
                || c.statistic.is_none()
            {
                return Err(ScalingError::validation(
                    "CustomizedMetricSpecification requires MetricName, Namespace and Statistic",
                ));
            }
        }
    }
    for (name, v) in [("ScaleOutCooldown", config.scale_out_cooldown), ("ScaleInCooldown", config.scale_in_cooldown)] {
        if v.is_some_and(|v| v < 0) {
            return Err(ScalingError::validation(format!("{name} must be greater than or equal to 0")));
        }
    }
    Ok(PolicyConfig::TargetTracking {
        target,
        predefined: config.predefined_metric_specification,
        customized: config.customized_metric_specification,
        scale_out_cooldown: config.scale_out_cooldown.unwrap_or(DEFAULT_COOLDOWN),
        scale_in_cooldown: config.scale_in_cooldown.unwrap_or(DEFAULT_COOLDOWN),
        disable_scale_in: config.disable_scale_in.unwrap_or(false),
        alarm_high,
        alarm_low,
    })
}

/// The metric a target tracking policy follows: namespace, name, dimensions, statistic.
/// A valid `ALBRequestCountPerTarget` resource label, split: `app/<lb>/<id>` and `targetgroup/<tg>/<id>` (the final
/// parts of the load balancer's and the target group's ARNs, joined by `/`).
fn alb_resource_label(label: Option<&str>) -> Result<(String, String), ScalingError> {
    let label = label.filter(|l| !l.is_empty()).ok_or_else(|| {
        ScalingError::validation(
            "ResourceLabel must be specified for the predefined metric type ALBRequestCountPerTarget",
        )
    })?;
    let parts: Vec<&str> = label.split('/').collect();
    match parts.as_slice() {
        ["app", lb, lb_id, "targetgroup", tg, tg_id] if [lb, lb_id, tg, tg_id].iter().all(|p| !p.is_empty()) => {
            Ok((format!("app/{lb}/{lb_id}"), format!("targetgroup/{tg}/{tg_id}")))
        }
        _ => Err(ScalingError::validation(format!(
            "Invalid ResourceLabel {label}: expected app/<load-balancer-name>/<load-balancer-id>/targetgroup/\
             <target-group-name>/<target-group-id>"
        ))),
    }
}

pub(crate) fn tracked_metric(
    resource_id: &str,
    predefined: Option<&PredefinedMetricSpecification>,
    customized: Option<&CustomizedMetricSpecification>,
) -> (String, String, Vec<(String, String)>, String) {
    if let Some(c) = customized {
        let dims = c.dimensions.iter().flatten().map(|d| (d.name.clone(), d.value.clone())).collect();
        let stat = c.statistic.map(|s| s.as_str().to_string()).unwrap_or_else(|| "Average".into());
        return (c.namespace.clone().unwrap_or_default(), c.metric_name.clone().unwrap_or_default(), dims, stat);
    }
    if let Some(p) = predefined.filter(|p| p.predefined_metric_type == MetricType::ALBRequestCountPerTarget)
        && let Ok((lb, tg)) = alb_resource_label(p.resource_label.as_deref())
    {
        // The load balancer's per-target request count, per minute (its only statistic is Sum).
        let dims = vec![("LoadBalancer".to_string(), lb), ("TargetGroup".to_string(), tg)];
        return ("AWS/ApplicationELB".into(), "RequestCountPerTarget".into(), dims, "Sum".into());
    }
    let name = match predefined.map(|p| p.predefined_metric_type) {
        Some(MetricType::ECSServiceAverageMemoryUtilization) => "MemoryUtilization",
        _ => "CPUUtilization",
    };
    let (cluster, service) = crate::ecs::parse_resource_id(resource_id).unwrap_or_default();
    let dims = vec![("ClusterName".to_string(), cluster.to_string()), ("ServiceName".to_string(), service.to_string())];
    ("AWS/ECS".into(), name.into(), dims, "Average".into())
}

/// Creates (or updates) a target tracking policy's alarms: AlarmHigh above the target over 3 minutes, AlarmLow
/// below 90% of it over 15 (none with DisableScaleIn; the counts are [`crate::ScalingConfig`]'s), both invoking
/// the policy.
async fn put_alarms(s: &Scaling, policy: &PolicyRecord) -> Result<Vec<Alarm>, ScalingError> {
    let PolicyConfig::TargetTracking {
        target, predefined, customized, disable_scale_in, alarm_high, alarm_low, ..
    } = &policy.config
    else {
        return Ok(Vec::new());
    };
    let (namespace, metric, dims, stat) = tracked_metric(&policy.resource_id, predefined.as_ref(), customized.as_ref());
    let dims: Vec<Value> = dims.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect();
    let points = s.config.target_tracking_datapoints;
    let mut specs = vec![(alarm_high, "GreaterThanThreshold", *target, points.high)];
    if *disable_scale_in {
        let _ = s.metrics.call("DeleteAlarms", json!({"AlarmNames": [alarm_low]}).to_string().as_bytes()).await;
    } else {
        specs.push((alarm_low, "LessThanThreshold", target * 0.9, points.low));
    }
    let mut alarms = Vec::new();
    for (name, comparison, threshold, periods) in specs {
        let mut input = json!({
            "AlarmName": name,
            "AlarmDescription": format!("DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {}.", policy.arn),
            "ActionsEnabled": true,
            "AlarmActions": [policy.arn],
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dims,
            "Period": 60,
            "EvaluationPeriods": periods,
            "DatapointsToAlarm": periods,
            "Threshold": threshold,
            "ComparisonOperator": comparison,
            "TreatMissingData": "missing",
        });
        if stat.starts_with('p') {
            input["ExtendedStatistic"] = json!(stat);
        } else {
            input["Statistic"] = json!(stat);
        }
        s.metrics
            .call("PutMetricAlarm", input.to_string().as_bytes())
            .await
            .map_err(|e| ScalingError::validation(format!("creating alarm {name}: {}", e.message)))?;
        alarms.push(Alarm { alarm_name: name.clone(), alarm_arn: s.metrics.alarm_arn(name) });
    }
    Ok(alarms)
}

/// Deletes a target tracking policy's alarms (nothing for a step policy: its alarm is the user's).
pub(crate) async fn delete_alarms(s: &Scaling, policy: &PolicyRecord) -> Result<(), ScalingError> {
    if let PolicyConfig::TargetTracking { alarm_high, alarm_low, .. } = &policy.config {
        let input = json!({"AlarmNames": [alarm_high, alarm_low]}).to_string();
        s.metrics.call("DeleteAlarms", input.as_bytes()).await.map_err(|e| ScalingError::internal(&e))?;
    }
    Ok(())
}

/// `DeleteScalingPolicy`.
pub(crate) async fn delete(
    s: &Scaling,
    req: DeleteScalingPolicyRequest,
) -> Result<DeleteScalingPolicyResponse, ScalingError> {
    check_dimension(req.service_namespace, Some(req.scalable_dimension), None)?;
    let _writes = s.writes.lock().await;
    let key = records::policy_key(&req.resource_id, &req.policy_name);
    let Some((policy, _)) = records::get::<PolicyRecord>(&s.store, &key).await? else {
        return Err(ScalingError::not_found(format!(
            "No scaling policy found for service namespace: ecs, resource ID: {}, scalable dimension: ecs:service:DesiredCount, policy name: {}",
            req.resource_id, req.policy_name
        )));
    };
    delete_alarms(s, &policy).await?;
    s.store.txn(Txn::new().delete(key)).await?;
    Ok(DeleteScalingPolicyResponse {})
}

/// The wire shape of a policy.
pub(crate) fn render(s: &Scaling, p: &PolicyRecord) -> ScalingPolicy {
    let mut out = ScalingPolicy {
        policy_arn: p.arn.clone(),
        policy_name: p.name.clone(),
        service_namespace: ServiceNamespace::Ecs,
        resource_id: p.resource_id.clone(),
        scalable_dimension: ScalableDimension::EcsServiceDesiredCount,
        creation_time: p.created,
        ..ScalingPolicy::default()
    };
    match &p.config {
        PolicyConfig::Step { config } => {
            out.policy_type = PolicyType::StepScaling;
            out.step_scaling_policy_configuration = Some(config.clone());
            out.alarms = Some(Vec::new());
        }
        PolicyConfig::TargetTracking {
            target,
            predefined,
            customized,
            scale_out_cooldown,
            scale_in_cooldown,
            disable_scale_in,
            alarm_high,
            alarm_low,
        } => {
            out.policy_type = PolicyType::TargetTrackingScaling;
            out.target_tracking_scaling_policy_configuration = Some(TargetTrackingScalingPolicyConfiguration {
                target_value: *target,
                predefined_metric_specification: predefined.clone(),
                customized_metric_specification: customized.clone(),
                scale_out_cooldown: Some(*scale_out_cooldown),
                scale_in_cooldown: Some(*scale_in_cooldown),
                disable_scale_in: Some(*disable_scale_in),
            });
            let mut alarms = vec![alarm_high];
            if !disable_scale_in {
                alarms.push(alarm_low);
            }
            out.alarms = Some(
                alarms
                    .into_iter()
                    .map(|n| Alarm { alarm_name: n.clone(), alarm_arn: s.metrics.alarm_arn(n) })
                    .collect(),
            );
        }
    }
    out
}

/// `DescribeScalingPolicies`.
pub(crate) async fn describe(
    s: &Scaling,
    req: DescribeScalingPoliciesRequest,
) -> Result<DescribeScalingPoliciesResponse, ScalingError> {
    check_dimension(req.service_namespace, req.scalable_dimension, None)?;
    let prefix = match &req.resource_id {
        Some(id) => records::policies_prefix(id),
        None => format!("{}policy/", records::PREFIX),
    };
    let all: Vec<(String, PolicyRecord)> = records::list(&s.store, &prefix).await?;
    let names = req.policy_names.unwrap_or_default();
    let items: Vec<ScalingPolicy> =
        all.iter().filter(|(_, p)| names.is_empty() || names.contains(&p.name)).map(|(_, p)| render(s, p)).collect();
    let (items, next_token) = page(items, req.next_token.as_deref(), req.max_results)?;
    Ok(DescribeScalingPoliciesResponse { scaling_policies: Some(items), next_token })
}
