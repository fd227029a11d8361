//! The scheduler's input and output types: container instances as the scheduler sees them, what a task demands,
//! and the result of a placement.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::constraint::Constraint;
use crate::strategy::Strategy;

/// The status of a container instance, as ECS reports it in `ContainerInstance.status`.
///
/// Only [`InstanceStatus::Active`] instances receive tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstanceStatus {
    /// `ACTIVE`: the instance accepts tasks.
    Active,
    /// `DRAINING`: no new tasks are placed; service tasks are moved away.
    Draining,
    /// `REGISTERING`: registration (e.g. trunk ENI provisioning) is in progress.
    Registering,
    /// `REGISTRATION_FAILED`: registration failed.
    RegistrationFailed,
    /// `DEREGISTERING`: deregistration is in progress.
    Deregistering,
    /// `INACTIVE`: the instance was deregistered.
    Inactive,
}

impl InstanceStatus {
    /// The ECS wire name, e.g. `ACTIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Active => "ACTIVE",
            InstanceStatus::Draining => "DRAINING",
            InstanceStatus::Registering => "REGISTERING",
            InstanceStatus::RegistrationFailed => "REGISTRATION_FAILED",
            InstanceStatus::Deregistering => "DEREGISTERING",
            InstanceStatus::Inactive => "INACTIVE",
        }
    }

    /// Parses the ECS wire name (`ACTIVE`, `DRAINING`, ...); `None` for anything else.
    pub fn from_ecs(name: &str) -> Option<InstanceStatus> {
        Some(match name {
            "ACTIVE" => InstanceStatus::Active,
            "DRAINING" => InstanceStatus::Draining,
            "REGISTERING" => InstanceStatus::Registering,
            "REGISTRATION_FAILED" => InstanceStatus::RegistrationFailed,
            "DEREGISTERING" => InstanceStatus::Deregistering,
            "INACTIVE" => InstanceStatus::Inactive,
            _ => return None,
        })
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CPU units (1024 per vCPU), memory (MiB) and, where the instance accounts it, ephemeral storage (GiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// CPU units; 1024 units are one vCPU.
    pub cpu: i64,
    /// Memory in MiB.
    pub memory: i64,
    /// Ephemeral storage in GiB on an instance that accounts it (Fargate capacity); `None` where it is not
    /// accounted (EC2 capacity, as on ECS), which every demand fits.
    pub ephemeral_storage_gib: Option<i64>,
}

impl Resources {
    /// Builds a resource pair, with no ephemeral storage accounting.
    pub fn new(cpu: i64, memory: i64) -> Resources {
        Resources { cpu, memory, ephemeral_storage_gib: None }
    }

    /// The same resources with `gib` of ephemeral storage accounted (builder style).
    pub fn with_ephemeral_storage(mut self, gib: i64) -> Resources {
        self.ephemeral_storage_gib = Some(gib);
        self
    }

    /// Whether `gib` of ephemeral storage fits: always when nothing is asked (EC2 tasks) or the storage is not
    /// accounted here.
    pub fn storage_fits(&self, gib: i64) -> bool {
        gib <= 0 || self.ephemeral_storage_gib.is_none_or(|left| left >= gib)
    }

    /// Takes (`sign` = 1) or gives back (`sign` = -1) `gib` of accounted ephemeral storage.
    pub(crate) fn take_storage(&mut self, gib: i64, sign: i64) {
        if let Some(left) = &mut self.ephemeral_storage_gib {
            *left -= sign * gib;
        }
    }
}

/// A container instance as the scheduler sees it: a snapshot the caller builds from its cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The container instance ARN.
    pub arn: String,
    /// The 32-hex container instance id (the last ARN segment).
    pub id: String,
    /// The instance status; only `Active` instances are schedulable.
    pub status: InstanceStatus,
    /// Whether the agent is connected; tasks are not placed on disconnected instances (failure `AGENT`).
    pub agent_connected: bool,
    /// The agent version, e.g. `1.82.0`.
    pub agent_version: String,
    /// The EC2 instance id; Berth uses the host name.
    pub ec2_instance_id: String,
    /// Registration time, epoch seconds.
    pub registered_at: f64,
    /// Built-in (`ecs.availability-zone`, `ecs.instance-type`, `ecs.os-type`, `ecs.cpu-architecture`,
    /// `ecs.ami-id`, ...) and custom attributes; an attribute may have no value.
    pub attributes: BTreeMap<String, Option<String>>,
    /// The resources the instance registered with.
    pub registered: Resources,
    /// The resources not yet reserved by tasks.
    pub remaining: Resources,
    /// TCP host ports reserved by the host or taken by placed tasks.
    pub used_tcp_ports: BTreeSet<u16>,
    /// UDP host ports reserved by the host or taken by placed tasks.
    pub used_udp_ports: BTreeSet<u16>,
    /// Number of non-stopped tasks on the instance.
    pub running_tasks_count: u32,
    /// Task group name (`service:web`, `family:web`, ...) to the number of non-stopped tasks of that group here.
    pub task_groups: BTreeMap<String, u32>,
}

