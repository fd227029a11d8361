//! DescribeScalingActivities: newest first.

use super::{check_dimension, page};
use crate::records::{self, ActivityRecord};
use crate::{Scaling, ScalingError};
use berth_model::autoscaling::{
    DescribeScalingActivitiesRequest, DescribeScalingActivitiesResponse, ScalableDimension, ScalingActivity,
    ScalingActivityStatusCode, ServiceNamespace,
};

fn status(text: &str) -> ScalingActivityStatusCode {
    serde_json::from_value(serde_json::Value::String(text.to_string())).unwrap_or(ScalingActivityStatusCode::Failed)
}

/// The wire shape of an activity.
pub(crate) fn render(a: &ActivityRecord) -> ScalingActivity {
    ScalingActivity {
        activity_id: a.id.clone(),
        service_namespace: ServiceNamespace::Ecs,
        resource_id: a.resource_id.clone(),
        scalable_dimension: ScalableDimension::EcsServiceDesiredCount,
        description: a.description.clone(),
        cause: a.cause.clone(),
        start_time: a.start,
        end_time: a.end,
        status_code: status(&a.status),
        status_message: a.status_message.clone(),
        details: None,
        not_scaled_reasons: None,
    }
}

/// `DescribeScalingActivities`.
pub(crate) async fn describe(
    s: &Scaling,
    req: DescribeScalingActivitiesRequest,
) -> Result<DescribeScalingActivitiesResponse, ScalingError> {
    check_dimension(req.service_namespace, req.scalable_dimension, None)?;
    let prefix = match &req.resource_id {
        Some(id) => records::activities_prefix(id),
        None => format!("{}activity/", records::PREFIX),
    };
    let mut all: Vec<(String, ActivityRecord)> = records::list(&s.store, &prefix).await?;
    // Newest first; within a target, keys order activities of the same start time as they were recorded.
    all.sort_by(|a, b| b.1.start.total_cmp(&a.1.start).then_with(|| b.0.cmp(&a.0)));
    let items: Vec<ScalingActivity> = all.iter().map(|(_, a)| render(a)).collect();
    let (items, next_token) = page(items, req.next_token.as_deref(), req.max_results)?;
    Ok(DescribeScalingActivitiesResponse { scaling_activities: Some(items), next_token })
}
