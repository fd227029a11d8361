//! The console's way to Berth's APIs: every call is a SigV4-signed request, signed with the signed-in principal's
//! key pair, handed to the API router of the same process (the very router the listener serves). So a console call
//! passes everything a call from the aws CLI passes: signature verification, the principal's throttle, the one
//! authorization hook (IAM's evaluation of that principal) and the service's validation. Nothing goes over the
//! network, so a TLS listener needs no trust set-up for it.
//!
//! [`ecs`] and [`aws`] are the typed calls the pages make; [`xml`] reads the query protocol's answers (ELBv2, STS).

pub mod aws;
pub mod ecs;
pub mod xml;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use axum::body::Body;
use berth_model::clock::Clock;
use http::{HeaderValue, StatusCode};
use std::sync::Arc;
use tower::ServiceExt;

/// The most of an API answer the console reads.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The host the console's requests name (they never leave the process; SigV4 signs it like any other header).
const INTERNAL_HOST: &str = "berth-console.internal";

/// An access key pair (with a session token for STS credentials).
#[derive(Clone)]
pub struct Keys {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// Where a console request came from: the browser's connection, whose address IAM's `aws:SourceIp` sees and which
/// an authenticated call marks as such (as a signed API call marks its own).
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The browser's address.
    pub peer: Option<berth_listener::PeerAddr>,
    /// The browser's connection.
    pub connection: berth_listener::ConnectionHandle,
}

impl Origin {
    /// The origin recorded in a request's extensions by the listener.
    pub fn of(extensions: &http::Extensions) -> Self {
        Self {
            peer: extensions.get::<berth_listener::PeerAddr>().copied(),
            connection: extensions.get::<berth_listener::ConnectionHandle>().cloned().unwrap_or_default(),
        }
    }
}

/// Who calls: the key pair and where the browser is.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    /// The signed-in principal's keys.
    pub keys: &'a Keys,
    /// The browser's connection.
    pub origin: &'a Origin,
}

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with an AWS error.
    #[error("{code}: {message}")]
    Service {
        /// The HTTP status.
        status: u16,
        /// The error code (`AccessDeniedException` ...).
        code: String,
        /// The service's message.
        message: String,
    },
    /// The request could not be made or its answer not read.
    #[error("the console could not call {operation}: {detail}")]
    Internal {
        /// The operation.
        operation: String,
        /// What went wrong.
        detail: String,
    },
}

impl ApiError {
    fn internal(operation: &str, detail: impl std::fmt::Display) -> Self {
        Self::Internal { operation: operation.to_string(), detail: detail.to_string() }
    }

    /// The HTTP status a page showing this error answers with: the service's own 4xx, else 502 (the console is a
    /// gateway to the API; a 5xx of the API is not the console's own failure).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Service { status, .. } => match StatusCode::from_u16(*status) {
                Ok(code) if code.is_client_error() => code,
                _ => StatusCode::BAD_GATEWAY,
            },
            Self::Internal { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// The error code (`AccessDeniedException` ...), if the service gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            Self::Internal { .. } => None,
        }
    }
}

/// An AWS JSON service the console calls.
#[derive(Debug, Clone, Copy)]
pub struct JsonService {
    /// The SigV4 signing name.
    pub signing_name: &'static str,
    /// The `X-Amz-Target` prefix.
    pub target_prefix: &'static str,
    /// The protocol's content type (JSON 1.1 or 1.0).
    pub content_type: &'static str,
}

/// ECS.
pub const ECS: JsonService = JsonService {
    signing_name: berth_model::ecs::SIGNING_NAME,
    target_prefix: berth_model::ecs::TARGET_PREFIX,
    content_type: "application/x-amz-json-1.1",
};
/// ECR.
pub const ECR: JsonService = JsonService {
    signing_name: berth_model::ecr::SIGNING_NAME,
    target_prefix: berth_model::ecr::TARGET_PREFIX,
    content_type: "application/x-amz-json-1.1",
};
/// CloudWatch Logs.
pub const LOGS: JsonService = JsonService {
    signing_name: berth_model::logs::SIGNING_NAME,
    target_prefix: berth_model::logs::TARGET_PREFIX,
    content_type: "application/x-amz-json-1.1",
};
/// CloudWatch (its JSON 1.0 protocol).
pub const CLOUDWATCH: JsonService = JsonService {
    signing_name: berth_model::cloudwatch::SIGNING_NAME,
    target_prefix: berth_model::cloudwatch::TARGET_PREFIX,
    content_type: "application/x-amz-json-1.0",
};

/// Signed calls into the API router.
#[derive(Clone)]
pub struct Api {
    router: axum::Router,
    clock: Arc<dyn Clock>,
    region: String,
}

impl Api {
    /// Calls through `router` (the API's), signing for `region` with times from `clock`.
    pub fn new(router: axum::Router, clock: Arc<dyn Clock>, region: impl Into<String>) -> Self {
        Self { router, clock, region: region.into() }
    }

