//! The listener's timeouts, caps and exemptions, driven over real TCP with short limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // timeouts of real sockets are measured on the real clock

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::{get, post};
use berth_listener::{ConnectionHandle, Limits, serve};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A silent stretch, then a last chunk: a long-lived response (an agent stream between heartbeats).
fn silent_stream(silence: Duration) -> Body {
    let chunks = futures::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((Ok::<_, std::io::Error>("first\n"), 1)),
            1 => {
                tokio::time::sleep(silence).await;
                Some((Ok("final\n"), 2))
            }
            _ => None,
        }
    });
    Body::from_stream(chunks)
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                "slow"
            }),
        )
        .route(
            "/auth-stream",
            get(|Extension(handle): Extension<ConnectionHandle>| async move {
                handle.mark_authenticated();
                silent_stream(Duration::from_millis(1500))
            }),
        )
        .route("/stream", get(|| async { silent_stream(Duration::from_millis(1500)) }))
        .route(
            "/upload",
            post(|body: Body| async move {
                match axum::body::to_bytes(body, 1 << 20).await {
                    Ok(bytes) => (http::StatusCode::OK, format!("got {}", bytes.len())),
                    Err(error) => (http::StatusCode::BAD_REQUEST, format!("body error: {error}")),
                }
            }),
        )
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(limits: Limits) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app(), limits, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop: Some(stop), task }
}

fn limits() -> Limits {
    Limits {
        max_connections: 100,
        header_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(1000),
        body_chunk_timeout: Duration::from_millis(400),
        body_min_rate: 0,
        body_rate_window: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(2),
    }
}

/// Reads until the server closes (EOF or reset), at most `limit`; the bytes and how long it took (None: still open).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), Some(started.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one complete short response (`Content-Length`), leaving the connection open.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before a response: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).await.unwrap();
    read_response(stream).await
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout() {
    let server = start(limits()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    let closed = closed.expect("closed");
    assert!(closed >= Duration::from_millis(350) && closed < Duration::from_millis(900), "closed after {closed:?}");
}

#[tokio::test]
async fn a_half_sent_head_is_closed_at_the_header_timeout_even_when_dripped() {
    let server = start(limits()).await;
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").await.unwrap();
    let mut drip = TcpStream::connect(server.addr).await.unwrap();
    drip.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let dripping = tokio::spawn(async move {
        let started = Instant::now();
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if drip.write_all(b"X-A: b\r\n").await.is_err() {
                return started.elapsed();
            }
        }
        let (_, closed) = read_until_closed(&mut drip, Duration::from_millis(10)).await;
        closed.map(|_| started.elapsed()).unwrap_or(Duration::MAX)
    });
    let (_, closed) = read_until_closed(&mut half, Duration::from_secs(3)).await;
    assert!(closed.expect("closed") < Duration::from_millis(900));
    let dripped = dripping.await.unwrap();
    assert!(dripped < Duration::from_millis(1500), "a dripping head stayed open {dripped:?}");
}

#[tokio::test]
async fn keep_alive_lasts_the_idle_timeout_not_the_header_timeout() {
    let server = start(limits()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(600)).await; // past the header timeout
    assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"), "still open within the idle timeout");
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    let closed = closed.expect("closed when idle");
    assert!(closed >= Duration::from_millis(900) && closed < Duration::from_millis(1600), "closed after {closed:?}");
}

#[tokio::test]
async fn a_handler_that_takes_longer_than_the_idle_timeout_is_not_cut() {
    let server = start(Limits { idle_timeout: Duration::from_millis(300), ..limits() }).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    assert!(get_on(&mut stream, "/slow").await.contains("slow"), "the server's own pace is not the client's fault");
}

