//! The stored service (schema 2): Berth's own fields beside its deployment state, rendered to the wire `Service` by
//! `services::render_service`.
//!
//! Schema 1 wrapped the wire `Service` under `service`; [`upgrade_from_v1`] turns such a value into this shape. Its
//! running and pending counts, its `deployments` as ECS lists them and its current revision are computed from the
//! deployment state and the tasks when it is described; none of them is stored. The user's own documents (the
//! deployment configuration, placement constraints and strategies, load balancers, service registries, network
//! configuration, deployment controller) stay in their wire form: they are returned as given. Its history (service
//! revisions, service deployments, the last placement failures) has its own types in `service_history`.

use super::service_history::{PlacementFailure, ServiceDeploymentRecord, ServiceRevisionRecord};
use super::upgrade::{carry, object, or, required, status};
use super::{DeploymentState, StartThrottle, StoredTag};
use crate::status::{Scheduling, ServiceDeploymentStatus, ServiceStatus, TagPropagation, TaskLaunchType};
use berth_model::Timestamp;
use berth_model::ecs::{
    DeploymentConfiguration, DeploymentController, DeploymentControllerType, LoadBalancer, NetworkConfiguration,
    PlacementConstraint, PlacementStrategy, ServiceEvent, ServiceRegistry,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    /// The service's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The cluster's short name.
    pub cluster: String,
    /// The cluster's ARN.
    pub cluster_arn: String,
    /// `ACTIVE`, `DRAINING` once deleted, `INACTIVE` once empty.
    pub status: ServiceStatus,
    /// How many tasks it should run (for a DAEMON service, how many instances it fits).
    pub desired_count: i32,
    /// How its tasks are launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<TaskLaunchType>,
    /// The Fargate capacity provider strategy it was created (or updated) with; empty when it names a launch type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<super::StrategyItem>,
    /// Its Fargate tasks' platform version (`1.4.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// REPLICA or DAEMON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_strategy: Option<Scheduling>,
    /// The task definition of its newest deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// Its deployment configuration, as given (with ECS's defaults filled in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Its deployment controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_controller: Option<DeploymentController>,
    /// Its placement constraints, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    /// Its placement strategy, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    /// Its load balancers, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancers: Option<Vec<LoadBalancer>>,
    /// Its service registries, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_registries: Option<Vec<ServiceRegistry>>,
    /// Its network configuration, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// The role it was created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// How long a new task's failing health checks are ignored, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<i32>,
    /// Where its tasks' tags come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<TagPropagation>,
    /// Whether its tasks get ECS's managed tags.
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: bool,
    /// Whether ExecuteCommand may open sessions in its tasks.
    pub enable_execute_command: bool,
    /// Its tags.
    pub tags: Vec<StoredTag>,
    /// Its events, newest first.
    pub events: Vec<ServiceEventRecord>,
    /// When it was created.
    pub created_at: Timestamp,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Deployments, PRIMARY first.
    pub deployments: Vec<DeploymentState>,
    /// Service revisions, oldest first (the last 20).
    pub revisions: Vec<ServiceRevisionRecord>,
    /// Service deployments, oldest first (the last 20).
    pub service_deployments: Vec<ServiceDeploymentRecord>,
    /// The task definition of the last deployment that completed (the rollback target).
    pub last_completed_task_definition: Option<String>,
    /// Whether the steady-state event was the last word.
    pub steady: bool,
    /// The per-instance reasons of the last placement failure (for the CLI).
    pub last_placement_failures: Vec<PlacementFailure>,
    /// The idempotency fingerprint of the CreateService call.
    pub create_fingerprint: String,
    /// Revision counter for event ids.
    pub event_seq: u64,
    /// The start-failure throttle (`services::throttle`); absent in records written before it existed.
    #[serde(default)]
    pub start_throttle: StartThrottle,
    /// Its task sets (EXTERNAL deployment controller only), oldest first; absent in records written before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_sets: Vec<super::TaskSetRecord>,
    /// Which target group of each load balancer with an `advancedConfiguration` has production traffic: 0
    /// `targetGroupArn`, 1 `alternateTargetGroupArn` (blue/green deployments swap them each time one succeeds).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub production_side: u8,
}

fn is_zero(side: &u8) -> bool {
    *side == 0
}

/// An event of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEventRecord {
    /// Its id.
    pub id: String,
    /// When it happened.
    pub created_at: Timestamp,
    /// What happened (`(service NAME) ...`).
    pub message: String,
}

impl ServiceRecord {
    /// How its tasks launch, as placement takes it.
    pub fn launch(&self) -> crate::tasks::launch::Launch {
        crate::tasks::launch::Launch {
            launch_type: self
                .launch_type
                .and_then(TaskLaunchType::to_wire)
                .unwrap_or(berth_model::ecs::LaunchType::Ec2),
            strategy: self.capacity_provider_strategy.iter().map(super::StrategyItem::to_wire).collect(),
            platform_version: self.platform_version.clone(),
        }
    }
}

