//! Simulated agents for benchmarks, in the benchmark's own process: [`berth_agent::simulate`] (what
//! `berth agent --simulate N` runs), with tasks reported RUNNING and STOPPED as soon as the server asks (no start or
//! stop delay), so that only the control plane is measured.

use berth_agent::simulate::{self, Fleet, SimulateConfig, task::Timings};
use berth_model::clock::SystemClock;
use std::sync::Arc;
use std::time::Duration;

/// CPU units each simulated instance offers.
pub const CPU: i64 = simulate::CPU_UNITS;
/// Memory (MiB) each simulated instance offers.
pub const MEMORY_MIB: i64 = simulate::MEMORY_MIB;

/// Registers `n` instances in `cluster`; the first `streams` of them hold a desired-state stream and answer it, all
/// heartbeat every `heartbeat`. They stop when the fleet drops.
pub async fn start(url: &str, join_token: &str, cluster: &str, n: usize, streams: usize, heartbeat: Duration) -> Fleet {
    let mut config = SimulateConfig::new(url, join_token, cluster, n);
    config.streams = streams;
    config.heartbeat = Some(heartbeat);
    config.timings = Timings { start: Duration::ZERO, stop: Duration::ZERO };
    simulate::start(config, Arc::new(SystemClock)).await.expect("the simulated instances join")
}
