//! The agent's host-reach flags: each opens one kind of access to the host that tasks do not get by default.

use clap::Args;

/// What tasks may reach on this host. Nothing by default; each flag makes the agent advertise a capability
/// attribute, so tasks that need it can be placed here (README: "Host access").
#[derive(Debug, Args, Clone, Default)]
pub struct HostAccessArgs {
    /// Allow privileged containers (attribute com.amazonaws.ecs.capability.privileged-container).
    #[arg(long)]
    pub allow_privileged: bool,
    /// Allow `networkMode: host` (attribute berth.capability.host-network).
    #[arg(long)]
    pub allow_host_network: bool,
    /// Allow host bind mounts under this absolute path prefix (repeatable; attribute berth.capability.host-path).
    /// `/`, the Docker sockets and `/var`, `/var/run`, `/run` are allowed only when named exactly.
    #[arg(long = "allow-host-path", value_name = "PREFIX")]
    pub allow_host_paths: Vec<String>,
    /// Allow adding this Linux capability, e.g. NET_ADMIN (repeatable; attribute berth.capability.cap-add.CAP).
    #[arg(long = "allow-capability", value_name = "CAP")]
    pub allow_capabilities: Vec<String>,
    /// Allow adding any Linux capability, ALL included.
    #[arg(long)]
    pub allow_added_capabilities: bool,
    /// Allow dockerSecurityOptions that lift confinement: seccomp=..., apparmor=unconfined, label=disable
    /// (attribute berth.capability.unconfined).
    #[arg(long)]
    pub allow_unconfined: bool,
    /// Allow systemControls (sysctls; attribute berth.capability.sysctls).
    #[arg(long)]
    pub allow_sysctls: bool,
    /// Allow linuxParameters.devices (attribute berth.capability.devices).
    #[arg(long)]
    pub allow_devices: bool,
}
