//! One compose service read key by key: what ECS can honour goes into its container definition, what it cannot
//! is a warning naming the key.

use crate::container;
use crate::error::{ComposeError, Result, unsupported};
use crate::ports::{self, Port};
use crate::volumes::{self, Mount};
use crate::yaml::{boolean, entries, mapping, number, scalar, strings};
use serde_json::{Map, Value as Json, json};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a dependent service waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The dependency's tasks are RUNNING (`service_started`).
    Started,
    /// The dependency's tasks are HEALTHY (`service_healthy`).
    Healthy,
    /// A task of the dependency stopped with exit code 0 (`service_completed_successfully`).
    CompletedSuccessfully,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// What to wait for.
    pub condition: Condition,
}

/// A `build:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The build context directory (absolute).
    pub context: PathBuf,
    /// The Dockerfile's path relative to the context.
    pub dockerfile: String,
    /// Build arguments.
    pub args: BTreeMap<String, String>,
    /// The stage to build.
    pub target: Option<String>,
}

/// A compose service, translated as far as it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Its compose name.
    pub name: String,
    /// `image:` (the tag a build is given in compose; Berth pushes builds to its own repository instead).
    pub image: Option<String>,
    /// `build:`.
    pub build: Option<Build>,
    /// The container definition's members other than `name`, `image` and `logConfiguration`.
    pub container: Map<String, Json>,
    /// Published ports.
    pub ports: Vec<Port>,
    /// Mounts.
    pub mounts: Vec<Mount>,
    /// What it waits for.
    pub depends_on: Vec<Dependency>,
    /// `deploy.replicas` (1 by default).
    pub replicas: u32,
    /// `deploy.mode: global`: one task per container instance (ECS's DAEMON strategy).
    pub global: bool,
    /// The ECS network mode: `awsvpc` (Berth's default for compose: an address of its own, found by name), or the
    /// `network_mode` the file names (`bridge`, `host`, `none`).
    pub network_mode: String,
    /// The compose networks it joins (awsvpc only; the default network when the file names none).
    pub networks: Vec<String>,
    /// A `logging:` section (driver and options) that replaces Berth's default awslogs.
    pub logging: Option<(String, Vec<(String, String)>)>,
    /// The secrets and configs it reads as files.
    pub secrets: Vec<crate::secrets::SecretUse>,
}

/// What a service reads: its directory (relative paths), the environment lookups for `environment: [NAME]`.
pub struct Context<'a> {
    /// The compose file's directory.
    pub dir: &'a Path,
    /// A variable of the local environment (for `environment` entries without a value).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Reads `services.NAME`.
