//! Issue 8, point 3: timeouts and caps on the API listener, against the real `berth server`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // timings against real processes need the real clock

use berth_testkit::{Berth, BerthOptions};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Raises this test process's soft open-file limit to its hard limit (it holds thousands of client sockets).
fn raise_own_fd_limit() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = limits.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(4));
    if let Some(hard) = hard {
        let _ = std::process::Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={hard}:{hard}"))
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn server(binary: &str, extra_args: &[&str]) -> Berth {
    Berth::start(BerthOptions {
        binary: binary.into(),
        role: "server",
        extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
    })
    .expect("berth server starts")
}

fn addr(berth: &Berth) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], berth.port))
}

/// Opens `count` connections, `parallel` at a time, sending `first` on each (nothing when empty).
async fn open(addr: SocketAddr, count: usize, first: &'static [u8]) -> Vec<(TcpStream, Instant)> {
    let mut streams = Vec::with_capacity(count);
    let mut pending = JoinSet::new();
    for _ in 0..count {
        if pending.len() >= 100 {
            streams.push(pending.join_next().await.unwrap().unwrap());
        }
        pending.spawn(async move {
            let connect = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await;
            let mut stream = connect.expect("the server keeps accepting").expect("connect");
            let opened = Instant::now();
            if !first.is_empty() {
                stream.write_all(first).await.expect("send the first bytes");
            }
            (stream, opened)
        });
    }
    while let Some(done) = pending.join_next().await {
        streams.push(done.unwrap());
    }
    streams
}

/// Opens `count` connections that each complete one request and then stay idle (keep-alive).
async fn open_kept_alive(addr: SocketAddr, count: usize) -> Vec<(TcpStream, Instant)> {
    let mut streams = open(addr, count, b"GET /healthz HTTP/1.1\r\nHost: berth\r\n\r\n").await;
    for (stream, opened) in &mut streams {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "the first request is served");
        *opened = Instant::now();
    }
    streams
}

/// Waits (at most `limit` after each was opened) for the server to close each connection; per connection, how
/// long it stayed open, or `None` when it was still open at the limit.
async fn time_to_close(streams: Vec<(TcpStream, Instant)>, limit: Duration) -> Vec<Option<Duration>> {
    let mut watching = JoinSet::new();
    for (mut stream, opened) in streams {
        watching.spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                let left = limit.saturating_sub(opened.elapsed());
                match tokio::time::timeout(left, stream.read(&mut buf)).await {
                    Err(_) => return None,
                    Ok(Ok(0) | Err(_)) => return Some(opened.elapsed()),
                    Ok(Ok(_)) => {}
                }
            }
        });
    }
    let mut closed = Vec::new();
    while let Some(result) = watching.join_next().await {
        closed.push(result.unwrap());
    }
    closed
}

fn summary(what: &str, closed: &[Option<Duration>]) -> (usize, Duration) {
    let open = closed.iter().filter(|c| c.is_none()).count();
    let slowest = closed.iter().flatten().max().copied().unwrap_or_default();
    println!("{what}: {} connections, {open} still open at 30 s, slowest closed after {slowest:?}", closed.len());
    (open, slowest)
}

/// Time for a fresh `/healthz` (new connection, as a monitor would do), or the error.
async fn healthz(addr: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let response = client.get(format!("http://{addr}/healthz")).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    Ok(started.elapsed())
}

/// 2,000 half-open connections (an unfinished request head) and 2,000 idle ones (1,000 that never sent a byte,
/// 1,000 idle on keep-alive after one request) are all closed by the server within 30 s, with default settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_and_idle_connections_are_closed_within_30_s_by_default() {
    raise_own_fd_limit();
    let berth = server(env!("CARGO_BIN_EXE_berth"), &[]);
    let addr = addr(&berth);
    let half_open = open(
        addr,
        2000,
        b"POST / HTTP/1.1\r\nHost: berth\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n",
    )
    .await;
    let silent = open(addr, 1000, b"").await;
    let kept_alive = open_kept_alive(addr, 1000).await;
    let limit = Duration::from_secs(30);
    let (half_open, silent, kept_alive) =
        tokio::join!(time_to_close(half_open, limit), time_to_close(silent, limit), time_to_close(kept_alive, limit));
    let (a, _) = summary("half-open", &half_open);
    let (b, _) = summary("silent", &silent);
    let (c, _) = summary("idle keep-alive", &kept_alive);
    assert_eq!((a, b, c), (0, 0, 0), "every connection is closed within 30 s");
    assert!(healthz(addr).await.is_ok(), "the server still answers");
}

