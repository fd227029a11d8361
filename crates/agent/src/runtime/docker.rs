//! [`DockerRuntime`]: [`ContainerRuntime`] on the local Docker Engine through bollard.
//!
//! Connection: `$DOCKER_HOST` (`unix://`, `tcp://` or `http://`), else `unix:///var/run/docker.sock`. bollard
//! speaks API 1.49 by default and an older engine refuses newer versions outright ("client version 1.49 is too
//! new"), so [`DockerRuntime::connect`] asks the engine's `/version` and lowers the client's version to the
//! engine's when older (Docker 20.10 is 1.41). Every request then goes to `/v1.41/...`.
//!
//! bollard's request timeout (120 s) bounds the wait for response headers, which for `stop` arrive only once the
//! container has stopped, so `stop_container` uses a client whose timeout exceeds the stop timeout.

use std::error::Error as _;
use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, CreateImageOptions, EventsOptions, InspectContainerOptions,
    InspectNetworkOptions, ListContainersOptions, RemoveContainerOptions, RemoveVolumeOptions, StartContainerOptions,
    StatsOptions, StopContainerOptions,
};
use futures::{StreamExt, TryStreamExt};

use super::mapping;
use super::{
    ByteCounts, ContainerRuntime, ContainerSpec, ContainerState, ContainerSummary, EventStream, ExecOutput,
    ExecProcess, ImageInfo, RegistryCredentials, RuntimeError, RuntimeInfo,
};

/// How much longer than the stop timeout a `stop` request may take before the call gives up.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// The real container runtime: a Docker Engine.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
}

impl DockerRuntime {
    /// Connects to the engine at `$DOCKER_HOST` (default: the local unix socket) and negotiates the API version.
    pub async fn connect() -> Result<Self, RuntimeError> {
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let docker = match &host {
            Some(_) => Docker::connect_with_defaults(),
            None => Docker::connect_with_socket_defaults(),
        }
        .map_err(|e| map_error("connect", host.as_deref().unwrap_or("unix:///var/run/docker.sock"), e))?;
        Self::negotiate(docker).await
    }

    /// Wraps an already configured client, negotiating its API version with the engine.
    pub async fn negotiate(docker: Docker) -> Result<Self, RuntimeError> {
        let docker = docker.negotiate_version().await.map_err(|e| map_error("negotiate_version", "engine", e))?;
        Ok(DockerRuntime { docker })
    }

    /// The API version in use, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// The underlying client, for calls the trait does not cover yet (logs, stats).
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

/// Maps a bollard error to a [`RuntimeError`] naming the call and its target.
pub(super) fn map_error(call: &'static str, target: &str, err: BollardError) -> RuntimeError {
    let target = target.to_string();
    match err {
        BollardError::DockerResponseServerError { status_code, message } => match status_code {
            404 => RuntimeError::NotFound { call, target, message },
            409 => RuntimeError::Conflict { call, target, message },
            400 => RuntimeError::Invalid { call, target, message },
            status => RuntimeError::Engine { call, target, status: Some(status), message },
        },
        BollardError::DockerStreamError { error } => {
            let lower = error.to_ascii_lowercase();
            if ["not found", "manifest unknown", "does not exist"].iter().any(|p| lower.contains(p)) {
                RuntimeError::NotFound { call, target, message: error }
            } else {
                RuntimeError::Engine { call, target, status: None, message: error }
            }
        }
        e @ (BollardError::RequestTimeoutError
        | BollardError::HyperLegacyError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::IOError { .. }
        | BollardError::SocketNotFoundError(_)) => RuntimeError::Unavailable { call, target, message: with_causes(&e) },
        e => RuntimeError::Engine { call, target, status: None, message: with_causes(&e) },
    }
}

/// The error's message followed by its causes (hyper's own message alone says little).
fn with_causes(err: &BollardError) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// `Ok(None)` for a 404, the value otherwise.
fn none_if_not_found<T>(result: Result<T, RuntimeError>) -> Result<Option<T>, RuntimeError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

impl ContainerRuntime for DockerRuntime {
    async fn info(&self) -> Result<RuntimeInfo, RuntimeError> {
        let info = self.docker.info().await.map_err(|e| map_error("info", "engine", e))?;
        Ok(RuntimeInfo {
            cpus: info.ncpu.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            memory_bytes: info.mem_total.and_then(|m| u64::try_from(m).ok()).unwrap_or(0),
            engine_version: info.server_version.unwrap_or_default(),
            api_version: self.api_version(),
            hostname: info.name.unwrap_or_default(),
            os: info.os_type.unwrap_or_default(),
            arch: info.architecture.unwrap_or_default(),
            backing_filesystem: info
                .driver_status
                .iter()
                .flatten()
                .find(|pair| pair.first().map(String::as_str) == Some("Backing Filesystem"))
                .and_then(|pair| pair.get(1).cloned()),
            docker_root_dir: info.docker_root_dir.unwrap_or_default(),
            storage_driver: info.driver.unwrap_or_default(),
            cgroup_version: info.cgroup_version.map(|v| v.to_string()).filter(|v| !v.is_empty()),
            cgroup_driver: info.cgroup_driver.map(|v| v.to_string()).filter(|v| !v.is_empty()),
        })
    }

