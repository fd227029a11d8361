//! The agent's HTTP client for the control plane's `/agent/v1/` endpoints.
//!
//! It holds a list of servers (`--server URL1,URL2,...`: several servers on one store, any of which serves agents)
//! and talks to one at a time; a call that cannot reach it (no connection, no answer in time, a 502/503/504) moves
//! the client to the next one, and the caller's own retry (with its backoff) goes there. Which server an agent talks
//! to does not matter: every server computes the desired state from the same store.

use crate::AgentError;
use berth_model::agent::{
    AgentUpdateReport, RegisterRequest, RegisterResponse, RegistryAuthResponse, ReportRequest, ReportResponse,
    STREAM_READ_DEADLINE_SECONDS, StreamMessage,
};
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long one register, report or credentials call may take. Shorter than the server's agent timeout, so that a
/// call stuck on a connection that stopped forwarding is retried on a new one before the instance looks silent.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one CloudWatch Logs call may take: a PutLogEvents carries up to a mebibyte of events.
const LOGS_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for a control plane of one or more servers.
#[derive(Debug, Clone)]
pub struct ServerClient {
    http: reqwest::Client,
    /// For the desired-state stream: keeps no idle connections, so a reconnect never lands on a pooled connection
    /// that has stopped forwarding.
    stream_http: reqwest::Client,
    /// The servers' base URLs, in the order given.
    bases: Arc<Vec<String>>,
    /// The index of the server in use (shared by clones).
    current: Arc<AtomicUsize>,
    /// The TLS settings of an `https://` server.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl ServerClient {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:7700`), or the servers of a comma-separated list
    /// of them; `tls` (from [`crate::tls::client_config`]) for `https://` servers, whose certificates it then
    /// verifies, and which it reaches over https only.
    pub fn new(base: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Self, AgentError> {
        let bases = server_list(base)?;
        let builder = |idle_per_host: Option<usize>| {
            let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).tcp_nodelay(true);
            if let Some(idle) = idle_per_host {
                builder = builder.pool_max_idle_per_host(idle);
            }
            if let Some(config) = &tls {
                builder = builder.tls_backend_preconfigured(rustls::ClientConfig::clone(config)).https_only(true);
            }
            builder.build().map_err(|e| AgentError::Transport(format!("building the HTTP client: {e}")))
        };
        let (http, stream_http) = (builder(None)?, builder(Some(0))?);
        Ok(Self { http, stream_http, bases: Arc::new(bases), current: Arc::new(AtomicUsize::new(0)), tls })
    }

    /// The base URL of the server in use.
    pub fn base(&self) -> String {
        self.target().1
    }

    /// Every server's base URL, the one in use first, then the others in the order given.
    pub fn bases_current_first(&self) -> Vec<String> {
        let (index, _) = self.target();
        let n = self.bases.len();
        (0..n).filter_map(|i| self.bases.get((index + i) % n).cloned()).collect()
    }

    /// The server in use: its index and base URL.
    fn target(&self) -> (usize, String) {
        let index = self.current.load(Ordering::SeqCst) % self.bases.len().max(1);
        (index, self.bases.get(index).cloned().unwrap_or_default())
    }

    /// The server at `index` did not answer: move to the next one (unless another call moved already).
    fn failed(&self, index: usize) {
        if self.bases.len() < 2 {
            return;
        }
        let next = (index + 1) % self.bases.len();
        if self.current.compare_exchange(index, next, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            tracing::warn!(from = %self.bases[index], to = %self.bases[next], "server unreachable; moving to the next one");
        }
    }

    /// Moves on when `status` says the server cannot serve now (a proxy without a backend, an overloaded server).
    fn check_unavailable(&self, index: usize, status: reqwest::StatusCode) {
        if matches!(status.as_u16(), 502..=504) {
            self.failed(index);
        }
    }

