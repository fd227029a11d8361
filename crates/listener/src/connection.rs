//! One connection: HTTP/1.1 over hyper, each request given its [`ConnectionHandle`] and a timed body, and a
//! watchdog that closes the connection when a timeout passes, the table evicts it, or the listener drains.

use crate::Limits;
use crate::body::{GuardedBody, InFlight, TimedBody};
use crate::io::TrackedStream;
use crate::table::{Conn, ConnectionHandle};
use crate::tls::{PLAIN_HTTP_ANSWER, TLS_HANDSHAKE_RECORD, Tls};
use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::{Service, ServiceExt};

/// Serves `stream` until the client leaves, a timeout passes, the table evicts it or `shutdown` drains it. With
/// `tls`, the TLS handshake comes first, within the header timeout; a client that speaks plain HTTP instead is
/// answered `400` with a sentence saying the port serves HTTPS.
pub(crate) async fn serve_connection<S>(
    stream: TcpStream,
    conn: Arc<Conn>,
    service: S,
    limits: Arc<Limits>,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<Tls>,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let peer = stream.peer_addr().ok().map(crate::PeerAddr);
    let tracked = TrackedStream::new(stream, conn.clone());
    match tls {
        None => serve_http(TokioIo::new(tracked), peer, &conn, service, &limits, &mut shutdown).await,
        Some(tls) => {
            let handshake = async {
                let mut first = [0u8; 1];
                match tracked.peek(&mut first).await {
                    Ok(1) if first[0] != TLS_HANDSHAKE_RECORD => {
                        let mut tracked = tracked;
                        let _ = tracked.write_all(PLAIN_HTTP_ANSWER).await;
                        let _ = tracked.shutdown().await;
                        Err("the client spoke plain HTTP to the HTTPS listener".to_string())
                    }
                    Ok(_) => tls.acceptor.accept(tracked).await.map_err(|e| format!("TLS handshake failed: {e}")),
                    Err(e) => Err(e.to_string()),
                }
            };
            let accepted = tokio::select! {
                result = tokio::time::timeout(limits.header_timeout, handshake) => match result {
                    Ok(Ok(stream)) => Some(stream),
                    Ok(Err(why)) => {
                        tracing::debug!(why, "closing a connection");
                        None
                    }
                    Err(_) => {
                        tracing::debug!("closing a connection: no TLS handshake within the header timeout");
                        None
                    }
                },
                _ = conn.evicted.notified() => None,
                _ = shutdown.changed() => None,
            };
            if let Some(stream) = accepted {
                serve_http(TokioIo::new(stream), peer, &conn, service, &limits, &mut shutdown).await;
            }
        }
    }
    conn.table().remove(&conn);
}

/// HTTP/1.1 over `io` (plain TCP or TLS), with the watchdog.
async fn serve_http<S, I>(
    io: TokioIo<I>,
    peer: Option<crate::PeerAddr>,
    conn: &Arc<Conn>,
    service: S,
    limits: &Arc<Limits>,
    shutdown: &mut watch::Receiver<bool>,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let request_conn = conn.clone();
    let request_limits = limits.clone();
    let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_flight = InFlight::start(request_conn.clone());
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectionHandle(Some(request_conn.clone())));
        if let Some(peer) = peer {
            parts.extensions.insert(peer);
        }
        let request = Request::from_parts(parts, Body::new(TimedBody::new(body, &request_limits)));
        let service = service.clone();
        async move {
            let response = match service.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            in_flight.0.response_started();
            Ok::<_, Infallible>(response.map(|body| GuardedBody::new(body, in_flight)))
        }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, hyper_service).with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let mut tick = tokio::time::interval(limits.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            _ = conn.evicted.notified() => {
                tracing::debug!("closing an idle unauthenticated connection to make room");
                break;
            }
            _ = tick.tick() => {
                if let Some(why) = conn.expired(limits) {
                    tracing::debug!(why, "closing a connection");
                    break;
                }
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
