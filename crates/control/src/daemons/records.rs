//! What the store holds for daemons: daemon task definitions (the registered document, returned as given), their
//! families' revision counters, and daemons with their revisions and deployments (Berth's own types, rendered to
//! the wire shapes in `render.rs`).

use crate::records::StoredTag;
use berth_model::Timestamp;
use berth_model::ecs::{
    DaemonContainerImage, DaemonDeploymentConfiguration, DaemonDeploymentStatus, DaemonPropagateTags, DaemonStatus,
    DaemonTaskDefinition, Tag,
};
use serde::{Deserialize, Serialize};

/// Key prefixes of the daemon records (all under `/ecs/`, so the cache holds them).
pub mod keys {
    /// Daemon task definition families: `/ecs/daemonfamilies/<family>`.
    pub const FAMILIES: &str = "/ecs/daemonfamilies/";
    /// Daemon task definitions: `/ecs/daemontaskdefs/<family>/<revision, 10 digits>`.
    pub const TASK_DEFINITIONS: &str = "/ecs/daemontaskdefs/";
    /// Daemons: `/ecs/daemons/<cluster>/<name>`.
    pub const DAEMONS: &str = "/ecs/daemons/";

    /// The key of a daemon task definition family.
    pub fn family(family: &str) -> String {
        format!("{FAMILIES}{family}")
    }
    /// The key of a daemon task definition revision.
    pub fn task_definition(family: &str, revision: i32) -> String {
        format!("{TASK_DEFINITIONS}{family}/{revision:010}")
    }
    /// The key of a daemon.
    pub fn daemon(cluster: &str, name: &str) -> String {
        format!("{DAEMONS}{cluster}/{name}")
    }
}

/// The revision counter of a daemon task definition family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonFamilyRecord {
    /// The family name.
    pub family: String,
    /// The highest revision ever registered (revisions are never reused).
    pub latest_revision: i32,
}

/// One daemon task definition revision: the registered document as DescribeDaemonTaskDefinition returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonTaskDefinitionRecord {
    /// The definition as ECS shows it (with its ARN, status and registration time).
    pub definition: DaemonTaskDefinition,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A daemon revision: the daemon's settings when a deployment was started (immutable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonRevisionRecord {
    /// The revision's id (the last part of its ARN).
    pub id: String,
    /// The daemon task definition it runs.
    pub task_definition_arn: String,
    /// The capacity providers (names) it runs on.
    pub capacity_providers: Vec<String>,
    /// The containers' images, from the definition.
    pub container_images: Vec<DaemonContainerImage>,
    /// Whether the daemon's tags go onto its tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<DaemonPropagateTags>,
    /// Whether ECS managed tags go onto its tasks.
    pub enable_ecs_managed_tags: bool,
    /// Whether ExecuteCommand may open sessions in its tasks.
    pub enable_execute_command: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// The circuit breaker of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonBreakerRecord {
    /// Daemon tasks of the deployment's target revision that failed.
    pub failure_count: i32,
    /// How many failures trip it.
    pub threshold: i32,
    /// Whether it tripped.
    pub triggered: bool,
    /// The ids of the failed tasks already counted (each counts once).
    #[serde(default)]
    pub counted: Vec<String>,
}

/// The rollback of a deployment whose circuit breaker tripped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonRollbackRecord {
    /// Why it rolls back.
    pub reason: String,
    /// When it started.
    pub started_at: Timestamp,
    /// The revision it rolls back to.
    pub target_revision: String,
}

/// A daemon deployment: the rollout of one revision across the daemon's instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonDeploymentRecord {
    /// The deployment's id (the last part of its ARN; daemon tasks carry it as `startedBy`).
    pub id: String,
    /// Where it is.
    pub status: DaemonDeploymentStatus,
    /// Why it is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The revision it rolls out (`None` for the deployment that stops a deleted daemon's tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// The revisions that ran when it started.
    #[serde(default)]
    pub source_revisions: Vec<String>,
    /// Its configuration, with ECS's defaults filled in.
    pub configuration: DaemonDeploymentConfiguration,
    /// The circuit breaker.
    pub circuit_breaker: DaemonBreakerRecord,
    /// The rollback, once the circuit breaker tripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<DaemonRollbackRecord>,
    /// No further batch starts before this time (the bake time after a finished batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_until: Option<Timestamp>,
    /// A step (a batch of replacements or starts) was begun and has not finished yet.
    #[serde(default)]
    pub step_in_flight: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its first task was replaced or started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it was stopped (superseded by a later deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Timestamp>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

impl DaemonDeploymentRecord {
    /// Whether it is still rolling (IN_PROGRESS, ROLLBACK_IN_PROGRESS or PENDING).
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            DaemonDeploymentStatus::Pending
                | DaemonDeploymentStatus::InProgress
                | DaemonDeploymentStatus::RollbackInProgress
                | DaemonDeploymentStatus::StopRequested
        )
    }

    /// The revision its new tasks run: the rollback's target once it rolls back, else its own target.
    pub fn effective_revision(&self) -> Option<&str> {
        match &self.rollback {
            Some(rollback) => Some(rollback.target_revision.as_str()),
            None => self.target_revision.as_deref(),
        }
    }
}

/// A daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonRecord {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// The cluster's short name.
    pub cluster: String,
    /// ACTIVE, or DELETE_IN_PROGRESS until its tasks have stopped (the record is then removed).
    pub status: DaemonStatus,
    /// The revision new daemon tasks run (the last deployment's effective revision).
    pub current_revision: String,
    /// Every revision, oldest first (the last [`MAX_REVISIONS`] kept).
    pub revisions: Vec<DaemonRevisionRecord>,
    /// Every deployment, oldest first (the last [`MAX_DEPLOYMENTS`] kept).
    pub deployments: Vec<DaemonDeploymentRecord>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<StoredTag>,
    /// The request's `critical`, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<bool>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// How many revisions a daemon keeps.
pub const MAX_REVISIONS: usize = 20;
/// How many deployments a daemon keeps.
pub const MAX_DEPLOYMENTS: usize = 20;

impl DaemonRecord {
    /// A revision by id.
    pub fn revision(&self, id: &str) -> Option<&DaemonRevisionRecord> {
        self.revisions.iter().find(|r| r.id == id)
    }

    /// The last deployment.
    pub fn last_deployment(&self) -> Option<&DaemonDeploymentRecord> {
        self.deployments.last()
    }

    /// Drops the oldest revisions and deployments past the limits (never one a kept deployment names).
    pub fn trim(&mut self) {
        if self.deployments.len() > MAX_DEPLOYMENTS {
            let extra = self.deployments.len() - MAX_DEPLOYMENTS;
            self.deployments.drain(..extra);
        }
        while self.revisions.len() > MAX_REVISIONS {
            let oldest = self.revisions[0].id.clone();
            let named = oldest == self.current_revision
                || self.deployments.iter().any(|d| {
                    d.target_revision.as_deref() == Some(oldest.as_str()) || d.source_revisions.contains(&oldest)
                });
            if named {
                break;
            }
            self.revisions.remove(0);
        }
    }
}
