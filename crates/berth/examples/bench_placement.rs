//! Issue 10's placement benchmark (acceptance item 3, live placement state), for each cluster size (1,000 and
//! 10,000 simulated instances by default):
//!
//! 1. the pure engine: `berth_scheduler::ClusterState::place` of one task at a time on a state of the same
//!    instances (same attributes, zones and resources) and the same demand, in this process;
//! 2. the control plane's placement step alone, in this process: the old path (the scheduler's view rebuilt from
//!    every instance record on every call) against placing on the live state
//!    (`berth_control::placement_bench`);
//! 3. through the real API: a `berth server` with that many simulated instances (`sim_agents`: the real agent
//!    protocol, registration, desired-state streams, reports; no Docker), three services of 200 tasks whose
//!    desired counts keep changing (so the service scheduler places and stops while we measure), and RunTask from
//!    concurrent aws-sdk-ecs clients: throughput and client-side latency (p50, p99).
//!
//! Run: `cargo build --release -p berth && cargo run --release -p berth --example bench_placement`
//! (`BERTH_BIN` overrides the binary; `BENCH_SIZES` the sizes, default `1000,10000`; `BENCH_RUNTASKS` the
//! RunTask calls per size, default 3000; `BENCH_CLIENTS` the concurrent clients, default 32; `BENCH_STREAMS`
//! how many instances hold a desired-state stream, default all).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly; benchmarks time real work

mod sim_agents;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::ContainerDefinition;
use berth_scheduler::{ClusterState, Instance, Resources};
use berth_testkit::{Berth, BerthOptions, wait_for};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn binary() -> String {
    std::env::var("BERTH_BIN")
        .unwrap_or_else(|_| format!("{}/target/release/berth", berth_testkit::workspace_root().display()))
}

/// The pure engine on `n` instances shaped like the simulated ones: per-call latencies of `calls` placements of
/// one task (RunTask's default strategy), sorted, the calls per second, and the median time to clone the whole
/// state (what a copy-per-placement design would pay on every call).
fn engine_figure(n: usize, calls: usize) -> (Vec<Duration>, f64, Duration) {
    let capabilities = berth_model::capabilities::supported();
    let instances: Vec<Instance> = (0..n)
        .map(|i| {
            let mut instance = Instance::new(
                format!("arn:aws:ecs:us-east-1:000000000000:container-instance/bench/{i:032x}"),
                Resources::new(sim_agents::CPU, sim_agents::MEMORY_MIB),
            );
            for name in &capabilities {
                instance.attributes.insert(name.clone(), None);
            }
            instance.with_attribute("ecs.availability-zone", Some(&format!("zone-{}", i % 3)))
        })
        .collect();
    let mut state = ClusterState::new(instances);
    let demand = berth_control::placement_bench::bench_demand();
    state.warm_up(&demand);
    let mut rng = rand::rng();
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        let placed = state.place(&demand, 1, &mut rng);
        samples.push(t.elapsed());
        assert_eq!(placed.placed.len(), 1);
    }
    let rate = calls as f64 / started.elapsed().as_secs_f64();
    samples.sort();
    let mut clones: Vec<Duration> = (0..11)
        .map(|_| {
            let t = Instant::now();
            let copy = state.clone();
            let took = t.elapsed();
            drop(copy);
            took
        })
        .collect();
    clones.sort();
    (samples, rate, clones[5])
}

/// What the RunTask phase measured.
struct ApiFigure {
    latencies: Vec<Duration>,
    rate: f64,
    register: Duration,
    service_tasks: usize,
    reports: u64,
}

