//! Pure translations between Berth's runtime types and Docker Engine API shapes (bollard's models), kept apart
//! from I/O so they are unit-tested without an engine (see `mapping/tests.rs`).
//!
//! Facts encoded here, from Docker's API and the way ECS's agent drives it:
//! - ECS `cpu` units map to `CpuShares`, but 0 or 1 becomes 2: Docker silently turns 0 into 1024 shares and Linux
//!   refuses 1, so 2 is the closest to "no reservation".
//! - Health-check durations are nanoseconds; a dynamic host port is an empty `HostPort`.
//! - Pulling with an empty tag pulls every tag of a repository, so a reference without one gets `latest`.
//! - Timestamps are RFC 3339 with nanoseconds; Go's zero time (`0001-01-01T00:00:00Z`) means "never".

use berth_model::clock::days_from_civil;
use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary as DockerSummary,
    ContainerSummaryStateEnum, EndpointIpamConfig, EndpointSettings, EventMessage, HealthConfig, HealthStatusEnum,
    HostConfig, HostConfigLogConfig, NetworkingConfig, PortBinding as DockerPortBinding, PortMap, ResourcesUlimits,
};

use super::{
    ContainerSpec, ContainerState, ContainerStatus, ContainerSummary, EventKind, HealthStatus, NetworkMode,
    PortBinding, Protocol, RuntimeEvent,
};

/// Docker's (and Linux's) smallest CPU share value.
pub(super) const MIN_CPU_SHARES: i64 = 2;

/// Event attributes that are Docker's own rather than container labels.
const DOCKER_EVENT_ATTRIBUTES: [&str; 5] = ["name", "image", "exitCode", "signal", "execDuration"];

/// The actions [`event`] reports; the engine is asked for these only.
pub(super) const EVENT_ACTIONS: [&str; 7] = ["create", "start", "die", "oom", "health_status", "stop", "destroy"];

/// CPU shares for ECS `cpu` units.
pub(super) fn cpu_shares(cpu_units: u32) -> i64 {
    i64::from(cpu_units).max(MIN_CPU_SHARES)
}

/// Docker's port key, e.g. `8080/tcp`.
pub(super) fn port_key(port: u16, protocol: Protocol) -> String {
    format!("{port}/{}", protocol.as_str())
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn bytes(b: u64) -> i64 {
    i64::try_from(b).unwrap_or(i64::MAX)
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v) }
}

/// The first host address of an IPv4 subnet such as `172.17.0.0/16` (`172.17.0.1`): where Docker puts a bridge's
/// gateway when its IPAM config names none.
pub(super) fn first_host_address(subnet: &str) -> Option<std::net::Ipv4Addr> {
    let (addr, prefix) = subnet.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 30)?;
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    Some(std::net::Ipv4Addr::from((u32::from(addr) & mask) + 1))
}

