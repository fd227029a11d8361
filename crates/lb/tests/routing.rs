//! Routing, balancing and the proxy's own answers, through real sockets on loopback.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fail loudly by design

mod common;

use berth_lb::config::*;
use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::Full;
use std::collections::HashMap;

fn rule(priority: u32, conditions: Vec<Condition>, action: Action) -> Rule {
    Rule { id: format!("rule-{priority}"), priority, conditions, action }
}

fn fixed(code: u16, body: &str) -> Action {
    Action::FixedResponse(FixedResponse {
        status_code: code,
        content_type: Some("text/plain".into()),
        message_body: Some(body.into()),
    })
}

#[tokio::test]
async fn rules_by_priority_with_each_condition_type() {
    let (a, b, c) = (Backend::start("a").await, Backend::start("b").await, Backend::start("c").await);
    let port = free_port();
    let rules = vec![
        rule(10, vec![Condition::PathPattern(vec!["/api/*".into()])], forward("tg-a")),
        rule(5, vec![Condition::HostHeader(vec!["*.b.test".into()])], forward("tg-b")),
        rule(20, vec![Condition::HttpHeader { name: "X-Env".into(), values: vec!["canary".into()] }], forward("tg-c")),
        rule(30, vec![Condition::HttpRequestMethod(vec!["POST".into()])], fixed(201, "posted")),
        rule(
            40,
            vec![Condition::QueryString(vec![QueryPair { key: Some("v".into()), value: "2".into() }])],
            Action::Redirect(Redirect {
                protocol: Some("HTTPS".into()),
                port: Some("443".into()),
                host: None,
                path: Some("/v2/#{path}".into()),
                query: None,
                status_code: 301,
            }),
        ),
        rule(50, vec![Condition::SourceIp(vec!["10.0.0.0/8".into()])], fixed(403, "ten")),
        rule(
            60,
            vec![Condition::SourceIp(vec!["127.0.0.0/8".into()]), Condition::PathPattern(vec!["/src".into()])],
            fixed(200, "local"),
        ),
    ];
    let config = lb(
        port,
        rules,
        fixed(404, "nothing here"),
        vec![group("tg-a", &[&a]), group("tg-b", &[&b]), group("tg-c", &[&c])],
    );
    let proxy = system_proxy();
    proxy.apply(config).await.unwrap();
    let http = client();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");

    assert_eq!(get(&http, &url("/api/users")).await.body, "a");
    // priority 5 (host) wins over priority 10 (path); host matching ignores case and the port
    let req = Request::get(url("/api/users")).header("host", "WWW.B.test:8080").body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(&http, req).await.body, "b");
    let req = Request::get(url("/x")).header("x-env", "CANARY").body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(&http, req).await.body, "c");
    // the path is case-sensitive
    assert_eq!(get(&http, &url("/API/users")).await.status, 404);
    let got = send(&http, Request::post(url("/x")).body(Full::new(Bytes::from("x"))).unwrap()).await;
    assert_eq!((got.status, got.body.as_str()), (201, "posted"));
    assert_eq!(got.headers["content-type"], "text/plain; charset=utf-8");
    let req = Request::get(url("/old/page?v=2")).header("host", "shop.test").body(Full::new(Bytes::new())).unwrap();
    let got = send(&http, req).await;
    assert_eq!(got.status, 301);
    assert_eq!(got.headers["location"], "https://shop.test/v2/old/page?v=2");
    assert_eq!(get(&http, &url("/src")).await.body, "local");
    let got = get(&http, &url("/else")).await;
    assert_eq!((got.status, got.body.as_str()), (404, "nothing here"));
    assert_eq!(got.headers["server"], "awselb/2.0");
}

#[tokio::test]
async fn weighted_target_groups_split_traffic() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let port = free_port();
    let action = Action::Forward(Forward {
        target_groups: vec![
            WeightedTargetGroup { target_group_id: "tg-a".into(), weight: 3 },
            WeightedTargetGroup { target_group_id: "tg-b".into(), weight: 1 },
        ],
        stickiness_seconds: None,
        turns: Default::default(),
    });
    let proxy = system_proxy();
    proxy.apply(lb(port, vec![], action, vec![group("tg-a", &[&a]), group("tg-b", &[&b])])).await.unwrap();
    let http = client();
    for _ in 0..400 {
        assert_eq!(get(&http, &format!("http://127.0.0.1:{port}/")).await.status, 200);
    }
    assert_eq!(a.hits() + b.hits(), 400);
    // Spread by weight, not drawn at random: within a request or two of 300.
    assert!((298..=302).contains(&a.hits()), "a got {} of 400 at weight 3:1", a.hits());
    // Each group's traffic counters saw exactly its share, every answer a timed 2xx.
    for (id, backend) in [("tg-a", &a), ("tg-b", &b)] {
        let t = proxy.traffic(id).expect("a configured group has counters");
        assert_eq!(
            (t.requests, t.target_2xx, t.responses),
            (backend.hits() as u64, backend.hits() as u64, backend.hits() as u64)
        );
        assert_eq!((t.target_5xx, t.target_errors), (0, 0));
        assert!(t.response_micros > 0);
    }
    assert_eq!(proxy.traffic("tg-unknown"), None);
}

