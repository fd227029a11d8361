//! Issue 2's benchmarks, in one run on this machine:
//!
//! 1. RunTask -> RUNNING latency (p50, p95) against the floor, interleaved: the same container configuration the
//!    agent creates (read back from the agent's own container), created and started through the Engine API over
//!    the socket; `docker run -d` of the same image is printed too (it is slower than the API: not the floor);
//!    with the per-step breakdown of Berth's path read from the `berth_timing` debug events (issue 10);
//! 2. RunTask accept throughput (tasks placed per second by concurrent clients; the instance has no agent, so
//!    only the control plane is measured);
//! 3. DescribeTasks of 100 tasks, and ListTasks, latency;
//! 4. resident memory of `berth server` and `berth agent`, idle and with 50 running tasks.
//!
//! Run: `cargo build --release -p berth && cargo run --release -p berth --example bench_core`
//! (`BERTH_BIN` overrides the binary; `BENCH_TASKS` the number of latency samples, default 30). The example
//! re-runs itself with `BERTH_TEST_LOG=info,berth_timing=debug` unless that variable is set, so that Berth logs
//! the timing events the breakdown is computed from.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly; benchmarks time real work

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerDefinition, PortMapping};
use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, InspectContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StartContainerOptions,
};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The steps of Berth's RunTask path, in order, as `berth_timing` events name them (`report_*` steps: the
/// report that carries RUNNING).
const STEPS: [&str; 11] = [
    "placed",
    "stream_sent",
    "agent_received",
    "image_ready",
    "created",
    "started",
    "observed",
    "report_queued",
    "report_sent",
    "report_applied",
    "report_acked",
];

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn client(berth: &Berth) -> Client {
    berth_testkit::ecs_client(berth)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn binary() -> String {
    std::env::var("BERTH_BIN")
        .unwrap_or_else(|_| format!("{}/target/release/berth", berth_testkit::workspace_root().display()))
}

/// Joins `cluster` through the agent protocol as a huge instance that heartbeats but never runs anything, so the
/// accept benchmark measures the control plane alone. Heartbeats stop when the returned handle drops.
async fn simulated_agent(berth: &Berth, cluster: &str) -> tokio::task::JoinHandle<()> {
    let http = reqwest::Client::new();
    let register = serde_json::json!({
        "cluster": cluster, "hostname": "simulated",
        "attributes": {"com.amazonaws.ecs.capability.docker-remote-api.1.18": "", "com.amazonaws.ecs.capability.docker-remote-api.1.21": ""},
        "resources": {"cpu": 10_000_000, "memoryMib": 100_000_000, "reservedTcpPorts": [], "reservedUdpPorts": []},
        "version": {"agentVersion": "bench", "agentHash": "bench", "dockerVersion": "none"}
    });
    let response: serde_json::Value = http
        .post(format!("{}/agent/v1/register", berth.url()))
        .bearer_auth(berth.join_token().unwrap())
        .body(register.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = response["instanceToken"].as_str().unwrap().to_string();
    let url = format!("{}/agent/v1/report", berth.url());
    tokio::spawn(async move {
        loop {
            let _ = http.post(&url).bearer_auth(&token).body(r#"{"tasks":[],"appliedRevision":0}"#).send().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
}

/// Wall-clock seconds since midnight UTC, the clock Berth's log lines are stamped with.
fn wall() -> f64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    since.as_secs_f64() % 86_400.0
}

/// One `berth_timing` event from Berth's log: (seconds since midnight UTC, task ARN, step, status).
fn timing_events(log: &str) -> Vec<(f64, String, String, String)> {
    let mut out = Vec::new();
    for raw in log.lines().filter(|l| l.contains("berth_timing")) {
        // Strip ANSI colour codes.
        let mut line = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                line.push(c);
            }
        }
        let mut words = line.split_whitespace();
        let Some(stamp) = words.next() else { continue };
        let Some(time) = stamp.split_once('T').map(|(_, t)| t.trim_end_matches('Z')) else { continue };
        let parts: Vec<f64> = time.split(':').filter_map(|p| p.parse().ok()).collect();
        let [h, m, s] = parts[..] else { continue };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        out.push((h * 3600.0 + m * 60.0 + s, field("task"), field("step"), field("status")));
    }
    out
}

/// The Engine API client, as the agent connects (`$DOCKER_HOST`, else the local socket).
async fn engine() -> Docker {
    Docker::connect_with_defaults().unwrap().negotiate_version().await.unwrap()
}

/// The create request of the container the agent made for `task_arn`, read back from the engine, with the
/// task's ARN and the instance's label values changed so that the agent does not take the copies for its own.
/// Also returns the agent's container's id.
async fn floor_body(docker: &Docker, task_arn: &str) -> (ContainerCreateBody, String) {
    let filter = format!("com.amazonaws.ecs.task-arn={task_arn}");
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_string(), vec![filter])])),
        ..Default::default()
    };
    let listed = docker.list_containers(Some(options)).await.unwrap();
    let id = listed.first().and_then(|c| c.id.clone()).expect("the agent's container");
    let inspected = docker.inspect_container(&id, None::<InspectContainerOptions>).await.unwrap();
    let mut body = serde_json::to_value(inspected.config.unwrap()).unwrap();
    let object = body.as_object_mut().unwrap();
    object.remove("Hostname");
    object.insert("HostConfig".into(), serde_json::to_value(inspected.host_config.unwrap()).unwrap());
    if let Some(labels) = object.get_mut("Labels").and_then(|l| l.as_object_mut()) {
        for (key, value) in labels.iter_mut() {
            if key == "com.amazonaws.ecs.task-arn" || key == "berth.container-instance-arn" {
                *value = serde_json::Value::String(format!("bench-floor/{}", "0".repeat(32)));
            }
        }
    }
    (serde_json::from_value(body).unwrap(), id)
}