/// The create request for `spec`.
pub(super) fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mut exposed: HashMap<String, HashMap<(), ()>> = HashMap::new();
    let mut bindings: PortMap = HashMap::new();
    let publish =
        matches!(spec.network_mode, NetworkMode::Bridge | NetworkMode::Custom(_)) && !spec.network_mode.is_container();
    for p in &spec.ports {
        let key = port_key(p.container_port, p.protocol);
        exposed.insert(key.clone(), HashMap::new());
        if publish {
            let binding = DockerPortBinding {
                host_ip: Some(p.host_ip.clone().unwrap_or_default()),
                host_port: Some(if p.host_port == 0 { String::new() } else { p.host_port.to_string() }),
            };
            bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(binding);
        }
    }
    let memory_swap = match (spec.memory_limit_bytes, spec.max_swap_bytes) {
        (Some(limit), Some(swap)) => Some(bytes(limit.saturating_add(swap))),
        _ => None,
    };
    let tmpfs: HashMap<String, String> = spec
        .tmpfs
        .iter()
        .map(|t| {
            let mut opts: Vec<String> = t.size_bytes.map(|s| format!("size={s}")).into_iter().collect();
            opts.extend(t.options.iter().cloned());
            (t.container_path.clone(), opts.join(","))
        })
        .collect();
    let host_config = HostConfig {
        cgroup_parent: spec.cgroup_parent.clone(),
        storage_opt: spec.storage_size_gib.map(|gib| HashMap::from([("size".to_string(), format!("{gib}G"))])),
        cpu_shares: Some(cpu_shares(spec.cpu_units)),
        memory: spec.memory_limit_bytes.map(bytes),
        memory_reservation: spec.memory_reservation_bytes.map(bytes),
        memory_swap,
        memory_swappiness: spec.swappiness.map(i64::from),
        ulimits: non_empty(
            spec.ulimits
                .iter()
                .map(|u| ResourcesUlimits { name: Some(u.name.clone()), soft: Some(u.soft), hard: Some(u.hard) })
                .collect(),
        ),
        network_mode: Some(spec.network_mode.as_docker().to_string()),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        privileged: spec.privileged.then_some(true),
        readonly_rootfs: spec.readonly_rootfs.then_some(true),
        extra_hosts: non_empty(spec.extra_hosts.iter().map(|h| format!("{}:{}", h.hostname, h.ip_address)).collect()),
        dns: non_empty(spec.dns_servers.clone()),
        dns_search: non_empty(spec.dns_search.clone()),
        security_opt: non_empty(spec.security_options.clone()),
        init: spec.init_process.then_some(true),
        cap_add: non_empty(spec.cap_add.clone()),
        cap_drop: non_empty(spec.cap_drop.clone()),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        shm_size: spec.shm_size_bytes.map(bytes),
        sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone().into_iter().collect()),
        binds: non_empty(
            spec.binds
                .iter()
                .map(|b| format!("{}:{}{}", b.source, b.target, if b.read_only { ":ro" } else { "" }))
                .collect(),
        ),
        volumes_from: non_empty(spec.volumes_from.clone()),
        links: non_empty(spec.links.clone()),
        log_config: Some(HostConfigLogConfig {
            typ: Some(spec.log_config.driver.clone()),
            config: Some(spec.log_config.options.clone().into_iter().collect()),
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.command.clone(),
        env: non_empty(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        labels: Some(spec.labels.clone().into_iter().collect()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: spec.health_check.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(nanos(h.interval)),
            timeout: Some(nanos(h.timeout)),
            retries: Some(i64::from(h.retries)),
            start_period: Some(nanos(h.start_period)),
            start_interval: None,
        }),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: spec.stop_timeout.map(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX)),
        open_stdin: spec.interactive.then_some(true),
        tty: spec.pseudo_terminal.then_some(true),
        network_disabled: spec.disable_networking.then_some(true),
        mac_address: spec.mac_address.clone(),
        networking_config: spec.ipv4_address.as_ref().map(|address| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                spec.network_mode.as_docker().to_string(),
                EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig { ipv4_address: Some(address.clone()), ..Default::default() }),
                    ..Default::default()
                },
            )])),
        }),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// Splits an image reference into the `fromImage` and `tag` of a pull; the tag may be a digest.
pub(super) fn split_image_reference(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (image[..last_slash + i].to_string(), image[last_slash + i + 1..].to_string()),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// Parses an RFC 3339 timestamp into epoch seconds; `None` for Go's zero time, empty or malformed input.
pub(super) fn parse_timestamp(s: &str) -> Option<f64> {
    let (secs, digits) = parse_rfc3339(s)?;
    let fraction: f64 = if digits.is_empty() { 0.0 } else { format!("0.{digits}").parse().ok()? };
    Some(secs as f64 + fraction)
}

/// Parses an RFC 3339 timestamp into nanoseconds since the epoch (digits past the ninth are dropped); `None` as
/// for [`parse_timestamp`].
pub(crate) fn parse_timestamp_ns(s: &str) -> Option<i64> {
    let (secs, digits) = parse_rfc3339(s)?;
    let mut nanos = 0i64;
    for i in 0..9 {
        nanos = nanos * 10 + digits.as_bytes().get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// An RFC 3339 timestamp's whole epoch seconds and the digits of its fraction (possibly none).
fn parse_rfc3339(s: &str) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| s.get(range).and_then(|t| t.parse::<i64>().ok());
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year <= 1 || !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut digits = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let count = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if count == 0 {
            return None;
        }
        digits = &after_dot[..count];
        rest = &after_dot[count..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset, digits))
}

/// Maps Docker's state name to [`ContainerStatus`].
pub(super) fn status_from_name(name: &str) -> ContainerStatus {
    match name {
        "created" => ContainerStatus::Created,
        "running" => ContainerStatus::Running,
        "paused" => ContainerStatus::Paused,
        "restarting" => ContainerStatus::Restarting,
        "removing" => ContainerStatus::Removing,
        "exited" => ContainerStatus::Exited,
        "dead" => ContainerStatus::Dead,
        other => ContainerStatus::Unknown(other.to_string()),
    }
}

fn health_from_name(name: &str) -> Option<HealthStatus> {
    match name {
        "starting" => Some(HealthStatus::Starting),
        "healthy" => Some(HealthStatus::Healthy),
        "unhealthy" => Some(HealthStatus::Unhealthy),
        _ => None,
    }
}

/// Parses `8080/tcp` into a port and protocol.
fn parse_port_key(key: &str) -> Option<(u16, Protocol)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let protocol = match proto {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return None,
    };
    Some((port.parse().ok()?, protocol))
}

