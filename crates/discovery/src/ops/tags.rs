//! TagResource, UntagResource, ListTagsForResource on namespaces and services.

use super::{tag_list, tag_map};
use crate::records;
use crate::{Discovery, DiscoveryError};
use berth_model::servicediscovery::{
    ListTagsForResourceRequest, ListTagsForResourceResponse, TagResourceRequest, TagResourceResponse,
    UntagResourceRequest, UntagResourceResponse,
};
use berth_store::Txn;
use std::collections::BTreeMap;

/// What a tagging ARN names.
enum Resource {
    Namespace(records::NamespaceRecord),
    Service(records::ServiceRecord),
}

fn resolve(s: &Discovery, arn: &str) -> Result<Resource, DiscoveryError> {
    let state = s.index.read();
    let resource = arn.strip_prefix("arn:aws:servicediscovery:").and_then(|rest| rest.rsplit(':').next());
    match resource.and_then(|r| r.split_once('/')) {
        Some(("namespace", id)) => state
            .namespaces
            .get(id)
            .filter(|n| n.arn == arn)
            .map(|n| Resource::Namespace(n.clone()))
            .ok_or_else(|| DiscoveryError::resource_not_found(arn)),
        Some(("service", id)) => state
            .services
            .get(id)
            .filter(|sv| sv.arn == arn)
            .map(|sv| Resource::Service(sv.clone()))
            .ok_or_else(|| DiscoveryError::resource_not_found(arn)),
        _ => Err(DiscoveryError::invalid(format!("Invalid ARN {arn}: not a Cloud Map namespace or service"))),
    }
}

async fn retag(
    s: &Discovery,
    arn: &str,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, DiscoveryError>,
) -> Result<(), DiscoveryError> {
    let _writes = s.writes.lock().await;
    let txn = match resolve(s, arn)? {
        Resource::Namespace(mut ns) => {
            ns.tags = change(&ns.tags)?;
            Txn::new().put(records::namespace_key(&ns.id), records::encode(&ns)?)
        }
        Resource::Service(mut service) => {
            service.tags = change(&service.tags)?;
            Txn::new().put(records::service_key(&service.id), records::encode(&service)?)
        }
    };
    s.commit(txn).await?;
    Ok(())
}

/// `TagResource`.
pub(crate) async fn tag(s: &Discovery, req: TagResourceRequest) -> Result<TagResourceResponse, DiscoveryError> {
    let arn = req.resource_arn.clone();
    retag(s, &req.resource_arn, |tags| tag_map(tags, req.tags, &arn)).await?;
    Ok(TagResourceResponse {})
}

/// `UntagResource`.
pub(crate) async fn untag(s: &Discovery, req: UntagResourceRequest) -> Result<UntagResourceResponse, DiscoveryError> {
    retag(s, &req.resource_arn, |tags| {
        let mut tags = tags.clone();
        for k in &req.tag_keys {
            tags.remove(k);
        }
        Ok(tags)
    })
    .await?;
    Ok(UntagResourceResponse {})
}

/// `ListTagsForResource`.
pub(crate) fn list(
    s: &Discovery,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, DiscoveryError> {
    let tags = match resolve(s, &req.resource_arn)? {
        Resource::Namespace(ns) => tag_list(&ns.tags),
        Resource::Service(service) => tag_list(&service.tags),
    };
    Ok(ListTagsForResourceResponse { tags: Some(tags) })
}
