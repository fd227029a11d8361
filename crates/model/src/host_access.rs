//! Host reach: what of a task definition gives a container power over its host, which agent allows it, and the
//! capability attributes that connect the two.
//!
//! # Background
//! ECS lets an agent refuse privileged containers (`ECS_DISABLE_PRIVILEGED`): such an agent does not advertise
//! `com.amazonaws.ecs.capability.privileged-container`, the task definition's `requiresAttributes` names it, and a
//! task placed on a cluster of such agents fails with reason `ATTRIBUTE`. Berth does the same for every setting
//! that reaches the host, and an agent allows none of them unless told to.
//!
//! # Design
//! - [`HostNeeds::of`] reads what a task needs from its network mode, containers and volumes; [`HostNeeds::attributes`]
//!   names the attributes (derived at RegisterTaskDefinition and again at placement, after overrides).
//! - [`HostAccess`] is an agent's policy; [`HostAccess::attributes`] is what it advertises and
//!   [`HostAccess::refusal`] its own check before it creates a container (defence in depth).
//! - Host paths are allowed by prefix, so they cannot be one attribute per path: an agent advertises
//!   [`HOST_PATH`] with its prefixes as the value (comma-separated), and placement treats an instance whose
//!   prefixes do not cover all of a task's host paths as lacking [`HOST_PATH`] ([`prefixes_allow`]).
//! - [`SENSITIVE_PATHS`] (`/`, the Docker sockets and the directories above them) are allowed only when named
//!   exactly, never through a shorter prefix: `--allow-host-path /` does not open `/var/run/docker.sock`.
//!
//! # Limitations
//! Paths are compared lexically (`.` and `..` resolved); the agent also resolves symbolic links of paths that exist
//! on its host before it creates a container.

use crate::ecs::{ContainerDefinition, NetworkMode, Volume};
use std::collections::{BTreeMap, BTreeSet};

/// ECS's attribute for privileged containers (not advertised by agents with `ECS_DISABLE_PRIVILEGED`).
pub const PRIVILEGED: &str = "com.amazonaws.ecs.capability.privileged-container";
/// `networkMode: host` (ECS has no attribute for it).
pub const HOST_NETWORK: &str = "berth.capability.host-network";
/// Host bind mounts (`volumes[].host.sourcePath`); the value lists the allowed prefixes, comma-separated.
pub const HOST_PATH: &str = "berth.capability.host-path";
/// Added Linux capabilities: this prefix and the capability's name, e.g. `berth.capability.cap-add.NET_ADMIN`.
pub const CAP_ADD_PREFIX: &str = "berth.capability.cap-add.";
/// `dockerSecurityOptions` that lift confinement: `seccomp=...`, `apparmor=unconfined`, `label=disable`,
/// `systempaths=unconfined`.
pub const UNCONFINED: &str = "berth.capability.unconfined";
/// `systemControls` (sysctls).
pub const SYSCTLS: &str = "berth.capability.sysctls";
/// `linuxParameters.devices`.
pub const DEVICES: &str = "berth.capability.devices";
/// The prefix of every Berth-specific capability attribute (reserved: PutAttributes cannot set them).
pub const BERTH_CAPABILITY_PREFIX: &str = "berth.capability.";

/// Paths a prefix never opens: only an allow-list entry naming one of them exactly allows it.
pub const SENSITIVE_PATHS: &[&str] = &["/", "/var", "/var/run", "/run", "/var/run/docker.sock", "/run/docker.sock"];

/// Docker's default capability set: adding one of these back (after `drop: ["ALL"]`, say) gives nothing beyond a
/// default container, so it is never gated.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The capabilities an agent that allows them all advertises: ECS's list (`ALL` included) and the newer ones.
pub const KNOWN_CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

/// A capability's canonical name: upper case, without `CAP_`.
pub fn capability_name(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").map(str::to_string).unwrap_or(upper)
}

/// An absolute path with `.`, `..` and repeated slashes resolved; `None` for a relative path.
pub fn normalize_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix || prefix == "/" || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// Whether an allow-list of prefixes allows the host path `path` (see [`SENSITIVE_PATHS`]).
pub fn prefixes_allow<S: AsRef<str>>(prefixes: &[S], path: &str) -> bool {
    let Some(path) = normalize_path(path) else { return false };
    let prefixes: Vec<String> = prefixes.iter().filter_map(|p| normalize_path(p.as_ref())).collect();
    if SENSITIVE_PATHS.contains(&path.as_str()) {
        return prefixes.contains(&path);
    }
    prefixes.iter().any(|p| under(&path, p))
}

