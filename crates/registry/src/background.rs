//! The registry's background jobs (pull-time flushing, lifecycle policies, upload expiry, garbage collection,
//! continuous scanning) as one controller on `berth_runtime`, a key per job.
//!
//! Each job runs one period after the registry starts and then one period after each run ends (the periods come
//! from [`crate::RegistryConfig`]); a failing job backs off on its own ([`BACKOFF`]) without holding up the
//! others. Time comes from the registry's `Clock`, so a test drives the jobs with a `ManualClock` and no sleeps.
//! Store changes trigger nothing: the controller follows the index's revision only because the runtime needs a
//! source, and the jobs read the current state whenever they run.

use crate::Registry;
use berth_runtime::{Action, Backoff, Controller, Reconciler, Trigger};
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

#[cfg(test)]
mod tests;

/// How often pull times kept in memory are written to the store.
const FLUSH_PULLS_EVERY: Duration = Duration::from_secs(30);

/// How often the advisory database is checked for a change that continuous scanning re-scans for.
const CONTINUOUS_SCAN_EVERY: Duration = Duration::from_secs(60);

/// The shortest period of any job (a guard against a zero interval in the configuration).
const MIN_PERIOD: Duration = Duration::from_millis(10);

/// The error policy: a failing job is retried after 5 s, doubling up to 5 minutes.
pub const BACKOFF: Backoff = Backoff { initial: 5.0, max: 300.0 };

/// One background job: a key of the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// Writes the pull times kept in memory to the image records.
    FlushPulls,
    /// Applies every repository's lifecycle policy.
    Lifecycle,
    /// Deletes upload sessions idle for longer than `upload_ttl`.
    ExpireUploads,
    /// Collects unreferenced blobs.
    Gc,
    /// Re-scans the images under CONTINUOUS_SCAN rules when the advisory database changed.
    ContinuousScan,
}

impl Job {
    /// Every job.
    pub const ALL: [Job; 5] = [Job::FlushPulls, Job::Lifecycle, Job::ExpireUploads, Job::Gc, Job::ContinuousScan];
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Job::FlushPulls => "flush-pulls",
            Job::Lifecycle => "lifecycle",
            Job::ExpireUploads => "expire-uploads",
            Job::Gc => "gc",
            Job::ContinuousScan => "continuous-scan",
        })
    }
}

/// The jobs' reconciler. It holds the registry weakly, so the controller does not keep a dropped registry alive.
struct Jobs {
    registry: Weak<Registry>,
    periods: [(Job, f64); 5],
    /// The jobs this controller runs.
    jobs: Vec<Job>,
}

impl Jobs {
    fn period(&self, job: Job) -> f64 {
        self.periods.iter().find(|(j, _)| *j == job).map_or(MIN_PERIOD.as_secs_f64(), |(_, p)| *p)
    }
}

impl Reconciler for Jobs {
    type Key = Job;
    type Error = String;

    fn keys(&self) -> Vec<Job> {
        self.jobs.clone()
    }

    /// Timers only: a store change is no reason to run a job.
    fn changed_keys(&self, _revision: i64) -> Vec<Job> {
        Vec::new()
    }

    async fn reconcile(&self, job: Job, trigger: Trigger) -> Result<Action, String> {
        let period = self.period(job);
        if matches!(trigger, Trigger::Startup | Trigger::Leader) {
            return Ok(Action::requeue(period)); // the first run is one period after the start
        }
        let Some(registry) = self.registry.upgrade() else { return Ok(Action::await_change()) };
        let summary = registry.run_job(job).await.map_err(|e| format!("registry job {job}: {e}"))?;
        tracing::debug!(%job, %summary, "registry background job done");
        Ok(Action::requeue(period))
    }
}

/// The periods of the jobs under `config`, in seconds.
fn periods(config: &crate::RegistryConfig) -> [(Job, f64); 5] {
    let upload_sweep = config.upload_ttl.clamp(Duration::from_secs(1), Duration::from_secs(3600));
    [
        (Job::FlushPulls, FLUSH_PULLS_EVERY),
        (Job::Lifecycle, config.lifecycle_interval),
        (Job::ExpireUploads, upload_sweep),
        (Job::Gc, config.gc_interval),
        (Job::ContinuousScan, CONTINUOUS_SCAN_EVERY),
    ]
    .map(|(job, period)| (job, period.max(MIN_PERIOD).as_secs_f64()))
}

/// The controllers running `registry`'s background jobs, on its clock: the pull times this server recorded in
/// memory are flushed on every server; the other jobs (lifecycle, upload expiry, GC, scans) change shared state
/// and run on the leader only, among several servers.
pub(crate) fn controllers(registry: &Arc<Registry>) -> [Controller<impl Reconciler<Key = Job>>; 2] {
    let shared: Vec<Job> = Job::ALL.into_iter().filter(|j| *j != Job::FlushPulls).collect();
    [
        controller(registry, "registry", shared),
        controller(registry, "registry-pulls", vec![Job::FlushPulls]).everywhere(),
    ]
}

fn controller(registry: &Arc<Registry>, name: &'static str, jobs: Vec<Job>) -> Controller<Jobs> {
    let jobs = Jobs { registry: Arc::downgrade(registry), periods: periods(&registry.config), jobs };
    Controller::new(name, Arc::new(jobs), registry.clock.clone(), registry.index.subscribe())
        .with_backoff(BACKOFF)
        .with_max_concurrent(Job::ALL.len())
}
