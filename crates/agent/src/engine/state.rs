//! What the engine knows of each task and container, and how that becomes a report.

use berth_model::Timestamp;
use berth_model::agent::{ContainerReport, TaskReport, TaskSpec};
use berth_model::ecs::NetworkBinding;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Where a task is in the agent's hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Known, not started.
    Pending,
    /// A start worker is pulling, creating and starting its containers.
    Starting,
    /// Its containers were started.
    Running,
    /// A stop worker is stopping its containers.
    Stopping,
    /// Every container has stopped; the final report is out.
    Stopped,
}

/// The agent's view of one container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerTrack {
    /// The Docker id, once created.
    pub id: Option<String>,
    /// `PENDING`, `RUNNING` or `STOPPED`.
    pub status: &'static str,
    /// The exit code, once stopped.
    pub exit_code: Option<i32>,
    /// Why it stopped or failed.
    pub reason: Option<String>,
    /// Published ports.
    pub bindings: Vec<NetworkBinding>,
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    pub health: &'static str,
    /// The image digest.
    pub image_digest: Option<String>,
    /// In-place restarts under the restart policy.
    pub restart_count: i32,
    /// When it last started (epoch seconds).
    pub started_at: Option<Timestamp>,
    /// Whether a restart is under way.
    pub restarting: bool,
}

impl ContainerTrack {
    /// A container not created yet.
    pub fn pending() -> Self {
        Self { status: "PENDING", health: "UNKNOWN", ..Default::default() }
    }
}

/// The agent's view of one task.
#[derive(Debug)]
pub struct TaskState {
    /// The desired state from the server; `None` for a task adopted before the server spoke.
    pub spec: Option<TaskSpec>,
    /// The phase.
    pub phase: Phase,
    /// Containers by name.
    pub containers: BTreeMap<String, ContainerTrack>,
    /// Timestamps and stop decision reported to the server.
    pub pull_started_at: Option<Timestamp>,
    /// When pulls ended.
    pub pull_stopped_at: Option<Timestamp>,
    /// When the containers were started.
    pub started_at: Option<Timestamp>,
    /// When stopping began.
    pub stopping_at: Option<Timestamp>,
    /// When the last container stopped.
    pub execution_stopped_at: Option<Timestamp>,
    /// Set when the agent decided to stop the task.
    pub stop_code: Option<String>,
    /// Why the agent stopped the task.
    pub stopped_reason: Option<String>,
    /// Whether the task got as far as ACTIVATING.
    pub activating: bool,
    /// Set to ask a running start worker to give up.
    pub cancel: Arc<AtomicBool>,
}

impl TaskState {
    /// A task the server assigned, not started yet.
    pub fn new(spec: TaskSpec) -> Self {
        let containers = spec
            .containers
            .iter()
            .filter_map(|c| c.definition.name.clone())
            .map(|name| (name, ContainerTrack::pending()))
            .collect();
        Self {
            spec: Some(spec),
            phase: Phase::Pending,
            containers,
            pull_started_at: None,
            pull_stopped_at: None,
            started_at: None,
            stopping_at: None,
            execution_stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            activating: false,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the container of this name is essential (containers are essential unless they say otherwise).
    pub fn is_essential(&self, name: &str) -> bool {
        self.spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.definition.name.as_deref() == Some(name)))
            .is_none_or(|c| c.definition.essential != Some(false))
    }

    /// The task status to report.
    pub fn last_status(&self) -> &'static str {
        match self.phase {
            Phase::Pending => "PENDING",
            Phase::Starting if self.activating => "ACTIVATING",
            Phase::Starting => "PENDING",
            Phase::Running => "RUNNING",
            Phase::Stopping => "STOPPING",
            Phase::Stopped => "STOPPED",
        }
    }

    /// Health as ECS computes it: UNHEALTHY if an essential container with a check is, HEALTHY if all are.
    pub fn health(&self) -> &'static str {
        let mut any = false;
        for (name, c) in &self.containers {
            let checked = self
                .spec
                .as_ref()
                .and_then(|s| s.containers.iter().find(|x| x.definition.name.as_deref() == Some(name)))
                .is_some_and(|x| x.definition.health_check.is_some());
            if !checked || !self.is_essential(name) {
                continue;
            }
            any = true;
            match c.health {
                "UNHEALTHY" => return "UNHEALTHY",
                "HEALTHY" => {}
                _ => return "UNKNOWN",
            }
        }
        if any { "HEALTHY" } else { "UNKNOWN" }
    }

    /// The ports a running container of an awsvpc task publishes on the host (Berth's `berth.publish` label):
    /// Docker binds them on the task's pause container, whose namespace the container shares, so its own inspection
    /// shows none. They were bound when the pause container was created, or the task failed to start.
    fn published_bindings(&self, name: &str, track: &ContainerTrack) -> Vec<NetworkBinding> {
        let Some(spec) = self.spec.as_ref().filter(|s| s.network.is_some() && track.status == "RUNNING") else {
            return Vec::new();
        };
        let definition = spec.containers.iter().find(|c| c.definition.name.as_deref() == Some(name));
        definition
            .map(|c| berth_model::published_ports::of(&c.definition))
            .unwrap_or_default()
            .into_iter()
            .map(|p| NetworkBinding {
                bind_ip: Some("0.0.0.0".into()),
                container_port: Some(i32::from(p.container_port)),
                host_port: Some(i32::from(p.host_port)),
                protocol: Some(p.protocol),
                ..Default::default()
            })
            .collect()
    }

    /// The report of this task.
    pub fn report(&self, task_arn: &str) -> TaskReport {
        TaskReport {
            task_arn: task_arn.to_string(),
            last_status: self.last_status().to_string(),
            containers: self
                .containers
                .iter()
                .map(|(name, c)| ContainerReport {
                    name: name.clone(),
                    runtime_id: c.id.clone(),
                    last_status: c.status.to_string(),
                    exit_code: c.exit_code,
                    reason: c.reason.clone(),
                    network_bindings: if c.bindings.is_empty() {
                        self.published_bindings(name, c)
                    } else {
                        c.bindings.clone()
                    },
                    health_status: c.health.to_string(),
                    image_digest: c.image_digest.clone(),
                    restart_count: c.restart_count,
                })
                .collect(),
            pull_started_at: self.pull_started_at,
            pull_stopped_at: self.pull_stopped_at,
            started_at: self.started_at,
            stopping_at: self.stopping_at,
            execution_stopped_at: self.execution_stopped_at,
            stop_code: self.stop_code.clone(),
            stopped_reason: self.stopped_reason.clone(),
            health_status: self.health().to_string(),
        }
    }
}
