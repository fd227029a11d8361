//! The container runtime behind a trait: what the agent's task engine asks of Docker, and nothing more.
//!
//! Background: ECS's agent drives Docker through a small set of calls (pull, create, start, stop, remove,
//! inspect, list by label, events). The task engine is written against [`ContainerRuntime`] so it can be tested on
//! [`FakeRuntime`] without an engine, and run on [`DockerRuntime`] (bollard) for real.
//!
//! Design:
//! - [`ContainerSpec`] is an ECS container definition already resolved to Docker terms (ECS `cpu` units become
//!   CPU shares of at least 2, memory is in bytes, health-check durations are [`Duration`]s); the pure function
//!   `mapping::create_body` turns it into Docker's create request, and is unit-tested without an engine.
//! - [`ContainerState`] is what the engine observed, with epoch-second timestamps like ECS's wire.
//! - [`RuntimeError`] is one enum whose variants tell apart what a caller acts on: `NotFound` (no such image or
//!   container), `Conflict` (name in use, removal in progress), `Invalid` (the engine refused the request) and
//!   `Unavailable` (the engine did not answer) from other engine failures; each names the call and its target.
//! - The trait uses `impl Future + Send` in trait methods (no boxing), so callers are generic over the runtime
//!   rather than holding a `dyn ContainerRuntime`.
//! - [`ContainerRuntime::events`] is an `async` subscription returning a boxed [`EventStream`], so "list, then
//!   watch" leaves no gap: bollard only sends the request when its stream is first polled, so the Docker runtime
//!   pins the start with `since` set to the engine's own clock (from `/info`) and the engine replays the events
//!   in between from its buffer of recent events.
//!
//! Logs: [`ContainerState::log_path`] is the engine's own log file of a container (the awslogs shipper reads it)
//! and [`ContainerRuntime::attach_output`] paces the container (blocking mode).
//!
//! Limitations: exec (ECS Exec) and logs only on Docker; `remove_container`
//! reports a missing container as `NotFound` rather than succeeding, so callers decide; events carry Docker's
//! actor attributes minus its own keys as labels, so a label named `name`, `image`, `exitCode` or `signal` is
//! not reported in events (it is in [`ContainerState::labels`]).

pub mod docker;
pub(crate) use mapping::parse_timestamp_ns;
pub mod fake;
mod mapping;
mod spec;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::stream::BoxStream;

pub use docker::DockerRuntime;
pub use fake::FakeRuntime;
pub use spec::{
    BindMount, ContainerSpec, ExtraHost, HealthCheck, LogConfig, NetworkMode, NetworkSpec, PortMapping, Protocol,
    RegistryCredentials, TmpfsMount, Ulimit,
};

