//! The statuses of the control plane's records as enums, so that code compares and matches them instead of string
//! literals. Each serialises as ECS's text (`"RUNNING"`), so stored records and the wire read the same as before.
//!
//! The ECS model types most statuses as free strings (a task's `lastStatus`, a container instance's `status`).
//! The records ([`crate::records`]) store these enums as fields, and the wire shapes are rendered from them; the
//! records keep `status()`-style accessors so call sites read the same. A text this build does not know parses as
//! `None`, never as some other status. The enums are Berth's own, so a regenerated botocore model does not change
//! them; those the model also has as enumerations (health, stop code, launch type, agent update status, scheduling
//! strategy, tag propagation) convert at the API edge.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! status {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// ECS's text for it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// Reads ECS's text; `None` for any other.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status! {
    /// A task's `lastStatus`, in the order a task goes through them.
    TaskStatus {
        /// Being placed; resources reserved.
        Provisioning = "PROVISIONING",
        /// Assigned to an agent, images being pulled.
        Pending = "PENDING",
        /// Containers being created and started.
        Activating = "ACTIVATING",
        /// Its essential containers run.
        Running = "RUNNING",
        /// On its way down (before its containers are stopped).
        Deactivating = "DEACTIVATING",
        /// Its containers are being stopped.
        Stopping = "STOPPING",
        /// Its resources are being released.
        Deprovisioning = "DEPROVISIONING",
        /// Done.
        Stopped = "STOPPED",
    }
}

status! {
    /// A task's `desiredStatus`.
    DesiredStatus {
        /// Should run.
        Running = "RUNNING",
        /// Waiting to be started.
        Pending = "PENDING",
        /// Should stop.
        Stopped = "STOPPED",
    }
}

status! {
    /// A container instance's `status`.
    InstanceStatus {
        /// Joining.
        Registering = "REGISTERING",
        /// Joining failed.
        RegistrationFailed = "REGISTRATION_FAILED",
        /// Takes tasks.
        Active = "ACTIVE",
        /// Takes no new tasks; its service tasks are replaced elsewhere.
        Draining = "DRAINING",
        /// Leaving.
        Deregistering = "DEREGISTERING",
        /// Deregistered.
        Inactive = "INACTIVE",
    }
}

status! {
    /// A service's `status`.
    ServiceStatus {
        /// Running.
        Active = "ACTIVE",
        /// Deleted; its tasks are stopping.
        Draining = "DRAINING",
        /// Deleted and empty.
        Inactive = "INACTIVE",
    }
}

status! {
    /// A cluster's `status`.
    ClusterStatus {
        /// In use.
        Active = "ACTIVE",
        /// Being created.
        Provisioning = "PROVISIONING",
        /// Being deleted.
        Deprovisioning = "DEPROVISIONING",
        /// Creation failed.
        Failed = "FAILED",
        /// Deleted.
        Inactive = "INACTIVE",
    }
}

status! {
    /// A service deployment's `status` in the service's `deployments`.
    DeploymentStatus {
        /// The newest deployment: the one the service scales.
        Primary = "PRIMARY",
        /// An older deployment whose tasks are being replaced.
        Active = "ACTIVE",
        /// Done with.
        Inactive = "INACTIVE",
    }
}

status! {
    /// A deployment's `rolloutState`.
    RolloutState {
        /// Rolling out.
        InProgress = "IN_PROGRESS",
        /// Rolled out and stable.
        Completed = "COMPLETED",
        /// Stopped by the circuit breaker or by request.
        Failed = "FAILED",
    }
}

status! {
    /// A container's `lastStatus` in a task, in the order a container goes through them.
    ContainerStatus {
        /// Not started yet.
        Pending = "PENDING",
        /// Started.
        Running = "RUNNING",
        /// Exited, or never started.
        Stopped = "STOPPED",
    }
}

status! {
    /// The `healthStatus` of a task or of one of its containers.
    HealthState {
        /// Every check passes.
        Healthy = "HEALTHY",
        /// A check fails.
        Unhealthy = "UNHEALTHY",
        /// Not checked, or not known yet.
        Unknown = "UNKNOWN",
    }
}

status! {
    /// Why a task stopped (`stopCode`).
    StopCode {
        /// It never started.
        TaskFailedToStart = "TaskFailedToStart",
        /// An essential container exited.
        EssentialContainerExited = "EssentialContainerExited",
        /// StopTask.
        UserInitiated = "UserInitiated",
        /// The service scheduler stopped it.
        ServiceSchedulerInitiated = "ServiceSchedulerInitiated",
        /// A Spot interruption.
        SpotInterruption = "SpotInterruption",
        /// A termination notice.
        TerminationNotice = "TerminationNotice",
        /// The host's health.
        InfrastructureHealth = "InfrastructureHealth",
    }
}

status! {
    /// How a task was launched (`launchType`).
    TaskLaunchType {
        /// On a registered container instance.
        Ec2 = "EC2",
        /// Fargate-style (Berth places it on its own instances).
        Fargate = "FARGATE",
        /// On an external instance.
        External = "EXTERNAL",
        /// On a managed instance.
        ManagedInstances = "MANAGED_INSTANCES",
    }
}

status! {
    /// A container instance's `agentUpdateStatus`, in the order an update goes through them.
    AgentUpdateStatus {
        /// Asked for; the agent has not started.
        Pending = "PENDING",
        /// The new agent is being fetched.
        Staging = "STAGING",
        /// The new agent is ready.
        Staged = "STAGED",
        /// The agent is replacing itself.
        Updating = "UPDATING",
        /// The new agent runs.
        Updated = "UPDATED",
        /// The update failed.
        Failed = "FAILED",
    }
}

