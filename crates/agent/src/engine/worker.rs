//! The long operations on a task, run off the engine's loop: start (pull, create, start in dependency order) and
//! stop (SIGTERM, then SIGKILL after each container's stop timeout).

use super::state::ContainerTrack;
use crate::convert::container_spec;
use crate::runtime::{
    ContainerRuntime, ContainerState, ContainerStatus, HealthStatus, RegistryCredentials, RuntimeError,
};
use berth_model::Timestamp;
use berth_model::agent::{RegistryAuth, TaskSpec};
use berth_model::clock::Clock;
use berth_model::ecs::{ContainerCondition, NetworkBinding, TransportProtocol};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use super::task_secrets::SecretsSource;

/// When the agent pulls images (ECS's `ECS_IMAGE_PULL_BEHAVIOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullBehavior {
    /// Pull; if the pull fails, use the local image when there is one.
    #[default]
    Default,
    /// Pull; fail the task if the pull fails.
    Always,
    /// Pull only when the image is not local.
    Once,
    /// Use the local image when there is one, else pull.
    PreferCached,
}

impl std::str::FromStr for PullBehavior {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(Self::Default),
            "always" => Ok(Self::Always),
            "once" => Ok(Self::Once),
            "prefer-cached" => Ok(Self::PreferCached),
            other => Err(format!("unknown image pull behavior {other:?}: use default, always, once or prefer-cached")),
        }
    }
}

/// Pulls in flight, per image: tasks that start together share one pull instead of queueing a pull each at the
/// engine (a failing pull, when the registry is unreachable, is slow to fail under load).
#[derive(Debug, Default)]
pub struct Pulls {
    images: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<Option<PullResult>>>>>,
    /// A logical clock ordering pull requests and completions: "finished after this call began waiting" is a
    /// question of order, not of time.
    events: std::sync::atomic::AtomicU64,
}

/// When a pull finished (a tick of [`Pulls::events`]), and how.
type PullResult = (u64, Result<(), String>);

impl Pulls {
    /// Pulls `image`, or shares the result of a pull that finished after this call began waiting.
    pub async fn pull<R: ContainerRuntime>(
        &self,
        runtime: &R,
        image: &str,
        auth: Option<&RegistryCredentials>,
    ) -> Result<(), String> {
        let entry = {
            let mut images = self.images.lock().unwrap_or_else(|p| p.into_inner());
            // Pulls with other credentials do not share results: a wrong password must not fail a right one.
            let key = format!("{image}\u{0}{}", credentials_key(auth));
            images.entry(key).or_default().clone()
        };
        let requested = self.events.fetch_add(1, Ordering::SeqCst);
        let mut last = entry.lock().await;
        if let Some((finished, result)) = &*last
            && *finished > requested
        {
            return result.clone();
        }
        let result = runtime.pull_image(image, auth).await.map_err(|e| e.to_string());
        *last = Some((self.events.fetch_add(1, Ordering::SeqCst), result.clone()));
        result
    }
}

