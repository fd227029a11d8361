//! The one place where errors become AWS error responses: `{"__type": "...", "message": "..."}` with the status
//! the AWS models and protocols give.

use crate::auth::sigv4::SigV4Error;
use axum::response::{IntoResponse, Response};
use berth_control::{ControlError, EcsException};
use http::{HeaderValue, StatusCode};
use serde_json::json;

/// An error as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The exception name (`__type`).
    pub code: String,
    /// The message.
    pub message: String,
    /// `resourceIds`, for `ConflictException`.
    pub resource_ids: Vec<String>,
}

impl ApiError {
    /// An error with a status, an exception name and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_string(), message: message.into(), resource_ids: Vec::new() }
    }

    /// 400 with the given exception.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `UnknownOperationException`.
    pub fn unknown_operation(target: &str) -> Self {
        Self::bad_request("UnknownOperationException", format!("Unknown operation {target:?}."))
    }

    /// 400 `SerializationException`.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::bad_request("SerializationException", message)
    }

    /// 400 `ThrottlingException` "Rate exceeded", as AWS answers a principal over its request rate.
    pub fn throttled() -> Self {
        Self::bad_request("ThrottlingException", "Rate exceeded")
    }

    /// 400 `InvalidParameterException`: the body is larger than the service accepts.
    pub fn body_too_large(limit: usize) -> Self {
        Self::bad_request(
            "InvalidParameterException",
            format!("The request body is larger than the {limit} bytes this service accepts."),
        )
    }

    /// 500 `ServerException`, logging the cause (which the client does not see).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerException",
            "Berth hit an internal error; the server log has the cause.",
        )
    }

    /// The error as a response with a request id.
    pub fn into_response_with_id(self, request_id: &str) -> Response {
        let mut body = json!({"__type": self.code, "message": self.message});
        if !self.resource_ids.is_empty() {
            body["resourceIds"] = json!(self.resource_ids);
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            headers.insert("x-amzn-errortype", v);
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", v);
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_with_id(&berth_model::ids::new_uuid())
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        match error {
            ControlError::Ecs { exception: EcsException::ServerException, message, .. } => Self::internal(&message),
            ControlError::Ecs { exception: EcsException::AccessDeniedException, message, .. } => {
                Self::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
            }
            ControlError::Ecs { exception, message, resource_ids } => {
                Self { status: StatusCode::BAD_REQUEST, code: exception.as_str().to_string(), message, resource_ids }
            }
            ControlError::Contention { context } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServerException",
                format!("Too many concurrent changes while {context}; retry the request."),
            ),
            other @ (ControlError::Store { .. } | ControlError::Corrupt { .. }) => Self::internal(&other),
        }
    }
}

impl From<SigV4Error> for ApiError {
    fn from(error: SigV4Error) -> Self {
        let message = error.to_string();
        match error {
            SigV4Error::Missing => Self::new(StatusCode::FORBIDDEN, "MissingAuthenticationTokenException", message),
            SigV4Error::Incomplete(_) => Self::bad_request("IncompleteSignatureException", message),
            SigV4Error::UnknownKey => Self::new(StatusCode::FORBIDDEN, "UnrecognizedClientException", message),
            SigV4Error::Invalid(_) => Self::new(StatusCode::FORBIDDEN, "InvalidSignatureException", message),
        }
    }
}

impl From<berth_logs::LogsError> for ApiError {
    fn from(error: berth_logs::LogsError) -> Self {
        Self::new(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), error.exception, error.message)
    }
}

impl From<berth_registry::EcrError> for ApiError {
    fn from(error: berth_registry::EcrError) -> Self {
        match error {
            berth_registry::EcrError::Server { .. } => Self::internal(&error.message()),
            other => Self::new(
                StatusCode::from_u16(other.status()).unwrap_or(StatusCode::BAD_REQUEST),
                other.exception(),
                other.message(),
            ),
        }
    }
}
