//! The referrers API: manifests whose `subject` is a digest (archived ones left out), as an OCI index, filterable
//! by `artifactType`.

use super::{Query, json_response, set};
use crate::Registry;
use crate::digest::Digest;
use crate::error::RegistryError;
use crate::manifest::{Descriptor, OCI_INDEX};
use axum::response::Response;
use http::StatusCode;
use serde_json::json;

/// GET `/v2/<name>/referrers/<digest>[?artifactType=...]`.
pub(crate) fn list(registry: &Registry, name: &str, digest: &str, query: &Query) -> Result<Response, RegistryError> {
    Digest::parse(digest)?;
    let filter = query.get("artifactType").filter(|t| !t.is_empty());
    let mut descriptors: Vec<Descriptor> = {
        let state = registry.index.read();
        let entry = state.existing_repo(name)?;
        entry
            .images
            .values()
            .filter(|i| i.record.subject.as_deref() == Some(digest))
            .filter(|i| i.record.is_pullable()) // archived artifacts cannot be fetched, so they are not listed
            .filter(|i| filter.is_none_or(|f| i.record.artifact_type.as_deref() == Some(f)))
            .map(|i| Descriptor {
                media_type: i.record.media_type.clone(),
                digest: i.record.digest.clone(),
                size: i.manifest.len() as i64,
                urls: None,
                annotations: i.record.annotations.clone(),
                artifact_type: i.record.artifact_type.clone(),
                platform: None,
            })
            .collect()
    };
    descriptors.sort_by(|a, b| a.digest.cmp(&b.digest));
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors });
    let mut response = json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default());
    set(&mut response, "content-type", OCI_INDEX);
    if filter.is_some() {
        set(&mut response, "oci-filters-applied", "artifactType");
    }
    Ok(response)
}
