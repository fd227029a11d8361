//! ECS Managed Daemons: daemon task definitions, daemons, their revisions and deployments, and the daemon
//! scheduler that keeps exactly one daemon task on every instance of a daemon's capacity providers.
//!
//! # Design
//! - Records (`records.rs`) live under `/ecs/daemonfamilies/`, `/ecs/daemontaskdefs/` and `/ecs/daemons/`, so the
//!   watch-fed cache holds them (`State::{daemon_families, daemon_task_definitions, daemons}`). A daemon keeps its
//!   revisions and deployments in its record (the last 20 of each).
//! - Daemon tasks are ordinary task records (so DescribeTasks, ListTasks, the agents and StopTask see them), with
//!   group `daemon:<name>`, `startedBy` the deployment's `ecs-daemon/<id>`, `taskDefinitionArn` the daemon task
//!   definition's ARN, and [`crate::records::TaskRecord::daemon_revision`] naming the revision they run. Their
//!   containers are the daemon definition's, in `bridge` mode ([`task_definitions::as_task_definition`]).
//! - A daemon's instances are the ACTIVE (or daemon-drained) instances of its cluster whose node group backs one of
//!   its capacity providers. `controller.rs` places a daemon task on each with one compare-and-swap transaction of
//!   the task and the instance record (its reservation counts in the instance's resources), replaces outdated ones
//!   in batches of `drainPercent` (`rollout.rs`, pure), counts failures for the circuit breaker, drains an instance
//!   whose daemon task stopped by itself and makes it ACTIVE again when its new daemon task runs, and releases the
//!   placement gate of new instances (`InstanceRecord::daemon_gate_until`).
//!
//! # Limitations
//! An instance whose node provider cannot remove it (a host Berth did not start), or whose daemon task failed during a
//! deployment, gets its daemon task again in place instead of being replaced;
//! alarm-based rollback is refused with `UnsupportedFeatureException` at CreateDaemon/UpdateDaemon. A daemon task's
//! role and execution role come from its daemon task definition (`task_definitions::definition_of_task`, used by
//! `task_role` and `task_secrets`).

pub mod controller;
mod deployment;
pub(crate) mod gate;
mod operations;
mod pass;
pub mod records;
mod render;
pub mod rollout;
pub mod task_definitions;

use crate::cache::State;
use crate::records::{InstanceRecord, TaskRecord};
use crate::status::{InstanceStatus, TaskStatus};
use crate::{ControlError, EcsException, Result};
use berth_model::arn::{Arn, is_arn};
use records::DaemonRecord;

/// The task group of a daemon's tasks.
pub fn group(name: &str) -> String {
    format!("daemon:{name}")
}

/// The `startedBy` of the daemon tasks a deployment starts.
pub fn started_by(deployment_id: &str) -> String {
    format!("ecs-daemon/{deployment_id}")
}

/// How long, at most, a new instance of a daemon's capacity providers keeps other tasks off while its daemon tasks
/// start, in seconds: long enough for a daemon image's pull over a slow link, short enough that a broken daemon
/// does not keep an instance out of service for long (the instance is then drained for the failed daemon anyway).
pub const GATE_SECONDS: f64 = 180.0;

/// `DaemonNotFoundException`.
pub(crate) fn not_found() -> ControlError {
    ControlError::ecs(EcsException::DaemonNotFoundException, "The specified daemon does not exist.")
}

/// The (cluster, name) a daemon ARN names.
pub(crate) fn parse_daemon_arn(text: &str) -> Result<(String, String)> {
    let text = text.trim();
    if !is_arn(text) {
        return Err(ControlError::invalid(format!("Invalid daemonArn: {text} is not a daemon ARN.")));
    }
    let arn = Arn::parse(text).map_err(|e| ControlError::invalid(format!("Invalid daemonArn: {e}")))?;
    match (arn.service.as_str(), arn.resource_type(), arn.resource_path().as_slice()) {
        ("ecs", "daemon", [cluster, name]) => Ok((cluster.to_string(), name.to_string())),
        _ => Err(ControlError::invalid(format!("Invalid daemonArn: {text} is not a daemon ARN."))),
    }
}

