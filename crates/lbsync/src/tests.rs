//! The translation on real ELBv2 records (a memory store), and the loop driving a real proxy on loopback.

use crate::sync::{Outcome, Syncer};
use crate::{Addresses, InstanceAddresses, LbSync, SyncOptions, translate};
use berth_elb::config::{Cidr, VPC_ID};
use berth_elb::{Elb, ElbConfig};
use berth_lb::config::{Action, Algorithm, Condition};
use berth_lb::{Proxy, ProxyOptions};
use berth_model::clock::{Clock, SystemClock};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Instances(HashMap<&'static str, IpAddr>);

impl InstanceAddresses for Instances {
    fn address(&self, id: &str) -> Option<IpAddr> {
        self.0.get(id).copied()
    }
}

fn instances() -> Arc<dyn InstanceAddresses> {
    Arc::new(Instances(HashMap::from([("host-a", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))])))
}

/// An ELBv2 service whose load balancers take addresses from 127.0.`net`.0/24 (a range per test).
async fn elb(net: u8) -> Arc<Elb> {
    let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
    let mut config = ElbConfig::new("us-east-1", "000000000000");
    config.address_range = Cidr { network: Ipv4Addr::new(127, 0, net, 0), prefix: 24 };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Elb::open(config, store, clock).await.unwrap()
}

async fn ok(elb: &Elb, op: &str, input: Value) -> Value {
    let out = elb.call(op, input.to_string().as_bytes()).await.unwrap_or_else(|e| panic!("{op}: {e}"));
    serde_json::from_slice(&out).unwrap()
}

async fn target_group(elb: &Elb, name: &str, extra: Value) -> String {
    let mut input = json!({"Name": name, "Protocol": "HTTP", "Port": 8080, "VpcId": VPC_ID, "TargetType": "ip"});
    input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let tg = ok(elb, "CreateTargetGroup", input).await;
    tg["TargetGroups"][0]["TargetGroupArn"].as_str().unwrap().to_string()
}

