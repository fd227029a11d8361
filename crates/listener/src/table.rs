//! The table of a listener's open connections: what each is doing (for its timeouts), which are authenticated,
//! and which one to evict when the unauthenticated cap is reached.

use berth_model::clock::{Clock, SystemClock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio::time::Instant;

/// "Not set" in the millisecond fields.
const UNSET: u64 = u64::MAX;

/// The shared state of one connection, seen by its task, its I/O, its requests and the table.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    table: Arc<Table>,
    authenticated: AtomicBool,
    in_flight: AtomicUsize,
    /// When the connection last became idle (accepted, or its last request finished).
    idle_since: AtomicU64,
    /// The first byte read while idle (the start of the next request head), or [`UNSET`].
    first_byte: AtomicU64,
    /// The last byte read or written.
    last_io: AtomicU64,
    /// Whether any request has started on this connection.
    served: AtomicBool,
    /// Whether the handler answered and the response is being sent (client-paced from then on).
    responding: AtomicBool,
    /// Rung when the table evicts this connection.
    pub(crate) evicted: Notify,
}

impl Conn {
    /// The table this connection is in.
    pub(crate) fn table(&self) -> &Table {
        &self.table
    }

    /// Whether a handler marked this connection authenticated.
    pub(crate) fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }

    /// Records that bytes were read (`read`) or written.
    pub(crate) fn on_io(&self, read: bool) {
        let now = self.table.now();
        self.last_io.store(now, Ordering::Relaxed);
        if read && self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.first_byte.compare_exchange(UNSET, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// A request started.
    pub(crate) fn request_started(&self) {
        self.served.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.first_byte.store(UNSET, Ordering::Release);
    }

    /// The handler answered: sending the response is paced by the client from now on.
    pub(crate) fn response_started(&self) {
        self.last_io.store(self.table.now(), Ordering::Relaxed);
        self.responding.store(true, Ordering::Release);
    }

    /// A request finished (its response body was sent or dropped).
    pub(crate) fn request_finished(&self) {
        let now = self.table.now();
        self.responding.store(false, Ordering::Release);
        self.last_io.store(now, Ordering::Relaxed);
        self.idle_since.store(now, Ordering::Release);
        self.first_byte.store(UNSET, Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Why this connection should be closed now, if it should.
    pub(crate) fn expired(&self, limits: &crate::Limits) -> Option<&'static str> {
        let now = self.table.now();
        let ago = |at: u64| std::time::Duration::from_millis(now.saturating_sub(at));
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // While the handler works the pace is the server's (and a request body has its own timeouts); once
            // it answered, a response that moves no byte is the client's doing, unless the caller authenticated.
            let stalled = self.responding.load(Ordering::Acquire)
                && !self.is_authenticated()
                && ago(self.last_io.load(Ordering::Relaxed)) > limits.idle_timeout;
            return stalled.then_some("an unauthenticated response moved no byte for the idle timeout");
        }
        let first_byte = self.first_byte.load(Ordering::Acquire);
        if first_byte != UNSET {
            return (ago(first_byte) > limits.header_timeout).then_some("the request head took too long");
        }
        let idle_since = ago(self.idle_since.load(Ordering::Acquire));
        if !self.served.load(Ordering::Acquire) {
            return (idle_since > limits.header_timeout).then_some("no request arrived within the header timeout");
        }
        (idle_since > limits.idle_timeout).then_some("idle past the keep-alive timeout")
    }
}

/// A handle on the connection a request arrived on, in every request's extensions.
///
/// A handler that authenticated its caller calls [`ConnectionHandle::mark_authenticated`]: from then on the
/// connection does not count against the unauthenticated cap, is never evicted, and its in-flight responses (a
/// long-lived stream) are exempt from the idle timeout.
///
/// As an axum extractor it never fails: a request that did not come through a Berth listener (a test calling the
/// router directly) gets a detached handle whose marks do nothing.
#[derive(Debug, Clone, Default)]
pub struct ConnectionHandle(pub(crate) Option<Arc<Conn>>);

impl ConnectionHandle {
    /// Marks the connection authenticated (idempotent).
    pub fn mark_authenticated(&self) {
        let Some(conn) = &self.0 else { return };
        if conn.authenticated.load(Ordering::Acquire) {
            return;
        }
        let mut inner = conn.table.lock();
        if !conn.authenticated.swap(true, Ordering::AcqRel) && inner.conns.contains_key(&conn.id) {
            inner.unauthenticated = inner.unauthenticated.saturating_sub(1);
        }
    }

    /// Whether the connection was marked authenticated (false for a detached handle).
    pub fn is_authenticated(&self) -> bool {
        self.0.as_ref().is_some_and(|conn| conn.is_authenticated())
    }

    /// Marks the connection of `request` authenticated, if it came through a Berth listener.
    pub fn mark<B>(request: &http::Request<B>) {
        Self::mark_extensions(request.extensions());
    }

    /// Marks the connection authenticated, given a request's extensions (for handlers holding only the parts).
    pub fn mark_extensions(extensions: &http::Extensions) {
        if let Some(handle) = extensions.get::<ConnectionHandle>() {
            handle.mark_authenticated();
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectionHandle {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<ConnectionHandle>().cloned().unwrap_or_default())
    }
}

#[derive(Debug, Default)]
struct Inner {
    conns: HashMap<u64, Arc<Conn>>,
    unauthenticated: usize,
    next_id: u64,
}

/// What [`Table::admit`] decided.
pub(crate) enum Admission {
    /// Admitted (possibly after evicting an idle unauthenticated connection).
    Admitted(Arc<Conn>),
    /// At the cap with nothing to evict: close the new connection.
    Refused,
}

/// Every open connection of one listener.
#[derive(Debug)]
pub(crate) struct Table {
    inner: Mutex<Inner>,
    epoch: Instant,
    max_unauthenticated: usize,
}

impl Table {
    /// An empty table with a cap on unauthenticated connections.
    pub(crate) fn new(max_unauthenticated: usize) -> Arc<Self> {
        Arc::new(Table { inner: Mutex::default(), epoch: SystemClock.monotonic(), max_unauthenticated })
    }

    /// Milliseconds since the table was made, on the monotonic clock the watchdog's tokio timers run on.
    fn now(&self) -> u64 {
        let since = SystemClock.monotonic().saturating_duration_since(self.epoch);
        u64::try_from(since.as_millis()).unwrap_or(UNSET - 1)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a new connection, evicting the oldest idle unauthenticated one at the cap.
    pub(crate) fn admit(self: &Arc<Self>) -> Admission {
        let mut inner = self.lock();
        if inner.unauthenticated >= self.max_unauthenticated && !Self::evict_oldest_idle(&mut inner) {
            return Admission::Refused;
        }
        inner.next_id += 1;
        let now = self.now();
        let conn = Arc::new(Conn {
            id: inner.next_id,
            table: self.clone(),
            authenticated: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            first_byte: AtomicU64::new(UNSET),
            last_io: AtomicU64::new(now),
            served: AtomicBool::new(false),
            responding: AtomicBool::new(false),
            evicted: Notify::new(),
        });
        inner.conns.insert(conn.id, conn.clone());
        inner.unauthenticated += 1;
        Admission::Admitted(conn)
    }

    /// Evicts the oldest idle unauthenticated connection (to free a file descriptor); whether there was one.
    pub(crate) fn evict_one(&self) -> bool {
        Self::evict_oldest_idle(&mut self.lock())
    }

    fn evict_oldest_idle(inner: &mut Inner) -> bool {
        let victim = inner
            .conns
            .values()
            .filter(|c| !c.is_authenticated() && c.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|c| (c.idle_since.load(Ordering::Acquire), c.id))
            .map(|c| c.id);
        let Some(conn) = victim.and_then(|id| inner.conns.remove(&id)) else { return false };
        inner.unauthenticated = inner.unauthenticated.saturating_sub(1);
        conn.evicted.notify_one();
        true
    }

    /// Forgets a closed connection.
    pub(crate) fn remove(&self, conn: &Conn) {
        let mut inner = self.lock();
        if inner.conns.remove(&conn.id).is_some() && !conn.is_authenticated() {
            inner.unauthenticated = inner.unauthenticated.saturating_sub(1);
        }
    }

    /// Forgets every connection (the listener stopped).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.conns.clear();
        inner.unauthenticated = 0;
    }
}