/// The prefixes in an advertised [`HOST_PATH`] value.
pub fn parse_prefixes(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// Whether a `dockerSecurityOptions` entry lifts confinement (`key=value` or ECS's `key:value`).
pub fn is_unconfined_option(option: &str) -> bool {
    let (key, value) = match (option.find('='), option.find(':')) {
        (Some(e), Some(c)) => option.split_at(e.min(c)),
        (Some(i), None) | (None, Some(i)) => option.split_at(i),
        (None, None) => (option, ""),
    };
    let value = value.get(1..).unwrap_or_default().trim();
    match key.trim() {
        // A custom seccomp profile can allow every system call, so any seccomp option is gated.
        "seccomp" => true,
        "apparmor" | "systempaths" => value == "unconfined",
        "label" => value == "disable",
        _ => false,
    }
}

/// What a task needs from its host beyond an ordinary container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostNeeds {
    /// A privileged container.
    pub privileged: bool,
    /// `networkMode: host`.
    pub host_network: bool,
    /// Host paths bind-mounted, normalized.
    pub host_paths: BTreeSet<String>,
    /// Added capabilities outside Docker's default set, by canonical name.
    pub capabilities: BTreeSet<String>,
    /// `dockerSecurityOptions` entries that lift confinement.
    pub unconfined: BTreeSet<String>,
    /// Sysctls are set.
    pub sysctls: bool,
    /// Devices are passed through.
    pub devices: bool,
}

impl HostNeeds {
    /// What a task with this network mode, these (overridden) containers and volumes needs. Only volumes some
    /// container mounts count.
    pub fn of(network_mode: Option<NetworkMode>, containers: &[ContainerDefinition], volumes: &[Volume]) -> Self {
        let mut needs = HostNeeds { host_network: network_mode == Some(NetworkMode::Host), ..Default::default() };
        for c in containers {
            needs.privileged |= c.privileged == Some(true);
            if let Some(lp) = &c.linux_parameters {
                for cap in lp.capabilities.iter().flat_map(|k| k.add.iter().flatten()) {
                    let name = capability_name(cap);
                    if !DEFAULT_CAPABILITIES.contains(&name.as_str()) {
                        needs.capabilities.insert(name);
                    }
                }
                needs.devices |= lp.devices.as_ref().is_some_and(|d| !d.is_empty());
            }
            for option in c.docker_security_options.iter().flatten() {
                if is_unconfined_option(option) {
                    needs.unconfined.insert(option.clone());
                }
            }
            needs.sysctls |= c.system_controls.as_ref().is_some_and(|s| !s.is_empty());
            for mount in c.mount_points.iter().flatten() {
                let volume = volumes.iter().find(|v| v.name.is_some() && v.name == mount.source_volume);
                if let Some(path) = volume.and_then(|v| v.host.as_ref()).and_then(|h| h.source_path.as_deref()) {
                    // A relative path is refused elsewhere; keep it as written so it is never allowed here.
                    needs.host_paths.insert(normalize_path(path).unwrap_or_else(|| path.to_string()));
                }
            }
        }
        needs
    }

    /// The attributes an instance must advertise to run the task (its `requiresAttributes` for host reach).
    pub fn attributes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.privileged {
            out.push(PRIVILEGED.to_string());
        }
        if self.host_network {
            out.push(HOST_NETWORK.to_string());
        }
        if !self.host_paths.is_empty() {
            out.push(HOST_PATH.to_string());
        }
        out.extend(self.capabilities.iter().map(|c| format!("{CAP_ADD_PREFIX}{c}")));
        if !self.unconfined.is_empty() {
            out.push(UNCONFINED.to_string());
        }
        if self.sysctls {
            out.push(SYSCTLS.to_string());
        }
        if self.devices {
            out.push(DEVICES.to_string());
        }
        out
    }
}

/// Which added capabilities an agent allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CapabilityPolicy {
    /// Only Docker's defaults (which are never gated).
    #[default]
    None,
    /// These, by canonical name.
    Listed(BTreeSet<String>),
    /// Every capability, `ALL` included.
    All,
}

impl CapabilityPolicy {
    /// Whether the capability (canonical name) may be added.
    pub fn allows(&self, cap: &str) -> bool {
        match self {
            CapabilityPolicy::None => DEFAULT_CAPABILITIES.contains(&cap),
            CapabilityPolicy::Listed(set) => DEFAULT_CAPABILITIES.contains(&cap) || set.contains(cap),
            CapabilityPolicy::All => true,
        }
    }
}

