//! The stored capacity provider (schema 1): Berth's own fields, rendered to the wire `CapacityProvider` by
//! `capacity_providers.rs`.
//!
//! Only Auto Scaling group providers are stored: `FARGATE` and `FARGATE_SPOT` are built in and have no record.
//! `autoScalingGroupArn` names the provider's *node group* (ARCHITECTURE.md, "Capacity providers, as built").

use super::StoredTag;
use berth_model::Timestamp;
use serde::{Deserialize, Serialize};

/// A capacity provider backed by a node group (ECS's Auto Scaling group provider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderRecord {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// `ACTIVE`, or `INACTIVE` once deleted.
    pub status: ProviderStatus,
    /// `autoScalingGroupArn` as given: an Auto Scaling group ARN or a name; either way it names the node group.
    pub auto_scaling_group_arn: String,
    /// Managed scaling settings (all defaults filled in).
    pub managed_scaling: ManagedScalingRecord,
    /// Managed termination protection.
    pub managed_termination_protection: bool,
    /// Managed draining.
    pub managed_draining: bool,
    /// The last create, update or delete and how it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status: Option<ProviderUpdateStatus>,
    /// Why the update status is what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status_reason: Option<String>,
    /// Its tags.
    pub tags: Vec<StoredTag>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A capacity provider's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderStatus {
    /// Usable.
    Active,
    /// Deleted.
    Inactive,
}

/// A capacity provider's update status (the model's `CapacityProviderUpdateStatus` values Berth reaches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderUpdateStatus {
    /// An UpdateCapacityProvider was applied.
    UpdateComplete,
    /// A delete was asked for.
    DeleteInProgress,
    /// The provider is deleted.
    DeleteComplete,
}

/// Managed scaling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedScalingRecord {
    /// Whether managed scaling is on.
    pub enabled: bool,
    /// The target utilization, percent (1-100).
    pub target_capacity: i32,
    /// The fewest instances one scale-out adds.
    pub minimum_scaling_step_size: i32,
    /// The most instances one scale-out adds.
    pub maximum_scaling_step_size: i32,
    /// Seconds a new instance is given before it counts.
    pub instance_warmup_period: i32,
}

impl Default for ManagedScalingRecord {
    fn default() -> Self {
        Self {
            enabled: false,
            target_capacity: 100,
            minimum_scaling_step_size: 1,
            maximum_scaling_step_size: 10_000,
            instance_warmup_period: 300,
        }
    }
}

impl CapacityProviderRecord {
    /// The node group its instances belong to: the Auto Scaling group's name (the ARN's `autoScalingGroupName/`
    /// part), or the value itself when it is a name.
    pub fn node_group(&self) -> &str {
        node_group_of(&self.auto_scaling_group_arn)
    }
}

/// The node group an `autoScalingGroupArn` names: the name after `autoScalingGroupName/` in an ARN, else the value.
pub fn node_group_of(auto_scaling_group_arn: &str) -> &str {
    match auto_scaling_group_arn.split_once(":autoScalingGroupName/") {
        Some((_, name)) if auto_scaling_group_arn.starts_with("arn:") => name,
        _ => auto_scaling_group_arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_named_by_arn_or_name() {
        let arn =
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:57ffcb94-11f0:autoScalingGroupName/MyASG";
        assert_eq!(node_group_of(arn), "MyASG");
        assert_eq!(node_group_of("workers"), "workers");
    }
}
