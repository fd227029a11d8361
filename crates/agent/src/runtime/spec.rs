//! What to create: [`ContainerSpec`], an ECS container definition already resolved to Docker's terms, and its
//! parts. The agent's task engine fills it from the task definition (defaults applied, secrets resolved, labels
//! added); `mapping::create_body` turns it into Docker's create request.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Credentials for a private registry (ECS `repositoryCredentials`, or an ECR token).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RegistryCredentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
    /// The registry, e.g. `127.0.0.1:7700`; `None` lets the engine infer it from the image.
    pub server_address: Option<String>,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server_address", &self.server_address)
            .finish()
    }
}

/// A container to create: an ECS container definition resolved to Docker's terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// The container name (unique on the host); empty lets the engine pick one.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Overrides the image's entrypoint when set (`entryPoint`).
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's command when set (`command`).
    pub command: Option<Vec<String>>,
    /// Environment variables in order (`environment`, resolved secrets, ECS metadata variables).
    pub env: Vec<(String, String)>,
    /// `workingDirectory`.
    pub working_dir: Option<String>,
    /// `user` (`uid`, `uid:gid`, `name` ...).
    pub user: Option<String>,
    /// `dockerLabels` plus the agent's own labels (task ARN, container name ...).
    pub labels: BTreeMap<String, String>,
    /// `portMappings`.
    pub ports: Vec<PortMapping>,
    /// The task's `networkMode`.
    pub network_mode: NetworkMode,
    /// ECS `cpu` units (0 when unset); becomes CPU shares, raised to Docker's minimum of 2 as ECS's agent does.
    pub cpu_units: u32,
    /// `memory`: the hard limit in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// `memoryReservation`: the soft limit in bytes.
    pub memory_reservation_bytes: Option<u64>,
    /// `linuxParameters.maxSwap` in bytes (needs a hard limit; 0 disables swap).
    pub max_swap_bytes: Option<u64>,
    /// `linuxParameters.swappiness` (0-100).
    pub swappiness: Option<u8>,
    /// `ulimits`.
    pub ulimits: Vec<Ulimit>,
    /// `healthCheck`.
    pub health_check: Option<HealthCheck>,
    /// The signal `stop_container` sends first (the image's `STOPSIGNAL` when unset).
    pub stop_signal: Option<String>,
    /// `stopTimeout`, also recorded on the container so a manual `docker stop` honours it.
    pub stop_timeout: Option<Duration>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `privileged`.
    pub privileged: bool,
    /// `readonlyRootFilesystem`.
    pub readonly_rootfs: bool,
    /// `extraHosts`.
    pub extra_hosts: Vec<ExtraHost>,
    /// `dnsServers`.
    pub dns_servers: Vec<String>,
    /// `dnsSearchDomains`.
    pub dns_search: Vec<String>,
    /// `dockerSecurityOptions`.
    pub security_options: Vec<String>,
    /// `linuxParameters.initProcessEnabled`: run Docker's init as PID 1.
    pub init_process: bool,
    /// `linuxParameters.capabilities.add`.
    pub cap_add: Vec<String>,
    /// `linuxParameters.capabilities.drop`.
    pub cap_drop: Vec<String>,
    /// `linuxParameters.tmpfs`.
    pub tmpfs: Vec<TmpfsMount>,
    /// `linuxParameters.sharedMemorySize` in bytes.
    pub shm_size_bytes: Option<u64>,
    /// `systemControls`.
    pub sysctls: BTreeMap<String, String>,
    /// `mountPoints` resolved to host paths or named volumes.
    pub binds: Vec<BindMount>,
    /// `volumesFrom`: the Docker names of containers whose volumes to mount, each with `:ro` when read-only.
    pub volumes_from: Vec<String>,
    /// `links`: `docker-name:alias` of the task's containers this one reaches by alias (bridge mode).
    pub links: Vec<String>,
    /// `logConfiguration`; `json-file` by default so the agent can read logs back.
    pub log_config: LogConfig,
    /// `interactive`: keep stdin open.
    pub interactive: bool,
    /// `pseudoTerminal`: allocate a TTY.
    pub pseudo_terminal: bool,
    /// `disableNetworking`.
    pub disable_networking: bool,
    /// The address on the user-defined network of `network_mode` (an awsvpc task's pause container).
    pub ipv4_address: Option<String>,
    /// The MAC address of its interface on that network.
    pub mac_address: Option<String>,
    /// Docker's `CgroupParent`: a FARGATE task's cgroup, which holds the task size (`task_cgroup`).
    pub cgroup_parent: Option<String>,
    /// Docker's `StorageOpt size`, GiB: the cap of the writable layer (a FARGATE task's ephemeral storage, where
    /// the storage driver enforces it: `crate::storage`).
    pub storage_size_gib: Option<u32>,
}