/// What an agent lets tasks reach on its host. The default allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAccess {
    /// Privileged containers.
    pub privileged: bool,
    /// `networkMode: host`.
    pub host_network: bool,
    /// Host path prefixes that may be bind-mounted (see [`SENSITIVE_PATHS`]).
    pub host_paths: Vec<String>,
    /// Added capabilities.
    pub capabilities: CapabilityPolicy,
    /// Security options that lift confinement.
    pub unconfined: bool,
    /// Sysctls.
    pub sysctls: bool,
    /// Devices.
    pub devices: bool,
}

impl HostAccess {
    /// Everything allowed, every path included (`berth up --dev`).
    pub fn everything() -> Self {
        HostAccess {
            privileged: true,
            host_network: true,
            host_paths: SENSITIVE_PATHS.iter().map(|p| (*p).to_string()).collect(),
            capabilities: CapabilityPolicy::All,
            unconfined: true,
            sysctls: true,
            devices: true,
        }
    }

    /// The capability attributes to advertise: one for each thing allowed.
    pub fn attributes(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut flag = |on: bool, name: &str| {
            if on {
                out.insert(name.to_string(), String::new());
            }
        };
        flag(self.privileged, PRIVILEGED);
        flag(self.host_network, HOST_NETWORK);
        flag(self.unconfined, UNCONFINED);
        flag(self.sysctls, SYSCTLS);
        flag(self.devices, DEVICES);
        let caps: Vec<String> = match &self.capabilities {
            CapabilityPolicy::None => Vec::new(),
            CapabilityPolicy::Listed(set) => set.iter().cloned().collect(),
            CapabilityPolicy::All => KNOWN_CAPABILITIES.iter().map(|c| (*c).to_string()).collect(),
        };
        for cap in caps {
            out.insert(format!("{CAP_ADD_PREFIX}{cap}"), String::new());
        }
        if !self.host_paths.is_empty() {
            out.insert(HOST_PATH.to_string(), self.host_paths.join(","));
        }
        out
    }

