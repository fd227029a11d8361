//! The agent protocol endpoints (`berth_model::agent`): register, the desired-state stream, reports, registry
//! credentials. Every endpoint but register authenticates the instance token, and answers only about the instance
//! that token names.

use crate::AppState;
use crate::error::ApiError;
use crate::protocol::json11::{decode, encode};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_listener::ConnectionHandle;
use berth_model::agent::{
    AgentUpdateReport, RegisterRequest, RegistryAuthResponse, ReportRequest, STREAM_HEARTBEAT_SECONDS, StreamMessage,
};
use http::{HeaderMap, StatusCode};
use std::time::Duration;

/// How often the stream says "still here" when nothing changes.
const STREAM_HEARTBEAT: Duration = Duration::from_secs(STREAM_HEARTBEAT_SECONDS);

pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "AccessDeniedException", "A bearer token is required."))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn json_response(body: Vec<u8>) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST /agent/v1/register` with the join token (a new instance), or with the instance secret in the body (the same
/// instance again; the join token may then be stale, e.g. rotated since the agent joined).
pub async fn register(
    State(app): State<AppState>,
    connection: ConnectionHandle,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    let join_token_valid = constant_time_eq(token.as_bytes(), app.inner.join_token.as_bytes());
    let req = decode::<RegisterRequest>(&body);
    // Without the join token, only a rejoin with an instance secret goes on (the control plane checks the secret).
    let has_secret = req.as_ref().is_ok_and(|r| r.instance_secret.as_deref().is_some_and(|s| !s.is_empty()));
    if !join_token_valid && !has_secret {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "AccessDeniedException", "The join token is not valid."));
    }
    let req = req?;
    let mut response = app.inner.control.register_agent_checked(req, join_token_valid).await?;
    connection.mark_authenticated();
    if let Some(registry_auth) = &app.inner.registry_auth {
        response.registry_auth = Some(registry_auth());
    }
    Ok(json_response(encode(&response)?))
}

/// `POST /agent/v1/registry-auth` with the instance token: fresh registry pull credentials, so an agent refreshes
/// them before they expire.
pub async fn registry_auth(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (cluster, id) = app.inner.control.authenticate_agent(bearer(&headers)?)?;
    app.inner.control.touch_agent(&cluster, &id).await?;
    let response = RegistryAuthResponse { registry_auth: app.inner.registry_auth.as_ref().map(|issue| issue()) };
    Ok(json_response(encode(&response)?))
}

/// `POST /agent/v1/report` with the instance token.
pub async fn report(
    State(app): State<AppState>,
    connection: ConnectionHandle,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (cluster, id) = app.inner.control.authenticate_agent(bearer(&headers)?)?;
    connection.mark_authenticated();
    let req: ReportRequest = decode(&body)?;
    let response = app.inner.control.agent_report(&cluster, &id, req).await?;
    Ok(json_response(encode(&response)?))
}

/// `POST /agent/v1/agent-update` with the instance token: the progress of an in-place upgrade.
pub async fn agent_update(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let (cluster, id) = app.inner.control.authenticate_agent(bearer(&headers)?)?;
    let report: AgentUpdateReport = decode(&body)?;
    app.inner.control.agent_update_progress(&cluster, &id, report).await?;
    Ok(json_response(b"{}".to_vec()))
}

fn line(message: &StreamMessage) -> Result<Bytes, std::io::Error> {
    let mut bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    Ok(Bytes::from(bytes))
}

/// `GET /agent/v1/stream` with the instance token: NDJSON desired states and heartbeats until the client leaves.
pub async fn stream(
    State(app): State<AppState>,
    connection: ConnectionHandle,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?.to_string();
    let control = app.inner.control.clone();
    // An agent that moved here from another server may hold a desired state newer than this server's cache: the
    // first one sent here must not be older (it would drop a task the other server had just placed), and the agent
    // may have registered through the other server a moment ago.
    control.catch_up_with_store().await?;
    let (cluster, id) = control.authenticate_agent(&token)?;
    connection.mark_authenticated();
    let mut changes = control.cache().subscribe_instance(&id);
    let mut exec_changes = control.exec_sessions().subscribe();
    let body = async_stream::stream! {
        // The tasks and host network last sent.
        let mut last: Option<(Vec<berth_model::agent::TaskSpec>, Option<berth_model::agent::HostNetwork>)> = None;
        let mut last_update = None;
        let mut heartbeat = tokio::time::interval(STREAM_HEARTBEAT);
        heartbeat.tick().await;
        // The revisions the last desired state was computed at: a heartbeat with nothing written since (most of them,
        // with thousands of idle agents) computes nothing. (A desired state also reads records outside the ECS cache,
        // such as security groups, hence the store's revision as well as the cache's.)
        let mut computed_at = None;
        loop {
            if control.authenticate_agent(&token).is_err() {
                break; // deregistered: the agent must register again
            }
            // Both: the cache may apply a revision the store had already shown.
            let revision = (control.store_revision(), control.cache().revision());
            let desired = if computed_at == Some(revision) { None } else { Some(control.desired_state(&cluster, &id)) };
            computed_at = Some(revision);
            if let Some(desired) = desired {
            // A new host network (another host registered or left) is sent as well as new tasks.
            if last.as_ref().is_none_or(|(tasks, network)| *tasks != desired.tasks || *network != desired.host_network) {
                if tracing::enabled!(target: "berth_timing", tracing::Level::DEBUG) {
                    let before = last.as_ref().map(|(tasks, _)| tasks.as_slice()).unwrap_or_default();
                    for t in desired.tasks.iter().filter(|t| !before.iter().any(|l| l.task_arn == t.task_arn)) {
                        tracing::debug!(target: "berth_timing", task = %t.task_arn, step = %"stream_sent");
                    }
                }
                last = Some((desired.tasks.clone(), desired.host_network.clone()));
                yield line(&StreamMessage::Desired(desired));
            }
            }
            let update = control.agent_update_order(&cluster, &id);
            if update != last_update {
                last_update = update.clone();
                if let Some(target_version) = update {
                    yield line(&StreamMessage::UpdateAgent { target_version });
                }
            }
            for start in control.exec_sessions().take_announced(&id) {
                yield line(&StreamMessage::Exec(start));
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                changed = exec_changes.changed() => if changed.is_err() { break },
                _ = heartbeat.tick() => {
                    yield line(&StreamMessage::Heartbeat { server_time: control.clock().now() });
                }
            }
        }
    };
    Ok(([(http::header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(body)).into_response())
}
