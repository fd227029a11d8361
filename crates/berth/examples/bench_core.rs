//! Issue 2's benchmarks, in one run on this machine:
//!
//! 1. RunTask -> RUNNING latency (p50, p95) against `docker run -d` of the same local image, interleaved;
//! 2. RunTask accept throughput (tasks placed per second by concurrent clients; the instance has no agent, so
//!    only the control plane is measured);
//! 3. DescribeTasks of 100 tasks, and ListTasks, latency;
//! 4. resident memory of `berth server` and `berth agent`, idle and with 50 running tasks.
//!
//! Run: `cargo build --release -p berth && cargo run --release -p berth --example bench_core`
//! (`BERTH_BIN` overrides the binary; `BENCH_TASKS` the number of latency samples, default 30).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerDefinition, PortMapping};
use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use std::time::{Duration, Instant};

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

async fn wait_running(client: &Client, arn: &str) -> Duration {
    let start = Instant::now();
    loop {
        let out = client.describe_tasks().tasks(arn).send().await.expect("describe");
        if out.tasks().first().and_then(|t| t.last_status.as_deref()) == Some("RUNNING") {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
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
    let (mut berth_lat, mut docker_lat) = (Vec::new(), Vec::new());
    // One warm-up of each, not counted.
    for i in 0..=samples {
        let start = Instant::now();
        let id = docker(&["run", "-d", "-p", "0:8080", "--memory", "16m", &image]).expect("docker run");
        let docker_took = start.elapsed();
        let _ = docker(&["rm", "-f", &id]);

        let start = Instant::now();
        let run = ecs.run_task().task_definition("bench").send().await.unwrap();
        let arn = run.tasks()[0].task_arn.clone().unwrap();
        wait_running(&ecs, &arn).await;
        let berth_took = start.elapsed();
        ecs.stop_task().task(&arn).send().await.unwrap();
        if i > 0 {
            docker_lat.push(docker_took);
            berth_lat.push(berth_took);
        }
    }
    let (b50, b95) = (percentile(&mut berth_lat, 0.5), percentile(&mut berth_lat, 0.95));
    let (d50, d95) = (percentile(&mut docker_lat, 0.5), percentile(&mut docker_lat, 0.95));
    println!("\n## RunTask -> RUNNING vs docker run -d ({samples} tasks each, interleaved, image local)");
    println!("| | p50 | p95 |\n|---|---|---|");
    println!("| Berth RunTask -> RUNNING | {} | {} |", ms(b50), ms(b95));
    println!("| docker run -d | {} | {} |", ms(d50), ms(d95));
    println!(
        "| ratio (Berth / docker) | {:.2}x | {:.2}x |",
        b50.as_secs_f64() / d50.as_secs_f64(),
        b95.as_secs_f64() / d95.as_secs_f64()
    );

    // --- 2. RunTask accept throughput on an agentless instance --------------------------------------------------
    ecs.create_cluster().cluster_name("accept").send().await.unwrap();
    let token = simulated_agent(&berth, "accept").await;
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
