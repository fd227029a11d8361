//! [`FakeRuntime`]: an in-memory [`ContainerRuntime`] for the agent's unit tests.
//!
//! It keeps images and containers in a map and behaves like Docker where the task engine can tell: names are
//! unique (`Conflict`), creating from a missing image is `NotFound`, starting assigns dynamic host ports from
//! 32768, starting a running or stopping a stopped container succeeds, and every change is published as a
//! [`RuntimeEvent`]. Nothing runs and nothing sleeps: tests steer containers with [`FakeRuntime::exit`],
//! [`FakeRuntime::oom_kill`], [`FakeRuntime::set_health`], [`FakeRuntime::ignore_sigterm`],
//! [`FakeRuntime::fail_pull`] and [`FakeRuntime::fail_next`], and read back [`FakeRuntime::calls`] and
//! [`FakeRuntime::spec`]. Timestamps come from a settable clock ([`FakeRuntime::set_now`]), not the system's.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;

use super::{
    ByteCounts, ContainerRuntime, ContainerSpec, ContainerState, ContainerStatus, ContainerSummary, EventKind,
    EventStream, HealthStatus, ImageInfo, LogEntry, NetworkMode, PortBinding, RegistryCredentials, RuntimeError,
    RuntimeEvent, RuntimeInfo,
};

/// The first dynamic host port handed out, like Docker's ephemeral range.
pub const FIRST_DYNAMIC_PORT: u16 = 32768;

/// Exit code of a container killed by SIGKILL (128 + 9).
pub const SIGKILL_EXIT_CODE: i64 = 137;

/// The fake's initial clock, in epoch seconds (2023-11-14).
pub const DEFAULT_NOW: f64 = 1_700_000_000.0;

/// An operation of the runtime, to inject a failure into with [`FakeRuntime::fail_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `info`.
    Info,
    /// `pull_image`.
    Pull,
    /// `inspect_image`.
    InspectImage,
    /// `create_container`.
    Create,
    /// `start_container`.
    Start,
    /// `stop_container`.
    Stop,
    /// `remove_container`.
    Remove,
    /// `inspect_container`.
    Inspect,
    /// `list_containers`.
    List,
}

/// A state-changing call the fake received, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `pull_image`, and whether credentials came with it.
    Pull {
        /// The reference.
        image: String,
        /// Whether credentials were passed.
        with_auth: bool,
    },
    /// `inspect_image`.
    InspectImage {
        /// The reference.
        image: String,
    },
    /// `inspect_container`.
    Inspect {
        /// The id or name.
        id: String,
    },
    /// `create_container`.
    Create {
        /// The spec's name.
        name: String,
    },
    /// `start_container`.
    Start {
        /// The id.
        id: String,
    },
    /// `stop_container`.
    Stop {
        /// The id.
        id: String,
        /// The timeout asked for.
        timeout: Duration,
    },
    /// `remove_container`.
    Remove {
        /// The id.
        id: String,
    },
    /// `remove_volume`.
    RemoveVolume {
        /// The volume's name.
        name: String,
    },
    /// `ensure_network`.
    EnsureNetwork {
        /// The network asked for.
        spec: super::NetworkSpec,
    },
    /// `import_image`.
    Import {
        /// The tag.
        tag: String,
    },
}

#[derive(Debug)]
struct FakeContainer {
    spec: ContainerSpec,
    state: ContainerState,
    ignores_sigterm: bool,
}

#[derive(Debug)]
struct Inner {
    info: RuntimeInfo,
    images: BTreeMap<String, ImageInfo>,
    pull_errors: HashMap<String, RuntimeError>,
    injected: HashMap<Op, VecDeque<RuntimeError>>,
    containers: BTreeMap<String, FakeContainer>,
    calls: Vec<Call>,
    next_id: u64,
    next_port: u16,
    next_pid: u32,
    now: f64,
    pull_delay: Duration,
    /// Where containers' json-file logs are written ([`FakeRuntime::keep_logs_in`]).
    log_dir: Option<std::path::PathBuf>,
    /// Entries written per container (their times are distinct, as Docker's are).
    log_entries: BTreeMap<String, u64>,
    /// Rotate a log file once it is over this many bytes, keeping this many files ([`FakeRuntime::rotate_logs`]).
    log_rotation: Option<(u64, usize)>,
}

