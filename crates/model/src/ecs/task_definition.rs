//! The rules ECS applies to `RegisterTaskDefinition` that the model does not state, with the messages ECS gives.
//!
//! ECS answers a bad task definition with `ClientException` and a short message ("Family contains invalid
//! characters.", "Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' must be
//! specified."). The checks here follow those rules; where ECS's wording is not known, the message names the field,
//! the container and the rule.

use super::{
    Compatibility, ContainerCondition, ContainerDefinition, HealthCheck, NetworkMode, PortMapping,
    RegisterTaskDefinitionRequest, TransportProtocol,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};

pub mod fargate;

/// The most containers one task definition may hold.
pub const MAX_CONTAINERS: usize = 10;
/// The smallest hard memory limit Docker accepts for a container, in MiB.
pub const MIN_CONTAINER_MEMORY_MIB: i32 = 6;

/// A rejected task definition: the exception ECS uses and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TaskDefinitionError {
    /// `ClientException` or `InvalidParameterException`.
    pub exception: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

fn client(message: impl Into<String>) -> TaskDefinitionError {
    TaskDefinitionError { exception: "ClientException", message: message.into() }
}

/// Whether `name` is a valid family or container name: 1 to 255 letters, digits, hyphens and underscores.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses a task-level `cpu` value: CPU units (`"1024"`) or vCPUs (`"1 vCPU"`, `"0.5vcpu"`).
pub fn parse_task_cpu(text: &str) -> Option<i32> {
    let t = text.trim();
    if let Ok(units) = t.parse::<i32>() {
        return (units > 0).then_some(units);
    }
    let lower = t.to_ascii_lowercase();
    let number = lower.strip_suffix("vcpu")?.trim();
    let vcpus: f64 = number.parse().ok()?;
    let units = (vcpus * 1024.0).round();
    (vcpus > 0.0 && units <= i32::MAX as f64).then_some(units as i32)
}

/// Parses a task-level `memory` value: MiB (`"512"`) or GB (`"2 GB"`, `"0.5gb"`), returning MiB.
pub fn parse_task_memory(text: &str) -> Option<i32> {
    let t = text.trim();
    if let Ok(mib) = t.parse::<i32>() {
        return (mib > 0).then_some(mib);
    }
    let lower = t.to_ascii_lowercase();
    let number = lower.strip_suffix("gb")?.trim();
    let gib: f64 = number.parse().ok()?;
    let mib = (gib * 1024.0).round();
    (gib > 0.0 && mib <= i32::MAX as f64).then_some(mib as i32)
}

/// Whether (`cpu` units, `memory` MiB) is one of the task sizes Fargate offers.
pub fn is_fargate_size(cpu: i32, memory: i32) -> bool {
    let gib = |n: i32| n * 1024;
    let steps =
        |lo: i32, hi: i32, step: i32| memory >= gib(lo) && memory <= gib(hi) && (memory - gib(lo)) % gib(step) == 0;
    match cpu {
        256 => matches!(memory, 512 | 1024 | 2048),
        512 => steps(1, 4, 1),
        1024 => steps(2, 8, 1),
        2048 => steps(4, 16, 1),
        4096 => steps(8, 30, 1),
        8192 => steps(16, 60, 4),
        16384 => steps(32, 120, 8),
        _ => false,
    }
}

/// Whether a valid `RegisterTaskDefinition` request also satisfies Fargate's rules ([`fargate::violation`]): such a
/// definition gets `FARGATE` in its `compatibilities`, whether it requires it or not.
pub fn fargate_compatible(req: &RegisterTaskDefinitionRequest) -> bool {
    let cpu = req.cpu.as_deref().and_then(parse_task_cpu);
    let memory = req.memory.as_deref().and_then(parse_task_memory);
    fargate::violation(req, cpu, memory).is_none()
}

