//! Berth's front door: every AWS-shaped API and the agent protocol on one listener.
//!
//! # Background
//! AWS clients speak AWS JSON 1.1: `POST /` with `X-Amz-Target: <service prefix>.<Operation>`, a JSON body, and a
//! SigV4 `Authorization` header. This crate authenticates the request, picks the service by the target prefix, and
//! hands the body to that service's dispatcher, which decodes it into the model's request shape and calls one
//! library function. Errors become AWS error bodies in exactly one place, [`error`].
//!
//! # Design
//! - [`router`] builds the axum router: `POST /` (AWS JSON services, and AWS query form posts, routed by the
//!   credential scope's service), `POST /service/<prefix>/operation/<Op>` (Smithy RPC v2 CBOR), `/agent/v1/*`
//!   (node agents), ECS Exec session streams ([`exec`]), `/healthz`.
//! - Services with a shape table ([`service::AwsJsonService::schema`], CloudWatch) speak all three protocols its
//!   model lists: the front door turns CBOR and query requests into the JSON the service takes, and its JSON
//!   answer back into CBOR or XML ([`protocol`]); errors take each protocol's shape, with `x-amzn-query-error`
//!   for query-compatible services.
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
//! Only header-signed requests are accepted (no presigned query strings). One account: the root key(s), and IAM
//! users' keys and STS sessions when IAM is on; every call of an IAM principal is authorized in [`authz`].

mod acm;
mod agent;
mod agent_credentials;
mod agent_secrets;
pub mod auth;
pub mod authz;
mod autoscaling;
pub mod body;
pub mod capacity;
mod cloudwatch;
mod ec2;
mod ecr;
mod ecs;
mod elbv2;
pub mod error;
pub mod exec;
mod iam;
mod logs;
pub mod protocol;
mod secret_file_versions;
mod secrets;
pub mod service;
mod servicediscovery;
mod telemetry;

pub use acm::AcmService;
pub use autoscaling::AutoScalingService;
pub use capacity::CapacityService;
pub use cloudwatch::CloudWatchService;
pub use ec2::Ec2Service;
pub use ecr::EcrService;
pub use elbv2::ElbService;
pub use iam::{IamService, StsService};
pub use logs::LogsService;
pub use secrets::SecretsService;
pub use servicediscovery::ServiceDiscoveryService;

use auth::throttle::{RateLimit, RateLimiter};
use auth::{Credentials, Scope};
use axum::Router;
use axum::extract::{Path, Request, State};
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
    task_secrets: Option<Arc<berth_secrets::Secrets>>,
    /// The file-mode secret values last delivered to each task (for rotation events).
    secret_files: secret_file_versions::Delivered,
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
    /// The store agents read their tasks' container `secrets` from (`POST /agent/v1/secrets`); without it, a task
    /// with secrets fails to start.
    pub task_secrets: Option<Arc<berth_secrets::Secrets>>,
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
            task_secrets: settings.task_secrets,
            secret_files: secret_file_versions::Delivered::default(),
            exec_rendezvous: exec::Rendezvous::default(),
        }),
    };
    Router::new()
        .route("/", post(aws_json))
        .route("/service/{service}/operation/{operation}", post(rpc_v2_cbor))
        .route("/agent/v1/register", post(agent::register))
        .route("/agent/v1/stream", get(agent::stream))
        .route("/agent/v1/report", post(agent::report))
        .route("/agent/v1/registry-auth", post(agent::registry_auth))
        .route("/agent/v1/agent-update", post(agent::agent_update))
        .route("/agent/v1/secrets", post(agent_secrets::task_secrets))
        .route("/agent/v1/credentials", post(agent_credentials::task_credentials))
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
    if target.is_empty() && is_form(request.headers()) {
        return aws_query(&app, request, &request_id).await;
    }
    let (result, content_type) = handle_aws_json(&app, request, &target).await;
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status,
    };
    tracing::debug!(%target, %status, elapsed_ms = clock.monotonic().saturating_duration_since(started).as_millis() as u64, "aws request");
    match result {
        Ok(body) => ok_response(body, content_type, &request_id),
        Err(error) => error.into_json_response(&request_id, content_type),
    }
}

