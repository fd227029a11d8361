//! What the service scheduler's decisions take from the control plane besides the records: the time, the names
//! its ARNs carry, and its settings. With an [`Env`], the deployment state machine ([`super::machine`]) and the
//! changes a service record goes through (new deployments, rollbacks, events) are plain functions of their inputs.

use super::{MAX_EVENTS, MAX_HISTORY, digits, new_deployment_id};
use crate::records::{
    DeploymentState, RollbackRecord, ServiceDeploymentRecord, ServiceEventRecord, ServiceRecord, ServiceRevisionRecord,
};
use crate::status::{DeploymentStatus, RolloutState, ServiceDeploymentStatus};
use std::collections::BTreeSet;

/// The time and settings one decision about a service is made with.
#[derive(Debug, Clone, PartialEq)]
pub struct Env {
    /// The time, in seconds since the epoch (to the millisecond, as records keep it).
    pub now: f64,
    /// The region ARNs name.
    pub region: String,
    /// The account ARNs name.
    pub account_id: String,
    /// How long, in seconds, a deployment's tasks must have run healthy before it is COMPLETED (the controller
    /// stretches it to the bake time of a service's deployment alarms, [`super::alarms`]).
    pub stabilization: f64,
    /// How many seconds one minute of a blue/green deployment's bake times and hook timeouts lasts.
    pub minute: f64,
    /// The service's deployment alarms that are in ALARM now (filled by the controller, and only for a service
    /// whose configuration enables alarms; [`super::alarms`]).
    pub alarms_in_alarm: BTreeSet<String>,
}

impl Env {
    /// `arn:aws:ecs:<region>:<account>:<resource>`.
    pub fn arn(&self, resource: &str) -> String {
        format!("arn:aws:ecs:{}:{}:{}", self.region, self.account_id, resource)
    }

    /// A new revision and service deployment for a deployment of `task_definition`.
    pub fn new_deployment(&self, record: &mut ServiceRecord, task_definition: &str, rollback: bool) -> DeploymentState {
        let now = self.now;
        let cluster = &record.cluster;
        let name = record.name.clone();
        let revision_arn = self.arn(&format!("service-revision/{cluster}/{name}/{}", digits(19)));
        record.revisions.push(ServiceRevisionRecord {
            arn: revision_arn.clone(),
            task_definition: task_definition.to_string(),
            launch_type: record.launch_type,
            created_at: now,
            load_balancers: record.load_balancers.clone().unwrap_or_default(),
            service_registries: record.service_registries.clone().unwrap_or_default(),
        });
        let source: Vec<String> = record.deployments.iter().map(|d| d.revision_arn.clone()).collect();
        let blue_green = if rollback { None } else { super::blue_green::progress::start(self, record) };
        let service_deployment_arn = if rollback {
            // A rollback continues the failed deployment's service deployment.
            record.deployments.first().map(|d| d.service_deployment_arn.clone()).unwrap_or_default()
        } else {
            let arn = self.arn(&format!("service-deployment/{cluster}/{name}/{}", berth_model::ids::new_token(22)));
            // A deployment still in progress is superseded by this one.
            for sd in record.service_deployments.iter_mut() {
                if matches!(sd.status, ServiceDeploymentStatus::InProgress | ServiceDeploymentStatus::Pending) {
                    sd.status = ServiceDeploymentStatus::Stopped;
                    sd.status_reason = Some("Superseded by a newer deployment.".into());
                    sd.stopped_at = Some(now);
                    sd.updated_at = Some(now);
                }
            }
            record.service_deployments.push(ServiceDeploymentRecord {
                arn: arn.clone(),
                status: ServiceDeploymentStatus::InProgress,
                status_reason: None,
                source_revisions: source,
                target_revision: revision_arn.clone(),
                requested_task_count: record.desired_count,
                deployment_configuration: record.deployment_configuration.clone(),
                circuit_breaker: None,
                alarms: None,
                rollback: None,
                created_at: now,
                started_at: Some(now),
                updated_at: Some(now),
                finished_at: None,
                stopped_at: None,
                blue_green,
            });
            arn
        };
        trim(&mut record.revisions);
        trim(&mut record.service_deployments);
        for d in record.deployments.iter_mut() {
            d.status = DeploymentStatus::Active;
            d.updated_at = now;
        }
        // A new deployment starts at full pace (ECS: a new task definition ends the throttle at once).
        record.start_throttle = Default::default();
        DeploymentState {
            id: new_deployment_id(),
            task_definition: task_definition.to_string(),
            status: DeploymentStatus::Primary,
            rollout_state: RolloutState::InProgress,
            rollout_state_reason: if rollback {
                "ECS deployment circuit breaker: rolling back to the last completed deployment.".into()
            } else {
                "ECS deployment in progress.".into()
            },
            created_at: now,
            updated_at: now,
            failed_tasks: 0,
            counted_failures: Vec::new(),
            revision_arn,
            service_deployment_arn,
            rollback,
        }
    }

    /// Rolls the PRIMARY deployment (whose service deployment is `arn`) back to `target`: the service deployment
    /// goes ROLLBACK_IN_PROGRESS with `status_reason` and its `rollback` (with `rollback_reason`), and a new PRIMARY
    /// deployment of `target` continues it. Shared by the circuit breaker and StopServiceDeployment; returns the new
    /// deployment's id (for the caller's event).
    pub fn start_rollback(
        &self,
        record: &mut ServiceRecord,
        arn: &str,
        target: &str,
        status_reason: &str,
        rollback_reason: &str,
    ) -> String {
        let now = self.now;
        let rollback = self.new_deployment(record, target, true);
        if let Some(sd) = record.service_deployments.iter_mut().find(|d| d.arn == arn) {
            sd.status = ServiceDeploymentStatus::RollbackInProgress;
            sd.status_reason = Some(status_reason.into());
            sd.updated_at = Some(now);
            sd.rollback = Some(RollbackRecord {
                reason: rollback_reason.into(),
                started_at: now,
                service_revision_arn: rollback.revision_arn.clone(),
            });
        }
        let rollback_id = rollback.id.clone();
        record.deployments.insert(0, rollback);
        record.task_definition = Some(target.to_string());
        rollback_id
    }

    /// Appends an event (newest first, at most [`MAX_EVENTS`]).
    pub fn push_event(&self, record: &mut ServiceRecord, message: String) {
        record.event_seq += 1;
        let event = ServiceEventRecord {
            id: berth_model::ids::new_uuid(),
            created_at: self.now,
            message: format!("(service {}) {message}", record.name),
        };
        record.events.insert(0, event);
        record.events.truncate(MAX_EVENTS);
    }
}

fn trim<T>(list: &mut Vec<T>) {
    if list.len() > MAX_HISTORY {
        let extra = list.len() - MAX_HISTORY;
        list.drain(..extra);
    }
}
