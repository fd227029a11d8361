//! What this host offers a cluster: CPU units, memory, reserved ports, and the attributes placement uses.

use crate::runtime::RuntimeInfo;
use berth_model::agent::AgentResources;
use berth_model::capabilities;
use berth_model::host_access::{self, HostAccess};
use std::collections::BTreeMap;

/// How to size the instance (real sizes by default; virtual sizes let several agents share one host in tests).
#[derive(Debug, Clone)]
pub struct ResourceSettings {
    /// CPU units to offer instead of 1024 per core.
    pub cpu_units: Option<i64>,
    /// Memory (MiB) to offer instead of the host's total less the reserve.
    pub memory_mib: Option<i64>,
    /// Memory (MiB) kept back for the host, the engine and the agent.
    pub reserved_memory_mib: i64,
    /// TCP ports tasks may not use.
    pub reserved_tcp_ports: Vec<u16>,
    /// UDP ports tasks may not use.
    pub reserved_udp_ports: Vec<u16>,
    /// Ephemeral storage (GiB) to offer FARGATE tasks instead of the free space of Docker's data root
    /// (`--ephemeral-storage-gib`; see [`crate::storage`]).
    pub ephemeral_storage_gib: Option<i64>,
}

impl Default for ResourceSettings {
    fn default() -> Self {
        Self {
            cpu_units: None,
            memory_mib: None,
            reserved_memory_mib: 256,
            reserved_tcp_ports: vec![22, 2375, 2376, 51678, 51679],
            reserved_udp_ports: Vec::new(),
            ephemeral_storage_gib: None,
        }
    }
}

/// The resources to register (the ephemeral storage of an agent serving Fargate is measured once at start, in
/// [`crate::run`]).
pub fn offered(info: &RuntimeInfo, settings: &ResourceSettings) -> AgentResources {
    let cpu = settings.cpu_units.unwrap_or(i64::from(info.cpus) * 1024);
    let total_mib = i64::try_from(info.memory_bytes / (1024 * 1024)).unwrap_or(i64::MAX);
    let memory = settings.memory_mib.unwrap_or((total_mib - settings.reserved_memory_mib).max(0));
    let mut tcp = settings.reserved_tcp_ports.clone();
    tcp.sort_unstable();
    tcp.dedup();
    AgentResources {
        cpu,
        memory_mib: memory,
        reserved_tcp_ports: tcp,
        reserved_udp_ports: settings.reserved_udp_ports.clone(),
        ephemeral_storage_gib: None,
    }
}

/// The attributes to register: ECS's built-ins, the capabilities, the operator's own (`--attribute k=v`), and one
/// capability attribute for each kind of host reach the agent allows (privileged, host paths, ...: see
/// [`berth_model::host_access`]). Those are the agent's alone: a custom attribute cannot claim or remove them.
pub fn attributes(
    info: &RuntimeInfo,
    availability_zone: &str,
    instance_type: Option<&str>,
    custom: &BTreeMap<String, String>,
    host_access: &HostAccess,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("ecs.os-type".to_string(), if info.os.is_empty() { "linux".into() } else { info.os.clone() });
    out.insert("ecs.os-family".to_string(), "LINUX".to_string());
    let arch = match info.arch.as_str() {
        "aarch64" | "arm64" => "arm64",
        "" => "x86_64",
        other => other,
    };
    out.insert("ecs.cpu-architecture".to_string(), arch.to_string());
    out.insert("ecs.availability-zone".to_string(), availability_zone.to_string());
    let memory_gib = info.memory_bytes / (1024 * 1024 * 1024);
    let default_type = format!("berth.{}c{}g", info.cpus, memory_gib);
    out.insert("ecs.instance-type".to_string(), instance_type.unwrap_or(&default_type).to_string());
    out.insert("ecs.ami-id".to_string(), "berth-local".to_string());
    // The ECS capabilities Berth runs (one list, shared with the control plane's refusals): a task definition that
    // needs another one is refused at RunTask or CreateService, never left to fail placement.
    for cap in capabilities::supported() {
        out.insert(cap, String::new());
    }
    for (k, v) in custom {
        if !is_host_capability(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    out.extend(host_access.attributes());
    out
}

/// Whether `name` is one of the host-reach capability attributes only [`HostAccess`] sets.
fn is_host_capability(name: &str) -> bool {
    name.starts_with(host_access::BERTH_CAPABILITY_PREFIX) || name == host_access::PRIVILEGED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_cores_and_memory_less_the_reserve() {
        let info = RuntimeInfo { cpus: 2, memory_bytes: 4096 * 1024 * 1024, ..Default::default() };
        let offered = offered(&info, &ResourceSettings::default());
        assert_eq!((offered.cpu, offered.memory_mib), (2048, 3840));
        let virt = ResourceSettings { cpu_units: Some(512), memory_mib: Some(1000), ..Default::default() };
        let offered = super::offered(&info, &virt);
        assert_eq!((offered.cpu, offered.memory_mib), (512, 1000));
    }

    #[test]
    fn attributes_include_built_ins_and_custom() {
        let info = RuntimeInfo {
            cpus: 2,
            memory_bytes: 8 << 30,
            os: "linux".into(),
            arch: "x86_64".into(),
            ..Default::default()
        };
        let custom = BTreeMap::from([("stack".to_string(), "blue".to_string())]);
        let attrs = attributes(&info, "us-east-1b", None, &custom, &HostAccess::default());
        assert_eq!(attrs["ecs.availability-zone"], "us-east-1b");
        assert_eq!(attrs["ecs.instance-type"], "berth.2c8g");
        assert_eq!(attrs["stack"], "blue");
        assert!(attrs.contains_key("ecs.capability.container-health-check"));
        for cap in capabilities::supported() {
            assert_eq!(attrs.get(&cap).map(String::as_str), Some(""), "{cap}");
        }
        let advertised: Vec<&String> =
            attrs.keys().filter(|k| k.starts_with("ecs.capability.") || k.starts_with("com.amazonaws.ecs.")).collect();
        assert!(advertised.iter().all(|k| capabilities::is_supported(k)), "only what Berth runs: {advertised:?}");
    }

    #[test]
    fn host_reach_is_advertised_only_when_allowed() {
        let info = RuntimeInfo::default();
        let claim = BTreeMap::from([
            (host_access::PRIVILEGED.to_string(), String::new()),
            (host_access::HOST_PATH.to_string(), "/".to_string()),
        ]);
        let attrs = attributes(&info, "a", None, &claim, &HostAccess::default());
        assert!(attrs.keys().all(|k| !k.starts_with("berth.capability.") && k != host_access::PRIVILEGED));
        let open =
            HostAccess { privileged: true, host_paths: vec!["/srv".into(), "/data".into()], ..Default::default() };
        let attrs = attributes(&info, "a", None, &BTreeMap::new(), &open);
        assert!(attrs.contains_key(host_access::PRIVILEGED));
        assert_eq!(attrs[host_access::HOST_PATH], "/srv,/data");
        assert!(!attrs.contains_key(host_access::HOST_NETWORK));
    }
}
