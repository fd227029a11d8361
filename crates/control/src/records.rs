//! The records the control plane keeps in the store, and their keys.
//!
//! Clusters, tasks, container instances and services ([`ClusterRecord`], [`TaskRecord`], [`InstanceRecord`],
//! [`ServiceRecord`], schema 2) are Berth's own domain types: statuses are the enums of [`crate::status`] (so are
//! desired statuses, health, stop codes, launch types and scheduling strategies), tags, settings, attributes,
//! events and network bindings small local types, and the wire shapes are built from them only at the API edge
//! (`render_cluster`, [`crate::tasks::render_task`], `render_instance`, `render_service`). Members that are the
//! user's own documents, returned as given, stay in their wire form: a cluster's `configuration`, a task's
//! `overrides`, its container definitions and volumes, a service's deployment configuration, placement, load
//! balancers and registries. A service's history (revisions, service deployments, placement failures) has its own
//! types too (`service_history`). Each kind's module holds its upgrade from schema 1, when it wrapped the wire shape.
//!
//! A task definition ([`TaskDefinitionRecord`]) is the user's registered document and stays the wire
//! `TaskDefinition`: it is returned verbatim, and its fixture pins its shape.
//!
//! Counters that can be derived from other records (a cluster's task counts, an instance's running tasks and
//! remaining resources as shown) are not stored; they are computed when a record is rendered.

pub(crate) mod blue_green;
pub(crate) mod capacity_provider;
pub(crate) mod cluster;
pub(crate) mod instance;
pub(crate) mod service;
pub(crate) mod service_history;
pub(crate) mod task;
pub(crate) mod task_set;
pub(crate) mod upgrade;

pub use blue_green::{BlueGreenProgress, HookAction, HookKind, HookRun, HookStatus, Stage};
pub use capacity_provider::{CapacityProviderRecord, ManagedScalingRecord, ProviderStatus, ProviderUpdateStatus};
pub use cluster::{ClusterRecord, ClusterSettingRecord, StrategyItem};
pub use instance::{AgentVersions, AttributeRecord, DaemonReplacement, InstanceRecord};
pub use service::{ServiceEventRecord, ServiceRecord};
pub use service_history::{
    CircuitBreakerRecord, DeploymentAlarmsRecord, PlacementFailure, RollbackRecord, ServiceDeploymentRecord,
    ServiceRevisionRecord,
};
pub use task::{
    Binding, ContainerState, Protocol, Reservation, TargetsRecord, TaskRecord, Transition, WaitingPlacement,
};
pub use task_set::{MAX_TASK_SETS, Stability, TaskSetRecord, TaskSetStatus, computed_desired_count};

use crate::status::{DeploymentStatus, RolloutState};
use berth_model::Timestamp;
use berth_model::ecs::{Setting, Tag, TaskDefinition};
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
    /// Capacity providers (node group ones; FARGATE and FARGATE_SPOT are built in): `/ecs/capacityproviders/<name>`.
    pub const CAPACITY_PROVIDERS: &str = "/ecs/capacityproviders/";
    /// VPC slot claims: `/ecs/vpcslots/<slot>`, holding the ARN of the container instance that took the slot
    /// (not cached: the instances' records say which slots are taken; the claim makes taking one atomic).
    pub const NETWORK_SLOTS: &str = "/ecs/vpcslots/";

    /// The claim of a VPC slot.
    pub fn network_slot(slot: u32) -> String {
        format!("{NETWORK_SLOTS}{slot:03}")
    }

    /// The key of a cluster.
    pub fn cluster(name: &str) -> String {
        format!("{CLUSTERS}{name}")
    }
    /// The key of a capacity provider.
    pub fn capacity_provider(name: &str) -> String {
        format!("{CAPACITY_PROVIDERS}{name}")
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