async fn load_balancer(elb: &Elb, name: &str) -> (String, Ipv4Addr) {
    let lb = ok(elb, "CreateLoadBalancer", json!({"Name": name})).await;
    let arn = lb["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap().to_string();
    let view = elb.view();
    let address = view.load_balancers.iter().find(|l| l.arn == arn).unwrap().address;
    (arn, address)
}

async fn listener(elb: &Elb, lb: &str, port: u16, tg: &str) -> String {
    let l = ok(
        elb,
        "CreateListener",
        json!({"LoadBalancerArn": lb, "Protocol": "HTTP", "Port": port,
               "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]}),
    )
    .await;
    l["Listeners"][0]["ListenerArn"].as_str().unwrap().to_string()
}

async fn register(elb: &Elb, tg: &str, targets: Value) {
    ok(elb, "RegisterTargets", json!({"TargetGroupArn": tg, "Targets": targets})).await;
}

#[tokio::test]
async fn records_translate_one_to_one() {
    let elb = elb(71).await;
    let (lb, address) = load_balancer(&elb, "web").await;
    ok(
        &elb,
        "ModifyLoadBalancerAttributes",
        json!({"LoadBalancerArn": lb,
        "Attributes": [{"Key": "idle_timeout.timeout_seconds", "Value": "30"}]}),
    )
    .await;
    let ip = target_group(
        &elb,
        "ips",
        json!({"HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
               "UnhealthyThresholdCount": 3, "HealthCheckPort": "9000", "Matcher": {"HttpCode": "200-299"}}),
    )
    .await;
    ok(
        &elb,
        "ModifyTargetGroupAttributes",
        json!({"TargetGroupArn": ip, "Attributes": [
        {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"},
        {"Key": "deregistration_delay.timeout_seconds", "Value": "7"},
        {"Key": "stickiness.enabled", "Value": "true"},
        {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "120"}]}),
    )
    .await;
    register(
        &elb,
        &ip,
        json!([{"Id": "127.0.0.1", "Port": 9001, "AvailabilityZone": "all"},
        {"Id": "127.0.0.1", "Port": 9002, "AvailabilityZone": "all"},
        {"Id": "172.17.0.5"}]),
    )
    .await;
    ok(&elb, "DeregisterTargets", json!({"TargetGroupArn": ip, "Targets": [{"Id": "127.0.0.1", "Port": 9002}]})).await;
    let inst = target_group(&elb, "inst", json!({"TargetType": "instance"})).await;
    register(&elb, &inst, json!([{"Id": "host-a", "Port": 32768}, {"Id": "host-gone"}])).await;
    let l = listener(&elb, &lb, 8080, &ip).await;
    ok(&elb, "CreateRule", json!({"ListenerArn": l, "Priority": 5,
        "Conditions": [{"Field": "path-pattern", "Values": ["/static/*"]}],
        "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418", "ContentType": "text/plain", "MessageBody": "tea"}}]}))
    .await;
    ok(
        &elb,
        "CreateRule",
        json!({"ListenerArn": l, "Priority": 9,
        "Conditions": [{"Field": "host-header", "HostHeaderConfig": {"Values": ["api.*"]}}],
        "Actions": [{"Type": "forward", "TargetGroupArn": inst}]}),
    )
    .await;

    let t = translate(&elb.view(), instances().as_ref());
    let lbc = &t.config.load_balancers[0];
    assert_eq!((lbc.id.as_str(), lbc.bind_ip, lbc.idle_timeout_seconds), (lb.as_str(), IpAddr::V4(address), 30));
    let lc = &lbc.listeners[0];
    assert_eq!((lc.id.as_str(), lc.port), (l.as_str(), 8080));
    let Action::Forward(f) = &lc.default_action else { panic!("{:?}", lc.default_action) };
    assert_eq!(f.target_groups[0].target_group_id, ip);
    assert_eq!(lc.rules.len(), 2);
    assert_eq!(lc.rules[0].priority, 5);
    assert_eq!(lc.rules[0].conditions, vec![Condition::PathPattern(vec!["/static/*".into()])]);
    let Action::FixedResponse(fixed) = &lc.rules[0].action else { panic!() };
    assert_eq!((fixed.status_code, fixed.message_body.as_deref()), (418, Some("tea")));
    assert_eq!(lc.rules[1].conditions, vec![Condition::HostHeader(vec!["api.*".into()])]);

    let g = t.config.target_groups.iter().find(|g| g.id == ip).unwrap();
    let hc = &g.health_check;
    assert_eq!(
        (hc.path.as_str(), hc.interval_seconds, hc.healthy_threshold, hc.unhealthy_threshold),
        ("/health", 5, 2, 3)
    );
    assert_eq!((hc.port, hc.matcher.as_str()), (Some(9000), "200-299"));
    assert_eq!(g.attributes.algorithm, Algorithm::LeastOutstandingRequests);
    assert_eq!((g.attributes.deregistration_delay_seconds, g.attributes.stickiness_seconds), (7, Some(120)));
    // The draining target is left out (the proxy drains it); the others are their addresses.
    let a = |s: &str| s.parse::<SocketAddr>().unwrap();
    assert_eq!(g.targets, vec![a("127.0.0.1:9001"), a("172.17.0.5:8080")]);
    let i = t.config.target_groups.iter().find(|g| g.id == inst).unwrap();
    assert_eq!(i.targets, vec![a("127.0.0.1:32768")]);
    assert_eq!(t.addresses[&(inst.clone(), "host-a".to_string(), 32768)], a("127.0.0.1:32768"));
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert!(t.problems[0].0.contains("host-gone:8080 has no known address"), "{}", t.problems[0]);
}

#[tokio::test]
async fn what_the_proxy_cannot_serve_is_left_out_and_said() {
    let elb = elb(72).await;
    let (lb, _) = load_balancer(&elb, "web").await;
    let secure = target_group(&elb, "secure", json!({"Protocol": "HTTPS"})).await;
    let plain = target_group(&elb, "plain", json!({})).await;
    ok(
        &elb,
        "ModifyTargetGroupAttributes",
        json!({"TargetGroupArn": plain, "Attributes": [
        {"Key": "load_balancing.algorithm.type", "Value": "weighted_random"}]}),
    )
    .await;
    listener(&elb, &lb, 8081, &secure).await;
    listener(&elb, &lb, 8082, &plain).await;
    let t = translate(&elb.view(), instances().as_ref());
    assert_eq!(t.config.target_groups.len(), 1);
    assert_eq!(t.config.load_balancers[0].listeners.len(), 1);
    assert_eq!(t.config.load_balancers[0].listeners[0].port, 8082);
    assert_eq!(t.config.target_groups[0].attributes.algorithm, Algorithm::RoundRobin);
    let text: Vec<String> = t.problems.iter().map(|p| p.0.clone()).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(text.iter().any(|p| p.contains("HTTPS protocol to targets is not supported")), "{text:?}");
    assert!(text.iter().any(|p| p.contains("(port 8081)") && p.contains("not served")), "{text:?}");
    assert!(text.iter().any(|p| p.contains("'weighted_random' is not supported")), "{text:?}");
}

/// A tiny HTTP server answering every request with `body` (200), until dropped.
async fn backend(body: &'static str) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let reply =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

/// `GET path` to `addr`: the status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn proxy() -> Arc<Proxy> {
    Arc::new(Proxy::new(Arc::new(SystemClock), ProxyOptions { workers: 0, ..ProxyOptions::default() }))
}

async fn health_state(elb: &Elb, tg: &str) -> Vec<String> {
    let out = ok(elb, "DescribeTargetHealth", json!({"TargetGroupArn": tg})).await;
    out["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["TargetHealth"]["State"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn the_loop_serves_the_records_and_reports_the_proxys_health() {
    let elb = elb(73).await;
    let (backend_addr, _server) = backend("hello").await;
    let (lb, address) = load_balancer(&elb, "web").await;
    let tg = target_group(
        &elb,
        "app",
        json!({"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2}),
    )
    .await;
    register(&elb, &tg, json!([{"Id": "127.0.0.1", "Port": backend_addr.port(), "AvailabilityZone": "all"}])).await;
    listener(&elb, &lb, 8080, &tg).await;
    let proxy = proxy();
    let options = SyncOptions { debounce: Duration::from_millis(20), resync: Duration::from_secs(60) };
    let sync = LbSync::start(elb.clone(), proxy.clone(), instances(), None, Arc::new(SystemClock), options);
    let front = SocketAddr::new(IpAddr::V4(address), 8080);
    let mut states = Vec::new();
    for _ in 0..100 {
        states = health_state(&elb, &tg).await;
        if states == ["healthy"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(states, ["healthy"]);
    assert_eq!(get(front, "/").await, (200, "hello".to_string()));
    // A change reaches the proxy: a second listener.
    listener(&elb, &lb, 8081, &tg).await;
    let second = SocketAddr::new(IpAddr::V4(address), 8081);
    for _ in 0..100 {
        if proxy.listening().contains(&second) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(proxy.listening(), vec![front, second]);
    assert_eq!(get(second, "/").await.0, 200);
    sync.shutdown(Duration::from_millis(100)).await;
    assert!(proxy.listening().is_empty());
}

#[tokio::test]
async fn a_taken_port_leaves_that_listener_out_until_it_is_free() {
    let elb = elb(74).await;
    let (lb, address) = load_balancer(&elb, "web").await;
    let tg = target_group(&elb, "app", json!({})).await;
    listener(&elb, &lb, 8080, &tg).await;
    listener(&elb, &lb, 8081, &tg).await;
    let squatter = std::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(address), 8081)).unwrap();
    let proxy = proxy();
    let mut syncer = Syncer::new(elb.clone(), proxy.clone(), instances(), Addresses::default(), None);
    assert_eq!(syncer.round().await, Outcome::Applied);
    assert_eq!(proxy.listening(), vec![SocketAddr::new(IpAddr::V4(address), 8080)]);
    // Not applied in full: the next round tries again, and binds once the port is free.
    drop(squatter);
    assert_eq!(syncer.round().await, Outcome::Applied);
    assert_eq!(proxy.listening().len(), 2);
    assert_eq!(syncer.round().await, Outcome::Unchanged);
}

struct AnyCertificate;

impl berth_elb::CertificateCatalog for AnyCertificate {
    fn exists(&self, _arn: &str) -> bool {
        true
    }
}

#[tokio::test]
async fn https_listeners_take_their_certificate_from_the_source() {
    let elb = elb(79).await;
    elb.set_certificate_catalog(Arc::new(AnyCertificate));
    let (lb, _) = load_balancer(&elb, "secure").await;
    let tg = target_group(&elb, "app", json!({})).await;
    let cert = "arn:aws:acm:us-east-1:000000000000:certificate/c1";
    ok(
        &elb,
        "CreateListener",
        json!({"LoadBalancerArn": lb, "Protocol": "HTTPS", "Port": 443, "Certificates": [{"CertificateArn": cert}],
               "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]}),
    )
    .await;
    let view = elb.view();
    assert_eq!(crate::translate::certificate_arns(&view).into_iter().collect::<Vec<_>>(), [cert]);
    let pem = berth_lb::config::Certificate { chain_pem: "chain".into(), key_pem: "key".into() };
    let certificates = crate::Certificates::from([(cert.to_string(), Ok(pem.clone()))]);
    let t = crate::translate_with(&view, instances().as_ref(), &certificates);
    let l = &t.config.load_balancers[0].listeners[0];
    assert_eq!(l.protocol, berth_lb::config::ListenerProtocol::Https);
    assert_eq!(l.certificate.as_ref(), Some(&pem));
    let failed = crate::Certificates::from([(cert.to_string(), Err("sealed key does not open".to_string()))]);
    let t = crate::translate_with(&view, instances().as_ref(), &failed);
    assert!(t.config.load_balancers[0].listeners.is_empty());
    assert!(t.problems.iter().any(|p| p.0.contains("sealed key does not open")), "{:?}", t.problems);
    let t = translate(&view, instances().as_ref());
    assert!(t.problems.iter().any(|p| p.0.contains("is not available")), "{:?}", t.problems);
}
