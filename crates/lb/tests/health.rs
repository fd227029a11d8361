//! Health checks, draining, slow start and configuration changes, on a manual clock where time is logic.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fail loudly by design

mod common;

use berth_lb::LbError;
use berth_lb::config::*;
use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::Full;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test]
async fn a_target_answering_500_turns_unhealthy_and_gets_no_traffic() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let port = free_port();
    let (proxy, clock) = manual_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a, &b])])).await.unwrap();
    all_healthy(&proxy, Some(&clock), "tg").await;
    b.health.store(500, Ordering::SeqCst);
    eventually(Some(&clock), 1.0, || state_of(&proxy.target_health("tg"), b.addr).map(|s| s.0) == Some("unhealthy"))
        .await;
    let h = proxy.target_health("tg");
    let hb = h.iter().find(|t| t.target == b.addr).unwrap();
    assert_eq!(hb.reason, Some("Target.ResponseCodeMismatch"));
    assert_eq!(hb.description.as_deref(), Some("Health checks failed with these codes: [500]"));
    assert_eq!(state_of(&h, a.addr), Some(("healthy", None)));
    let http = client();
    let before = b.hits();
    for _ in 0..20 {
        assert_eq!(get(&http, &format!("http://127.0.0.1:{port}/")).await.body, "a");
    }
    assert_eq!(b.hits(), before);
    // recovery takes the healthy threshold (2), then traffic comes back
    b.health.store(200, Ordering::SeqCst);
    all_healthy(&proxy, Some(&clock), "tg").await;
    let mut saw_b = false;
    for _ in 0..4 {
        saw_b |= get(&http, &format!("http://127.0.0.1:{port}/")).await.body == "b";
    }
    assert!(saw_b);
}

#[tokio::test]
async fn initial_timeout_failed_unused_and_disabled_states() {
    let (slow, dead) = (Backend::start("slow").await, Backend::start("dead").await);
    slow.health.store(0, Ordering::SeqCst); // never answers within the 2 s timeout
    dead.kill().await;
    let port = free_port();
    let (proxy, clock) = manual_proxy();
    let mut unchecked = group("tg-unchecked", &[&slow]);
    unchecked.health_check.enabled = false;
    let rules = vec![Rule {
        id: "r".into(),
        priority: 1,
        conditions: vec![Condition::PathPattern(vec!["/unchecked".into()])],
        action: forward("tg-unchecked"),
    }];
    let groups = vec![group("tg", &[&slow, &dead]), group("tg-idle", &[&slow]), unchecked];
    proxy.apply(lb(port, rules, forward("tg"), groups)).await.unwrap();
    let h = proxy.target_health("tg");
    assert_eq!(state_of(&h, slow.addr), Some(("initial", Some("Elb.InitialHealthChecking"))));
    let idle = proxy.target_health("tg-idle");
    assert_eq!(state_of(&idle, slow.addr), Some(("unused", Some("Target.NotInUse"))));
    assert_eq!(
        idle[0].description.as_deref(),
        Some("Target group is not configured to receive traffic from the load balancer")
    );
    let unchecked = proxy.target_health("tg-unchecked");
    assert_eq!(state_of(&unchecked, slow.addr), Some(("unavailable", Some("Target.HealthCheckDisabled"))));
    assert!(proxy.target_health("tg-unknown").is_empty());
    eventually(Some(&clock), 1.0, || {
        let h = proxy.target_health("tg");
        state_of(&h, slow.addr) == Some(("unhealthy", Some("Target.Timeout")))
            && state_of(&h, dead.addr) == Some(("unhealthy", Some("Target.FailedHealthChecks")))
    })
    .await;
    // every target unhealthy: ALB fails open and routes to all of them
    let http = client();
    assert_eq!(get(&http, &format!("http://127.0.0.1:{port}/")).await.body, "slow");
}