pub fn parse(name: &str, value: &Value, cx: &Context<'_>, warnings: &mut Vec<String>) -> Result<Service> {
    let base = format!("services.{name}");
    let map = mapping(value, &base)?;
    let mut service = Service {
        name: name.to_string(),
        image: None,
        build: None,
        container: Map::new(),
        ports: Vec::new(),
        mounts: Vec::new(),
        depends_on: Vec::new(),
        replicas: 1,
        global: false,
        network_mode: "awsvpc".into(),
        networks: Vec::new(),
        logging: None,
        secrets: Vec::new(),
    };
    let mut environment: Vec<(String, Option<String>)> = Vec::new();
    let mut env_files: Vec<(String, Option<String>)> = Vec::new();
    let mut tmpfs: Vec<String> = Vec::new();
    let mut linux = Map::new();
    let mut explicit_mode = false;
    for (key, v) in entries(map) {
        let k = format!("{base}.{key}");
        let c = &mut service.container;
        match key.as_str() {
            "image" => service.image = Some(scalar(v, &k)?),
            "build" => service.build = Some(build(v, &k, cx.dir, warnings)?),
            "ports" => {
                for (i, item) in seq(v, &k)?.iter().enumerate() {
                    service.ports.extend(ports::parse(item, &format!("{k}[{i}]"), warnings)?);
                }
            }
            "environment" => environment = crate::yaml::key_values(v, &k, '=')?,
            "env_file" => env_files = container::env_files(v, &k, cx.dir)?,
            "command" => {
                c.insert("command".into(), json!(container::words(v, &k)?));
            }
            "entrypoint" => {
                c.insert("entryPoint".into(), json!(container::words(v, &k)?));
            }
            "healthcheck" => {
                if let Some(check) = container::healthcheck(v, &k, warnings)? {
                    c.insert("healthCheck".into(), check);
                }
            }
            "depends_on" => service.depends_on = depends_on(v, &k, warnings)?,
            "deploy" => deploy(v, &k, &mut service, warnings)?,
            "volumes" => {
                for (i, item) in seq(v, &k)?.iter().enumerate() {
                    let item_key = format!("{k}[{i}]");
                    if let Some(mount) = volumes::parse(item, &item_key, cx.dir, &mut tmpfs, warnings)? {
                        if let volumes::Source::Bind(path) = &mount.source {
                            warnings.push(format!(
                                "{item_key}: the bind mount names {} on the host that runs the task, not this machine",
                                path.display()
                            ));
                        }
                        service.mounts.push(mount);
                    }
                }
            }
            "restart" => {
                let policy = scalar(v, &k)?;
                match policy.as_str() {
                    "no" => warnings.push(format!(
                        "{k}: \"no\" is not supported by Berth: an ECS service replaces tasks that stop"
                    )),
                    "always" | "unless-stopped" => {}
                    p if p == "on-failure" || p.starts_with("on-failure:") => {}
                    other => return Err(ComposeError::invalid(k, format!("unknown restart policy {other:?}"))),
                }
            }
            "network_mode" => {
                let mode = scalar(v, &k)?;
                explicit_mode = true;
                service.network_mode = match mode.as_str() {
                    "bridge" | "host" | "none" => mode,
                    other => {
                        return Err(ComposeError::invalid(
                            k,
                            format!(
                                "{other:?} is not supported by Berth (bridge, host and none are; without \
                                 network_mode a service has an address of its own on the project's networks)"
                            ),
                        ));
                    }
                };
            }
            "privileged" => {
                c.insert("privileged".into(), json!(boolean(v, &k)?));
            }
            "init" => {
                linux.insert("initProcessEnabled".into(), json!(boolean(v, &k)?));
            }
            "user" => {
                c.insert("user".into(), json!(scalar(v, &k)?));
            }
            "working_dir" => {
                c.insert("workingDirectory".into(), json!(scalar(v, &k)?));
            }
            "hostname" => {
                c.insert("hostname".into(), json!(scalar(v, &k)?));
            }
            "labels" => {
                let labels: Map<String, Json> = crate::yaml::key_values(v, &k, '=')?
                    .into_iter()
                    .map(|(name, value)| (name, json!(value.unwrap_or_default())))
                    .collect();
                c.insert("dockerLabels".into(), Json::Object(labels));
            }
            "stop_grace_period" => {
                let text = scalar(v, &k)?;
                let seconds = crate::duration::parse_seconds(&text).map_err(|e| ComposeError::invalid(&k, e))?;
                c.insert("stopTimeout".into(), json!(seconds));
            }
            "ulimits" => {
                c.insert("ulimits".into(), container::ulimits(v, &k)?);
            }
            "tmpfs" => tmpfs.extend(strings(v, &k)?),
            "read_only" => {
                c.insert("readonlyRootFilesystem".into(), json!(boolean(v, &k)?));
            }
            "extra_hosts" => {
                c.insert("extraHosts".into(), container::extra_hosts(v, &k)?);
            }
            "dns" => {
                c.insert("dnsServers".into(), json!(strings(v, &k)?));
            }
            "dns_search" => {
                c.insert("dnsSearchDomains".into(), json!(strings(v, &k)?));
            }
            "cap_add" | "cap_drop" => {
                let field = if key == "cap_add" { "add" } else { "drop" };
                let caps: Vec<String> = strings(v, &k)?
                    .into_iter()
                    .map(|cap| cap.trim_start_matches("CAP_").to_ascii_uppercase())
                    .collect();
                let entry = linux.entry("capabilities").or_insert_with(|| json!({}));
                if let Some(object) = entry.as_object_mut() {
                    object.insert(field.into(), json!(caps));
                }
            }
            "shm_size" => {
                let text = scalar(v, &k)?;
                let mib = crate::units::parse_mib(&text).map_err(|e| ComposeError::invalid(&k, e))?;
                linux.insert("sharedMemorySize".into(), json!(mib));
            }
            "sysctls" => {
                let controls: Vec<Json> = crate::yaml::key_values(v, &k, '=')?
                    .into_iter()
                    .map(|(namespace, value)| json!({"namespace": namespace, "value": value.unwrap_or_default()}))
                    .collect();
                c.insert("systemControls".into(), json!(controls));
            }
            "stdin_open" => {
                c.insert("interactive".into(), json!(boolean(v, &k)?));
            }
            "tty" => {
                c.insert("pseudoTerminal".into(), json!(boolean(v, &k)?));
            }
            "security_opt" => {
                c.insert("dockerSecurityOptions".into(), json!(strings(v, &k)?));
            }
            "mem_limit" | "memswap_limit" | "mem_reservation" | "cpus" | "cpu_shares" => {
                legacy_resource(&key, v, &k, &mut service.container, warnings)?
            }
            "logging" => service.logging = Some(container::logging(v, &k, warnings)?),
            "secrets" | "configs" => {
                let kind = if key == "secrets" { crate::secrets::Kind::Secret } else { crate::secrets::Kind::Config };
                for (i, item) in seq(v, &k)?.iter().enumerate() {
                    service.secrets.push(crate::secrets::parse_use(item, &format!("{k}[{i}]"), kind, warnings)?);
                }
            }
            "networks" => service.networks = crate::networks::parse_service(v, &k, warnings)?,
            "container_name" => warnings.push(unsupported(&k, "ECS names each task's containers itself")),
            _ => warnings.push(unsupported(&k, "")),
        }
    }
    if let (Some(image), Some(_)) = (&service.image, &service.build) {
        warnings.push(format!(
            "{base}.image: {image:?} is not the built image's name with Berth: the build is pushed to the \
             repository PROJECT-{name} in Berth's registry and run from there"
        ));
    }
    if service.image.is_none() && service.build.is_none() {
        return Err(ComposeError::invalid(&base, "a service needs `image` or `build`"));
    }
    let environment = container::merge_environment(env_files, environment, cx.env);
    if !environment.is_null() {
        service.container.insert("environment".into(), environment);
    }
    if !tmpfs.is_empty() {
        linux.insert("tmpfs".into(), container::tmpfs(&tmpfs, &format!("{base}.tmpfs"), warnings)?);
    }
    if !linux.is_empty() {
        service.container.insert("linuxParameters".into(), Json::Object(linux));
    }
    if explicit_mode && !service.networks.is_empty() {
        return Err(ComposeError::invalid(
            format!("{base}.networks"),
            "a service with network_mode cannot also join networks",
        ));
    }
    if service.network_mode == "awsvpc" {
        awsvpc_only(&mut service, &base, warnings);
    }
    if service.network_mode == "host" {
        for port in &mut service.ports {
            match port.host {
                Some(host) if host != port.container => {
                    return Err(ComposeError::invalid(
                        format!("{base}.ports"),
                        format!("{host}:{}: with network_mode host the ports must be the same", port.container),
                    ));
                }
                _ => port.host = Some(port.container),
            }
        }
    }
    Ok(service)
}

