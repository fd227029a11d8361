//! Places a large synthetic workload and prints placements/s and per-placement latency percentiles, and,
//! from the same run, the brute-force reference scheduler's speed on the first tasks (with a check that both
//! chose the same instances).
//!
//! ```text
//! cargo run --release -p berth-scheduler --example place_million -- [--instances 10000]
//!     [--tasks-per-instance 100] [--services 1000] [--batch 1] [--reference 2000] [--seed 1]
//! ```
//! Defaults: 10,000 instances, 1,000 services of 1,000 tasks each (1,000,000 tasks), one task per call.
//! Every service has `distinctInstance`, a `memberOf` expression and `binpack(memory)` then
//! `spread(attribute:ecs.availability-zone)`; see `berth_scheduler::sim`.

#![allow(clippy::disallowed_methods)] // benchmarks time real work

use std::process::ExitCode;
use std::time::{Duration, Instant};

use berth_scheduler::reference::ReferenceState;
use berth_scheduler::{ClusterState, sim};
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Args {
    instances: usize,
    tasks_per_instance: usize,
    services: usize,
    batch: usize,
    reference: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args =
        Args { instances: 10_000, tasks_per_instance: 100, services: 1000, batch: 1, reference: 2000, seed: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value.parse().map_err(|_| format!("{flag}: '{value}' is not a number"))?;
        let n_usize = usize::try_from(n).map_err(|_| format!("{flag}: too large"))?;
        match flag.as_str() {
            "--instances" => args.instances = n_usize,
            "--tasks-per-instance" => args.tasks_per_instance = n_usize,
            "--services" => args.services = n_usize.max(1),
            "--batch" => args.batch = n_usize.max(1),
            "--reference" => args.reference = n_usize,
            "--seed" => args.seed = n,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(ns: u64) -> String {
    format!("{:.2} µs", ns as f64 / 1000.0)
}

fn rate(tasks: usize, elapsed: Duration) -> f64 {
    tasks as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("place_million: {e}");
            return ExitCode::from(2);
        }
    };
    let tasks_per_service = args.instances * args.tasks_per_instance / args.services;
    let total = tasks_per_service * args.services;
    let cluster = sim::cluster(args.instances, args.seed);
    let services = sim::services(args.services, args.seed + 1);
    println!(
        "workload: {} instances, {} services x {} tasks = {} tasks, {} task(s) per place() call",
        args.instances, args.services, tasks_per_service, total, args.batch
    );

    // The reference, on the first tasks of the same schedule, against the engine on the same tasks.
    let sample: Vec<(usize, usize)> = {
        let mut left = args.reference;
        sim::schedule(args.services, tasks_per_service, args.batch)
            .take_while(|&(_, n)| {
                let go = left > 0;
                left = left.saturating_sub(n);
                go
            })
            .collect()
    };
    if !sample.is_empty() {
        let tasks: usize = sample.iter().map(|c| c.1).sum();
        let mut reference = ReferenceState::new(cluster.clone());
        let started = Instant::now();
        let want: Vec<_> = sample
            .iter()
            .enumerate()
            .map(|(k, &(s, n))| reference.place(&services[s], n, &mut StdRng::seed_from_u64(k as u64)))
            .collect();
        let reference_time = started.elapsed();
        let mut engine = ClusterState::new(cluster.clone());
        let started = Instant::now();
        for service in &services {
            engine.warm_up(service);
        }
        let warm_up = started.elapsed();
        let started = Instant::now();
        let got: Vec<_> = sample
            .iter()
            .enumerate()
            .map(|(k, &(s, n))| engine.place(&services[s], n, &mut StdRng::seed_from_u64(k as u64)))
            .collect();
        let engine_time = started.elapsed();
        let same = got == want;
        println!(
            "reference (linear scan), first {tasks} tasks: {:.0} placements/s; engine on the same tasks: {:.0} \
             placements/s (after a {:.1} ms index build); speed-up x{:.0}; identical choices: {same}",
            rate(tasks, reference_time),
            rate(tasks, engine_time),
            warm_up.as_secs_f64() * 1000.0,
            reference_time.as_secs_f64() / engine_time.as_secs_f64().max(1e-9),
        );
        if !same {
            eprintln!("place_million: the engine and the reference chose differently");
            return ExitCode::FAILURE;
        }
    }

    let started = Instant::now();
    let mut state = ClusterState::new(cluster);
    let build = started.elapsed();
    let mut latencies: Vec<u64> = Vec::with_capacity(total / args.batch + 1);
    let (mut placed, mut unplaced) = (0usize, 0usize);
    let started = Instant::now();
    for (k, (s, n)) in sim::schedule(args.services, tasks_per_service, args.batch).enumerate() {
        let mut rng = StdRng::seed_from_u64(k as u64);
        let t0 = Instant::now();
        let p = state.place(&services[s], n, &mut rng);
        let ns = t0.elapsed().as_nanos() as u64;
        latencies.push(ns / n as u64);
        placed += p.placed.len();
        unplaced += n - p.placed.len();
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let (mut used_cpu, mut used_mem, mut cap_cpu, mut cap_mem) = (0i64, 0i64, 0i64, 0i64);
    for i in state.instances() {
        used_cpu += i.registered.cpu - i.remaining.cpu;
        used_mem += i.registered.memory - i.remaining.memory;
        cap_cpu += i.registered.cpu;
        cap_mem += i.registered.memory;
    }
    println!("state built in {:.1} ms", build.as_secs_f64() * 1000.0);
    println!(
        "placed {placed} tasks ({unplaced} found no instance) in {:.2} s: {:.0} placements/s",
        elapsed.as_secs_f64(),
        rate(placed + unplaced, elapsed)
    );
    println!(
        "per-placement latency{}: p50 {}, p99 {}, p99.9 {}, max {}",
        if args.batch > 1 { " (call time / tasks in the call)" } else { "" },
        micros(percentile(&latencies, 50.0)),
        micros(percentile(&latencies, 99.0)),
        micros(percentile(&latencies, 99.9)),
        micros(latencies.last().copied().unwrap_or(0)),
    );
    println!(
        "cluster use after: CPU {:.1}%, memory {:.1}%",
        100.0 * used_cpu as f64 / cap_cpu.max(1) as f64,
        100.0 * used_mem as f64 / cap_mem.max(1) as f64
    );
    ExitCode::SUCCESS
}