impl Instance {
    /// A schedulable (`ACTIVE`, agent connected) instance with the given ARN and resources and nothing else;
    /// the id is the last ARN segment and the EC2 instance id is empty.
    pub fn new(arn: impl Into<String>, registered: Resources) -> Instance {
        let arn = arn.into();
        let id = arn.rsplit('/').next().unwrap_or_default().to_string();
        Instance {
            arn,
            id,
            status: InstanceStatus::Active,
            agent_connected: true,
            agent_version: String::new(),
            ec2_instance_id: String::new(),
            registered_at: 0.0,
            attributes: BTreeMap::new(),
            registered,
            remaining: registered,
            used_tcp_ports: BTreeSet::new(),
            used_udp_ports: BTreeSet::new(),
            running_tasks_count: 0,
            task_groups: BTreeMap::new(),
        }
    }

    /// Sets an attribute (builder style).
    pub fn with_attribute(mut self, name: impl Into<String>, value: Option<&str>) -> Instance {
        self.attributes.insert(name.into(), value.map(str::to_string));
        self
    }

    /// Whether tasks may be placed here at all: `ACTIVE` with a connected agent.
    pub fn is_schedulable(&self) -> bool {
        self.status == InstanceStatus::Active && self.agent_connected
    }
}

/// What one task needs, and how it must be placed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskDemand {
    /// CPU units reserved by the task.
    pub cpu: i64,
    /// Memory (MiB) reserved by the task.
    pub memory: i64,
    /// Ephemeral storage (GiB) reserved by the task: a FARGATE task's size, 0 for EC2 tasks (ECS does not account
    /// their disk). Checked only on instances that account storage.
    pub ephemeral_storage_gib: i64,
    /// Static TCP host ports.
    pub tcp_ports: Vec<u16>,
    /// Static UDP host ports.
    pub udp_ports: Vec<u16>,
    /// The task group (`service:NAME` for service tasks, `family:NAME` by default for standalone tasks).
    pub group: String,
    /// Placement constraints from the request and the task definition.
    pub constraints: Vec<Constraint>,
    /// Placement strategies, applied in order; empty means ECS's default for RunTask (`random`).
    pub strategy: Vec<Strategy>,
    /// Attribute names the instance must have (ECS `requiresAttributes`); failure reason `ATTRIBUTE`.
    pub required_attributes: Vec<String>,
}