/// Validates a `RegisterTaskDefinition` request as ECS does. On success the request is safe to normalise and store.
pub fn validate_register(req: &RegisterTaskDefinitionRequest) -> Result<(), TaskDefinitionError> {
    validate_family(&req.family)?;
    let containers = &req.container_definitions;
    if containers.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    if containers.len() > MAX_CONTAINERS {
        return Err(client(format!(
            "Too many containers: a task definition can have at most {MAX_CONTAINERS} containers, this one has {}.",
            containers.len()
        )));
    }
    let fargate = req.requires_compatibilities.iter().flatten().any(|c| *c == Compatibility::Fargate);
    let network_mode = req.network_mode.unwrap_or(NetworkMode::Bridge);
    let task_cpu = match &req.cpu {
        Some(text) => Some(parse_task_cpu(text).ok_or_else(|| client("Invalid 'cpu' setting for task."))?),
        None => None,
    };
    let task_memory = match &req.memory {
        Some(text) => Some(parse_task_memory(text).ok_or_else(|| client("Invalid 'memory' setting for task."))?),
        None => None,
    };
    if let Some(cpu) = task_cpu
        && !(128..=196_608).contains(&cpu)
    {
        return Err(client(format!(
            "Invalid 'cpu' setting for task. The task cpu must be between 128 and 196608 CPU units, got {cpu}."
        )));
    }
    if fargate && let Some(why) = fargate::violation(req, task_cpu, task_memory) {
        return Err(why);
    }

    let mut volumes: BTreeSet<&str> = BTreeSet::new();
    for v in req.volumes.iter().flatten() {
        let name = v.name.as_deref().unwrap_or_default();
        if !is_valid_name(name) {
            return Err(client(format!(
                "Invalid volume name '{name}': up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens are allowed."
            )));
        }
        if !volumes.insert(name) {
            return Err(client(format!(
                "Duplicate volume name '{name}': volume names must be unique within a task definition."
            )));
        }
    }
    let mut names = HashSet::new();
    for c in containers {
        validate_container_basics(c)?;
        if !names.insert(c.name.as_deref().unwrap_or_default()) {
            return Err(client(format!(
                "Duplicate container name '{}': container names must be unique within a task definition.",
                c.name.as_deref().unwrap_or_default()
            )));
        }
        validate_container_memory(c, task_memory)?;
        validate_ports(c, network_mode)?;
        crate::published_ports::check(c, network_mode).map_err(client)?;
        if fargate && !crate::published_ports::of(c).is_empty() {
            return Err(client(format!(
                "Invalid '{}' docker label for container '{}': Fargate tasks run on hosts that are not yours, so they \
                 publish no ports on them; reach the task at its own address or through a load balancer.",
                crate::published_ports::LABEL,
                c.name.as_deref().unwrap_or_default()
            )));
        }
        if let Some(hc) = &c.health_check {
            validate_health_check(c.name.as_deref().unwrap_or_default(), hc)?;
        }
        for mp in c.mount_points.iter().flatten() {
            let source = mp.source_volume.as_deref().unwrap_or_default();
            if !volumes.contains(source) {
                return Err(client(format!(
                    "Invalid 'mountPoints' setting for container '{}'. The source volume '{}' is not defined in the task definition's volumes.",
                    c.name.as_deref().unwrap_or_default(),
                    source
                )));
            }
        }
        if network_mode == NetworkMode::Awsvpc {
            // The task's containers share one namespace, whose name and hosts file the task's interface decides.
            let name = c.name.as_deref().unwrap_or_default();
            if c.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
                return Err(client(format!(
                    "Invalid 'hostname' setting for container '{name}'. The hostname parameter is not supported in the 'awsvpc' network mode."
                )));
            }
            if c.extra_hosts.as_ref().is_some_and(|h| !h.is_empty()) {
                return Err(client(format!(
                    "Invalid 'extraHosts' setting for container '{name}'. The extraHosts parameter is not supported in the 'awsvpc' network mode."
                )));
            }
        }
        if c.links.as_ref().is_some_and(|l| !l.is_empty()) && network_mode != NetworkMode::Bridge {
            return Err(client(format!(
                "Invalid 'links' setting for container '{}'. Links are only supported in the 'bridge' network mode.",
                c.name.as_deref().unwrap_or_default()
            )));
        }
    }
    if !containers.iter().any(|c| c.essential != Some(false)) {
        return Err(client("Task definition doesn't have any essential container."));
    }
    validate_task_totals(containers, task_cpu, task_memory)?;
    validate_host_ports_across_containers(containers)?;
    validate_dependencies(containers)?;
    Ok(())
}

