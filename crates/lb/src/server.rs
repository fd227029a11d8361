//! Listeners: a socket per (load balancer address, port), an accept loop, and per connection TLS (HTTPS
//! listeners) and hyper's HTTP/1.1 server (with upgrades), or its HTTP/2 server when the connection starts with
//! HTTP/2's preface (h2c by prior knowledge, or `h2` by ALPN). A stopped listener closes its socket; its connections finish their current request and close.

use crate::forward;
use crate::prefixed::Prefixed;
use crate::proxy::Shared;
use crate::stop::Stop;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// A running listener (dropping it stops it too).
pub(crate) struct ListenerTask {
    stop: Stop,
}

impl ListenerTask {
    /// Stops accepting and asks its connections to close after their current request.
    pub(crate) fn stop(self) {
        self.stop.stop();
    }
}

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// Binds `addr` once per worker (at least once), with `SO_REUSEADDR` (a port freed a moment ago can be bound
/// again) and, for several sockets, `SO_REUSEPORT`: the kernel spreads new connections over the workers' sockets,
/// so a connection wakes one worker only (as nginx's `reuseport`).
pub(crate) fn bind(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let count = workers.max(1);
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        if count > 1 {
            socket.set_reuseport(true)?;
        }
        socket.bind(addr)?;
        sockets.push(socket.listen(1024)?.into_std()?);
    }
    Ok(sockets)
}

/// Serves `sockets` (bound to `addr` by [`bind`]) until stopped: each on its worker, or on the caller's runtime
/// when there are no workers.
pub(crate) fn spawn(shared: Arc<Shared>, sockets: Vec<std::net::TcpListener>, addr: SocketAddr) -> ListenerTask {
    let stop = Stop::default();
    for (i, socket) in sockets.into_iter().enumerate() {
        let task = shared.connections.track_future(accept_loop(shared.clone(), socket, addr, stop.clone()));
        match shared.workers.get(i) {
            Some(worker) => drop(worker.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }
    ListenerTask { stop }
}

async fn accept_loop(shared: Arc<Shared>, socket: std::net::TcpListener, addr: SocketAddr, stopped: Stop) {
    let listener = match TcpListener::from_std(socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "load balancer listener failed");
            return;
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    shared.connections.spawn(connection(shared.clone(), stream, peer, addr, stopped.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off briefly instead of spinning.
                    tracing::warn!(%addr, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            () = stopped.wait() => return,
        }
    }
}

async fn connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, addr: SocketAddr, stopped: Stop) {
    let _ = stream.set_nodelay(true);
    let listener = shared.snapshot().listeners.get(&addr).map(|l| (l.tls.clone(), l.idle_timeout));
    // hyper's header-read timeout also runs while a keep-alive connection waits for its next request: the load
    // balancer's idle timeout, so idle HTTP/1.1 clients are closed after it (as ALB does).
    let (tls, header_timeout) = listener.unwrap_or((None, shared.options.header_read_timeout));
    let client = Arc::new(forward::ClientConn::new(shared, addr, peer));
    match tls {
        None => serve(client, stream, header_timeout, stopped).await,
        // (boxed: the TLS states do not make every plain connection's task bigger)
        Some(acceptor) => Box::pin(tls_connection(client, acceptor, stream, header_timeout, stopped)).await,
    }
}

async fn tls_connection(
    client: Arc<forward::ClientConn>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    header_timeout: Duration,
    stopped: Stop,
) {
    let peer = client.peer;
    let timeout = client.shared.options.tls_handshake_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve(client, tls, header_timeout, stopped).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Serves a connection: HTTP/1.1 (with upgrades), or HTTP/2 when it starts with HTTP/2's preface (h2c by prior
/// knowledge, or `h2` negotiated by ALPN), which hyper's HTTP/1.1 server recognises and hands back.
async fn serve<S>(client: Arc<forward::ClientConn>, io: S, header_timeout: Duration, stopped: Stop)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = client.peer;
    let handler = client.clone();
    let service = service_fn(move |req| forward::handle(handler.clone(), req));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let mut conn = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    let result = tokio::select! {
        result = &mut conn => result,
        () = stopped.wait() => {
            std::pin::Pin::new(&mut conn).graceful_shutdown();
            (&mut conn).await
        }
    };
    match result {
        Ok(()) => {}
        Err(e) if e.is_parse_version_h2() => {
            if let Some(parts) = conn.into_parts() {
                let io = Prefixed::new(parts.read_buf, parts.io.into_inner());
                Box::pin(serve_h2(client, io, stopped)).await;
            }
        }
        Err(e) => tracing::trace!(%peer, error = %e, "connection ended with an error"),
    }
}

/// Serves an HTTP/2 connection (its preface still to be read from `io`).
async fn serve_h2<S>(client: Arc<forward::ClientConn>, io: S, stopped: Stop)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = client.peer;
    let service = service_fn(move |req| forward::handle(client.clone(), req));
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder.timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopped.wait() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::trace!(%peer, error = %e, "HTTP/2 connection ended with an error");
    }
}