/// What a start worker needs.
pub struct StartJob<R> {
    /// The runtime.
    pub runtime: Arc<R>,
    /// The task.
    pub task: TaskSpec,
    /// Containers that already exist (adopted), by name.
    pub existing: BTreeMap<String, String>,
    /// This agent's container instance ARN (for labels).
    pub instance_arn: String,
    /// The pull behaviour.
    pub pull: PullBehavior,
    /// Credentials for Berth's registry.
    pub registry_auth: Option<RegistryAuth>,
    /// Pulls shared between workers.
    pub pulls: Arc<Pulls>,
    /// Set when the task should stop instead.
    pub cancel: Arc<AtomicBool>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The task metadata endpoint, whose URI each container gets, when the agent serves one.
    pub metadata: Option<crate::metadata::Endpoint>,
    /// The awslogs shippers, when the agent ships logs.
    pub logs: Option<Arc<crate::logs::Shippers<R>>>,
    /// Where the values of container `secrets` come from.
    pub secrets: Option<SecretsSource>,
    /// Where file-mode secrets are written, when the agent writes them.
    pub secret_files: Option<Arc<super::secret_files::SecretFiles>>,
    /// The task role credentials the agent serves, when it serves them.
    pub credentials: Option<Arc<crate::credentials::TaskCredentials>>,
    /// What this agent lets tasks reach on the host.
    pub host_access: berth_model::host_access::HostAccess,
    /// Where FARGATE tasks' task-level cgroups go (`None`: no task-level cgroup).
    pub task_cgroups: Option<crate::task_cgroup::Layout>,
    /// Whether FARGATE tasks' containers get the task's ephemeral storage as their size cap ([`crate::storage`]).
    pub storage_quota: bool,
    /// Checks each image's signature before its containers are created, when the agent requires signed images.
    pub image_trust: Option<Arc<crate::image_trust::ImageTrust>>,
    /// The agent's DNS forwarder, the resolver of bridge containers and awsvpc tasks that name no `dnsServers`.
    pub dns: Option<std::net::Ipv4Addr>,
    /// Called once the images are ready (the task is ACTIVATING), with the pull times.
    pub on_activating: Box<dyn FnOnce(Option<Timestamp>, Option<Timestamp>) + Send>,
    /// The assignment lease: nothing is created until it holds (`None`: no fence).
    pub lease: Option<Arc<crate::lease::AssignmentLease>>,
}

/// What a start worker found.
#[derive(Debug, Default)]
pub struct StartOutcome {
    /// Containers after the attempt.
    pub containers: BTreeMap<String, ContainerTrack>,
    /// When pulls began.
    pub pull_started_at: Option<Timestamp>,
    /// When pulls ended.
    pub pull_stopped_at: Option<Timestamp>,
    /// Set when the task failed to start: (stop code, reason).
    pub failure: Option<(String, String)>,
}

/// Observes a container's state into a track.
pub fn track_from_state(state: &ContainerState, previous: Option<&ContainerTrack>) -> ContainerTrack {
    let mut track = previous.cloned().unwrap_or_else(ContainerTrack::pending);
    track.id = Some(state.id.clone());
    track.status = if state.running {
        "RUNNING"
    } else if state.status == ContainerStatus::Created {
        "PENDING"
    } else {
        "STOPPED"
    };
    if !state.running && state.status != ContainerStatus::Created {
        track.exit_code = state.exit_code.and_then(|c| i32::try_from(c).ok());
        if state.oom_killed {
            track.reason = Some("OutOfMemoryError: Container killed due to memory usage".into());
        } else if let Some(error) = state.error.as_ref().filter(|e| !e.is_empty()) {
            track.reason = Some(error.clone());
        }
    }
    track.health = match state.health {
        Some(HealthStatus::Healthy) => "HEALTHY",
        Some(HealthStatus::Unhealthy) => "UNHEALTHY",
        _ => "UNKNOWN",
    };
    track.started_at = state.started_at.or(track.started_at);
    track.bindings = state
        .ports
        .iter()
        .map(|p| NetworkBinding {
            bind_ip: Some(p.host_ip.clone()),
            container_port: Some(i32::from(p.container_port)),
            host_port: Some(i32::from(p.host_port)),
            protocol: Some(match p.protocol {
                crate::runtime::Protocol::Udp => TransportProtocol::Udp,
                crate::runtime::Protocol::Tcp => TransportProtocol::Tcp,
            }),
            ..Default::default()
        })
        .collect();
    track
}

/// Tells pulls with different credentials apart without keeping the password in a map key.
fn credentials_key(auth: Option<&RegistryCredentials>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    auth.map(|a| (&a.username, &a.password, &a.server_address)).hash(&mut hasher);
    hasher.finish()
}

fn credentials_for(image: &str, auth: Option<&RegistryAuth>) -> Option<RegistryCredentials> {
    let auth = auth?;
    image.starts_with(&format!("{}/", auth.server_address)).then(|| RegistryCredentials {
        username: auth.username.clone(),
        password: auth.password.clone(),
        server_address: Some(auth.server_address.clone()),
    })
}

