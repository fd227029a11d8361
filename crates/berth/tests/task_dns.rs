//! Task containers resolve through Berth's DNS on `berth up`, with real containers and real lookups made from
//! inside them (the workload's `/resolve`, which asks the servers of the container's own `/etc/resolv.conf`): a
//! bridge container and an awsvpc task resolve an awsvpc service's Cloud Map name (A and SRV) to its healthy
//! tasks' addresses through the agent's DNS forwarder, and a name outside Cloud Map through the server's
//! forwarding (to a stub upstream this test runs: the sandbox has no resolver to rely on); a stopped task leaves
//! the answer within 2 s and its replacement is in it within 2 s of RUNNING (the figures are printed);
//! `dnsServers` in a container definition wins. Also prints the
//! answer latency (p50/p99) of the server's DNS asked directly and through the agent's forwarder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly and time real processes

mod common;

use aws_sdk_ecs::types::{
    AwsVpcConfiguration, ContainerDefinition, NetworkConfiguration, NetworkMode, PortMapping, ServiceRegistry,
};
use berth_testkit::{Berth, BerthOptions, free_port, http_get, wait_for};
use common::*;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const VPC: &str = "vpc-0be7f000000000001";
const SUBNET_A: &str = "subnet-0be7f00000000000a";
/// The address the stub upstream answers for `outside.example`.
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 123);

/// A stub upstream resolver on loopback: `outside.example` A is [`OUTSIDE`], any other name NXDOMAIN.
fn stub_upstream() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else { continue };
            let q = &buf[..n];
            // The question ends at the name's zero byte, then type and class.
            let Some(zero) = q[12..].iter().position(|b| *b == 0) else { continue };
            let end = 12 + zero + 5;
            let mut r = q[..end.min(n)].to_vec();
            r[2] |= 0x80;
            r[3] = 0x80;
            r[6..12].fill(0);
            let name = &q[12..12 + zero];
            if name == b"\x07outside\x07example" && q[end - 4..end - 2] == [0, 1] {
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
                r.extend_from_slice(&OUTSIDE.octets());
            } else {
                r[3] |= 3; // NXDOMAIN
            }
            let _ = socket.send_to(&r, peer);
        }
    });
    addr
}

/// A query for `name` (type A) with `id`.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Answer times (p50, p99) of `count` A queries for `name` to `server`, one at a time.
fn latency(server: SocketAddr, name: &str, count: usize) -> (Duration, Duration) {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut times = Vec::with_capacity(count);
    let mut buf = [0u8; 1500];
    for i in 0..count {
        let q = query(i as u16, name);
        let started = Instant::now();
        socket.send_to(&q, server).unwrap();
        loop {
            let (n, _) = socket.recv_from(&mut buf).expect("an answer");
            if n >= 12 && buf[..2] == q[..2] {
                assert_eq!(buf[3] & 0x0f, 0, "NOERROR from {server}");
                break;
            }
        }
        times.push(started.elapsed());
    }
    times.sort();
    (times[count / 2], times[count * 99 / 100])
}

/// The records a container's `/resolve` answers for `name` (sorted; empty on 404), asked at `base`
/// (`http://host:port`).
fn resolve(base: &str, name: &str, kind: &str) -> Vec<String> {
    let (status, body) = http_get(&format!("{base}/resolve?name={name}&type={kind}")).unwrap();
    assert!(status == 200 || status == 404, "{base} /resolve {name} {kind}: {status} {body}");
    let mut lines: Vec<String> =
        body.lines().filter(|l| !l.starts_with('#') && !l.is_empty() && status == 200).map(String::from).collect();
    lines.sort();
    lines
}

fn sd(berth: &Berth, args: &[&str]) -> serde_json::Value {
    aws_ok(berth, "servicediscovery", args)
}

async fn task_addresses(client: &aws_sdk_ecs::Client, service: &str) -> Vec<String> {
    let arns = client.list_tasks().service_name(service).send().await.unwrap().task_arns.unwrap_or_default();
    if arns.is_empty() {
        return Vec::new();
    }
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap_or_default();
    let mut ips: Vec<String> = tasks
        .iter()
        .filter(|t| t.last_status.as_deref() == Some("RUNNING"))
        .filter_map(|t| t.containers().first()?.network_interfaces().first()?.private_ipv4_address.clone())
        .collect();
    ips.sort();
    ips
}

