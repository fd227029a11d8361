//! Helpers for the proxy's tests: in-test backends on loopback, configurations, clients.
#![allow(dead_code, clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)] // test helpers: real time, panics as failures

use berth_lb::config::*;
use berth_lb::{Proxy, ProxyOptions, TargetHealth};
use berth_model::clock::{Clock, ManualClock, SystemClock};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// An in-test backend: answers `/` with its name, `/headers` with the request's headers (one `name: value` a
/// line), `/sleep?ms=N` after N ms, `/health` with its settable health status, `/echo` with the request body,
/// `/big?n=N` with N bytes, `/ws` as a WebSocket echo.
pub struct Backend {
    pub addr: SocketAddr,
    pub name: String,
    pub health: Arc<AtomicU16>,
    pub hits: Arc<AtomicUsize>,
    /// The last request's headers.
    pub last_headers: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    pub async fn start(name: &str) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), name).await
    }

    pub async fn start_on(addr: SocketAddr, name: &str) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let last_headers = Arc::new(Mutex::new(Vec::new()));
        let state = (name.to_string(), health.clone(), hits.clone(), last_headers.clone());
        let task = tokio::spawn(async move {
            // Dropping the set (when the task is aborted) aborts every connection: a killed backend.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = state.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| serve(state.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Self { addr, name: name.to_string(), health, hits, last_headers, task }
    }

    /// Kills the backend: its listener and every connection close.
    pub async fn kill(&self) {
        self.task.abort();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.last_headers.lock().unwrap().iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type State = (String, Arc<AtomicU16>, Arc<AtomicUsize>, Arc<Mutex<Vec<(String, String)>>>);

async fn serve(state: State, mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (name, health, hits, last) = state;
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if path == "/health" {
        let code = health.load(Ordering::SeqCst);
        if code == 0 {
            // a health check that never answers in time
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        return Ok(Response::builder().status(code).body(Full::new(Bytes::from("health"))).unwrap());
    }
    hits.fetch_add(1, Ordering::SeqCst);
    *last.lock().unwrap() =
        req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let text = |s: String| Ok(Response::new(Full::new(Bytes::from(s))));
    match path.as_str() {
        "/sleep" => {
            let ms: u64 = query.get("ms").and_then(|m| m.parse().ok()).unwrap_or(100);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(format!("{name} slept"))
        }
        "/echo" => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Ok(Response::new(Full::new(body)))
        }
        "/big" => {
            let n: usize = query.get("n").and_then(|m| m.parse().ok()).unwrap_or(65536);
            Ok(Response::new(Full::new(Bytes::from(vec![b'x'; n]))))
        }
        "/ws" => {
            let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
                return Ok(Response::builder().status(400).body(Full::new(Bytes::new())).unwrap());
            };
            let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                use futures::{SinkExt, StreamExt};
                let Ok(up) = upgrade.await else { return };
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(up),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    None,
                )
                .await;
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() || msg.is_binary() {
                        if ws.send(msg).await.is_err() {
                            return;
                        }
                    } else if msg.is_close() {
                        return;
                    }
                }
            });
            Ok(Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", accept)
                .body(Full::new(Bytes::new()))
                .unwrap())
        }
        "/headers" => {
            let lines: Vec<String> = last.lock().unwrap().iter().map(|(k, v)| format!("{k}: {v}")).collect();
            text(lines.join("\n"))
        }
        _ => text(name),
    }
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A target group of `targets` with quick health checks.
pub fn group(id: &str, targets: &[&Backend]) -> TargetGroup {
    TargetGroup {
        id: id.into(),
        protocol: TargetProtocol::Http,
        health_check: HealthCheck {
            path: "/health".into(),
            interval_seconds: 5,
            timeout_seconds: 2,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            ..HealthCheck::default()
        },
        attributes: TargetGroupAttributes { deregistration_delay_seconds: 30, ..Default::default() },
        targets: targets.iter().map(|b| b.addr).collect(),
    }
}

pub fn forward(tg: &str) -> Action {
    Action::Forward(Forward {
        target_groups: vec![WeightedTargetGroup { target_group_id: tg.into(), weight: 1 }],
        stickiness_seconds: None,
        turns: Default::default(),
    })
}

/// One HTTP load balancer on 127.0.0.1:`port` with `rules` and a default action.
pub fn lb(port: u16, rules: Vec<Rule>, default_action: Action, groups: Vec<TargetGroup>) -> Config {
    Config {
        load_balancers: vec![LoadBalancer {
            id: "lb-1".into(),
            bind_ip: "127.0.0.1".parse().unwrap(),
            idle_timeout_seconds: 60,
            listeners: vec![Listener {
                id: "listener-1".into(),
                port,
                protocol: ListenerProtocol::Http,
                certificate: None,
                rules,
                default_action,
            }],
        }],
        target_groups: groups,
    }
}

pub fn system_proxy() -> Proxy {
    Proxy::new(Arc::new(SystemClock), ProxyOptions::default())
}

pub fn manual_proxy() -> (Proxy, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_750_000_000.0));
    (Proxy::new(clock.clone() as Arc<dyn Clock>, ProxyOptions::default()), clock)
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// A response's status, headers and body.
pub struct Got {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

pub async fn send(client: &HttpClient, req: Request<Full<Bytes>>) -> Got {
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Got { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

pub async fn get(client: &HttpClient, url: &str) -> Got {
    send(client, Request::get(url).body(Full::new(Bytes::new())).unwrap()).await
}

/// Polls `cond` every 20 ms (advancing `clock` by `step` seconds each time, if given) for up to 10 s.
pub async fn eventually(clock: Option<&ManualClock>, step: f64, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        if let Some(c) = clock {
            c.advance(step);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached in time");
}

/// The state of `target` in `health`, as ELBv2 names it.
pub fn state_of(health: &[TargetHealth], target: SocketAddr) -> Option<(&'static str, Option<&'static str>)> {
    health.iter().find(|h| h.target == target).map(|h| (h.state.as_str(), h.reason))
}

/// Waits until every target of `tg` is healthy.
pub async fn all_healthy(proxy: &Proxy, clock: Option<&ManualClock>, tg: &str) {
    eventually(clock, 1.0, || {
        let h = proxy.target_health(tg);
        !h.is_empty() && h.iter().all(|t| t.state.as_str() == "healthy")
    })
    .await;
}
