//! The records the control plane keeps in the store, and their keys.
//!
//! Clusters, tasks and container instances ([`ClusterRecord`], [`TaskRecord`], [`InstanceRecord`], schema 2) are
//! Berth's own domain types: statuses are the enums of [`crate::status`], tags, settings, attributes and network
//! bindings small local types, and the wire shapes are built from them only at the API edge (`render_cluster`,
//! [`crate::tasks::render_task`], `render_instance`). Members that are the user's own documents, returned as given,
//! stay in their wire form: a cluster's `configuration`, a task's `overrides`, its container definitions and
//! volumes. Each kind's module holds its upgrade from schema 1, when it wrapped the wire shape.
//!
//! A service ([`ServiceRecord`]) still wraps the wire `Service` (schema 1) beside the deployment state Berth keeps,
//! with typed accessors for its status. A task definition ([`TaskDefinitionRecord`]) is the user's registered
//! document and stays the wire `TaskDefinition`: it is returned verbatim, and its fixture pins its shape.
//!
//! Counters that can be derived from other records (a cluster's task counts, an instance's running tasks and
//! remaining resources as shown) are not stored; they are computed when a record is rendered.

pub(crate) mod cluster;
pub(crate) mod instance;
pub(crate) mod task;
pub(crate) mod upgrade;

pub use cluster::{ClusterRecord, ClusterSettingRecord, StrategyItem};
pub use instance::{AgentVersions, AttributeRecord, InstanceRecord};
pub use task::{Binding, ContainerState, Protocol, Reservation, TaskRecord, Transition};

use crate::status::{DeploymentStatus, RolloutState, ServiceStatus};
use berth_model::Timestamp;
use berth_model::ecs::{Failure, Service, ServiceDeployment, ServiceRevision, Setting, Tag, TaskDefinition};
use serde::{Deserialize, Serialize};

/// Key prefixes and constructors. Keys are printable ASCII; names are validated before they reach a key.
pub mod keys {
    /// Everything the ECS control plane stores.
    pub const ECS: &str = "/ecs/";
    /// Clusters: `/ecs/clusters/<name>`.
    pub const CLUSTERS: &str = "/ecs/clusters/";
    /// Task definition families: `/ecs/families/<family>`.
    pub const FAMILIES: &str = "/ecs/families/";
    /// Task definitions: `/ecs/taskdefs/<family>/<revision, 10 digits>`.
    pub const TASK_DEFINITIONS: &str = "/ecs/taskdefs/";
    /// Tasks: `/ecs/tasks/<cluster>/<id>`.
    pub const TASKS: &str = "/ecs/tasks/";
    /// Container instances: `/ecs/instances/<cluster>/<id>`.
    pub const INSTANCES: &str = "/ecs/instances/";
    /// Idempotency records: `/ecs/tokens/<operation>/<sha256 of the client token>`.
    pub const TOKENS: &str = "/ecs/tokens/";
    /// Services: `/ecs/services/<cluster>/<name>`.
    pub const SERVICES: &str = "/ecs/services/";
    /// Account settings: `/ecs/accountsettings/<setting name>/<principal ARN>`.
    pub const ACCOUNT_SETTINGS: &str = "/ecs/accountsettings/";

    /// The key of a cluster.
    pub fn cluster(name: &str) -> String {
        format!("{CLUSTERS}{name}")
    }
    /// The key of a family.
    pub fn family(family: &str) -> String {
        format!("{FAMILIES}{family}")
    }
    /// The key of a task definition revision.
    pub fn task_definition(family: &str, revision: i32) -> String {
        format!("{TASK_DEFINITIONS}{family}/{revision:010}")
    }
    /// The key of a task.
    pub fn task(cluster: &str, id: &str) -> String {
        format!("{TASKS}{cluster}/{id}")
    }
    /// The key of a container instance.
    pub fn instance(cluster: &str, id: &str) -> String {
        format!("{INSTANCES}{cluster}/{id}")
    }
    /// The key of a service.
    pub fn service(cluster: &str, name: &str) -> String {
        format!("{SERVICES}{cluster}/{name}")
    }
    /// The key of an account setting of one principal (the account default is the root user's).
    pub fn account_setting(name: &str, principal_arn: &str) -> String {
        format!("{ACCOUNT_SETTINGS}{name}/{principal_arn}")
    }
    /// The key of an idempotency record.
    pub fn token(operation: &str, token_hash: &str) -> String {
        format!("{TOKENS}{operation}/{token_hash}")
    }
}