async fn ensure_image<R: ContainerRuntime>(
    runtime: &R,
    pulls: &Pulls,
    image: &str,
    behavior: PullBehavior,
    credentials: Option<&RegistryCredentials>,
) -> Result<Option<String>, String> {
    let local = runtime.inspect_image(image).await.map_err(|e| e.to_string())?;
    let pull = match behavior {
        PullBehavior::Once | PullBehavior::PreferCached => local.is_none(),
        PullBehavior::Default | PullBehavior::Always => true,
    };
    let mut pulled = false;
    if pull {
        match pulls.pull(runtime, image, credentials).await {
            Ok(()) => pulled = true,
            Err(error) if behavior == PullBehavior::Default && local.is_some() => {
                tracing::info!(%image, %error, "pull failed; using the cached image");
            }
            Err(error) => return Err(format!("CannotPullContainerError: {error}")),
        }
    }
    // Only a pull that succeeded can have changed the image: otherwise the first inspection stands.
    let info = if pulled { runtime.inspect_image(image).await.map_err(|e| e.to_string())? } else { local };
    let info = info.ok_or_else(|| format!("CannotPullContainerError: image {image} is not available locally"))?;
    let digest = info.repo_digests.first().and_then(|d| d.split_once('@')).map(|(_, d)| d.to_string());
    Ok(Some(digest.unwrap_or(info.id)))
}

