//! A stand-alone Berth registry for tests and benchmarks: the OCI API under `/v2/` and the ECR API on `POST /`
//! **without SigV4** (it trusts every caller as the account root), on a loopback address. The real server is
//! `berth up`, where the API front door authenticates ECR calls; use this only on 127.0.0.1.
//!
//! Usage: `registry-dev --data-dir DIR [--listen 127.0.0.1:7700] [--token-file PATH] [--pull-through-allow URL]...`.
//! It prints `listening on <addr>` once ready; `--token-file` receives a push/pull registry password;
//! `--pull-through-allow` lets pull-through cache rules name that upstream (as `berth server`'s flag).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use berth_model::clock::SystemClock;
use berth_registry::{Caller, Registry, RegistryConfig};
use berth_store::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;

fn caller(account: &str) -> Caller {
    Caller {
        access_key_id: "AKIDDEV".into(),
        account_id: account.into(),
        arn: format!("arn:aws:iam::{account}:root"),
        replication_source: None,
    }
}

async fn ecr(State(registry): State<Arc<Registry>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let reply = |status: u16, body: Vec<u8>| {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [("content-type", "application/x-amz-json-1.1")], body).into_response()
    };
    let Some(op) = target.strip_prefix("AmazonEC2ContainerRegistry_V20150921.") else {
        return reply(400, br#"{"__type":"UnknownOperationException"}"#.to_vec());
    };
    let account = registry.config().account_id.clone();
    match registry.ecr(op, &body, &caller(&account)).await {
        Ok(out) => reply(200, out),
        Err(e) => {
            let body = serde_json::json!({"__type": e.exception(), "message": e.message()});
            reply(e.status(), serde_json::to_vec(&body).unwrap_or_default())
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut data_dir, mut listen, mut token_file) = (None, "127.0.0.1:7700".to_string(), None);
    let mut allow = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => data_dir = args.next().map(PathBuf::from),
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            "--token-file" => token_file = args.next().map(PathBuf::from),
            "--pull-through-allow" => allow.push(args.next().ok_or("--pull-through-allow needs a URL")?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let data_dir = data_dir.ok_or("--data-dir is required")?;
    std::fs::create_dir_all(&data_dir)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        return Err("registry-dev serves the ECR API without authentication: listen on a loopback address".into());
    }
    let store = Arc::new(SqliteStore::open(&data_dir.join("store.db"))?);
    let mut config = RegistryConfig::new(data_dir.join("registry"), "us-east-1", "000000000000", addr.to_string());
    config.pull_through_allow = allow;
    let registry = Registry::open(config, store, Arc::new(SystemClock)).await?;
    registry.spawn_background();
    if let Some(path) = token_file {
        let (token, _) = registry.issue_token(&caller("000000000000"));
        std::fs::write(path, token)?;
    }
    let app: Router = registry.router().merge(Router::new().route("/", post(ecr)).with_state(registry.clone()));
    println!("listening on {addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