/// One floor sample: create + start through the Engine API. Returns (until create returned, until start returned,
/// until inspect shows the container running).
async fn floor_sample(docker: &Docker, body: &ContainerCreateBody, name: &str) -> (Duration, Duration, Duration) {
    let start = Instant::now();
    let options = CreateContainerOptions { name: Some(name.to_string()), ..Default::default() };
    let created = docker.create_container(Some(options), body.clone()).await.unwrap();
    let create_took = start.elapsed();
    docker.start_container(&created.id, None::<StartContainerOptions>).await.unwrap();
    let started = start.elapsed();
    loop {
        let state = docker.inspect_container(&created.id, None::<InspectContainerOptions>).await.unwrap();
        if state.state.and_then(|s| s.running) == Some(true) {
            break;
        }
    }
    let running = start.elapsed();
    let options = RemoveContainerOptions { force: true, v: true, link: false };
    docker.remove_container(&created.id, Some(options)).await.unwrap();
    (create_took, started, running)
}

/// A pull attempt of `image` through the Engine API (the agent's default behaviour tries one before using the
/// local image), timed until the engine answers.
async fn pull_attempt(docker: &Docker, image: &str) -> Duration {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let options = CreateImageOptions { from_image: Some(repo.into()), tag: Some(tag.into()), ..Default::default() };
    let start = Instant::now();
    let mut progress = docker.create_image(Some(options), None, None);
    while let Some(step) = progress.next().await {
        if step.is_err() {
            break;
        }
    }
    start.elapsed()
}

/// One round trip of each inspection the agent makes: (an image, a container).
async fn inspect_round_trips(docker: &Docker, image: &str, container: &str) -> (Duration, Duration) {
    let start = Instant::now();
    docker.inspect_image(image).await.unwrap();
    let image_took = start.elapsed();
    let start = Instant::now();
    docker.inspect_container(container, None::<InspectContainerOptions>).await.unwrap();
    (image_took, start.elapsed())
}