/// A 200 response with a body, its content type and the request id.
fn ok_response(body: Vec<u8>, content_type: &'static str, request_id: &str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}

/// Whether a request is a form post (the AWS query protocol).
fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with(protocol::query::FORM_CONTENT_TYPE))
}

/// Smithy RPC v2 CBOR: `POST /service/<target prefix>/operation/<Operation>`, for the services with a shape table.
async fn rpc_v2_cbor(
    State(app): State<AppState>,
    Path((prefix, operation)): Path<(String, String)>,
    request: Request,
) -> Response {
    let request_id = berth_model::ids::new_uuid();
    let result = async {
        let service = app
            .inner
            .services
            .iter()
            .find(|s| !prefix.is_empty() && s.target_prefix() == prefix && s.schema().is_some());
        let Some((service, schema)) = service.and_then(|s| Some((s, s.schema()?))) else {
            if request.headers().get(http::header::AUTHORIZATION).is_none() {
                return Err(auth::sigv4::SigV4Error::Missing.into());
            }
            return Err(ApiError::unknown_operation(&format!("{prefix}.{operation}")));
        };
        let (parts, body) = request.into_parts();
        let (body, caller) = authenticated_body(&app, parts, body, service.as_ref()).await?;
        let input = serde_json::to_vec(&protocol::cbor::to_json(&body)?).map_err(|e| ApiError::internal(&e))?;
        let output = call_service(&app, service.as_ref(), &operation, &input, &caller).await?;
        let value: serde_json::Value = if output.is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&output).map_err(|e| ApiError::internal(&e))?
        };
        let shape = schema.operation(&operation).and_then(|op| op.output);
        Ok(protocol::cbor::from_json(&value, schema, shape))
    }
    .await;
    match result {
        Ok(body) => {
            let mut response = ok_response(body, protocol::cbor::CONTENT_TYPE, &request_id);
            response.headers_mut().insert("smithy-protocol", HeaderValue::from_static(protocol::cbor::PROTOCOL));
            response
        }
        Err(error) => error.into_cbor_response(&request_id),
    }
}

/// The AWS query protocol: the service is the one its credential scope names (it must have a shape table), the
/// operation is `Action=`.
async fn aws_query(app: &AppState, request: Request, request_id: &str) -> Response {
    let scope_service = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| auth::sigv4::parse_authorization(v).ok())
        .map(|h| h.service);
    if scope_service.as_deref() == Some(ec2::SIGNING_NAME) {
        return ec2_query(app, request, request_id).await;
    }
    let service = app.inner.services.iter().find(|s| Some(s.signing_name()) == scope_service.as_deref());
    let schema = service.and_then(|s| s.schema());
    let namespace = schema.map_or("https://berth.invalid/doc/", |s| s.xml_namespace);
    let result = async {
        let (Some(service), Some(schema)) = (service, schema) else {
            if request.headers().get(http::header::AUTHORIZATION).is_none() {
                return Err(auth::sigv4::SigV4Error::Missing.into());
            }
            return Err(ApiError::bad_request(
                "InvalidAction",
                "Berth serves the AWS query protocol for CloudWatch (signing name monitoring), ELBv2 \
                 (elasticloadbalancing), IAM (iam) and STS (sts) only.",
            ));
        };
        let (parts, body) = request.into_parts();
        let (body, caller) = authenticated_body(app, parts, body, service.as_ref()).await?;
        let mut params = protocol::query::parse_form(&body);
        let action = params.remove("Action").unwrap_or_default();
        let version = params.remove("Version").unwrap_or_default();
        let invalid_action = || {
            let mut e = ApiError::bad_request(
                "InvalidAction",
                format!("Could not find operation {action} for version {version}."),
            );
            e.query_code = Some("InvalidAction".into());
            e
        };
        if action.is_empty() {
            let mut e = ApiError::bad_request("MissingAction", "The request must contain the parameter Action.");
            e.query_code = Some("MissingAction".into());
            return Err(e);
        }
        if version != schema.api_version {
            return Err(invalid_action());
        }
        let Some(op) = schema.operation(&action) else { return Err(invalid_action()) };
        let input = protocol::query::to_json(&params, schema, op.input)?;
        let input = serde_json::to_vec(&input).map_err(|e| ApiError::internal(&e))?;
        let output = call_service(app, service.as_ref(), op.name, &input, &caller).await?;
        let value: serde_json::Value = if output.is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&output).map_err(|e| ApiError::internal(&e))?
        };
        Ok(protocol::query::response(schema, op.name, op.output, op.result_wrapper, &value, request_id))
    }
    .await;
    match result {
        Ok(xml) => ok_response(xml.into_bytes(), protocol::query::XML_CONTENT_TYPE, request_id),
        Err(error) => error.into_query_response(request_id, namespace),
    }
}

