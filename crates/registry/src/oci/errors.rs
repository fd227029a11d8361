//! Registry errors as the Distribution Spec's error bodies: `{"errors":[{"code","message","detail"}]}`.

use super::json_response;
use crate::error::RegistryError;
use crate::manifest::ManifestError;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use serde_json::json;

/// The status and Distribution error code for an error.
pub(crate) fn status_and_code(error: &RegistryError) -> (StatusCode, &'static str) {
    use RegistryError as E;
    match error {
        E::RepositoryNotFound { .. } => (StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
        E::InvalidName { .. } => (StatusCode::BAD_REQUEST, "NAME_INVALID"),
        E::InvalidTag { .. } | E::TagImmutable { .. } => (StatusCode::BAD_REQUEST, "TAG_INVALID"),
        E::InvalidDigest(_) | E::DigestMismatch { .. } => (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
        E::InvalidParameter { .. }
        | E::ReferencedByIndex { .. }
        | E::ImageAlreadyExists { .. }
        | E::RepositoryAlreadyExists { .. }
        | E::RepositoryNotEmpty { .. } => (StatusCode::BAD_REQUEST, "UNSUPPORTED"),
        E::UploadUnknown { .. } => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
        E::RangeInvalid { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID"),
        E::SizeInvalid { .. } | E::EmptyUpload { .. } => (StatusCode::BAD_REQUEST, "SIZE_INVALID"),
        E::Manifest(ManifestError::TooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID"),
        E::Manifest(_) => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
        E::ManifestBlobUnknown { .. } | E::ReferencedManifestUnknown { .. } => {
            (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN")
        }
        E::ManifestUnknown { .. } => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
        E::BlobUnknown { .. } => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
        E::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        E::Denied { .. } => (StatusCode::FORBIDDEN, "DENIED"),
        E::Contention { .. } => (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"),
        E::Store(_) | E::Storage(_) | E::Record { .. } | E::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN"),
    }
}

/// The error response for an error.
pub(crate) fn error_response(error: &RegistryError) -> Response {
    let (status, code) = status_and_code(error);
    if status.is_server_error() {
        tracing::error!(error = %error, "registry request failed");
    }
    let mut detail = json!({});
    if let RegistryError::RangeInvalid { offset, .. } = error {
        detail = json!({ "offset": offset });
    }
    let body = json!({ "errors": [{ "code": code, "message": error.to_string(), "detail": detail }] });
    let mut response = json_response(status, serde_json::to_vec(&body).unwrap_or_default());
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}