fn main() {
    if std::env::var_os("BERTH_TEST_LOG").is_none() {
        // The breakdown needs Berth's debug timing events; the child inherits everything else.
        let exe = std::env::current_exe().unwrap();
        let status = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("BERTH_TEST_LOG", "info,berth_timing=debug")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(run());
}

/// Prints the p50 of each step of Berth's path, measured from RunTask's send, and of each step's own share.
fn print_breakdown(log: &str, windows: &[(f64, f64, f64, String)]) {
    let events = timing_events(log);
    // Per step: cumulative ms since send, and ms since the previous step; per sample.
    let mut cumulative: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    let mut own: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let mut returns = Vec::new();
    for (sent, returned, seen, arn) in windows {
        returns.push(secs(returned - sent));
        let mut marks = Vec::new();
        for step in STEPS {
            let found = events.iter().find(|(t, task, name, status)| {
                task == arn
                    && name == step
                    && (!["report_sent", "report_applied", "report_acked"].contains(&step) || status == "RUNNING")
                    && *t >= *sent - 1.0
            });
            marks.push((step.to_string(), found.map_or(f64::NAN, |e| e.0)));
        }
        marks.push(("DescribeTasks shows RUNNING".to_string(), *seen));
        let mut previous = *sent;
        for (i, (_, at)) in marks.iter().enumerate() {
            if at.is_nan() {
                continue;
            }
            cumulative.entry(i).or_default().push(secs(at - sent));
            own.entry(i).or_default().push(secs(at - previous));
            previous = *at;
        }
    }
    let names: Vec<String> =
        STEPS.iter().map(|s| s.to_string()).chain(std::iter::once("DescribeTasks shows RUNNING".to_string())).collect();
    println!("\n## Berth's path, p50 over {} samples (berth_timing events; ms since RunTask was sent)", windows.len());
    println!("| step | since RunTask sent | since the previous step | samples |\n|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        let (Some(c), Some(o)) = (cumulative.get_mut(&i), own.get_mut(&i)) else {
            println!("| {name} | - | - | 0 |");
            continue;
        };
        let n = c.len();
        println!("| {name} | {} | {} | {n} |", ms(percentile(c, 0.5)), ms(percentile(o, 0.5)));
    }
    if !returns.is_empty() {
        println!(
            "| (RunTask's response reached the client) | {} | | {} |",
            ms(percentile(&mut returns, 0.5)),
            returns.len()
        );
    }
}

