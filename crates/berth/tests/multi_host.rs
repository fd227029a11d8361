//! awsvpc tasks on two hosts: host A is this machine's Docker Engine with one agent, host B a second `dockerd` in
//! a network namespace (`berth_testkit::NetnsEngine`, a veth link to the root namespace) with its own agent. The
//! agents route each other's slices themselves (from the desired state), a task on A reaches a task on B by its
//! private address and B's task sees A's task's address as the source, B's security groups decide (a rule change
//! there blocks and permits it), the load balancer in `berth server` on A reaches B's task as an `ip` target (from
//! A's host address, admitted by a rule naming the load balancer's group), and the routes and rules go when B's
//! instance is deregistered.
//!
//! Everything made here is removed on drop, also on panic: B's agent, containers, engine, namespace and link; A's
//! routes and rules of this VPC; the Berth and its containers and networks on the machine's engine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{
    AwsVpcConfiguration, ContainerDefinition, KeyValuePair, NetworkConfiguration, NetworkMode, PlacementConstraint,
    PlacementConstraintType, PortMapping,
};
use berth_testkit::{Berth, BerthOptions, NetnsEngine, http_get, wait_for};
use common::*;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

const SUBNET_A: &str = "subnet-0be7f00000000000a";
/// The agent's route protocol (`berth_agent::routing::table::PROTO`).
const PROTO: &str = "147";
/// The comment on the agent's routing rules (`berth_agent::routing::rules::COMMENT`).
const COMMENT: &str = "berth-vpc-routing";

/// Removes the root namespace's routes and rules of one VPC that host A's agent installed (it is killed, not
/// stopped, so it leaves them).
struct RootRouting(String);

impl Drop for RootRouting {
    fn drop(&mut self) {
        for route in root_routes(&self.0) {
            let _ = Command::new("ip").args(["route", "del", &route, "proto", PROTO]).status();
        }
        for (table, chain) in [("nat", "POSTROUTING"), ("filter", "DOCKER-USER"), ("filter", "FORWARD")] {
            for rule in routing_rules(table, chain, &self.0) {
                let mut args = vec!["-w", "5", "-t", table, "-D"];
                args.extend(rule.trim_start_matches("-A ").split_whitespace());
                let _ = Command::new("iptables").args(&args).status();
            }
        }
    }
}