    /// Why this agent will not run a task with these needs (the first thing it does not allow), or `None`.
    pub fn refusal(&self, needs: &HostNeeds) -> Option<String> {
        let no = |what: &str, attribute: &str| {
            Some(format!("{what} is not allowed on this container instance (it does not advertise {attribute})"))
        };
        if needs.privileged && !self.privileged {
            return no("a privileged container", PRIVILEGED);
        }
        if needs.host_network && !self.host_network {
            return no("networkMode host", HOST_NETWORK);
        }
        if let Some(path) = needs.host_paths.iter().find(|p| !prefixes_allow(&self.host_paths, p)) {
            return no(&format!("the host path {path}"), HOST_PATH);
        }
        if let Some(cap) = needs.capabilities.iter().find(|c| !self.capabilities.allows(c)) {
            return no(&format!("adding the capability {cap}"), &format!("{CAP_ADD_PREFIX}{cap}"));
        }
        if let Some(option) = needs.unconfined.iter().find(|_| !self.unconfined) {
            return no(&format!("the security option {option}"), UNCONFINED);
        }
        if needs.sysctls && !self.sysctls {
            return no("systemControls", SYSCTLS);
        }
        if needs.devices && !self.devices {
            return no("linuxParameters.devices", DEVICES);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::{HostVolumeProperties, KernelCapabilities, LinuxParameters, MountPoint, SystemControl};

    fn container() -> ContainerDefinition {
        ContainerDefinition { name: Some("app".into()), image: Some("img".into()), ..Default::default() }
    }

    fn host_volume(name: &str, path: &str) -> Volume {
        Volume {
            name: Some(name.into()),
            host: Some(HostVolumeProperties { source_path: Some(path.into()) }),
            ..Default::default()
        }
    }

    fn mounting(name: &str) -> ContainerDefinition {
        let mut c = container();
        c.mount_points = Some(vec![MountPoint {
            source_volume: Some(name.into()),
            container_path: Some("/x".into()),
            read_only: None,
        }]);
        c
    }

    #[test]
    fn prefixes_match_by_component_and_never_open_sensitive_paths() {
        let allowed = ["/srv/data", "/"];
        assert!(prefixes_allow(&allowed, "/srv/data"));
        assert!(prefixes_allow(&allowed, "/srv/data/x/y"));
        assert!(prefixes_allow(&["/srv/data"], "/srv/data/./x"));
        assert!(!prefixes_allow(&["/srv/data"], "/srv/database"));
        assert!(!prefixes_allow(&["/srv/data"], "/srv/data/../../var/run/docker.sock"));
        assert!(!prefixes_allow(&["/srv/data"], "relative"));
        assert!(!prefixes_allow(&["/srv"], "/"));
        // `/` named opens `/` and what is not sensitive, but not the Docker socket nor the directories above it.
        assert!(prefixes_allow(&allowed, "/"));
        assert!(prefixes_allow(&allowed, "/etc"));
        for sensitive in ["/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run", "/var"] {
            assert!(!prefixes_allow(&allowed, sensitive), "{sensitive}");
        }
        assert!(!prefixes_allow(&["/var/run"], "/var/run/docker.sock"));
        assert!(prefixes_allow(&["/var/run/docker.sock"], "/var/run//docker.sock"));
        assert!(prefixes_allow(&["/var"], "/var/lib/x"), "a prefix opens what is under it that is not sensitive");
        assert!(prefixes_allow(&parse_prefixes(&HostAccess::everything().host_paths.join(",")), "/run/docker.sock"));
    }

    #[test]
    fn ordinary_and_hardened_containers_need_nothing() {
        let mut c = container();
        c.readonly_root_filesystem = Some(true);
        c.user = Some("65534:65534".into());
        c.linux_parameters = Some(LinuxParameters {
            capabilities: Some(KernelCapabilities {
                add: Some(vec!["NET_BIND_SERVICE".into(), "cap_chown".into()]),
                drop: Some(vec!["ALL".into()]),
            }),
            init_process_enabled: Some(true),
            ..Default::default()
        });
        c.docker_security_options = Some(vec!["no-new-privileges".into(), "apparmor:docker-default".into()]);
        c.privileged = Some(false);
        let needs = HostNeeds::of(Some(NetworkMode::Bridge), &[c], &[host_volume("unused", "/")]);
        assert_eq!(needs, HostNeeds::default());
        assert!(needs.attributes().is_empty());
        assert_eq!(HostAccess::default().refusal(&needs), None);
    }

    #[test]
    fn each_kind_of_host_reach_names_its_attribute() {
        let mut c = mounting("sock");
        c.privileged = Some(true);
        c.linux_parameters = Some(LinuxParameters {
            capabilities: Some(KernelCapabilities { add: Some(vec!["CAP_NET_ADMIN".into()]), drop: None }),
            ..Default::default()
        });
        c.docker_security_options = Some(vec!["seccomp=unconfined".into()]);
        c.system_controls = Some(vec![SystemControl { namespace: Some("net.core.somaxconn".into()), value: None }]);
        let needs = HostNeeds::of(Some(NetworkMode::Host), &[c], &[host_volume("sock", "/var/run/docker.sock")]);
        assert_eq!(
            needs.attributes(),
            vec![
                PRIVILEGED.to_string(),
                HOST_NETWORK.into(),
                HOST_PATH.into(),
                "berth.capability.cap-add.NET_ADMIN".into(),
                UNCONFINED.into(),
                SYSCTLS.into(),
            ]
        );
        let none = HostAccess::default();
        assert!(none.refusal(&needs).is_some_and(|r| r.contains(PRIVILEGED)));
        assert!(none.attributes().is_empty());
        let all = HostAccess::everything();
        assert_eq!(all.refusal(&needs), None);
        let advertised = all.attributes();
        assert!(needs.attributes().iter().all(|a| advertised.contains_key(a)));
        let no_socket = HostAccess { host_paths: vec!["/".into()], ..HostAccess::everything() };
        assert!(no_socket.refusal(&needs).is_some_and(|r| r.contains("/var/run/docker.sock")));
        let listed = HostAccess {
            capabilities: CapabilityPolicy::Listed(["SYS_PTRACE".to_string()].into()),
            ..HostAccess::everything()
        };
        assert!(listed.refusal(&needs).is_some_and(|r| r.contains("cap-add.NET_ADMIN")));
    }

    #[test]
    fn security_options_that_lift_confinement() {
        for gated in ["seccomp=unconfined", "seccomp:unconfined", "seccomp={}", "apparmor=unconfined", "label:disable"]
        {
            assert!(is_unconfined_option(gated), "{gated}");
        }
        for fine in ["no-new-privileges", "no-new-privileges:true", "apparmor:docker-default", "label:type:svirt_t"] {
            assert!(!is_unconfined_option(fine), "{fine}");
        }
    }
}