    async fn pull_image(&self, image: &str, auth: Option<&RegistryCredentials>) -> Result<(), RuntimeError> {
        let (from_image, tag) = mapping::split_image_reference(image);
        let options = CreateImageOptions { from_image: Some(from_image), tag: Some(tag), ..Default::default() };
        let credentials = auth.map(|a| DockerCredentials {
            username: Some(a.username.clone()),
            password: Some(a.password.clone()),
            serveraddress: a.server_address.clone(),
            ..Default::default()
        });
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        while let Some(step) = progress.next().await {
            step.map_err(|e| map_error("pull_image", image, e))?;
        }
        Ok(())
    }

    async fn inspect_image(&self, image: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        let found = self.docker.inspect_image(image).await.map_err(|e| map_error("inspect_image", image, e));
        Ok(none_if_not_found(found)?.map(|i| ImageInfo {
            id: i.id.unwrap_or_default(),
            repo_tags: i.repo_tags.unwrap_or_default(),
            repo_digests: i.repo_digests.unwrap_or_default(),
        }))
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let target = if spec.name.is_empty() { spec.image.as_str() } else { spec.name.as_str() };
        let options =
            CreateContainerOptions { name: (!spec.name.is_empty()).then(|| spec.name.clone()), ..Default::default() };
        let created = self
            .docker
            .create_container(Some(options), mapping::create_body(spec))
            .await
            .map_err(|e| map_error("create_container", target, e))?;
        for warning in created.warnings.iter().filter(|w| !w.is_empty()) {
            tracing::warn!(container = %target, %warning, "docker warned on create");
        }
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| map_error("start_container", id, e))
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let options = StopContainerOptions { t: Some(i32::try_from(secs).unwrap_or(i32::MAX)), signal: None };
        let client = self.docker.clone().with_timeout(timeout + STOP_GRACE);
        client.stop_container(id, Some(options)).await.map_err(|e| map_error("stop_container", id, e))
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptions { force: true, v: true, link: false };
        self.docker.remove_container(id, Some(options)).await.map_err(|e| map_error("remove_container", id, e))
    }

    async fn ensure_network(&self, spec: &super::NetworkSpec) -> Result<(), RuntimeError> {
        let same = |network: bollard::models::Network| {
            let subnets: Vec<String> =
                network.ipam.and_then(|i| i.config).unwrap_or_default().into_iter().filter_map(|c| c.subnet).collect();
            if subnets.contains(&spec.subnet) {
                Ok(())
            } else {
                Err(RuntimeError::Conflict {
                    call: "ensure_network",
                    target: spec.name.clone(),
                    message: format!("the network exists with subnets {subnets:?}, not {}", spec.subnet),
                })
            }
        };
        match self.docker.inspect_network(&spec.name, None::<InspectNetworkOptions>).await {
            Ok(network) => return same(network),
            Err(e) => {
                let e = map_error("ensure_network", &spec.name, e);
                if !e.is_not_found() {
                    return Err(e);
                }
            }
        }
        let request = bollard::models::NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".into()),
            ipam: Some(bollard::models::Ipam {
                driver: Some("default".into()),
                config: Some(vec![bollard::models::IpamConfig {
                    subnet: Some(spec.subnet.clone()),
                    gateway: Some(spec.gateway.clone()),
                    ..Default::default()
                }]),
                options: None,
            }),
            options: Some([("com.docker.network.bridge.name".to_string(), spec.bridge.clone())].into_iter().collect()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            Err(e) => {
                // Another worker may have created it in between: then it is there.
                let error = map_error("ensure_network", &spec.name, e);
                match self.docker.inspect_network(&spec.name, None::<InspectNetworkOptions>).await {
                    Ok(network) => same(network),
                    Err(_) => Err(error),
                }
            }
        }
    }