    /// An AWS JSON operation; its answer as JSON (an empty answer is `{}`).
    pub async fn json(
        &self,
        caller: Caller<'_>,
        service: JsonService,
        operation: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let body = serde_json::to_vec(input).map_err(|e| ApiError::internal(operation, e))?;
        let target = format!("{}.{operation}", service.target_prefix);
        let headers = [("content-type", service.content_type), ("x-amz-target", target.as_str())];
        let (status, answer) = self.send(caller, service.signing_name, operation, &headers, body).await?;
        let value: serde_json::Value = if answer.is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&answer).map_err(|e| ApiError::internal(operation, format!("its answer: {e}")))?
        };
        if status.is_success() {
            return Ok(value);
        }
        let code = value.get("__type").and_then(|v| v.as_str()).unwrap_or("Error");
        let code = code.rsplit('#').next().unwrap_or(code).to_string();
        let message = value.get("message").or_else(|| value.get("Message")).and_then(|v| v.as_str()).unwrap_or("");
        Err(ApiError::Service { status: status.as_u16(), code, message: message.to_string() })
    }

    /// A query-protocol operation (`Action` and `Version` first in `params`); its answer's XML document.
    pub async fn query(
        &self,
        caller: Caller<'_>,
        signing_name: &str,
        params: &[(&str, &str)],
    ) -> Result<xml::Element, ApiError> {
        let operation = params.iter().find(|(k, _)| *k == "Action").map_or("?", |(_, v)| *v).to_string();
        let body = form_body(params).into_bytes();
        let headers = [("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
        let (status, answer) = self.send(caller, signing_name, &operation, &headers, body).await?;
        let text = std::str::from_utf8(&answer).map_err(|e| ApiError::internal(&operation, e))?;
        let document = xml::parse(text).map_err(|e| ApiError::internal(&operation, format!("its answer: {e}")))?;
        if status.is_success() {
            return Ok(document);
        }
        let error = document.find("Error");
        let field = |name: &str| error.and_then(|e| e.child_text(name)).unwrap_or_default().to_string();
        let code = field("Code");
        Err(ApiError::Service {
            status: status.as_u16(),
            code: if code.is_empty() { "Error".into() } else { code },
            message: field("Message"),
        })
    }

    /// Signs a `POST /` with `headers` and `body` as the caller and hands it to the router.
    async fn send(
        &self,
        caller: Caller<'_>,
        signing_name: &str,
        operation: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(StatusCode, bytes::Bytes), ApiError> {
        let url = format!("http://{INTERNAL_HOST}/");
        let mut all: Vec<(&str, &str)> = vec![("host", INTERNAL_HOST)];
        all.extend_from_slice(headers);
        let keys = caller.keys;
        let credentials = aws_credential_types::Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            keys.session_token.clone(),
            None,
            "berth-console",
        );
        let identity = credentials.into();
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(self.clock.now().max(0.0));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(signing_name)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| ApiError::internal(operation, format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new("POST", &url, all.iter().copied(), SignableBody::Bytes(&body))
            .map_err(|e| ApiError::internal(operation, format!("signing: {e}")))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| ApiError::internal(operation, format!("signing: {e}")))?.into_parts();
        let mut request = http::Request::builder().method("POST").uri("/");
        for (name, value) in &all {
            request = request.header(*name, *value);
        }
        let length = HeaderValue::from(body.len());
        let mut request = request.body(Body::from(body)).map_err(|e| ApiError::internal(operation, e))?;
        instructions.apply_to_request_http1x(&mut request);
        request.headers_mut().insert(http::header::CONTENT_LENGTH, length);
        if let Some(peer) = caller.origin.peer {
            request.extensions_mut().insert(peer);
        }
        request.extensions_mut().insert(caller.origin.connection.clone());
        let response = self.router.clone().oneshot(request).await.map_err(|e| ApiError::internal(operation, e))?;
        let status = response.status();
        let answer = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| ApiError::internal(operation, format!("reading its answer: {e}")))?;
        Ok((status, answer))
    }
}

/// `application/x-www-form-urlencoded` of `params`.
pub fn form_body(params: &[(&str, &str)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v))).collect::<Vec<_>>().join("&")
}

/// A form value encoded (RFC 3986 unreserved characters kept).
fn form_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, crate::html::COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_encode_reserved_characters() {
        assert_eq!(
            form_body(&[("Action", "DescribeTargetHealth"), ("TargetGroupArn", "arn:a/b c&d")]),
            "Action=DescribeTargetHealth&TargetGroupArn=arn%3Aa%2Fb%20c%26d"
        );
    }

    #[test]
    fn errors_keep_the_services_status_and_code() {
        let e = ApiError::Service { status: 400, code: "AccessDeniedException".into(), message: "no".into() };
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.code(), Some("AccessDeniedException"));
        assert_eq!(e.to_string(), "AccessDeniedException: no");
        assert_eq!(ApiError::internal("X", "broken").status(), StatusCode::BAD_GATEWAY);
        let e = ApiError::Service { status: 500, code: "InternalFailure".into(), message: "m".into() };
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
    }
}
