//! ECS services behind Berth's Application Load Balancer and in Cloud Map, on `berth up` with real containers:
//! ECS's checks of `loadBalancers` and `serviceRegistries` (through the aws CLI), `aws ecs wait services-stable`
//! meaning reachable through the load balancer, a rolling deployment under constant keep-alive load that loses no
//! request (every response counted), the time from a task RUNNING to its first proxied request, a target that
//! fails its health checks replaced with ELB's stop reason, deletion draining every target, and a service's tasks
//! answered by `dig` (SRV records) and gone from DNS within 2 s of a stop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly and time real processes

mod common;

use berth_testkit::{Berth, BerthOptions, wait_for};
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const VPC: &str = "vpc-0be7f000000000001";

/// A /24 of loopback of this test's own (`--elb-address-range`: two Berth processes with the same range would
/// share a listener), its first load balancer's address, and a port free there.
fn own_range(k: u32) -> (String, SocketAddr) {
    let pid = std::process::id();
    let net = (150 + pid % 100, (pid / 100 + k) % 250 + 1);
    let address = Ipv4Addr::new(127, net.0 as u8, net.1 as u8, 1);
    let port = match TcpListener::bind((address, 80)) {
        Ok(_) => 80,
        Err(_) => TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port(),
    };
    (format!("127.{}.{}.0/24", net.0, net.1), SocketAddr::new(address.into(), port))
}

/// `berth up` with extra arguments, its local agent registered.
async fn up(extra: Vec<String>) -> (Berth, aws_sdk_ecs::Client) {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let berth =
        Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "up", extra_args: extra })
            .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    (berth, client)
}

/// A target group of type `target_type` for the workload's 8080 with fast health checks (every 5 s, 2 to turn
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
    elb(
        berth,
        &[
            "modify-target-group-attributes",
            "--target-group-arn",
            &arn,
            "--attributes",
            "Key=deregistration_delay.timeout_seconds,Value=3",
        ],
    );
    arn
}

/// A load balancer with an HTTP listener at `front` forwarding to `tg`.
fn load_balancer(berth: &Berth, front: SocketAddr, tg: &str) {
    let lb = elb(berth, &["create-load-balancer", "--name", "front"]);
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    elb(
        berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &front.port().to_string(),
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
    );
}

fn ecs_err(berth: &Berth, args: &[&str]) -> String {
    aws_err(berth, "ecs", args)
}

/// Registers the workload as `family` with `V=<version>` in its environment.
async fn register_version(client: &aws_sdk_ecs::Client, family: &str, version: &str) -> String {
    register_workload(client, family, &[("V", version)]).await
}