impl Default for ServiceRecord {
    /// An empty ACTIVE service (for building records field by field).
    fn default() -> Self {
        Self {
            name: String::new(),
            arn: String::new(),
            cluster: String::new(),
            cluster_arn: String::new(),
            status: ServiceStatus::Active,
            desired_count: 0,
            launch_type: None,
            capacity_provider_strategy: Vec::new(),
            platform_version: None,
            scheduling_strategy: None,
            task_definition: None,
            deployment_configuration: None,
            deployment_controller: None,
            placement_constraints: None,
            placement_strategy: None,
            load_balancers: None,
            service_registries: None,
            network_configuration: None,
            role_arn: None,
            health_check_grace_period_seconds: None,
            propagate_tags: None,
            enable_ecs_managed_tags: false,
            enable_execute_command: false,
            tags: Vec::new(),
            events: Vec::new(),
            created_at: 0.0,
            created_by: None,
            deployments: Vec::new(),
            revisions: Vec::new(),
            service_deployments: Vec::new(),
            last_completed_task_definition: None,
            steady: false,
            last_placement_failures: Vec::new(),
            create_fingerprint: String::new(),
            event_seq: 0,
            start_throttle: StartThrottle::default(),
            task_sets: Vec::new(),
            production_side: 0,
        }
    }
}

impl ServiceRecord {
    /// The service's `status`.
    pub fn status(&self) -> Option<ServiceStatus> {
        Some(self.status)
    }

    /// Sets the service's `status`.
    pub fn set_status(&mut self, status: ServiceStatus) {
        self.status = status;
    }

