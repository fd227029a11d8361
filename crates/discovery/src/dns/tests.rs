//! The DNS server on loopback against a service in process: answers, health, NXDOMAIN, TCP, forwarding to a
//! stand-in upstream, SERVFAIL when the upstream is silent.

use super::{DnsServer, DnsServerConfig};
use crate::{Discovery, DiscoveryConfig};
use berth_model::clock::ManualClock;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

async fn call(d: &Discovery, op: &str, input: Value) -> Value {
    let out = d.call(op, input.to_string().as_bytes()).await.unwrap_or_else(|e| panic!("{op}: {e}"));
    serde_json::from_slice(&out).unwrap()
}

/// `web.corp.local` (A 30 s, SRV 10 s, custom health) with t1 (10.0.0.1:80, healthy) and t2 (10.0.0.2:81,
/// unhealthy), and `db.corp.local` (A only, no health check, no instances).
async fn world() -> (Arc<Discovery>, String) {
    let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let d = Discovery::open(DiscoveryConfig::new("us-east-1", "000000000000"), store, clock).await.unwrap();
    let op = call(&d, "CreatePrivateDnsNamespace", json!({"Name": "corp.local", "Vpc": "vpc-1"})).await;
    let op = call(&d, "GetOperation", json!({"OperationId": op["OperationId"]})).await;
    let ns = op["Operation"]["Targets"]["NAMESPACE"].clone();
    let web = call(
        &d,
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "HealthCheckCustomConfig": {},
        "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 30}, {"Type": "SRV", "TTL": 10}]}}),
    )
    .await;
    let srv = web["Service"]["Id"].as_str().unwrap().to_string();
    call(
        &d,
        "CreateService",
        json!({"Name": "db", "NamespaceId": ns, "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 60}]}}),
    )
    .await;
    for (id, ip, port, health) in [("t1", "10.0.0.1", "80", "HEALTHY"), ("t2", "10.0.0.2", "81", "UNHEALTHY")] {
        call(
            &d,
            "RegisterInstance",
            json!({"ServiceId": srv, "InstanceId": id, "Attributes":
            {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": port, "AWS_INIT_HEALTH_STATUS": health}}),
        )
        .await;
    }
    (d, srv)
}

/// A stand-in upstream resolver: answers every query with `example.com. 300 A 192.0.2.7`.
async fn upstream() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = socket.recv_from(&mut buf).await.unwrap();
            let query = Message::from_vec(&buf[..n]).unwrap();
            let mut response = Message::response(query.id, query.op_code);
            response.add_queries(query.queries.clone());
            let name = Name::from_ascii("example.com.").unwrap();
            response.add_answer(Record::from_rdata(name, 300, RData::A(A([192, 0, 2, 7].into()))));
            socket.send_to(&response.to_vec().unwrap(), peer).await.unwrap();
        }
    });
    addr
}

async fn server(d: &Discovery, upstreams: Vec<SocketAddr>) -> DnsServer {
    let mut config = DnsServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.upstreams = upstreams;
    config.forward_timeout = Duration::from_millis(300);
    DnsServer::start(d.index().clone(), config).await.unwrap()
}

fn query_bytes(name: &str, kind: RecordType) -> Vec<u8> {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    query.to_vec().unwrap()
}

async fn ask(addr: SocketAddr, name: &str, kind: RecordType) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&query_bytes(name, kind), addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf)).await.unwrap().unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