#[tokio::test]
async fn round_robin_spreads_evenly_and_stickiness_holds_a_client() {
    let backends = [Backend::start("a").await, Backend::start("b").await, Backend::start("c").await];
    let refs: Vec<&Backend> = backends.iter().collect();
    let port = free_port();
    let proxy = system_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &refs)])).await.unwrap();
    all_healthy(&proxy, None, "tg").await;
    let http = client();
    let url = format!("http://127.0.0.1:{port}/");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..30 {
        *counts.entry(get(&http, &url).await.body).or_default() += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![10, 10, 10], "{counts:?}");

    let mut sticky = group("tg", &refs);
    sticky.attributes.stickiness_seconds = Some(60);
    proxy.apply(lb(port, vec![], forward("tg"), vec![sticky])).await.unwrap();
    let first = get(&http, &url).await;
    let cookies: Vec<&str> = first.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let awsalb = cookies.iter().find(|c| c.starts_with("AWSALB=")).expect("an AWSALB cookie");
    assert!(awsalb.contains("Expires=") && awsalb.contains("Path=/"), "{awsalb}");
    assert!(cookies.iter().any(|c| c.starts_with("AWSALBCORS=") && c.contains("SameSite=None")));
    let value = awsalb.split(';').next().unwrap().to_string();
    for _ in 0..20 {
        let req = Request::get(&url).header("cookie", value.as_str()).body(Full::new(Bytes::new())).unwrap();
        assert_eq!(send(&http, req).await.body, first.body);
    }
    // a forged or foreign cookie is ignored
    let req = Request::get(&url).header("cookie", "AWSALB=bm9wZQ").body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(&http, req).await.status, 200);
}

