//! Request bodies with a read deadline and a minimum rate, and response bodies that tell their connection when
//! the request is over.

use crate::table::Conn;
use berth_model::clock::{Clock, SystemClock};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client sent no byte of the body for too long.
    #[error("the request body stalled: no data for {0:?}")]
    Stalled(Duration),
    /// The client sent the body slower than the minimum rate.
    #[error("the request body arrived slower than {min_rate} bytes/s over {window:?}")]
    TooSlow {
        /// The minimum rate in bytes per second.
        min_rate: u64,
        /// The window it was measured over.
        window: Duration,
    },
    /// The connection failed.
    #[error("reading the request body: {0}")]
    Connection(#[from] hyper::Error),
}

/// A request body that errors when the client stalls or trickles. Time counts only while the handler is waiting
/// for data, so a handler that reads slowly is never blamed on the client.
pub(crate) struct TimedBody<B> {
    inner: B,
    chunk_timeout: Duration,
    min_rate: u64,
    window: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    wait_started: Option<Instant>,
    waited: Duration,
    bytes: u64,
}

impl<B> TimedBody<B> {
    /// Wraps `inner` with the body limits of `limits`.
    pub(crate) fn new(inner: B, limits: &crate::Limits) -> Self {
        TimedBody {
            inner,
            chunk_timeout: limits.body_chunk_timeout,
            min_rate: limits.body_min_rate,
            window: limits.body_rate_window,
            sleep: None,
            wait_started: None,
            waited: Duration::ZERO,
            bytes: 0,
        }
    }

    fn needed(&self) -> u64 {
        u64::try_from(u128::from(self.min_rate) * self.window.as_millis() / 1000).unwrap_or(u64::MAX)
    }

    fn too_slow(&self) -> BodyError {
        BodyError::TooSlow { min_rate: self.min_rate, window: self.window }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let now = SystemClock.monotonic();
        let started = *this.wait_started.get_or_insert(now);
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.wait_started = None;
                this.waited += now.saturating_duration_since(started);
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                if this.waited >= this.window {
                    if this.bytes < this.needed() {
                        return Poll::Ready(Some(Err(this.too_slow())));
                    }
                    this.waited = Duration::ZERO;
                    this.bytes = 0;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let stall_deadline = started + this.chunk_timeout;
                let rate_deadline = started + this.window.saturating_sub(this.waited);
                let slow = this.bytes < this.needed() && rate_deadline < stall_deadline;
                let deadline = if slow { rate_deadline } else { stall_deadline };
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    let error = if slow { this.too_slow() } else { BodyError::Stalled(this.chunk_timeout) };
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Marks a request finished on its connection when dropped (with the response body, or the handler's future).
pub(crate) struct InFlight(pub(crate) Arc<Conn>);

impl InFlight {
    /// Marks a request started on `conn`.
    pub(crate) fn start(conn: Arc<Conn>) -> Self {
        conn.request_started();
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that holds its request's [`InFlight`] until it is sent or dropped.
pub(crate) struct GuardedBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> GuardedBody<B> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: B, in_flight: InFlight) -> Self {
        GuardedBody { inner, _in_flight: in_flight }
    }
}

impl<B: Body + Unpin> Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