/// Validates the resources of containers as a task runs them (after RunTask/StartTask overrides), with the same
/// rules `RegisterTaskDefinition` applies: container `cpu` not negative, `memory` and `memoryReservation` at least
/// [`MIN_CONTAINER_MEMORY_MIB`], a reservation not above the hard limit, one of them set unless the task sets
/// memory, and the containers' sums within the task-level cpu and memory.
pub fn validate_resources(
    containers: &[ContainerDefinition],
    task_cpu: Option<i32>,
    task_memory: Option<i32>,
) -> Result<(), TaskDefinitionError> {
    if let Some(cpu) = task_cpu
        && !(128..=196_608).contains(&cpu)
    {
        return Err(client(format!(
            "Invalid 'cpu' setting for task. The task cpu must be between 128 and 196608 CPU units, got {cpu}."
        )));
    }
    if let Some(memory) = task_memory
        && memory < MIN_CONTAINER_MEMORY_MIB
    {
        return Err(client(format!(
            "Invalid 'memory' setting for task. It must be at least {MIN_CONTAINER_MEMORY_MIB} MiB, got {memory}."
        )));
    }
    for c in containers {
        if c.cpu < 0 {
            return Err(client(format!(
                "Invalid 'cpu' setting for container '{}'.",
                c.name.as_deref().unwrap_or_default()
            )));
        }
        validate_container_memory(c, task_memory)?;
    }
    validate_task_totals(containers, task_cpu, task_memory)
}

/// Validates a family name; also used by ListTasks and ListTaskDefinitions filters.
pub fn validate_family(family: &str) -> Result<(), TaskDefinitionError> {
    if family.is_empty() {
        return Err(client("Family should not be null or empty."));
    }
    if family.len() > 255 {
        return Err(client("Family name is too long: it can be up to 255 characters."));
    }
    if !is_valid_name(family) {
        return Err(client("Family contains invalid characters."));
    }
    Ok(())
}

fn validate_container_basics(c: &ContainerDefinition) -> Result<(), TaskDefinitionError> {
    let name = c.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        return Err(client("Container.name should not be null or empty."));
    }
    if !is_valid_name(name) {
        return Err(client("Container.name contains invalid characters."));
    }
    let image = c.image.as_deref().unwrap_or_default();
    if image.trim().is_empty() {
        return Err(client("Container.image should not be null or empty."));
    }
    if image.len() > 255 || image.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err(client(format!(
            "Container.image contains invalid characters or is longer than 255 characters (container '{name}')."
        )));
    }
    if c.cpu < 0 {
        return Err(client(format!("Invalid 'cpu' setting for container '{name}'.")));
    }
    for env in c.environment.iter().flatten() {
        if env.name.as_deref().is_none_or(str::is_empty) {
            return Err(client(format!(
                "Invalid 'environment' setting for container '{name}'. Environment variable names should not be null or empty."
            )));
        }
    }
    for u in c.ulimits.iter().flatten() {
        if u.soft_limit < 0 || u.hard_limit < 0 || u.soft_limit > u.hard_limit {
            return Err(client(format!(
                "Invalid 'ulimits' setting for container '{name}'. The soft limit of '{}' must be between 0 and its hard limit.",
                u.name
            )));
        }
    }
    if let Some(t) = c.stop_timeout
        && !(0..=86_400).contains(&t)
    {
        return Err(client(format!("Invalid 'stopTimeout' setting for container '{name}'.")));
    }
    if let Some(t) = c.start_timeout
        && t < 0
    {
        return Err(client(format!("Invalid 'startTimeout' setting for container '{name}'.")));
    }
    if let Some(rp) = &c.restart_policy {
        if let Some(period) = rp.restart_attempt_period
            && !(60..=1800).contains(&period)
        {
            return Err(client(format!(
                "Invalid 'restartPolicy' setting for container '{name}'. 'restartAttemptPeriod' must be between 60 and 1800 seconds."
            )));
        }
        if rp.ignored_exit_codes.as_ref().is_some_and(|codes| codes.len() > 50) {
            return Err(client(format!(
                "Invalid 'restartPolicy' setting for container '{name}'. At most 50 'ignoredExitCodes' are allowed."
            )));
        }
    }
    Ok(())
}

