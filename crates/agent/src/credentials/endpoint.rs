//! The credentials endpoint's HTTP side: `GET /v2/credentials/<id>` answers ECS's document (`RoleArn`,
//! `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration` in ISO 8601) to the task the id belongs to, and ECS's
//! agent's 400 to anyone else.

use super::TaskCredentials;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_listener::PeerAddr;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The router both listeners serve.
pub fn router(credentials: Arc<TaskCredentials>) -> Router {
    Router::new()
        .route("/v2/credentials/{id}", get(credentials_v2))
        .route("/v2/credentials", get(no_id))
        .route("/v2/credentials/", get(no_id))
        .with_state(credentials)
}

/// Binds `ip` on `port`, else on a free port.
pub async fn bind(ip: IpAddr, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(SocketAddr::new(ip, port)).await {
        Ok(listener) => Ok(listener),
        Err(_) => tokio::net::TcpListener::bind(SocketAddr::new(ip, 0)).await,
    }
}

/// Serves `router` on `listener` in the background, with the default timeouts and connection cap.
pub fn serve(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(berth_listener::serve(listener, router, berth_listener::Limits::default(), std::future::pending()));
}

fn bad_request(code: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "code": code, "message": message }))).into_response()
}

async fn no_id() -> Response {
    bad_request("NoIdInRequest", "CredentialsV2Request: No ID in the request")
}

async fn credentials_v2(
    State(credentials): State<Arc<TaskCredentials>>,
    Path(id): Path<String>,
    peer: Option<axum::Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let peer = peer.map(|p| p.0.0.ip());
    let authorization = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match credentials.answer(&id, peer, authorization) {
        Some(c) => axum::Json(json!({
            "RoleArn": c.role_arn,
            "AccessKeyId": c.access_key_id,
            "SecretAccessKey": c.secret_access_key,
            "Token": c.session_token,
            "Expiration": iso8601(c.expiration),
        }))
        .into_response(),
        None => {
            tracing::info!(?peer, "a credentials request for an id this caller may not read");
            bad_request("InvalidIdInRequest", "CredentialsV2Request: Credentials not found")
        }
    }
}

/// `2026-11-30T06:00:00Z`.
pub fn iso8601(epoch: i64) -> String {
    let (days, rem) = (epoch.div_euclid(86_400), epoch.rem_euclid(86_400));
    let (y, m, d) = berth_model::clock::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}