#[tokio::test]
async fn a_stalled_body_fails_the_read() {
    let server = start(limits()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789").await.unwrap();
    let started = Instant::now();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("stalled"), "{response}");
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn a_trickled_body_fails_the_minimum_rate() {
    let server = start(Limits {
        body_chunk_timeout: Duration::from_secs(5),
        body_min_rate: 1000,
        body_rate_window: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(5),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n").await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if writer.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(3), async {
        while !String::from_utf8_lossy(&got).contains("slower") {
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "no error response: {}", String::from_utf8_lossy(&got));
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 400"));
}

#[tokio::test]
async fn a_body_at_a_fair_rate_is_read_whole() {
    let server = start(Limits { body_min_rate: 100, body_rate_window: Duration::from_millis(300), ..limits() }).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n").await.unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(&[b'x'; 100]).await.unwrap();
    }
    let response = read_response(&mut stream).await;
    assert!(response.contains("got 500"), "{response}");
}

#[tokio::test]
async fn at_the_cap_the_oldest_idle_connection_is_evicted() {
    let server = start(Limits { max_connections: 3, header_timeout: Duration::from_secs(10), ..limits() }).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut newcomer = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    assert!(get_on(&mut newcomer, "/").await.starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_millis(300));
    let (_, oldest) = read_until_closed(&mut idle[0], Duration::from_millis(300)).await;
    assert!(oldest.is_some(), "the oldest idle connection is evicted");
    for stream in &mut idle[1..] {
        let (_, closed) = read_until_closed(stream, Duration::from_millis(100)).await;
        assert!(closed.is_none(), "only the oldest is evicted");
    }
}

#[tokio::test]
async fn at_the_cap_with_nothing_idle_a_new_connection_is_refused_not_queued() {
    let server = start(Limits { max_connections: 2, ..limits() }).await;
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    let _ = refused.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let (text, closed) = read_until_closed(&mut refused, Duration::from_millis(400)).await;
    assert!(closed.is_some() && text.is_empty(), "refused at once, got {text:?}");
    for stream in &mut busy {
        assert!(read_response(stream).await.contains("slow"), "in-flight requests finish");
    }
}

#[tokio::test]
async fn an_authenticated_stream_is_not_counted_not_evicted_and_outlives_the_idle_timeout() {
    let server = start(Limits { max_connections: 1, idle_timeout: Duration::from_millis(500), ..limits() }).await;
    let mut agent = TcpStream::connect(server.addr).await.unwrap();
    agent.write_all(b"GET /auth-stream HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = agent.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("first"));
    // The cap of one is free for others: an unauthenticated request is served, evicting nothing authenticated.
    for _ in 0..3 {
        let mut other = TcpStream::connect(server.addr).await.unwrap();
        assert!(get_on(&mut other, "/").await.starts_with("HTTP/1.1 200"));
    }
    // An unauthenticated silent stream is cut at the idle timeout ...
    let mut anonymous = TcpStream::connect(server.addr).await.unwrap();
    anonymous.write_all(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let (text, closed) = read_until_closed(&mut anonymous, Duration::from_secs(3)).await;
    assert!(closed.is_some() && !text.contains("final"), "an unauthenticated stall is cut: {text:?}");
    // ... while the authenticated one, silent for 1.5 s (three idle timeouts), delivers its last chunk.
    let (text, _) = read_until_closed(&mut agent, Duration::from_secs(3)).await;
    assert!(text.contains("final"), "the authenticated stream survived: {text:?}");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
    let mut server = start(limits()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().unwrap().send(());
    let response = read_response(&mut stream).await;
    assert!(response.contains("slow"), "{response}");
    tokio::time::timeout(Duration::from_secs(3), &mut server.task).await.expect("serve returns").unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err(), "no longer listening");
}

#[tokio::test]
async fn shutdown_cuts_what_outlives_the_grace() {
    let mut server = start(Limits { shutdown_grace: Duration::from_millis(200), ..limits() }).await;
    let mut agent = TcpStream::connect(server.addr).await.unwrap();
    agent.write_all(b"GET /auth-stream HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let _ = server.stop.take().unwrap().send(());
    tokio::time::timeout(Duration::from_secs(1), &mut server.task).await.expect("serve returns").unwrap();
    assert!(started.elapsed() < Duration::from_millis(600));
    let (_, closed) = read_until_closed(&mut agent, Duration::from_secs(1)).await;
    assert!(closed.is_some(), "the stream is cut");
}
