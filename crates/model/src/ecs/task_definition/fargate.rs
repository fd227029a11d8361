//! The rules a task definition must satisfy to run on Fargate, in the order Berth checks them, with ECS's messages
//! where they are known (docs/COMPATIBILITY.md, "FARGATE launch type", lists which wordings are ECS's).
//!
//! `RegisterTaskDefinition` refuses a definition that requires `FARGATE` and breaks one of them; a definition that
//! breaks none of them gets `FARGATE` in its `compatibilities` whether it asked for it or not, as ECS computes it.

use super::{TaskDefinitionError, client, is_fargate_size};
use crate::ecs::{
    ContainerDefinition, IpcMode, LogDriver, NetworkMode, PidMode, RegisterTaskDefinitionRequest, Volume,
};

/// The smallest `ephemeralStorage.sizeInGiB` Fargate takes (below it, the default 20 GiB applies by omission).
pub const MIN_EPHEMERAL_STORAGE_GIB: i32 = 21;
/// The largest `ephemeralStorage.sizeInGiB` Fargate takes.
pub const MAX_EPHEMERAL_STORAGE_GIB: i32 = 200;
/// The ephemeral storage a Fargate task gets when its definition names none.
pub const DEFAULT_EPHEMERAL_STORAGE_GIB: i32 = 20;

/// ECS's message for a Fargate definition whose network mode is not `awsvpc` (the quotes are ECS's curly ones).
pub const NETWORK_MODE: &str = "Fargate only supports network mode \u{2018}awsvpc\u{2019}.";

/// The first Fargate rule `req` breaks (with the task-level `cpu` and `memory` already parsed), or `None`.
pub fn violation(
    req: &RegisterTaskDefinitionRequest,
    task_cpu: Option<i32>,
    task_memory: Option<i32>,
) -> Option<TaskDefinitionError> {
    if req.network_mode != Some(NetworkMode::Awsvpc) {
        return Some(client(NETWORK_MODE));
    }
    let Some(cpu) = task_cpu else {
        return Some(client("Fargate requires that 'cpu' be defined at the task level."));
    };
    let Some(memory) = task_memory else {
        return Some(client("Fargate requires that 'memory' be defined at the task level."));
    };
    if !is_fargate_size(cpu, memory) {
        return Some(client(format!("No Fargate configuration exists for given values: {cpu} CPU, {memory} memory")));
    }
    if req.pid_mode == Some(PidMode::Host) {
        return Some(client(
            "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.",
        ));
    }
    if req.ipc_mode.is_some_and(|m| m != IpcMode::None) {
        return Some(client("Tasks using the Fargate launch type do not support ipcMode."));
    }
    if let Some(storage) = &req.ephemeral_storage
        && !(MIN_EPHEMERAL_STORAGE_GIB..=MAX_EPHEMERAL_STORAGE_GIB).contains(&storage.size_in_gi_b)
    {
        return Some(client(format!(
            "Invalid 'ephemeralStorage' setting for task. The 'sizeInGiB' must be between {MIN_EPHEMERAL_STORAGE_GIB} and {MAX_EPHEMERAL_STORAGE_GIB} GiB, got {}.",
            storage.size_in_gi_b
        )));
    }
    if req.placement_constraints.as_ref().is_some_and(|c| !c.is_empty()) {
        return Some(client(
            "Fargate compatible task definitions do not support placementConstraints: Fargate tasks are spread across Availability Zones.",
        ));
    }
    if let Some(why) = req.volumes.iter().flatten().find_map(volume) {
        return Some(why);
    }
    let execution_role = req.execution_role_arn.as_deref().is_some_and(|r| !r.is_empty());
    for c in &req.container_definitions {
        if let Some(why) = container(c, execution_role) {
            return Some(why);
        }
    }
    None
}

fn volume(v: &Volume) -> Option<TaskDefinitionError> {
    if v.host.as_ref().and_then(|h| h.source_path.as_deref()).is_some_and(|p| !p.is_empty()) {
        return Some(client("Fargate compatible task definitions do not support sourcePath"));
    }
    if v.docker_volume_configuration.is_some() {
        return Some(client("Fargate compatible task definitions do not support dockerVolumeConfiguration"));
    }
    None
}

fn container(c: &ContainerDefinition, execution_role: bool) -> Option<TaskDefinitionError> {
    let name = c.name.as_deref().unwrap_or_default();
    if c.privileged == Some(true) {
        return Some(client(format!(
            "Invalid 'privileged' setting for container '{name}'. Fargate compatible task definitions do not support privileged containers."
        )));
    }
    if c.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Some(client(format!(
            "Invalid 'links' setting for container '{name}'. Fargate compatible task definitions do not support links."
        )));
    }
    if let Some(lp) = &c.linux_parameters {
        if lp.devices.as_ref().is_some_and(|d| !d.is_empty()) {
            return Some(client(format!(
                "Invalid 'linuxParameters.devices' setting for container '{name}'. Fargate compatible task definitions do not support devices."
            )));
        }
        if lp.shared_memory_size.is_some() {
            return Some(client(format!(
                "Invalid 'linuxParameters.sharedMemorySize' setting for container '{name}'. Fargate compatible task definitions do not support sharedMemorySize."
            )));
        }
        if lp.tmpfs.as_ref().is_some_and(|t| !t.is_empty()) {
            return Some(client(format!(
                "Invalid 'linuxParameters.tmpfs' setting for container '{name}'. Fargate compatible task definitions do not support tmpfs."
            )));
        }
        if lp.max_swap.is_some() || lp.swappiness.is_some() {
            return Some(client(format!(
                "Invalid 'linuxParameters' setting for container '{name}'. Fargate compatible task definitions do not support maxSwap or swappiness."
            )));
        }
    }
    if let Some(log) = &c.log_configuration
        && log.log_driver == LogDriver::Awslogs
        && !execution_role
    {
        return Some(client(
            "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
        ));
    }
    if c.image.as_deref().is_some_and(is_ecr_image) && !execution_role {
        return Some(client("Fargate requires task definition to have execution role ARN to support ECR images."));
    }
    None
}

/// Whether `image` is in Amazon ECR (`<account>.dkr.ecr.<region>.amazonaws.com/...`).
fn is_ecr_image(image: &str) -> bool {
    let host = image.split('/').next().unwrap_or_default();
    image.contains('/')
        && host.contains(".dkr.ecr")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}