/// Why a task could not go to one container instance: the first check the instance failed.
///
/// Checks run in the order of the variants, cheapest and most fundamental first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// The instance is not `ACTIVE` nor `DRAINING` (e.g. deregistered): `INACTIVE`.
    Inactive,
    /// The instance is `DRAINING`: `DRAINING`.
    Draining,
    /// The agent is disconnected: `AGENT`.
    Agent,
    /// An attribute in `requiresAttributes` is missing: `ATTRIBUTE`.
    MissingAttribute,
    /// Not enough CPU units: `RESOURCE:CPU`.
    Cpu,
    /// Not enough memory: `RESOURCE:MEMORY`.
    Memory,
    /// Not enough ephemeral storage (FARGATE tasks on Fargate capacity): `RESOURCE:EPHEMERAL_STORAGE`, which
    /// only a Fargate capacity failure's detail shows.
    EphemeralStorage,
    /// A static TCP host port is taken: `RESOURCE:PORTS`.
    Ports,
    /// A static UDP host port is taken: `RESOURCE:PORTS_UDP`.
    PortsUdp,
    /// The `distinctInstance` constraint: the instance already runs a task of the group: `ATTRIBUTE`.
    DistinctInstance,
    /// A `memberOf` expression is false for the instance: `ATTRIBUTE`.
    MemberOf,
}

impl FailureReason {
    /// The `failures[].reason` string ECS returns.
    pub fn ecs_reason(self) -> &'static str {
        match self {
            FailureReason::Inactive => "INACTIVE",
            FailureReason::Draining => "DRAINING",
            FailureReason::Agent => "AGENT",
            FailureReason::MissingAttribute | FailureReason::DistinctInstance | FailureReason::MemberOf => "ATTRIBUTE",
            FailureReason::Cpu => "RESOURCE:CPU",
            FailureReason::Memory => "RESOURCE:MEMORY",
            FailureReason::EphemeralStorage => "RESOURCE:EPHEMERAL_STORAGE",
            FailureReason::Ports => "RESOURCE:PORTS",
            FailureReason::PortsUdp => "RESOURCE:PORTS_UDP",
        }
    }

    /// A `failures[].detail` telling apart the reasons ECS folds into `ATTRIBUTE`; `None` for the others.
    pub fn detail(self) -> Option<&'static str> {
        match self {
            FailureReason::MissingAttribute => {
                Some("The container instance is missing an attribute required by the task.")
            }
            FailureReason::DistinctInstance => Some("DistinctInstance placement constraint unsatisfied."),
            FailureReason::MemberOf => Some("MemberOf placement constraint unsatisfied."),
            _ => None,
        }
    }

    /// The predicate of the service event "The closest matching container-instance X `<predicate>`."
    pub fn closest_match_phrase(self) -> &'static str {
        match self {
            FailureReason::Inactive => "encountered error \"INACTIVE\"",
            FailureReason::Draining => "encountered error \"DRAINING\"",
            FailureReason::Agent => "encountered error \"AGENT\"",
            FailureReason::MissingAttribute => "is missing an attribute required by your task",
            FailureReason::Cpu => "has insufficient CPU units available",
            FailureReason::Memory => "has insufficient memory available",
            FailureReason::EphemeralStorage => "has insufficient ephemeral storage available",
            FailureReason::Ports | FailureReason::PortsUdp => "is already using a port required by your task",
            FailureReason::DistinctInstance => {
                "encountered error \"DistinctInstance placement constraint unsatisfied.\""
            }
            FailureReason::MemberOf => "encountered error \"MemberOf placement constraint unsatisfied.\"",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ecs_reason())
    }
}

/// One entry of ECS's `failures` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Failure {
    /// The container instance the failure is about.
    pub arn: Option<String>,
    /// ECS's reason, e.g. `RESOURCE:MEMORY`.
    pub reason: String,
    /// Extra detail, where the reason alone is ambiguous.
    pub detail: Option<String>,
}

impl Failure {
    /// The failure of one instance for one reason.
    pub fn for_instance(arn: &str, reason: FailureReason) -> Failure {
        Failure {
            arn: Some(arn.to_string()),
            reason: reason.ecs_reason().to_string(),
            detail: reason.detail().map(str::to_string),
        }
    }
}

/// The outcome of [`crate::ClusterState::place`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    /// The chosen container instance ARN of each placed task, in placement order.
    pub placed: Vec<String>,
    /// When fewer tasks than asked were placed: why the next task fits nowhere, one entry per container
    /// instance (its first failed check), sorted by ARN. Empty when every task was placed.
    pub failures: Vec<Failure>,
}