impl ContainerSpec {
    /// A spec with only a name and an image; everything else defaults.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerSpec { name: name.into(), image: image.into(), ..Default::default() }
    }
}

/// A published port (`portMappings[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// The port inside the container.
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// The host port; 0 asks the engine for a dynamic one.
    pub host_port: u16,
    /// The host address to bind; `None` binds all addresses.
    pub host_ip: Option<String>,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A bridge network to create (an awsvpc subnet's slice on this host).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkSpec {
    /// The network's name.
    pub name: String,
    /// Its subnet (`a.b.c.d/n`).
    pub subnet: String,
    /// The bridge's address in it.
    pub gateway: String,
    /// The Linux bridge's interface name (at most 15 characters).
    pub bridge: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl NetworkMode {
    /// Whether the container joins another container's network namespace (`container:<id>`).
    pub fn is_container(&self) -> bool {
        matches!(self, NetworkMode::Custom(name) if name.starts_with("container:"))
    }
}

/// How the container is networked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Docker's default bridge, ports published through NAT.
    #[default]
    Bridge,
    /// The host's network namespace; port mappings are not published (the container binds host ports itself).
    Host,
    /// No networking beyond loopback.
    None,
    /// A user-defined Docker network, or `container:<id>`, passed to the engine as is.
    Custom(String),
}

impl NetworkMode {
    /// The engine's name for the mode.
    pub fn as_docker(&self) -> &str {
        match self {
            NetworkMode::Bridge => "bridge",
            NetworkMode::Host => "host",
            NetworkMode::None => "none",
            NetworkMode::Custom(name) => name,
        }
    }
}

/// A resource limit (`ulimits[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// The limit's name, e.g. `nofile`.
    pub name: String,
    /// The soft limit.
    pub soft: i64,
    /// The hard limit.
    pub hard: i64,
}

/// A container health check (`healthCheck`), run by the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `["CMD", exe, args...]`, `["CMD-SHELL", "command"]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Time between checks (ECS default 30 s).
    pub interval: Duration,
    /// Time a check may take (ECS default 5 s).
    pub timeout: Duration,
    /// Consecutive failures before unhealthy (ECS default 3).
    pub retries: u32,
    /// Grace period during which failures do not count (ECS default 0).
    pub start_period: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            test: Vec::new(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            retries: 3,
            start_period: Duration::ZERO,
        }
    }
}

/// An `/etc/hosts` entry (`extraHosts[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    /// The host name.
    pub hostname: String,
    /// Its address.
    pub ip_address: String,
}

/// A tmpfs mount (`linuxParameters.tmpfs[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Where it is mounted in the container.
    pub container_path: String,
    /// Its size in bytes, unlimited (half the host's memory) when unset.
    pub size_bytes: Option<u64>,
    /// Mount options, e.g. `noexec`, `mode=1777`.
    pub options: Vec<String>,
}

/// A host path mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// The host path (or named volume).
    pub source: String,
    /// The path in the container.
    pub target: String,
    /// Mount read-only.
    pub read_only: bool,
}

/// The logging driver and its options (`logConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The driver, e.g. `json-file`.
    pub driver: String,
    /// Driver options.
    pub options: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { driver: "json-file".to_string(), options: BTreeMap::new() }
    }
}