/// Under an open-file limit of 1,024, idle unauthenticated connections (half of them half-open) do not keep
/// `/healthz` from answering within 1 s: the oldest idle ones are evicted to make room. 1,000 connections alone
/// stay just under the limit (the server holds ~20 other files), so 1,200 are opened to go past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_an_fd_limit_of_1024_healthz_answers_within_1_s_past_1200_idle_connections() {
    raise_own_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("berth-1024");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nulimit -n 1024 || exit 97\nexec {} \"$@\"\n", env!("CARGO_BIN_EXE_berth")),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("755").arg(&wrapper).status().unwrap();
    let berth = server(wrapper.to_str().unwrap(), &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", berth.pid().unwrap())).unwrap();
    assert_eq!(berth_listener::parse_open_file_limit(&limits), Some(1024), "berth runs under the limit");
    let addr = addr(&berth);
    let mut idle = open(addr, 600, b"").await;
    idle.extend(open(addr, 600, b"GET /healthz HTTP/1.1\r\nHost: berth\r\n").await);
    let files = std::fs::read_dir(format!("/proc/{}/fd", berth.pid().unwrap())).map(|d| d.count()).unwrap_or(0);
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let took = healthz(addr).await.expect("/healthz answers");
        worst = worst.max(took);
    }
    let evicted = time_to_close(idle, Duration::from_millis(1500)).await.iter().filter(|c| c.is_some()).count();
    println!(
        "/healthz took at most {worst:?} after 1,200 idle connections (berth held {files} files); {evicted} evicted"
    );
    assert!(worst < Duration::from_secs(1), "/healthz took {worst:?}");
    assert!(evicted > 0, "idle unauthenticated connections are evicted at the cap");
    assert!(!berth.log().contains("panicked"), "{}", berth.log());
}

/// An agent's desired-state stream, once authenticated, is neither cut by the idle timeout (it is silent between
/// 5 s heartbeats, longer than a 2 s idle timeout) nor evicted or refused when idle clients fill the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_agent_stream_outlives_the_idle_timeout_and_the_cap() {
    let args = ["--max-connections", "20", "--idle-timeout-seconds", "2", "--header-timeout-seconds", "5"];
    let berth = server(env!("CARGO_BIN_EXE_berth"), &args);
    let addr = addr(&berth);
    let client = reqwest::Client::new();
    let registration: serde_json::Value = client
        .post(format!("http://{addr}/agent/v1/register"))
        .bearer_auth(berth.join_token().unwrap())
        .json(&serde_json::json!({
            "cluster": "default",
            "hostname": "listener-test",
            "resources": { "cpu": 1024, "memoryMib": 1024, "reservedTcpPorts": [], "reservedUdpPorts": [] },
            "attributes": {},
            "version": { "agentVersion": "test", "agentHash": "test", "dockerVersion": "none" }
        }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .expect("the agent registers")
        .json()
        .await
        .unwrap();
    let token = registration["instanceToken"].as_str().expect("an instance token").to_string();
    // A connection of its own, so that the stream authenticates it (not the registration before it).
    let mut stream = reqwest::Client::new()
        .get(format!("http://{addr}/agent/v1/stream"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .expect("the stream opens");
    // Fill the cap of 20 with idle unauthenticated connections, several times over.
    let idle = open(addr, 60, b"").await;
    let started = Instant::now();
    let mut heartbeats = 0;
    while started.elapsed() < Duration::from_secs(12) {
        match tokio::time::timeout(Duration::from_secs(8), stream.chunk()).await {
            Ok(Ok(Some(chunk))) => heartbeats += String::from_utf8_lossy(&chunk).matches("eartbeat").count(),
            other => panic!("the agent stream ended after {:?}: {other:?}", started.elapsed()),
        }
    }
    println!("the stream delivered {heartbeats} heartbeats over {:?} with an idle timeout of 2 s", started.elapsed());
    assert!(heartbeats >= 2, "heartbeats arrive");
    let evicted = time_to_close(idle, Duration::from_millis(100)).await.iter().filter(|c| c.is_some()).count();
    assert!(evicted >= 40, "the idle connections were evicted or timed out, not the stream ({evicted} of 60)");
    assert!(healthz(addr).await.is_ok());
}
