//! TagResource, UntagResource and ListTagsForResource, for alarms (the only taggable resource Berth has).

use super::Empty;
use crate::{Metrics, MetricsError};
use berth_model::cloudwatch::{
    ListTagsForResourceInput, ListTagsForResourceOutput, Tag, TagResourceInput, UntagResourceInput,
};

/// The alarm an ARN names, or `ResourceNotFoundException` / `InvalidParameterValue`.
fn alarm_name<'a>(metrics: &Metrics, arn: &'a str) -> Result<&'a str, MetricsError> {
    let prefix = metrics.alarm_arn("");
    if let Some(name) = arn.strip_prefix(&prefix) {
        return Ok(name);
    }
    if arn.starts_with("arn:aws:cloudwatch:") {
        return Err(MetricsError::resource_not_found(format!("The resource {arn} was not found.")));
    }
    Err(MetricsError::invalid(format!("The value {arn} for parameter ResourceARN is invalid.")))
}

fn not_found(arn: &str) -> MetricsError {
    MetricsError::resource_not_found(format!("The resource {arn} was not found."))
}

pub(crate) async fn tag_resource(metrics: &Metrics, input: TagResourceInput) -> Result<Empty, MetricsError> {
    let name = alarm_name(metrics, &input.resource_arn)?;
    for t in &input.tags {
        super::check_len(&t.key, 1, 128, "Tags.member.N.Key")?;
        super::check_len(&t.value, 0, 256, "Tags.member.N.Value")?;
        if t.key.starts_with("aws:") {
            return Err(MetricsError::invalid(format!("The tag key {} is invalid: aws: is reserved.", t.key)));
        }
    }
    metrics
        .alarms
        .update(name, |current| {
            let Some(mut r) = current else { return Err(not_found(&input.resource_arn)) };
            for t in &input.tags {
                r.tags.insert(t.key.clone(), t.value.clone());
            }
            if r.tags.len() > 50 {
                return Err(MetricsError::invalid("A resource may have at most 50 tags."));
            }
            Ok((Some(r), ()))
        })
        .await?;
    Ok(Empty {})
}

pub(crate) async fn untag_resource(metrics: &Metrics, input: UntagResourceInput) -> Result<Empty, MetricsError> {
    let name = alarm_name(metrics, &input.resource_arn)?;
    metrics
        .alarms
        .update(name, |current| {
            let Some(mut r) = current else { return Err(not_found(&input.resource_arn)) };
            for k in &input.tag_keys {
                r.tags.remove(k);
            }
            Ok((Some(r), ()))
        })
        .await?;
    Ok(Empty {})
}

pub(crate) async fn list_tags_for_resource(
    metrics: &Metrics,
    input: ListTagsForResourceInput,
) -> Result<ListTagsForResourceOutput, MetricsError> {
    let name = alarm_name(metrics, &input.resource_arn)?;
    let record = metrics.alarms.get(name).await?.ok_or_else(|| not_found(&input.resource_arn))?;
    let tags = record.tags.into_iter().map(|(key, value)| Tag { key, value }).collect();
    Ok(ListTagsForResourceOutput { tags: Some(tags) })
}