/// The (cluster, name, id) a daemon revision or deployment ARN names (`kind` is `daemon-revision` or
/// `daemon-deployment`); `None` when it is not one.
pub(crate) fn parse_child_arn(text: &str, kind: &str) -> Option<(String, String, String)> {
    let arn = Arn::parse(text.trim()).ok()?;
    match (arn.resource_type(), arn.resource_path().as_slice()) {
        (t, [cluster, name, id]) if t == kind => Some((cluster.to_string(), name.to_string(), id.to_string())),
        _ => None,
    }
}

/// Whether a daemon name follows ECS's rule: 1 to 255 letters, numbers, hyphens and underscores.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The instances a daemon runs on, with the capacity provider each belongs to: the cluster's instances that are
/// ACTIVE or DRAINING (a draining one keeps its daemon task until it leaves), whose node group backs one of the
/// daemon's providers.
pub(crate) fn instances_of<'s>(state: &'s State, daemon: &DaemonRecord) -> Vec<(String, &'s InstanceRecord)> {
    let Some(revision) = daemon.revision(&daemon.current_revision) else { return Vec::new() };
    let groups: Vec<(String, String)> = revision
        .capacity_providers
        .iter()
        .filter_map(|name| state.capacity_providers.get(name))
        .map(|p| (p.record.name.clone(), p.record.node_group().to_string()))
        .collect();
    state
        .instances
        .range((daemon.cluster.clone(), String::new())..)
        .take_while(|((cluster, _), _)| *cluster == daemon.cluster)
        .filter(|(_, v)| matches!(v.record.status, InstanceStatus::Active | InstanceStatus::Draining))
        .filter_map(|(_, v)| {
            let group = v.record.node_group.as_deref()?;
            let (provider, _) = groups.iter().find(|(_, g)| g == group)?;
            Some((provider.clone(), &*v.record))
        })
        .collect()
}

/// The daemon's tasks on an instance, oldest first.
pub(crate) fn tasks_on<'s>(state: &'s State, daemon: &DaemonRecord, instance_id: &str) -> Vec<&'s TaskRecord> {
    let group = group(&daemon.name);
    let mut tasks: Vec<&TaskRecord> = state
        .tasks_on_instance(instance_id)
        .map(|v| &*v.record)
        .filter(|t| t.cluster == daemon.cluster && t.group.as_deref() == Some(group.as_str()))
        .collect();
    tasks.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
    tasks
}

/// Whether a task is RUNNING and meant to keep running.
pub(crate) fn is_running(task: &TaskRecord) -> bool {
    task.last_status() == Some(TaskStatus::Running) && task.desired_status == crate::status::DesiredStatus::Running
}

/// The daemons of `cluster` whose capacity providers' node groups include `group` (ACTIVE daemons only).
pub(crate) fn daemons_covering<'s>(state: &'s State, cluster: &str, group: &str) -> Vec<&'s DaemonRecord> {
    state
        .daemons
        .range((cluster.to_string(), String::new())..)
        .take_while(|((c, _), _)| c == cluster)
        .map(|(_, v)| &*v.record)
        .filter(|d| d.status == berth_model::ecs::DaemonStatus::Active)
        .filter(|d| {
            d.revision(&d.current_revision).is_some_and(|r| {
                r.capacity_providers
                    .iter()
                    .filter_map(|name| state.capacity_providers.get(name))
                    .any(|p| p.record.node_group() == group)
            })
        })
        .collect()
}

/// The first (daemon name, provider) where a daemon of `cluster` that is not gone runs on one of `providers`.
pub(crate) fn provider_in_use(state: &State, cluster: &str, providers: &[&String]) -> Option<(String, String)> {
    state.daemons.range((cluster.to_string(), String::new())..).take_while(|((c, _), _)| c == cluster).find_map(
        |(_, v)| {
            let daemon = &v.record;
            let revision = daemon.revision(&daemon.current_revision)?;
            let used = revision.capacity_providers.iter().find(|p| providers.contains(p))?;
            Some((daemon.name.clone(), used.clone()))
        },
    )
}