/// The operations the agent needs from a container engine.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// The host's resources and the engine's identity.
    fn info(&self) -> impl Future<Output = Result<RuntimeInfo, RuntimeError>> + Send;

    /// Pulls `image` (`name[:tag]` or `name@digest`; the tag defaults to `latest`), with registry credentials if
    /// given. Returns once the image is local.
    fn pull_image(
        &self,
        image: &str,
        auth: Option<&RegistryCredentials>,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// The local image `image`, or `None` when it is not present.
    fn inspect_image(&self, image: &str) -> impl Future<Output = Result<Option<ImageInfo>, RuntimeError>> + Send;

    /// Creates (does not start) a container and returns its id.
    fn create_container(&self, spec: &ContainerSpec) -> impl Future<Output = Result<String, RuntimeError>> + Send;

    /// Starts a created container; starting a running one succeeds.
    fn start_container(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Sends the stop signal (SIGTERM unless the spec set another), then SIGKILL after `timeout` (Docker's `stop`
    /// semantics, whole seconds, rounded up); returns once the container has stopped. Stopping a stopped
    /// container succeeds.
    fn stop_container(&self, id: &str, timeout: Duration) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Removes a container (killing it if running) with its anonymous volumes.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// The address containers reach the host at (the default bridge network's gateway), where the agent serves
    /// the task metadata endpoint; `None` when the engine has none.
    fn bridge_gateway(&self) -> impl Future<Output = Option<std::net::IpAddr>> + Send {
        async { None }
    }

    /// Makes sure the bridge network `spec.name` exists with `spec.subnet` (creating it when missing); a network of
    /// that name with another subnet is an error. Runtimes without networks refuse with [`RuntimeError::Invalid`].
    fn ensure_network(&self, spec: &NetworkSpec) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        let target = spec.name.clone();
        async move {
            Err(RuntimeError::Invalid {
                call: "ensure_network",
                target,
                message: "this runtime has no networks".into(),
            })
        }
    }

    /// Imports a root filesystem (a tar archive) as the image `tag` (`docker import`), applying Dockerfile
    /// `changes` (`CMD [...]`).
    fn import_image(
        &self,
        tag: &str,
        rootfs: Vec<u8>,
        changes: &[String],
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        let target = tag.to_string();
        let _ = (rootfs, changes);
        async move {
            Err(RuntimeError::Invalid {
                call: "import_image",
                target,
                message: "this runtime cannot import images".into(),
            })
        }
    }

    /// One sample of a container's resource usage, in Docker's stats JSON (`cpu_stats`, `precpu_stats`,
    /// `memory_stats`, `networks`, `blkio_stats` ...), as the task metadata endpoint's `/stats` serves it.
    fn container_stats(&self, id: &str) -> impl Future<Output = Result<serde_json::Value, RuntimeError>> + Send;

    /// The bytes a container has written to its own writable layer (Docker's `SizeRw`), `None` when the engine
    /// does not say. Fargate's `EphemeralStorageMetrics.Utilized` adds these up.
    fn container_size(&self, id: &str) -> impl Future<Output = Result<Option<u64>, RuntimeError>> + Send {
        let _ = id;
        async { Ok(None) }
    }

    /// Removes a named volume (a task-scoped volume, once the task's containers are gone). Removing a volume that
    /// does not exist fails with a not-found error.
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// The container's observed state, or `None` when it no longer exists.
    fn inspect_container(&self, id: &str) -> impl Future<Output = Result<Option<ContainerState>, RuntimeError>> + Send;

    /// All containers, in any state, that carry `label` (with exactly `value` when given).
    fn list_containers(
        &self,
        label: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ContainerSummary>, RuntimeError>> + Send;

    /// Subscribes to container lifecycle events. Every event that happens after this returns is delivered, even
    /// if the stream is first polled later; a few from just before (up to a second) may be delivered too, so
    /// treat events as hints to re-inspect, at least once. The stream ends if the engine connection drops:
    /// subscribe again, then re-list, since events in between are lost.
    fn events(&self) -> impl Future<Output = Result<EventStream, RuntimeError>> + Send;

    /// Starts `command` in a running container (`docker exec`), attached to its standard streams, in a terminal
    /// when `tty` (of `size` rows and columns, where the engine can set it at the start: API 1.42 and later).
    /// Runtimes without exec refuse with [`RuntimeError::Invalid`].
    fn exec(
        &self,
        container_id: &str,
        command: &[String],
        tty: bool,
        size: Option<(u16, u16)>,
    ) -> impl Future<Output = Result<ExecProcess, RuntimeError>> + Send {
        let target = container_id.to_string();
        let _ = (command, tty, size);
        async move { Err(RuntimeError::Invalid { call: "exec", target, message: "this runtime has no exec".into() }) }
    }

    /// Resizes the terminal of an exec started with `tty`.
    fn exec_resize(
        &self,
        exec_id: &str,
        rows: u16,
        cols: u16,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        let target = exec_id.to_string();
        let _ = (rows, cols);
        async move { Err(RuntimeError::Invalid { call: "exec_resize", target, message: "this runtime has no exec".into() }) }
    }

    /// Attaches to a container's standard output and error (before its start, so that nothing is missed): a
    /// stream of how many bytes the container wrote. The reader paces the container: while the stream is not
    /// polled, the engine's attach buffer fills and then the container's writes block, which is how the
    /// `awslogs` driver's blocking mode holds a container back while its lines cannot be delivered.
    fn attach_output(&self, container_id: &str) -> impl Future<Output = Result<ByteCounts, RuntimeError>> + Send {
        let target = container_id.to_string();
        async move {
            Err(RuntimeError::Invalid { call: "attach_output", target, message: "this runtime has no attach".into() })
        }
    }

    /// The exit code of an exec, once its process has ended (`None` while it runs).
    fn exec_exit_code(&self, exec_id: &str) -> impl Future<Output = Result<Option<i64>, RuntimeError>> + Send {
        let target = exec_id.to_string();
        async move {
            Err(RuntimeError::Invalid { call: "exec_exit_code", target, message: "this runtime has no exec".into() })
        }
    }
}

/// One entry of a container's log as the engine keeps it: a whole line with its newline, or a piece of a long
/// line (the engine splits lines of over 16 KiB) without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When the engine read it from the container, in nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// Whether it came from standard error.
    pub stderr: bool,
    /// The bytes as written.
    pub bytes: bytes::Bytes,
}

/// How many bytes a container wrote, chunk by chunk (see [`ContainerRuntime::attach_output`]).
pub type ByteCounts = BoxStream<'static, Result<usize, RuntimeError>>;

/// An exec's output: standard output (or the terminal), or standard error (without a terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutput {
    /// Standard output, or everything the terminal shows.
    Stdout(Vec<u8>),
    /// Standard error.
    Stderr(Vec<u8>),
}

