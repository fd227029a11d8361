//! Berth's own pool of keep-alive HTTP/1.1 connections to targets, one per worker (a worker's pool is only used on
//! its thread, so its lock is never contended): idle connections per target address, most recently used first.
//!
//! A request takes an idle connection that is ready (or opens one, with the connect timeout and `TCP_NODELAY`),
//! and the connection comes back to the pool only when its response body was read to its end and the connection
//! is still ready for another request ([`Conn::release`]): a connection whose body was abandoned, that broke, that
//! the target closed or that was upgraded is never reused. Idle connections close after the idle timeout (checked
//! when taken, and by a reaper task that runs while the pool holds any).

use crate::body::UpBody;
use crate::fasthash::FastMap;
use berth_model::clock::Clock;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// Why a request to a target failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The connection could not be opened (refused, unreachable, ...).
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The connection was not open within the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The HTTP/1.1 handshake or the exchange failed (the connection broke, a malformed answer, ...).
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

impl UpstreamError {
    /// Whether the connection itself could not be made (the target is down, not just one connection).
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::ConnectTimeout)
    }
}

/// Settings of a pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// How long a connection may stay idle in the pool.
    pub idle_timeout: Duration,
    /// Idle connections kept per target.
    pub max_idle_per_target: usize,
}

/// A pool of connections to targets (one worker's).
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    settings: PoolSettings,
    /// Idle time is measured on the proxy's clock.
    clock: Arc<dyn Clock>,
    idle: Mutex<FastMap<SocketAddr, Vec<Idle>>>,
    /// A reaper task is running.
    reaping: AtomicBool,
}

/// An idle connection and since when it is.
struct Idle {
    sender: SendRequest<UpBody>,
    since: Instant,
}

/// A connection in use for one request, until [`Conn::release`] gives it back (or dropping it closes it).
pub(crate) struct Conn {
    sender: SendRequest<UpBody>,
    target: SocketAddr,
    pool: Weak<Inner>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Pool {
    /// An empty pool; `clock` measures how long connections are idle.
    pub(crate) fn new(settings: PoolSettings, clock: Arc<dyn Clock>) -> Self {
        let idle = Mutex::new(FastMap::default());
        Self { inner: Arc::new(Inner { settings, clock, idle, reaping: AtomicBool::new(false) }) }
    }

    /// Sends `req` (origin-form URI, with its `Host`) to `target` on an idle connection, or a new one when none is
    /// ready; returns the response head and the connection, to release once the body has been read.
    pub(crate) async fn request(
        &self,
        target: SocketAddr,
        mut req: Request<UpBody>,
    ) -> Result<(Response<Incoming>, Conn), UpstreamError> {
        while let Some(mut conn) = self.checkout(target) {
            match conn.sender.try_send_request(req).await {
                Ok(resp) => return Ok((resp, conn)),
                Err(mut e) => match e.take_message() {
                    // The connection closed before the request was written (the target closed it while idle):
                    // nothing was sent, try the next one.
                    Some(r) => req = r,
                    None => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
        let mut conn = self.connect(target).await?;
        let resp = conn.sender.send_request(req).await?;
        Ok((resp, conn))
    }

    /// Takes the most recently used idle connection to `target` that is ready, closing expired and broken ones.
    fn checkout(&self, target: SocketAddr) -> Option<Conn> {
        let mut idle = self.inner.lock();
        let list = idle.get_mut(&target)?;
        let now = self.inner.clock.monotonic();
        while let Some(entry) = list.pop() {
            if entry.sender.is_ready() && now.saturating_duration_since(entry.since) < self.inner.settings.idle_timeout
            {
                return Some(Conn { sender: entry.sender, target, pool: Arc::downgrade(&self.inner) });
            }
        }
        None
    }

    /// Opens a connection to `target` and starts driving it on the current runtime.
    async fn connect(&self, target: SocketAddr) -> Result<Conn, UpstreamError> {
        let stream =
            match tokio::time::timeout(self.inner.settings.connect_timeout, tokio::net::TcpStream::connect(target))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
                Err(_) => return Err(UpstreamError::ConnectTimeout),
            };
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::trace!(%target, error = %e, "target connection ended with an error");
            }
        });
        Ok(Conn { sender, target, pool: Arc::downgrade(&self.inner) })
    }

    /// Idle connections to `target` (for tests).
    #[cfg(test)]
    pub(crate) fn idle_count(&self, target: SocketAddr) -> usize {
        self.inner.lock().get(&target).map_or(0, Vec::len)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, FastMap<SocketAddr, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a ready connection back, and makes sure a reaper will close it once it has been idle too long.
    fn put(self: &Arc<Self>, target: SocketAddr, sender: SendRequest<UpBody>) {
        {
            let mut idle = self.lock();
            let list = idle.entry(target).or_default();
            if list.len() >= self.settings.max_idle_per_target {
                return;
            }
            list.push(Idle { sender, since: self.clock.monotonic() });
        }
        if !self.reaping.swap(true, Ordering::Relaxed) {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn(reap(Arc::downgrade(self)))),
                Err(_) => self.reaping.store(false, Ordering::Relaxed),
            }
        }
    }

    /// Closes the connections idle for the idle timeout at `now`; returns whether any are left.
    fn evict(&self, now: Instant) -> bool {
        let timeout = self.settings.idle_timeout;
        let mut idle = self.lock();
        idle.retain(|_, list| {
            list.retain(|e| !e.sender.is_closed() && now.saturating_duration_since(e.since) < timeout);
            !list.is_empty()
        });
        !idle.is_empty()
    }
}