    /// Whether its deployment controller is EXTERNAL (task sets decide what runs).
    pub fn is_external(&self) -> bool {
        self.deployment_controller.as_ref().is_some_and(|c| c.r#type == DeploymentControllerType::External)
    }

    /// Whether it is a DAEMON service.
    pub fn is_daemon(&self) -> bool {
        self.scheduling_strategy == Some(Scheduling::Daemon)
    }
}

impl ServiceEventRecord {
    /// The event's wire form.
    pub fn to_wire(&self) -> ServiceEvent {
        ServiceEvent {
            id: Some(self.id.clone()),
            created_at: Some(self.created_at),
            message: Some(self.message.clone()),
        }
    }
}

/// Members of the schema-1 wire `Service` that carry over to schema 2 under the same name when present.
const CARRIED: [&str; 15] = [
    "launchType",
    "schedulingStrategy",
    "taskDefinition",
    "deploymentConfiguration",
    "deploymentController",
    "placementConstraints",
    "placementStrategy",
    "loadBalancers",
    "serviceRegistries",
    "networkConfiguration",
    "roleArn",
    "healthCheckGracePeriodSeconds",
    "propagateTags",
    "createdBy",
    "createdAt",
];

/// Turns a schema-1 service value (the wire `Service` under `service`, beside Berth's own members) into schema 2.
pub(crate) fn upgrade_from_v1(value: Value) -> Result<Value, String> {
    const WHAT: &str = "a schema-1 service record";
    let mut v2: Map<String, Value> = object(value, WHAT)?;
    v2.remove("schema");
    let mut service = object(required(&mut v2, "service", WHAT)?, WHAT)?;
    v2.insert("name".into(), required(&mut service, "serviceName", WHAT)?);
    v2.insert("arn".into(), required(&mut service, "serviceArn", WHAT)?);
    v2.insert("clusterArn".into(), required(&mut service, "clusterArn", WHAT)?);
    let text = required(&mut service, "status", WHAT)?;
    v2.insert("status".into(), status(text, "status", |s| ServiceStatus::parse(s).is_some(), WHAT)?);
    for member in CARRIED {
        carry(&mut service, member, &mut v2, member);
    }
    v2.entry("createdAt").or_insert_with(|| Value::from(0.0));
    v2.insert("desiredCount".into(), or(&mut service, "desiredCount", Value::from(0)));
    v2.insert("enableECSManagedTags".into(), or(&mut service, "enableECSManagedTags", Value::Bool(false)));
    v2.insert("enableExecuteCommand".into(), or(&mut service, "enableExecuteCommand", Value::Bool(false)));
    v2.insert("tags".into(), or(&mut service, "tags", Value::Array(Vec::new())));
    let events = match service.remove("events") {
        Some(Value::Array(events)) => events.into_iter().map(event_from_v1).collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    v2.insert("events".into(), Value::Array(events));
    let revisions = match v2.remove("revisions") {
        Some(Value::Array(items)) => items.into_iter().map(revision_from_v1).collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    v2.insert("revisions".into(), Value::Array(revisions));
    let deployments = match v2.remove("serviceDeployments") {
        Some(Value::Array(items)) => {
            items.into_iter().map(service_deployment_from_v1).collect::<Result<Vec<_>, _>>()?
        }
        _ => Vec::new(),
    };
    v2.insert("serviceDeployments".into(), Value::Array(deployments));
    Ok(Value::Object(v2))
}

/// A schema-1 wire `ServiceRevision` as a schema-2 [`ServiceRevisionRecord`] (its service's ARNs and the empty
/// lists Berth always showed are not stored).
fn revision_from_v1(revision: Value) -> Result<Value, String> {
    const WHAT: &str = "a revision of a schema-1 service record";
    let mut revision = object(revision, WHAT)?;
    let mut v2 = Map::new();
    v2.insert("arn".into(), required(&mut revision, "serviceRevisionArn", WHAT)?);
    v2.insert("taskDefinition".into(), required(&mut revision, "taskDefinition", WHAT)?);
    carry(&mut revision, "launchType", &mut v2, "launchType");
    v2.insert("createdAt".into(), required(&mut revision, "createdAt", WHAT)?);
    Ok(Value::Object(v2))
}

/// A schema-1 wire `ServiceDeployment` as a schema-2 [`ServiceDeploymentRecord`]: the revision summaries become
/// their ARNs (their counts were zero, or live when described), the circuit breaker and rollback keep their facts.
fn service_deployment_from_v1(deployment: Value) -> Result<Value, String> {
    const WHAT: &str = "a service deployment of a schema-1 service record";
    let mut d = object(deployment, WHAT)?;
    let mut v2 = Map::new();
    v2.insert("arn".into(), required(&mut d, "serviceDeploymentArn", WHAT)?);
    let text = required(&mut d, "status", WHAT)?;
    v2.insert("status".into(), status(text, "status", |s| ServiceDeploymentStatus::parse(s).is_some(), WHAT)?);
    let arn_of = |summary: &Value| summary.get("arn").cloned().unwrap_or_else(|| Value::from(""));
    let sources = match d.remove("sourceServiceRevisions") {
        Some(Value::Array(items)) => items.iter().map(arn_of).collect(),
        _ => Vec::new(),
    };
    v2.insert("sourceRevisions".into(), Value::Array(sources));
    let target = required(&mut d, "targetServiceRevision", WHAT)?;
    v2.insert("targetRevision".into(), arn_of(&target));
    v2.insert("requestedTaskCount".into(), target.get("requestedTaskCount").cloned().unwrap_or_else(|| 0.into()));
    if let Some(Value::Object(mut breaker)) = d.remove("deploymentCircuitBreaker") {
        let mut v2_breaker = Map::new();
        v2_breaker.insert("status".into(), or(&mut breaker, "status", Value::from("MONITORING")));
        v2_breaker.insert("failureCount".into(), or(&mut breaker, "failureCount", 0.into()));
        v2_breaker.insert("threshold".into(), or(&mut breaker, "threshold", 0.into()));
        v2.insert("circuitBreaker".into(), Value::Object(v2_breaker));
    }
    if let Some(Value::Object(mut rollback)) = d.remove("rollback") {
        let mut v2_rollback = Map::new();
        v2_rollback.insert("reason".into(), or(&mut rollback, "reason", Value::from("")));
        v2_rollback.insert("startedAt".into(), or(&mut rollback, "startedAt", Value::from(0.0)));
        v2_rollback.insert("serviceRevisionArn".into(), or(&mut rollback, "serviceRevisionArn", Value::from("")));
        v2.insert("rollback".into(), Value::Object(v2_rollback));
    }
    v2.insert("createdAt".into(), required(&mut d, "createdAt", WHAT)?);
    for member in ["statusReason", "deploymentConfiguration", "startedAt", "updatedAt", "finishedAt", "stoppedAt"] {
        carry(&mut d, member, &mut v2, member);
    }
    Ok(Value::Object(v2))
}

/// A schema-1 wire `ServiceEvent` as a schema-2 [`ServiceEventRecord`].
fn event_from_v1(event: Value) -> Result<Value, String> {
    const WHAT: &str = "an event of a schema-1 service record";
    let mut event = object(event, WHAT)?;
    let mut v2 = Map::new();
    v2.insert("id".into(), or(&mut event, "id", Value::from("")));
    v2.insert("createdAt".into(), or(&mut event, "createdAt", Value::from(0.0)));
    v2.insert("message".into(), or(&mut event, "message", Value::from("")));
    Ok(Value::Object(v2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v1() -> Value {
        json!({
            "schema": 1,
            "cluster": "default",
            "createFingerprint": "fp",
            "deployments": [],
            "eventSeq": 3,
            "lastCompletedTaskDefinition": null,
            "lastPlacementFailures": [],
            "revisions": [{
                "clusterArn": "arn:cluster",
                "containerImages": [],
                "createdAt": 4.0,
                "guardDutyEnabled": false,
                "launchType": "EC2",
                "loadBalancers": [],
                "serviceArn": "arn:aws:ecs:us-east-1:000000000000:service/default/web",
                "serviceRegistries": [],
                "serviceRevisionArn": "arn:rev:1",
                "taskDefinition": "arn:td:1"
            }],
            "serviceDeployments": [{
                "clusterArn": "arn:cluster",
                "createdAt": 4.0,
                "deploymentCircuitBreaker": {"failureCount": 3, "status": "TRIGGERED", "threshold": 3},
                "rollback": {"reason": "tasks failed", "serviceRevisionArn": "arn:rev:1", "startedAt": 6.0},
                "serviceArn": "arn:aws:ecs:us-east-1:000000000000:service/default/web",
                "serviceDeploymentArn": "arn:sd:2",
                "sourceServiceRevisions": [{
                    "arn": "arn:rev:1", "pendingTaskCount": 0, "requestedProductionTrafficWeight": 0.0,
                    "requestedTaskCount": 0, "requestedTestTrafficWeight": 0.0, "runningTaskCount": 0
                }],
                "startedAt": 4.0,
                "status": "ROLLBACK_IN_PROGRESS",
                "statusReason": "Circuit breaker triggered",
                "targetServiceRevision": {
                    "arn": "arn:rev:2", "pendingTaskCount": 0, "requestedProductionTrafficWeight": 0.0,
                    "requestedTaskCount": 2, "requestedTestTrafficWeight": 0.0, "runningTaskCount": 0
                },
                "updatedAt": 6.0
            }],
            "steady": true,
            "service": {
                "clusterArn": "arn:cluster",
                "createdAt": 4.0,
                "desiredCount": 2,
                "enableECSManagedTags": true,
                "events": [{"createdAt": 5.0, "id": "e1", "message": "(service web) has reached a steady state."}],
                "launchType": "EC2",
                "pendingCount": 1,
                "propagateTags": "SERVICE",
                "runningCount": 1,
                "schedulingStrategy": "DAEMON",
                "serviceArn": "arn:aws:ecs:us-east-1:000000000000:service/default/web",
                "serviceName": "web",
                "status": "DRAINING",
                "tags": [{"key": "owner", "value": "ops"}],
                "taskDefinition": "arn:td:1"
            }
        })
    }

    #[test]
    fn a_v1_value_becomes_a_v2_record_with_the_same_facts() {
        let record: ServiceRecord = serde_json::from_value(upgrade_from_v1(v1()).unwrap()).unwrap();
        assert_eq!((record.name.as_str(), record.status), ("web", ServiceStatus::Draining));
        assert_eq!((record.desired_count, record.created_at), (2, 4.0));
        assert!(record.is_daemon() && record.enable_ecs_managed_tags && !record.enable_execute_command);
        assert_eq!(record.propagate_tags, Some(TagPropagation::Service));
        assert_eq!(record.launch_type, Some(TaskLaunchType::Ec2));
        assert_eq!(record.events[0].message, "(service web) has reached a steady state.");
        assert_eq!(record.tags[0].key, "owner");
        assert_eq!((record.event_seq, record.steady), (3, true));
    }

    #[test]
    fn its_history_upgrades_and_is_answered_as_schema_1_recorded_it() {
        let old = v1();
        let record: ServiceRecord = serde_json::from_value(upgrade_from_v1(old.clone()).unwrap()).unwrap();
        let sd = &record.service_deployments[0];
        assert_eq!((sd.status, sd.requested_task_count), (ServiceDeploymentStatus::RollbackInProgress, 2));
        assert_eq!(sd.source_revisions, ["arn:rev:1"]);
        assert_eq!(sd.rollback.as_ref().unwrap().service_revision_arn, "arn:rev:1");
        let revisions: Vec<_> = record.revisions.iter().map(|r| r.to_wire(&record)).collect();
        assert_eq!(serde_json::to_value(revisions).unwrap(), old["revisions"]);
        let deployments: Vec<_> = record.service_deployments.iter().map(|d| d.to_wire(&record)).collect();
        assert_eq!(serde_json::to_value(deployments).unwrap(), old["serviceDeployments"]);
    }

    #[test]
    fn a_v1_value_missing_what_every_service_had_is_refused() {
        let mut value = v1();
        value["service"].as_object_mut().unwrap().remove("serviceArn");
        assert!(upgrade_from_v1(value).unwrap_err().contains("serviceArn"));
        let mut value = v1();
        value["service"]["status"] = "GONE".into();
        assert!(upgrade_from_v1(value).unwrap_err().contains("status"));
    }
}
