//! A task set of a service with the EXTERNAL deployment controller, stored inside its service's record (a service
//! has at most [`MAX_TASK_SETS`] of them, and the service's `desiredCount` and each task set's `scale` decide the
//! task set's size together, so one compare-and-swap covers both). Rendered to the wire `TaskSet` by
//! `services::task_sets`.
//!
//! The user's documents (network configuration, load balancers, service registries) stay in their wire form: they
//! are returned as given. Counts are not stored; they are computed from the tasks (`startedBy` is the task set's id)
//! when the task set is described.

use super::{StoredTag, StrategyItem};
use crate::status::TaskLaunchType;
use berth_model::Timestamp;
use berth_model::ecs::{LoadBalancer, NetworkConfiguration, ServiceRegistry};
use serde::{Deserialize, Serialize};

/// The most task sets a service may have at once (ECS's quota; DRAINING ones count until they are gone).
pub const MAX_TASK_SETS: usize = 5;

/// A task set's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskSetStatus {
    /// Serving production traffic (UpdateServicePrimaryTaskSet chose it).
    Primary,
    /// Not the primary one.
    Active,
    /// Deleted: its tasks are stopping; it disappears once none is left.
    Draining,
}

impl TaskSetStatus {
    /// ECS's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "PRIMARY",
            Self::Active => "ACTIVE",
            Self::Draining => "DRAINING",
        }
    }
}

/// A task set's `stabilityStatus`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stability {
    /// Running its computed desired count, all healthy, nothing pending or leaving.
    SteadyState,
    /// Anything else.
    #[default]
    Stabilizing,
}

/// A task set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSetRecord {
    /// `ecs-svc/<19 digits>`; its tasks carry it as `startedBy`.
    pub id: String,
    /// `arn:aws:ecs:<region>:<account>:task-set/<cluster>/<service>/<id>`.
    pub arn: String,
    /// PRIMARY, ACTIVE or DRAINING.
    pub status: TaskSetStatus,
    /// The task definition ARN its tasks run.
    pub task_definition: String,
    /// Its launch type (absent when it was given a capacity provider strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<TaskLaunchType>,
    /// Its capacity provider strategy (empty when it names a launch type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<StrategyItem>,
    /// Its Fargate tasks' platform version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// Its network configuration, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Its load balancers (its own target groups), as given.
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
    /// Its service registries, as given.
    #[serde(default)]
    pub service_registries: Vec<ServiceRegistry>,
    /// Its scale, in percent of the service's desired count (0 to 100).
    pub scale: f64,
    /// The caller's identifier for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<StoredTag>,
    /// The `clientToken` it was created with (a retry with the same token answers this task set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// STEADY_STATE or STABILIZING, as the service scheduler last found it.
    #[serde(default)]
    pub stability: Stability,
    /// When the stability status last changed.
    pub stability_at: Timestamp,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed (scale, status).
    pub updated_at: Timestamp,
}

impl TaskSetRecord {
    /// How its tasks launch, as placement takes it.
    pub fn launch(&self) -> crate::tasks::launch::Launch {
        crate::tasks::launch::Launch {
            launch_type: self
                .launch_type
                .and_then(TaskLaunchType::to_wire)
                .unwrap_or(berth_model::ecs::LaunchType::Ec2),
            strategy: self.capacity_provider_strategy.iter().map(StrategyItem::to_wire).collect(),
            platform_version: self.platform_version.clone(),
        }
    }

    /// How many tasks it should run for a service that wants `service_desired` (none once DRAINING).
    pub fn computed_desired_count(&self, service_desired: i32) -> i32 {
        if self.status == TaskSetStatus::Draining { 0 } else { computed_desired_count(service_desired, self.scale) }
    }
}

/// ECS's `computedDesiredCount`: the service's desired count times the scale percentage, always rounded up (1.2
/// tasks are 2). A product that is whole up to floating-point noise (e.g. 3 × 33.33...%) is not rounded up past it.
pub fn computed_desired_count(service_desired: i32, scale_percent: f64) -> i32 {
    if service_desired <= 0 || scale_percent.is_nan() || scale_percent <= 0.0 {
        return 0;
    }
    let exact = f64::from(service_desired) * scale_percent.min(100.0) / 100.0;
    let near = exact.round();
    let count = if (exact - near).abs() < 1e-9 { near } else { exact.ceil() };
    count.clamp(0.0, f64::from(service_desired)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_computed_desired_count_rounds_up() {
        assert_eq!(computed_desired_count(10, 100.0), 10);
        assert_eq!(computed_desired_count(10, 0.0), 0);
        assert_eq!(computed_desired_count(4, 30.0), 2, "1.2 tasks are 2");
        assert_eq!(computed_desired_count(3, 50.0), 2, "1.5 tasks are 2");
        assert_eq!(computed_desired_count(1, 0.1), 1, "any share of one task is a task");
        assert_eq!(computed_desired_count(10, 20.0), 2);
        assert_eq!(computed_desired_count(3, 100.0 / 3.0), 1, "floating-point noise is not a task");
        assert_eq!(computed_desired_count(7, 10.0), 1);
        assert_eq!(computed_desired_count(0, 100.0), 0);
        assert_eq!(computed_desired_count(5, f64::NAN), 0);
    }

    #[test]
    fn a_draining_task_set_wants_no_task() {
        let record = TaskSetRecord {
            id: "ecs-svc/1".into(),
            arn: String::new(),
            status: TaskSetStatus::Draining,
            task_definition: String::new(),
            launch_type: None,
            capacity_provider_strategy: Vec::new(),
            platform_version: None,
            network_configuration: None,
            load_balancers: Vec::new(),
            service_registries: Vec::new(),
            scale: 100.0,
            external_id: None,
            tags: Vec::new(),
            client_token: None,
            stability: Stability::Stabilizing,
            stability_at: 0.0,
            created_at: 0.0,
            updated_at: 0.0,
        };
        assert_eq!(record.computed_desired_count(4), 0);
        let active = TaskSetRecord { status: TaskSetStatus::Active, ..record };
        assert_eq!(active.computed_desired_count(4), 4);
    }
}
