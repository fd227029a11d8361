//! awsvpc services behind Berth's Application Load Balancer (`ip` target groups) and in Cloud Map (A and SRV
//! records), on `berth up` with real containers: ECS's checks (an `instance` group with awsvpc, an `ip` group with
//! bridge, the registries' port rules), `aws ecs wait services-stable` meaning reachable through the load balancer
//! at the tasks' own addresses, a rolling deployment and a scale-out under constant keep-alive load that lose no
//! request (and the time from a task RUNNING to its first proxied request), a task
//! security group that does not let the load balancer in (its targets turn unhealthy with ELB's `Target.Timeout`
//! and the tasks are replaced), `dig` answering the service's name with the tasks' own addresses, and the load
//! balancer's DNSName with its address.
//!
//! Each test runs its own Berth with its own VPC CIDR (`10.N.0.0/16`) and load-balancer range; the Docker networks
//! are removed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly and time real processes

mod common;

use aws_sdk_ecs::types::{
    AwsVpcConfiguration, ContainerDefinition, KeyValuePair, NetworkConfiguration, NetworkMode, PortMapping,
};
use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const VPC: &str = "vpc-0be7f000000000001";
const SUBNET_A: &str = "subnet-0be7f00000000000a";
const SUBNET_B: &str = "subnet-0be7f00000000000b";

/// A /24 of loopback of this test's own (`--elb-address-range`), its first load balancer's address, and a port
/// free there.
fn own_range(k: u32) -> (String, SocketAddr) {
    let pid = std::process::id();
    let net = (200 + pid % 50, (pid / 50 + k) % 250 + 1);
    let address = Ipv4Addr::new(127, net.0 as u8, net.1 as u8, 1);
    let port = match TcpListener::bind((address, 80)) {
        Ok(_) => 80,
        Err(_) => TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port(),
    };
    (format!("127.{}.{}.0/24", net.0, net.1), SocketAddr::new(address.into(), port))
}

/// `berth up` on its own VPC CIDR and load-balancer range, with extra arguments, its agent registered.
async fn up(k: u32, extra: Vec<String>) -> (VpcNetworks, Berth, aws_sdk_ecs::Client, SocketAddr) {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    // A /16 in 10.128.0.0/10 (awsvpc.rs picks in 10.64.0.0/10); test `k` (0 to 3) of this file in its own lane of
    // 4, so two of its tests never share one.
    let (cidr, networks) = own_vpc(128, 64, k as u8, 4);
    let (range, front) = own_range(k);
    let mut args = vec!["--vpc-cidr".into(), cidr, "--elb-address-range".into(), range];
    args.extend(extra);
    let berth = Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "up", extra_args: args })
        .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    (networks, berth, client, front)
}

/// Registers the workload as the awsvpc task definition `family` (`app` on 8080, `V=<version>`); its ARN.
async fn register_awsvpc(client: &aws_sdk_ecs::Client, family: &str, version: &str) -> String {
    let app = ContainerDefinition::builder()
        .name("app")
        .image("berth-workload:latest")
        .memory(64)
        .environment(KeyValuePair::builder().name("V").value(version).build())
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .build();
    client
        .register_task_definition()
        .family(family)
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(app)
        .send()
        .await
        .expect("register the awsvpc task definition")
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("an ARN")
}

fn network(groups: &[&str]) -> NetworkConfiguration {
    let mut vpc = AwsVpcConfiguration::builder().subnets(SUBNET_A).subnets(SUBNET_B);
    for g in groups {
        vpc = vpc.security_groups(*g);
    }
    NetworkConfiguration::builder().awsvpc_configuration(vpc.build().unwrap()).build()
}

/// The `--network-configuration` argument of the aws CLI for `groups`.
fn network_arg(groups: &[&str]) -> String {
    format!("awsvpcConfiguration={{subnets=[{SUBNET_A},{SUBNET_B}],securityGroups=[{}]}}", groups.join(","))
}

/// A security group; its id.
fn security_group(berth: &Berth, name: &str) -> String {
    let created = aws_ok(berth, "ec2", &["create-security-group", "--group-name", name, "--description", name]);
    s(&created["GroupId"])
}