#[tokio::test]
async fn slow_start_ramps_a_new_target_up() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let port = free_port();
    let (proxy, clock) = manual_proxy();
    let mut tg = group("tg", &[&a]);
    tg.attributes.slow_start_seconds = 60;
    proxy.apply(lb(port, vec![], forward("tg"), vec![tg.clone()])).await.unwrap();
    all_healthy(&proxy, Some(&clock), "tg").await;
    tg.targets.push(b.addr);
    proxy.apply(lb(port, vec![], forward("tg"), vec![tg])).await.unwrap();
    // a new target needs one passing check; wait without moving the clock
    eventually(None, 0.0, || proxy.target_health("tg").iter().all(|t| t.state.as_str() == "healthy")).await;
    let http = client();
    let share = |n: usize| {
        let http = http.clone();
        async move {
            let mut b = 0;
            for _ in 0..n {
                b += usize::from(get(&http, &format!("http://127.0.0.1:{port}/")).await.body == "b");
            }
            b
        }
    };
    let early = share(100).await;
    assert!(early <= 5, "b got {early} of 100 at the start of its slow start");
    clock.advance(30.0);
    let half = share(150).await;
    assert!((35..=65).contains(&half), "b got {half} of 150 half way (weight 1/2 of a's)");
    clock.advance(31.0);
    let full = share(100).await;
    assert!((45..=55).contains(&full), "b got {full} of 100 after slow start");
}

#[tokio::test]
async fn a_removed_target_drains_in_flight_requests_then_goes() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let port = free_port();
    let (proxy, clock) = manual_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a])])).await.unwrap();
    all_healthy(&proxy, Some(&clock), "tg").await;
    let http = client();
    let slow = tokio::spawn({
        let http = http.clone();
        async move { get(&http, &format!("http://127.0.0.1:{port}/sleep?ms=1500")).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&b])])).await.unwrap();
    let h = proxy.target_health("tg");
    assert_eq!(state_of(&h, a.addr), Some(("draining", Some("Target.DeregistrationInProgress"))));
    assert_eq!(
        h.iter().find(|t| t.target == a.addr).unwrap().description.as_deref(),
        Some("Target deregistration is in progress")
    );
    for _ in 0..5 {
        assert_eq!(get(&http, &format!("http://127.0.0.1:{port}/")).await.body, "b");
    }
    let got = slow.await.unwrap();
    assert_eq!((got.status, got.body.as_str()), (200, "a slept"));
    // ALB keeps reporting draining until the delay (30 s here) has passed
    clock.advance(29.0);
    assert_eq!(state_of(&proxy.target_health("tg"), a.addr).map(|s| s.0), Some("draining"));
    clock.advance(2.0);
    assert_eq!(state_of(&proxy.target_health("tg"), a.addr), None);
    // registered again later, it starts over
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a, &b])])).await.unwrap();
    assert!(state_of(&proxy.target_health("tg"), a.addr).is_some());
}

#[tokio::test]
async fn configuration_changes_keep_requests_in_flight_and_health() {
    let a = Backend::start("a").await;
    let (port, port2) = (free_port(), free_port());
    let (proxy, clock) = manual_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a])])).await.unwrap();
    all_healthy(&proxy, Some(&clock), "tg").await;
    let http = client();
    let slow = tokio::spawn({
        let http = http.clone();
        async move { get(&http, &format!("http://127.0.0.1:{port}/sleep?ms=1000")).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // the listener moves to another port; the target group stays (and stays healthy, not initial)
    proxy.apply(lb(port2, vec![], forward("tg"), vec![group("tg", &[&a])])).await.unwrap();
    assert_eq!(state_of(&proxy.target_health("tg"), a.addr), Some(("healthy", None)));
    assert_eq!(proxy.listening(), vec![format!("127.0.0.1:{port2}").parse().unwrap()]);
    let got = slow.await.unwrap();
    assert_eq!((got.status, got.body.as_str()), (200, "a slept"));
    assert_eq!(get(&http, &format!("http://127.0.0.1:{port2}/")).await.body, "a");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "the old listener is closed");
    // a rule change on a kept listener applies to the next request
    let fixed = Action::FixedResponse(FixedResponse {
        status_code: 503,
        content_type: None,
        message_body: Some("maintenance".into()),
    });
    proxy.apply(lb(port2, vec![], fixed, vec![group("tg", &[&a])])).await.unwrap();
    let got = get(&http, &format!("http://127.0.0.1:{port2}/")).await;
    assert_eq!((got.status, got.body.as_str()), (503, "maintenance"));
    proxy.shutdown(Duration::from_secs(1)).await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port2)).await.is_err());
}

