//! Berth's HTTP listener: serves an axum [`Router`](axum::Router) (or any tower service of the same shape) over a
//! [`TcpListener`] with the limits a hostile network calls for. Every Berth listener (the API and registry, the
//! agent endpoints, the task metadata endpoint) goes through [`serve`].
//!
//! Design:
//! - **One table of connections** per listener ([`table`]): each connection's shared state (in-flight requests,
//!   when it went idle, when the next request head started, its last byte, whether it is authenticated).
//! - **Timeouts by a per-connection watchdog** rather than hyper's own `header_read_timeout`: hyper restarts that
//!   timer whenever it waits for a head, so an idle keep-alive connection would be cut at the header timeout and a
//!   separate, longer keep-alive timeout would be impossible. The watchdog closes a connection whose first request
//!   did not arrive within the header timeout, whose request head started longer than the header timeout ago, that
//!   sat idle between requests past the idle timeout, or whose unauthenticated response moved no byte for the
//!   idle timeout (a client that stops reading, or a silent stream to a caller that never authenticated). While a
//!   handler works, the pace is the server's and no idle timeout applies.
//! - **Request bodies are timed** ([`BodyError`]): no chunk for the chunk timeout, or less than the minimum rate
//!   over a window, and the handler's read fails. Time counts only while the handler waits on the client.
//! - **A cap on unauthenticated connections**, clamped to the open-file limit less a headroom. At the cap a new
//!   connection evicts the oldest idle unauthenticated connection (no request in flight: idle keep-alive, or a
//!   half-sent head); with none to evict, the new connection is closed at once, never queued. An accept error
//!   (`EMFILE` ...) evicts one idle connection and backs off briefly instead of spinning.
//! - **Authentication exempts.** Each request carries a [`ConnectionHandle`] in its extensions; a handler that
//!   authenticated its caller calls [`ConnectionHandle::mark_authenticated`] (or [`ConnectionHandle::mark`]).
//!   The connection then leaves the unauthenticated count, is never evicted, and its in-flight responses (agent
//!   streams, log tails) are not subject to the idle timeout. Idle keep-alive still applies between requests.
//! - **Time** is `berth_model::clock::SystemClock`'s monotonic reading (tokio's clock, which the watchdog's and the
//!   body's tokio timers run on); no other reading of the system clock.
//! - **HTTPS** ([`serve_tls`], [`Tls`]): the same listener with a rustls handshake (ring provider, HTTP/1.1) on each
//!   connection's task before HTTP, within the header timeout; the cap and eviction apply while it runs. A client
//!   that speaks plain HTTP to it gets a `400` saying the port serves HTTPS, and the connection closes.
//! - **Graceful shutdown**: when `shutdown` resolves, accepting stops, connections finish their current request,
//!   and whatever is still open after [`Limits::shutdown_grace`] is cut.
//!
//! Defaults (see [`Limits`]): 4,096 unauthenticated connections, header timeout 10 s, idle timeout 20 s, body
//! chunk timeout 30 s, minimum body rate 1 KiB/s over 30 s, shutdown grace 2 s.

mod body;
mod connection;
mod io;
mod limits;
mod table;
mod tls;

pub use body::BodyError;
pub use limits::{
    DEFAULT_BODY_CHUNK_TIMEOUT, DEFAULT_BODY_MIN_RATE, DEFAULT_BODY_RATE_WINDOW, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE, Limits, effective_max_connections,
    open_file_limit, parse_open_file_limit,
};
pub use table::ConnectionHandle;
pub use tls::{Tls, TlsError};

use axum::body::Body;
use berth_model::clock::{Clock, SystemClock};
use http::{Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use table::{Admission, Table};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::Service;

/// How long the accept loop pauses after an accept error such as `EMFILE`.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Serves `service` on `listener` under `limits` until `shutdown` resolves, then drains for
/// [`Limits::shutdown_grace`].
pub async fn serve<S, F>(listener: TcpListener, service: S, limits: Limits, shutdown: F)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    F: Future<Output = ()>,
{
    serve_with(listener, None, service, limits, shutdown).await;
}

/// [`serve`] over HTTPS: every connection starts with a TLS handshake under `tls`.
pub async fn serve_tls<S, F>(listener: TcpListener, tls: Tls, service: S, limits: Limits, shutdown: F)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    F: Future<Output = ()>,
{
    serve_with(listener, Some(tls), service, limits, shutdown).await;
}

async fn serve_with<S, F>(listener: TcpListener, tls: Option<Tls>, service: S, limits: Limits, shutdown: F)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    F: Future<Output = ()>,
{
    let max = effective_max_connections(limits.max_connections, open_file_limit());
    tracing::debug!(max_unauthenticated_connections = max, ?limits, "listener limits");
    let table = Table::new(max);
    let limits = Arc::new(limits);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match table.admit() {
                    Admission::Admitted(conn) => {
                        // No TCP_NODELAY (as axum::serve): with it the bench's 16 concurrent SDK clients saw
                        // DescribeTasks x100 take 2.4 ms instead of 1.4 ms and RunTask accept throughput fall from
                        // 1,081 to 596-689 tasks/s (docs/BENCHMARKS.md).
                        tasks.spawn(connection::serve_connection(
                            stream,
                            conn,
                            service.clone(),
                            limits.clone(),
                            stop_rx.clone(),
                            tls.clone(),
                        ));
                    }
                    Admission::Refused => {
                        tracing::debug!("connection refused: the unauthenticated cap is reached and none is idle");
                    }
                },
                Err(error) => {
                    if is_per_connection(&error) {
                        continue;
                    }
                    let now = SystemClock.monotonic();
                    if last_warning.is_none_or(|at| now.saturating_duration_since(at) > Duration::from_secs(5)) {
                        tracing::warn!(%error, "accepting a connection failed; backing off");
                        last_warning = Some(now);
                    }
                    table.evict_one();
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(limits.shutdown_grace, drain).await;
    tasks.abort_all();
    table.clear();
}

/// Accept errors that concern only the connection being accepted: retry at once.
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted)
}

/// The client's address, in the extensions of every request that came through a Berth listener (IAM's
/// `aws:SourceIp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);
