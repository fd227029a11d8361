//! The test server and helpers.

pub mod image;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use berth_model::clock::{Clock, ManualClock, SystemClock};
use berth_registry::{Caller, Registry, RegistryConfig};
use berth_store::{SharedStore, SqliteStore};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const ACCOUNT: &str = "000000000000";

pub fn caller() -> Caller {
    Caller {
        access_key_id: "AKIDTEST".into(),
        account_id: ACCOUNT.into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:root"),
        replication_source: None,
    }
}

/// Forwards `POST /` with `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<op>` to `Registry::ecr` (no SigV4:
/// the API crate's front door verifies signatures; this harness only needs the operations).
pub fn ecr_router(registry: Arc<Registry>) -> Router {
    async fn handle(State(registry): State<Arc<Registry>>, headers: HeaderMap, body: Bytes) -> Response {
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
        let Some(op) = target.strip_prefix("AmazonEC2ContainerRegistry_V20150921.") else {
            return error(400, "UnknownOperationException", "unknown target");
        };
        match registry.ecr(op, &body, &caller()).await {
            Ok(out) => (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], out).into_response(),
            Err(e) => error(e.status(), e.exception(), &e.message()),
        }
    }
    fn error(status: u16, kind: &str, message: &str) -> Response {
        let body = serde_json::to_vec(&json!({"__type": kind, "message": message})).unwrap();
        let status = StatusCode::from_u16(status).unwrap();
        (status, [("content-type", "application/x-amz-json-1.1")], body).into_response()
    }
    Router::new().route("/", post(handle)).with_state(registry)
}

pub struct TestServer {
    pub registry: Arc<Registry>,
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub clock: Option<Arc<ManualClock>>,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

pub struct Options {
    pub manual_clock: bool,
    pub gc_grace: Duration,
    /// Starts the background jobs with this lifecycle interval.
    pub lifecycle_interval: Option<Duration>,
    /// Upstream URLs pull-through cache rules may name.
    pub pull_through_allow: Vec<String>,
    /// Extra CA certificates for https upstreams.
    pub pull_through_ca: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            manual_clock: false,
            gc_grace: Duration::from_secs(3600),
            lifecycle_interval: None,
            pull_through_allow: Vec::new(),
            pull_through_ca: None,
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let store: SharedStore = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
        let manual = options.manual_clock.then(|| Arc::new(ManualClock::new(1_700_000_000.0)));
        let clock: Arc<dyn Clock> = match &manual {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let mut config = RegistryConfig::new(dir.path().join("registry"), "us-east-1", ACCOUNT, addr.clone());
        config.gc_grace = options.gc_grace;
        config.pull_through_allow = options.pull_through_allow.clone();
        config.pull_through_ca = options.pull_through_ca.clone();
        if let Some(interval) = options.lifecycle_interval {
            config.lifecycle_interval = interval;
        }
        let registry = Registry::open(config, store, clock).await.unwrap();
        if options.lifecycle_interval.is_some() {
            registry.spawn_background();
        }
        let app = registry.router().merge(ecr_router(registry.clone()));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let http = reqwest::Client::builder().pool_max_idle_per_host(16).build().unwrap();
        TestServer { registry, addr, dir, clock: manual, http, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Calls an ECR operation; returns the status and JSON body.
    pub async fn ecr(&self, op: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/"))
            .header("x-amz-target", format!("AmazonEC2ContainerRegistry_V20150921.{op}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(serde_json::to_vec(&body).unwrap())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Calls an ECR operation that must succeed.
    pub async fn ecr_ok(&self, op: &str, body: Value) -> Value {
        let (status, out) = self.ecr(op, body.clone()).await;
        assert_eq!(status, 200, "{op} {body} -> {out}");
        out
    }

    pub async fn create_repo(&self, name: &str) {
        self.ecr_ok("CreateRepository", json!({"repositoryName": name})).await;
    }

    /// The registry password from GetAuthorizationToken.
    pub async fn password(&self) -> String {
        let out = self.ecr_ok("GetAuthorizationToken", json!({})).await;
        let encoded = out["authorizationData"][0]["authorizationToken"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        String::from_utf8(decoded).unwrap().strip_prefix("AWS:").unwrap().to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An authenticated raw OCI client.
#[derive(Clone)]
pub struct Oci {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Oci {
    pub async fn new(server: &TestServer) -> Oci {
        Oci { http: server.http.clone(), base: format!("http://{}", server.addr), token: server.password().await }
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{}", self.base, path) };
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// Pushes a blob monolithically (POST then PUT); returns the digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = image::sha256(data);
        let r = self.req(reqwest::Method::POST, &format!("/v2/{repo}/blobs/uploads/")).send().await.unwrap();
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let r = self
            .req(reqwest::Method::PUT, &format!("{location}?digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        digest
    }

    /// Pushes a manifest; returns the status and body.
    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> reqwest::Response {
        self.req(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes a whole test image (blobs then manifest) under `tag`.
    pub async fn push_image(&self, repo: &str, tag: &str, img: &image::TestImage) -> String {
        for layer in &img.layers {
            self.push_blob(repo, &layer.blob).await;
        }
        self.push_blob(repo, &img.config).await;
        let r = self.put_manifest(repo, tag, &img.media_type, &img.manifest).await;
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        img.digest.clone()
    }
}

/// Error code of an OCI error body.
pub async fn oci_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["errors"][0]["code"].as_str().unwrap_or("").to_string())
}

/// Runs a command; panics with its output if it fails.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs a blocking command off the async runtime.
pub async fn run_async(mut cmd: std::process::Command) -> String {
    tokio::task::spawn_blocking(move || run(&mut cmd)).await.unwrap()
}
