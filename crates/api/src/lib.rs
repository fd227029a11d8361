//! Berth's front door: every AWS-shaped API and the agent protocol on one listener.
//!
//! # Background
//! AWS clients speak AWS JSON 1.1: `POST /` with `X-Amz-Target: <service prefix>.<Operation>`, a JSON body, and a
//! SigV4 `Authorization` header. This crate authenticates the request, picks the service by the target prefix, and
//! hands the body to that service's dispatcher, which decodes it into the model's request shape and calls one
//! library function. Errors become AWS error bodies in exactly one place, [`error`].
//!
//! # Design
//! - [`router`] builds the axum router: `POST /` (AWS JSON services), `/agent/v1/*` (node agents), `/healthz`.
//!   Other crates add their own routes (the registry's `/v2/`) by merging routers in the binary.
//! - Request bodies are read with a hard cap before anything is parsed; each service has its own limit.
//! - [`auth::sigv4`] verifies signatures itself, against the secrets in [`auth::Credentials`].
//!
//! # Limitations
//! Only header-signed requests are accepted (no presigned query strings); there is one root identity per account
//! and no IAM policy evaluation.

mod agent;
pub mod auth;
mod ecr;
mod ecs;
pub mod error;
pub mod protocol;
pub mod service;

pub use ecr::EcrService;

use auth::{Credentials, authenticate};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_control::Control;
use berth_model::agent::RegistryAuth;
use error::ApiError;
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use service::AwsJsonService;
use std::sync::Arc;

/// The largest body any AWS JSON service accepts; bigger requests are refused before they are read.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    control: Arc<Control>,
    credentials: Credentials,
    join_token: String,
    services: Vec<Arc<dyn AwsJsonService>>,
    registry_auth: Option<Box<dyn Fn() -> RegistryAuth + Send + Sync>>,
}

/// What the front door needs.
pub struct ApiSettings {
    /// The control plane.
    pub control: Arc<Control>,
    /// The access keys accepted.
    pub credentials: Credentials,
    /// The token agents join with.
    pub join_token: String,
    /// AWS JSON services besides ECS (e.g. ECR).
    pub extra_services: Vec<Arc<dyn AwsJsonService>>,
    /// Mints the credentials an agent uses to pull from Berth's registry.
    pub registry_auth: Option<Box<dyn Fn() -> RegistryAuth + Send + Sync>>,
}

/// Builds the router.
pub fn router(settings: ApiSettings) -> Router {
    let mut services: Vec<Arc<dyn AwsJsonService>> = vec![Arc::new(service::EcsService::new(settings.control.clone()))];
    services.extend(settings.extra_services);
    let state = AppState {
        inner: Arc::new(Inner {
            control: settings.control,
            credentials: settings.credentials,
            join_token: settings.join_token,
            services,
            registry_auth: settings.registry_auth,
        }),
    };
    Router::new()
        .route("/", post(aws_json))
        .route("/agent/v1/register", post(agent::register))
        .route("/agent/v1/stream", get(agent::stream))
        .route("/agent/v1/report", post(agent::report))
        .route("/agent/v1/registry-auth", post(agent::registry_auth))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::bad_request(
            "InvalidParameterException",
            format!("The request body is larger than the {limit} bytes this service accepts."),
        )),
        Err(e) => Err(ApiError::serialization(format!("The request body could not be read: {e}"))),
    }
}

async fn aws_json(State(app): State<AppState>, request: Request) -> Response {
    let request_id = berth_model::ids::new_uuid();
    let started = std::time::Instant::now();
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let result = handle_aws_json(&app, request, &target).await;
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status,
    };
    tracing::debug!(%target, %status, elapsed_ms = started.elapsed().as_millis() as u64, "aws request");
    match result {
        Ok(body) => {
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(protocol::json11::CONTENT_TYPE));
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                headers.insert("x-amzn-requestid", v);
            }
            response
        }
        Err(error) => error.into_response_with_id(&request_id),
    }
}

async fn handle_aws_json(app: &AppState, request: Request, target: &str) -> Result<Vec<u8>, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, MAX_BODY_BYTES).await?;
    let now = app.inner.control.clock().now() as i64;
    let caller = authenticate(&app.inner.credentials, parts.method.as_str(), &parts.uri, &parts.headers, &body, now)?;
    let (prefix, operation) = target.split_once('.').ok_or_else(|| ApiError::unknown_operation(target))?;
    let service = app
        .inner
        .services
        .iter()
        .find(|s| s.target_prefix() == prefix)
        .ok_or_else(|| ApiError::unknown_operation(target))?;
    if body.len() > service.max_body_bytes() {
        return Err(ApiError::bad_request(
            "InvalidParameterException",
            format!("The request body is larger than the {} bytes this service accepts.", service.max_body_bytes()),
        ));
    }
    service.call(operation, &body, &caller).await
}