    /// The TLS settings of an `https://` server (for the exec dial-back WebSockets).
    pub fn tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.clone()
    }

    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        body: &Req,
    ) -> Result<Resp, AgentError> {
        let body = serde_json::to_vec(body).map_err(|e| AgentError::Decode(e.to_string()))?;
        let (index, base) = self.target();
        let response = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .timeout(CALL_TIMEOUT)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport(index, format!("POST {path}"), &e))?;
        let status = response.status();
        self.check_unavailable(index, status);
        let bytes = response.bytes().await.map_err(|e| AgentError::Transport(format!("POST {path}: {e}")))?;
        check(status, &bytes)?;
        serde_json::from_slice(&bytes).map_err(|e| AgentError::Decode(format!("POST {path}: {e}")))
    }

    /// GETs `path` (`/v2/...`) from Berth's registry on the server's listener with Basic credentials; the body of a
    /// 200 answer.
    pub async fn registry_get(&self, path: &str, basic: (&str, &str), accept: &str) -> Result<Vec<u8>, AgentError> {
        let (index, base) = self.target();
        let response = self
            .http
            .get(format!("{base}{path}"))
            .basic_auth(basic.0, Some(basic.1))
            .header("accept", accept)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.transport(index, format!("GET {path}"), &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| AgentError::Transport(format!("GET {path}: {e}")))?;
        if !status.is_success() {
            return Err(AgentError::Transport(format!("GET {path}: HTTP {status}")));
        }
        Ok(bytes.to_vec())
    }

    /// Joins the cluster.
    pub async fn register(&self, join_token: &str, req: &RegisterRequest) -> Result<RegisterResponse, AgentError> {
        self.post("/agent/v1/register", join_token, req).await
    }

    /// Sends observed task states (or a heartbeat).
    pub async fn report(&self, token: &str, req: &ReportRequest) -> Result<ReportResponse, AgentError> {
        self.post("/agent/v1/report", token, req).await
    }

    /// Fresh registry credentials for this instance.
    pub async fn registry_auth(&self, token: &str) -> Result<RegistryAuthResponse, AgentError> {
        self.post("/agent/v1/registry-auth", token, &serde_json::json!({})).await
    }

    /// The values of a task's container secrets (only for a task placed on this instance).
    pub async fn task_secrets(
        &self,
        token: &str,
        req: &berth_model::agent::TaskSecretsRequest,
    ) -> Result<berth_model::agent::TaskSecretsResponse, AgentError> {
        self.post("/agent/v1/secrets", token, req).await
    }

    /// The task role's session credentials of a task placed on this instance.
    pub async fn task_credentials(
        &self,
        token: &str,
        req: &berth_model::agent::TaskCredentialsRequest,
    ) -> Result<berth_model::agent::TaskCredentialsResponse, AgentError> {
        self.post("/agent/v1/credentials", token, req).await
    }

    /// Reports the progress of an in-place upgrade.
    pub async fn agent_update(&self, token: &str, report: &AgentUpdateReport) -> Result<(), AgentError> {
        let _: serde_json::Value = self.post("/agent/v1/agent-update", token, report).await?;
        Ok(())
    }

    /// Calls a CloudWatch Logs operation (`CreateLogStream`, `PutLogEvents`, ...) on the server's AWS JSON API with
    /// the instance token: the awslogs shipper's calls. The JSON response.
    pub async fn logs_call(
        &self,
        token: &str,
        operation: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, AgentError> {
        let body = serde_json::to_vec(request).map_err(|e| AgentError::Decode(e.to_string()))?;
        let (index, base) = self.target();
        let response = self
            .http
            .post(format!("{base}/"))
            .bearer_auth(token)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{}.{operation}", berth_model::logs::TARGET_PREFIX))
            .timeout(LOGS_CALL_TIMEOUT)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport(index, operation.to_string(), &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| AgentError::Transport(format!("{operation}: {e}")))?;
        check(status, &bytes)?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| AgentError::Decode(format!("{operation}: {e}")))
    }

    /// Opens the desired-state stream. The stream ends with an error when nothing (not even a heartbeat) arrives
    /// for [`STREAM_READ_DEADLINE_SECONDS`]: a proxy or a network that stops forwarding without closing the
    /// connection is noticed, and the caller reconnects.
    pub async fn stream(
        &self,
        token: &str,
    ) -> Result<impl Stream<Item = Result<StreamMessage, AgentError>> + use<>, AgentError> {
        let (index, base) = self.target();
        let response = self.stream_http.get(format!("{base}/agent/v1/stream")).bearer_auth(token).send();
        let response = tokio::time::timeout(CALL_TIMEOUT, response)
            .await
            .map_err(|_| {
                self.failed(index);
                AgentError::Transport(format!("GET {base}/agent/v1/stream: no answer"))
            })?
            .map_err(|e| self.transport(index, "GET /agent/v1/stream".into(), &e))?;
        let status = response.status();
        self.check_unavailable(index, status);
        if !status.is_success() {
            let bytes = response.bytes().await.unwrap_or_default();
            let fallback = AgentError::Rejected { status: status.as_u16(), body: String::new() };
            return Err(check(status, &bytes).err().unwrap_or(fallback));
        }
        let mut bytes = response.bytes_stream();
        let deadline = Duration::from_secs(STREAM_READ_DEADLINE_SECONDS);
        Ok(async_stream::stream! {
            let mut buffer: Vec<u8> = Vec::new();
            loop {
                let chunk = match tokio::time::timeout(deadline, bytes.next()).await {
                    Err(_) => {
                        yield Err(AgentError::Transport(format!(
                            "no message on the stream for {} s (the server heartbeats every {} s)",
                            deadline.as_secs(),
                            berth_model::agent::STREAM_HEARTBEAT_SECONDS
                        )));
                        return;
                    }
                    Ok(None) => break,
                    Ok(Some(Ok(chunk))) => chunk,
                    Ok(Some(Err(e))) => {
                        yield Err(AgentError::Transport(format!("stream broke: {e}")));
                        return;
                    }
                };
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    yield serde_json::from_slice::<StreamMessage>(&line).map_err(|e| AgentError::Decode(format!("stream message: {e}")));
                }
            }
            yield Err(AgentError::Transport("the server closed the stream".into()));
        })
    }
}