/// Runs one bridge task of the workload (8080 on a dynamic host port), with `dns_servers` if given; its
/// `http://127.0.0.1:<host port>`.
async fn bridge_probe(client: &aws_sdk_ecs::Client, family: &str, dns_servers: &[&str]) -> String {
    let mut app = ContainerDefinition::builder()
        .name("app")
        .image("berth-workload:latest")
        .memory(32)
        .port_mappings(PortMapping::builder().container_port(8080).host_port(0).build());
    for server in dns_servers {
        app = app.dns_servers(*server);
    }
    client.register_task_definition().family(family).container_definitions(app.build()).send().await.unwrap();
    let run = client.run_task().task_definition(family).send().await.unwrap();
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    let task = wait_status(client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let base = format!("http://127.0.0.1:{}", host_port(&task));
    wait_http_ok(&format!("{base}/health")).await;
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_containers_resolve_cloud_map_names_through_the_agents_forwarder() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let upstream = stub_upstream();
    let dns_port = free_port();
    let (cidr, _networks) = own_vpc(160, 32, 0, 1);
    let args = vec![
        "--vpc-cidr".to_string(),
        cidr.clone(),
        // Every address: the containers' direct lookups (the latency figure) reach it at the bridge's gateway.
        "--dns-listen".into(),
        format!("0.0.0.0:{dns_port}"),
        "--dns-upstream".into(),
        upstream.to_string(),
    ];
    let berth = Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "up", extra_args: args })
        .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    // The agent claims its address once it has joined.
    let kept = berth.data_dir.path().join("data/agent/dns-address");
    let forwarder: Ipv4Addr = wait_for("the agent's DNS address", Duration::from_secs(10), || async {
        std::fs::read_to_string(&kept).ok()?.trim().parse().ok()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));
    assert_eq!(forwarder.octets()[..3], [169, 254, 53], "{forwarder}");

    // Cloud Map: `api.tasks.local`, A and SRV records without caching.
    let op = sd(&berth, &["create-private-dns-namespace", "--name", "tasks.local", "--vpc", VPC]);
    let got = sd(&berth, &["get-operation", "--operation-id", &s(&op["OperationId"])]);
    let ns = s(&got["Operation"]["Targets"]["NAMESPACE"]);
    let records =
        json!({"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 0}, {"Type": "SRV", "TTL": 0}]});
    let registry =
        sd(&berth, &["create-service", "--name", "api", "--namespace-id", &ns, "--dns-config", &records.to_string()]);
    let registry = s(&registry["Service"]["Arn"]);
    // The host reaches the tasks from their gateway, which the VPC's CIDR holds.
    let group =
        s(&aws_ok(&berth, "ec2", &["create-security-group", "--group-name", "api", "--description", "api"])["GroupId"]);
    aws_ok(
        &berth,
        "ec2",
        &[
            "authorize-security-group-ingress",
            "--group-id",
            &group,
            "--protocol",
            "tcp",
            "--port",
            "8080",
            "--cidr",
            &cidr,
        ],
    );
    let app = ContainerDefinition::builder()
        .name("app")
        .image("berth-workload:latest")
        .memory(32)
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .build();
    client
        .register_task_definition()
        .family("api")
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(app)
        .send()
        .await
        .unwrap();
    let vpc = AwsVpcConfiguration::builder().subnets(SUBNET_A).security_groups(&group).build().unwrap();
    client
        .create_service()
        .service_name("api")
        .task_definition("api")
        .desired_count(2)
        .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
        .service_registries(
            ServiceRegistry::builder().registry_arn(&registry).container_name("app").container_port(8080).build(),
        )
        .send()
        .await
        .unwrap();
    let probe = bridge_probe(&client, "probe", &[]).await;
    let pinned = bridge_probe(&client, "pinned", &["192.0.2.53"]).await;
    wait_stable(&client, "default", "api", Duration::from_secs(120)).await;
    let ips = task_addresses(&client, "api").await;
    assert_eq!(ips.len(), 2, "{ips:?}");
    let expected: Vec<String> = ips.iter().map(|ip| format!("A {ip}")).collect();

    // A bridge container: its resolver is the agent's forwarder.
    let (_, resolv_conf) = http_get(&format!("{probe}/file?path=/etc/resolv.conf")).unwrap();
    assert!(resolv_conf.contains(&format!("nameserver {forwarder}")), "{resolv_conf}");
    wait_for("the bridge container to resolve both tasks", Duration::from_secs(10), || async {
        (resolve(&probe, "api.tasks.local", "A") == expected).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?} != {expected:?}", resolve(&probe, "api.tasks.local", "A")));
    let srv = resolve(&probe, "api.tasks.local", "SRV");
    assert!(srv.len() == 2 && srv.iter().all(|l| l.starts_with("SRV 1 1 8080 ")), "{srv:?}");
    assert_eq!(resolve(&probe, "outside.example", "A"), vec![format!("A {OUTSIDE}")], "forwarded to the upstream");
    assert!(resolve(&probe, "nothing.tasks.local", "A").is_empty(), "NXDOMAIN in the namespace");

    // An awsvpc task (Docker's embedded resolver in its namespace, relaying to the forwarder).
    let task = format!("http://{}:8080", ips[0]);
    assert_eq!(resolve(&task, "api.tasks.local", "A"), expected);
    let srv = resolve(&task, "api.tasks.local", "SRV");
    assert!(srv.len() == 2 && srv.iter().all(|l| l.starts_with("SRV 1 1 8080 ")), "{srv:?}");
    assert_eq!(resolve(&task, "outside.example", "A"), vec![format!("A {OUTSIDE}")]);

    // `dnsServers` wins over the forwarder.
    let (_, resolv_conf) = http_get(&format!("{pinned}/file?path=/etc/resolv.conf")).unwrap();
    assert!(
        resolv_conf.contains("nameserver 192.0.2.53") && !resolv_conf.contains(&forwarder.to_string()),
        "{resolv_conf}"
    );

    // The answer latency, asked from the host: the server's DNS directly, and through the agent's forwarder.
    let direct = latency(SocketAddr::from(([127, 0, 0, 1], dns_port)), "api.tasks.local", 1000);
    let relayed = latency(SocketAddr::from((forwarder, 53)), "api.tasks.local", 1000);
    println!(
        "DNS answer latency from the host, 1000 A queries one at a time: the server's DNS p50 {:?} p99 {:?}; \
         through the agent's forwarder p50 {:?} p99 {:?}",
        direct.0, direct.1, relayed.0, relayed.1
    );
    // And from inside the bridge container: its resolver (the forwarder), and the server's DNS at the gateway.
    // The bridge's gateway (the engine may record none: the bridge's own address, as the agent reads it).
    let docker0 = std::process::Command::new("ip").args(["-4", "-o", "addr", "show", "docker0"]).output().unwrap();
    let docker0 = String::from_utf8_lossy(&docker0.stdout).into_owned();
    let gateway = docker0.split_whitespace().skip_while(|w| *w != "inet").nth(1).and_then(|a| a.split('/').next());
    let gateway = gateway.unwrap_or_else(|| panic!("docker0's address in {docker0:?}")).to_string();
    for (label, server) in
        [("through the forwarder", String::new()), ("direct", format!("&server={gateway}:{dns_port}"))]
    {
        let (status, body) = http_get(&format!("{probe}/resolve?name=api.tasks.local.&repeat=1000{server}")).unwrap();
        assert_eq!(status, 200, "{body}");
        println!("DNS answer latency inside a bridge container, {label}: {}", body.trim());
    }

    // A stopped task leaves the containers' answers within 2 s.
    let arns = client.list_tasks().service_name("api").send().await.unwrap().task_arns.unwrap();
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap();
    let stopping = tasks
        .iter()
        .find(|t| t.containers()[0].network_interfaces()[0].private_ipv4_address.as_deref() == Some(ips[1].as_str()))
        .unwrap();
    let gone = format!("A {}", ips[1]);
    let stopped_at = Instant::now();
    client.stop_task().task(stopping.task_arn().unwrap()).send().await.unwrap();
    loop {
        let got = resolve(&probe, "api.tasks.local", "A");
        if !got.contains(&gone) {
            break;
        }
        assert!(stopped_at.elapsed() < Duration::from_secs(2), "still answered after 2 s: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("a stopped task left the bridge container's answer {:?} after StopTask", stopped_at.elapsed());

    // Its replacement is in the answers within 2 s of ECS showing it RUNNING (polled every 50 ms).
    let before: Vec<String> = tasks.iter().filter_map(|t| t.task_arn.clone()).collect();
    let (replacement, running_at) = wait_for("the replacement RUNNING", Duration::from_secs(60), || async {
        let arns = client.list_tasks().service_name("api").send().await.unwrap().task_arns.unwrap_or_default();
        let new: Vec<String> = arns.into_iter().filter(|a| !before.contains(a)).collect();
        if new.is_empty() {
            return None;
        }
        let described = client.describe_tasks().set_tasks(Some(new)).send().await.unwrap().tasks.unwrap_or_default();
        let running = described.iter().find(|t| t.last_status.as_deref() == Some("RUNNING"))?;
        let ip = running.containers().first()?.network_interfaces().first()?.private_ipv4_address.clone()?;
        Some((format!("A {ip}"), Instant::now()))
    })
    .await
    .unwrap();
    loop {
        let got = resolve(&probe, "api.tasks.local", "A");
        if got.contains(&replacement) {
            break;
        }
        assert!(running_at.elapsed() < Duration::from_secs(2), "not answered 2 s after RUNNING: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "the replacement task was in the bridge container's answer {:?} after it showed RUNNING",
        running_at.elapsed()
    );
}