fn allow_tcp(berth: &Berth, group: &str, port: &str, source: (&str, &str)) {
    aws_ok(
        berth,
        "ec2",
        &[
            "authorize-security-group-ingress",
            "--group-id",
            group,
            "--protocol",
            "tcp",
            "--port",
            port,
            source.0,
            source.1,
        ],
    );
}

/// A target group of type `target_type` for 8080 with fast health checks (every 5 s, 2 s timeout, 2 to turn
/// healthy or unhealthy) and a 3 s deregistration delay; its ARN.
fn target_group(berth: &Berth, name: &str, target_type: &str) -> String {
    let tg = elb(
        berth,
        &[
            "create-target-group",
            "--name",
            name,
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            VPC,
            "--target-type",
            target_type,
            "--health-check-path",
            "/health",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
            "--unhealthy-threshold-count",
            "2",
        ],
    );
    let arn = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
    let delay = "Key=deregistration_delay.timeout_seconds,Value=3";
    elb(berth, &["modify-target-group-attributes", "--target-group-arn", &arn, "--attributes", delay]);
    arn
}

/// A load balancer in security group `group` with an HTTP listener at `front` forwarding to `tg`; its DNSName.
fn load_balancer(berth: &Berth, front: SocketAddr, tg: &str, group: &str) -> String {
    let lb = elb(berth, &["create-load-balancer", "--name", "front", "--security-groups", group]);
    assert_eq!(lb["LoadBalancers"][0]["SecurityGroups"], json!([group]), "{lb}");
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    let port = front.port().to_string();
    let action = format!("Type=forward,TargetGroupArn={tg}");
    elb(
        berth,
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
    s(&lb["LoadBalancers"][0]["DNSName"])
}

/// Each target's (id, port, state, reason).
fn targets(berth: &Berth, tg: &str) -> Vec<(String, u64, String, String)> {
    let out = elb(berth, &["describe-target-health", "--target-group-arn", tg]);
    let mut v: Vec<(String, u64, String, String)> = out["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let reason = d["TargetHealth"]["Reason"].as_str().unwrap_or_default().to_string();
            (s(&d["Target"]["Id"]), d["Target"]["Port"].as_u64().unwrap(), s(&d["TargetHealth"]["State"]), reason)
        })
        .collect();
    v.sort();
    v
}

/// The private addresses of the service's RUNNING tasks, sorted.
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

/// What the load generator saw.
#[derive(Default)]
struct Seen {
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    first_errors: Vec<String>,
    versions: BTreeSet<String>,
    /// The first 200 from each hostname.
    first_seen: BTreeMap<String, Instant>,
}

