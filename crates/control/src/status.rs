//! The statuses of the control plane's records as enums, so that code compares and matches them instead of string
//! literals. Each serialises as ECS's text (`"RUNNING"`), so stored records and the wire read the same as before.
//!
//! The ECS model types most statuses as free strings (a task's `lastStatus`, a container instance's `status`); the
//! records keep those wire shapes, and the accessors on the records ([`crate::records`]) read and write them
//! through these enums. A text this build does not know reads as `None`, never as some other status.

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
