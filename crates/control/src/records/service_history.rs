//! What a service keeps of its history: its service revisions and service deployments (the last 20 of each), and
//! the reasons of its last placement failure. Berth writes them and answers them as recorded
//! (DescribeServiceRevisions, DescribeServiceDeployments, ListServiceDeployments); the wire shapes are rendered from
//! these with the service's ARNs and, for a deployment's target revision, live task counts.

use super::ServiceRecord;
use crate::status::{RollbackMonitorsStatus, ServiceDeploymentStatus, TaskLaunchType};
use berth_model::Timestamp;
use berth_model::ecs::{
    DeploymentConfiguration, Failure, Rollback, ServiceDeployment, ServiceDeploymentAlarms,
    ServiceDeploymentCircuitBreaker, ServiceRevision, ServiceRevisionSummary,
};
use serde::{Deserialize, Serialize};

/// A service revision: what one deployment deploys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRevisionRecord {
    /// Its ARN.
    pub arn: String,
    /// The task definition it runs.
    pub task_definition: String,
    /// How its tasks are launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<TaskLaunchType>,
    /// When it was created.
    pub created_at: Timestamp,
    /// The service's load balancers when it was created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<berth_model::ecs::LoadBalancer>,
    /// The service's registries when it was created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_registries: Vec<berth_model::ecs::ServiceRegistry>,
}

/// A service deployment: the move from the revisions that ran to a target revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeploymentRecord {
    /// Its ARN.
    pub arn: String,
    /// Where it is.
    pub status: ServiceDeploymentStatus,
    /// Why it is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The revisions that ran when it started.
    pub source_revisions: Vec<String>,
    /// The revision it deploys.
    pub target_revision: String,
    /// The desired count it was started with.
    pub requested_task_count: i32,
    /// The service's deployment configuration when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Its circuit breaker, once it counts failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerRecord>,
    /// Its deployment alarms, once the service's configuration names them (`services::alarms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarmsRecord>,
    /// Its rollback, when it rolls back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// When it finished rolling out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// When it was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Timestamp>,
    /// Its progress, for a BLUE_GREEN, LINEAR or CANARY deployment (absent for rolling ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<super::BlueGreenProgress>,
}

/// A service deployment's circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerRecord {
    /// Whether it tripped.
    pub status: RollbackMonitorsStatus,
    /// The failures it counted.
    pub failure_count: i32,
    /// The failures that trip it.
    pub threshold: i32,
}

/// A service deployment's CloudWatch alarms (ServiceDeploymentAlarms), and what the check needs between passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarmsRecord {
    /// MONITORING, TRIGGERED, MONITORING_COMPLETE or DISABLED.
    pub status: RollbackMonitorsStatus,
    /// The alarms it watches.
    pub alarm_names: Vec<String>,
    /// The alarms that failed it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_alarm_names: Vec<String>,
    /// The deployment (id) the alarms are watched for: a rollback continues the service deployment with a new one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub watching: String,
    /// Alarms already in ALARM when `watching` started: not counted until they leave ALARM (ECS ignores alarms
    /// already in alarm when a deployment starts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// A service deployment's rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRecord {
    /// Why it rolls back.
    pub reason: String,
    /// When it started.
    pub started_at: Timestamp,
    /// The revision it rolls back to.
    pub service_revision_arn: String,
}

/// Why a task could not be placed on one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementFailure {
    /// The instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The reason (`RESOURCE:CPU` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// More about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ServiceRevisionRecord {
    /// The revision as DescribeServiceRevisions answers it.
    pub fn to_wire(&self, service: &ServiceRecord) -> ServiceRevision {
        ServiceRevision {
            service_revision_arn: Some(self.arn.clone()),
            service_arn: Some(service.arn.clone()),
            cluster_arn: Some(service.cluster_arn.clone()),
            task_definition: Some(self.task_definition.clone()),
            launch_type: self.launch_type.and_then(TaskLaunchType::to_wire),
            load_balancers: Some(self.load_balancers.clone()),
            service_registries: Some(self.service_registries.clone()),
            container_images: Some(Vec::new()),
            guard_duty_enabled: false,
            created_at: Some(self.created_at),
            ..Default::default()
        }
    }
}

impl ServiceDeploymentRecord {
    /// The service deployment as DescribeServiceDeployments answers it (the target revision's running and pending
    /// counts are filled in by the caller).
    pub fn to_wire(&self, service: &ServiceRecord) -> ServiceDeployment {
        let summary = |arn: &str| ServiceRevisionSummary { arn: Some(arn.to_string()), ..Default::default() };
        let bg = self.blue_green.as_ref();
        ServiceDeployment {
            service_deployment_arn: Some(self.arn.clone()),
            service_arn: Some(service.arn.clone()),
            cluster_arn: Some(service.cluster_arn.clone()),
            created_at: Some(self.created_at),
            started_at: self.started_at,
            finished_at: self.finished_at,
            stopped_at: self.stopped_at,
            updated_at: self.updated_at,
            source_service_revisions: Some(
                self.source_revisions
                    .iter()
                    .map(|a| ServiceRevisionSummary {
                        requested_production_traffic_weight: bg.map_or(0.0, |p| 100.0 - p.production_weight),
                        requested_test_traffic_weight: bg.map_or(0.0, |p| 100.0 - p.test_weight),
                        ..summary(a)
                    })
                    .collect(),
            ),
            target_service_revision: Some(ServiceRevisionSummary {
                requested_task_count: self.requested_task_count,
                requested_production_traffic_weight: bg.map_or(0.0, |p| p.production_weight),
                requested_test_traffic_weight: bg.map_or(0.0, |p| p.test_weight),
                ..summary(&self.target_revision)
            }),
            lifecycle_stage: bg.map(|p| p.stage.to_wire()),
            lifecycle_hook_details: bg
                .filter(|p| !p.hooks.is_empty())
                .map(|p| p.hooks.iter().map(|h| h.to_wire()).collect()),
            status: self.status.to_wire(),
            status_reason: self.status_reason.clone(),
            deployment_configuration: self.deployment_configuration.clone(),
            rollback: self.rollback.as_ref().map(|r| Rollback {
                reason: Some(r.reason.clone()),
                started_at: Some(r.started_at),
                service_revision_arn: Some(r.service_revision_arn.clone()),
            }),
            deployment_circuit_breaker: self.circuit_breaker.as_ref().map(|c| ServiceDeploymentCircuitBreaker {
                status: c.status.to_wire(),
                failure_count: c.failure_count,
                threshold: c.threshold,
            }),
            alarms: self.alarms.as_ref().map(|a| ServiceDeploymentAlarms {
                status: a.status.to_wire(),
                alarm_names: Some(a.alarm_names.clone()),
                triggered_alarm_names: Some(a.triggered_alarm_names.clone()),
            }),
        }
    }
}

impl PlacementFailure {
    /// The failure as stored, from its wire form.
    pub fn from_wire(f: &Failure) -> Self {
        Self { arn: f.arn.clone(), reason: f.reason.clone(), detail: f.detail.clone() }
    }
}
