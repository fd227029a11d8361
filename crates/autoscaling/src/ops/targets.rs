//! RegisterScalableTarget, DeregisterScalableTarget, DescribeScalableTargets.

use super::{check_dimension, page};
use crate::records::{self, PolicyRecord, SCHEMA, ScheduledRecord, TargetRecord};
use crate::{Scaling, ScalingError};
use berth_model::autoscaling::{
    DeregisterScalableTargetRequest, DeregisterScalableTargetResponse, DescribeScalableTargetsRequest,
    DescribeScalableTargetsResponse, RegisterScalableTargetRequest, RegisterScalableTargetResponse, ScalableDimension,
    ScalableTarget, ServiceNamespace, SuspendedState,
};
use berth_store::Txn;

/// The role every ECS scalable target shows: ECS's service-linked role for Application Auto Scaling.
fn role_arn(account: &str) -> String {
    format!(
        "arn:aws:iam::{account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService"
    )
}

/// `RegisterScalableTarget`: registers a service's desired count, or updates a registered one's bounds and
/// suspended state; a desired count outside new bounds is brought inside them at once.
pub(crate) async fn register(
    s: &Scaling,
    req: RegisterScalableTargetRequest,
) -> Result<RegisterScalableTargetResponse, ScalingError> {
    check_dimension(req.service_namespace, Some(req.scalable_dimension), Some(&req.resource_id))?;
    for (name, v) in [("MinCapacity", req.min_capacity), ("MaxCapacity", req.max_capacity)] {
        if v.is_some_and(|v| v < 0) {
            return Err(ScalingError::validation(format!(
                "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have value greater than or equal to 0",
                name[..1].to_lowercase() + &name[1..]
            )));
        }
    }
    let state = crate::ecs::service_state(&s.control, &req.resource_id)
        .ok_or_else(|| crate::ecs::missing_service(&req.resource_id))?;
    let _writes = s.writes.lock().await;
    let key = records::target_key(&req.resource_id);
    let existing: Option<(TargetRecord, i64)> = records::get(&s.store, &key).await?;
    let mut record = match existing {
        Some((record, _)) => record,
        None => {
            if req.min_capacity.is_none() || req.max_capacity.is_none() {
                return Err(ScalingError::validation(
                    "MinCapacity and MaxCapacity are required for registering a new scalable target.",
                ));
            }
            TargetRecord {
                schema: SCHEMA,
                resource_id: req.resource_id.clone(),
                min: 0,
                max: 0,
                scale_in_suspended: false,
                scale_out_suspended: false,
                scheduled_suspended: false,
                role_arn: role_arn(&s.config.account_id),
                arn: s.arn("application-autoscaling", &format!("scalable-target/0e{}", uuid::Uuid::new_v4().simple())),
                created: s.clock.now(),
                tags: req.tags.clone().unwrap_or_default(),
                last_scale_out: None,
                last_scale_in: None,
            }
        }
    };
    let min = req.min_capacity.unwrap_or(record.min);
    let max = req.max_capacity.unwrap_or(record.max);
    if min > max {
        return Err(ScalingError::validation("Minimum capacity cannot be greater than maximum capacity"));
    }
    record.min = min;
    record.max = max;
    if let Some(sus) = &req.suspended_state {
        record.scale_in_suspended = sus.dynamic_scaling_in_suspended.unwrap_or(record.scale_in_suspended);
        record.scale_out_suspended = sus.dynamic_scaling_out_suspended.unwrap_or(record.scale_out_suspended);
        record.scheduled_suspended = sus.scheduled_scaling_suspended.unwrap_or(record.scheduled_suspended);
    }
    s.store.txn(Txn::new().put(key, records::encode(&record)?)).await?;
    let arn = record.arn.clone();
    crate::controller::bring_within_bounds(s, &record, state.desired, None).await;
    Ok(RegisterScalableTargetResponse { scalable_target_arn: Some(arn) })
}

/// `DeregisterScalableTarget`: the target, its policies (and their alarms) and its scheduled actions go.
pub(crate) async fn deregister(
    s: &Scaling,
    req: DeregisterScalableTargetRequest,
) -> Result<DeregisterScalableTargetResponse, ScalingError> {
    check_dimension(req.service_namespace, Some(req.scalable_dimension), None)?;
    let _writes = s.writes.lock().await;
    if records::get::<TargetRecord>(&s.store, &records::target_key(&req.resource_id)).await?.is_none() {
        return Err(ScalingError::not_found(format!(
            "No scalable target found for service namespace: ecs, resource ID: {}, scalable dimension: ecs:service:DesiredCount",
            req.resource_id
        )));
    }
    let policies: Vec<(String, PolicyRecord)> =
        records::list(&s.store, &records::policies_prefix(&req.resource_id)).await?;
    let scheduled: Vec<(String, ScheduledRecord)> =
        records::list(&s.store, &records::scheduled_prefix(&req.resource_id)).await?;
    let mut txn = Txn::new().delete(records::target_key(&req.resource_id));
    for (key, policy) in &policies {
        super::delete_alarms(s, policy).await?;
        txn = txn.delete(key.clone());
    }
    for (key, _) in &scheduled {
        txn = txn.delete(key.clone());
    }
    s.store.txn(txn).await?;
    Ok(DeregisterScalableTargetResponse {})
}

/// The wire shape of a target.
pub(crate) fn render(record: &TargetRecord) -> ScalableTarget {
    ScalableTarget {
        service_namespace: ServiceNamespace::Ecs,
        resource_id: record.resource_id.clone(),
        scalable_dimension: ScalableDimension::EcsServiceDesiredCount,
        min_capacity: record.min,
        max_capacity: record.max,
        predicted_capacity: None,
        role_arn: record.role_arn.clone(),
        creation_time: record.created,
        suspended_state: Some(SuspendedState {
            dynamic_scaling_in_suspended: Some(record.scale_in_suspended),
            dynamic_scaling_out_suspended: Some(record.scale_out_suspended),
            scheduled_scaling_suspended: Some(record.scheduled_suspended),
        }),
        scalable_target_arn: Some(record.arn.clone()),
    }
}

/// `DescribeScalableTargets`.
pub(crate) async fn describe(
    s: &Scaling,
    req: DescribeScalableTargetsRequest,
) -> Result<DescribeScalableTargetsResponse, ScalingError> {
    check_dimension(req.service_namespace, req.scalable_dimension, None)?;
    let all: Vec<(String, TargetRecord)> = records::list(&s.store, &format!("{}target/", records::PREFIX)).await?;
    let wanted = req.resource_ids.unwrap_or_default();
    let items: Vec<ScalableTarget> = all
        .iter()
        .filter(|(_, t)| wanted.is_empty() || wanted.contains(&t.resource_id))
        .map(|(_, t)| render(t))
        .collect();
    let (items, next_token) = page(items, req.next_token.as_deref(), req.max_results)?;
    Ok(DescribeScalableTargetsResponse { scalable_targets: Some(items), next_token })
}
