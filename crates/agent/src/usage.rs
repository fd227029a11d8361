//! What the instance's running tasks use: every [`SAMPLE_EVERY`] the agent reads Docker's stats of each running
//! task container and sends, with its next report, each task's CPU (ECS CPU units, averaged since the previous
//! sample) and memory (without the page cache, as ECS's agent counts it). The control plane turns these into the
//! `AWS/ECS` CPUUtilization and MemoryUtilization series.
//!
//! CPU comes from the cumulative `cpu_stats.cpu_usage.total_usage` (nanoseconds of CPU time) between two samples
//! of the same container, over the time between their `read` stamps; a container's first sample only primes its
//! counters (the engine's own one-second window says little of a task's load), so a task is first reported one
//! interval after it started.

use crate::convert::{LABEL_INSTANCE_ARN, LABEL_TASK_ARN};
use crate::runtime::ContainerRuntime;
use berth_model::agent::TaskUsage;
use berth_model::clock::Clock;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the agent samples its tasks (ECS's agent: every 10 s, too).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// ECS CPU units in one core.
const UNITS_PER_CORE: f64 = 1024.0;

/// One container's counters at a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counters {
    /// CPU time used since the container started, in nanoseconds.
    cpu_ns: f64,
    /// When Docker read them, in nanoseconds since the epoch.
    read_ns: f64,
}

/// Samples tasks and keeps what the next report sends.
#[derive(Debug, Default)]
pub struct Usage {
    previous: Mutex<HashMap<String, Counters>>,
    pending: Mutex<Vec<TaskUsage>>,
}

impl Usage {
    /// Samples every running task container of the agent `instance_arn` names once; the result waits for
    /// [`Usage::take`].
    pub async fn sample<R: ContainerRuntime>(&self, runtime: &R, instance_arn: &str, now: f64) {
        let containers = match runtime.list_containers(LABEL_INSTANCE_ARN, Some(instance_arn)).await {
            Ok(containers) => containers,
            Err(error) => {
                tracing::debug!(%error, "usage: cannot list the task containers");
                return;
            }
        };
        let mut by_task: BTreeMap<String, Option<TaskUsage>> = BTreeMap::new();
        let mut seen = Vec::new();
        for container in containers.iter().filter(|c| c.running) {
            let Some(task_arn) = container.labels.get(LABEL_TASK_ARN) else { continue };
            let stats = match runtime.container_stats(&container.id).await {
                Ok(stats) => stats,
                Err(error) => {
                    tracing::debug!(container = %container.id, %error, "usage: no stats");
                    continue;
                }
            };
            seen.push(container.id.clone());
            let read = self.read(&container.id, &stats);
            let task = by_task.entry(task_arn.clone()).or_insert_with(|| {
                Some(TaskUsage { task_arn: task_arn.clone(), sampled_at: now, ..Default::default() })
            });
            // A task with a container sampled for the first time waits for the next interval.
            match (read, task.as_mut()) {
                (Some((cores, memory_mib)), Some(task)) => {
                    task.cpu_units += cores * UNITS_PER_CORE;
                    task.memory_mib += memory_mib;
                }
                _ => *task = None,
            }
        }
        metrics::gauge!("berth_agent_running_task_containers").set(seen.len() as f64);
        lock(&self.previous).retain(|id, _| seen.contains(id));
        *lock(&self.pending) = by_task.into_values().flatten().collect();
    }

    /// Cores used since this container's previous sample, and memory in MiB, from one stats sample; `None` for
    /// its first sample.
    fn read(&self, id: &str, stats: &serde_json::Value) -> Option<(f64, f64)> {
        let now = counters(stats)?;
        let before = lock(&self.previous).insert(id.to_string(), now)?;
        let cores = if now.read_ns > before.read_ns && now.cpu_ns >= before.cpu_ns {
            (now.cpu_ns - before.cpu_ns) / (now.read_ns - before.read_ns)
        } else {
            0.0
        };
        Some((cores, memory_mib(stats)))
    }

    /// The samples not yet reported (they go with the next report).
    pub fn take(&self) -> Vec<TaskUsage> {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// Samples every [`SAMPLE_EVERY`] on the agent's clock, for ever.
    pub async fn run<R: ContainerRuntime>(
        self: Arc<Self>,
        runtime: Arc<R>,
        clock: Arc<dyn Clock>,
        session: Arc<crate::session::Session>,
    ) {
        loop {
            let next = clock.now() + SAMPLE_EVERY.as_secs_f64();
            self.sample(&*runtime, &session.instance_arn(), clock.now()).await;
            clock.sleep_until(next).await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A sample's CPU counters.
fn counters(stats: &serde_json::Value) -> Option<Counters> {
    let cpu_ns = stats["cpu_stats"]["cpu_usage"]["total_usage"].as_f64()?;
    let read_ns = crate::runtime::parse_timestamp_ns(stats["read"].as_str()?)? as f64;
    Some(Counters { cpu_ns, read_ns })
}

/// Memory in use without the page cache, in MiB (cgroup v2 `inactive_file`, or v1 `cache`).
fn memory_mib(stats: &serde_json::Value) -> f64 {
    let memory = &stats["memory_stats"];
    let usage = memory["usage"].as_f64().unwrap_or(0.0);
    let cache = memory["stats"]["inactive_file"].as_f64().or_else(|| memory["stats"]["cache"].as_f64()).unwrap_or(0.0);
    (usage - cache).max(0.0) / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats(cpu_ns: f64, read: &str) -> serde_json::Value {
        json!({
            "read": read,
            "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}},
            "memory_stats": {"usage": 300.0 * 1048576.0, "stats": {"inactive_file": 100.0 * 1048576.0}}
        })
    }

    #[test]
    fn cpu_is_averaged_between_samples_and_memory_leaves_out_the_page_cache() {
        let usage = Usage::default();
        assert_eq!(usage.read("c", &stats(10.0e9, "2026-11-29T10:00:01Z")), None, "the first sample primes");
        // Ten seconds later, 5 s of CPU more: half a core on average.
        let (cores, mib) = usage.read("c", &stats(15.0e9, "2026-11-29T10:00:11Z")).unwrap();
        assert!((cores - 0.5).abs() < 1e-9, "{cores}");
        assert!((mib - 200.0).abs() < 1e-9, "{mib}");
    }

    #[test]
    fn missing_counters_read_as_nothing() {
        let usage = Usage::default();
        assert_eq!(usage.read("c", &json!({})), None);
    }
}
