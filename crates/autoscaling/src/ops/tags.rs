//! TagResource, UntagResource, ListTagsForResource on scalable targets (the only taggable resource).

use crate::records::{self, TargetRecord};
use crate::{Scaling, ScalingError};
use berth_model::autoscaling::{
    ListTagsForResourceRequest, ListTagsForResourceResponse, TagResourceRequest, TagResourceResponse,
    UntagResourceRequest, UntagResourceResponse,
};
use berth_store::Txn;

/// Tags allowed per resource (AWS's quota).
const MAX_TAGS: usize = 50;

/// The target an ARN names, with its key.
async fn target_by_arn(s: &Scaling, arn: &str) -> Result<(String, TargetRecord), ScalingError> {
    if !arn.starts_with("arn:aws:application-autoscaling:") || !arn.contains(":scalable-target/") {
        return Err(ScalingError::validation(format!("Invalid ARN: {arn} is not a scalable target's ARN")));
    }
    let all: Vec<(String, TargetRecord)> = records::list(&s.store, &format!("{}target/", records::PREFIX)).await?;
    all.into_iter()
        .find(|(_, t)| t.arn == arn)
        .ok_or_else(|| ScalingError::resource_not_found(format!("Scalable target with ARN {arn} not found")))
}

/// `TagResource`: adds or replaces tags.
pub(crate) async fn tag(s: &Scaling, req: TagResourceRequest) -> Result<TagResourceResponse, ScalingError> {
    let _writes = s.writes.lock().await;
    let (key, mut target) = target_by_arn(s, &req.resource_arn).await?;
    for (k, v) in &req.tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
            return Err(ScalingError::validation(format!("Invalid tag: {k}")));
        }
    }
    target.tags.extend(req.tags);
    if target.tags.len() > MAX_TAGS {
        return Err(ScalingError::validation(format!("A resource can have at most {MAX_TAGS} tags")));
    }
    s.store.txn(Txn::new().put(key, records::encode(&target)?)).await?;
    Ok(TagResourceResponse {})
}

/// `UntagResource`.
pub(crate) async fn untag(s: &Scaling, req: UntagResourceRequest) -> Result<UntagResourceResponse, ScalingError> {
    let _writes = s.writes.lock().await;
    let (key, mut target) = target_by_arn(s, &req.resource_arn).await?;
    for k in &req.tag_keys {
        target.tags.remove(k);
    }
    s.store.txn(Txn::new().put(key, records::encode(&target)?)).await?;
    Ok(UntagResourceResponse {})
}

/// `ListTagsForResource`.
pub(crate) async fn list(
    s: &Scaling,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ScalingError> {
    let (_, target) = target_by_arn(s, &req.resource_arn).await?;
    Ok(ListTagsForResourceResponse { tags: Some(target.tags) })
}
