//! `berth agent --simulate N`: N simulated container instances from this process (see [`berth_agent::simulate`]),
//! for scale tests and benchmarks. SIGUSR1 silences `--simulate-lose` of them, as if their hosts lost power.

use crate::cli::AgentArgs;
use anyhow::{Context, Result};
use berth_agent::simulate::{self, SimulateConfig, task::Timings};
use berth_model::clock::SystemClock;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the fleet's counters are logged.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// The simulation's settings from the agent's command line.
pub fn config(args: &AgentArgs, count: usize) -> SimulateConfig {
    let mut config = SimulateConfig::new(&args.server, &args.join_token, &args.cluster, count);
    let sim = &args.simulate;
    config.timings = Timings {
        start: Duration::from_millis(sim.simulate_start_ms),
        stop: Duration::from_millis(sim.simulate_stop_ms),
    };
    config.heartbeat = sim.simulate_heartbeat_seconds.map(Duration::from_secs);
    let node = &args.node;
    config.cpu_units = node.cpu_units.unwrap_or(simulate::CPU_UNITS);
    config.memory_mib = node.memory_mib.unwrap_or(simulate::MEMORY_MIB);
    config.attributes = node.attributes.iter().cloned().collect();
    if let Some(zone) = &node.availability_zone {
        config.zones = vec![zone.clone()];
    }
    if let Some(instance_type) = &node.instance_type {
        config.instance_type = instance_type.clone();
    }
    if let Some(hostname) = &node.hostname {
        config.hostname = hostname.clone();
    }
    config.capacity = super::agent::capacity(node, &[berth_model::agent::Capacity::Ec2]);
    config.node_group = node.node_group.clone();
    config.server_ca = args.server_ca.clone();
    config
}

/// Runs the simulated instances until the process is told to stop.
pub async fn run(args: AgentArgs, count: usize) -> Result<()> {
    let lose = args.simulate.simulate_lose;
    let config = config(&args, count);
    let clock = Arc::new(SystemClock);
    let started = berth_model::clock::Clock::monotonic(clock.as_ref());
    tracing::info!(count, cluster = %config.cluster, "registering simulated container instances");
    let fleet = simulate::start(config, clock.clone()).await.context("the simulated instances could not join")?;
    let seconds = berth_model::clock::Clock::monotonic(clock.as_ref()).saturating_duration_since(started).as_secs_f64();
    tracing::info!(count, seconds, "simulated container instances joined");
    let counters = fleet.counters().clone();
    let status = async {
        loop {
            tokio::time::sleep(STATUS_EVERY).await;
            tracing::info!(
                registered = counters.registered.load(Ordering::Relaxed),
                streams = counters.streams.load(Ordering::Relaxed),
                running_tasks = counters.running.load(Ordering::Relaxed),
                task_reports = counters.reports.load(Ordering::Relaxed),
                heartbeats = counters.heartbeats.load(Ordering::Relaxed),
                failed_reports = counters.failed_reports.load(Ordering::Relaxed),
                lost = counters.lost.load(Ordering::Relaxed),
                "simulated instances"
            );
        }
    };
    let losses = async {
        let Ok(mut signals) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) else {
            return std::future::pending().await;
        };
        while signals.recv().await.is_some() {
            let lost = fleet.lose(lose);
            tracing::warn!(count = lost.len(), instances = ?lost, "SIGUSR1: simulated instances silenced");
        }
    };
    tokio::select! {
        () = status => Ok(()),
        () = losses => Ok(()),
        () = super::server::shutdown_signal() => Ok(()),
    }
}