#[tokio::test]
async fn least_outstanding_requests_avoids_a_busy_target() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let port = free_port();
    let mut tg = group("tg", &[&a, &b]);
    tg.attributes.algorithm = Algorithm::LeastOutstandingRequests;
    let proxy = system_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![tg])).await.unwrap();
    all_healthy(&proxy, None, "tg").await;
    let http = client();
    let slow = tokio::spawn({
        let http = http.clone();
        async move { get(&http, &format!("http://127.0.0.1:{port}/sleep?ms=1500")).await.body }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let busy = if a.hits() == 1 { "a" } else { "b" };
    for _ in 0..10 {
        let got = get(&http, &format!("http://127.0.0.1:{port}/")).await.body;
        assert_ne!(got, busy, "a request went to the target with one outstanding");
    }
    assert_eq!(slow.await.unwrap(), format!("{busy} slept"));
}

#[tokio::test]
async fn forwarded_headers_trace_id_and_hop_by_hop() {
    let a = Backend::start("a").await;
    let port = free_port();
    let proxy = system_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a])])).await.unwrap();
    let http = client();
    let req = Request::get(format!("http://127.0.0.1:{port}/"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("connection", "x-secret")
        .header("x-secret", "1")
        .header("x-kept", "2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&http, req).await.status, 200);
    assert_eq!(a.header("x-forwarded-for").as_deref(), Some("203.0.113.7, 127.0.0.1"));
    assert_eq!(a.header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(a.header("x-forwarded-port"), Some(port.to_string()));
    assert_eq!(a.header("host"), Some(format!("127.0.0.1:{port}")));
    assert_eq!(a.header("x-kept").as_deref(), Some("2"));
    assert_eq!(a.header("x-secret"), None);
    let trace = a.header("x-amzn-trace-id").unwrap();
    let root = trace.strip_prefix("Root=1-").unwrap();
    assert_eq!(root.len(), 8 + 1 + 24, "{trace}");
    assert!(root.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));

    let many = (0..31).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>().join(", ");
    let req = Request::get(format!("http://127.0.0.1:{port}/"))
        .header("x-forwarded-for", many)
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&http, req).await.status, 463);

    let req = Request::get(format!("http://127.0.0.1:{port}/"))
        .header("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(&http, req).await;
    let trace = a.header("x-amzn-trace-id").unwrap();
    assert!(trace.starts_with("Self=1-"), "{trace}");
    assert!(trace.contains("Root=1-5759e988-bd862e3fe1be46a994272793") && trace.contains("Sampled=1"), "{trace}");
}

#[tokio::test]
async fn alb_status_codes_502_503_504() {
    let slow = Backend::start("slow").await;
    let port = free_port();
    let dead: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut empty = group("tg-empty", &[]);
    empty.targets.clear();
    let mut dead_group = group("tg-dead", &[]);
    dead_group.targets = vec![dead];
    let rules = vec![
        rule(1, vec![Condition::PathPattern(vec!["/empty".into()])], forward("tg-empty")),
        rule(2, vec![Condition::PathPattern(vec!["/dead".into()])], forward("tg-dead")),
    ];
    let mut config = lb(port, rules, forward("tg-slow"), vec![empty, dead_group, group("tg-slow", &[&slow])]);
    config.load_balancers[0].idle_timeout_seconds = 1;
    let proxy = system_proxy();
    proxy.apply(config).await.unwrap();
    let http = client();
    let got = get(&http, &format!("http://127.0.0.1:{port}/empty")).await;
    assert_eq!(got.status, 503);
    assert!(got.body.contains("<title>503 Service Temporarily Unavailable</title>"), "{}", got.body);
    assert_eq!(get(&http, &format!("http://127.0.0.1:{port}/dead")).await.status, 502);
    assert_eq!(get(&http, &format!("http://127.0.0.1:{port}/sleep?ms=3000")).await.status, 504);
    assert_eq!(get(&http, &format!("http://127.0.0.1:{port}/sleep?ms=10")).await.status, 200);
    // a keep-alive client idle for longer than the idle timeout (1 s) is closed
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    raw.write_all(b"GET /sleep?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 4096];
    let n = raw.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), raw.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the idle connection was not closed: {closed:?}");
}

#[tokio::test]
async fn killed_target_costs_no_failed_get() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let port = free_port();
    let proxy = system_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a, &b])])).await.unwrap();
    all_healthy(&proxy, None, "tg").await;
    let http = client();
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..10 {
        assert_eq!(get(&http, &url).await.status, 200);
    }
    // requests in progress on the target when it dies are retried on the other one
    let a_before = a.hits();
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let http = http.clone();
            tokio::spawn(async move { get(&http, &format!("http://127.0.0.1:{port}/sleep?ms=1000")).await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(a.hits() > a_before, "some slow requests went to a");
    a.kill().await;
    for s in slow {
        let got = s.await.unwrap();
        assert_eq!((got.status, got.body.as_str()), (200, "b slept"));
    }
    let before = b.hits();
    for i in 0..50 {
        let got = get(&http, &url).await;
        assert_eq!((got.status, got.body.as_str()), (200, "b"), "request {i}");
    }
    assert_eq!(b.hits() - before, 50);
    // once a failed connection marked it, even a POST (never retried) avoids the dead target
    for _ in 0..10 {
        let got = send(
            &http,
            Request::post(format!("http://127.0.0.1:{port}/echo")).body(Full::new(Bytes::from("hi"))).unwrap(),
        )
        .await;
        assert_eq!((got.status, got.body.as_str()), (200, "hi"));
    }
}

#[tokio::test]
async fn streamed_bodies_on_the_callers_runtime() {
    let a = Backend::start("a").await;
    let port = free_port();
    // no worker threads: the listeners run on this test's runtime
    let options = berth_lb::ProxyOptions { workers: 0, ..Default::default() };
    let proxy = berth_lb::Proxy::new(std::sync::Arc::new(berth_model::clock::SystemClock), options);
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a])])).await.unwrap();
    let http = client();
    let got = get(&http, &format!("http://127.0.0.1:{port}/big?n=1048576")).await;
    assert_eq!(got.body.len(), 1 << 20);
    let body = "y".repeat(3 << 20);
    let got = send(
        &http,
        Request::post(format!("http://127.0.0.1:{port}/echo")).body(Full::new(Bytes::from(body.clone()))).unwrap(),
    )
    .await;
    assert_eq!(got.body.len(), body.len());
}
