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
        E::Contention { .. } | E::LimitExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"),
        E::Upstream { .. } => (StatusCode::BAD_GATEWAY, "UNKNOWN"),
        E::Store(_) | E::Storage(_) | E::Record { .. } | E::Io { .. } | E::Quarantined { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN")
        }
    }
}

/// The error response for an error. A server error shows the client only a generic message and a request id
/// (in the body and the `x-request-id` header); its detail, which may name files, goes to the log with that id.
pub(crate) fn error_response(error: &RegistryError) -> Response {
    let (status, code) = status_and_code(error);
    let mut detail = json!({});
    if let RegistryError::RangeInvalid { offset, .. } = error {
        detail = json!({ "offset": offset });
    }
    let mut request_id = None;
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        tracing::error!(request_id = %id, error = %error, "registry request failed");
        detail = json!({ "requestId": id });
        let message = format!("internal server error; the server log has the cause under request id {id}");
        request_id = Some(id);
        message
    } else {
        error.to_string()
    };
    let body = json!({ "errors": [{ "code": code, "message": message, "detail": detail }] });
    let mut response = json_response(status, serde_json::to_vec(&body).unwrap_or_default());
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    }
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageError;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn server_errors_show_a_request_id_not_the_detail() {
        let error = RegistryError::Storage(StorageError::Io {
            operation: "open",
            path: "/var/lib/berth/registry/uploads/x/data".into(),
            source: std::io::Error::other("Is a directory"),
        });
        let response = error_response(&error);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = response.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("/var/lib") && !text.contains("directory"), "{text}");
        assert!(text.contains(&id), "{text}");
    }
}
