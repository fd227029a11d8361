//! Blob uploads: POST (start, monolithic, mount), PATCH (chunks), PUT (finish), GET (status), DELETE (cancel).

use super::{Query, body_stream, content_length, empty, set};
use crate::Registry;
use crate::digest::{Algorithm, Digest};
use crate::error::RegistryError;
use crate::uploads::{Chunk, UploadStatus};
use axum::extract::Request;
use axum::response::Response;
use http::{StatusCode, header};

/// Parses a chunk's `Content-Range` (`<start>-<end>`, inclusive; a `bytes ` or `bytes=` prefix and a `/<total>`
/// suffix are tolerated) into its start and length.
pub(crate) fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let v = value.trim();
    let v = v.strip_prefix("bytes").map(|r| r.trim_start_matches([' ', '='])).unwrap_or(v);
    let v = v.split('/').next()?.trim();
    let (a, b) = v.split_once('-')?;
    if a.is_empty() || b.is_empty() || !a.bytes().all(|c| c.is_ascii_digit()) || !b.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let (start, end) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
    if end < start {
        return None;
    }
    Some((start, end - start + 1))
}

/// The chunk a PATCH or PUT carries, checked against its headers.
fn chunk_of(id: &str, offset_hint: u64, request: Request) -> Result<Option<Chunk>, RegistryError> {
    let headers = request.headers();
    let declared = content_length(headers);
    let range = match headers.get(header::CONTENT_RANGE) {
        None => None,
        Some(v) => Some(v.to_str().ok().and_then(parse_content_range).ok_or_else(|| RegistryError::RangeInvalid {
            id: id.to_string(),
            offset: offset_hint,
            reason: "Content-Range must be <start>-<end>, with end >= start".into(),
        })?),
    };
    let has_body = declared.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if !has_body && range.is_none() {
        return Ok(None);
    }
    let len = match (range, declared) {
        (Some((_, range_len)), Some(n)) if range_len != n => {
            return Err(RegistryError::RangeInvalid {
                id: id.to_string(),
                offset: offset_hint,
                reason: format!("Content-Range covers {range_len} bytes but Content-Length is {n}"),
            });
        }
        (Some((_, range_len)), _) => Some(range_len),
        (None, n) => n,
    };
    Ok(Some(Chunk { start: range.map(|(s, _)| s), len, body: body_stream(request) }))
}

fn upload_location(name: &str, status: &UploadStatus) -> String {
    format!("/v2/{name}/blobs/uploads/{}", status.id)
}

fn progress(name: &str, status: &UploadStatus, code: StatusCode) -> Response {
    let mut response = empty(code);
    set(&mut response, "location", &upload_location(name, status));
    set(&mut response, "range", &format!("0-{}", status.offset.saturating_sub(1)));
    set(&mut response, "docker-upload-uuid", &status.id);
    response
}

fn created(name: &str, digest: &Digest) -> Response {
    let mut response = empty(StatusCode::CREATED);
    set(&mut response, "location", &format!("/v2/{name}/blobs/{digest}"));
    set(&mut response, "docker-content-digest", &digest.to_string());
    response
}

fn digest_param(query: &Query) -> Result<Digest, RegistryError> {
    let value = query.get("digest").ok_or_else(|| {
        RegistryError::InvalidDigest(crate::digest::DigestError::MissingAlgorithm {
            value: "(no digest parameter)".into(),
        })
    })?;
    Ok(Digest::parse(value)?)
}

/// POST `/v2/<name>/blobs/uploads/`.
pub(crate) async fn start(
    registry: &Registry,
    name: &str,
    query: &Query,
    request: Request,
) -> Result<Response, RegistryError> {
    // With the BLOB_MOUNTING account setting DISABLED a mount request starts an ordinary upload (202), as in ECR.
    if let (Some(mount), Some(from), true) =
        (query.get("mount"), query.get("from"), registry.settings().blob_mounting_enabled())
    {
        let digest = Digest::parse(mount)?;
        if crate::names::is_valid_repository_name(from) && registry.mount_blob(name, from, &digest).await?.is_some() {
            return Ok(created(name, &digest));
        }
    }
    let algorithm = match query.get("digest-algorithm") {
        None => Algorithm::Sha256,
        Some(a) => Algorithm::parse(a).ok_or_else(|| {
            RegistryError::InvalidDigest(crate::digest::DigestError::UnsupportedAlgorithm { algorithm: a.into() })
        })?,
    };
    if query.get("digest").is_some() {
        let digest = digest_param(query)?;
        let status = registry.upload_start(name, digest.algorithm()).await?;
        let chunk = chunk_of(&status.id, 0, request)?;
        let done = registry.upload_finish(name, &status.id, &digest, chunk, true).await;
        if done.is_err() {
            let _ = registry.upload_cancel(name, &status.id).await;
        }
        return Ok(created(name, &done?.digest));
    }
    let status = registry.upload_start(name, algorithm).await?;
    Ok(progress(name, &status, StatusCode::ACCEPTED))
}

/// PATCH: appends a chunk.
pub(crate) async fn patch(
    registry: &Registry,
    name: &str,
    id: &str,
    request: Request,
) -> Result<Response, RegistryError> {
    let current = registry.upload_status(name, id).await?;
    let Some(chunk) = chunk_of(id, current.offset, request)? else {
        return Ok(progress(name, &current, StatusCode::ACCEPTED));
    };
    let status = registry.upload_append(name, id, chunk).await?;
    Ok(progress(name, &status, StatusCode::ACCEPTED))
}

/// PUT `?digest=`: the optional last chunk, then verification and commit.
pub(crate) async fn put(
    registry: &Registry,
    name: &str,
    id: &str,
    query: &Query,
    request: Request,
) -> Result<Response, RegistryError> {
    let current = registry.upload_status(name, id).await?;
    let digest = digest_param(query)?;
    let chunk = chunk_of(id, current.offset, request)?;
    let blob = registry.upload_finish(name, id, &digest, chunk, true).await?;
    Ok(created(name, &blob.digest))
}

/// GET: where the upload stands.
pub(crate) async fn status(registry: &Registry, name: &str, id: &str) -> Result<Response, RegistryError> {
    let status = registry.upload_status(name, id).await?;
    Ok(progress(name, &status, StatusCode::NO_CONTENT))
}

/// DELETE: cancels the upload.
pub(crate) async fn cancel(registry: &Registry, name: &str, id: &str) -> Result<Response, RegistryError> {
    registry.upload_cancel(name, id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse_strictly() {
        assert_eq!(parse_content_range("0-99"), Some((0, 100)));
        assert_eq!(parse_content_range("100-100"), Some((100, 1)));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 5)));
        assert_eq!(parse_content_range("bytes=5-9"), Some((5, 5)));
        for bad in ["", "-", "5-", "-5", "9-5", "a-b", "1-2-3", "+1-2", " 1 - 2x"] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }
}