    async fn import_image(&self, tag: &str, rootfs: Vec<u8>, changes: &[String]) -> Result<(), RuntimeError> {
        let (repo, version) = mapping::split_image_reference(tag);
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo),
            tag: Some(version),
            changes: changes.to_vec(),
            ..Default::default()
        };
        let body = bollard::body_full(bytes::Bytes::from(rootfs));
        let mut progress = self.docker.create_image(Some(options), Some(body), None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| map_error("import_image", tag, e))?;
        }
        Ok(())
    }

    async fn bridge_gateway(&self) -> Option<std::net::IpAddr> {
        let network = self.docker.inspect_network("bridge", None::<InspectNetworkOptions>).await.ok()?;
        let configs = network.ipam?.config?;
        configs.iter().find_map(|c| {
            let gateway = c.gateway.as_deref().and_then(|g| g.parse::<std::net::Ipv4Addr>().ok());
            // Engines that record no gateway give the bridge the subnet's first address, as Docker does.
            gateway.or_else(|| mapping::first_host_address(c.subnet.as_deref()?)).map(std::net::IpAddr::V4)
        })
    }

    async fn container_size(&self, id: &str) -> Result<Option<u64>, RuntimeError> {
        let options = InspectContainerOptions { size: true };
        let found =
            self.docker.inspect_container(id, Some(options)).await.map_err(|e| map_error("container_size", id, e));
        Ok(none_if_not_found(found)?.and_then(|c| c.size_rw).and_then(|bytes| u64::try_from(bytes).ok()))
    }

    async fn container_stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        // Not one-shot: the engine samples twice, so `precpu_stats` is filled and CPU use can be computed.
        let options = StatsOptions { stream: false, one_shot: false };
        let mut stream = self.docker.stats(id, Some(options));
        let sample = stream.next().await.ok_or_else(|| RuntimeError::NotFound {
            call: "container_stats",
            target: id.to_string(),
            message: "the engine sent no stats".into(),
        })?;
        let sample = sample.map_err(|e| map_error("container_stats", id, e))?;
        serde_json::to_value(sample).map_err(|e| RuntimeError::Invalid {
            call: "container_stats",
            target: id.to_string(),
            message: e.to_string(),
        })
    }

    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        let options = RemoveVolumeOptions { force: false };
        self.docker.remove_volume(name, Some(options)).await.map_err(|e| map_error("remove_volume", name, e))
    }

    async fn inspect_container(&self, id: &str) -> Result<Option<ContainerState>, RuntimeError> {
        let found = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| map_error("inspect_container", id, e));
        Ok(none_if_not_found(found)?.map(mapping::container_state))
    }

    async fn list_containers(&self, label: &str, value: Option<&str>) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let filter = match value {
            Some(v) => format!("{label}={v}"),
            None => label.to_string(),
        };
        let options = ListContainersOptions {
            all: true,
            filters: Some([("label".to_string(), vec![filter.clone()])].into_iter().collect()),
            ..Default::default()
        };
        let listed =
            self.docker.list_containers(Some(options)).await.map_err(|e| map_error("list_containers", &filter, e))?;
        Ok(listed.into_iter().map(mapping::summary).collect())
    }

    async fn exec(
        &self,
        container_id: &str,
        command: &[String],
        tty: bool,
        size: Option<(u16, u16)>,
    ) -> Result<ExecProcess, RuntimeError> {
        use bollard::container::LogOutput;
        use bollard::exec::{StartExecOptions, StartExecResults};
        // Engines before API 1.42 ignore ConsoleSize; the agent resizes right after the start as well.
        let options = bollard::models::ExecConfig {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(tty),
            console_size: size.filter(|_| tty).map(|(rows, cols)| vec![usize::from(rows), usize::from(cols)]),
            cmd: Some(command.to_vec()),
            ..Default::default()
        };
        let created =
            self.docker.create_exec(container_id, options).await.map_err(|e| map_error("exec", container_id, e))?;
        let started = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions { detach: false, tty, output_capacity: None }))
            .await
            .map_err(|e| map_error("exec", container_id, e))?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(RuntimeError::Invalid {
                call: "exec",
                target: container_id.to_string(),
                message: "the engine started the exec detached".into(),
            });
        };
        let target = container_id.to_string();
        let output = output
            .filter_map(move |item| {
                let out = match item {
                    Ok(LogOutput::StdErr { message }) => Some(Ok(ExecOutput::Stderr(message.to_vec()))),
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        Some(Ok(ExecOutput::Stdout(message.to_vec())))
                    }
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(e) => Some(Err(map_error("exec", &target, e))),
                };
                futures::future::ready(out)
            })
            .boxed();
        Ok(ExecProcess { id: created.id, output, input })
    }

    async fn attach_output(&self, container_id: &str) -> Result<ByteCounts, RuntimeError> {
        use bollard::container::LogOutput;
        let options = AttachContainerOptions {
            stream: true,
            stdout: true,
            stderr: true,
            logs: false,
            stdin: false,
            detach_keys: None,
        };
        let attached = self
            .docker
            .attach_container(container_id, Some(options))
            .await
            .map_err(|e| map_error("attach_output", container_id, e))?;
        let target = container_id.to_string();
        let counts = attached
            .output
            .map(move |item| match item {
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::StdErr { message }
                    | LogOutput::Console { message }
                    | LogOutput::StdIn { message },
                ) => Ok(message.len()),
                Err(e) => Err(map_error("attach_output", &target, e)),
            })
            .boxed();
        Ok(counts)
    }

    async fn exec_resize(&self, exec_id: &str, rows: u16, cols: u16) -> Result<(), RuntimeError> {
        let options = bollard::exec::ResizeExecOptions { height: rows, width: cols };
        self.docker.resize_exec(exec_id, options).await.map_err(|e| map_error("exec_resize", exec_id, e))
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>, RuntimeError> {
        let inspected = self.docker.inspect_exec(exec_id).await.map_err(|e| map_error("exec_exit_code", exec_id, e))?;
        Ok(if inspected.running == Some(true) { None } else { inspected.exit_code })
    }

    async fn events(&self) -> Result<EventStream, RuntimeError> {
        // bollard sends the request only when the stream is first polled, so "from now on" is pinned with
        // `since`, in the engine's own clock (its buffer replays what happened in between).
        let info = self.docker.info().await.map_err(|e| map_error("events", "engine", e))?;
        let since = info.system_time.as_deref().and_then(mapping::parse_timestamp).map(|t| format!("{}", t.floor()));
        let filters = [
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), mapping::EVENT_ACTIONS.iter().map(|a| a.to_string()).collect()),
        ];
        let options = EventsOptions { filters: Some(filters.into_iter().collect()), since, until: None };
        Ok(self
            .docker
            .events(Some(options))
            .map_err(|e| map_error("events", "engine", e))
            .try_filter_map(|msg| futures::future::ready(Ok(mapping::event(msg))))
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16) -> BollardError {
        BollardError::DockerResponseServerError { status_code, message: format!("status {status_code}") }
    }

    #[test]
    fn maps_engine_statuses_to_error_kinds() {
        assert!(map_error("inspect_container", "x", server(404)).is_not_found());
        assert!(map_error("create_container", "x", server(409)).is_conflict());
        assert!(matches!(map_error("create_container", "x", server(400)), RuntimeError::Invalid { .. }));
        let err = map_error("start_container", "web", server(500));
        assert_eq!(err.to_string(), "start_container web: engine error (status 500): status 500");
        assert!(matches!(
            map_error("info", "engine", BollardError::RequestTimeoutError),
            RuntimeError::Unavailable { .. }
        ));
    }

    #[test]
    fn maps_pull_stream_errors() {
        let missing = BollardError::DockerStreamError { error: "manifest for x:1 not found: manifest unknown".into() };
        assert!(map_error("pull_image", "x:1", missing).is_not_found());
        let denied = BollardError::DockerStreamError { error: "toomanyrequests: rate limit".into() };
        let err = map_error("pull_image", "x:1", denied);
        assert!(matches!(err, RuntimeError::Engine { status: None, .. }), "{err:?}");
        assert!(err.to_string().starts_with("pull_image x:1: engine error: toomanyrequests"));
    }

    #[test]
    fn gone_is_none_for_inspections() {
        let gone = map_error("inspect_container", "x", server(404));
        assert_eq!(none_if_not_found::<()>(Err(gone)), Ok(None));
        assert!(none_if_not_found::<()>(Err(map_error("inspect_container", "x", server(500)))).is_err());
    }
}
