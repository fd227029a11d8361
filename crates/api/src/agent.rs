//! The agent protocol endpoints (`berth_model::agent`): register, the desired-state stream, reports.

use crate::AppState;
use crate::error::ApiError;
use crate::protocol::json11::{decode, encode};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_listener::ConnectionHandle;
use berth_model::agent::{RegisterRequest, ReportRequest, StreamMessage};
use http::{HeaderMap, StatusCode};
use std::time::Duration;

/// How often the stream says "still here" when nothing changes.
const STREAM_HEARTBEAT: Duration = Duration::from_secs(5);

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "AccessDeniedException", "A bearer token is required."))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json_response(body: Vec<u8>) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST /agent/v1/register` with the join token.
pub async fn register(
    State(app): State<AppState>,
    connection: ConnectionHandle,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    if !constant_time_eq(token.as_bytes(), app.inner.join_token.as_bytes()) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "AccessDeniedException", "The join token is not valid."));
    }
    connection.mark_authenticated();
    let req: RegisterRequest = decode(&body)?;
    let mut response = app.inner.control.register_agent(req).await?;
    if let Some(registry_auth) = &app.inner.registry_auth {
        response.registry_auth = Some(registry_auth());
    }
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
    let (cluster, id) = control.authenticate_agent(&token)?;
    connection.mark_authenticated();
    let mut changes = control.cache().subscribe();
    let body = async_stream::stream! {
        let mut last = None;
        let mut heartbeat = tokio::time::interval(STREAM_HEARTBEAT);
        heartbeat.tick().await;
        loop {
            if control.authenticate_agent(&token).is_err() {
                break; // deregistered: the agent must register again
            }
            let desired = control.desired_state(&cluster, &id);
            if last.as_ref() != Some(&desired.tasks) {
                last = Some(desired.tasks.clone());
                yield line(&StreamMessage::Desired(desired));
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                _ = heartbeat.tick() => {
                    yield line(&StreamMessage::Heartbeat { server_time: control.clock().now() });
                }
            }
        }
    };
    Ok(([(http::header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(body)).into_response())
}