async fn api_figure(n: usize, calls: usize, clients: usize, streams: usize) -> ApiFigure {
    let berth = Berth::start(BerthOptions {
        binary: binary().into(),
        role: "server",
        extra_args: [
            "--api-rate-limit",
            "0",
            // Simulated agents heartbeat every 20 s instead of 3 s: 10,000 agents at 3 s would be 3,300 reports a
            // second before any work.
            "--agent-timeout-seconds",
            "120",
            "--lost-instance-timeout-seconds",
            "600",
        ]
        .map(String::from)
        .to_vec(),
    })
    .expect("berth server");
    let ecs: Client = berth_testkit::ecs_client(&berth);
    ecs.create_cluster().cluster_name("bench").send().await.unwrap();
    let started = Instant::now();
    let sims = sim_agents::start(
        &berth.url(),
        &berth.join_token().unwrap(),
        "bench",
        n,
        streams.min(n),
        Duration::from_secs(20),
    )
    .await;
    wait_for("every simulated instance to connect", Duration::from_secs(600), || async {
        let mut connected = 0;
        let mut next = None;
        loop {
            let page = ecs
                .list_container_instances()
                .cluster("bench")
                .filter("agentConnected == true")
                .set_next_token(next)
                .max_results(100)
                .send()
                .await
                .ok()?;
            connected += page.container_instance_arns().len();
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        (connected == n).then_some(())
    })
    .await
    .unwrap();
    let register = started.elapsed();
    ecs.register_task_definition()
        .family("bench")
        .container_definitions(
            ContainerDefinition::builder().name("app").image("simulated").cpu(16).memory(32).essential(true).build(),
        )
        .send()
        .await
        .unwrap();
    for s in 0..3 {
        ecs.create_service()
            .cluster("bench")
            .service_name(format!("svc-{s}"))
            .task_definition("bench")
            .desired_count(200)
            .send()
            .await
            .unwrap();
    }
    // The service scheduler keeps working while RunTask is measured: every 2 s each service's desired count
    // moves between 150 and 250.
    let flapper = {
        let ecs = ecs.clone();
        tokio::spawn(async move {
            for round in 0u32.. {
                tokio::time::sleep(Duration::from_secs(2)).await;
                for s in 0..3 {
                    let count = if (round + s) % 2 == 0 { 250 } else { 150 };
                    let _ = ecs
                        .update_service()
                        .cluster("bench")
                        .service(format!("svc-{s}"))
                        .desired_count(count)
                        .send()
                        .await;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..clients {
        let ecs = ecs.clone();
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            for _ in 0..calls / clients {
                let t = Instant::now();
                let out = ecs.run_task().cluster("bench").task_definition("bench").send().await.unwrap();
                samples.push(t.elapsed());
                assert_eq!(out.tasks().len(), 1, "{:?}", out.failures());
            }
            samples
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    flapper.abort();
    let mut service_tasks = 0;
    let mut next = None;
    loop {
        let page = ecs.list_tasks().cluster("bench").set_next_token(next).max_results(100).send().await.unwrap();
        service_tasks += page.task_arns().len();
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    let reports = sims.counters().reports.load(std::sync::atomic::Ordering::Relaxed);
    drop(sims);
    drop(berth);
    latencies.sort();
    ApiFigure { latencies, rate, register, service_tasks: service_tasks.saturating_sub(calls), reports }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let calls = env_usize("BENCH_RUNTASKS", 3000);
    let clients = env_usize("BENCH_CLIENTS", 32);
    let streams = env_usize("BENCH_STREAMS", usize::MAX);
    for n in sizes {
        println!("\n### {n} instances\n");
        let (engine, engine_rate, clone) = engine_figure(n, 20_000);
        let cost = berth_control::placement_bench::measure(n, 40);
        println!("In this process (one task per call, RunTask's default strategy):\n");
        println!("| path | calls/s | p50 | p99 |\n|---|---|---|---|");
        println!(
            "| pure engine (`ClusterState::place`) | {engine_rate:.0} | {} | {} |",
            us(percentile(&engine, 0.5)),
            us(percentile(&engine, 0.99))
        );
        let per_second = |v: &[Duration]| v.len() as f64 / v.iter().sum::<Duration>().as_secs_f64();
        println!(
            "| control plane, live state (place + give back) | {:.0} | {} | {} |",
            per_second(&cost.live),
            us(percentile(&cost.live, 0.5)),
            us(percentile(&cost.live, 0.99))
        );
        println!(
            "| control plane, old path (view rebuilt from the records per call) | {:.0} | {} | {} |",
            per_second(&cost.rebuild),
            ms(percentile(&cost.rebuild, 0.5)),
            ms(percentile(&cost.rebuild, 0.99))
        );
        println!("\nBuilding the live state from the records once (the cache's list): {}", ms(cost.initial_build));
        println!("Cloning the engine's state (a copy per placement would pay this per call): {}", ms(clone));
        let api = api_figure(n, calls, clients, streams).await;
        println!(
            "\nThrough the API ({} RunTask calls from {clients} concurrent clients, {} instances with a stream, \
             3 services of 150-250 tasks rescaled every 2 s; registering and connecting the instances took {:.1} s; \
             {} service tasks at the end; the simulated agents sent {} reports of task changes):\n",
            api.latencies.len(),
            streams.min(n),
            api.register.as_secs_f64(),
            api.service_tasks,
            api.reports
        );
        println!("| RunTask | tasks/s | p50 | p99 |\n|---|---|---|---|");
        println!(
            "| through the API | {:.0} | {} | {} |",
            api.rate,
            ms(percentile(&api.latencies, 0.5)),
            ms(percentile(&api.latencies, 0.99))
        );
    }
}