/// Each target's (port, state).
fn target_states(berth: &Berth, tg: &str) -> Vec<(u64, String)> {
    let out = elb(berth, &["describe-target-health", "--target-group-arn", tg]);
    let mut v: Vec<(u64, String)> = out["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["Target"]["Port"].as_u64().unwrap(), s(&d["TargetHealth"]["State"])))
        .collect();
    v.sort();
    v
}

/// What the load generator saw.
#[derive(Default)]
struct Seen {
    /// Responses by status code.
    statuses: BTreeMap<u16, u64>,
    /// Requests that got no response (connection errors, timeouts), with the first few errors.
    errors: u64,
    first_errors: Vec<String>,
    /// (time, `V`, hostname) of every 200.
    answers: Vec<(Instant, String, String)>,
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
                                let version = v["env"]["V"].as_str().unwrap_or_default().to_string();
                                let host = v["hostname"].as_str().unwrap_or_default().to_string();
                                seen.answers.push((Instant::now(), version, host));
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
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The hostnames (the first 12 characters of the container id) and `startedAt` of the service's RUNNING tasks.
async fn running_tasks(client: &aws_sdk_ecs::Client, service: &str) -> BTreeMap<String, f64> {
    let arns = client.list_tasks().service_name(service).send().await.unwrap().task_arns.unwrap_or_default();
    if arns.is_empty() {
        return BTreeMap::new();
    }
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap_or_default();
    tasks
        .iter()
        .filter(|t| t.last_status.as_deref() == Some("RUNNING"))
        .filter_map(|t| {
            let id = t.containers().first()?.runtime_id.clone()?;
            let started = t.started_at?.as_secs_f64();
            Some((id.chars().take(12).collect(), started))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_behind_a_load_balancer_rolls_out_without_losing_a_request() {
    let (range, front) = own_range(0);
    let (mut berth, client) = up(vec!["--elb-address-range".into(), range]).await;
    let v1 = register_version(&client, "web", "1").await;
    let v2 = register_version(&client, "web", "2").await;
    let tg = target_group(&berth, "web", "instance");
    let lb_spec = format!("targetGroupArn={tg},containerName=app,containerPort=8080");
    let create = |lbs: &str| {
        vec![
            "create-service".to_string(),
            "--service-name".into(),
            "web".into(),
            "--task-definition".into(),
            v1.clone(),
            "--desired-count".into(),
            "3".into(),
            "--load-balancers".into(),
            lbs.to_string(),
        ]
    };
    let create_err = |lbs: &str| {
        let args = create(lbs);
        ecs_err(&berth, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // ECS's checks, before the target group has a load balancer and after.
    let e = create_err(&lb_spec);
    assert!(e.contains("InvalidParameterException") && e.contains("does not have an associated load balancer"), "{e}");
    load_balancer(&berth, front, &tg);
    let e = create_err(&format!("targetGroupArn={tg},containerName=nope,containerPort=8080"));
    assert!(e.contains("The container nope does not exist in the task definition."), "{e}");
    let e = create_err(&format!("targetGroupArn={tg},containerName=app,containerPort=81"));
    assert!(e.contains("The container app did not have a container port 81 defined."), "{e}");
    let e = create_err(&format!("targetGroupArn={tg}x,containerName=app,containerPort=8080"));
    assert!(e.contains("InvalidParameterException") && e.contains("targetGroupArn"), "{e}");
    let e = create_err("loadBalancerName=classic,containerName=app,containerPort=8080");
    assert!(e.contains("UnsupportedFeatureException") && e.contains("Classic Load Balancers"), "{e}");
    let ip_tg = target_group(&berth, "web-ip", "ip");
    let e = create_err(&format!("targetGroupArn={ip_tg},containerName=app,containerPort=8080"));
    assert!(
        e.contains("InvalidParameterException")
            && e.contains("has target type ip, which is incompatible with the bridge network mode"),
        "{e}"
    );

    // Created with the target group, `aws ecs wait services-stable` means reachable through the load balancer.
    let args = create(&lb_spec);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--deployment-configuration", "minimumHealthyPercent=100,maximumPercent=200"]);
    let created = aws_ok(&berth, "ecs", &args);
    assert_eq!(created["service"]["loadBalancers"][0]["targetGroupArn"], json!(tg), "{created}");
    aws_cli(&berth, &["ecs", "wait", "services-stable", "--services", "web"]);
    for _ in 0..20 {
        let (status, body) = berth_testkit::http_get_timeout(&format!("http://{front}/"), Duration::from_secs(5))
            .expect("the load balancer answers once the service is stable");
        assert_eq!(status, 200, "{body}");
    }
    let states = target_states(&berth, &tg);
    assert_eq!(states.len(), 3, "{states:?}");
    assert!(states.iter().all(|(_, state)| state == "healthy"), "{states:?}");
    let service = describe_service(&client, "default", "web").await;
    let evs = events(&service);
    assert!(
        evs.iter().any(|e| e.contains("registered") && e.contains(&format!("targets in (target-group {tg})."))),
        "{evs:?}"
    );
    assert!(evs.iter().any(|e| e.ends_with("has reached a steady state.")), "{evs:?}");

    // A rolling deployment under constant load: every response counted.
    let load_started = unix_now();
    let (stop, seen, handles) = start_load(front, 4);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deployed = Instant::now();
    client.update_service().service("web").task_definition(&v2).send().await.unwrap();
    let mut started_at: BTreeMap<String, f64> = running_tasks(&client, "web").await;
    let limit = Instant::now() + Duration::from_secs(180);
    let done = loop {
        for (host, at) in running_tasks(&client, "web").await {
            started_at.entry(host).or_insert(at);
        }
        let s = describe_service(&client, "default", "web").await;
        let only_new = s.deployments().len() == 1
            && s.running_count == 3
            && s.task_definition() == Some(v2.as_str())
            && containers_of(&berth, "web").len() == 3;
        if only_new {
            break Instant::now();
        }
        assert!(Instant::now() < limit, "the rollout did not finish: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("rollout under load took {:?}", done - deployed);

    // Scale out under the same load, for the figure "task RUNNING -> first proxied request".
    client.update_service().service("web").desired_count(10).send().await.unwrap();
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        for (host, at) in running_tasks(&client, "web").await {
            started_at.entry(host).or_insert(at);
        }
        let s = describe_service(&client, "default", "web").await;
        if s.running_count == 10 && s.deployments().len() == 1 {
            break;
        }
        assert!(Instant::now() < limit, "10 tasks did not turn healthy behind the load balancer: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let total: u64 = seen.statuses.values().sum::<u64>() + seen.errors;
    println!("responses during the rollout and scale-out: {:?}, connection errors {}", seen.statuses, seen.errors);
    assert_eq!(seen.errors, 0, "connection errors: {:?}", seen.first_errors);
    assert_eq!(seen.statuses.keys().copied().collect::<Vec<_>>(), vec![200], "{:?}", seen.statuses);
    assert!(total > 100, "too few requests to mean anything: {total}");
    let versions: BTreeSet<&str> = seen.answers.iter().map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(versions, BTreeSet::from(["1", "2"]), "both revisions answered during the rollout");
    let after: BTreeSet<&str> =
        seen.answers.iter().filter(|(t, _, _)| *t >= done).map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(after, BTreeSet::from(["2"]), "only the new revision answers once the rollout is done");

    // RUNNING -> first proxied request, for the tasks started under load (the rollout's and the scale-out's).
    let offset = {
        // Instants to wall-clock seconds.
        let (now_i, now_w) = (Instant::now(), unix_now());
        move |t: Instant| now_w - (now_i - t).as_secs_f64()
    };
    let mut first_seen: BTreeMap<&str, f64> = BTreeMap::new();
    for (t, _, host) in &seen.answers {
        first_seen.entry(host.as_str()).or_insert_with(|| offset(*t));
    }
    let mut delays: Vec<f64> = started_at
        .iter()
        .filter(|(_, started)| **started > load_started)
        .filter_map(|(host, started)| first_seen.get(host.as_str()).map(|f| f - started))
        .filter(|d| *d > 0.0)
        .collect();
    delays.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!(delays.len() >= 8, "first requests seen for too few new tasks: {delays:?}");
    println!(
        "BENCH task RUNNING -> first proxied request over {} tasks: p50 {:.2} s, max {:.2} s (health checks every 5 s; a new target turns healthy on its first passing check)",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );

    let service = describe_service(&client, "default", "web").await;
    let evs = events(&service);
    assert!(evs.iter().any(|e| e.contains("deregistered") && e.contains(&tg)), "{evs:?}");

    // A target whose health check answers 503 is stopped with ELB's reason and replaced.
    client.update_service().service("web").desired_count(2).send().await.unwrap();
    wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    let arns = client.list_tasks().service_name("web").send().await.unwrap().task_arns.unwrap();
    let sick = describe(&client, &arns[0]).await;
    let sick_arn = sick.task_arn.clone().unwrap();
    let (status, _) =
        berth_testkit::http_get(&format!("http://127.0.0.1:{}/sick", host_port(&sick))).expect("the task answers");
    assert_eq!(status, 200);
    let stopped = wait_status(&client, &sick_arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some(format!("Task failed ELB health checks in (target-group {tg})").as_str()),
        "{stopped:?}"
    );
    assert_eq!(stopped.stop_code.as_ref().map(|c| c.as_str()), Some("ServiceSchedulerInitiated"));
    let service = wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    let evs = events(&service);
    let unhealthy = format!(
        "(port {}) is unhealthy in (target-group {tg}) due to (reason Health checks failed with these codes: [503]).",
        host_port(&sick)
    );
    assert!(evs.iter().any(|e| e.starts_with("(service web) (instance ") && e.ends_with(&unhealthy)), "{evs:?}");
    let sick_id = sick_arn.rsplit('/').next().unwrap();
    assert!(evs.iter().any(|e| e.contains(&format!("has stopped 1 running tasks: (task {sick_id})."))), "{evs:?}");

    // StopTask: the task is deregistered first and keeps running, DEACTIVATING, while its target drains (3 s).
    let arns = client.list_tasks().service_name("web").send().await.unwrap().task_arns.unwrap();
    let leaving = describe(&client, &arns[0]).await;
    let leaving_arn = leaving.task_arn.clone().unwrap();
    let leaving_port = u64::from(host_port(&leaving));
    let asked = Instant::now();
    client.stop_task().task(&leaving_arn).send().await.unwrap();
    wait_for("the stopped task's target draining", Duration::from_secs(5), || async {
        target_states(&berth, &tg).iter().any(|(p, state)| *p == leaving_port && state == "draining").then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", target_states(&berth, &tg)));
    let draining = describe(&client, &leaving_arn).await;
    assert_eq!(draining.last_status.as_deref(), Some("DEACTIVATING"), "{draining:?}");
    let (status, _) = berth_testkit::http_get(&format!("http://127.0.0.1:{leaving_port}/health"))
        .expect("a draining task still serves");
    assert_eq!(status, 200);
    wait_status(&client, &leaving_arn, "STOPPED", Duration::from_secs(30)).await;
    let took = asked.elapsed();
    assert!(took >= Duration::from_secs(3), "stopped before its deregistration delay: {took:?}");
    println!("StopTask -> STOPPED with a 3 s deregistration delay: {took:?}");

    // Level-triggered across a restart: a target deregistered behind the scheduler's back is registered again,
    // and nothing is duplicated.
    berth.restart().expect("berth restarts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    let health = elb(&berth, &["describe-target-health", "--target-group-arn", &tg]);
    let first = &health["TargetHealthDescriptions"][0]["Target"];
    let removed = format!("Id={},Port={}", s(&first["Id"]), first["Port"]);
    elb(&berth, &["deregister-targets", "--target-group-arn", &tg, "--targets", &removed]);
    let arns = client.list_tasks().service_name("web").send().await.unwrap().task_arns.unwrap();
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap();
    let mut ports: Vec<u64> = tasks.iter().map(|t| u64::from(host_port(t))).collect();
    ports.sort();
    wait_for("the target registered again", Duration::from_secs(15), || async {
        let states = target_states(&berth, &tg);
        (states.iter().map(|(p, _)| *p).collect::<Vec<_>>() == ports && states.iter().all(|(_, st)| st == "healthy"))
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?} for task ports {ports:?}", target_states(&berth, &tg)));

    // Deleted, the service drains every target and leaves the target group empty.
    aws_ok(&berth, "ecs", &["delete-service", "--service", "web", "--force"]);
    wait_for("the service to be INACTIVE", Duration::from_secs(60), || async {
        (describe_service(&client, "default", "web").await.status.as_deref() == Some("INACTIVE")).then_some(())
    })
    .await
    .unwrap();
    assert!(target_states(&berth, &tg).is_empty(), "{:?}", target_states(&berth, &tg));
    assert!(containers_of(&berth, "web").is_empty());
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
async fn a_service_in_cloud_map_answers_dig_with_its_tasks() {
    let dns_port = berth_testkit::free_port();
    let (range, _) = own_range(1);
    let (mut berth, client) =
        up(vec!["--elb-address-range".into(), range, "--dns-listen".into(), format!("127.0.0.1:{dns_port}")]).await;
    let td = register_version(&client, "api", "1").await;
    let op = sd(&berth, &["create-private-dns-namespace", "--name", "svc.local", "--vpc", VPC]);
    let got = sd(&berth, &["get-operation", "--operation-id", &s(&op["OperationId"])]);
    let ns = s(&got["Operation"]["Targets"]["NAMESPACE"]);
    let srv_only = json!({"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "SRV", "TTL": 0}]});
    let registry =
        sd(&berth, &["create-service", "--name", "api", "--namespace-id", &ns, "--dns-config", &srv_only.to_string()]);
    let registry = s(&registry["Service"]["Arn"]);
    let with_a = json!({"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 0}]});
    let a_registry =
        sd(&berth, &["create-service", "--name", "api-a", "--namespace-id", &ns, "--dns-config", &with_a.to_string()]);
    let a_registry = s(&a_registry["Service"]["Arn"]);

    // ECS's checks for bridge tasks: SRV records, with a container name and port.
    let create = |registries: String| {
        vec![
            "create-service".to_string(),
            "--service-name".into(),
            "api".into(),
            "--task-definition".into(),
            td.clone(),
            "--desired-count".into(),
            "2".into(),
            "--service-registries".into(),
            registries,
        ]
    };
    let err = |registries: String| {
        let args = create(registries);
        ecs_err(&berth, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let e = err(format!("registryArn={registry}"));
    assert!(
        e.contains("values for 'containerName' and 'containerPort' must be specified from the task definition"),
        "{e}"
    );
    let e = err(format!("registryArn={a_registry},containerName=app,containerPort=8080"));
    assert!(e.contains("InvalidParameterException") && e.contains("awsvpc"), "{e}");
    let e = err(format!("registryArn={registry},containerName=app,containerPort=9"));
    assert!(e.contains("did not have a container port 9 defined"), "{e}");

    let args = create(format!("registryArn={registry},containerName=app,containerPort=8080"));
    let created = aws_ok(&berth, "ecs", &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(created["service"]["serviceRegistries"][0]["registryArn"], json!(registry), "{created}");
    wait_stable(&client, "default", "api", Duration::from_secs(60)).await;

    // ListServicesByNamespace finds the service by the namespace's name and by its ARN; another name is ECS's
    // NamespaceNotFoundException.
    let ns_arn = s(&sd(&berth, &["get-namespace", "--id", &ns])["Namespace"]["Arn"]);
    for namespace in ["svc.local", ns_arn.as_str()] {
        let listed = aws_ok(&berth, "ecs", &["list-services-by-namespace", "--namespace", namespace]);
        assert_eq!(listed["serviceArns"], json!([created["service"]["serviceArn"]]), "{namespace}: {listed}");
    }
    let e = ecs_err(&berth, &["list-services-by-namespace", "--namespace", "nowhere.local"]);
    assert!(e.contains("NamespaceNotFoundException") && e.contains("The specified namespace wasn't found."), "{e}");

    // SRV records: one per running task, at its host port, named after the task.
    let expected = |tasks: &[aws_sdk_ecs::types::Task]| -> Vec<String> {
        let mut v: Vec<String> = tasks
            .iter()
            .map(|t| {
                let id = t.task_arn().unwrap().rsplit('/').next().unwrap().to_string();
                format!("1 1 {} {id}.api.svc.local.", host_port(t))
            })
            .collect();
        v.sort();
        v
    };
    let arns = client.list_tasks().service_name("api").send().await.unwrap().task_arns.unwrap();
    let tasks = client.describe_tasks().set_tasks(Some(arns.clone())).send().await.unwrap().tasks.unwrap();
    let want = expected(&tasks);
    wait_for("both tasks in DNS", Duration::from_secs(10), || async {
        (dig(dns_port, "api.svc.local", "SRV") == want).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?} != {want:?}", dig(dns_port, "api.svc.local", "SRV")));
    let first = tasks[0].task_arn().unwrap().rsplit('/').next().unwrap().to_string();
    assert_eq!(dig(dns_port, &format!("{first}.api.svc.local"), "A"), vec!["127.0.0.1".to_string()]);
    let instances = sd(&berth, &["list-instances", "--service-id", &registry]);
    let attrs =
        &instances["Instances"].as_array().unwrap().iter().find(|i| i["Id"] == json!(first)).unwrap()["Attributes"];
    assert_eq!(attrs["ECS_SERVICE_NAME"], "api", "{attrs}");
    assert_eq!(attrs["ECS_CLUSTER_NAME"], "default", "{attrs}");
    assert_eq!(attrs["ECS_TASK_DEFINITION_FAMILY"], "api", "{attrs}");
    assert_eq!(attrs["AWS_INSTANCE_IPV4"], "127.0.0.1", "{attrs}");
    assert_eq!(attrs["AWS_INSTANCE_PORT"], json!(host_port(&tasks[0]).to_string()), "{attrs}");

    // A stopped task leaves DNS within 2 s (it is deregistered before its container stops).
    let stopped_at = Instant::now();
    client.stop_task().task(tasks[0].task_arn().unwrap()).send().await.unwrap();
    let remaining = expected(&tasks[1..]);
    loop {
        let got = dig(dns_port, "api.svc.local", "SRV");
        if !got.iter().any(|l| l.contains(&first)) {
            break;
        }
        assert!(stopped_at.elapsed() < Duration::from_secs(2), "still in DNS after 2 s: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("a stopped task left DNS {:?} after StopTask", stopped_at.elapsed());
    let got = dig(dns_port, "api.svc.local", "SRV");
    assert!(remaining.iter().all(|r| got.contains(r)), "{got:?} lacks {remaining:?}");
    wait_status(&client, tasks[0].task_arn().unwrap(), "STOPPED", Duration::from_secs(30)).await;

    // The replacement is registered once it runs.
    let service = wait_stable(&client, "default", "api", Duration::from_secs(60)).await;
    assert_eq!(service.running_count, 2);
    wait_for("the replacement in DNS", Duration::from_secs(10), || async {
        let got = dig(dns_port, "api.svc.local", "SRV");
        (got.len() == 2 && !got.iter().any(|l| l.contains(&first))).then_some(())
    })
    .await
    .unwrap();

    // Level-triggered, across a restart: an instance deregistered behind the scheduler's back comes back, and a
    // stray one carrying this service's attributes goes.
    berth.restart().expect("berth restarts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    let arns = client.list_tasks().service_name("api").send().await.unwrap().task_arns.unwrap();
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap();
    let want = expected(&tasks);
    assert_eq!(want.len(), 2, "{want:?}");
    let kept = tasks[0].task_arn().unwrap().rsplit('/').next().unwrap().to_string();
    sd(&berth, &["deregister-instance", "--service-id", &registry, "--instance-id", &kept]);
    let stray = "AWS_INSTANCE_IPV4=127.0.0.1,AWS_INSTANCE_PORT=1,ECS_CLUSTER_NAME=default,ECS_SERVICE_NAME=api";
    sd(&berth, &["register-instance", "--service-id", &registry, "--instance-id", "stray", "--attributes", stray]);
    wait_for("the registry to converge", Duration::from_secs(10), || async {
        (dig(dns_port, "api.svc.local", "SRV") == want).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?} != {want:?}", dig(dns_port, "api.svc.local", "SRV")));

    // Scaled to 0, the registry is empty.
    client.update_service().service("api").desired_count(0).send().await.unwrap();
    wait_for("no record left", Duration::from_secs(30), || async {
        dig(dns_port, "api.svc.local", "SRV").is_empty().then_some(())
    })
    .await
    .unwrap();
}
