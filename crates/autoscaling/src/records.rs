//! What Auto Scaling keeps in `berth_store`, under `/autoscaling/`: scalable targets, policies, scheduled actions
//! and scaling activities, as JSON records (schema 1). Keys carry the resource ID (`service/<cluster>/<service>`)
//! and percent-encoded names, so one target's records are one prefix.

use crate::ScalingError;
use berth_model::autoscaling::{
    CustomizedMetricSpecification, PredefinedMetricSpecification, StepScalingPolicyConfiguration,
};
use berth_store::{SharedStore, Txn, TxnOutcome};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;

/// The root of every key.
pub const PREFIX: &str = "/autoscaling/";

const NAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// The key of a scalable target.
pub fn target_key(resource_id: &str) -> String {
    format!("{PREFIX}target/{resource_id}")
}

/// The prefix of a target's policies.
pub fn policies_prefix(resource_id: &str) -> String {
    format!("{PREFIX}policy/{resource_id}/")
}

/// The key of a policy.
pub fn policy_key(resource_id: &str, name: &str) -> String {
    format!("{}{}", policies_prefix(resource_id), utf8_percent_encode(name, NAME))
}

/// The prefix of a target's scheduled actions.
pub fn scheduled_prefix(resource_id: &str) -> String {
    format!("{PREFIX}scheduled/{resource_id}/")
}

/// The key of a scheduled action.
pub fn scheduled_key(resource_id: &str, name: &str) -> String {
    format!("{}{}", scheduled_prefix(resource_id), utf8_percent_encode(name, NAME))
}

/// The prefix of a target's activities.
pub fn activities_prefix(resource_id: &str) -> String {
    format!("{PREFIX}activity/{resource_id}/")
}

/// The schema version written in every record.
pub const SCHEMA: u32 = 1;

/// A registered scalable target: an ECS service's desired count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// The record's schema version.
    pub schema: u32,
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// MinCapacity.
    pub min: i32,
    /// MaxCapacity.
    pub max: i32,
    /// DynamicScalingInSuspended.
    pub scale_in_suspended: bool,
    /// DynamicScalingOutSuspended.
    pub scale_out_suspended: bool,
    /// ScheduledScalingSuspended.
    pub scheduled_suspended: bool,
    /// The RoleARN shown (the service-linked role's).
    pub role_arn: String,
    /// ScalableTargetARN.
    pub arn: String,
    /// CreationTime (epoch seconds).
    pub created: f64,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The last dynamic scale-out: when, and the capacity before it (target tracking's cooldown base).
    #[serde(default)]
    pub last_scale_out: Option<(f64, i32)>,
    /// When the last dynamic scale-in happened.
    #[serde(default)]
    pub last_scale_in: Option<f64>,
}

/// A policy's kind and configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum PolicyConfig {
    /// StepScaling: run by its alarm's AlarmActions.
    Step {
        /// The step configuration as given.
        config: StepScalingPolicyConfiguration,
    },
    /// TargetTrackingScaling, with its two alarms.
    TargetTracking {
        /// TargetValue.
        target: f64,
        /// A predefined metric.
        predefined: Option<PredefinedMetricSpecification>,
        /// A customized metric.
        customized: Option<CustomizedMetricSpecification>,
        /// ScaleOutCooldown (seconds).
        scale_out_cooldown: i32,
        /// ScaleInCooldown (seconds).
        scale_in_cooldown: i32,
        /// DisableScaleIn.
        disable_scale_in: bool,
        /// The high alarm's name.
        alarm_high: String,
        /// The low alarm's name.
        alarm_low: String,
    },
}

/// A scaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// The record's schema version.
    pub schema: u32,
    /// PolicyName.
    pub name: String,
    /// The target's resource ID.
    pub resource_id: String,
    /// PolicyARN.
    pub arn: String,
    /// The configuration.
    pub config: PolicyConfig,
    /// CreationTime.
    pub created: f64,
    /// When a step policy last changed the capacity (its cooldown starts there).
    #[serde(default)]
    pub last_step: Option<f64>,
}

/// A scheduled action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledRecord {
    /// The record's schema version.
    pub schema: u32,
    /// ScheduledActionName.
    pub name: String,
    /// The target's resource ID.
    pub resource_id: String,
    /// ScheduledActionARN.
    pub arn: String,
    /// The expression.
    pub schedule: String,
    /// The IANA time zone, if given.
    pub timezone: Option<String>,
    /// StartTime.
    pub start: Option<f64>,
    /// EndTime.
    pub end: Option<f64>,
    /// ScalableTargetAction MinCapacity.
    pub min: Option<i32>,
    /// ScalableTargetAction MaxCapacity.
    pub max: Option<i32>,
    /// CreationTime.
    pub created: f64,
    /// The next run not yet done (None: none left).
    pub next_run: Option<f64>,
}

/// A scaling activity, as DescribeScalingActivities shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRecord {
    /// The record's schema version.
    pub schema: u32,
    /// ActivityId.
    pub id: String,
    /// The target's resource ID.
    pub resource_id: String,
    /// Description (`Setting desired count to 3.`).
    pub description: String,
    /// Cause.
    pub cause: String,
    /// StartTime.
    pub start: f64,
    /// EndTime.
    pub end: Option<f64>,
    /// `Successful`, `Failed` ...
    pub status: String,
    /// StatusMessage.
    pub status_message: Option<String>,
}

/// The key of an activity: its start time in milliseconds, then a sequence number (both zero-padded), so keys
/// sort by time and activities started in the same millisecond keep their order.
pub fn activity_key(resource_id: &str, start: f64, seq: u64, id: &str) -> String {
    format!("{}{:016}-{seq:012}-{id}", activities_prefix(resource_id), (start * 1000.0).max(0.0) as u64)
}

/// Reads one record and its revision.
pub async fn get<T: DeserializeOwned>(store: &SharedStore, key: &str) -> Result<Option<(T, i64)>, ScalingError> {
    match store.get(key).await? {
        Some(kv) => Ok(Some((serde_json::from_slice(&kv.value)?, kv.mod_revision))),
        None => Ok(None),
    }
}

/// Reads every record under a prefix, in key order.
pub async fn list<T: DeserializeOwned>(store: &SharedStore, prefix: &str) -> Result<Vec<(String, T)>, ScalingError> {
    let range = store.range(prefix).await?;
    range.kvs.into_iter().map(|kv| Ok((kv.key, serde_json::from_slice(&kv.value)?))).collect()
}

/// Commits a transaction; a conflict is a concurrent update (the caller retries or reports it).
pub async fn commit(store: &SharedStore, txn: Txn) -> Result<bool, ScalingError> {
    Ok(matches!(store.txn(txn).await?, TxnOutcome::Committed { .. }))
}

/// Serializes a record.
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, ScalingError> {
    Ok(serde_json::to_vec(record)?)
}
