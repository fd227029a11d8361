//! One simulated instance's loop: its desired-state stream, its tasks' timetables, its reports and heartbeats.

use super::task::{Phase, Ports, SimTask};
use super::{Member, Registration, Shared};
use crate::AgentError;
use berth_model::agent::{ReportRequest, StreamMessage};
use futures::{Stream, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

type Messages = Pin<Box<dyn Stream<Item = Result<StreamMessage, AgentError>> + Send>>;

/// The longest wait between retries (seconds), as the real agent's.
const MAX_BACKOFF: f64 = 3.0;

/// What the instance holds.
struct Instance {
    tasks: BTreeMap<String, SimTask>,
    /// Tasks whose current state the server has not acknowledged.
    unacked: BTreeSet<String>,
    ports: Ports,
    /// The desired-state revision last applied.
    revision: i64,
    /// Tasks counted in the fleet's running counter.
    counted_running: i64,
}

impl Instance {
    /// Follows a desired state received at `now`.
    fn apply(&mut self, desired: &berth_model::agent::DesiredState, now: f64, timings: super::task::Timings) {
        self.revision = desired.revision;
        for spec in &desired.tasks {
            match self.tasks.get_mut(&spec.task_arn) {
                Some(task) => {
                    if task.desire(spec, now, timings) {
                        self.unacked.insert(spec.task_arn.clone());
                    }
                }
                None => {
                    let task = SimTask::new(spec, now, timings, &mut self.ports);
                    self.unacked.insert(spec.task_arn.clone());
                    self.tasks.insert(spec.task_arn.clone(), task);
                }
            }
        }
        // A task the server no longer lists is STOPPED on its side: forget it.
        let listed: BTreeSet<&str> = desired.tasks.iter().map(|t| t.task_arn.as_str()).collect();
        self.tasks.retain(|arn, _| listed.contains(arn.as_str()));
        let tasks = &self.tasks;
        self.unacked.retain(|arn| tasks.contains_key(arn));
    }

    /// Moves every task on to what is due at `now`.
    fn advance(&mut self, now: f64) {
        for (arn, task) in &mut self.tasks {
            if task.advance(now) {
                self.unacked.insert(arn.clone());
            }
        }
    }

    /// The next moment a task step is due.
    fn next_due(&self) -> Option<f64> {
        self.tasks.values().filter_map(SimTask::next_due).reduce(f64::min)
    }

    /// Updates the fleet's counters and the member's count of service tasks.
    fn count(&mut self, shared: &Shared, member: &Member) {
        let live = |t: &&SimTask| matches!(t.phase(), Phase::Running | Phase::Stopping);
        let running = self.tasks.values().filter(live).count() as i64;
        shared.counters.running.fetch_add(running - self.counted_running, Ordering::Relaxed);
        self.counted_running = running;
        let service = self.tasks.values().filter(|t| t.phase() != Phase::Stopped && t.is_service_task()).count();
        member.service_tasks.store(service, Ordering::Relaxed);
    }
}

/// Runs one instance until it is silenced (or superseded).
pub(super) async fn run(shared: Arc<Shared>, member: Arc<Member>, mut registration: Registration) {
    let clock = shared.clock.clone();
    let timings = shared.config.timings;
    let holds_stream = member.index < shared.config.streams;
    let mut me = Instance {
        tasks: BTreeMap::new(),
        unacked: BTreeSet::new(),
        ports: Ports::default(),
        revision: 0,
        counted_running: 0,
    };
    let mut stream: Option<Messages> = None;
    let mut stream_backoff = 0.1;
    let mut open_stream_at = clock.now();
    // The first heartbeat at a random point of the interval, so that thousands of instances do not beat together.
    let beat = registration.heartbeat.as_secs_f64();
    let mut next_beat = clock.now() + beat * rand::random::<f64>();
    let mut report_backoff = 0.1;
    let mut retry_at = 0.0;
    while !member.silenced.load(Ordering::SeqCst) {
        let now = clock.now();
        if holds_stream && stream.is_none() && now >= open_stream_at {
            let opened = tokio::select! {
                opened = shared.client.stream(&registration.token) => opened,
                () = member.wake.notified() => break,
            };
            match opened {
                Ok(messages) => {
                    stream = Some(Box::pin(messages));
                    shared.counters.streams.fetch_add(1, Ordering::Relaxed);
                    stream_backoff = 0.1;
                }
                Err(AgentError::Unauthorized(_)) => {
                    let Some(again) = rejoin(&shared, &member, &registration).await else { break };
                    registration = again;
                    continue;
                }
                Err(AgentError::Superseded(_)) => break,
                Err(error) => {
                    tracing::debug!(%error, instance = %member.arn, "cannot open the desired-state stream");
                    open_stream_at = now + stream_backoff;
                    stream_backoff = (stream_backoff * 2.0).min(MAX_BACKOFF);
                }
            }
        }
        let mut wake = me.next_due().map_or(next_beat, |due| due.min(next_beat));
        if !me.unacked.is_empty() {
            wake = wake.min(retry_at);
        }
        if holds_stream && stream.is_none() {
            wake = wake.min(open_stream_at);
        }
        let message = async {
            match stream.as_mut() {
                Some(messages) => messages.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = message => match message {
                Some(Ok(StreamMessage::Desired(desired))) => me.apply(&desired, clock.now(), timings),
                // Heartbeats keep the stream alive; a simulated host has nothing to exec into or update.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    stream = None;
                    shared.counters.streams.fetch_sub(1, Ordering::Relaxed);
                    open_stream_at = clock.now() + stream_backoff;
                }
            },
            () = clock.sleep_until(wake) => {}
            () = member.wake.notified() => {}
        }
        if member.silenced.load(Ordering::SeqCst) {
            break;
        }
        let now = clock.now();
        me.advance(now);
        if (me.unacked.is_empty() || now < retry_at) && now < next_beat {
            me.count(&shared, &member);
            continue;
        }
        let sent: Vec<String> = me.unacked.iter().cloned().collect();
        let request = ReportRequest {
            tasks: sent.iter().filter_map(|arn| me.tasks.get(arn)).map(SimTask::report).collect(),
            applied_revision: me.revision,
            usage: Vec::new(),
        };
        match shared.report(&registration.token, &request).await {
            Ok(response) => {
                for arn in &sent {
                    me.unacked.remove(arn);
                }
                for arn in &response.unknown_task_arns {
                    me.tasks.remove(arn);
                    me.unacked.remove(arn);
                }
                next_beat = clock.now() + beat;
                report_backoff = 0.1;
                retry_at = 0.0;
            }
            Err(AgentError::Unauthorized(_)) => {
                let Some(again) = rejoin(&shared, &member, &registration).await else { break };
                registration = again;
            }
            Err(AgentError::Superseded(_)) => break,
            Err(error) => {
                tracing::debug!(%error, instance = %member.arn, "report failed; retrying");
                retry_at = clock.now() + report_backoff;
                next_beat = next_beat.max(retry_at);
                report_backoff = (report_backoff * 2.0).min(MAX_BACKOFF);
            }
        }
        me.count(&shared, &member);
    }
    if stream.is_some() {
        shared.counters.streams.fetch_sub(1, Ordering::Relaxed);
    }
    shared.counters.running.fetch_sub(me.counted_running, Ordering::Relaxed);
    member.service_tasks.store(0, Ordering::Relaxed);
}

/// Registers again as the same instance after the server refused its token (`None`: it cannot).
async fn rejoin(shared: &Shared, member: &Member, registration: &Registration) -> Option<Registration> {
    match shared.register(member.index, Some(registration)).await {
        Ok(again) => Some(again),
        Err(error) => {
            tracing::warn!(%error, instance = %member.arn, "a simulated instance cannot register again; it stops");
            None
        }
    }
}