async fn wait_for_dependencies<R: ContainerRuntime>(
    runtime: &R,
    task: &TaskSpec,
    name: &str,
    ids: &BTreeMap<String, String>,
    cancel: &AtomicBool,
    clock: &dyn Clock,
) -> Result<(), String> {
    let Some(container) = task.containers.iter().find(|c| c.definition.name.as_deref() == Some(name)) else {
        return Ok(());
    };
    let timeout =
        Duration::from_secs(container.definition.start_timeout.and_then(|t| u64::try_from(t).ok()).unwrap_or(180));
    let deadline = clock.monotonic() + timeout;
    for dep in container.definition.depends_on.iter().flatten() {
        let Some(id) = ids.get(&dep.container_name) else { continue };
        loop {
            if cancel.load(Ordering::SeqCst) {
                return Err("the task was stopped while starting".into());
            }
            let state = runtime.inspect_container(id).await.map_err(|e| e.to_string())?;
            let met = match (&dep.condition, &state) {
                (_, None) => return Err(format!("dependency {} disappeared", dep.container_name)),
                (ContainerCondition::Start, Some(s)) => s.running || s.status == ContainerStatus::Exited,
                (ContainerCondition::Complete, Some(s)) => s.status == ContainerStatus::Exited,
                (ContainerCondition::Success, Some(s)) => {
                    if s.status == ContainerStatus::Exited && s.exit_code != Some(0) {
                        return Err(format!("dependency {} exited with {:?}, not 0", dep.container_name, s.exit_code));
                    }
                    s.status == ContainerStatus::Exited
                }
                (ContainerCondition::Healthy, Some(s)) => s.health == Some(HealthStatus::Healthy),
            };
            if met {
                break;
            }
            if clock.monotonic() >= deadline {
                return Err(format!(
                    "container {name} timed out waiting for {} to reach {}",
                    dep.container_name, dep.condition
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// The order to create and start a task's containers in: definition order, except that a container comes after
/// the containers it depends on (`dependsOn`), links to (`links`: Docker links only to a running container) or
/// mounts the volumes of (`volumesFrom`: the source must exist when it is created). A cycle is an error.
pub(crate) fn start_order(task: &TaskSpec) -> Result<Vec<String>, String> {
    let deps = container_dependencies;
    let defs: Vec<_> = task.containers.iter().map(|c| &c.definition).collect();
    let mut order: Vec<String> = Vec::with_capacity(defs.len());
    while order.len() < defs.len() {
        let next = defs.iter().find(|c| {
            let name = c.name.clone().unwrap_or_default();
            !order.contains(&name)
                && deps(c).iter().all(|d| order.contains(d) || !defs.iter().any(|o| o.name.as_ref() == Some(d)))
        });
        match next {
            Some(c) => order.push(c.name.clone().unwrap_or_default()),
            None => {
                let left: Vec<_> = defs.iter().filter_map(|c| c.name.clone()).filter(|n| !order.contains(n)).collect();
                return Err(format!(
                    "DependencyError: containers {} depend on each other in a cycle (dependsOn, links, volumesFrom)",
                    left.join(", ")
                ));
            }
        }
    }
    Ok(order)
}

/// The containers `c` needs started before it: `dependsOn`, `links` and `volumesFrom`.
fn container_dependencies(c: &berth_model::ecs::ContainerDefinition) -> Vec<String> {
    let mut d: Vec<String> = c.depends_on.iter().flatten().map(|d| d.container_name.clone()).collect();
    d.extend(c.links.iter().flatten().map(|l| l.split(':').next().unwrap_or_default().to_string()));
    d.extend(c.volumes_from.iter().flatten().filter_map(|v| v.source_container.clone()));
    d
}

/// Splits the containers to stop into waves, in reverse dependency order as ECS stops them: a container is
/// stopped only after every container that depends on it (among those being stopped) has stopped, so that an
/// app can still drain through the sidecar it depends on. Without the task's definition (`None`: adopted before
/// the server spoke) there is one wave. A dependency cycle puts what is left in a last wave.
pub(crate) fn stop_waves<T: Clone>(to_stop: Vec<(String, T)>, task: Option<&TaskSpec>) -> Vec<Vec<(String, T)>> {
    let Some(task) = task else { return vec![to_stop] };
    let deps = |name: &str| {
        task.containers
            .iter()
            .find(|c| c.definition.name.as_deref() == Some(name))
            .map(|c| container_dependencies(&c.definition))
            .unwrap_or_default()
    };
    let mut left = to_stop;
    let mut waves = Vec::new();
    while !left.is_empty() {
        // Those that no remaining container depends on.
        let (wave, rest): (Vec<_>, Vec<_>) =
            left.iter().cloned().partition(|(name, _)| !left.iter().any(|(other, _)| deps(other).contains(name)));
        if wave.is_empty() {
            waves.push(left);
            break;
        }
        waves.push(wave);
        left = rest;
    }
    waves
}

/// Pulls, creates and starts a task's containers. Never panics; failures come back in the outcome.
pub async fn start_task<R: ContainerRuntime>(job: StartJob<R>) -> StartOutcome {
    let StartJob {
        runtime,
        task,
        existing,
        instance_arn,
        pull,
        registry_auth,
        pulls,
        cancel,
        clock,
        metadata,
        logs,
        secrets,
        secret_files,
        credentials,
        host_access,
        task_cgroups,
        storage_quota,
        image_trust,
        dns,
        on_activating,
        lease,
    } = job;
    let mut out = StartOutcome::default();
    let names = match start_order(&task) {
        Ok(names) => names,
        Err(reason) => {
            out.failure = Some(("TaskFailedToStart".to_string(), reason));
            return out;
        }
    };
    // Containers that existed before this attempt (adopted, or created by an attempt the agent did not see
    // finish) may already run; only those are inspected before their start.
    let mut adopted: std::collections::BTreeSet<String> = existing.keys().cloned().collect();
    let mut ids: BTreeMap<String, String> = existing;
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    let fail = |out: &mut StartOutcome, code: &str, reason: String| {
        out.failure = Some((code.to_string(), reason));
    };

    // 1. Images, each once.
    let to_create: Vec<_> = names
        .iter()
        .filter(|n| !ids.contains_key(*n))
        .filter_map(|n| task.containers.iter().find(|c| c.definition.name.as_ref() == Some(n)))
        .collect();
    let definitions: Vec<_> = to_create.iter().map(|c| &c.definition).collect();
    if !to_create.is_empty()
        && let Some(why) = crate::host_gate::refusal(&host_access, &task, &definitions)
    {
        fail(&mut out, "TaskFailedToStart", format!("CannotCreateContainerError: {why}"));
        return out;
    }
    // The task role's credentials first: a role that cannot be assumed fails the task before anything else.
    let role_env = if to_create.is_empty() || task.task_role_arn.as_deref().is_none_or(str::is_empty) {
        Vec::new()
    } else {
        let prepared = match &credentials {
            Some(c) => {
                let started = clock.monotonic();
                let prepared = c.prepare(&task).await;
                metrics::histogram!("berth_agent_task_credentials_duration_seconds")
                    .record(clock.monotonic().saturating_duration_since(started).as_secs_f64());
                prepared
            }
            None => Err("ResourceInitializationError: unable to get the task role's credentials: this agent serves \
                         no credentials endpoint"
                .to_string()),
        };
        match prepared {
            Ok(env) => env,
            Err(reason) => {
                fail(&mut out, "TaskFailedToStart", reason);
                return out;
            }
        }
    };
    // Secrets before images, as ECS's agent: a value that cannot be read fails the task before anything is pulled.
    let secret_env = if to_create.is_empty() {
        super::task_secrets::SecretEnv::default()
    } else {
        let started = clock.monotonic();
        let fetched = super::task_secrets::fetch(secrets.as_ref(), &task).await;
        if !super::task_secrets::names(&task).is_empty() || !super::task_secrets::registry_containers(&task).is_empty()
        {
            metrics::histogram!("berth_agent_task_secrets_duration_seconds")
                .record(clock.monotonic().saturating_duration_since(started).as_secs_f64());
        }
        match fetched {
            Ok(env) => env,
            Err(reason) => {
                fail(&mut out, "TaskFailedToStart", reason);
                return out;
            }
        }
    };
    // File-mode secrets: written before any container exists; an adopted task is tracked for new versions.
    let mut secret_binds = BTreeMap::new();
    if to_create.is_empty() {
        if let Some(files) = &secret_files {
            files.track(&task);
        }
    } else if super::secret_files::SecretFiles::wanted(&task) {
        let prepared = match &secret_files {
            Some(files) => files.prepare(&task, &secret_env),
            None => Err("ResourceInitializationError: unable to pull secrets or registry auth: this agent writes no \
                         file-mode secrets"
                .to_string()),
        };
        match prepared {
            Ok(binds) => secret_binds = binds,
            Err(reason) => {
                fail(&mut out, "TaskFailedToStart", reason);
                return out;
            }
        }
    }
    if !to_create.is_empty() {
        out.pull_started_at = Some(clock.now());
    }
    for c in &to_create {
        let image = c.definition.image.clone().unwrap_or_default();
        if digests.contains_key(&image) {
            continue;
        }
        let name = c.definition.name.clone().unwrap_or_default();
        let credentials = match secret_env.registry(&name) {
            // A container's repositoryCredentials win over the agent's credentials for Berth's registry.
            Some(own) => Some(own.clone()),
            None => credentials_for(&image, registry_auth.as_ref()),
        };
        let ready = match ensure_image(&*runtime, &pulls, &image, pull, credentials.as_ref()).await {
            Ok(digest) => match &image_trust {
                Some(trust) => {
                    let now = clock.now() as i64;
                    trust.check(&*runtime, &image, registry_auth.as_ref(), now).await.map(|()| digest)
                }
                None => Ok(digest),
            },
            Err(reason) => Err(reason),
        };
        match ready {
            Ok(digest) => {
                digests.insert(image, digest.unwrap_or_default());
            }
            Err(reason) => {
                out.pull_stopped_at = Some(clock.now());
                let name = c.definition.name.clone().unwrap_or_default();
                let mut track = ContainerTrack::pending();
                track.status = "STOPPED";
                track.reason = Some(reason.clone());
                out.containers.insert(name, track);
                fail(&mut out, "TaskFailedToStart", reason);
                return out;
            }
        }
    }
    if !to_create.is_empty() {
        out.pull_stopped_at = Some(clock.now());
    }
    // Nothing is created while the server may have replaced this task: the lease holds, or the start is cancelled.
    if let Some(lease) = &lease
        && !lease.wait(&task.task_arn, &cancel).await
    {
        return out;
    }
    tracing::debug!(target: "berth_timing", task = %task.task_arn, step = %"image_ready");
    on_activating(out.pull_started_at, out.pull_stopped_at);

    // 1b. An awsvpc task's namespace: the pause container at the task's address, which its containers join.
    if let Some(network) = &task.network {
        if let Err(error) = crate::awsvpc::ensure_pause(&*runtime, &task, network, &instance_arn, dns).await {
            fail(
                &mut out,
                "TaskFailedToStart",
                format!("ResourceInitializationError: failed to set up the task's network interface: {error}"),
            );
            return out;
        }
        // Its security groups hold before anything in it listens.
        if let Err(error) = crate::firewall::apply(&task.task_arn, network).await {
            fail(
                &mut out,
                "TaskFailedToStart",
                format!("ResourceInitializationError: failed to enforce the task's security groups: {error}"),
            );
            return out;
        }
        // Its containers reach the credentials endpoint from the task's address.
        if let (Some(c), Ok(address)) = (&credentials, network.address.parse())
            && let Err(reason) = c.route(&task.task_arn, address).await
        {
            fail(&mut out, "TaskFailedToStart", reason);
            return out;
        }
    }

    // 1c. A FARGATE task's cgroup, holding the task size for all its containers.
    let cgroup_parent = match &task_cgroups {
        Some(layout) if !to_create.is_empty() && crate::task_cgroup::wanted(&task) => {
            crate::task_cgroup::prepare(layout, &task)
        }
        _ => None,
    };

    // 1d. Where Docker enforces it, a FARGATE task's ephemeral storage caps each of its containers.
    let storage_size_gib = if storage_quota { crate::storage::container_size_gib(&task) } else { None };

    // 2. Create what does not exist yet.
    for c in &to_create {
        if cancel.load(Ordering::SeqCst) {
            return out;
        }
        let name = c.definition.name.clone().unwrap_or_default();
        let mut spec = container_spec(&task, c, &instance_arn);
        if let Some(dns) = dns
            && spec.network_mode == crate::runtime::NetworkMode::Bridge
            && spec.dns_servers.is_empty()
        {
            spec.dns_servers.push(dns.to_string());
        }
        spec.cgroup_parent = cgroup_parent.clone();
        spec.storage_size_gib = storage_size_gib;
        secret_env.inject(&name, &mut spec.env);
        spec.binds.extend(secret_binds.get(&name).cloned().unwrap_or_default());
        for (key, value) in &role_env {
            spec.env.retain(|(k, _)| k != key);
            spec.env.push((key.clone(), value.clone()));
        }
        if let Some(endpoint) = &metadata {
            // As ECS's agent does; the task's own `environment` wins where it sets the same names.
            for (key, value) in [
                ("ECS_CONTAINER_METADATA_URI_V4", endpoint.container_uri(&task.task_arn, &name)),
                (
                    "AWS_EXECUTION_ENV",
                    if task.launch_type.as_deref() == Some("FARGATE") { "AWS_ECS_FARGATE" } else { "AWS_ECS_EC2" }
                        .to_string(),
                ),
            ] {
                if !spec.env.iter().any(|(k, _)| k == key) {
                    spec.env.push((key.to_string(), value));
                }
            }
        }
        let id = match runtime.create_container(&spec).await {
            Ok(id) => id,
            Err(RuntimeError::Conflict { .. }) => match runtime.inspect_container(&spec.name).await {
                // A previous attempt created it before the agent stopped: use it.
                Ok(Some(state)) => {
                    adopted.insert(name.clone());
                    state.id
                }
                _ => {
                    fail(
                        &mut out,
                        "TaskFailedToStart",
                        format!("CannotCreateContainerError: name {} is taken", spec.name),
                    );
                    return out;
                }
            },
            Err(error) => {
                let mut track = ContainerTrack::pending();
                track.status = "STOPPED";
                track.reason = Some(format!("CannotCreateContainerError: {error}"));
                out.containers.insert(name, track);
                fail(&mut out, "TaskFailedToStart", format!("CannotCreateContainerError: {error}"));
                return out;
            }
        };
        ids.insert(name, id);
    }
    tracing::debug!(target: "berth_timing", task = %task.task_arn, step = %"created");

    // 3. Start in dependency order (a container waits for the conditions it depends on).
    for name in &names {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let Some(id) = ids.get(name).cloned() else { continue };
        if adopted.contains(name) {
            let state = runtime.inspect_container(&id).await.ok().flatten();
            if state.as_ref().is_some_and(|s| s.running || s.status == ContainerStatus::Exited) {
                continue; // adopted and already started
            }
        }
        if let Err(reason) = wait_for_dependencies(&*runtime, &task, name, &ids, &cancel, &*clock).await {
            fail(&mut out, "TaskFailedToStart", format!("DependencyError: {reason}"));
            break;
        }
        // An awslogs container's stream exists (and, in blocking mode, its output is attached) before it starts.
        let shipping = match (&logs, task.containers.iter().find(|c| c.definition.name.as_ref() == Some(name))) {
            (Some(shippers), Some(c)) => {
                let labels = container_spec(&task, c, &instance_arn).labels;
                shippers.prepare(&id, &labels).await
            }
            _ => Ok(None),
        };
        let started = match shipping {
            Ok(shipping) => runtime.start_container(&id).await.map(|()| shipping).map_err(|e| e.to_string()),
            Err(why) => Err(why),
        };
        match started {
            Ok(shipping) => {
                if let Some(shipping) = shipping {
                    shipping.started();
                }
                // A bridge container's address exists once it started: its calls to 169.254.170.2 go to this agent.
                if let Some(c) = credentials.as_ref().filter(|_| task.network.is_none() && !role_env.is_empty())
                    && let Err(reason) = route_container(&*runtime, c, &task.task_arn, &id).await
                {
                    fail(&mut out, "TaskFailedToStart", reason);
                    break;
                }
            }
            Err(error) => {
                let mut track = ContainerTrack::pending();
                track.id = Some(id.clone());
                track.status = "STOPPED";
                track.reason = Some(format!("CannotStartContainerError: {error}"));
                out.containers.insert(name.clone(), track);
                fail(&mut out, "TaskFailedToStart", format!("CannotStartContainerError: {error}"));
                break;
            }
        }
    }

    tracing::debug!(target: "berth_timing", task = %task.task_arn, step = %"started");
    // 4. Observe.
    for name in &names {
        let Some(id) = ids.get(name) else { continue };
        let previous = out.containers.get(name).cloned();
        if let Ok(Some(state)) = runtime.inspect_container(id).await {
            let mut track = track_from_state(&state, previous.as_ref());
            let image = task
                .containers
                .iter()
                .find(|c| c.definition.name.as_deref() == Some(name))
                .and_then(|c| c.definition.image.clone())
                .unwrap_or_default();
            track.image_digest = digests.get(&image).cloned().filter(|d| !d.is_empty());
            out.containers.insert(name.clone(), track);
        }
    }
    tracing::debug!(target: "berth_timing", task = %task.task_arn, step = %"observed");
    out
}

/// Lets a started container's addresses call for its task's credentials.
async fn route_container<R: ContainerRuntime>(
    runtime: &R,
    credentials: &crate::credentials::TaskCredentials,
    task_arn: &str,
    id: &str,
) -> Result<(), String> {
    let state = runtime.inspect_container(id).await.map_err(|e| e.to_string())?;
    for address in state.map(|s| s.addresses).unwrap_or_default() {
        credentials.route(task_arn, address).await?;
    }
    Ok(())
}

/// Stops the given containers wave by wave (see `stop_waves`); those of one wave concurrently, each with its
/// own timeout. Observes their final states. Then stops the task's pause container, when `pause_of` names the
/// task (an awsvpc task, or one adopted without its definition).
pub async fn stop_containers<R: ContainerRuntime>(
    runtime: Arc<R>,
    waves: Vec<Vec<(String, (String, Duration))>>,
    pause_of: Option<String>,
) -> BTreeMap<String, Option<ContainerState>> {
    let states = stop_waves_in_order(runtime.clone(), waves).await;
    if let Some(task_arn) = pause_of {
        crate::awsvpc::stop_pause(&*runtime, &task_arn).await;
        crate::firewall::remove(&task_arn).await;
    }
    states
}

async fn stop_waves_in_order<R: ContainerRuntime>(
    runtime: Arc<R>,
    waves: Vec<Vec<(String, (String, Duration))>>,
) -> BTreeMap<String, Option<ContainerState>> {
    let mut states = BTreeMap::new();
    for wave in waves {
        let stops = wave.into_iter().map(|(name, (id, timeout))| {
            let runtime = runtime.clone();
            async move {
                if let Err(error) = runtime.stop_container(&id, timeout).await
                    && !error.is_not_found()
                {
                    tracing::warn!(container = %id, %error, "stopping a container failed");
                }
                let state = runtime.inspect_container(&id).await.ok().flatten();
                (name, state)
            }
        });
        states.extend(futures::future::join_all(stops).await);
    }
    states
}

#[cfg(test)]
mod start_order_tests {
    use super::start_order;
    use berth_model::agent::{ContainerSpec, TaskSpec};
    use berth_model::ecs::{ContainerCondition, ContainerDefinition, ContainerDependency, VolumeFrom};

    fn task(defs: Vec<ContainerDefinition>) -> TaskSpec {
        TaskSpec {
            containers: defs
                .into_iter()
                .map(|definition| ContainerSpec { container_arn: String::new(), definition })
                .collect(),
            ..Default::default()
        }
    }

    fn named(name: &str) -> ContainerDefinition {
        ContainerDefinition { name: Some(name.into()), ..Default::default() }
    }

    #[test]
    fn dependencies_links_and_volumes_from_come_first() {
        let mut app = named("app");
        app.links = Some(vec!["db:database".into()]);
        let mut reader = named("reader");
        reader.volumes_from = Some(vec![VolumeFrom { source_container: Some("app".into()), read_only: None }]);
        let mut db = named("db");
        db.depends_on =
            Some(vec![ContainerDependency { container_name: "init".into(), condition: ContainerCondition::Complete }]);
        let order = start_order(&task(vec![reader, app, db, named("init")])).unwrap();
        assert_eq!(order, ["init", "db", "app", "reader"]);
    }

    #[test]
    fn stop_waves_reverse_the_dependencies() {
        let mut app = named("app");
        app.depends_on =
            Some(vec![ContainerDependency { container_name: "proxy".into(), condition: ContainerCondition::Start }]);
        let mut proxy = named("proxy");
        proxy.links = Some(vec!["db".into()]);
        let t = task(vec![app, proxy, named("db"), named("lone")]);
        let names = |ns: &[&str]| ns.iter().map(|n| (n.to_string(), ())).collect::<Vec<_>>();
        let waves = super::stop_waves(names(&["app", "proxy", "db", "lone"]), Some(&t));
        assert_eq!(waves, vec![names(&["app", "lone"]), names(&["proxy"]), names(&["db"])]);
        // Without the definition, or when only some are still running: what can go, goes at once.
        assert_eq!(super::stop_waves(names(&["db", "proxy"]), None), vec![names(&["db", "proxy"])]);
        assert_eq!(super::stop_waves(names(&["db", "lone"]), Some(&t)), vec![names(&["db", "lone"])]);
    }

    #[test]
    fn a_cycle_is_an_error() {
        let mut a = named("a");
        a.links = Some(vec!["b".into()]);
        let mut b = named("b");
        b.volumes_from = Some(vec![VolumeFrom { source_container: Some("a".into()), read_only: None }]);
        let err = start_order(&task(vec![a, b, named("c")])).unwrap_err();
        assert!(err.contains("a, b") && err.contains("cycle"), "{err}");
    }
}