/// The in-memory runtime. Clones share state.
#[derive(Debug, Clone)]
pub struct FakeRuntime {
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<RuntimeEvent>,
    /// (container id, bytes) of every write, for attach streams.
    writes: broadcast::Sender<(String, usize)>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

/// `image` with `:latest` added when it has neither tag nor digest, as Docker resolves it.
pub fn normalize_reference(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') { image.to_string() } else { format!("{image}:latest") }
}

fn not_found(call: &'static str, target: &str, what: &str) -> RuntimeError {
    RuntimeError::NotFound { call, target: target.to_string(), message: format!("no such {what}: {target}") }
}

impl FakeRuntime {
    /// An empty runtime: no images, no containers, a 4-core 8 GiB host.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        let info = RuntimeInfo {
            cpus: 4,
            memory_bytes: 8 << 30,
            engine_version: "fake".to_string(),
            api_version: "1.41".to_string(),
            hostname: "fake-host".to_string(),
            os: "linux".to_string(),
            arch: "x86_64".to_string(),
            storage_driver: "fake".to_string(),
            backing_filesystem: None,
            docker_root_dir: String::new(),
            cgroup_version: Some("2".to_string()),
            cgroup_driver: Some("cgroupfs".to_string()),
        };
        let inner = Inner {
            info,
            images: BTreeMap::new(),
            pull_errors: HashMap::new(),
            injected: HashMap::new(),
            containers: BTreeMap::new(),
            calls: Vec::new(),
            next_id: 1,
            next_port: FIRST_DYNAMIC_PORT,
            next_pid: 1000,
            now: DEFAULT_NOW,
            pull_delay: Duration::ZERO,
            log_dir: None,
            log_entries: BTreeMap::new(),
            log_rotation: None,
        };
        let (writes, _) = broadcast::channel(4096);
        FakeRuntime { inner: Arc::new(Mutex::new(inner)), events, writes }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn emit(&self, inner: &Inner, id: &str, kind: EventKind) {
        let Some(c) = inner.containers.get(id) else { return };
        // No subscriber is fine: events are only seen by streams opened before them, as with Docker.
        let _ = self.events.send(RuntimeEvent {
            container_id: id.to_string(),
            kind,
            name: Some(c.state.name.clone()),
            image: Some(c.state.image.clone()),
            labels: c.state.labels.clone(),
            time: inner.now,
        });
    }

    fn injected(&self, inner: &mut Inner, op: Op) -> Result<(), RuntimeError> {
        match inner.injected.get_mut(&op).and_then(VecDeque::pop_front) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Replaces what [`ContainerRuntime::info`] reports.
    pub fn set_info(&self, info: RuntimeInfo) {
        self.lock().info = info;
    }

    /// Makes `image` present locally, as if pulled or built.
    pub fn add_image(&self, image: &str) {
        let mut inner = self.lock();
        let reference = normalize_reference(image);
        let n = inner.images.len() + 1;
        inner.images.insert(
            reference.clone(),
            ImageInfo { id: format!("sha256:{n:064x}"), repo_tags: vec![reference], repo_digests: Vec::new() },
        );
    }

    /// Makes every pull of `image` fail with `err` (until [`FakeRuntime::allow_pull`]).
    pub fn fail_pull(&self, image: &str, err: RuntimeError) {
        self.lock().pull_errors.insert(normalize_reference(image), err);
    }

    /// Lets pulls of `image` succeed again.
    pub fn allow_pull(&self, image: &str) {
        self.lock().pull_errors.remove(&normalize_reference(image));
    }

    /// Makes the next call of `op` fail with `err` (queued: several calls fail in turn).
    pub fn fail_next(&self, op: Op, err: RuntimeError) {
        self.lock().injected.entry(op).or_default().push_back(err);
    }

    /// Sets the clock, in epoch seconds.
    pub fn set_now(&self, now: f64) {
        self.lock().now = now;
    }

    /// Makes every pull take `delay` (real time), as a pull from a registry does.
    pub fn set_pull_delay(&self, delay: Duration) {
        self.lock().pull_delay = delay;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.lock().now += by.as_secs_f64();
    }

    /// Makes `stop_container` on `id` end with SIGKILL (exit code 137), as a process ignoring SIGTERM would.
    pub fn ignore_sigterm(&self, id: &str, ignore: bool) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        let c = inner.containers.get_mut(id).ok_or_else(|| not_found("ignore_sigterm", id, "container"))?;
        c.ignores_sigterm = ignore;
        Ok(())
    }