fn validate_container_memory(c: &ContainerDefinition, task_memory: Option<i32>) -> Result<(), TaskDefinitionError> {
    let name = c.name.as_deref().unwrap_or_default();
    if let Some(memory) = c.memory
        && memory < MIN_CONTAINER_MEMORY_MIB
    {
        return Err(client(format!(
            "Invalid 'memory' setting for container '{name}'. The hard memory limit must be at least {MIN_CONTAINER_MEMORY_MIB} MiB."
        )));
    }
    if let Some(reservation) = c.memory_reservation {
        if reservation < MIN_CONTAINER_MEMORY_MIB {
            return Err(client(format!(
                "Invalid 'memoryReservation' setting for container '{name}'. It must be at least {MIN_CONTAINER_MEMORY_MIB} MiB."
            )));
        }
        if c.memory.is_some_and(|memory| reservation > memory) {
            return Err(client(format!(
                "Invalid setting for container '{name}'. 'memoryReservation' must be less than or equal to 'memory'."
            )));
        }
    }
    if task_memory.is_none() && c.memory.is_none() && c.memory_reservation.is_none() {
        return Err(client(format!(
            "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
        )));
    }
    if let (Some(task), Some(memory)) = (task_memory, c.memory.or(c.memory_reservation))
        && memory > task
    {
        return Err(client(format!("The 'memory' setting for container '{name}' is greater than for the task.")));
    }
    Ok(())
}

fn validate_ports(c: &ContainerDefinition, network_mode: NetworkMode) -> Result<(), TaskDefinitionError> {
    let name = c.name.as_deref().unwrap_or_default();
    let mut seen = HashSet::new();
    let mut ranges: Vec<(i32, i32, TransportProtocol)> = Vec::new();
    for pm in c.port_mappings.iter().flatten() {
        if let Some(range) = &pm.container_port_range {
            // Registers as on ECS; RunTask refuses it (Berth's agents do not map ranges yet): docs/COMPATIBILITY.md.
            let (first, last) = validate_port_range(name, range, pm, network_mode)?;
            let protocol = pm.protocol.unwrap_or(TransportProtocol::Tcp);
            if ranges.iter().any(|(a, b, p)| *p == protocol && first <= *b && *a <= last) {
                return Err(client(format!(
                    "Invalid 'portMappings' setting for container '{name}'. Port ranges must not overlap."
                )));
            }
            ranges.push((first, last, protocol));
            if ranges.len() > 100 {
                return Err(client(format!(
                    "Invalid 'portMappings' setting for container '{name}'. At most 100 port ranges are allowed."
                )));
            }
            continue;
        }
        let container_port = pm.container_port.ok_or_else(|| {
            client(format!("Invalid 'portMappings' setting for container '{name}'. 'containerPort' is required."))
        })?;
        if !(1..=65_535).contains(&container_port) {
            return Err(client(format!(
                "Invalid 'containerPort' setting for container '{name}'. Ports must be between 1 and 65535, got {container_port}."
            )));
        }
        if let Some(host) = pm.host_port {
            if !(0..=65_535).contains(&host) {
                return Err(client(format!(
                    "Invalid 'hostPort' setting for container '{name}'. Ports must be between 0 and 65535, got {host}."
                )));
            }
            if matches!(network_mode, NetworkMode::Awsvpc | NetworkMode::Host) && host != 0 && host != container_port {
                return Err(client(format!(
                    "When networkMode={}, the host ports and container ports in port mappings must match.",
                    network_mode.as_str()
                )));
            }
        }
        if network_mode == NetworkMode::None {
            return Err(client(format!(
                "Invalid 'portMappings' setting for container '{name}'. Port mappings are not allowed with networkMode=none."
            )));
        }
        let protocol = pm.protocol.unwrap_or(TransportProtocol::Tcp);
        if ranges.iter().any(|(a, b, p)| *p == protocol && (*a..=*b).contains(&container_port)) {
            return Err(client(format!(
                "Invalid 'portMappings' setting for container '{name}'. Container port {container_port}/{protocol} is also in a port range."
            )));
        }
        if !seen.insert((container_port, protocol)) {
            return Err(client(format!(
                "Invalid 'portMappings' setting for container '{name}'. Container port {container_port}/{protocol} is mapped more than once."
            )));
        }
    }
    let port_names: Vec<&str> = c.port_mappings.iter().flatten().filter_map(|p| p.name.as_deref()).collect();
    let unique: HashSet<&&str> = port_names.iter().collect();
    if unique.len() != port_names.len() {
        return Err(client(format!(
            "Invalid 'portMappings' setting for container '{name}'. Port mapping names must be unique."
        )));
    }
    Ok(())
}