/// A running exec (see [`ContainerRuntime::exec`]).
pub struct ExecProcess {
    /// The engine's exec id.
    pub id: String,
    /// What the command writes; ends when the command's streams close.
    pub output: BoxStream<'static, Result<ExecOutput, RuntimeError>>,
    /// The command's standard input; shutting it down closes the command's standard input.
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl std::fmt::Debug for ExecProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProcess").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A subscription to container events (see [`ContainerRuntime::events`]).
pub type EventStream = BoxStream<'static, Result<RuntimeEvent, RuntimeError>>;

/// Errors of container runtime calls; `call` names the operation and `target` the image or container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The image or container does not exist (or the registry does not have the image).
    #[error("{call} {target}: not found: {message}")]
    NotFound {
        /// The operation, e.g. `create_container`.
        call: &'static str,
        /// The image reference or container id/name.
        target: String,
        /// The engine's message.
        message: String,
    },
    /// The request conflicts with the current state (a container name in use, a removal in progress).
    #[error("{call} {target}: conflict: {message}")]
    Conflict {
        /// The operation.
        call: &'static str,
        /// The image reference or container id/name.
        target: String,
        /// The engine's message.
        message: String,
    },
    /// The engine refused the request as invalid (a bad option, an unsupported combination).
    #[error("{call} {target}: invalid request: {message}")]
    Invalid {
        /// The operation.
        call: &'static str,
        /// The image reference or container id/name.
        target: String,
        /// The engine's message.
        message: String,
    },
    /// The engine could not be reached or did not answer in time.
    #[error("{call} {target}: engine unavailable: {message}")]
    Unavailable {
        /// The operation.
        call: &'static str,
        /// The image reference or container id/name.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// Any other failure reported by the engine (including a failed pull).
    #[error("{call} {target}: engine error{}: {message}", status.map(|s| format!(" (status {s})")).unwrap_or_default())]
    Engine {
        /// The operation.
        call: &'static str,
        /// The image reference or container id/name.
        target: String,
        /// The HTTP status, when the engine answered with one.
        status: Option<u16>,
        /// The engine's message.
        message: String,
    },
}

impl RuntimeError {
    /// Whether this is [`RuntimeError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeError::NotFound { .. })
    }

    /// Whether this is [`RuntimeError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, RuntimeError::Conflict { .. })
    }
}

