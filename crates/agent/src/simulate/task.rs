//! One simulated task: the states a real agent reports for it, on a timetable instead of Docker's events.
//!
//! A task the server assigns is reported PENDING at once (its image pull started), RUNNING after
//! [`Timings::start`] (pulled and started: containers with runtime ids, host ports bound), and, when its containers
//! have a health check, HEALTHY one check interval later (Docker runs the first check after the interval). When
//! the server wants it stopped it is reported STOPPING at once and STOPPED after [`Timings::stop`], its containers
//! with the exit code of a process ended by SIGTERM. A task the server wants stopped before it started goes straight
//! to STOPPED, without exit codes.

use berth_model::Timestamp;
use berth_model::agent::{ContainerReport, TaskReport, TaskSpec};
use berth_model::ecs::{NetworkBinding, NetworkMode, TransportProtocol};
use std::time::Duration;

/// How long the simulated steps take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// From receiving a task to reporting it RUNNING (a real host's image pull and container start).
    pub start: Duration,
    /// From the server asking for a stop to reporting the task STOPPED (a real container's stop).
    pub stop: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self { start: Duration::from_millis(500), stop: Duration::from_millis(200) }
    }
}

/// The exit code of a container stopped at the server's request: a process ended by SIGTERM (128 + 15).
pub const STOPPED_EXIT_CODE: i32 = 143;

/// The health check interval ECS uses when a definition gives none (seconds).
const DEFAULT_HEALTH_INTERVAL: f64 = 30.0;

/// The first host port given to a container port mapped without one (Docker's ephemeral range on Linux).
pub const FIRST_EPHEMERAL_PORT: u16 = 32768;

/// Where a simulated task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Received; "pulling" until its start is due.
    Pending,
    /// Running.
    Running,
    /// Asked to stop; "stopping" until its stop is due.
    Stopping,
    /// Stopped.
    Stopped,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "PENDING",
            Phase::Running => "RUNNING",
            Phase::Stopping => "STOPPING",
            Phase::Stopped => "STOPPED",
        }
    }
}

#[derive(Debug, Clone)]
struct Container {
    name: String,
    runtime_id: String,
    /// Seconds between health checks, when the container has one.
    health_interval: Option<f64>,
    bindings: Vec<NetworkBinding>,
}

/// Host ports handed out by one simulated instance to container ports mapped without a host port.
#[derive(Debug, Clone)]
pub struct Ports {
    next: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self { next: FIRST_EPHEMERAL_PORT }
    }
}

impl Ports {
    /// The next ephemeral port (wrapping within 32768-60999, like Linux's default range).
    pub fn take(&mut self) -> u16 {
        let port = self.next;
        self.next = if self.next >= 60999 { FIRST_EPHEMERAL_PORT } else { self.next + 1 };
        port
    }
}

/// A fresh 64-hex-digit runtime id, like a Docker container id.
fn runtime_id() -> String {
    format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>())
}

/// One simulated task.
#[derive(Debug, Clone)]
pub struct SimTask {
    arn: String,
    group: Option<String>,
    phase: Phase,
    containers: Vec<Container>,
    received_at: Timestamp,
    /// When it is (or was) RUNNING.
    running_at: Timestamp,
    /// When its checked containers turn HEALTHY (`None`: no health check).
    healthy_at: Option<Timestamp>,
    healthy: bool,
    /// Whether it ever ran (stopped before starting: no exit codes).
    started: bool,
    stopping_at: Option<Timestamp>,
    /// When it is (or was) STOPPED.
    stopped_at: Option<Timestamp>,
}

impl SimTask {
    /// A task the server assigned at `now`: PENDING, RUNNING once `timings.start` has passed, or already stopping
    /// when the server wants it stopped.
    pub fn new(spec: &TaskSpec, now: Timestamp, timings: Timings, ports: &mut Ports) -> Self {
        let host_networked = matches!(spec.network_mode, NetworkMode::Host | NetworkMode::Awsvpc);
        let containers: Vec<Container> = spec
            .containers
            .iter()
            .map(|c| {
                let d = &c.definition;
                let bindings = d
                    .port_mappings
                    .iter()
                    .flatten()
                    .filter_map(|m| {
                        let container_port = m.container_port?;
                        let host_port = match m.host_port.filter(|p| *p > 0) {
                            Some(port) => port,
                            None if host_networked => container_port,
                            None => i32::from(ports.take()),
                        };
                        Some(NetworkBinding {
                            bind_ip: Some("0.0.0.0".into()),
                            container_port: Some(container_port),
                            host_port: Some(host_port),
                            protocol: Some(m.protocol.unwrap_or(TransportProtocol::Tcp)),
                            ..Default::default()
                        })
                    })
                    .collect();
                Container {
                    name: d.name.clone().unwrap_or_default(),
                    runtime_id: runtime_id(),
                    health_interval: d
                        .health_check
                        .as_ref()
                        .map(|h| h.interval.filter(|i| *i > 0).map_or(DEFAULT_HEALTH_INTERVAL, f64::from)),
                    bindings,
                }
            })
            .collect();
        let running_at = now + timings.start.as_secs_f64();
        let healthy_at =
            containers.iter().filter_map(|c| c.health_interval).reduce(f64::max).map(|interval| running_at + interval);
        let mut task = Self {
            arn: spec.task_arn.clone(),
            group: spec.group.clone(),
            phase: Phase::Pending,
            containers,
            received_at: now,
            running_at,
            healthy_at,
            healthy: false,
            started: false,
            stopping_at: None,
            stopped_at: None,
        };
        task.desire(spec, now, timings);
        task
    }

