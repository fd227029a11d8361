//! `GET /metrics`: Berth's own health in the Prometheus text format, on every role's listener.
//!
//! Libraries count with the `metrics` facade (the API front door: `berth_api_requests_total`,
//! `berth_api_request_duration_seconds`; the agent: reports, container starts, log shipping); this module installs
//! the one Prometheus recorder of the process (so `berth up`, which runs several roles in one process, shows them
//! all on each of its listeners), counts every HTTP request a listener serves (`berth_http_requests_total{listener,
//! method, status}`, `berth_http_request_duration_seconds{listener}`), and sets each role's gauges when scraped
//! (tasks by status, container instances, services, the store's revision and size for the server).
//!
//! `/metrics` needs no signature, like `/healthz`: it shows counts, never names or ARNs. Put it behind the
//! listener's network policy if that matters.

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_model::clock::{Clock, SystemClock};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

/// Sets a role's gauges just before a scrape renders them.
pub type Collect = Arc<dyn Fn() + Send + Sync>;

/// Histogram buckets (seconds) for every `*_duration_seconds` metric.
const DURATION_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's recorder, installed on first use; `None` when another recorder was installed first.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), &DURATION_BUCKETS);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "cannot install the Prometheus recorder; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Adds `GET /metrics` to a router and counts every request it serves under `listener`.
pub fn instrument(router: Router, listener: &'static str, collect: Collect) -> Router {
    // Installed now, so counts start with the listener rather than with the first scrape.
    let _ = handle();
    router
        .route(
            "/metrics",
            get(move || {
                let collect = collect.clone();
                async move { render(&collect) }
            }),
        )
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| count(listener, request, next)))
}

/// The text format, after the role's gauges are set.
fn render(collect: &Collect) -> Response {
    let Some(handle) = handle() else {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "the Prometheus recorder is not installed\n")
            .into_response();
    };
    collect();
    handle.run_upkeep();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

async fn count(listener: &'static str, request: Request, next: Next) -> Response {
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let clock = SystemClock;
    let started = clock.monotonic();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("berth_http_requests_total", "listener" => listener, "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("berth_http_request_duration_seconds", "listener" => listener)
        .record(clock.monotonic().saturating_duration_since(started).as_secs_f64());
    response
}

/// The server's gauges: tasks by last status, container instances by status and connection, services by status,
/// clusters, and the store's revision and file size.
pub fn server_gauges(control: Arc<berth_control::Control>, store_files: Vec<std::path::PathBuf>) -> Collect {
    Arc::new(move || {
        let counts = control.health_counts();
        for (status, n) in counts.tasks_by_status {
            metrics::gauge!("berth_tasks", "last_status" => status).set(n as f64);
        }
        for (status, n) in counts.instances_by_status {
            metrics::gauge!("berth_container_instances", "status" => status).set(n as f64);
        }
        metrics::gauge!("berth_agents_connected").set(counts.agents_connected as f64);
        for (status, n) in counts.services_by_status {
            metrics::gauge!("berth_services", "status" => status).set(n as f64);
        }
        metrics::gauge!("berth_clusters").set(counts.clusters as f64);
        metrics::gauge!("berth_store_revision").set(counts.store_revision as f64);
        let bytes: u64 = store_files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        metrics::gauge!("berth_store_bytes").set(bytes as f64);
    })
}

/// A role without gauges of its own (the registry).
pub fn no_gauges() -> Collect {
    Arc::new(|| {})
}