/// An account setting a principal (or, for the root user, the account) set explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSettingRecord {
    /// The setting as ECS shows it (name, value, principalArn, type `user`).
    pub setting: Setting,
}

/// The revision counter of a task definition family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FamilyRecord {
    /// The family name.
    pub family: String,
    /// The highest revision ever registered (revisions are never reused).
    pub latest_revision: i32,
}

/// One task definition revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionRecord {
    /// The task definition as ECS shows it.
    pub task_definition: TaskDefinition,
    /// Its tags.
    pub tags: Vec<Tag>,
}

/// The state of an UpdateContainerAgent request on one instance (the status itself is the instance's
/// `agentUpdateStatus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentUpdateRecord {
    /// The version the agent is asked to run (the server's).
    pub target_version: String,
    /// The version the agent reported when the update was asked for.
    pub from_version: String,
    /// Why the update failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome of an idempotent request, kept under its client token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTokenRecord {
    /// SHA-256 (hex) of the request's parameters, to tell a retry from a different request.
    pub fingerprint: String,
    /// The resources the request created.
    pub resource_arns: Vec<String>,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// A deployment of a service, with what the service scheduler keeps about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentState {
    /// `ecs-svc/<digits>`; tasks carry it as `startedBy`.
    pub id: String,
    /// The task definition ARN.
    pub task_definition: String,
    /// `PRIMARY` or `ACTIVE`.
    pub status: DeploymentStatus,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub rollout_state: RolloutState,
    /// Why the rollout state is what it is.
    pub rollout_state_reason: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Task failures counted by the circuit breaker.
    pub failed_tasks: i32,
    /// Task ids already counted (so a failure is counted once).
    pub counted_failures: Vec<String>,
    /// The service revision it deploys.
    pub revision_arn: String,
    /// The service deployment ARN.
    pub service_deployment_arn: String,
    /// Whether it is the rollback of a failed deployment.
    pub rollback: bool,
}

/// A service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    /// The service as ECS shows it; counts and deployments are filled in when described.
    pub service: Service,
    /// The cluster's short name.
    pub cluster: String,
    /// Deployments, PRIMARY first.
    pub deployments: Vec<DeploymentState>,
    /// Service revisions, oldest first (the last 20).
    pub revisions: Vec<ServiceRevision>,
    /// Service deployments, oldest first (the last 20).
    pub service_deployments: Vec<ServiceDeployment>,
    /// The task definition of the last deployment that completed (the rollback target).
    pub last_completed_task_definition: Option<String>,
    /// Whether the steady-state event was the last word.
    pub steady: bool,
    /// The per-instance reasons of the last placement failure (for the CLI).
    pub last_placement_failures: Vec<Failure>,
    /// The idempotency fingerprint of the CreateService call.
    pub create_fingerprint: String,
    /// Revision counter for event ids.
    pub event_seq: u64,
    /// The start-failure throttle (`services::throttle`); absent in records written before it existed.
    #[serde(default)]
    pub start_throttle: StartThrottle,
}

/// How a service's task starts are held back after tasks failed to start (`services::throttle`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartThrottle {
    /// Tasks of the PRIMARY deployment that failed to start in a row (no task reached RUNNING since).
    pub failures: u32,
    /// When the last of them was counted.
    pub last_failure_at: Timestamp,
    /// No task is started before this time.
    pub not_before: Timestamp,
}

impl ServiceRecord {
    /// The service's `status` (`None` for a text this build does not know).
    pub fn status(&self) -> Option<ServiceStatus> {
        self.service.status.as_deref().and_then(ServiceStatus::parse)
    }

    /// Sets the service's `status`.
    pub fn set_status(&mut self, status: ServiceStatus) {
        self.service.status = Some(status.as_str().to_string());
    }
}

/// A tag of a resource, as Berth stores it (the wire `Tag` has both members optional; validation requires the
/// key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTag {
    /// The key.
    #[serde(default)]
    pub key: String,
    /// The value (absent when the request gave none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl StoredTag {
    /// The tags as stored, from their wire form.
    pub fn from_wire(tags: &[Tag]) -> Vec<Self> {
        tags.iter().map(|t| Self { key: t.key.clone().unwrap_or_default(), value: t.value.clone() }).collect()
    }

    /// The tags' wire form.
    pub fn to_wire(tags: &[Self]) -> Vec<Tag> {
        tags.iter().map(|t| Tag { key: Some(t.key.clone()), value: t.value.clone() }).collect()
    }
}
