//! ECS Exec on the API listener: `ExecuteCommand`, the client's session stream
//! (`GET /exec/v1/sessions/<id>/stream`) and the agent's dial-back (`GET /agent/v1/exec/<id>`), both WebSockets
//! carrying [`ExecFrame`]s, and the relay between them.
//!
//! # Design
//! - The client authenticates with the session's single-use token (`Authorization: Bearer <tokenValue>`), checked
//!   before the upgrade: a wrong, expired or reused token is 403 `AccessDeniedException` and never upgrades. Only
//!   then is the connection marked authenticated on the listener. Query parameters choose a terminal (`tty`,
//!   default `true` as ECS's sessions run in one) and its initial size (`rows`, `cols`).
//! - Once the client is upgraded, the session is announced to the task's agent on its desired-state stream; the
//!   agent dials back with its instance token within [`AGENT_DIAL_TIMEOUT`], and the two sockets meet in
//!   [`Rendezvous`]. The relay forwards client frames (`Stdin`, `StdinEof`, `Resize`) to the agent and agent frames
//!   (`Stdout`, `Stderr`, `Exit`, `Error`) to the client, dropping anything else.
//! - The relay pings both ends every 20 s and ends a session whose end stayed silent (not even a pong) for 65 s,
//!   so a vanished client does not hold its agent's exec forever.
//! - Connect and close are audited (`berth::exec::audit`, info) with the caller, task, container, command and
//!   the exit code.

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::protocol::json11::{decode, encode};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use berth_control::Control;
use berth_control::exec::ExecGrant;
use berth_listener::ConnectionHandle;
use berth_model::agent::ExecFrame;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a connected client waits for the task's agent to dial back.
pub const AGENT_DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// How often the relay pings both ends; an end silent (not even a pong) for [`SILENCE_LIMIT`] is taken as gone.
const PING_EVERY: Duration = Duration::from_secs(20);

/// See [`PING_EVERY`].
const SILENCE_LIMIT: Duration = Duration::from_secs(65);

/// The largest WebSocket message either side may send.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Clients waiting for their agent's socket, by session id.
#[derive(Default)]
pub struct Rendezvous(Mutex<HashMap<String, oneshot::Sender<WebSocket>>>);

impl Rendezvous {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<WebSocket>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `ExecuteCommand`: decodes the request and issues a session for `caller`.
pub fn execute_command(control: &Control, body: &[u8], caller: &Caller) -> Result<Vec<u8>, ApiError> {
    let host = caller.host.as_deref().unwrap_or("localhost");
    encode(&control.execute_command(decode(body)?, &caller.access_key_id, host)?)
}

/// The client stream's query parameters.
#[derive(Debug, Deserialize)]
pub struct StreamParams {
    /// Whether to run the command in a terminal (default true).
    tty: Option<bool>,
    /// The terminal's initial rows.
    rows: Option<u16>,
    /// The terminal's initial columns.
    cols: Option<u16>,
}

fn denied(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// `GET /exec/v1/sessions/<id>/stream` with the session token: the client's end of a session.
pub async fn client_stream(
    State(app): State<AppState>,
    Path(session_id): Path<String>,
    Query(params): Query<StreamParams>,
    connection: ConnectionHandle,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = bearer(&headers).ok_or_else(|| denied("The session token is required (Authorization: Bearer)."))?;
    // Refuse a request that cannot upgrade before its token is spent.
    let upgrade = upgrade.map_err(|e| ApiError::bad_request("InvalidParameterException", e.body_text()))?;
    let control = app.inner.control.clone();
    let grant = control.exec_sessions().claim(&session_id, token).map_err(|e| {
        tracing::info!(target: "berth::exec::audit", event = "refused", session = %session_id, "exec stream refused: {e}");
        denied("The session token is not valid: it is wrong, expired or was used already.")
    })?;
    connection.mark_authenticated();
    let tty = params.tty.unwrap_or(true);
    let size = match (params.rows, params.cols) {
        (Some(rows), Some(cols)) if tty => Some((rows, cols)),
        _ => None,
    };
    tracing::info!(
        target: "berth::exec::audit",
        event = "connect",
        principal = %grant.principal,
        task = %grant.task_arn,
        container = %grant.container_name,
        command = %grant.command,
        session = %grant.session_id,
        tty,
        "exec session connected"
    );
    Ok(upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let (code, reason) = relay(&app, &grant, socket, tty, size).await;
            app.inner.control.exec_sessions().finish(&grant.session_id);
            tracing::info!(
                target: "berth::exec::audit",
                event = "close",
                principal = %grant.principal,
                task = %grant.task_arn,
                container = %grant.container_name,
                command = %grant.command,
                session = %grant.session_id,
                exit_code = code.map(i64::from),
                reason,
                "exec session closed"
            );
        })
        .into_response())
}

