//! DNS answer latency of Berth's Cloud Map DNS server, against dnsmasq answering the same names, in one run.
//!
//! `cargo run --release -p berth-discovery --example bench_dns [-- SECONDS CLIENTS]` (defaults 5 s, 16 clients).
//! A namespace `corp.local` with a service `web` (A, TTL 30, MULTIVALUE) of 3 instances is served in process
//! from a memory store; dnsmasq (Debian's `dnsmasq-base`, if installed) serves the same three A records with
//! `--host-record`. Each client is a UDP socket sending `web.corp.local A` and waiting for its answer (closed loop);
//! the figures are per answered query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark: fails loudly, times with the real clock

use berth_discovery::{Discovery, DiscoveryConfig, DnsServer, DnsServerConfig};
use berth_model::clock::SystemClock;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

const IPS: [&str; 3] = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];

async fn call(d: &Discovery, op: &str, input: serde_json::Value) -> serde_json::Value {
    serde_json::from_slice(&d.call(op, input.to_string().as_bytes()).await.unwrap()).unwrap()
}

async fn berth() -> (Arc<Discovery>, DnsServer) {
    let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
    let d =
        Discovery::open(DiscoveryConfig::new("us-east-1", "000000000000"), store, Arc::new(SystemClock)).await.unwrap();
    let op = call(&d, "CreatePrivateDnsNamespace", serde_json::json!({"Name": "corp.local", "Vpc": "vpc-1"})).await;
    let op = call(&d, "GetOperation", serde_json::json!({"OperationId": op["OperationId"]})).await;
    let ns = op["Operation"]["Targets"]["NAMESPACE"].clone();
    let svc = call(
        &d,
        "CreateService",
        serde_json::json!({"Name": "web", "NamespaceId": ns, "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 30}]}}),
    )
    .await;
    for (n, ip) in IPS.iter().enumerate() {
        call(
            &d,
            "RegisterInstance",
            serde_json::json!({"ServiceId": svc["Service"]["Id"], "InstanceId": format!("t{n}"),
                               "Attributes": {"AWS_INSTANCE_IPV4": ip}}),
        )
        .await;
    }
    let mut config = DnsServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.upstreams = vec!["127.0.0.1:9".parse().unwrap()];
    let server = DnsServer::start(d.index().clone(), config).await.unwrap();
    (d, server)
}

fn dnsmasq() -> Option<(std::process::Child, SocketAddr)> {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let mut cmd = std::process::Command::new("dnsmasq");
    cmd.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--pid-file=",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        &format!("--port={port}"),
    ]);
    for ip in IPS {
        cmd.arg(format!("--host-record=web.corp.local,{ip}"));
    }
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().ok()?;
    std::thread::sleep(Duration::from_millis(300));
    Some((child, SocketAddr::from(([127, 0, 0, 1], port))))
}

struct Figures {
    queries: usize,
    qps: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(target: SocketAddr, seconds: u64, clients: usize) -> Figures {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii("web.corp.local.").unwrap(), RecordType::A));
    let bytes = query.to_vec().unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let bytes = bytes.clone();
        tasks.push(tokio::spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.connect(target).await.unwrap();
            let mut buf = [0u8; 1500];
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                socket.send(&bytes).await.unwrap();
                match tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await {
                    Ok(Ok(n)) => {
                        let answer = Message::from_vec(&buf[..n]).unwrap();
                        assert_eq!(answer.answers.len(), IPS.len(), "every instance in the answer");
                        latencies.push(sent.elapsed());
                    }
                    _ => continue,
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Figures { queries: all.len(), qps: all.len() as f64 / elapsed, p50: at(0.50), p99: at(0.99) }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let clients = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let (_d, server) = berth().await;
    println!("web.corp.local A, {clients} closed-loop UDP clients, {seconds} s each");
    println!("{:<10} {:>10} {:>10} {:>10} {:>10}", "server", "queries", "q/s", "p50 µs", "p99 µs");
    let ours = load(server.local_addr(), seconds, clients).await;
    println!("{:<10} {:>10} {:>10.0} {:>10.0} {:>10.0}", "berth", ours.queries, ours.qps, us(ours.p50), us(ours.p99));
    match dnsmasq() {
        Some((mut child, addr)) => {
            let peer = load(addr, seconds, clients).await;
            let _ = child.kill();
            let _ = child.wait();
            println!(
                "{:<10} {:>10} {:>10.0} {:>10.0} {:>10.0}",
                "dnsmasq",
                peer.queries,
                peer.qps,
                us(peer.p50),
                us(peer.p99)
            );
            println!(
                "berth/dnsmasq: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x",
                ours.qps / peer.qps,
                us(ours.p50) / us(peer.p50),
                us(ours.p99) / us(peer.p99)
            );
        }
        None => println!("dnsmasq not found (Debian: dnsmasq-base): no peer figure"),
    }
}