/// EC2's query protocol (a form post scoped to `ec2`): the service reads the form and answers EC2's XML; errors are
/// EC2's own error document.
async fn ec2_query(app: &AppState, request: Request, request_id: &str) -> Response {
    let service = app.inner.services.iter().find(|s| s.signing_name() == ec2::SIGNING_NAME);
    let result = async {
        let Some(service) = service else {
            return Err(ApiError::bad_request("UnsupportedOperation", "This Berth server does not serve EC2."));
        };
        let (parts, body) = request.into_parts();
        let (body, caller) = authenticated_body(app, parts, body, service.as_ref()).await?;
        let params = protocol::query::parse_form(&body);
        let action = params.get("Action").cloned().unwrap_or_default();
        // The one authorization hook, as for every other API; EC2's operations here act on no single resource
        // ARN the hook maps, so their resource is `*` (as most of EC2's Describe* are on AWS).
        let config = app.inner.control.config();
        let place = authz::Place {
            region: &config.region,
            account: &config.account_id,
            now: app.inner.control.clock().now(),
            definition_roles: None,
        };
        authz::authorize(
            app.inner.credentials.iam().map(|i| i.as_ref()),
            &place,
            service.as_ref(),
            &action,
            b"{}",
            &caller,
        )
        .await?;
        let clock = app.inner.control.clock();
        telemetry::call_with_request_id(clock.as_ref(), service.as_ref(), &action, &body, &caller, request_id).await
    }
    .await;
    match result {
        Ok(xml) => ok_response(xml, protocol::query::XML_CONTENT_TYPE, request_id),
        Err(error) => error.into_ec2_response(request_id),
    }
}

/// Authenticates, then reads, then dispatches: nothing of the body is read before the request has passed every
/// check that does not need it, and nothing is parsed before the signature is verified. The result and the
/// content type of the service's JSON protocol.
async fn handle_aws_json(app: &AppState, request: Request, target: &str) -> (Result<Vec<u8>, ApiError>, &'static str) {
    let inner = &app.inner;
    // The service decides the credential scope and the body limit. Without a known target the request cannot be
    // authenticated either (its scope's service is unknown), so a missing Authorization header is reported first.
    let service = match target.split_once('.') {
        Some((prefix, _)) if !prefix.is_empty() => inner.services.iter().find(|s| s.target_prefix() == prefix),
        Some(_) => None,
        None => None,
    };
    let Some(service) = service else {
        if request.headers().get(http::header::AUTHORIZATION).is_none() {
            return (Err(auth::sigv4::SigV4Error::Missing.into()), protocol::json11::CONTENT_TYPE);
        }
        return (Err(ApiError::unknown_operation(target)), protocol::json11::CONTENT_TYPE);
    };
    let content_type = service.json_content_type();
    let operation = target.split_once('.').map(|(_, op)| op).unwrap_or_default();
    let (parts, body) = request.into_parts();
    let result = match authenticated_body(app, parts, body, service.as_ref()).await {
        Ok((body, caller)) => call_service(app, service.as_ref(), operation, &body, &caller).await,
        Err(e) => Err(e),
    };
    (result, content_type)
}