/// What an awsvpc service cannot keep, each dropped with a warning (ECS refuses them in that mode), and its
/// unpublished ports noted.
fn awsvpc_only(service: &mut Service, base: &str, warnings: &mut Vec<String>) {
    if service.networks.is_empty() {
        service.networks.push(crate::networks::DEFAULT.to_string());
    }
    for (member, key) in [("hostname", "hostname"), ("extraHosts", "extra_hosts")] {
        if service.container.remove(member).is_some() {
            warnings.push(unsupported(
                &format!("{base}.{key}"),
                "the service has an address of its own (ECS's awsvpc mode), whose name is the service's; set \
                 network_mode: bridge to keep it",
            ));
        }
    }
    for port in service.ports.iter().filter(|p| p.host.is_none()) {
        warnings.push(format!(
            "{base}.ports: {}/{} gets no host port (Berth picks none): it is open to every source at the task's own \
             address (a load balancer's `ip` targets, other hosts), and the project's services reach it as {}:{}",
            port.container, port.protocol, service.name, port.container
        ));
    }
}

fn seq<'a>(value: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    value.as_sequence().ok_or_else(|| ComposeError::invalid(key, "expected a list"))
}

fn build(value: &Value, key: &str, dir: &Path, warnings: &mut Vec<String>) -> Result<Build> {
    let mut build =
        Build { context: dir.to_path_buf(), dockerfile: "Dockerfile".into(), args: BTreeMap::new(), target: None };
    match value {
        Value::Mapping(map) => {
            for (name, v) in entries(map) {
                let k = format!("{key}.{name}");
                match name.as_str() {
                    "context" => build.context = crate::volumes::absolute(dir, &scalar(v, &k)?),
                    "dockerfile" => build.dockerfile = scalar(v, &k)?,
                    "args" => {
                        for (arg, value) in crate::yaml::key_values(v, &k, '=')? {
                            build.args.insert(arg, value.unwrap_or_default());
                        }
                    }
                    "target" => build.target = Some(scalar(v, &k)?),
                    _ => warnings.push(unsupported(&k, "")),
                }
            }
        }
        other => build.context = crate::volumes::absolute(dir, &scalar(other, key)?),
    }
    Ok(build)
}