/// How often `wait_running` polls DescribeTasks (`BENCH_POLL_MS`, default 2 ms).
fn poll_interval() -> Duration {
    Duration::from_millis(std::env::var("BENCH_POLL_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(2))
}

async fn wait_running(client: &Client, arn: &str) -> Duration {
    let start = Instant::now();
    loop {
        let out = client.describe_tasks().tasks(arn).send().await.expect("describe");
        if out.tasks().first().and_then(|t| t.last_status.as_deref()) == Some("RUNNING") {
            return start.elapsed();
        }
        tokio::time::sleep(poll_interval()).await;
    }
}

async fn run() {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().expect("workload image");
    let samples: usize = std::env::var("BENCH_TASKS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    println!(
        "machine: {} cores; berth binary {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        binary()
    );

    // --- 1. latency against docker run -d --------------------------------------------------------------------
    let berth =
        // The accept figure measures the control plane, not the per-key throttle (200 requests/s by default).
        Berth::start(BerthOptions {
            binary: binary().into(),
            role: "up",
            extra_args: vec!["--api-rate-limit".into(), "0".into()],
        })
        .expect("berth up");
    let ecs = client(&berth);
    wait_for("the local agent", Duration::from_secs(30), || async {
        (ecs.list_container_instances().send().await.ok()?.container_instance_arns().len() == 1).then_some(())
    })
    .await
    .unwrap();
    ecs.register_task_definition()
        .family("bench")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(&image)
                .memory(16)
                .port_mappings(PortMapping::builder().container_port(8080).host_port(0).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let docker_api = engine().await;
    let (mut berth_lat, mut docker_lat) = (Vec::new(), Vec::new());
    let (mut floor_created, mut floor_started, mut floor_running, mut pulls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Per Berth sample: wall time RunTask was sent, when it returned, when DescribeTasks showed RUNNING, ARN.
    let mut windows: Vec<(f64, f64, f64, String)> = Vec::new();
    let mut body = None;
    let mut berth_container = String::new();
    let (mut image_inspects, mut container_inspects) = (Vec::new(), Vec::new());
    // One warm-up of each, not counted; the warm-up task's container gives the floor its configuration.
    for i in 0..=samples {
        let start = Instant::now();
        let id = docker(&["run", "-d", "-p", "0:8080", "--memory", "16m", &image]).expect("docker run");
        let docker_took = start.elapsed();
        let _ = docker(&["rm", "-f", &id]);

        if let Some(body) = &body {
            let (created, started, running) =
                floor_sample(&docker_api, body, &format!("bench-floor-{}-{i}", std::process::id())).await;
            floor_created.push(created);
            floor_started.push(started);
            floor_running.push(running);
            pulls.push(pull_attempt(&docker_api, &image).await);
            let (image_took, container_took) = inspect_round_trips(&docker_api, &image, &berth_container).await;
            image_inspects.push(image_took);
            container_inspects.push(container_took);
        }

        let sent = wall();
        let start = Instant::now();
        let run = ecs.run_task().task_definition("bench").send().await.unwrap();
        let returned = wall();
        let arn = run.tasks()[0].task_arn.clone().unwrap();
        wait_running(&ecs, &arn).await;
        let berth_took = start.elapsed();
        let seen = wall();
        if body.is_none() {
            let (found, id) = floor_body(&docker_api, &arn).await;
            body = Some(found);
            berth_container = id;
        }
        ecs.stop_task().task(&arn).send().await.unwrap();
        if i > 0 {
            docker_lat.push(docker_took);
            berth_lat.push(berth_took);
            windows.push((sent, returned, seen, arn));
        }
    }
    let (b50, b95) = (percentile(&mut berth_lat, 0.5), percentile(&mut berth_lat, 0.95));
    let (d50, d95) = (percentile(&mut docker_lat, 0.5), percentile(&mut docker_lat, 0.95));
    let (f50, f95) = (percentile(&mut floor_running, 0.5), percentile(&mut floor_running, 0.95));
    let (s50, s95) = (percentile(&mut floor_started, 0.5), percentile(&mut floor_started, 0.95));
    println!("\n## RunTask -> RUNNING vs the Engine API floor ({samples} samples each, interleaved, image local)");
    println!("| | p50 | p95 |\n|---|---|---|");
    println!("| Berth RunTask -> RUNNING (DescribeTasks) | {} | {} |", ms(b50), ms(b95));
    println!(
        "| Engine API create alone | {} | {} |",
        ms(percentile(&mut floor_created, 0.5)),
        ms(percentile(&mut floor_created, 0.95))
    );
    println!("| Engine API create + start, until start returns | {} | {} |", ms(s50), ms(s95));
    println!("| Engine API create + start, until inspect shows running | {} | {} |", ms(f50), ms(f95));
    println!("| docker run -d (CLI, not the floor) | {} | {} |", ms(d50), ms(d95));
    println!(
        "| **ratio Berth / Engine API (running)** | **{:.2}x** | **{:.2}x** |",
        b50.as_secs_f64() / f50.as_secs_f64(),
        b95.as_secs_f64() / f95.as_secs_f64()
    );
    println!("| difference Berth - Engine API (p50) | {} | |", ms(b50.saturating_sub(f50)));
    println!(
        "| a pull attempt of the local image through the API (p50 / p95) | {} | {} |",
        ms(percentile(&mut pulls, 0.5)),
        ms(percentile(&mut pulls, 0.95))
    );
    println!(
        "| one inspect round trip through the API, image / container (p50) | {} | {} |",
        ms(percentile(&mut image_inspects, 0.5)),
        ms(percentile(&mut container_inspects, 0.5))
    );
    print_breakdown(&berth.log(), &windows);
    if std::env::var_os("BENCH_LATENCY_ONLY").is_some() {
        return;
    }

    // --- 2. RunTask accept throughput on an agentless instance --------------------------------------------------
    ecs.create_cluster().cluster_name("accept").send().await.unwrap();
    let token = simulated_agent(&berth, "accept").await;
    // Placement needs the instance connected, which its first report records.
    wait_for("the simulated agent to connect", Duration::from_secs(30), || async {
        let arns = ecs.list_container_instances().cluster("accept").send().await.ok()?.container_instance_arns;
        let described =
            ecs.describe_container_instances().cluster("accept").set_container_instances(arns).send().await.ok()?;
        described.container_instances().iter().any(|i| i.agent_connected).then_some(())
    })
    .await
    .unwrap();
    let total = 2000;
    let clients = 16;
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..clients {
        let ecs = ecs.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..total / clients {
                let out = ecs.run_task().cluster("accept").task_definition("bench").send().await.unwrap();
                assert_eq!(out.tasks().len(), 1, "{:?}", out.failures());
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let took = start.elapsed();
    drop(token);
    println!(
        "\n## RunTask accept throughput ({total} RunTask calls, {clients} concurrent clients, one simulated instance that accepts but runs nothing)"
    );
    println!("{:.0} tasks/s ({} total)", total as f64 / took.as_secs_f64(), ms(took));

    // --- 3. DescribeTasks of 100, ListTasks ---------------------------------------------------------------------
    let arns: Vec<String> =
        ecs.list_tasks().cluster("accept").max_results(100).send().await.unwrap().task_arns().to_vec();
    assert_eq!(arns.len(), 100);
    let (mut describe, mut list) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let start = Instant::now();
        let out = ecs.describe_tasks().cluster("accept").set_tasks(Some(arns.clone())).send().await.unwrap();
        describe.push(start.elapsed());
        assert_eq!(out.tasks().len(), 100);
        let start = Instant::now();
        let out = ecs.list_tasks().cluster("accept").send().await.unwrap();
        list.push(start.elapsed());
        assert_eq!(out.task_arns().len(), 100);
    }
    println!(
        "\n## DescribeTasks (100 tasks) and ListTasks (page of 100 of {total}), 200 calls each, client-side latency"
    );
    println!("| | p50 | p95 |\n|---|---|---|");
    println!(
        "| DescribeTasks x100 | {} | {} |",
        ms(percentile(&mut describe, 0.5)),
        ms(percentile(&mut describe, 0.95))
    );
    println!("| ListTasks | {} | {} |", ms(percentile(&mut list, 0.5)), ms(percentile(&mut list, 0.95)));
    drop(berth);

    // --- 4. RSS of server and agent, idle and with 50 tasks ------------------------------------------------------
    let mut server = Berth::start(BerthOptions { binary: binary().into(), role: "server", extra_args: vec![] })
        .expect("berth server");
    let agent_dir = server.data_dir.path().join("agent");
    let agent = server.start_agent(&agent_dir, &[]).unwrap();
    let ecs = client(&server);
    wait_for("the agent", Duration::from_secs(30), || async {
        (ecs.list_container_instances().send().await.ok()?.container_instance_arns().len() == 1).then_some(())
    })
    .await
    .unwrap();
    ecs.register_task_definition()
        .family("bench")
        .container_definitions(ContainerDefinition::builder().name("app").image(&image).memory(8).build())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let server_pid = server.pid().unwrap();
    let agent_pid = server.agent_pid(agent).unwrap();
    let (server_idle, agent_idle) = (rss_kib(server_pid), rss_kib(agent_pid));
    let mut arns = Vec::new();
    for _ in 0..5 {
        let out = ecs.run_task().task_definition("bench").count(10).send().await.unwrap();
        arns.extend(out.tasks().iter().filter_map(|t| t.task_arn.clone()));
    }
    for arn in &arns {
        wait_running(&ecs, arn).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (server_busy, agent_busy) = (rss_kib(server_pid), rss_kib(agent_pid));
    println!("\n## Resident memory (VmRSS)");
    println!("| process | idle | with {} running tasks |\n|---|---|---|", arns.len());
    println!("| berth server | {:.1} MiB | {:.1} MiB |", server_idle as f64 / 1024.0, server_busy as f64 / 1024.0);
    println!("| berth agent | {:.1} MiB | {:.1} MiB |", agent_idle as f64 / 1024.0, agent_busy as f64 / 1024.0);
}
