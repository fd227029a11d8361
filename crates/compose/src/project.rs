//! Loading a compose file: variables interpolated, the project named, every service read, dependencies checked.

use crate::error::{ComposeError, Result, unsupported};
use crate::service::{self, Service};
use crate::volumes::{self, NamedVolume};
use crate::yaml::{entries, mapping, scalar};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A compose file read for Berth.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project's name (`-p`, else `name:`, else the file's directory name), normalised as compose does.
    pub name: String,
    /// The compose file's directory.
    pub dir: PathBuf,
    /// The services in the file's order.
    pub services: Vec<Service>,
    /// Their indexes in creation order (dependencies first).
    pub order: Vec<usize>,
    /// The top-level named volumes.
    pub volumes: BTreeMap<String, NamedVolume>,
    /// The top-level secrets.
    pub secrets: BTreeMap<String, crate::secrets::Secret>,
    /// The top-level configs.
    pub configs: BTreeMap<String, crate::secrets::Secret>,
    /// The networks (security groups), the default one always among them.
    pub networks: BTreeMap<String, crate::networks::Network>,
    /// What Berth ignores or changes, one line each, naming the key.
    pub warnings: Vec<String>,
}

impl Project {
    /// The top-level secret or config a service's use names.
    pub fn definition(&self, used: &crate::secrets::SecretUse) -> Option<&crate::secrets::Secret> {
        match used.kind {
            crate::secrets::Kind::Secret => self.secrets.get(&used.source),
            crate::secrets::Kind::Config => self.configs.get(&used.source),
        }
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// Reads the compose file at `path`; `project` overrides the project's name; `env` is the local environment
/// (interpolation, after it the `.env` file beside the compose file; and `environment` entries without a value).
pub fn load(path: &Path, project: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Project> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ComposeError::Read { path: path.display().to_string(), source })?;
    let dir = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let dot_env = match std::fs::read_to_string(dir.join(".env")) {
        Ok(text) => crate::envfile::parse(&text).map_err(|e| ComposeError::invalid(".env", e))?,
        Err(_) => Vec::new(),
    };
    let lookup =
        |name: &str| env(name).or_else(|| dot_env.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.clone()));
    parse(&text, &path.display().to_string(), &dir, project, &lookup)
}