fn depends_on(value: &Value, key: &str, warnings: &mut Vec<String>) -> Result<Vec<Dependency>> {
    match value {
        Value::Sequence(_) => Ok(crate::yaml::list(value, key)?
            .into_iter()
            .map(|service| Dependency { service, condition: Condition::Started })
            .collect()),
        Value::Mapping(map) => {
            let mut out = Vec::new();
            for (service, v) in entries(map) {
                let k = format!("{key}.{service}");
                let mut condition = Condition::Started;
                for (name, item) in entries(mapping(v, &k)?) {
                    let item_key = format!("{k}.{name}");
                    match name.as_str() {
                        "condition" => {
                            condition = match scalar(item, &item_key)?.as_str() {
                                "service_started" => Condition::Started,
                                "service_healthy" => Condition::Healthy,
                                "service_completed_successfully" => Condition::CompletedSuccessfully,
                                other => {
                                    return Err(ComposeError::invalid(
                                        item_key,
                                        format!("unknown condition {other:?}"),
                                    ));
                                }
                            }
                        }
                        "required" => {
                            if !boolean(item, &item_key)? {
                                warnings.push(unsupported(&item_key, "Berth always waits for the dependency"));
                            }
                        }
                        _ => warnings.push(unsupported(&item_key, "")),
                    }
                }
                out.push(Dependency { service, condition });
            }
            Ok(out)
        }
        _ => Err(ComposeError::invalid(key, "expected a list or a mapping")),
    }
}

fn deploy(value: &Value, key: &str, service: &mut Service, warnings: &mut Vec<String>) -> Result<()> {
    for (name, v) in entries(mapping(value, key)?) {
        let k = format!("{key}.{name}");
        match name.as_str() {
            "replicas" => service.replicas = number(v, &k, 10_000)? as u32,
            "mode" => match scalar(v, &k)?.as_str() {
                "replicated" => {}
                "global" => service.global = true,
                other => return Err(ComposeError::invalid(k, format!("unknown mode {other:?}"))),
            },
            "resources" => {
                for (section, limits) in entries(mapping(v, &k)?) {
                    let section_key = format!("{k}.{section}");
                    match section.as_str() {
                        "limits" | "reservations" => {
                            container::resources(&section, limits, &section_key, &mut service.container, warnings)?
                        }
                        _ => warnings.push(unsupported(&section_key, "")),
                    }
                }
            }
            _ => warnings.push(unsupported(&k, "")),
        }
    }
    Ok(())
}

fn legacy_resource(
    name: &str,
    value: &Value,
    key: &str,
    container: &mut Map<String, Json>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let text = scalar(value, key)?;
    let bad = |e: String| ComposeError::invalid(key, e);
    match name {
        "mem_limit" => {
            container.insert("memory".into(), json!(crate::units::parse_mib(&text).map_err(bad)?));
        }
        "mem_reservation" => {
            container.insert("memoryReservation".into(), json!(crate::units::parse_mib(&text).map_err(bad)?));
        }
        "cpus" => {
            container.insert("cpu".into(), json!(crate::units::parse_cpu_units(&text).map_err(bad)?));
        }
        "cpu_shares" => {
            container.insert("cpu".into(), json!(number(value, key, 262_144)?));
        }
        _ => warnings.push(unsupported(key, "")),
    }
    Ok(())
}