/// Closes a pool's expired idle connections while it has any (every half idle timeout, at least every 50 ms).
async fn reap(pool: Weak<Inner>) {
    loop {
        let Some(interval) = pool.upgrade().map(|p| (p.settings.idle_timeout / 2).max(Duration::from_millis(50)))
        else {
            return;
        };
        tokio::time::sleep(interval).await;
        let Some(p) = pool.upgrade() else { return };
        if !p.evict(p.clock.monotonic()) {
            p.reaping.store(false, Ordering::Relaxed);
            // A connection put back after the last look needs a reaper: stay if one arrived meanwhile.
            if p.lock().is_empty() || p.reaping.swap(true, Ordering::Relaxed) {
                return;
            }
        }
    }
}

impl Conn {
    /// Gives the connection back to its pool after its response body ended cleanly: at once when it is ready for
    /// another request; else (the connection has not finished reading the answer yet) once it is, within the idle
    /// timeout. A closed connection is dropped.
    pub(crate) fn release(mut self) {
        if self.sender.is_closed() {
            return;
        }
        let Some(pool) = self.pool.upgrade() else { return };
        if self.sender.is_ready() {
            pool.put(self.target, self.sender);
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let timeout = pool.settings.idle_timeout;
        drop(pool);
        rt.spawn(async move {
            if let Ok(Ok(())) = tokio::time::timeout(timeout, self.sender.ready()).await
                && let Some(pool) = self.pool.upgrade()
            {
                pool.put(self.target, self.sender);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A target that answers every request on a connection with `body` (as `Content-Length`), and counts accepted
    /// connections; `close_after` closes a connection after that many answers.
    async fn target(body: &'static [u8], close_after: Option<usize>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut answered = 0;
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                            if s.write_all(head.as_bytes()).await.is_err() || s.write_all(body).await.is_err() {
                                return;
                            }
                            answered += 1;
                            if close_after == Some(answered) {
                                return;
                            }
                        }
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn pool(idle_timeout: Duration) -> Pool {
        let settings = PoolSettings { connect_timeout: Duration::from_secs(5), idle_timeout, max_idle_per_target: 8 };
        Pool::new(settings, Arc::new(berth_model::clock::SystemClock))
    }

    fn get() -> Request<UpBody> {
        Request::builder().uri("/").header("host", "t").body(UpBody::Empty).unwrap()
    }

    /// Reads a response's body to its end, then releases its connection.
    async fn finish(resp: Response<Incoming>, conn: Conn) -> Bytes {
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        conn.release();
        // (a connection that was not ready yet comes back from a task)
        tokio::task::yield_now().await;
        body
    }

    #[tokio::test]
    async fn a_connection_whose_body_was_read_is_reused() {
        let (addr, accepted) = target(b"hello", None).await;
        let pool = pool(Duration::from_secs(30));
        for _ in 0..3 {
            let (resp, conn) = pool.request(addr, get()).await.unwrap();
            assert_eq!(finish(resp, conn).await, "hello");
            assert_eq!(pool.idle_count(addr), 1);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_whose_body_was_not_read_is_not_reused() {
        let (addr, accepted) = target(b"hello", None).await;
        let pool = pool(Duration::from_secs(30));
        let (resp, conn) = pool.request(addr, get()).await.unwrap();
        drop(resp);
        drop(conn);
        assert_eq!(pool.idle_count(addr), 0);
        let (resp, conn) = pool.request(addr, get()).await.unwrap();
        assert_eq!(finish(resp, conn).await, "hello");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_target_closed_is_not_reused() {
        let (addr, accepted) = target(b"hello", Some(1)).await;
        let pool = pool(Duration::from_secs(30));
        let (resp, conn) = pool.request(addr, get()).await.unwrap();
        assert_eq!(finish(resp, conn).await, "hello");
        // The target closes after its answer; the pool notices (or the request finds out before sending).
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..2 {
            let (resp, conn) = pool.request(addr, get()).await.unwrap();
            assert_eq!(finish(resp, conn).await, "hello");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn idle_connections_close_after_the_idle_timeout() {
        let (addr, accepted) = target(b"hello", None).await;
        let pool = pool(Duration::from_millis(200));
        let (resp, conn) = pool.request(addr, get()).await.unwrap();
        assert_eq!(finish(resp, conn).await, "hello");
        assert_eq!(pool.idle_count(addr), 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(pool.idle_count(addr), 0, "the reaper closed it");
        let (resp, conn) = pool.request(addr, get()).await.unwrap();
        assert_eq!(finish(resp, conn).await, "hello");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let addr = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let err = pool(Duration::from_secs(1)).request(addr, get()).await.unwrap_err();
        assert!(err.is_connect(), "{err}");
    }
}