    /// Makes a running container's process exit with `code` (a `die` event follows).
    pub fn exit(&self, id: &str, code: i64) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        self.finish(&mut inner, id, code, false)
    }

    /// Keeps containers' logs as Docker's json-file driver does, in `<dir>/<id>-json.log` (their
    /// [`ContainerState::log_path`]); containers created before have none.
    pub fn keep_logs_in(&self, dir: &std::path::Path) {
        self.lock().log_dir = Some(dir.to_path_buf());
    }

    /// Rotates log files once they pass `max_bytes`, keeping `max_files` (json-file's `max-size`, `max-file`).
    pub fn rotate_logs(&self, max_bytes: u64, max_files: usize) {
        self.lock().log_rotation = Some((max_bytes, max_files.max(1)));
    }

    /// Makes a container write `bytes` to stdout (or stderr): an entry of its json-file log, stamped with the
    /// fake's clock (plus a nanosecond per entry, so times are distinct as Docker's are).
    pub fn write_log(&self, id: &str, stderr: bool, bytes: &[u8]) {
        use std::io::Write;
        let mut inner = self.lock();
        let Some(path) = inner.containers.get(id).and_then(|c| c.state.log_path.clone()) else { return };
        let written = inner.log_entries.entry(id.to_string()).or_default();
        *written += 1;
        let written = *written;
        let nanos = (inner.now.fract() * 1e9) as u64 + written;
        let seconds = inner.now.trunc() as i64 + (nanos / 1_000_000_000) as i64;
        let (year, month, day) = berth_model::clock::civil_from_days(seconds.div_euclid(86_400));
        let rest = seconds.rem_euclid(86_400);
        let time = format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60,
            nanos % 1_000_000_000
        );
        let entry = LogEntry { timestamp_ns: 0, stderr, bytes: bytes::Bytes::copy_from_slice(bytes) };
        let line = crate::logs::tail::json_entry(&entry, &time);
        if let Some((max_bytes, max_files)) = inner.log_rotation
            && std::fs::metadata(&path).is_ok_and(|m| m.len() > max_bytes)
        {
            for i in (1..max_files).rev() {
                let _ = std::fs::rename(format!("{path}.{i}"), format!("{path}.{}", i + 1));
            }
            let _ = std::fs::rename(&path, format!("{path}.1"));
        }
        drop(inner);
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            let _ = file.write_all(line.as_bytes());
        }
        let _ = self.writes.send((id.to_string(), bytes.len()));
    }

    /// Makes the OOM killer end a running container (`oom` then `die` with 137).
    pub fn oom_kill(&self, id: &str) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        self.finish(&mut inner, id, SIGKILL_EXIT_CODE, true)
    }

    fn finish(&self, inner: &mut Inner, id: &str, code: i64, oom: bool) -> Result<(), RuntimeError> {
        let now = inner.now;
        let c = inner.containers.get_mut(id).ok_or_else(|| not_found("exit", id, "container"))?;
        if !c.state.running {
            return Ok(());
        }
        let s = &mut c.state;
        s.running = false;
        s.status = ContainerStatus::Exited;
        s.exit_code = Some(code);
        s.oom_killed = oom;
        s.finished_at = Some(now);
        s.pid = None;
        if oom {
            self.emit(inner, id, EventKind::Oom);
        }
        self.emit(inner, id, EventKind::Die { exit_code: Some(code) });
        Ok(())
    }

    /// Sets a running container's health (a `health_status` event follows when it changes).
    pub fn set_health(&self, id: &str, health: HealthStatus) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        let c = inner.containers.get_mut(id).ok_or_else(|| not_found("set_health", id, "container"))?;
        if c.state.health == Some(health) {
            return Ok(());
        }
        c.state.health = Some(health);
        self.emit(&inner, id, EventKind::Health(health));
        Ok(())
    }

    /// Removes a container behind the agent's back (as `docker rm -f` by an operator would).
    pub fn remove_externally(&self, id: &str) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        self.remove(&mut inner, id)
    }

    fn remove(&self, inner: &mut Inner, id: &str) -> Result<(), RuntimeError> {
        if !inner.containers.contains_key(id) {
            return Err(not_found("remove_container", id, "container"));
        }
        self.finish(inner, id, SIGKILL_EXIT_CODE, false)?;
        self.emit(inner, id, EventKind::Destroy);
        inner.containers.remove(id);
        Ok(())
    }

    /// The spec a container was created with.
    pub fn spec(&self, id: &str) -> Option<ContainerSpec> {
        self.lock().containers.get(id).map(|c| c.spec.clone())
    }

    /// The id of the container called `name`.
    pub fn id_of(&self, name: &str) -> Option<String> {
        self.lock().containers.iter().find(|(_, c)| c.state.name == name).map(|(id, _)| id.clone())
    }

    /// The state-changing calls received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Ids of all containers, in creation order.
    pub fn container_ids(&self) -> Vec<String> {
        self.lock().containers.keys().cloned().collect()
    }
}