/// The published ports of a port map, sorted, one entry per host address.
pub(super) fn port_bindings(ports: &PortMap) -> Vec<PortBinding> {
    let mut out: Vec<PortBinding> = ports
        .iter()
        .filter_map(|(key, bindings)| Some((parse_port_key(key)?, bindings.as_ref()?)))
        .flat_map(|((container_port, protocol), bindings)| {
            bindings.iter().filter_map(move |b| {
                Some(PortBinding {
                    container_port,
                    protocol,
                    host_ip: b.host_ip.clone().unwrap_or_default(),
                    host_port: b.host_port.as_deref()?.parse().ok()?,
                })
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.container_port, a.protocol.as_str(), &a.host_ip).cmp(&(b.container_port, b.protocol.as_str(), &b.host_ip))
    });
    out
}

/// The observed state of an inspected container.
pub(super) fn container_state(resp: ContainerInspectResponse) -> ContainerState {
    let state = resp.state.unwrap_or_default();
    let status = match state.status {
        Some(ContainerStateStatusEnum::EMPTY) | None => ContainerStatus::Unknown(String::new()),
        Some(s) => status_from_name(s.as_ref()),
    };
    let running = state.running.unwrap_or(false);
    let exit_code = match status {
        ContainerStatus::Exited | ContainerStatus::Dead => state.exit_code,
        _ => None,
    };
    let health = state.health.and_then(|h| h.status).and_then(|s| match s {
        HealthStatusEnum::EMPTY | HealthStatusEnum::NONE => None,
        s => health_from_name(s.as_ref()),
    });
    let config = resp.config.unwrap_or_default();
    ContainerState {
        id: resp.id.unwrap_or_default(),
        name: resp.name.unwrap_or_default().trim_start_matches('/').to_string(),
        image: config.image.unwrap_or_default(),
        image_id: resp.image.unwrap_or_default(),
        status,
        running,
        exit_code,
        oom_killed: state.oom_killed.unwrap_or(false),
        error: state.error.filter(|e| !e.is_empty()),
        started_at: state.started_at.as_deref().and_then(parse_timestamp),
        finished_at: state.finished_at.as_deref().and_then(parse_timestamp),
        health,
        addresses: resp.network_settings.as_ref().map(addresses).unwrap_or_default(),
        ports: resp.network_settings.and_then(|n| n.ports).map(|p| port_bindings(&p)).unwrap_or_default(),
        restart_count: resp.restart_count.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        pid: state.pid.filter(|p| *p > 0 && running).and_then(|p| u32::try_from(p).ok()),
        log_path: resp.log_path.filter(|p| !p.is_empty()),
    }
}

/// A container's IPv4 and IPv6 addresses on its networks.
fn addresses(settings: &bollard::models::NetworkSettings) -> Vec<std::net::IpAddr> {
    let mut out: Vec<std::net::IpAddr> = Vec::new();
    let networks = settings.networks.iter().flat_map(|n| n.values());
    for text in networks.flat_map(|e| [e.ip_address.as_deref(), e.global_ipv6_address.as_deref()]).flatten() {
        if let Ok(ip) = text.parse()
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// A listed container.
pub(super) fn summary(s: DockerSummary) -> ContainerSummary {
    let status = match s.state {
        Some(ContainerSummaryStateEnum::EMPTY) | None => ContainerStatus::Unknown(String::new()),
        Some(state) => status_from_name(state.as_ref()),
    };
    ContainerSummary {
        id: s.id.unwrap_or_default(),
        name: s.names.unwrap_or_default().first().map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default(),
        image: s.image.unwrap_or_default(),
        labels: s.labels.unwrap_or_default().into_iter().collect(),
        running: status == ContainerStatus::Running,
        status,
    }
}

/// A container event, or `None` for events Berth does not report.
pub(super) fn event(msg: EventMessage) -> Option<RuntimeEvent> {
    let action = msg.action?;
    let actor = msg.actor?;
    let container_id = actor.id?;
    let attributes = actor.attributes.unwrap_or_default();
    let kind = match action.as_str() {
        "create" => EventKind::Create,
        "start" => EventKind::Start,
        "die" => EventKind::Die { exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()) },
        "oom" => EventKind::Oom,
        "stop" => EventKind::Stop,
        "destroy" => EventKind::Destroy,
        other => EventKind::Health(health_from_name(other.strip_prefix("health_status:")?.trim())?),
    };
    let time = match (msg.time_nano, msg.time) {
        (Some(nanos), _) => nanos as f64 / 1e9,
        (None, Some(secs)) => secs as f64,
        (None, None) => 0.0,
    };
    let labels: BTreeMap<String, String> = attributes
        .iter()
        .filter(|(k, _)| !DOCKER_EVENT_ATTRIBUTES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(RuntimeEvent {
        container_id,
        kind,
        name: attributes.get("name").cloned(),
        image: attributes.get("image").cloned(),
        labels,
        time,
    })
}

#[cfg(test)]
mod tests;
