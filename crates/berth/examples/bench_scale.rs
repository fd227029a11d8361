//! Issue 17 item 4's scale benchmark: the real control plane with 10,000 simulated instances and up to 100,000
//! tasks, on SQLite and on a 3-member etcd.
//!
//! Per store: starts `berth server` (and, for etcd, a 3-member etcd cluster on loopback), then
//! `berth agent --simulate N` as a separate process (so the server's memory is its own), waits until every
//! simulated instance is connected, and reads the server's RSS with no task. Then, for each task count (1,000,
//! 10,000, 100,000 by default), it grows the cluster to that count and measures:
//!
//! - CreateService: 20 new services holding 20 % of the new tasks, one call at a time (latency);
//! - RunTask with count 1 (40 % of the new tasks) and with count 10 (the other 40 %), from concurrent aws-sdk-ecs
//!   clients: latency per call and tasks accepted per second;
//! - once every task is RUNNING: DescribeTasks of 10 random tasks and ListTasks (a page of 100), from 4 clients;
//! - the server's RSS, and its growth per task since the instances joined;
//! - the loss of 100 instances: SIGUSR1 to the simulator silences the 100 running the most service tasks; the time
//!   from that kill, and from the server's detection (the first `stoppedAt` of a task stopped because its
//!   instance was lost), until every service is back at its desired count.
//!
//! Run: `cargo build --release -p berth --bins --example bench_scale && target/release/examples/bench_scale`
//! (`BERTH_BIN` the binary, default target/release/berth; `BENCH_STORES` default `sqlite,etcd3`;
//! `BENCH_INSTANCES` default 10000; `BENCH_TASKS` default `1000,10000,100000`; `BENCH_CLIENTS` the concurrent
//! RunTask clients, default 32; `BENCH_LOSE` default 100; `BENCH_HEARTBEAT` the simulated heartbeat in seconds,
//! default the server's, 3 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly; benchmarks time real work

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus, PortMapping};
use berth_testkit::{Berth, BerthOptions, free_port, wait_for};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CLUSTER: &str = "scale";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn binary() -> String {
    std::env::var("BERTH_BIN")
        .unwrap_or_else(|_| format!("{}/target/release/berth", berth_testkit::workspace_root().display()))
}

fn epoch() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// p50 / p99 in milliseconds.
fn p50_p99(samples: &mut [Duration]) -> String {
    samples.sort();
    format!("{} / {}", ms(percentile(samples, 0.5)), ms(percentile(samples, 0.99)))
}

/// The resident set of a process (KiB).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A 3-member etcd cluster on loopback (Debian's `etcd`), killed when dropped.
struct Etcd3 {
    children: Vec<Child>,
    client_urls: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Etcd3 {
    async fn start() -> Etcd3 {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let peer = |p: u16| format!("http://127.0.0.1:{p}");
        let initial: Vec<String> = ports.iter().enumerate().map(|(i, (_, p))| format!("m{i}={}", peer(*p))).collect();
        let mut children = Vec::new();
        let mut client_urls = Vec::new();
        for (i, (client, peer_port)) in ports.iter().enumerate() {
            let url = format!("http://127.0.0.1:{client}");
            let log = std::fs::File::create(dir.path().join(format!("m{i}.log"))).unwrap();
            let child = Command::new(std::env::var("BERTH_ETCD_BIN").unwrap_or_else(|_| "etcd".into()))
                .arg(format!("--name=m{i}"))
                .arg(format!("--data-dir={}", dir.path().join(format!("m{i}")).display()))
                .arg(format!("--listen-client-urls={url}"))
                .arg(format!("--advertise-client-urls={url}"))
                .arg(format!("--listen-peer-urls={}", peer(*peer_port)))
                .arg(format!("--initial-advertise-peer-urls={}", peer(*peer_port)))
                .arg(format!("--initial-cluster={}", initial.join(",")))
                .arg("--initial-cluster-state=new")
                .arg("--initial-cluster-token=berth-bench")
                // 100,000 tasks written several times each outgrow etcd's default 2 GiB quota before compaction.
                .arg("--quota-backend-bytes=8589934592")
                .arg("--logger=zap")
                .arg("--log-outputs=stderr")
                .arg("--log-level=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("etcd runs (Debian's etcd-server; BERTH_ETCD_BIN names another binary)");
            children.push(child);
            client_urls.push(url);
        }
        let http = reqwest::Client::new();
        for url in &client_urls {
            wait_for("an etcd member to be healthy", Duration::from_secs(60), || async {
                let body = http.get(format!("{url}/health")).send().await.ok()?.text().await.ok()?;
                body.contains("\"health\":\"true\"").then_some(())
            })
            .await
            .unwrap();
        }
        Etcd3 { children, client_urls, _dir: dir }
    }
}

impl Drop for Etcd3 {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every page of a list call, concatenated.
macro_rules! all_pages {
    ($request:expr, $field:ident) => {{
        let mut out: Vec<String> = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = $request.set_next_token(next).max_results(100).send().await.unwrap();
            out.extend(page.$field().iter().cloned());
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break out;
            }
        }
    }};
}

/// RunTask calls of `count` tasks each from `clients` clients: per-call latencies, seconds, the task ARNs.
async fn run_tasks(ecs: &Client, calls: usize, count: i32, clients: usize) -> (Vec<Duration>, f64, Vec<String>) {
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..clients {
        let ecs = ecs.clone();
        let mine = calls / clients + usize::from(c < calls % clients);
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(mine);
            let mut arns = Vec::new();
            for _ in 0..mine {
                let t = Instant::now();
                let out = ecs.run_task().cluster(CLUSTER).task_definition("scale").count(count).send().await.unwrap();
                samples.push(t.elapsed());
                assert_eq!(out.tasks().len(), count as usize, "{:?}", out.failures());
                arns.extend(out.tasks().iter().filter_map(|t| t.task_arn().map(str::to_string)));
            }
            (samples, arns)
        }));
    }
    let (mut samples, mut arns) = (Vec::new(), Vec::new());
    for h in handles {
        let (s, a) = h.await.unwrap();
        samples.extend(s);
        arns.extend(a);
    }
    (samples, started.elapsed().as_secs_f64(), arns)
}

