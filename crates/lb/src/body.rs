//! The body types: what goes to a target (the client's body, streamed, or nothing on a retry) and what goes back
//! to the client (the target's body, streamed and counted as in flight until it ends, or a body of our own).

use crate::pool::Conn;
use crate::target::InFlight;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A request body to a target.
#[derive(Debug)]
pub(crate) enum UpBody {
    /// The client's body, streamed.
    Client(Incoming),
    /// No body (a retried request had none).
    Empty,
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Client(b) => Pin::new(b).poll_frame(cx),
            Self::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Client(b) => b.is_end_stream(),
            Self::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Client(b) => b.size_hint(),
            Self::Empty => SizeHint::with_exact(0),
        }
    }
}

/// A response body to the client.
#[derive(Debug)]
pub(crate) struct ProxyBody {
    inner: Inner,
    /// The request's count on its target, released when the body ends or is dropped.
    guard: Option<InFlight>,
    /// The target connection the body comes on, back to its pool when the body ends cleanly (closed if dropped
    /// before).
    conn: Option<Conn>,
}

#[derive(Debug)]
enum Inner {
    Upstream(Incoming),
    Full(Option<Bytes>),
}

impl ProxyBody {
    /// A body of our own (an error page, a fixed response).
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let b: Bytes = bytes.into();
        Self { inner: Inner::Full(if b.is_empty() { None } else { Some(b) }), guard: None, conn: None }
    }

    /// A target's body, streamed from `conn`; `guard` is released when it ends, and `conn` goes back to its pool
    /// (at once when the body is empty: the server may never poll it).
    pub(crate) fn upstream(body: Incoming, guard: InFlight, conn: Conn) -> Self {
        let conn = if body.is_end_stream() {
            conn.release();
            None
        } else {
            Some(conn)
        };
        Self { inner: Inner::Upstream(body), guard: Some(guard), conn }
    }
}

impl ProxyBody {
    /// The body ended (`clean`: read to its end): the request no longer counts on its target, and the connection
    /// goes back to the pool or closes.
    fn finish(&mut self, clean: bool) {
        self.guard = None;
        if let Some(conn) = self.conn.take()
            && clean
        {
            conn.release();
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        match &mut this.inner {
            Inner::Upstream(b) => {
                let polled = Pin::new(&mut *b).poll_frame(cx);
                let ended = b.is_end_stream();
                match &polled {
                    // The end (hyper's server does not poll again once `is_end_stream` says so after a frame).
                    Poll::Ready(None) => this.finish(true),
                    Poll::Ready(Some(Ok(_))) if ended => this.finish(true),
                    Poll::Ready(Some(Err(_))) => this.finish(false),
                    _ => {}
                }
                polled
            }
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream(b) => b.is_end_stream(),
            Inner::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream(b) => b.size_hint(),
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