/// Checks a `containerPortRange` as ECS does (`first-last`, 1 to 65535, first below last; bridge or awsvpc; no
/// `containerPort` or `hostPort` beside it) and returns its bounds.
fn validate_port_range(
    name: &str,
    range: &str,
    pm: &PortMapping,
    network_mode: NetworkMode,
) -> Result<(i32, i32), TaskDefinitionError> {
    let bad = |why: &str| client(format!("Invalid 'containerPortRange' setting for container '{name}'. {why}"));
    if !matches!(network_mode, NetworkMode::Bridge | NetworkMode::Awsvpc) {
        return Err(bad("Port ranges need the bridge or awsvpc network mode."));
    }
    if pm.container_port.is_some() || pm.host_port.is_some_and(|p| p != 0) {
        return Err(bad("Give either a containerPort or a containerPortRange, and no hostPort with a range."));
    }
    let bounds =
        range.split_once('-').and_then(|(a, b)| Some((a.trim().parse::<i32>().ok()?, b.trim().parse::<i32>().ok()?)));
    match bounds {
        Some((first, last)) if (1..=65_535).contains(&first) && (1..=65_535).contains(&last) && first < last => {
            Ok((first, last))
        }
        _ => Err(bad(&format!(
            "{range:?} is not a range of ports between 1 and 65535 whose first port is below its last."
        ))),
    }
}

/// The host port a mapping reserves on the instance, if it names a fixed one.
pub fn static_host_port(pm: &PortMapping, network_mode: NetworkMode) -> Option<i32> {
    match network_mode {
        NetworkMode::Host | NetworkMode::Awsvpc => pm.host_port.filter(|p| *p != 0).or(pm.container_port),
        _ => pm.host_port.filter(|p| *p != 0),
    }
}

fn validate_host_ports_across_containers(containers: &[ContainerDefinition]) -> Result<(), TaskDefinitionError> {
    let mut used: BTreeMap<(i32, TransportProtocol), &str> = BTreeMap::new();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        for pm in c.port_mappings.iter().flatten() {
            let Some(host) = pm.host_port.filter(|p| *p != 0) else { continue };
            let protocol = pm.protocol.unwrap_or(TransportProtocol::Tcp);
            if let Some(other) = used.insert((host, protocol), name) {
                return Err(client(format!(
                    "Invalid 'portMappings' setting: host port {host}/{protocol} is used by both container '{other}' and container '{name}'."
                )));
            }
        }
    }
    Ok(())
}