impl ContainerRuntime for FakeRuntime {
    async fn info(&self) -> Result<RuntimeInfo, RuntimeError> {
        let mut inner = self.lock();
        self.injected(&mut inner, Op::Info)?;
        Ok(inner.info.clone())
    }

    async fn pull_image(&self, image: &str, auth: Option<&RegistryCredentials>) -> Result<(), RuntimeError> {
        let delay = self.lock().pull_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        {
            let mut inner = self.lock();
            inner.calls.push(Call::Pull { image: image.to_string(), with_auth: auth.is_some() });
            self.injected(&mut inner, Op::Pull)?;
            if let Some(err) = inner.pull_errors.get(&normalize_reference(image)) {
                return Err(err.clone());
            }
        }
        self.add_image(image);
        Ok(())
    }

    async fn inspect_image(&self, image: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        let mut inner = self.lock();
        inner.calls.push(Call::InspectImage { image: image.to_string() });
        self.injected(&mut inner, Op::InspectImage)?;
        Ok(inner.images.get(&normalize_reference(image)).cloned())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let mut inner = self.lock();
        inner.calls.push(Call::Create { name: spec.name.clone() });
        self.injected(&mut inner, Op::Create)?;
        let target = if spec.name.is_empty() { spec.image.clone() } else { spec.name.clone() };
        let Some(image) = inner.images.get(&normalize_reference(&spec.image)).cloned() else {
            return Err(not_found("create_container", &target, "image"));
        };
        let id = format!("{:064x}", inner.next_id);
        let name = if spec.name.is_empty() { format!("fake_{}", inner.next_id) } else { spec.name.clone() };
        if inner.containers.values().any(|c| c.state.name == name) {
            return Err(RuntimeError::Conflict {
                call: "create_container",
                target,
                message: format!("the container name \"/{name}\" is already in use"),
            });
        }
        inner.next_id += 1;
        let log_path = inner.log_dir.as_ref().map(|dir| dir.join(format!("{id}-json.log")).display().to_string());
        let state = ContainerState {
            id: id.clone(),
            name,
            image: spec.image.clone(),
            image_id: image.id,
            labels: spec.labels.clone(),
            log_path,
            ..Default::default()
        };
        inner.containers.insert(id.clone(), FakeContainer { spec: spec.clone(), state, ignores_sigterm: false });
        self.emit(&inner, &id, EventKind::Create);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        inner.calls.push(Call::Start { id: id.to_string() });
        self.injected(&mut inner, Op::Start)?;
        let (now, mut next_port, pid) = (inner.now, inner.next_port, inner.next_pid);
        let c = inner.containers.get_mut(id).ok_or_else(|| not_found("start_container", id, "container"))?;
        if c.state.running {
            return Ok(());
        }
        let publish = matches!(c.spec.network_mode, NetworkMode::Bridge | NetworkMode::Custom(_))
            && !c.spec.network_mode.is_container();
        let mut ports = Vec::new();
        for p in c.spec.ports.iter().filter(|_| publish) {
            let host_port = if p.host_port == 0 {
                let port = next_port;
                next_port = if next_port == u16::MAX { FIRST_DYNAMIC_PORT } else { next_port + 1 };
                port
            } else {
                p.host_port
            };
            let host_ip = p.host_ip.clone().unwrap_or_else(|| "0.0.0.0".to_string());
            ports.push(PortBinding { container_port: p.container_port, protocol: p.protocol, host_ip, host_port });
        }
        let checked = c.spec.health_check.as_ref().is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"));
        let s = &mut c.state;
        s.status = ContainerStatus::Running;
        s.running = true;
        s.exit_code = None;
        s.oom_killed = false;
        s.started_at = Some(now);
        s.finished_at = None;
        s.pid = Some(pid);
        s.health = checked.then_some(HealthStatus::Starting);
        s.ports = ports;
        inner.next_port = next_port;
        inner.next_pid += 1;
        self.emit(&inner, id, EventKind::Start);
        Ok(())
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        inner.calls.push(Call::Stop { id: id.to_string(), timeout });
        self.injected(&mut inner, Op::Stop)?;
        let by_name = inner.containers.iter().find(|(_, c)| c.state.name == id).map(|(k, _)| k.clone());
        let id =
            if inner.containers.contains_key(id) { id.to_string() } else { by_name.unwrap_or_else(|| id.to_string()) };
        let id = id.as_str();
        let c = inner.containers.get(id).ok_or_else(|| not_found("stop_container", id, "container"))?;
        if !c.state.running {
            return Ok(());
        }
        let code = if c.ignores_sigterm { SIGKILL_EXIT_CODE } else { 0 };
        self.finish(&mut inner, id, code, false)?;
        self.emit(&inner, id, EventKind::Stop);
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        inner.calls.push(Call::Remove { id: id.to_string() });
        self.injected(&mut inner, Op::Remove)?;
        let by_name = inner.containers.iter().find(|(_, c)| c.state.name == id).map(|(k, _)| k.clone());
        let id =
            if inner.containers.contains_key(id) { id.to_string() } else { by_name.unwrap_or_else(|| id.to_string()) };
        self.remove(&mut inner, &id)
    }