/// Reads compose YAML `text` (named `source` in errors) whose relative paths are against `dir`.
pub fn parse(
    text: &str,
    source: &str,
    dir: &Path,
    project: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project> {
    let mut value: Value = serde_yaml_ng::from_str(text)
        .map_err(|source_error| ComposeError::Yaml { path: source.to_string(), source: source_error })?;
    let mut unset = Vec::new();
    interpolate_all(&mut value, env, &mut unset)?;
    let mut warnings: Vec<String> =
        unset.iter().map(|name| format!("the variable {name} is not set; an empty string is used")).collect();
    let top = mapping(&value, "(top level)")?;
    let mut name = project.map(str::to_string);
    if name.is_none()
        && let Some(v) = top.get("name")
    {
        name = Some(scalar(v, "name")?);
    }
    let name = name.unwrap_or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let name = normalise_name(&name)?;
    let mut services_value = None;
    let mut volumes = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    let mut configs = BTreeMap::new();
    let mut networks_value = None;
    for (key, v) in entries(top) {
        match key.as_str() {
            "services" => services_value = Some(v),
            "name" => {}
            "version" => warnings.push("version is obsolete and ignored (as compose ignores it)".into()),
            "volumes" => {
                if !v.is_null() {
                    for (volume, spec) in entries(mapping(v, "volumes")?) {
                        let named = volumes::named(&name, &volume, spec, &mut warnings)?;
                        volumes.insert(volume, named);
                    }
                }
            }
            "secrets" | "configs" => {
                let kind = if key == "secrets" { crate::secrets::Kind::Secret } else { crate::secrets::Kind::Config };
                let table = if kind == crate::secrets::Kind::Secret { &mut secrets } else { &mut configs };
                for (secret, spec) in entries(mapping(v, &key)?) {
                    let parsed = crate::secrets::parse_secret(&secret, spec, dir, kind, &mut warnings)?;
                    table.insert(secret, parsed);
                }
            }
            "networks" => networks_value = Some(v),
            key if key.starts_with("x-") => {}
            other => warnings.push(unsupported(other, "")),
        }
    }
    let networks = crate::networks::parse_top(networks_value, &name, &mut warnings)?;
    let services_value = services_value.ok_or_else(|| ComposeError::invalid("services", "the file has no services"))?;
    let cx = service::Context { dir, env };
    let mut services = Vec::new();
    for (service_name, spec) in entries(mapping(services_value, "services")?) {
        if !valid_service_name(&service_name) {
            return Err(ComposeError::invalid(
                format!("services.{service_name}"),
                "a service name takes letters, digits, '-' and '_' (it names an ECS service)",
            ));
        }
        services.push(service::parse(&service_name, spec, &cx, &mut warnings)?);
    }
    if services.is_empty() {
        return Err(ComposeError::invalid("services", "the file has no services"));
    }
    for service in &services {
        for mount in &service.mounts {
            if let volumes::Source::Named(volume) = &mount.source
                && !volumes.contains_key(volume)
            {
                return Err(ComposeError::invalid(
                    format!("services.{}.volumes", service.name),
                    format!("the named volume {volume:?} is not declared under the top-level `volumes`"),
                ));
            }
        }
    }
    for service in &services {
        for secret in &service.secrets {
            let table = if secret.kind == crate::secrets::Kind::Secret { &secrets } else { &configs };
            if !table.contains_key(&secret.source) {
                let key = secret.kind.key();
                return Err(ComposeError::invalid(
                    format!("services.{}.{key}", service.name),
                    format!("{:?} is not declared under the top-level `{key}`", secret.source),
                ));
            }
        }
    }
    for service in &services {
        if let Some(unknown) = service.networks.iter().find(|n| !networks.contains_key(*n)) {
            return Err(ComposeError::invalid(
                format!("services.{}.networks", service.name),
                format!("{unknown:?} is not declared under the top-level `networks`"),
            ));
        }
        if service.network_mode != "awsvpc" && services.len() > 1 {
            warnings.push(format!(
                "services.{}.network_mode: with {} the service has no address of its own, so the project's other \
                 services cannot reach it by its name (Cloud Map gives bridge and host services SRV records only); \
                 they reach it through its published host ports",
                service.name, service.network_mode
            ));
        }
    }
    let order = crate::order::creation_order(&services)?;
    Ok(Project { name, dir: dir.to_path_buf(), services, order, volumes, secrets, configs, networks, warnings })
}

fn valid_service_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 200 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A project name as compose normalises it: lower case, only letters, digits, `-` and `_`, starting with a letter
/// or digit.
pub fn normalise_name(name: &str) -> Result<String> {
    let normalised: String =
        name.to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    let normalised = normalised.trim_start_matches(['-', '_']).to_string();
    if normalised.is_empty() {
        return Err(ComposeError::invalid("name", format!("{name:?} gives an empty project name; use -p NAME")));
    }
    Ok(normalised)
}

fn interpolate_all(value: &mut Value, env: &dyn Fn(&str) -> Option<String>, unset: &mut Vec<String>) -> Result<()> {
    match value {
        Value::String(text) => {
            *text = crate::interpolate::interpolate(text, &env, unset)
                .map_err(|e| ComposeError::invalid("(interpolation)", e))?;
        }
        Value::Sequence(items) => {
            for item in items {
                interpolate_all(item, env, unset)?;
            }
        }
        Value::Mapping(map) => {
            for (_, item) in map.iter_mut() {
                interpolate_all(item, env, unset)?;
            }
        }
        Value::Tagged(tagged) => interpolate_all(&mut tagged.value, env, unset)?,
        _ => {}
    }
    Ok(())
}