impl AgentUpdateStatus {
    /// The wire enumeration (`None` for one this build's model does not know).
    pub fn to_wire(self) -> Option<berth_model::ecs::AgentUpdateStatus> {
        berth_model::ecs::AgentUpdateStatus::parse(self.as_str())
    }
}

status! {
    /// A service's `schedulingStrategy`.
    Scheduling {
        /// A desired count of tasks, spread across instances.
        Replica = "REPLICA",
        /// One task on every instance it fits.
        Daemon = "DAEMON",
    }
}

status! {
    /// A service's `propagateTags`: where its tasks' tags come from.
    TagPropagation {
        /// The task definition's tags.
        TaskDefinition = "TASK_DEFINITION",
        /// The service's tags.
        Service = "SERVICE",
        /// None.
        None = "NONE",
    }
}

impl Scheduling {
    /// From the wire enumeration.
    pub fn from_wire(s: berth_model::ecs::SchedulingStrategy) -> Option<Self> {
        Self::parse(s.as_str())
    }

    /// The wire enumeration (`None` for one this build's model does not know).
    pub fn to_wire(self) -> Option<berth_model::ecs::SchedulingStrategy> {
        berth_model::ecs::SchedulingStrategy::parse(self.as_str())
    }
}

impl TagPropagation {
    /// From the wire enumeration.
    pub fn from_wire(p: berth_model::ecs::PropagateTags) -> Option<Self> {
        Self::parse(p.as_str())
    }

    /// The wire enumeration (`None` for one this build's model does not know).
    pub fn to_wire(self) -> Option<berth_model::ecs::PropagateTags> {
        berth_model::ecs::PropagateTags::parse(self.as_str())
    }
}

status! {
    /// A service deployment's `status` (DescribeServiceDeployments).
    ServiceDeploymentStatus {
        /// Not started.
        Pending = "PENDING",
        /// Rolled out.
        Successful = "SUCCESSFUL",
        /// Stopped (superseded, or failed without a rollback).
        Stopped = "STOPPED",
        /// Asked to stop.
        StopRequested = "STOP_REQUESTED",
        /// Rolling out.
        InProgress = "IN_PROGRESS",
        /// Asked to roll back.
        RollbackRequested = "ROLLBACK_REQUESTED",
        /// Rolling back.
        RollbackInProgress = "ROLLBACK_IN_PROGRESS",
        /// Rolled back.
        RollbackSuccessful = "ROLLBACK_SUCCESSFUL",
        /// The rollback failed too.
        RollbackFailed = "ROLLBACK_FAILED",
    }
}

status! {
    /// The state of a service deployment's circuit breaker.
    RollbackMonitorsStatus {
        /// It tripped.
        Triggered = "TRIGGERED",
        /// It counts failures.
        Monitoring = "MONITORING",
        /// The deployment finished without tripping it.
        MonitoringComplete = "MONITORING_COMPLETE",
        /// Not enabled.
        Disabled = "DISABLED",
    }
}

impl ServiceDeploymentStatus {
    /// From the wire enumeration.
    pub fn from_wire(s: berth_model::ecs::ServiceDeploymentStatus) -> Option<Self> {
        Self::parse(s.as_str())
    }

    /// The wire enumeration (`None` for one this build's model does not know).
    pub fn to_wire(self) -> Option<berth_model::ecs::ServiceDeploymentStatus> {
        berth_model::ecs::ServiceDeploymentStatus::parse(self.as_str())
    }
}

impl RollbackMonitorsStatus {
    /// The wire enumeration (`None` for one this build's model does not know).
    pub fn to_wire(self) -> Option<berth_model::ecs::ServiceDeploymentRollbackMonitorsStatus> {
        berth_model::ecs::ServiceDeploymentRollbackMonitorsStatus::parse(self.as_str())
    }
}

impl HealthState {
    /// The wire enumeration.
    pub fn to_wire(self) -> berth_model::ecs::HealthStatus {
        match self {
            Self::Healthy => berth_model::ecs::HealthStatus::Healthy,
            Self::Unhealthy => berth_model::ecs::HealthStatus::Unhealthy,
            Self::Unknown => berth_model::ecs::HealthStatus::Unknown,
        }
    }
}

impl TaskLaunchType {
    /// From the wire enumeration.
    pub fn from_wire(launch_type: berth_model::ecs::LaunchType) -> Option<Self> {
        Self::parse(launch_type.as_str())
    }

    /// The wire enumeration (`None` for one this build's model does not know).
    pub fn to_wire(self) -> Option<berth_model::ecs::LaunchType> {
        berth_model::ecs::LaunchType::parse(self.as_str())
    }
}

impl StopCode {
    /// The wire enumeration (`None` for one this build's model does not know).
    pub fn to_wire(self) -> Option<berth_model::ecs::TaskStopCode> {
        berth_model::ecs::TaskStopCode::parse(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_and_write_ecs_text() {
        assert_eq!(TaskStatus::parse("DEACTIVATING"), Some(TaskStatus::Deactivating));
        assert_eq!(TaskStatus::Stopped.as_str(), "STOPPED");
        assert_eq!(serde_json::to_string(&RolloutState::InProgress).unwrap(), "\"IN_PROGRESS\"");
        assert_eq!(
            serde_json::from_str::<InstanceStatus>("\"REGISTRATION_FAILED\"").unwrap(),
            InstanceStatus::RegistrationFailed
        );
        assert_eq!(ServiceStatus::parse("running"), None, "ECS's texts are upper case");
        assert!(TaskStatus::Provisioning < TaskStatus::Running && TaskStatus::Running < TaskStatus::Stopped);
    }
}
