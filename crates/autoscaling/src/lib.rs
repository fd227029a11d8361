//! Berth's Application Auto Scaling for ECS services: the API subset (`application-autoscaling/2016-02-06`) and
//! the scaling controller.
//!
//! # Background
//! Service Auto Scaling changes an ECS service's desired count: between a scalable target's MinCapacity and
//! MaxCapacity, by target tracking (keep a metric near a value), step scaling (adjustments run by a CloudWatch
//! alarm) and scheduled actions (new bounds at a time). This crate serves the operations `aws
//! application-autoscaling` and the SDKs call, and runs the policies against Berth's own CloudWatch
//! (`berth-metrics`) and control plane (`berth-control`).
//!
//! # Design
//! - **Records** ([`records`]) in `berth_store` under `/autoscaling/` (targets, policies, scheduled actions,
//!   activities), so everything survives a restart. Writes are serialized by one lock in the service.
//! - **Operations** (`ops`): Register/Deregister/DescribeScalableTargets, Put/Delete/DescribeScalingPolicies,
//!   Put/Delete/DescribeScheduledActions, DescribeScalingActivities, tags on scalable targets, with AWS's errors (`ValidationException` for
//!   an unknown service, `ObjectNotFoundException` for an unregistered target). Only namespace `ecs` and
//!   dimension `ecs:service:DesiredCount` are served; others are refused by name.
//! - **Alarms**: as on AWS, a target tracking policy creates two CloudWatch alarms through [`berth_metrics::Metrics`]
//!   (`TargetTracking-<resource>-AlarmHigh-<uuid>`: above the target for 3 minutes; `...-AlarmLow-<uuid>`: below
//!   90% of it for 15, none with DisableScaleIn) and deletes them with the policy. A step policy's ARN goes in the
//!   user's own alarm's AlarmActions. [`Scaling::new`] registers the metrics' alarm hook: events naming
//!   `arn:aws:autoscaling:` policies are queued for the controller (CloudWatch repeats them every evaluation while
//!   the alarm stays in ALARM).
//! - **Controller** (`controller`, on `berth_runtime`, time from the `Clock`): target tracking scales out in
//!   proportion (`ceil(capacity × metric / target)`, at least one task) and in conservatively (toward the
//!   rounded-up proportional capacity, at most half the gap at a time), honours ScaleOutCooldown (capacity added
//!   during it counts toward the next scale-out) and ScaleInCooldown (a scale-out ends it); step policies pick
//!   their step by the metric's breach of the alarm's threshold ([`decide`]) and wait out their Cooldown;
//!   scheduled actions ([`schedule`]: `at()`, `rate()`, `cron()` in an IANA time zone, StartTime/EndTime) set
//!   new bounds and bring the desired count inside them. Nothing goes outside MinCapacity/MaxCapacity; the
//!   SuspendedState flags are honoured; no scale-in while a deployment rolls out. Each change is UpdateService
//!   through the control plane and a scaling activity with AWS's wording ("Setting desired count to 3.",
//!   "monitor alarm ... in state ALARM triggered policy ...").
//!
//! # Limitations
//! Only ECS services. `ALBRequestCountPerTarget` tracks `AWS/ApplicationELB` `RequestCountPerTarget` (Sum) of the
//! ResourceLabel's load balancer and target group, which Berth's load balancer publishes (`berth-lbsync`); the label
//! is checked for its form, not for the target group being the service's. Not built: predictive scaling,
//! customized metrics given as metric math (`Metrics`), NotScaledReasons and
//! not-scaled activities. With several target tracking policies on one service, any may scale out and scale-in
//! needs every one's AlarmLow in ALARM (as AWS); step policies act alone. A step alarm forced by SetAlarmState
//! with no data behind it is taken to breach its threshold by zero. A "deployment in progress" is a rollout replacing older deployments (a service's first
//! deployment does not block scale-in). The newest 1,000 activities per target are kept (AWS keeps six weeks).

mod controller;
pub mod decide;
mod ecs;
mod error;
mod ops;
pub mod records;
pub mod schedule;
mod service;

#[cfg(test)]
mod tests;

pub use error::ScalingError;
pub use service::{Scaling, ScalingConfig, TrackingDatapoints};

pub(crate) use ops::first_run as ops_first_run;
pub(crate) use ops::tracked_metric as ops_tracked_metric;