    /// The task's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Where the task is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a service started it (its group is `service:NAME`).
    pub fn is_service_task(&self) -> bool {
        self.group.as_deref().is_some_and(|g| g.starts_with("service:"))
    }

    /// Follows the server's desired status at `now`; whether that changed what is reported.
    pub fn desire(&mut self, spec: &TaskSpec, now: Timestamp, timings: Timings) -> bool {
        if spec.desired_status != "STOPPED" || matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            return false;
        }
        if self.phase == Phase::Pending {
            // Never started: nothing to stop.
            self.phase = Phase::Stopped;
            self.stopped_at = Some(now);
            return true;
        }
        self.phase = Phase::Stopping;
        self.stopping_at = Some(now);
        self.stopped_at = Some(now + timings.stop.as_secs_f64());
        true
    }

    /// The next moment something is due (`None`: nothing until the server asks).
    pub fn next_due(&self) -> Option<Timestamp> {
        match self.phase {
            Phase::Pending => Some(self.running_at),
            Phase::Running => self.healthy_at.filter(|_| !self.healthy),
            Phase::Stopping => self.stopped_at,
            Phase::Stopped => None,
        }
    }

    /// Moves on to whatever is due at `now`; whether that changed what is reported.
    pub fn advance(&mut self, now: Timestamp) -> bool {
        let mut changed = false;
        if self.phase == Phase::Pending && now >= self.running_at {
            self.phase = Phase::Running;
            self.started = true;
            changed = true;
        }
        if self.phase == Phase::Running && !self.healthy && self.healthy_at.is_some_and(|at| now >= at) {
            self.healthy = true;
            changed = true;
        }
        if self.phase == Phase::Stopping && self.stopped_at.is_some_and(|at| now >= at) {
            self.phase = Phase::Stopped;
            changed = true;
        }
        changed
    }

    /// What a real agent would report for the task now.
    pub fn report(&self) -> TaskReport {
        let health = |checked: bool| {
            if checked && self.healthy && self.phase != Phase::Stopped { "HEALTHY" } else { "UNKNOWN" }
        };
        let container_status = match self.phase {
            Phase::Pending => "PENDING",
            Phase::Running | Phase::Stopping => "RUNNING",
            Phase::Stopped => "STOPPED",
        };
        let started = self.started.then_some(self.running_at);
        TaskReport {
            task_arn: self.arn.clone(),
            last_status: self.phase.as_str().into(),
            containers: self
                .containers
                .iter()
                .map(|c| ContainerReport {
                    name: c.name.clone(),
                    runtime_id: self.started.then(|| c.runtime_id.clone()),
                    last_status: container_status.into(),
                    exit_code: (self.phase == Phase::Stopped && self.started).then_some(STOPPED_EXIT_CODE),
                    reason: None,
                    network_bindings: if self.phase == Phase::Stopped || !self.started {
                        Vec::new()
                    } else {
                        c.bindings.clone()
                    },
                    health_status: health(c.health_interval.is_some()).into(),
                    image_digest: None,
                    restart_count: 0,
                })
                .collect(),
            pull_started_at: Some(self.received_at),
            pull_stopped_at: started,
            started_at: started,
            stopping_at: self.stopping_at,
            execution_stopped_at: self.stopped_at.filter(|_| self.phase == Phase::Stopped),
            stop_code: None,
            stopped_reason: None,
            health_status: if self.healthy_at.is_some() { health(true) } else { "UNKNOWN" }.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::agent::ContainerSpec;
    use berth_model::ecs::{ContainerDefinition, HealthCheck, PortMapping};

    fn spec(desired: &str, health_interval: Option<i32>) -> TaskSpec {
        let definition = ContainerDefinition {
            name: Some("app".into()),
            port_mappings: Some(vec![PortMapping { container_port: Some(8080), ..Default::default() }]),
            health_check: health_interval.map(|i| HealthCheck {
                command: vec!["CMD".into(), "true".into()],
                interval: Some(i),
                ..Default::default()
            }),
            ..Default::default()
        };
        TaskSpec {
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/c/t1".into(),
            desired_status: desired.into(),
            group: Some("service:web".into()),
            containers: vec![ContainerSpec { container_arn: "c".into(), definition }],
            ..Default::default()
        }
    }

    const TIMINGS: Timings = Timings { start: Duration::from_secs(1), stop: Duration::from_secs(2) };

    #[test]
    fn a_task_goes_pending_running_stopping_stopped_on_its_timetable() {
        let mut ports = Ports::default();
        let mut task = SimTask::new(&spec("RUNNING", None), 100.0, TIMINGS, &mut ports);
        assert!(task.is_service_task());
        let pending = task.report();
        assert_eq!(pending.last_status, "PENDING");
        assert_eq!(pending.containers[0].last_status, "PENDING");
        assert_eq!(pending.containers[0].runtime_id, None, "no container before the pull ends");
        assert_eq!(pending.pull_started_at, Some(100.0));
        assert_eq!(task.next_due(), Some(101.0));
        assert!(!task.advance(100.5), "not yet");
        assert!(task.advance(101.0));
        let running = task.report();
        assert_eq!((running.last_status.as_str(), running.started_at), ("RUNNING", Some(101.0)));
        let container = &running.containers[0];
        assert_eq!(container.runtime_id.as_ref().map(String::len), Some(64));
        assert_eq!(container.network_bindings[0].host_port, Some(i32::from(FIRST_EPHEMERAL_PORT)));
        assert_eq!((container.health_status.as_str(), running.health_status.as_str()), ("UNKNOWN", "UNKNOWN"));
        assert_eq!(task.next_due(), None, "nothing to do until the server asks");
        assert!(!task.desire(&spec("RUNNING", None), 105.0, TIMINGS));
        assert!(task.desire(&spec("STOPPED", None), 110.0, TIMINGS));
        let stopping = task.report();
        assert_eq!((stopping.last_status.as_str(), stopping.stopping_at), ("STOPPING", Some(110.0)));
        assert_eq!(stopping.containers[0].exit_code, None);
        assert!(!task.desire(&spec("STOPPED", None), 111.0, TIMINGS), "asked once");
        assert!(task.advance(112.0));
        let stopped = task.report();
        assert_eq!((stopped.last_status.as_str(), stopped.execution_stopped_at), ("STOPPED", Some(112.0)));
        let container = &stopped.containers[0];
        assert_eq!((container.last_status.as_str(), container.exit_code), ("STOPPED", Some(STOPPED_EXIT_CODE)));
        assert_eq!(container.runtime_id, running.containers[0].runtime_id, "the same container");
        assert!(container.network_bindings.is_empty());
        assert_eq!(task.phase(), Phase::Stopped);
        assert_eq!(task.next_due(), None);
    }

    #[test]
    fn a_task_stopped_before_it_started_stops_without_an_exit_code() {
        let mut task = SimTask::new(&spec("RUNNING", None), 100.0, TIMINGS, &mut Ports::default());
        assert!(task.desire(&spec("STOPPED", None), 100.5, TIMINGS));
        let report = task.report();
        assert_eq!(report.last_status, "STOPPED");
        assert_eq!((report.containers[0].exit_code, report.started_at), (None, None));
        assert!(!task.advance(200.0), "it never starts");
        let unseen = SimTask::new(&spec("STOPPED", None), 100.0, TIMINGS, &mut Ports::default());
        assert_eq!(unseen.phase(), Phase::Stopped, "assigned already stopped: reported STOPPED at once");
    }

    #[test]
    fn a_checked_container_turns_healthy_one_interval_after_it_runs() {
        let mut task = SimTask::new(&spec("RUNNING", Some(5)), 100.0, TIMINGS, &mut Ports::default());
        assert!(task.advance(101.0));
        assert_eq!(task.report().health_status, "UNKNOWN");
        assert_eq!(task.next_due(), Some(106.0));
        assert!(!task.advance(105.9));
        assert!(task.advance(106.0));
        let report = task.report();
        assert_eq!(
            (report.health_status.as_str(), report.containers[0].health_status.as_str()),
            ("HEALTHY", "HEALTHY")
        );
        assert_eq!(task.next_due(), None);
    }

    #[test]
    fn host_ports_are_handed_out_in_the_ephemeral_range_and_wrap() {
        let mut ports = Ports::default();
        let first = SimTask::new(&spec("RUNNING", None), 0.0, TIMINGS, &mut ports);
        let mut second = SimTask::new(&spec("RUNNING", None), 0.0, TIMINGS, &mut ports);
        second.advance(5.0);
        assert_eq!(second.report().containers[0].network_bindings[0].host_port, Some(32769));
        drop(first);
        let mut ports = Ports { next: 60999 };
        assert_eq!((ports.take(), ports.take()), (60999, FIRST_EPHEMERAL_PORT));
    }
}