async fn ask_tcp(addr: SocketAddr, name: &str, kind: RecordType) -> Message {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let bytes = query_bytes(name, kind);
    stream.write_all(&(bytes.len() as u16).to_be_bytes()).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let n = stream.read_u16().await.unwrap() as usize;
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

fn ips(m: &Message) -> Vec<String> {
    let mut out: Vec<String> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_and_srv_answers_follow_health() {
    let (d, srv) = world().await;
    let dns = server(&d, Vec::new()).await;
    let addr = dns.local_addr();
    let a = ask(addr, "web.corp.local.", RecordType::A).await;
    assert_eq!(a.response_code, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(ips(&a), vec!["10.0.0.1"], "only the healthy instance");
    assert_eq!(a.answers[0].ttl, 30, "the service's TTL");
    let upper = ask(addr, "WEB.Corp.Local.", RecordType::A).await;
    assert_eq!(ips(&upper), vec!["10.0.0.1"], "names match without regard to case");

    let srv_answer = ask(addr, "web.corp.local.", RecordType::SRV).await;
    assert_eq!(srv_answer.answers.len(), 1);
    match &srv_answer.answers[0].data {
        RData::SRV(s) => {
            assert_eq!((s.priority, s.weight, s.port), (1, 1, 80));
            assert_eq!(s.target.to_ascii(), "t1.web.corp.local.");
        }
        other => panic!("not an SRV record: {other:?}"),
    }
    assert_eq!(srv_answer.answers[0].ttl, 10);
    assert_eq!(srv_answer.additionals.len(), 1, "the target's address comes along");
    let host = ask(addr, "t2.web.corp.local.", RecordType::A).await;
    assert_eq!(ips(&host), vec!["10.0.0.2"], "every SRV target resolves");

    // Health changes show at once; with no healthy instance the answer holds them all (Route 53 fails open).
    call(&d, "UpdateInstanceCustomHealthStatus", json!({"ServiceId": srv, "InstanceId": "t2", "Status": "HEALTHY"}))
        .await;
    assert_eq!(ips(&ask(addr, "web.corp.local.", RecordType::A).await), vec!["10.0.0.1", "10.0.0.2"]);
    for id in ["t1", "t2"] {
        call(
            &d,
            "UpdateInstanceCustomHealthStatus",
            json!({"ServiceId": srv, "InstanceId": id, "Status": "UNHEALTHY"}),
        )
        .await;
    }
    assert_eq!(ips(&ask(addr, "web.corp.local.", RecordType::A).await), vec!["10.0.0.1", "10.0.0.2"]);
    call(&d, "DeregisterInstance", json!({"ServiceId": srv, "InstanceId": "t1"})).await;
    assert_eq!(ips(&ask(addr, "web.corp.local.", RecordType::A).await), vec!["10.0.0.2"]);

    let tcp = ask_tcp(addr, "web.corp.local.", RecordType::A).await;
    assert_eq!(ips(&tcp), vec!["10.0.0.2"], "TCP answers too");
}

#[tokio::test]
async fn negative_answers_carry_the_zone_soa() {
    let (d, _) = world().await;
    let dns = server(&d, Vec::new()).await;
    let addr = dns.local_addr();
    let missing = ask(addr, "nope.corp.local.", RecordType::A).await;
    assert_eq!(missing.response_code, ResponseCode::NXDomain);
    assert_eq!(missing.authorities.len(), 1);
    assert_eq!(missing.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(missing.authorities[0].ttl, 15, "the namespace's SOA TTL");
    let empty = ask(addr, "db.corp.local.", RecordType::A).await;
    assert_eq!(empty.response_code, ResponseCode::NXDomain, "a service without instances has no records");
    let nodata = ask(addr, "web.corp.local.", RecordType::AAAA).await;
    assert_eq!((nodata.response_code, nodata.answers.len()), (ResponseCode::NoError, 0), "NODATA");
    let apex = ask(addr, "corp.local.", RecordType::SOA).await;
    assert_eq!(apex.answers[0].record_type(), RecordType::SOA);
}

#[tokio::test]
async fn other_names_are_forwarded_and_a_silent_upstream_is_servfail() {
    let (d, _) = world().await;
    let up = upstream().await;
    let dns = server(&d, vec![up]).await;
    let forwarded = ask(dns.local_addr(), "example.com.", RecordType::A).await;
    assert_eq!(ips(&forwarded), vec!["192.0.2.7"]);
    assert!(!forwarded.authoritative);

    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dead = server(&d, vec![silent.local_addr().unwrap()]).await;
    let failed = ask(dead.local_addr(), "example.com.", RecordType::A).await;
    assert_eq!(failed.response_code, ResponseCode::ServFail);
    let local = ask(dead.local_addr(), "web.corp.local.", RecordType::A).await;
    assert_eq!(ips(&local), vec!["10.0.0.1"], "Cloud Map names need no upstream");
}

/// One load balancer's name.
struct OneName;

impl super::HostNames for OneName {
    fn address(&self, name: &str) -> Option<std::net::Ipv4Addr> {
        (name == "front-0123456789.us-east-1.elb.berth.internal").then_some(std::net::Ipv4Addr::new(127, 0, 1, 1))
    }
}

#[tokio::test]
async fn host_names_are_answered_before_forwarding() {
    let (d, _) = world().await;
    let up = upstream().await;
    let mut config = DnsServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.upstreams = vec![up];
    config.host_names = Some(Arc::new(OneName));
    let dns = DnsServer::start(d.index().clone(), config).await.unwrap();
    let lb = ask(dns.local_addr(), "FRONT-0123456789.us-east-1.elb.berth.internal.", RecordType::A).await;
    assert_eq!(ips(&lb), vec!["127.0.1.1"]);
    assert!(lb.authoritative);
    assert_eq!(lb.answers[0].ttl, super::answer::HOST_NAME_TTL);
    let nodata = ask_tcp(dns.local_addr(), "front-0123456789.us-east-1.elb.berth.internal.", RecordType::AAAA).await;
    assert_eq!((nodata.response_code, nodata.answers.len()), (ResponseCode::NoError, 0));
    let forwarded = ask(dns.local_addr(), "example.com.", RecordType::A).await;
    assert_eq!(ips(&forwarded), vec!["192.0.2.7"], "other names are still forwarded");
    let cloud_map = ask(dns.local_addr(), "web.corp.local.", RecordType::A).await;
    assert_eq!(ips(&cloud_map), vec!["10.0.0.1"]);
}

#[tokio::test]
async fn garbage_gets_formerr_or_nothing() {
    let (d, _) = world().await;
    let dns = server(&d, Vec::new()).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut junk = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    junk.extend_from_slice(&[0xff; 5]);
    socket.send_to(&junk, dns.local_addr()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..2], &[0xab, 0xcd]);
    assert_eq!(buf[3] & 0x0f, 1, "FORMERR");
    assert_eq!(n, 12);
}

#[tokio::test]
async fn srv_names_in_haproxys_form_come_from_the_service_name() {
    let (d, _) = world().await;
    let ns = call(&d, "ListNamespaces", json!({})).await["Namespaces"][0]["Id"].clone();
    let svc = call(
        &d,
        "CreateService",
        json!({"Name": "_api._tcp", "NamespaceId": ns,
        "DnsConfig": {"DnsRecords": [{"Type": "SRV", "TTL": 5}]}}),
    )
    .await;
    call(
        &d,
        "RegisterInstance",
        json!({"ServiceId": svc["Service"]["Id"], "InstanceId": "abc123",
        "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.9", "AWS_INSTANCE_PORT": "9000"}}),
    )
    .await;
    let dns = server(&d, Vec::new()).await;
    let srv = ask(dns.local_addr(), "_api._tcp.corp.local.", RecordType::SRV).await;
    match &srv.answers[..] {
        [record] => match &record.data {
            RData::SRV(s) => {
                assert_eq!(s.port, 9000);
                assert_eq!(s.target.to_ascii(), "abc123._api._tcp.corp.local.");
            }
            other => panic!("not an SRV record: {other:?}"),
        },
        other => panic!("one SRV record expected: {other:?}"),
    }
    assert_eq!(ips(&ask(dns.local_addr(), "abc123._api._tcp.corp.local.", RecordType::A).await), vec!["10.0.0.9"]);
    let between = ask(dns.local_addr(), "_tcp.corp.local.", RecordType::A).await;
    assert_eq!((between.response_code, between.answers.len()), (ResponseCode::NoError, 0), "an empty non-terminal");
    let a = ask(dns.local_addr(), "_api._tcp.corp.local.", RecordType::A).await;
    assert_eq!((a.response_code, a.answers.len()), (ResponseCode::NoError, 0), "no A record type: NODATA");
}

#[test]
fn large_udp_answers_lose_their_additionals_then_set_tc() {
    use hickory_proto::rr::rdata::SRV;
    let query = Message::from_vec(&query_bytes("web.corp.local.", RecordType::SRV)).unwrap();
    let mut response = Message::response(query.id, query.op_code);
    response.add_queries(query.queries.clone());
    for n in 0..8 {
        let target = Name::from_ascii(format!("task-{n:02}-abcdefghijklm.web.corp.local.")).unwrap();
        let owner = Name::from_ascii("web.corp.local.").unwrap();
        response.add_answer(Record::from_rdata(owner, 10, RData::SRV(SRV::new(1, 1, 80, target.clone()))));
        response.add_additional(Record::from_rdata(target, 10, RData::A(A([10, 0, 0, n].into()))));
    }
    assert!(response.to_vec().unwrap().len() > 512);
    let lean = Message::from_vec(&super::encode(&query, &response, false).unwrap()).unwrap();
    assert_eq!((lean.answers.len(), lean.additionals.len(), lean.truncation), (8, 0, false));
    let full = Message::from_vec(&super::encode(&query, &response, true).unwrap()).unwrap();
    assert_eq!(full.additionals.len(), 8, "TCP takes it all");
    for n in 8..40 {
        let target = Name::from_ascii(format!("task-{n:02}-abcdefghijklm.web.corp.local.")).unwrap();
        let owner = Name::from_ascii("web.corp.local.").unwrap();
        response.add_answer(Record::from_rdata(owner, 10, RData::SRV(SRV::new(1, 1, 80, target))));
    }
    let cut = Message::from_vec(&super::encode(&query, &response, false).unwrap()).unwrap();
    assert!(cut.truncation && cut.answers.is_empty(), "TC: the client retries over TCP");
}