#[tokio::test]
async fn bad_configurations_are_refused_and_change_nothing() {
    let a = Backend::start("a").await;
    let port = free_port();
    let proxy = system_proxy();
    let good = lb(port, vec![], forward("tg"), vec![group("tg", &[&a])]);
    proxy.apply(good.clone()).await.unwrap();
    let rule = |p: u32| Rule {
        id: format!("r{p}"),
        priority: p,
        conditions: vec![Condition::PathPattern(vec!["/x".into()])],
        action: forward("tg"),
    };
    let mut dup = good.clone();
    dup.load_balancers[0].listeners[0].rules = vec![rule(5), rule(5)];
    let cases: Vec<(Config, &str, &str)> = vec![
        (dup, "ValidationError", "priority '5' is currently in use"),
        (
            lb(port, vec![], forward("nope"), vec![group("tg", &[&a])]),
            "ValidationError",
            "target group 'nope' not found",
        ),
        (
            {
                let mut c = good.clone();
                c.target_groups[0].health_check.timeout_seconds = 10;
                c
            },
            "ValidationError",
            "health check timeout must be smaller than the interval",
        ),
        (
            {
                let mut c = good.clone();
                c.target_groups[0].health_check.matcher = "600".into();
                c
            },
            "ValidationError",
            "matcher",
        ),
        (
            {
                let mut c = good.clone();
                c.target_groups[0].attributes.algorithm = Algorithm::LeastOutstandingRequests;
                c.target_groups[0].attributes.slow_start_seconds = 30;
                c
            },
            "ValidationError",
            "least outstanding",
        ),
        (
            {
                let mut c = good.clone();
                c.target_groups[0].protocol = TargetProtocol::Https;
                c
            },
            "UnsupportedProtocol",
            "HTTPS",
        ),
        (
            {
                let mut c = good.clone();
                c.load_balancers[0].listeners[0].protocol = ListenerProtocol::Https;
                c
            },
            "ValidationError",
            "certificate",
        ),
        (
            {
                let mut c = good.clone();
                c.load_balancers[0].listeners[0].protocol = ListenerProtocol::Https;
                c.load_balancers[0].listeners[0].certificate =
                    Some(Certificate { chain_pem: "junk".into(), key_pem: "junk".into() });
                c
            },
            "InvalidConfigurationRequest",
            "certificate chain holds no certificate",
        ),
        (
            {
                let mut c = good.clone();
                c.load_balancers[0].listeners[0].rules =
                    vec![Rule { conditions: vec![Condition::SourceIp(vec!["10.0.0.1/8".into()])], ..rule(1) }];
                c
            },
            "ValidationError",
            "CIDR",
        ),
    ];
    for (config, code, text) in cases {
        let err = proxy.apply(config).await.unwrap_err();
        assert_eq!(err.aws_code(), code, "{err}");
        assert!(err.to_string().contains(text), "{err} lacks {text}");
    }
    // a port in use: the bind fails and the old configuration stays
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut busy = good.clone();
    busy.load_balancers[0].listeners[0].port = taken.local_addr().unwrap().port();
    let err = proxy.apply(busy).await.unwrap_err();
    assert!(matches!(err, LbError::Bind { .. }), "{err}");
    assert_eq!(err.aws_code(), "InvalidConfigurationRequest");
    let http = client();
    let req = Request::get(format!("http://127.0.0.1:{port}/")).body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(&http, req).await.body, "a");
}

#[tokio::test]
async fn a_health_check_port_other_than_the_traffic_port() {
    let (a, checker) = (Backend::start("a").await, Backend::start("checker").await);
    let port = free_port();
    let (proxy, clock) = manual_proxy();
    let mut tg = group("tg", &[&a]);
    tg.health_check.port = Some(checker.addr.port());
    tg.health_check.matcher = "200,204".into();
    proxy.apply(lb(port, vec![], forward("tg"), vec![tg])).await.unwrap();
    all_healthy(&proxy, Some(&clock), "tg").await;
    // the checks go to the other port: its 500 makes `a` unhealthy although `a` itself answers 200
    checker.health.store(500, Ordering::SeqCst);
    eventually(Some(&clock), 1.0, || {
        state_of(&proxy.target_health("tg"), a.addr) == Some(("unhealthy", Some("Target.ResponseCodeMismatch")))
    })
    .await;
    assert_eq!(a.health.load(Ordering::SeqCst), 200);
    // 204 is in the matcher
    checker.health.store(204, Ordering::SeqCst);
    all_healthy(&proxy, Some(&clock), "tg").await;
}
