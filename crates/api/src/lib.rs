//! Berth's front door: every AWS-shaped API and the agent protocol on one listener.
//!
//! # Background
//! AWS clients speak AWS JSON 1.1: `POST /` with `X-Amz-Target: <service prefix>.<Operation>`, a JSON body, and a
//! SigV4 `Authorization` header. This crate authenticates the request, picks the service by the target prefix, and
//! hands the body to that service's dispatcher, which decodes it into the model's request shape and calls one
//! library function. Errors become AWS error bodies in exactly one place, [`error`].
//!
//! # Design
//! - [`router`] builds the axum router: `POST /` (AWS JSON services), `/agent/v1/*` (node agents), ECS Exec
//!   session streams ([`exec`]), `/healthz`.
//!   Other crates add their own routes (the registry's `/v2/`) by merging routers in the binary.
//! - Authentication comes first: everything the signature check needs besides the body (the `Authorization`
//!   header, the access key, the date, the scope's region and service, the signed-header set) is checked before a
//!   byte of the body is read, so an unauthenticated client never makes the server buffer a body. The body is then
//!   read, up to the service's limit (a larger `Content-Length` is refused unread), into a SHA-256 hasher, and the
//!   signature verified against that hash before anything is parsed. Bodies not yet verified share a server-wide
//!   memory budget beyond their first 64 KiB ([`body`]).
//! - [`auth::sigv4`] verifies signatures itself, against the secrets in [`auth::Credentials`].
//! - Each principal's request rate is limited ([`auth::throttle`]) once its signature is verified.
//!
//! # Limitations
//! Only header-signed requests are accepted (no presigned query strings); there is one root identity per account
//! and no IAM policy evaluation.

mod agent;
pub mod auth;
pub mod body;
mod ecr;
mod ecs;
pub mod error;
pub mod exec;
mod logs;
pub mod protocol;
pub mod service;

pub use ecr::EcrService;
pub use logs::LogsService;

use auth::throttle::{RateLimit, RateLimiter};
use auth::{Credentials, Scope};
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_control::Control;
use berth_model::agent::RegistryAuth;
use error::ApiError;
use http::{HeaderValue, StatusCode};
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
    rate_limiter: RateLimiter,
    unverified: body::UnverifiedBudget,
    exec_rendezvous: exec::Rendezvous,
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
    /// Each access key's request rate limit (AWS JSON APIs only; agents are not limited by it).
    pub rate_limit: RateLimit,
}