impl ServerClient {
    /// A call to the server at `index` failed to get an answer: move to the next server, and say why.
    fn transport(&self, index: usize, what: String, error: &reqwest::Error) -> AgentError {
        self.failed(index);
        transport(what, error)
    }
}

/// The base URLs of a `--server` value: one URL or a comma-separated list, each without a trailing `/`.
pub fn server_list(text: &str) -> Result<Vec<String>, AgentError> {
    let bases: Vec<String> =
        text.split(',').map(|s| s.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty()).collect();
    if bases.is_empty() {
        return Err(AgentError::Transport(format!("no server URL in {text:?}")));
    }
    let https = bases[0].starts_with("https://");
    for base in &bases {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(AgentError::Transport(format!("the server URL {base:?} must start with http:// or https://")));
        }
        if base.starts_with("https://") != https {
            return Err(AgentError::Transport(format!(
                "the server URLs {text:?} mix http:// and https://: give every server the same scheme"
            )));
        }
    }
    Ok(bases)
}

/// A failed call: [`AgentError::Tls`] when TLS (the server's certificate) is why, else a transport error.
fn transport(what: String, error: &reqwest::Error) -> AgentError {
    match crate::tls::tls_failure(error) {
        Some(reason) => AgentError::Tls(format!("{what}: the server's certificate was refused: {reason}")),
        None => AgentError::Transport(format!("{what}: {error}")),
    }
}

fn check(status: reqwest::StatusCode, body: &[u8]) -> Result<(), AgentError> {
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(body).into_owned();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(AgentError::Unauthorized(text));
    }
    if status == reqwest::StatusCode::BAD_REQUEST && text.contains("ConflictException") {
        return Err(AgentError::Superseded(text));
    }
    Err(AgentError::Rejected { status: status.as_u16(), body: text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_list_is_one_url_or_several() {
        assert_eq!(server_list("http://a:1/").unwrap(), ["http://a:1"]);
        assert_eq!(server_list("http://a:1, http://b:2,").unwrap(), ["http://a:1", "http://b:2"]);
        assert!(server_list(" , ").is_err());
        assert!(server_list("http://a:1,b:2").is_err(), "every entry is a URL");
        assert!(server_list("http://a:1,https://b:2").is_err(), "one scheme for all");
    }

    #[test]
    fn an_unreachable_server_moves_the_client_to_the_next_once() {
        let client = ServerClient::new("http://a:1,http://b:2,http://c:3", None).unwrap();
        let clone = client.clone();
        assert_eq!(client.base(), "http://a:1");
        client.failed(0);
        // A second failure reported for the same server (a concurrent call) does not skip b.
        clone.failed(0);
        assert_eq!(clone.base(), "http://b:2", "clones share the server in use");
        client.check_unavailable(1, reqwest::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(client.base(), "http://c:3");
        client.check_unavailable(2, reqwest::StatusCode::BAD_REQUEST);
        assert_eq!(client.base(), "http://c:3", "an answer that is the caller's fault does not move it");
        client.failed(2);
        assert_eq!(client.base(), "http://a:1", "round robin");
    }

    #[test]
    fn exec_dial_backs_try_the_server_in_use_first_then_the_others() {
        let client = ServerClient::new("http://a:1,http://b:2,http://c:3", None).unwrap();
        assert_eq!(client.bases_current_first(), ["http://a:1", "http://b:2", "http://c:3"]);
        client.failed(0);
        assert_eq!(client.bases_current_first(), ["http://b:2", "http://c:3", "http://a:1"]);
        let one = ServerClient::new("http://a:1", None).unwrap();
        assert_eq!(one.bases_current_first(), ["http://a:1"]);
    }
}