/// `clients` concurrent clients, each on its own keep-alive connection, GETting `/` through `front` until
/// stopped; every response is counted.
fn start_load(
    front: SocketAddr,
    clients: usize,
) -> (Arc<AtomicBool>, Arc<Mutex<Seen>>, Vec<tokio::task::JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let handles = (0..clients)
        .map(|_| {
            let (stop, seen) = (stop.clone(), seen.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let url = format!("http://{front}/");
                while !stop.load(Ordering::Relaxed) {
                    let answer = match client.get(&url).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            response.text().await.map(|body| (status, body))
                        }
                        Err(e) => Err(e),
                    };
                    let mut seen = seen.lock().unwrap();
                    match answer {
                        Ok((status, body)) => {
                            *seen.statuses.entry(status).or_default() += 1;
                            if status == 200 {
                                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                                seen.versions.insert(v["env"]["V"].as_str().unwrap_or_default().to_string());
                                let host = v["hostname"].as_str().unwrap_or_default().to_string();
                                seen.first_seen.entry(host).or_insert_with(Instant::now);
                            }
                        }
                        Err(e) => {
                            seen.errors += 1;
                            if seen.first_errors.len() < 5 {
                                seen.first_errors.push(format!("{e:?}"));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    (stop, seen, handles)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// For each RUNNING task of `web` started after `since` (wall seconds), the seconds from its `startedAt` to the
/// first response the load got from it, sorted. A response names its container's hostname: an awsvpc task's
/// containers take their pause container's (Docker's `container:` network mode), so both are looked up.
async fn first_request_delays(
    client: &aws_sdk_ecs::Client,
    first_seen: &BTreeMap<String, Instant>,
    since: f64,
) -> Vec<f64> {
    let (now_i, now_w) = (Instant::now(), unix_now());
    let wall = |t: Instant| now_w - (now_i - t).as_secs_f64();
    let arns = client.list_tasks().service_name("web").send().await.unwrap().task_arns.unwrap_or_default();
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap_or_default();
    let mut delays: Vec<f64> = tasks
        .iter()
        .filter(|t| t.last_status.as_deref() == Some("RUNNING"))
        .filter_map(|t| {
            let started = t.started_at?.as_secs_f64();
            let id = t.task_arn()?.rsplit('/').next()?.to_string();
            let pause = docker(&["inspect", "--format", "{{.Config.Hostname}}", &format!("berth-pause-{id}")])
                .map(|h| h.trim().to_string())
                .unwrap_or_default();
            let runtime: String = t.containers().first()?.runtime_id.clone()?.chars().take(12).collect();
            let seen = first_seen.get(&pause).or_else(|| first_seen.get(&runtime))?;
            (started > since).then(|| wall(*seen) - started)
        })
        .filter(|d| *d > 0.0)
        .collect();
    delays.sort_by(|a, b| a.partial_cmp(b).unwrap());
    delays
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_awsvpc_service_behind_an_ip_target_group_rolls_out_without_losing_a_request() {
    let dns_port = berth_testkit::free_port();
    let (_networks, berth, client, front) = up(0, vec!["--dns-listen".into(), format!("127.0.0.1:{dns_port}")]).await;
    let v1 = register_awsvpc(&client, "web", "1").await;
    let v2 = register_awsvpc(&client, "web", "2").await;
    let bridge = register_workload(&client, "web-bridge", &[]).await;
    // The load balancer's group, and the tasks' group letting 8080 in from it (by source group, as on AWS).
    let alb_group = security_group(&berth, "alb");
    let web_group = security_group(&berth, "web");
    allow_tcp(&berth, &web_group, "8080", ("--source-group", &alb_group));
    let tg = target_group(&berth, "web-ip", "ip");
    let instance_tg = target_group(&berth, "web-instance", "instance");
    let dns_name = load_balancer(&berth, front, &tg, &alb_group);
    // The load balancer's DNSName resolves to its address through Berth's DNS.
    assert_eq!(dig(dns_port, &dns_name, "A"), vec![front.ip().to_string()], "{dns_name}");

    // ECS's checks: awsvpc needs an `ip` group, bridge an `instance` one.
    let create = |td: &str, tg: &str| {
        let lbs = format!("targetGroupArn={tg},containerName=app,containerPort=8080");
        let net = network_arg(&[&web_group]);
        let mut args = vec!["create-service", "--service-name", "web", "--task-definition", td, "--desired-count", "2"];
        args.extend(["--load-balancers", lbs.as_str()]);
        if td != bridge {
            args.extend(["--network-configuration", net.as_str()]);
        }
        aws_err(&berth, "ecs", &args)
    };
    let e = create(&v1, &instance_tg);
    assert!(
        e.contains("InvalidParameterException")
            && e.contains(&format!(
                "The provided target group {instance_tg} has target type instance, which is incompatible with the awsvpc network mode specified in the task definition."
            )),
        "{e}"
    );
    let e = create(&bridge, &tg);
    assert!(
        e.contains("InvalidParameterException")
            && e.contains("has target type ip, which is incompatible with the bridge network mode"),
        "{e}"
    );

    // Created behind the `ip` group, `services-stable` means reachable through the load balancer.
    client
        .create_service()
        .service_name("web")
        .task_definition(&v1)
        .desired_count(2)
        .network_configuration(network(&[&web_group]))
        .load_balancers(
            aws_sdk_ecs::types::LoadBalancer::builder()
                .target_group_arn(&tg)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .deployment_configuration(
            aws_sdk_ecs::types::DeploymentConfiguration::builder()
                .minimum_healthy_percent(100)
                .maximum_percent(200)
                .build(),
        )
        .send()
        .await
        .expect("an awsvpc service behind an ip target group");
    aws_cli(&berth, &["ecs", "wait", "services-stable", "--services", "web"]);
    for _ in 0..10 {
        let (status, body) = berth_testkit::http_get_timeout(&format!("http://{front}/"), Duration::from_secs(5))
            .expect("the load balancer answers once the service is stable");
        assert_eq!(status, 200, "{body}");
    }
    let ips = task_addresses(&client, "web").await;
    assert_eq!(ips.len(), 2, "{ips:?}");
    let registered = targets(&berth, &tg);
    let want: Vec<(String, u64, String, String)> =
        ips.iter().map(|ip| (ip.clone(), 8080, "healthy".to_string(), String::new())).collect();
    assert_eq!(registered, want, "each task is an ip target at its own address and the container port");

    // A rolling deployment under constant keep-alive load: every response counted.
    let load_started = unix_now();
    let (stop, seen, handles) = start_load(front, 4);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deployed = Instant::now();
    client.update_service().service("web").task_definition(&v2).send().await.unwrap();
    let limit = Instant::now() + Duration::from_secs(180);
    loop {
        let s = describe_service(&client, "default", "web").await;
        if s.deployments().len() == 1 && s.running_count == 2 && s.task_definition() == Some(v2.as_str()) {
            let ips = task_addresses(&client, "web").await;
            let current = targets(&berth, &tg);
            if ips.len() == 2 && current.iter().map(|t| &t.0).collect::<Vec<_>>() == ips.iter().collect::<Vec<_>>() {
                break;
            }
        }
        assert!(Instant::now() < limit, "the rollout did not finish: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("rollout of an awsvpc service under load took {:?}", deployed.elapsed());
    // Scale out under the same load, for the figure "task RUNNING -> first proxied request".
    client.update_service().service("web").desired_count(6).send().await.unwrap();
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        let s = describe_service(&client, "default", "web").await;
        if s.running_count == 6 && s.deployments().len() == 1 {
            break;
        }
        assert!(Instant::now() < limit, "6 tasks did not turn healthy behind the load balancer: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let total: u64 = seen.statuses.values().sum::<u64>() + seen.errors;
    println!("responses during the awsvpc rollout: {:?}, connection errors {}", seen.statuses, seen.errors);
    assert_eq!(seen.errors, 0, "connection errors: {:?}", seen.first_errors);
    assert_eq!(seen.statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{:?}", seen.statuses);
    assert!(total > 100, "too few requests to mean anything: {total}");
    assert_eq!(seen.versions, BTreeSet::from(["1".to_string(), "2".to_string()]), "both revisions answered");
    let evs = events(&describe_service(&client, "default", "web").await);
    assert!(evs.iter().any(|e| e.contains("deregistered") && e.contains(&tg)), "{evs:?}");
    let delays = first_request_delays(&client, &seen.first_seen, load_started).await;
    assert!(delays.len() >= 5, "first requests seen for too few new tasks: {delays:?}");
    println!(
        "BENCH awsvpc task RUNNING -> first proxied request over {} tasks: p50 {:.2} s, max {:.2} s (ip targets, health checks every 5 s)",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
    client.update_service().service("web").desired_count(2).send().await.unwrap();
    wait_stable(&client, "default", "web", Duration::from_secs(60)).await;

    // A task group that does not let the load balancer in: the new tasks' targets time out, turn unhealthy with
    // ELB's reason, and are stopped after the grace period (20 s) and replaced, while the old tasks keep serving.
    let closed_group = security_group(&berth, "closed");
    allow_tcp(&berth, &closed_group, "9090", ("--cidr", "10.0.0.0/8"));
    client
        .update_service()
        .service("web")
        .network_configuration(network(&[&closed_group]))
        .health_check_grace_period_seconds(20)
        .send()
        .await
        .unwrap();
    let unhealthy = wait_for("a target of the closed group unhealthy", Duration::from_secs(60), || async {
        targets(&berth, &tg).into_iter().find(|t| t.2 == "unhealthy")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", targets(&berth, &tg)));
    assert_eq!((unhealthy.1, unhealthy.3.as_str()), (8080, "Target.Timeout"), "{unhealthy:?}");
    let health = elb(&berth, &["describe-target-health", "--target-group-arn", &tg]);
    let described = health["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["Target"]["Id"] == json!(unhealthy.0))
        .cloned()
        .unwrap_or_default();
    assert_eq!(described["TargetHealth"]["Description"], "Request timed out", "{health}");
    let want_event =
        format!("(service web) (port 8080) is unhealthy in (target-group {tg}) due to (reason Request timed out).");
    wait_for("the unhealthy event", Duration::from_secs(30), || async {
        events(&describe_service(&client, "default", "web").await).contains(&want_event).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..10 {
        let (status, body) = berth_testkit::http_get_timeout(&format!("http://{front}/"), Duration::from_secs(5))
            .expect("the old tasks keep serving");
        assert_eq!(status, 200, "{body}");
    }

    // Letting the load balancer's group in, the deployment completes: the rule reaches running tasks and new ones.
    allow_tcp(&berth, &closed_group, "8080", ("--source-group", &alb_group));
    let stable = wait_stable(&client, "default", "web", Duration::from_secs(150)).await;
    assert_eq!(stable.running_count, 2, "{stable:?}");
    let ips = task_addresses(&client, "web").await;
    wait_for("the closed group's tasks healthy", Duration::from_secs(30), || async {
        let current = targets(&berth, &tg);
        let want: Vec<(String, u64, String, String)> =
            ips.iter().map(|ip| (ip.clone(), 8080, "healthy".to_string(), String::new())).collect();
        (current == want).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?} for {ips:?}", targets(&berth, &tg)));

    // Deleted, the service drains every target and leaves the group empty.
    aws_ok(&berth, "ecs", &["delete-service", "--service", "web", "--force"]);
    wait_for("the service to be INACTIVE", Duration::from_secs(60), || async {
        (describe_service(&client, "default", "web").await.status.as_deref() == Some("INACTIVE")).then_some(())
    })
    .await
    .unwrap();
    wait_for("the target group empty", Duration::from_secs(30), || async {
        targets(&berth, &tg).is_empty().then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", targets(&berth, &tg)));
}

fn sd(berth: &Berth, args: &[&str]) -> Value {
    aws_ok(berth, "servicediscovery", args)
}

/// `dig +short @127.0.0.1 -p port name kind`, sorted lines.
fn dig(port: u16, name: &str, kind: &str) -> Vec<String> {
    let out = std::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=3", "+tries=1", "+short", name, kind])
        .output()
        .expect("dig is installed (tools/test installs bind9-dnsutils)");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awsvpc_service_in_cloud_map_answers_dig_with_its_tasks_addresses() {
    let dns_port = berth_testkit::free_port();
    let (_networks, berth, client, _) = up(1, vec!["--dns-listen".into(), format!("127.0.0.1:{dns_port}")]).await;
    let td = register_awsvpc(&client, "api", "1").await;
    let op = sd(&berth, &["create-private-dns-namespace", "--name", "vpc.local", "--vpc", VPC]);
    let got = sd(&berth, &["get-operation", "--operation-id", &s(&op["OperationId"])]);
    let ns = s(&got["Operation"]["Targets"]["NAMESPACE"]);
    let a_and_srv =
        json!({"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 0}, {"Type": "SRV", "TTL": 0}]});
    let registry =
        sd(&berth, &["create-service", "--name", "api", "--namespace-id", &ns, "--dns-config", &a_and_srv.to_string()]);
    let registry = s(&registry["Service"]["Arn"]);
    let a_only = json!({"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 0}]});
    let a_registry =
        sd(&berth, &["create-service", "--name", "api-a", "--namespace-id", &ns, "--dns-config", &a_only.to_string()]);
    let a_registry = s(&a_registry["Service"]["Arn"]);
    let group = security_group(&berth, "api");

    // ECS's checks for awsvpc tasks: a port exactly when there are SRV records, given one way.
    let net = network_arg(&[&group]);
    let err = |registries: String| {
        let args = [
            "create-service",
            "--service-name",
            "api",
            "--task-definition",
            &td,
            "--desired-count",
            "2",
            "--network-configuration",
            &net,
            "--service-registries",
            &registries,
        ];
        aws_err(&berth, "ecs", &args)
    };
    let e = err(format!("registryArn={a_registry},containerName=app,containerPort=8080"));
    assert!(
        e.contains("InvalidParameterException")
            && e.contains("The values specified for serviceRegistries do not require a value for 'containerPort'."),
        "{e}"
    );
    let e = err(format!("registryArn={registry}"));
    assert!(e.contains("InvalidParameterException") && e.contains("'port'"), "{e}");
    let e = err(format!("registryArn={registry},port=8080,containerName=app,containerPort=8080"));
    assert!(e.contains("but not both"), "{e}");
    let e = err(format!("registryArn={registry},containerName=app,containerPort=9"));
    assert!(e.contains("did not have a container port 9 defined"), "{e}");

    client
        .create_service()
        .service_name("api")
        .task_definition(&td)
        .desired_count(2)
        .network_configuration(network(&[&group]))
        .service_registries(
            aws_sdk_ecs::types::ServiceRegistry::builder()
                .registry_arn(&registry)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .expect("an awsvpc service in Cloud Map");
    wait_stable(&client, "default", "api", Duration::from_secs(120)).await;

    // A records with the tasks' own addresses, SRV records with the container port.
    let ips = task_addresses(&client, "api").await;
    assert_eq!(ips.len(), 2, "{ips:?}");
    wait_for("both tasks in DNS", Duration::from_secs(10), || async {
        (dig(dns_port, "api.vpc.local", "A") == ips).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?} != {ips:?}", dig(dns_port, "api.vpc.local", "A")));
    let srv = dig(dns_port, "api.vpc.local", "SRV");
    assert_eq!(srv.len(), 2, "{srv:?}");
    assert!(srv.iter().all(|l| l.starts_with("1 1 8080 ") && l.ends_with(".api.vpc.local.")), "{srv:?}");
    let target = srv[0].rsplit(' ').next().unwrap().trim_end_matches('.').to_string();
    let behind = dig(dns_port, &target, "A");
    assert!(behind.len() == 1 && ips.contains(&behind[0]), "{target} -> {behind:?}");
    let instances = sd(&berth, &["list-instances", "--service-id", &registry]);
    let task_id = target.split('.').next().unwrap().to_string();
    let attrs =
        &instances["Instances"].as_array().unwrap().iter().find(|i| i["Id"] == json!(task_id)).unwrap()["Attributes"];
    assert_eq!(attrs["AWS_INSTANCE_IPV4"], json!(behind[0]), "{attrs}");
    assert_eq!(attrs["AWS_INSTANCE_PORT"], "8080", "{attrs}");
    assert_eq!(attrs["ECS_SERVICE_NAME"], "api", "{attrs}");
    assert_eq!(attrs["AVAILABILITY_ZONE"], "us-east-1a", "{attrs}");

    // A stopped task leaves DNS within 2 s.
    let arns = client.list_tasks().service_name("api").send().await.unwrap().task_arns.unwrap();
    let stopping = arns.iter().find(|a| a.ends_with(&task_id)).unwrap().clone();
    let stopped_at = Instant::now();
    client.stop_task().task(&stopping).send().await.unwrap();
    loop {
        let got = dig(dns_port, "api.vpc.local", "A");
        if !got.contains(&behind[0]) {
            break;
        }
        assert!(stopped_at.elapsed() < Duration::from_secs(2), "still in DNS after 2 s: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("a stopped awsvpc task left DNS {:?} after StopTask", stopped_at.elapsed());

    // The replacement is registered at its own address; scaled to 0, the name is empty.
    wait_stable(&client, "default", "api", Duration::from_secs(120)).await;
    wait_for("the replacement in DNS", Duration::from_secs(10), || async {
        let ips = task_addresses(&client, "api").await;
        (ips.len() == 2 && dig(dns_port, "api.vpc.local", "A") == ips).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", dig(dns_port, "api.vpc.local", "A")));
    client.update_service().service("api").desired_count(0).send().await.unwrap();
    wait_for("no record left", Duration::from_secs(30), || async {
        dig(dns_port, "api.vpc.local", "A").is_empty().then_some(())
    })
    .await
    .unwrap();
}

/// The shape most ECS users run: a FARGATE service (awsvpc, task-level size) behind an Application Load Balancer's
/// `ip` target group, its tasks' security group letting in only the load balancer's. Created with the aws CLI as
/// the user would, `services-stable` means reachable, each task is a healthy target at its own address, and a
/// FARGATE task shows what Fargate shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fargate_service_behind_an_application_load_balancer_answers_through_it() {
    let (_networks, berth, client, front) = up(2, Vec::new()).await;
    let td = json!({"family": "shop", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
        "cpu": "256", "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "berth-workload:latest", "essential": true,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}]}]});
    let path = berth.data_dir.path().join("shop.json");
    std::fs::write(&path, td.to_string()).unwrap();
    let registered =
        aws_ok(&berth, "ecs", &["register-task-definition", "--cli-input-json", &format!("file://{}", path.display())]);
    assert!(
        registered["taskDefinition"]["compatibilities"].as_array().unwrap().contains(&json!("FARGATE")),
        "{registered}"
    );
    let alb_group = security_group(&berth, "alb");
    let shop_group = security_group(&berth, "shop");
    allow_tcp(&berth, &shop_group, "8080", ("--source-group", &alb_group));
    let tg = target_group(&berth, "shop-ip", "ip");
    load_balancer(&berth, front, &tg, &alb_group);
    let lbs = format!("targetGroupArn={tg},containerName=app,containerPort=8080");
    let net = network_arg(&[&shop_group]);
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-service",
            "--service-name",
            "shop",
            "--task-definition",
            "shop",
            "--desired-count",
            "2",
            "--launch-type",
            "FARGATE",
            "--network-configuration",
            &net,
            "--load-balancers",
            &lbs,
        ],
    );
    aws_cli(&berth, &["ecs", "wait", "services-stable", "--services", "shop"]);
    for _ in 0..20 {
        let (status, body) = berth_testkit::http_get_timeout(&format!("http://{front}/"), Duration::from_secs(5))
            .expect("the load balancer answers once the service is stable");
        assert_eq!(status, 200, "{body}");
    }
    let ips = task_addresses(&client, "shop").await;
    assert_eq!(ips.len(), 2, "{ips:?}");
    let want: Vec<(String, u64, String, String)> =
        ips.iter().map(|ip| (ip.clone(), 8080, "healthy".to_string(), String::new())).collect();
    assert_eq!(targets(&berth, &tg), want, "each Fargate task is an ip target at its own address");
    let arns = client.list_tasks().service_name("shop").send().await.unwrap().task_arns.unwrap_or_default();
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap_or_default();
    for t in &tasks {
        assert_eq!(t.launch_type.as_ref().map(|l| l.as_str()), Some("FARGATE"), "{t:?}");
        assert_eq!(t.platform_version.as_deref(), Some("1.4.0"), "{t:?}");
        assert!(t.container_instance_arn.is_none(), "Fargate shows no container instance: {t:?}");
        assert_eq!((t.cpu.as_deref(), t.memory.as_deref()), (Some("256"), Some("512")), "{t:?}");
    }
    let service = aws_ok(&berth, "ecs", &["describe-services", "--services", "shop"]);
    assert_eq!(service["services"][0]["launchType"], "FARGATE", "{service}");
    assert_eq!(service["services"][0]["runningCount"], 2, "{service}");
}
