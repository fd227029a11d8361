//! Manifest GET, HEAD, PUT and DELETE, by tag or digest.

use super::{Query, empty, set};
use crate::Registry;
use crate::error::RegistryError;
use crate::images::{PushMode, Reference};
use crate::manifest::{MAX_MANIFEST_BYTES, ManifestError};
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};

/// How much of an oversized manifest body is read before refusing it.
const DRAIN_LIMIT: usize = 4 * MAX_MANIFEST_BYTES;

/// GET (or HEAD) of a manifest; on a repository a pull-through cache rule covers, a miss (or a tag due for its
/// upstream check) is fetched from the upstream first, for the principal of access key `access_key`. An archived
/// image is not served (404 `MANIFEST_UNKNOWN`, as ECR answers); a pull by `principal` is recorded unless the
/// principal is excluded from pull-time updates.
pub(crate) async fn get(
    registry: &Registry,
    name: &str,
    reference: &str,
    body: bool,
    access_key: &str,
    principal: &str,
) -> Result<Response, RegistryError> {
    registry.pull_through_manifest(name, reference, access_key).await?;
    registry.require_repo(name)?;
    let reference = Reference::parse(reference)
        .map_err(|_| RegistryError::ManifestUnknown { name: name.to_string(), reference: reference.to_string() })?;
    let entry = registry.get_manifest(name, &reference)?;
    if !entry.record.is_pullable() {
        return Err(RegistryError::ManifestUnknown {
            name: name.to_string(),
            reference: format!("{reference} (the image is archived; restore it with UpdateImageStorageClass)"),
        });
    }
    if body {
        registry.record_pull(name, &entry.record.digest, principal);
    }
    let len = entry.manifest.len();
    let mut response = Response::new(if body { Body::from(entry.manifest.clone()) } else { Body::empty() });
    set(&mut response, "content-type", &entry.record.media_type);
    set(&mut response, "content-length", &len.to_string());
    set(&mut response, "docker-content-digest", &entry.record.digest);
    set(&mut response, "etag", &format!("\"{}\"", entry.record.digest));
    Ok(response)
}

/// PUT of a manifest; extra `?tag=` parameters tag it too (OCI 1.1).
pub(crate) async fn put(
    registry: &Registry,
    name: &str,
    reference: &str,
    query: &Query,
    request: Request,
) -> Result<Response, RegistryError> {
    registry.require_repo(name)?;
    let reference = Reference::parse(reference)?;
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    // Read (and so drain) a body somewhat over the limit before refusing it, so the client gets the 413 instead of
    // a reset connection; past DRAIN_LIMIT the connection is dropped.
    let declared = super::content_length(request.headers());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(ManifestError::TooLarge { size: declared.unwrap_or(0) as usize, limit: MAX_MANIFEST_BYTES }.into());
    }
    let bytes = match Limited::new(request.into_body(), DRAIN_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ManifestError::TooLarge { size: DRAIN_LIMIT + 1, limit: MAX_MANIFEST_BYTES }.into());
        }
        Err(e) => return Err(RegistryError::SizeInvalid { reason: format!("manifest body failed: {e}") }),
    };
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge { size: bytes.len(), limit: MAX_MANIFEST_BYTES }.into());
    }
    let mut tags = query.all("tag");
    for tag in &tags {
        if let Some(reason) = crate::names::tag_problem(tag, crate::names::MAX_OCI_TAG) {
            return Err(RegistryError::InvalidTag { reason });
        }
    }
    let digest_reference = match &reference {
        Reference::Tag(tag) => {
            tags.push(tag.clone());
            None
        }
        Reference::Digest(d) => Some(d),
    };
    let outcome = registry
        .put_manifest(name, &bytes, content_type.as_deref(), digest_reference, &tags, PushMode::Idempotent)
        .await?;
    let mut response = empty(StatusCode::CREATED);
    set(&mut response, "location", &format!("/v2/{name}/manifests/{}", outcome.digest));
    set(&mut response, "docker-content-digest", &outcome.digest.to_string());
    if let Some(subject) = &outcome.subject {
        set(&mut response, "oci-subject", subject);
    }
    if matches!(reference, Reference::Digest(_)) {
        for tag in query.all("tag") {
            if let Ok(v) = http::HeaderValue::from_str(&tag) {
                response.headers_mut().append("oci-tag", v);
            }
        }
    }
    Ok(response)
}

/// DELETE by digest (the manifest and its tags) or by tag (the tag only).
pub(crate) async fn delete(registry: &Registry, name: &str, reference: &str) -> Result<Response, RegistryError> {
    registry.require_repo(name)?;
    match Reference::parse(reference)? {
        Reference::Digest(d) => registry.delete_manifest(name, &d.to_string()).await?,
        Reference::Tag(tag) => {
            registry.delete_tag(name, &tag).await?;
        }
    }
    Ok(empty(StatusCode::ACCEPTED))
}
