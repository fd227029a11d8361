//! PutScheduledAction, DeleteScheduledAction, DescribeScheduledActions.

use super::{check_dimension, find_target, page};
use crate::records::{self, SCHEMA, ScheduledRecord};
use crate::schedule::{Schedule, time_zone};
use crate::{Scaling, ScalingError};
use berth_model::autoscaling::{
    DeleteScheduledActionRequest, DeleteScheduledActionResponse, DescribeScheduledActionsRequest,
    DescribeScheduledActionsResponse, PutScheduledActionRequest, PutScheduledActionResponse, ScalableDimension,
    ScalableTargetAction, ScheduledAction, ServiceNamespace,
};
use berth_store::Txn;

/// Scheduled actions allowed per scalable target (AWS's quota).
const MAX_SCHEDULED: usize = 200;

/// The first run of a scheduled action at or after `now`, within its start and end.
pub(crate) fn first_run(record: &ScheduledRecord, after: f64) -> Result<Option<f64>, ScalingError> {
    let schedule = Schedule::parse(&record.schedule)?;
    let zone = time_zone(record.timezone.as_deref())?;
    let origin = record.start.unwrap_or(record.created);
    let from = match record.start {
        Some(start) if start > after => start - 0.001,
        _ => after,
    };
    let next = schedule.next_after(from, origin, &zone);
    Ok(next.filter(|t| record.end.is_none_or(|end| *t <= end)))
}

/// `PutScheduledAction`: creates or updates (giving only what changes; start and end are replaced).
pub(crate) async fn put(
    s: &Scaling,
    req: PutScheduledActionRequest,
) -> Result<PutScheduledActionResponse, ScalingError> {
    check_dimension(req.service_namespace, Some(req.scalable_dimension), Some(&req.resource_id))?;
    if req.scheduled_action_name.is_empty() || req.scheduled_action_name.len() > 256 {
        return Err(ScalingError::validation(
            "1 validation error detected: Value at 'scheduledActionName' failed to satisfy constraint: Member must have length between 1 and 256",
        ));
    }
    if let Some(tz) = &req.timezone {
        time_zone(Some(tz))?;
    }
    if let Some(action) = &req.scalable_target_action {
        if action.min_capacity.is_some_and(|v| v < 0) || action.max_capacity.is_some_and(|v| v < 0) {
            return Err(ScalingError::validation("MinCapacity and MaxCapacity must be greater than or equal to 0"));
        }
        if let (Some(min), Some(max)) = (action.min_capacity, action.max_capacity)
            && min > max
        {
            return Err(ScalingError::validation("Minimum capacity cannot be greater than maximum capacity"));
        }
    }
    if let (Some(start), Some(end)) = (req.start_time, req.end_time)
        && start > end
    {
        return Err(ScalingError::validation("StartTime must be before EndTime"));
    }
    let _writes = s.writes.lock().await;
    find_target(s, &req.resource_id).await?;
    let key = records::scheduled_key(&req.resource_id, &req.scheduled_action_name);
    let existing: Option<(ScheduledRecord, i64)> = records::get(&s.store, &key).await?;
    let now = s.clock.now();
    let mut record = match existing {
        Some((record, _)) => record,
        None => {
            if req.schedule.is_none() {
                return Err(ScalingError::validation("Schedule is required when creating a scheduled action"));
            }
            let count = s.store.range(&records::scheduled_prefix(&req.resource_id)).await?.kvs.len();
            if count >= MAX_SCHEDULED {
                return Err(ScalingError::limit(format!(
                    "Maximum number of scheduled actions ({MAX_SCHEDULED}) reached for resource {}",
                    req.resource_id
                )));
            }
            ScheduledRecord {
                schema: SCHEMA,
                name: req.scheduled_action_name.clone(),
                resource_id: req.resource_id.clone(),
                arn: s.arn(
                    "autoscaling",
                    &format!(
                        "scheduledAction:{}:resource/ecs/{}:scheduledActionName/{}",
                        uuid::Uuid::new_v4(),
                        req.resource_id,
                        req.scheduled_action_name
                    ),
                ),
                schedule: String::new(),
                timezone: None,
                start: None,
                end: None,
                min: None,
                max: None,
                created: now,
                next_run: None,
            }
        }
    };
    if let Some(schedule) = &req.schedule {
        Schedule::parse(schedule)?;
        record.schedule = schedule.clone();
    }
    if req.timezone.is_some() {
        record.timezone = req.timezone.clone();
    }
    record.start = req.start_time;
    record.end = req.end_time;
    if let Some(action) = &req.scalable_target_action {
        record.min = action.min_capacity.or(record.min);
        record.max = action.max_capacity.or(record.max);
    }
    if let (Some(min), Some(max)) = (record.min, record.max)
        && min > max
    {
        return Err(ScalingError::validation("Minimum capacity cannot be greater than maximum capacity"));
    }
    record.next_run = first_run(&record, now)?;
    s.store.txn(Txn::new().put(key, records::encode(&record)?)).await?;
    Ok(PutScheduledActionResponse {})
}

/// `DeleteScheduledAction`.
pub(crate) async fn delete(
    s: &Scaling,
    req: DeleteScheduledActionRequest,
) -> Result<DeleteScheduledActionResponse, ScalingError> {
    check_dimension(req.service_namespace, Some(req.scalable_dimension), None)?;
    let _writes = s.writes.lock().await;
    let key = records::scheduled_key(&req.resource_id, &req.scheduled_action_name);
    if records::get::<ScheduledRecord>(&s.store, &key).await?.is_none() {
        return Err(ScalingError::not_found(format!(
            "No scheduled action found for service namespace: ecs, resource ID: {}, scalable dimension: ecs:service:DesiredCount, scheduled action name: {}",
            req.resource_id, req.scheduled_action_name
        )));
    }
    s.store.txn(Txn::new().delete(key)).await?;
    Ok(DeleteScheduledActionResponse {})
}

fn render(r: &ScheduledRecord) -> ScheduledAction {
    ScheduledAction {
        scheduled_action_name: r.name.clone(),
        scheduled_action_arn: r.arn.clone(),
        service_namespace: ServiceNamespace::Ecs,
        schedule: r.schedule.clone(),
        timezone: r.timezone.clone(),
        resource_id: r.resource_id.clone(),
        scalable_dimension: Some(ScalableDimension::EcsServiceDesiredCount),
        start_time: r.start,
        end_time: r.end,
        scalable_target_action: Some(ScalableTargetAction { min_capacity: r.min, max_capacity: r.max }),
        creation_time: r.created,
    }
}

/// `DescribeScheduledActions`.
pub(crate) async fn describe(
    s: &Scaling,
    req: DescribeScheduledActionsRequest,
) -> Result<DescribeScheduledActionsResponse, ScalingError> {
    check_dimension(req.service_namespace, req.scalable_dimension, None)?;
    let prefix = match &req.resource_id {
        Some(id) => records::scheduled_prefix(id),
        None => format!("{}scheduled/", records::PREFIX),
    };
    let all: Vec<(String, ScheduledRecord)> = records::list(&s.store, &prefix).await?;
    let names = req.scheduled_action_names.unwrap_or_default();
    let items: Vec<ScheduledAction> =
        all.iter().filter(|(_, r)| names.is_empty() || names.contains(&r.name)).map(|(_, r)| render(r)).collect();
    let (items, next_token) = page(items, req.next_token.as_deref(), req.max_results)?;
    Ok(DescribeScheduledActionsResponse { scheduled_actions: Some(items), next_token })
}