/// The host and engine, as registered for a container instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeInfo {
    /// CPU cores the engine sees.
    pub cpus: u32,
    /// Memory of the host in bytes.
    pub memory_bytes: u64,
    /// The engine's version, e.g. `20.10.24`.
    pub engine_version: String,
    /// The API version in use after negotiation, e.g. `1.41`.
    pub api_version: String,
    /// The host name.
    pub hostname: String,
    /// The OS type, e.g. `linux`.
    pub os: String,
    /// The architecture, e.g. `x86_64`.
    pub arch: String,
    /// The storage driver, e.g. `overlay2` or `fuse-overlayfs`.
    pub storage_driver: String,
    /// The driver's backing filesystem (`Backing Filesystem` of its status, e.g. `xfs`), when the engine says.
    pub backing_filesystem: Option<String>,
    /// Docker's data root (`DockerRootDir`, e.g. `/var/lib/docker`).
    pub docker_root_dir: String,
    /// The cgroup version, `1` or `2`, when the engine reports it.
    pub cgroup_version: Option<String>,
    /// Docker's cgroup driver (`cgroupfs`, `systemd`), when the engine reports it.
    pub cgroup_driver: Option<String>,
}

/// A local image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    /// The image id (`sha256:...`).
    pub id: String,
    /// Tags, e.g. `berth-workload:latest`.
    pub repo_tags: Vec<String>,
    /// Registry digests, e.g. `repo@sha256:...` (empty for images never pushed or pulled).
    pub repo_digests: Vec<String>,
}

/// The engine's lifecycle state of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ContainerStatus {
    /// Created, never started.
    #[default]
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Being restarted by the engine.
    Restarting,
    /// Being removed.
    Removing,
    /// Stopped; see the exit code.
    Exited,
    /// Failed to stop or be removed; needs a forced removal.
    Dead,
    /// A state this code does not know, as the engine named it.
    Unknown(String),
}

/// A container's health as the engine's health check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// Within the start period, or no check has passed yet.
    Starting,
    /// The last check passed.
    Healthy,
    /// `retries` consecutive checks failed.
    Unhealthy,
}

/// A port the engine actually published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    /// The port inside the container.
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// The host address bound, e.g. `0.0.0.0` or `::`.
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
}

/// What the engine observed of a container.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerState {
    /// The full id.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// The image reference it was created from.
    pub image: String,
    /// The image id it runs (`sha256:...`).
    pub image_id: String,
    /// The lifecycle state.
    pub status: ContainerStatus,
    /// Whether its process is running.
    pub running: bool,
    /// The exit code, once it has exited.
    pub exit_code: Option<i64>,
    /// Whether the kernel's OOM killer ended it.
    pub oom_killed: bool,
    /// The engine's error, e.g. why it could not start.
    pub error: Option<String>,
    /// When it last started, in epoch seconds.
    pub started_at: Option<f64>,
    /// When it last stopped, in epoch seconds.
    pub finished_at: Option<f64>,
    /// Its health, `None` without a health check.
    pub health: Option<HealthStatus>,
    /// The ports the engine published, one entry per host address.
    pub ports: Vec<PortBinding>,
    /// How often the engine restarted it.
    pub restart_count: u32,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The PID of its main process while running.
    pub pid: Option<u32>,
    /// The file the engine writes the container's log to (json-file), when it keeps one.
    pub log_path: Option<String>,
    /// Its addresses on the engine's networks (none for host mode or a container joined to another's namespace).
    pub addresses: Vec<std::net::IpAddr>,
}

/// A container as listed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSummary {
    /// The full id.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The lifecycle state.
    pub status: ContainerStatus,
    /// Whether it is running.
    pub running: bool,
}

/// A container lifecycle event.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeEvent {
    /// The container's id.
    pub container_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The container's name, when the engine said.
    pub name: Option<String>,
    /// The container's image, when the engine said.
    pub image: Option<String>,
    /// The container's labels (see the module's limitations).
    pub labels: BTreeMap<String, String>,
    /// When, in epoch seconds.
    pub time: f64,
}

/// The kinds of container events reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Created.
    Create,
    /// Started.
    Start,
    /// Its process exited.
    Die {
        /// The exit code, when the engine said.
        exit_code: Option<i64>,
    },
    /// The OOM killer hit it (a `Die` follows).
    Oom,
    /// Its health changed.
    Health(HealthStatus),
    /// Stopped through the API.
    Stop,
    /// Removed.
    Destroy,
}
