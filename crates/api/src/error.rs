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
    /// The AWS query protocol's code for the error, for services compatible with it (CloudWatch's
    /// `InvalidParameterValue` for `InvalidParameterValueException`): the `<Code>` of a query error and, in JSON and
    /// CBOR, the `x-amzn-query-error: <code>;Sender` header the SDKs take the error code from.
    pub query_code: Option<String>,
}

impl ApiError {
    /// An error with a status, an exception name and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_string(), message: message.into(), resource_ids: Vec::new(), query_code: None }
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

    /// `Sender` or `Receiver`: who is at fault.
    pub fn fault(&self) -> &'static str {
        if self.status.is_server_error() { "Receiver" } else { "Sender" }
    }

    /// The error as an AWS JSON 1.1 response with a request id.
    pub fn into_response_with_id(self, request_id: &str) -> Response {
        self.into_json_response(request_id, crate::protocol::json11::CONTENT_TYPE)
    }

    /// The error as an AWS JSON response (1.0 or 1.1, by `content_type`) with a request id.
    pub fn into_json_response(self, request_id: &str, content_type: &'static str) -> Response {
        let mut body = json!({"__type": self.code, "message": self.message});
        if !self.resource_ids.is_empty() {
            body["resourceIds"] = json!(self.resource_ids);
        }
        let headers = self.headers(request_id, content_type);
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().extend(headers);
        response
    }

    /// The error as a Smithy RPC v2 CBOR response: a CBOR `{"__type", "message"}` body.
    pub fn into_cbor_response(self, request_id: &str) -> Response {
        let body = crate::protocol::cbor::error_body(&self.code, &self.message);
        let mut headers = self.headers(request_id, crate::protocol::cbor::CONTENT_TYPE);
        headers.insert("smithy-protocol", HeaderValue::from_static(crate::protocol::cbor::PROTOCOL));
        let mut response = (self.status, body).into_response();
        response.headers_mut().extend(headers);
        response
    }

    /// The error as an AWS query (XML) response, with its query code when it has one.
    pub fn into_query_response(self, request_id: &str, namespace: &str) -> Response {
        let code = self.query_code.as_deref().unwrap_or(&self.code);
        let body = crate::protocol::query::error(namespace, self.fault(), code, &self.message, request_id);
        let headers = self.headers(request_id, crate::protocol::query::XML_CONTENT_TYPE);
        let mut response = (self.status, body).into_response();
        response.headers_mut().extend(headers);
        response
    }

    /// The error as EC2's XML error document (EC2's query protocol has its own, unlike the other query APIs).
    pub fn into_ec2_response(self, request_id: &str) -> Response {
        let code = self.query_code.as_deref().unwrap_or(&self.code);
        let body = berth_vpc::xml::error(code, &self.message, request_id);
        let headers = self.headers(request_id, crate::protocol::query::XML_CONTENT_TYPE);
        let mut response = (self.status, body).into_response();
        response.headers_mut().extend(headers);
        response
    }

    fn headers(&self, request_id: &str, content_type: &'static str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            headers.insert("x-amzn-errortype", v);
        }
        if let Some(code) = &self.query_code
            && let Ok(v) = HeaderValue::from_str(&format!("{code};{}", self.fault()))
        {
            headers.insert("x-amzn-query-error", v);
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", v);
        }
        headers
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
            ControlError::Ecs { exception, message, resource_ids } => Self {
                status: StatusCode::BAD_REQUEST,
                code: exception.as_str().to_string(),
                message,
                resource_ids,
                query_code: None,
            },
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
            SigV4Error::ExpiredToken => Self::bad_request("ExpiredTokenException", message),
        }
    }
}

impl From<berth_logs::LogsError> for ApiError {
    fn from(error: berth_logs::LogsError) -> Self {
        Self::new(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), error.exception, error.message)
    }
}

impl From<berth_autoscaling::ScalingError> for ApiError {
    fn from(error: berth_autoscaling::ScalingError) -> Self {
        Self::new(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), error.exception, error.message)
    }
}

impl From<berth_discovery::DiscoveryError> for ApiError {
    fn from(error: berth_discovery::DiscoveryError) -> Self {
        Self::new(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), error.exception, error.message)
    }
}

impl From<berth_secrets::SecretsError> for ApiError {
    fn from(error: berth_secrets::SecretsError) -> Self {
        Self::new(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), error.exception, error.message)
    }
}

impl From<berth_acm::AcmError> for ApiError {
    fn from(error: berth_acm::AcmError) -> Self {
        Self::new(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), error.exception, error.message)
    }
}

impl From<berth_metrics::MetricsError> for ApiError {
    fn from(error: berth_metrics::MetricsError) -> Self {
        let mut out = Self::new(
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
            error.exception,
            error.message,
        );
        out.query_code = Some(error.code.to_string());
        out
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

impl From<berth_vpc::VpcError> for ApiError {
    fn from(error: berth_vpc::VpcError) -> Self {
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut out = Self::new(status, &error.code, error.message);
        out.query_code = Some(error.code);
        out
    }
}

impl From<berth_elb::ElbError> for ApiError {
    fn from(error: berth_elb::ElbError) -> Self {
        let mut out =
            Self::new(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), error.code, error.message);
        // ELBv2 is query only: its codes are the `<Code>` of the XML error.
        out.query_code = Some(error.code.to_string());
        out
    }
}

impl From<berth_iam::IamError> for ApiError {
    fn from(error: berth_iam::IamError) -> Self {
        let mut out =
            Self::new(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), error.code, error.message);
        // IAM and STS are query only: their codes are the `<Code>` of the XML error.
        out.query_code = Some(error.code.to_string());
        out
    }
}