    async fn container_stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        let inner = self.lock();
        let c = inner.containers.get(id).ok_or_else(|| not_found("container_stats", id, "container"))?;
        Ok(serde_json::json!({ "id": id, "name": c.spec.name, "memory_stats": { "usage": 0 } }))
    }

    async fn ensure_network(&self, spec: &super::NetworkSpec) -> Result<(), RuntimeError> {
        self.lock().calls.push(Call::EnsureNetwork { spec: spec.clone() });
        Ok(())
    }

    async fn import_image(&self, tag: &str, rootfs: Vec<u8>, changes: &[String]) -> Result<(), RuntimeError> {
        let _ = (rootfs, changes);
        self.lock().calls.push(Call::Import { tag: tag.to_string() });
        self.add_image(tag);
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        // The fake keeps no volumes: it records the call so tests can see that task volumes are cleaned up.
        self.lock().calls.push(Call::RemoveVolume { name: name.to_string() });
        Ok(())
    }

    async fn inspect_container(&self, id: &str) -> Result<Option<ContainerState>, RuntimeError> {
        let mut inner = self.lock();
        inner.calls.push(Call::Inspect { id: id.to_string() });
        self.injected(&mut inner, Op::Inspect)?;
        // Docker takes a name where it takes an id.
        let found = inner.containers.get(id).or_else(|| inner.containers.values().find(|c| c.state.name == id));
        Ok(found.map(|c| c.state.clone()))
    }

    async fn list_containers(&self, label: &str, value: Option<&str>) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let mut inner = self.lock();
        self.injected(&mut inner, Op::List)?;
        let matches = |labels: &BTreeMap<String, String>| match (labels.get(label), value) {
            (Some(v), Some(want)) => v == want,
            (Some(_), None) => true,
            (None, _) => false,
        };
        Ok(inner
            .containers
            .values()
            .filter(|c| matches(&c.state.labels))
            .map(|c| ContainerSummary {
                id: c.state.id.clone(),
                name: c.state.name.clone(),
                image: c.state.image.clone(),
                labels: c.state.labels.clone(),
                status: c.state.status.clone(),
                running: c.state.running,
            })
            .collect())
    }

    async fn attach_output(&self, container_id: &str) -> Result<ByteCounts, RuntimeError> {
        if !self.lock().containers.contains_key(container_id) {
            return Err(not_found("attach_output", container_id, "container"));
        }
        let id = container_id.to_string();
        let mut writes = self.writes.subscribe();
        Ok(async_stream::stream! {
            loop {
                match writes.recv().await {
                    Ok((written_by, bytes)) if written_by == id => yield Ok(bytes),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        .boxed())
    }

    async fn events(&self) -> Result<EventStream, RuntimeError> {
        let rx = self.events.subscribe();
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(event) => Some((Ok(event), rx)),
                Err(broadcast::error::RecvError::Lagged(missed)) => Some((
                    Err(RuntimeError::Engine {
                        call: "events",
                        target: "fake".to_string(),
                        status: None,
                        message: format!("subscriber lagged, {missed} events lost"),
                    }),
                    rx,
                )),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed())
    }
}

#[cfg(test)]
mod tests;