/// Builds the router.
pub fn router(settings: ApiSettings) -> Router {
    let mut services: Vec<Arc<dyn AwsJsonService>> = vec![Arc::new(service::EcsService::new(settings.control.clone()))];
    services.extend(settings.extra_services);
    let rate_limiter = RateLimiter::new(settings.rate_limit, settings.control.clock().clone());
    let state = AppState {
        inner: Arc::new(Inner {
            rate_limiter,
            unverified: body::UnverifiedBudget::new(body::DEFAULT_UNVERIFIED_BYTES),
            control: settings.control,
            credentials: settings.credentials,
            join_token: settings.join_token,
            services,
            registry_auth: settings.registry_auth,
            exec_rendezvous: exec::Rendezvous::default(),
        }),
    };
    Router::new()
        .route("/", post(aws_json))
        .route("/agent/v1/register", post(agent::register))
        .route("/agent/v1/stream", get(agent::stream))
        .route("/agent/v1/report", post(agent::report))
        .route("/agent/v1/registry-auth", post(agent::registry_auth))
        .route("/agent/v1/agent-update", post(agent::agent_update))
        .route("/agent/v1/exec/{session}", get(exec::agent_stream))
        .route("/exec/v1/sessions/{session}/stream", get(exec::client_stream))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

async fn aws_json(State(app): State<AppState>, request: Request) -> Response {
    let request_id = berth_model::ids::new_uuid();
    let clock = app.inner.control.clock();
    let started = clock.monotonic();
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let result = handle_aws_json(&app, request, &target).await;
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status,
    };
    tracing::debug!(%target, %status, elapsed_ms = clock.monotonic().saturating_duration_since(started).as_millis() as u64, "aws request");
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

/// Authenticates, then reads, then dispatches: nothing of the body is read before the request has passed every
/// check that does not need it, and nothing is parsed before the signature is verified.
async fn handle_aws_json(app: &AppState, request: Request, target: &str) -> Result<Vec<u8>, ApiError> {
    let (parts, body) = request.into_parts();
    let inner = &app.inner;
    let now = inner.control.clock().now() as i64;
    // The service decides the credential scope and the body limit. Without a known target the request cannot be
    // authenticated either (its scope's service is unknown), so a missing Authorization header is reported first.
    let service = match target.split_once('.') {
        Some((prefix, _)) => inner.services.iter().find(|s| s.target_prefix() == prefix),
        None => None,
    };
    let Some(service) = service else {
        if parts.headers.get(http::header::AUTHORIZATION).is_none() {
            return Err(auth::sigv4::SigV4Error::Missing.into());
        }
        return Err(ApiError::unknown_operation(target));
    };
    let operation = target.split_once('.').map(|(_, op)| op).unwrap_or_default();
    let limit = service.max_body_bytes().min(MAX_BODY_BYTES);
    if let Some(token) = agent_bearer(&parts.headers) {
        let caller = authenticate_agent_caller(inner, service.as_ref(), token)?;
        let body = read_body(&parts, body, limit, inner).await?.into_bytes();
        berth_listener::ConnectionHandle::mark_extensions(&parts.extensions);
        return service.call(operation, &body, &caller).await;
    }
    let scope = Scope { region: &inner.control.config().region, service: service.signing_name() };
    let pending = auth::check_headers(&inner.credentials, &parts.headers, scope, now)?;
    let body = read_body(&parts, body, limit, inner).await?;
    let caller = pending.finish(parts.method.as_str(), &parts.uri, &parts.headers, &body.sha256_hex)?;
    berth_listener::ConnectionHandle::mark_extensions(&parts.extensions);
    let body = body.into_bytes();
    if !inner.rate_limiter.admit(&caller.access_key_id) {
        return Err(ApiError::throttled());
    }
    service.call(operation, &body, &caller).await
}

/// Reads a request body into a SHA-256 hasher, refusing a declared `Content-Length` over `limit` unread.
async fn read_body(
    parts: &http::request::Parts,
    body: axum::body::Body,
    limit: usize,
    inner: &Inner,
) -> Result<body::HashedBody, ApiError> {
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::body_too_large(limit));
    }
    body::read_hashed(body, limit, &inner.unverified).await
}

/// The instance token of an agent calling an AWS JSON API (`Authorization: Bearer <cluster>/<id>/<secret>`), if
/// that is how the request authenticates. Any other `Authorization` header, another bearer token included, goes
/// through SigV4 and fails there as AWS answers it (`IncompleteSignatureException`).
fn agent_bearer(headers: &http::HeaderMap) -> Option<&str> {
    let token = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?;
    (token.split('/').count() == 3).then_some(token)
}

/// Authenticates an agent by its instance token, for ECS and CloudWatch Logs only: the caller is its container
/// instance, which may call only the operations an agent needs (see `ecs::dispatch` and `LogsService`: the log
/// shipper's). Agents are throttled per instance.
fn authenticate_agent_caller(
    inner: &Inner,
    service: &dyn AwsJsonService,
    token: &str,
) -> Result<auth::Caller, ApiError> {
    if !matches!(service.signing_name(), "ecs" | "logs") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "An agent's instance token is accepted by the ECS and CloudWatch Logs APIs only.",
        ));
    }
    let (cluster, instance_id) = inner.control.authenticate_agent(token)?;
    let arn = inner.control.arn(&format!("container-instance/{cluster}/{instance_id}"));
    if !inner.rate_limiter.admit(&arn) {
        return Err(ApiError::throttled());
    }
    Ok(auth::Caller {
        access_key_id: String::new(),
        account_id: inner.control.config().account_id.clone(),
        arn,
        agent: Some(berth_control::state_changes::AgentCaller { cluster, instance_id }),
        host: None,
    })
}