/// Calls an operation once authenticated: the one authorization hook ([`authz`]) for every service and
/// protocol, then the service (counted by [`telemetry`]). `input` is the operation's JSON input.
async fn call_service(
    app: &AppState,
    service: &dyn AwsJsonService,
    operation: &str,
    input: &[u8],
    caller: &auth::Caller,
) -> Result<Vec<u8>, ApiError> {
    let inner = &app.inner;
    let config = inner.control.config();
    let control = inner.control.clone();
    let roles = move |td: &str| control.task_definition_roles(td);
    let place = authz::Place {
        region: &config.region,
        account: &config.account_id,
        now: inner.control.clock().now(),
        definition_roles: Some(&roles),
    };
    authz::authorize(inner.credentials.iam().map(|i| i.as_ref()), &place, service, operation, input, caller).await?;
    telemetry::call(inner.control.clock().as_ref(), service, operation, input, caller).await
}

/// Authenticates a request for `service` (SigV4, or an agent's instance token where the service allows it), reads
/// its body within the service's limit, and admits it through the caller's rate limit.
async fn authenticated_body(
    app: &AppState,
    parts: http::request::Parts,
    body: axum::body::Body,
    service: &dyn AwsJsonService,
) -> Result<(bytes::Bytes, auth::Caller), ApiError> {
    let inner = &app.inner;
    let now = inner.control.clock().now() as i64;
    let limit = service.max_body_bytes().min(MAX_BODY_BYTES);
    if let Some(token) = agent_bearer(&parts.headers) {
        let caller = authenticate_agent_caller(inner, service, token)?;
        let body = read_body(&parts, body, limit, inner).await?.into_bytes();
        berth_listener::ConnectionHandle::mark_extensions(&parts.extensions);
        return Ok((body, caller));
    }
    let scope = Scope { region: &inner.control.config().region, service: service.signing_name() };
    let pending = auth::check_headers(&inner.credentials, &parts.headers, scope, now)?;
    let body = read_body(&parts, body, limit, inner).await?;
    let mut caller = pending.finish(parts.method.as_str(), &parts.uri, &parts.headers, &body.sha256_hex)?;
    caller.source_ip = parts.extensions.get::<berth_listener::PeerAddr>().map(|p| p.0.ip());
    berth_listener::ConnectionHandle::mark_extensions(&parts.extensions);
    let body = body.into_bytes();
    if !inner.rate_limiter.admit(&caller.access_key_id) {
        return Err(ApiError::throttled());
    }
    Ok((body, caller))
}

/// The most of a refused body read and dropped before answering ([`body::discard`]).
const LINGER_MAX_BYTES: usize = 8 * 1024 * 1024;
/// How long a refused body is read for at most.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads a request body into a SHA-256 hasher, refusing a declared `Content-Length` over `limit` (a body of at
/// most [`LINGER_MAX_BYTES`] is read and dropped first, so its client gets the answer).
async fn read_body(
    parts: &http::request::Parts,
    body: axum::body::Body,
    limit: usize,
    inner: &Inner,
) -> Result<body::HashedBody, ApiError> {
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(length) = declared.filter(|length| *length > limit as u64) {
        // A body a little over the limit is read and dropped (bounded) so that its client reads the answer; a
        // larger one is refused unread and its connection closed.
        if length <= LINGER_MAX_BYTES as u64 {
            body::discard(body, LINGER_MAX_BYTES, LINGER_TIME).await;
        }
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
        identity: None,
        source_ip: None,
        replication_source: None,
    })
}