/// `GET /agent/v1/exec/<id>` with the instance token: the agent's end of a session it was told about.
pub async fn agent_stream(
    State(app): State<AppState>,
    Path(session_id): Path<String>,
    connection: ConnectionHandle,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = bearer(&headers).ok_or_else(|| denied("A bearer token is required."))?;
    let (_, instance_id) = app.inner.control.authenticate_agent(token)?;
    let upgrade = upgrade.map_err(|e| ApiError::bad_request("InvalidParameterException", e.body_text()))?;
    app.inner
        .control
        .exec_sessions()
        .agent_dial(&instance_id, &session_id)
        .map_err(|e| denied(&format!("This instance cannot serve exec session {session_id}: {e}.")))?;
    connection.mark_authenticated();
    Ok(upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |mut socket| async move {
            let waiting = app.inner.exec_rendezvous.lock().remove(&session_id);
            match waiting {
                Some(client) => {
                    if let Err(mut socket) = client.send(socket) {
                        let _ = socket.send(Message::Close(None)).await;
                    }
                }
                None => {
                    let _ = socket.send(Message::Close(None)).await;
                }
            }
        })
        .into_response())
}

/// Waits for the agent, then relays until either side ends. Returns the exit code (if the command exited) and
/// how the session ended.
async fn relay(
    app: &AppState,
    grant: &ExecGrant,
    mut client: WebSocket,
    tty: bool,
    size: Option<(u16, u16)>,
) -> (Option<i32>, &'static str) {
    let (tx, rx) = oneshot::channel();
    app.inner.exec_rendezvous.lock().insert(grant.session_id.clone(), tx);
    if let Err(error) = app.inner.control.announce_exec(grant, tty, size).await {
        app.inner.exec_rendezvous.lock().remove(&grant.session_id);
        tracing::warn!(session = %grant.session_id, %error, "cannot announce an exec session");
        let frame = ExecFrame::Error(format!("the session could not be announced to the task's agent: {error}"));
        let _ = client.send(Message::Binary(frame.encode().into())).await;
        let _ = client.send(Message::Close(None)).await;
        return (None, "not announced");
    }
    let agent = tokio::time::timeout(AGENT_DIAL_TIMEOUT, rx).await;
    app.inner.exec_rendezvous.lock().remove(&grant.session_id);
    // Dialled or given up on: no server needs to hand it out any more.
    app.inner.control.retract_exec(grant).await;
    let Ok(Ok(mut agent)) = agent else {
        let frame = ExecFrame::Error("the task's agent did not connect to the session in time".into());
        let _ = client.send(Message::Binary(frame.encode().into())).await;
        let _ = client.send(Message::Close(None)).await;
        return (None, "agent did not connect");
    };
    let mut exit = None;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let clock = app.inner.control.clock();
    let (mut heard_client, mut heard_agent) = (clock.monotonic(), clock.monotonic());
    let reason = loop {
        tokio::select! {
            _ = ping.tick() => {
                let now = clock.monotonic();
                let silent = |heard| now.saturating_duration_since(heard) > SILENCE_LIMIT;
                if silent(heard_client) || silent(heard_agent) {
                    let _ = agent.send(Message::Close(None)).await;
                    let _ = client.send(Message::Close(None)).await;
                    break "silent peer";
                }
                let ping = || Message::Ping(Vec::new().into());
                if client.send(ping()).await.is_err() || agent.send(ping()).await.is_err() {
                    let _ = agent.send(Message::Close(None)).await;
                    break "connection lost";
                }
            }
            message = client.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    heard_client = clock.monotonic();
                    let Ok(frame) = ExecFrame::decode(&bytes) else { continue };
                    if frame.from_client() && agent.send(Message::Binary(bytes)).await.is_err() {
                        break "agent connection lost";
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = agent.send(Message::Close(None)).await;
                    break "client left";
                }
                Some(Ok(_)) => heard_client = clock.monotonic(),
            },
            message = agent.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    heard_agent = clock.monotonic();
                    let Ok(frame) = ExecFrame::decode(&bytes) else { continue };
                    if frame.from_client() {
                        continue;
                    }
                    if let ExecFrame::Exit(code) = frame {
                        exit = Some(code);
                    }
                    if client.send(Message::Binary(bytes)).await.is_err() {
                        let _ = agent.send(Message::Close(None)).await;
                        break "client connection lost";
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = client.send(Message::Close(None)).await;
                    break if exit.is_some() { "command exited" } else { "agent left" };
                }
                Some(Ok(_)) => heard_agent = clock.monotonic(),
            },
        }
    };
    (exit, reason)
}