fn validate_task_totals(
    containers: &[ContainerDefinition],
    task_cpu: Option<i32>,
    task_memory: Option<i32>,
) -> Result<(), TaskDefinitionError> {
    if let Some(cpu) = task_cpu {
        let total: i64 = containers.iter().map(|c| i64::from(c.cpu)).sum();
        if total > i64::from(cpu) {
            return Err(client(
                "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
            ));
        }
    }
    if let Some(memory) = task_memory {
        let total: i64 = containers.iter().map(|c| i64::from(c.memory_reservation.or(c.memory).unwrap_or(0))).sum();
        if total > i64::from(memory) {
            return Err(client(
                "The sum of all container memory reservations cannot be greater than the value of the task 'memory'.",
            ));
        }
    }
    Ok(())
}

fn validate_health_check(name: &str, hc: &HealthCheck) -> Result<(), TaskDefinitionError> {
    let bad = |what: &str| client(format!("Invalid 'healthCheck' setting for container '{name}'. {what}"));
    match hc.command.first().map(String::as_str) {
        Some("CMD") | Some("CMD-SHELL") if hc.command.len() >= 2 => {}
        Some("NONE") => {}
        _ => {
            return Err(bad(
                "The command must start with \"CMD\" (exec form) or \"CMD-SHELL\" (shell form) followed by the command.",
            ));
        }
    }
    if hc.interval.is_some_and(|v| !(5..=300).contains(&v)) {
        return Err(bad("'interval' must be between 5 and 300 seconds."));
    }
    if hc.timeout.is_some_and(|v| !(2..=120).contains(&v)) {
        return Err(bad("'timeout' must be between 2 and 120 seconds."));
    }
    if hc.retries.is_some_and(|v| !(1..=10).contains(&v)) {
        return Err(bad("'retries' must be between 1 and 10."));
    }
    if hc.start_period.is_some_and(|v| !(0..=300).contains(&v)) {
        return Err(bad("'startPeriod' must be between 0 and 300 seconds."));
    }
    Ok(())
}

fn validate_dependencies(containers: &[ContainerDefinition]) -> Result<(), TaskDefinitionError> {
    let by_name: BTreeMap<&str, &ContainerDefinition> =
        containers.iter().map(|c| (c.name.as_deref().unwrap_or_default(), c)).collect();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        for dep in c.depends_on.iter().flatten() {
            let Some(target) = by_name.get(dep.container_name.as_str()) else {
                return Err(client(format!(
                    "Invalid 'dependsOn' setting for container '{name}'. Container '{}' is not defined in the task definition.",
                    dep.container_name
                )));
            };
            if dep.container_name == name {
                return Err(client(format!(
                    "Invalid 'dependsOn' setting for container '{name}'. A container cannot depend on itself."
                )));
            }
            if matches!(dep.condition, ContainerCondition::Success | ContainerCondition::Complete)
                && target.essential != Some(false)
            {
                return Err(client(
                    "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                ));
            }
            if dep.condition == ContainerCondition::Healthy && target.health_check.is_none() {
                return Err(client(format!(
                    "Invalid 'dependsOn' setting for container '{name}'. The HEALTHY condition needs a health check on container '{}'.",
                    dep.container_name
                )));
            }
        }
    }
    // Cycles: depth-first search over the dependency graph.
    fn visit<'a>(
        name: &'a str,
        by_name: &BTreeMap<&'a str, &'a ContainerDefinition>,
        state: &mut BTreeMap<&'a str, u8>,
    ) -> bool {
        match state.get(name) {
            Some(1) => return false,
            Some(2) => return true,
            _ => {}
        }
        state.insert(name, 1);
        if let Some(c) = by_name.get(name) {
            for dep in c.depends_on.iter().flatten() {
                if !visit(dep.container_name.as_str(), by_name, state) {
                    return false;
                }
            }
        }
        state.insert(name, 2);
        true
    }
    let mut state = BTreeMap::new();
    for name in by_name.keys() {
        if !visit(name, &by_name, &mut state) {
            return Err(client(format!(
                "Invalid 'dependsOn' setting: the dependencies of container '{name}' form a cycle."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
