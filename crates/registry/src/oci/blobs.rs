//! Blob GET and HEAD, with single byte ranges.

use super::{empty, set};
use crate::Registry;
use crate::digest::Digest;
use crate::error::RegistryError;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::ops::Range;

/// A `Range` header, resolved against the blob size.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// No range: the whole blob.
    Whole,
    /// A satisfiable range.
    Part(Range<u64>),
    /// A range the blob cannot satisfy.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob of `total` bytes. Multiple ranges and other units
/// are ignored (the whole blob is served), as RFC 9110 allows.
pub(crate) fn parse_range(header: Option<&str>, total: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return ByteRange::Whole };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return ByteRange::Unsatisfiable };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(start), Some(end)) if start <= end && start < total => start..(end + 1).min(total),
        (Some(start), None) if b.is_empty() && start < total => start..total,
        (None, Some(suffix)) if a.is_empty() && suffix > 0 => total.saturating_sub(suffix)..total,
        _ => return ByteRange::Unsatisfiable,
    };
    if range.is_empty() { ByteRange::Unsatisfiable } else { ByteRange::Part(range) }
}

/// GET (or HEAD, when `body` is false) of a blob. On a repository a pull-through cache rule covers, a blob not
/// stored here is streamed from the upstream while it is stored (a GET), or answered from the size its manifest
/// records (a HEAD).
pub(crate) async fn get(
    registry: &Registry,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    body: bool,
    access_key: &str,
) -> Result<Response, RegistryError> {
    registry.require_repo(name)?;
    let parsed = Digest::parse(digest)?;
    let unknown = || RegistryError::BlobUnknown { name: name.to_string(), digest: digest.to_string() };
    let known = registry.index.read().repo(name).is_some_and(|r| r.has_blob(digest));
    if registry.pull_through_rule(name).is_some() && (!known || registry.blobs.stat(&parsed).await?.is_none()) {
        return pull_through(registry, name, &parsed, body, access_key).await;
    }
    if !known {
        return Err(unknown());
    }
    if !body {
        // A HEAD is how clients decide to skip an upload: keep the blob safe from GC for a grace period. Under the
        // GC lock, so a collection either sees the touch or has already removed the blob (and this says 404).
        let _gc = registry.gc_lock.read().await;
        registry.touch(digest);
        let size = registry.blobs.stat(&parsed).await?.ok_or_else(unknown)?;
        let mut response = Response::new(Body::empty());
        set(&mut response, "content-length", &size.to_string());
        finish_headers(&mut response, digest);
        return Ok(response);
    }
    let total = registry.blobs.stat(&parsed).await?.ok_or_else(unknown)?;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, range) = match parse_range(range_header, total) {
        ByteRange::Whole => (StatusCode::OK, None),
        ByteRange::Part(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        ByteRange::Unsatisfiable => {
            let mut response = empty(StatusCode::RANGE_NOT_SATISFIABLE);
            set(&mut response, "content-range", &format!("bytes */{total}"));
            return Ok(response);
        }
    };
    let blob = registry.blobs.read(&parsed, range.clone()).await?.ok_or_else(unknown)?;
    let len = range.as_ref().map(|r| r.end - r.start).unwrap_or(blob.total);
    let mut response = Response::new(Body::from_stream(blob.stream));
    *response.status_mut() = status;
    set(&mut response, "content-length", &len.to_string());
    if let Some(r) = range {
        set(&mut response, "content-range", &format!("bytes {}-{}/{}", r.start, r.end - 1, blob.total));
    }
    finish_headers(&mut response, digest);
    Ok(response)
}

/// A blob of a pull-through cache repository that is not stored here.
async fn pull_through(
    registry: &Registry,
    name: &str,
    digest: &Digest,
    body: bool,
    access_key: &str,
) -> Result<Response, RegistryError> {
    let text = digest.to_string();
    let unknown = || RegistryError::BlobUnknown { name: name.to_string(), digest: text.clone() };
    if !body {
        let size = registry.index.read().repo(name).and_then(|r| r.blob_size(&text)).ok_or_else(unknown)?;
        let mut response = Response::new(Body::empty());
        set(&mut response, "content-length", &size.to_string());
        finish_headers(&mut response, &text);
        return Ok(response);
    }
    // A range of a blob being fetched is answered with the whole blob, as RFC 9110 allows.
    let streamed = registry.pull_through_blob(name, digest, access_key).await?.ok_or_else(unknown)?;
    let mut response = Response::new(Body::from_stream(streamed.stream));
    if let Some(len) = streamed.len {
        set(&mut response, "content-length", &len.to_string());
    }
    finish_headers(&mut response, &text);
    Ok(response)
}

fn finish_headers(response: &mut Response, digest: &str) {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=31536000"));
    set(response, "docker-content-digest", digest);
    set(response, "etag", &format!("\"{digest}\""));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(parse_range(None, 10), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), ByteRange::Part(0..5));
        assert_eq!(parse_range(Some("bytes=5-"), 10), ByteRange::Part(5..10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), ByteRange::Part(7..10));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), ByteRange::Part(8..10));
        assert_eq!(parse_range(Some("bytes=10-12"), 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=x-y"), 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), ByteRange::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), ByteRange::Whole);
    }
}