/// `calls` calls of `call` from 4 clients: the latencies.
async fn sample<F, Fut>(calls: usize, call: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut handles = Vec::new();
    for c in 0..4 {
        let call = call.clone();
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            for i in 0..calls / 4 {
                let t = Instant::now();
                call(c * calls + i).await;
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.extend(h.await.unwrap());
    }
    out
}

/// The services' (running, desired, pending) counts summed.
async fn service_counts(ecs: &Client, services: &[String]) -> (i64, i64, i64) {
    let (mut running, mut desired, mut pending) = (0, 0, 0);
    for chunk in services.chunks(10) {
        let out = ecs.describe_services().cluster(CLUSTER).set_services(Some(chunk.to_vec())).send().await.unwrap();
        for s in out.services() {
            running += i64::from(s.running_count());
            desired += i64::from(s.desired_count());
            pending += i64::from(s.pending_count());
        }
    }
    (running, desired, pending)
}

/// Waits until the cluster shows `expected` tasks RUNNING and none PENDING.
async fn wait_running(ecs: &Client, expected: i64) -> Duration {
    let started = Instant::now();
    wait_for("every task to be RUNNING", Duration::from_secs(1800), || async {
        let out = ecs.describe_clusters().clusters(CLUSTER).send().await.ok()?;
        let c = out.clusters().first()?;
        (c.pending_tasks_count() == 0 && i64::from(c.running_tasks_count()) >= expected).then_some(())
    })
    .await
    .unwrap();
    started.elapsed()
}

/// What one loss of instances cost.
struct Loss {
    from_kill: f64,
    from_detection: f64,
    detection_after_kill: f64,
    service_tasks: usize,
    standalone_tasks: usize,
}

/// Silences `lose` instances (SIGUSR1 to the simulator) and times the services' recovery.
async fn lose_instances(ecs: &Client, simulator: u32, services: &[String]) -> Loss {
    let kill_epoch = epoch();
    let kill = Instant::now();
    let status = Command::new("kill").arg("-USR1").arg(simulator.to_string()).status().unwrap();
    assert!(status.success());
    let mut dropped = false;
    let back = loop {
        let (running, desired, pending) = service_counts(ecs, services).await;
        if running < desired || pending > 0 {
            dropped = true;
        } else if dropped {
            break kill.elapsed().as_secs_f64();
        }
        assert!(kill.elapsed() < Duration::from_secs(600), "services did not recover within 10 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let back_epoch = kill_epoch + back;
    // The tasks stopped because their instance was lost, and when the server stopped them.
    let stopped = all_pages!(ecs.list_tasks().cluster(CLUSTER).desired_status(DesiredStatus::Stopped), task_arns);
    let (mut first, mut service_tasks, mut standalone_tasks) = (f64::MAX, 0, 0);
    for chunk in stopped.chunks(100) {
        let out = ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(chunk.to_vec())).send().await.unwrap();
        for t in out.tasks() {
            let at = t.stopped_at().map(|d| d.as_secs_f64()).unwrap_or(0.0);
            if at < kill_epoch || !t.stopped_reason().unwrap_or_default().contains("was lost") {
                continue;
            }
            first = first.min(at);
            if t.group().unwrap_or_default().starts_with("service:") {
                service_tasks += 1;
            } else {
                standalone_tasks += 1;
            }
        }
    }
    Loss {
        from_kill: back,
        from_detection: back_epoch - first,
        detection_after_kill: first - kill_epoch,
        service_tasks,
        standalone_tasks,
    }
}

/// One row of figures at a task count.
struct Row {
    tasks: usize,
    create_service: Vec<Duration>,
    run1: (Vec<Duration>, f64),
    run10: (Vec<Duration>, f64),
    settle: Duration,
    describe: Vec<Duration>,
    list: Vec<Duration>,
    rss_mib: f64,
    per_task_bytes: f64,
    loss: Loss,
}

async fn bench_store(store: &str, instances: usize, sizes: &[usize], clients: usize, lose: usize) -> Vec<Row> {
    let etcd = if store == "etcd3" { Some(Etcd3::start().await) } else { None };
    let mut args: Vec<String> = ["--api-rate-limit", "0"].map(String::from).to_vec();
    if let Some(etcd) = &etcd {
        args.extend(["--store".to_string(), format!("etcd:{}?prefix=/bench", etcd.client_urls.join(","))]);
    }
    let mut berth =
        Berth::start(BerthOptions { binary: binary().into(), role: "server", extra_args: args }).expect("berth server");
    let server = berth.pid().unwrap();
    let ecs: Client = berth_testkit::ecs_client(&berth);
    ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let sim_dir = tempfile::tempdir().unwrap();
    let count = instances.to_string();
    let lose_text = lose.to_string();
    let heartbeat = std::env::var("BENCH_HEARTBEAT").ok();
    let mut sim_args = vec!["--cluster", CLUSTER, "--simulate", &count, "--simulate-lose", &lose_text];
    sim_args.extend(["--metrics-listen", "off"]);
    if let Some(h) = &heartbeat {
        sim_args.extend(["--simulate-heartbeat-seconds", h.as_str()]);
    }
    let joined = Instant::now();
    let sim = berth.start_agent(&sim_dir.path().join("sim"), &sim_args).unwrap();
    let simulator = berth.agent_pid(sim).unwrap();
    wait_for("every simulated instance to connect", Duration::from_secs(900), || async {
        let connected = all_pages!(
            ecs.list_container_instances().cluster(CLUSTER).filter("agentConnected == true"),
            container_instance_arns
        );
        (connected.len() == instances).then_some(())
    })
    .await
    .unwrap();
    let joined = joined.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss0 = rss_kib(server);
    println!(
        "\n[{store}] {instances} instances joined and connected in {:.1} s; server RSS {:.1} MiB, simulator RSS {:.1} MiB",
        joined.as_secs_f64(),
        rss0 as f64 / 1024.0,
        rss_kib(simulator) as f64 / 1024.0
    );
    ecs.register_task_definition()
        .family("scale")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("simulated/app:1")
                .cpu(16)
                .memory(32)
                .essential(true)
                .port_mappings(PortMapping::builder().container_port(8080).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut services: Vec<String> = Vec::new();
    let mut arns: Vec<String> = Vec::new();
    let (mut placed, mut lost_standalone) = (0usize, 0usize);
    let mut rows = Vec::new();
    for &target in sizes {
        let delta = target.saturating_sub(placed);
        let per_service = (delta / 100).max(1);
        let mut create_service = Vec::new();
        for s in 0..20 {
            let name = format!("svc-{target}-{s}");
            let t = Instant::now();
            ecs.create_service()
                .cluster(CLUSTER)
                .service_name(&name)
                .task_definition("scale")
                .desired_count(per_service as i32)
                .send()
                .await
                .unwrap();
            create_service.push(t.elapsed());
            services.push(name);
        }
        let in_services = per_service * 20;
        // The services' tasks are placed and RUNNING before RunTask is measured.
        wait_running(&ecs, (placed + in_services - lost_standalone) as i64).await;
        let runs = delta.saturating_sub(in_services) / 2;
        let (samples1, secs1, a1) = run_tasks(&ecs, runs, 1, clients).await;
        let (samples10, secs10, a10) = run_tasks(&ecs, runs / 10, 10, clients).await;
        let rate1 = a1.len() as f64 / secs1;
        let rate10 = a10.len() as f64 / secs10;
        placed += in_services + a1.len() + a10.len();
        arns.extend(a1);
        arns.extend(a10);
        let settle = wait_running(&ecs, (placed - lost_standalone) as i64).await;
        println!(
            "[{store}] {placed} tasks placed; RunTask count 1: {rate1:.0} tasks/s, count 10: {rate10:.0} tasks/s; \
             all RUNNING {:.1} s after the last RunTask",
            settle.as_secs_f64()
        );
        let describe = {
            let (ecs, arns) = (ecs.clone(), std::sync::Arc::new(arns.clone()));
            sample(400, move |i| {
                let (ecs, arns) = (ecs.clone(), arns.clone());
                async move {
                    let pick: Vec<String> =
                        (0..10).map(|k| arns[(i * 7919 + k * 104_729) % arns.len()].clone()).collect();
                    let out = ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(pick)).send().await.unwrap();
                    assert_eq!(out.tasks().len() + out.failures().len(), 10);
                }
            })
            .await
        };
        let list = {
            let ecs = ecs.clone();
            sample(400, move |_| {
                let ecs = ecs.clone();
                async move {
                    let out = ecs.list_tasks().cluster(CLUSTER).max_results(100).send().await.unwrap();
                    assert_eq!(out.task_arns().len(), 100);
                }
            })
            .await
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_kib(server);
        let running = (placed - lost_standalone) as f64;
        let per_task_bytes = (rss.saturating_sub(rss0) as f64 * 1024.0) / running;
        let loss = lose_instances(&ecs, simulator, &services).await;
        lost_standalone += loss.standalone_tasks;
        println!(
            "[{store}] lost {lose} instances: {} service tasks replaced, {} standalone tasks stopped; detected {:.1} s \
             after the kill; services back {:.1} s after the detection, {:.1} s after the kill",
            loss.service_tasks, loss.standalone_tasks, loss.detection_after_kill, loss.from_detection, loss.from_kill
        );
        rows.push(Row {
            tasks: placed,
            create_service,
            run1: (samples1, rate1),
            run10: (samples10, rate10),
            settle,
            describe,
            list,
            rss_mib: rss as f64 / 1024.0,
            per_task_bytes,
            loss,
        });
    }
    println!("[{store}] simulator RSS at the end: {:.1} MiB", rss_kib(simulator) as f64 / 1024.0);
    berth.kill_agent(sim);
    berth.kill();
    drop(etcd);
    rows
}

#[tokio::main]
async fn main() {
    let stores: Vec<String> = std::env::var("BENCH_STORES")
        .unwrap_or_else(|_| "sqlite,etcd3".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let sizes: Vec<usize> = std::env::var("BENCH_TASKS")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let instances = env_usize("BENCH_INSTANCES", 10_000);
    let clients = env_usize("BENCH_CLIENTS", 32);
    let lose = env_usize("BENCH_LOSE", 100);
    for store in stores {
        let rows = bench_store(&store, instances, &sizes, clients, lose).await;
        println!("\n### {store}, {instances} simulated instances\n");
        println!(
            "| tasks | RunTask count 1: tasks/s, p50 / p99 ms | RunTask count 10: tasks/s, p50 / p99 ms | \
             CreateService p50 / p99 ms | DescribeTasks (10) p50 / p99 ms | ListTasks p50 / p99 ms | \
             all RUNNING after | server RSS, per task | {lose} instances lost: back after detection / after kill \
             (service tasks replaced) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for mut r in rows {
            println!(
                "| {} | {:.0}, {} | {:.0}, {} | {} | {} | {} | {:.1} s | {:.0} MiB, {:.2} KiB | {:.1} s / {:.1} s ({}) |",
                r.tasks,
                r.run1.1,
                p50_p99(&mut r.run1.0),
                r.run10.1,
                p50_p99(&mut r.run10.0),
                p50_p99(&mut r.create_service),
                p50_p99(&mut r.describe),
                p50_p99(&mut r.list),
                r.settle.as_secs_f64(),
                r.rss_mib,
                r.per_task_bytes / 1024.0,
                r.loss.from_detection,
                r.loss.from_kill,
                r.loss.service_tasks
            );
        }
    }
}