/// The destinations of the agent's routes inside `vpc` (`10.N.0.0/16`) in the namespace `ip` runs in.
fn routes_in(ip: &mut Command, vpc: &str) -> Vec<String> {
    let prefix = vpc.trim_end_matches("0.0/16");
    let out = ip.args(["-4", "route", "show", "proto", PROTO]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

fn root_routes(vpc: &str) -> Vec<String> {
    routes_in(&mut Command::new("ip"), vpc)
}

/// The agent's routing rules of `vpc` in one chain of the root namespace.
fn routing_rules(table: &str, chain: &str, vpc: &str) -> Vec<String> {
    let out = Command::new("iptables").args(["-w", "5", "-t", table, "-S", chain]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(COMMENT) && l.contains(&format!("-d {vpc}")))
        .map(str::to_string)
        .collect()
}

fn workload() -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("app")
        .image("berth-workload:latest")
        .memory(64)
        .environment(KeyValuePair::builder().name("PORT").value("8080").build())
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .build()
}

/// Runs the awsvpc task on the instance with attribute `host=<host>`, in `group`; its private address.
async fn run_on(client: &aws_sdk_ecs::Client, host: &str, group: &str) -> String {
    let vpc = AwsVpcConfiguration::builder().subnets(SUBNET_A).security_groups(group).build().unwrap();
    let out = client
        .run_task()
        .task_definition("mh")
        .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
        .placement_constraints(
            PlacementConstraint::builder()
                .r#type(PlacementConstraintType::MemberOf)
                .expression(format!("attribute:host == {host}"))
                .build(),
        )
        .send()
        .await
        .expect("run the task");
    let task = &out.tasks()[0];
    let arn = task.task_arn().unwrap().to_string();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    let running = wait_status(client, &arn, "RUNNING", Duration::from_secs(60)).await;
    running.containers()[0].network_interfaces()[0].private_ipv4_address().unwrap().to_string()
}

/// A /24 of loopback of this test's own for its load balancers (`--elb-address-range`; 127.40-59.x, which no other
/// test file picks), and its first load balancer's address with a free port.
fn own_range() -> (String, SocketAddr) {
    let pid = std::process::id();
    let (b, c) = (40 + pid % 20, pid / 20 % 250 + 1);
    let address = Ipv4Addr::new(127, b as u8, c as u8, 1);
    let port = TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port();
    (format!("127.{b}.{c}.0/24"), SocketAddr::new(address.into(), port))
}

/// A security group; its id.
fn group(berth: &Berth, name: &str) -> String {
    let created = aws_ok(berth, "ec2", &["create-security-group", "--group-name", name, "--description", name]);
    created["GroupId"].as_str().unwrap().to_string()
}

/// `authorize-` or `revoke-security-group-ingress` of TCP 8080 on `group` from `source` (a group id or a CIDR).
fn ingress(berth: &Berth, verb: &str, group: &str, source: &str) {
    let from = if source.starts_with("sg-") { "--source-group" } else { "--cidr" };
    aws_ok(
        berth,
        "ec2",
        &[
            &format!("{verb}-security-group-ingress"),
            "--group-id",
            group,
            "--protocol",
            "tcp",
            "--port",
            "8080",
            from,
            source,
        ],
    );
}

/// What task `from` gets for `GET http://<to>:8080/peer` (its `/fetch`): (status, body); 502 when it cannot connect.
fn peer_seen(from: &str, to: &str) -> (u16, String) {
    http_get(&format!("http://{from}:8080/fetch?url=http://{to}:8080/peer")).unwrap_or((0, String::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awsvpc_tasks_on_two_hosts_reach_each_other_with_their_own_addresses() {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let started = Instant::now();
    // Declared first, dropped last: B's agent, containers, engine, namespace and link.
    let mut host_b = NetnsEngine::start("mh").expect("a second engine starts in a network namespace");
    host_b.load_image(&image, &["berth-workload:latest"]).expect("the workload image loads into host B");
    let (vpc, _networks) = own_vpc(224, 24, 0, 1);
    let _root_routing = RootRouting(vpc.clone());
    // The server listens on the link, which both namespaces reach; its load balancers on a loopback /24 of their own.
    let listen = format!("{}:{}", host_b.root_address, berth_testkit::free_port());
    let (range, front) = own_range();
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec![
            "--vpc-cidr".into(),
            vpc.clone(),
            "--listen".into(),
            listen,
            "--elb-address-range".into(),
            range,
        ],
    })
    .expect("berth server starts");
    let client = ecs_client(&berth);
    let common = ["--availability-zone", "us-east-1a", "--cpu-units", "1024", "--memory-mib", "1024"];
    let dir_a = berth.data_dir.path().join("agent-a");
    let mut args_a = vec!["--hostname", "host-a", "--attribute", "host=a"];
    args_a.extend(common);
    berth.start_agent(&dir_a, &args_a).expect("host A's agent starts");
    let dir_b = berth.data_dir.path().join("agent-b");
    let mut agent_b = host_b.command(env!("CARGO_BIN_EXE_berth"));
    agent_b
        .args(["agent", "--server", &berth.url(), "--join-token", &berth.join_token().unwrap(), "--data-dir"])
        .arg(&dir_b)
        .args(["--hostname", "host-b", "--attribute", "host=b"])
        .args(common)
        .env("RUST_LOG", "info");
    host_b.spawn(agent_b, &dir_b.with_extension("log")).expect("host B's agent starts");
    let instances = wait_for_instances(&client, "default", 2).await;

    // Each agent registered the address it reaches the server from: A the link's root end, B its own end.
    let described = client
        .describe_container_instances()
        .cluster("default")
        .set_container_instances(Some(instances))
        .send()
        .await
        .unwrap();
    let instance_b = described
        .container_instances()
        .iter()
        .find(|i| i.ec2_instance_id() == Some("host-b"))
        .and_then(|i| i.container_instance_arn())
        .unwrap()
        .to_string();

    client
        .register_task_definition()
        .family("mh")
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(workload())
        .send()
        .await
        .unwrap();
    let client_group = group(&berth, "client");
    let server_group = group(&berth, "server");
    // The test reaches A's task from the host, through the slice's gateway (inside the VPC).
    ingress(&berth, "authorize", &client_group, &vpc);
    let a = run_on(&client, "a", &client_group).await;
    let b = run_on(&client, "b", &server_group).await;
    assert_ne!(a.rsplit('.').nth(1), b.rsplit('.').nth(1), "the tasks are on two slices: {a} {b}");
    let tasks_running = started.elapsed();

    // Both agents route the other's slices (one per subnet), without being told by an operator, and A keeps its
    // VPC's two rules (installed before the routes).
    let slice = |ip: &str| format!("{}.0/24", ip.rsplit_once('.').unwrap().0);
    // A slot's slices: its /24 of subnet a (10.N.k.0/24) and of subnet b (10.N.16+k.0/24), as `ip route` lists them.
    let slices = |ip: &str| {
        let [a, b, c, _] = ip.parse::<Ipv4Addr>().unwrap().octets();
        let mut both = vec![format!("{a}.{b}.{c}.0/24"), format!("{a}.{b}.{}.0/24", c + 16)];
        both.sort();
        both
    };
    wait_for("each host to route the other's slices, and A to keep its VPC's rules", Duration::from_secs(20), || {
        let mut on_a = root_routes(&vpc);
        let mut on_b = routes_in(Command::new("ip").args(["-n", &host_b.netns]), &vpc);
        on_a.sort();
        on_b.sort();
        let rules =
            routing_rules("nat", "POSTROUTING", &vpc).len() + routing_rules("filter", "DOCKER-USER", &vpc).len();
        std::future::ready((on_a == slices(&b) && on_b == slices(&a) && rules == 2).then_some(()))
    })
    .await
    .unwrap();
    let route = host_b.ip(&["-4", "route", "show", &slice(&a)]).unwrap();
    assert!(route.contains(&format!("via {}", host_b.root_address)), "{route}");
    assert_eq!(routing_rules("nat", "POSTROUTING", &vpc).len(), 1, "the VPC is exempt from masquerading on A");
    assert_eq!(routing_rules("filter", "DOCKER-USER", &vpc).len(), 1, "routed VPC traffic is let onto A's bridges");
    let routes_ready = started.elapsed();

    // B's group admits nobody yet: A's task is dropped on B.
    assert_eq!(peer_seen(&a, &b).0, 502, "B's security group drops A's task");
    // Admitting A's group (a rule change on the destination's side) lets it in, with its own source address.
    ingress(&berth, "authorize", &server_group, &client_group);
    let permitted = Instant::now();
    let seen = wait_for("B's task to admit A's group", Duration::from_secs(20), || {
        std::future::ready(Some(peer_seen(&a, &b)).filter(|(status, _)| *status == 200))
    })
    .await
    .unwrap();
    assert_eq!(seen.1.trim(), a, "B's task sees A's task's own address, not a translated one");
    let permit_took = permitted.elapsed();
    // A rule that no longer admits A's group blocks it again.
    ingress(&berth, "revoke", &server_group, &client_group);
    let revoked = Instant::now();
    wait_for("B's task to drop A's group again", Duration::from_secs(25), || {
        std::future::ready((peer_seen(&a, &b).0 == 502).then_some(()))
    })
    .await
    .unwrap();
    let block_took = revoked.elapsed();

    // The load balancer in `berth server` (on host A) reaches B's task through A's routes, from A's host address,
    // which counts as a member of the load balancer's group: B's group admits that group.
    let lb_group = group(&berth, "front");
    ingress(&berth, "authorize", &server_group, &lb_group);
    let tg = elb(
        &berth,
        &[
            "create-target-group",
            "--name",
            "on-b",
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            "vpc-0be7f000000000001",
            "--target-type",
            "ip",
            "--health-check-path",
            "/health",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
        ],
    );
    let tg = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
    elb(&berth, &["register-targets", "--target-group-arn", &tg, "--targets", &format!("Id={b},Port=8080")]);
    let lb = elb(&berth, &["create-load-balancer", "--name", "front", "--security-groups", &lb_group]);
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    let action = format!("Type=forward,TargetGroupArn={tg}");
    let port = front.port().to_string();
    elb(
        &berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &port,
            "--default-actions",
            &action,
        ],
    );
    let balanced = Instant::now();
    wait_for("B's task to be a healthy target of the load balancer on A", Duration::from_secs(40), || {
        let health = elb(&berth, &["describe-target-health", "--target-group-arn", &tg]);
        std::future::ready((health["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy").then_some(()))
    })
    .await
    .unwrap();
    let healthy_took = balanced.elapsed();
    let (status, body) = http_get(&format!("http://{front}/peer")).unwrap();
    assert_eq!(
        (status, body.trim()),
        (200, host_b.root_address.to_string().as_str()),
        "B's task sees host A's address"
    );

    // B leaves: A's routes to it and, with no other host left, A's routing rules go.
    client
        .deregister_container_instance()
        .cluster("default")
        .container_instance(&instance_b)
        .force(true)
        .send()
        .await
        .unwrap();
    let deregistered = Instant::now();
    wait_for("A's routes to B to go", Duration::from_secs(20), || {
        std::future::ready(root_routes(&vpc).is_empty().then_some(()))
    })
    .await
    .unwrap();
    let unrouted_took = deregistered.elapsed();
    wait_for("A's routing rules to go", Duration::from_secs(20), || {
        std::future::ready(
            (routing_rules("nat", "POSTROUTING", &vpc).is_empty()
                && routing_rules("filter", "DOCKER-USER", &vpc).is_empty())
            .then_some(()),
        )
    })
    .await
    .unwrap();
    eprintln!(
        "multi-host: tasks running after {tasks_running:?}, routes after {routes_ready:?}; a rule admitting A's group took {permit_took:?}, revoking it {block_took:?}; the load balancer's target healthy after {healthy_took:?}; routes gone {unrouted_took:?} after DeregisterContainerInstance; total {:?}",
        started.elapsed()
    );
}
