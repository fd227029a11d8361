//! A service's `volumes:` (short `source:target[:ro]` and long forms) and the top-level named volumes.

use crate::error::{ComposeError, Result, unsupported};
use crate::yaml::{boolean, entries, scalar};
use serde_yaml_ng::Value;
use std::path::{Path, PathBuf};

/// What a mount's source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A named volume of the project (`data:/var/lib/data`).
    Named(String),
    /// A path on the host (`./data:/data`, made absolute against the compose file's directory).
    Bind(PathBuf),
    /// An anonymous volume (`/data` alone): a volume of the task's own.
    Anonymous,
}

/// One mount of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it comes from.
    pub source: Source,
    /// The path in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Reads one `volumes:` item of a service; `dir` is the compose file's directory. A long-form `type: tmpfs` mount
/// is no volume: its path goes to `tmpfs` and the answer is `Ok(None)`.
pub fn parse(
    value: &Value,
    key: &str,
    dir: &Path,
    tmpfs: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Option<Mount>> {
    match value {
        Value::Mapping(map) => {
            let mut kind = None;
            let mut source = None;
            let mut target = None;
            let mut read_only = false;
            for (name, item) in entries(map) {
                let item_key = format!("{key}.{name}");
                match name.as_str() {
                    "type" => kind = Some(scalar(item, &item_key)?),
                    "source" => source = Some(scalar(item, &item_key)?),
                    "target" => target = Some(scalar(item, &item_key)?),
                    "read_only" => read_only = boolean(item, &item_key)?,
                    _ => warnings.push(unsupported(&item_key, "")),
                }
            }
            let target = target.ok_or_else(|| ComposeError::invalid(key, "a long-form volume needs `target`"))?;
            let source = match (kind.as_deref(), source) {
                (Some("tmpfs"), _) => {
                    tmpfs.push(target);
                    return Ok(None);
                }
                (Some("volume") | None, None) => Source::Anonymous,
                (Some("volume") | None, Some(name)) => Source::Named(name),
                (Some("bind"), Some(path)) => Source::Bind(absolute(dir, &path)),
                (Some("bind"), None) => return Err(ComposeError::invalid(key, "a bind mount needs `source`")),
                (Some(other), _) => {
                    return Err(ComposeError::invalid(
                        format!("{key}.type"),
                        format!("{other:?} is not supported by Berth (volume, bind and tmpfs are)"),
                    ));
                }
            };
            Ok(Some(Mount { source, target, read_only }))
        }
        other => short(&scalar(other, key)?, key, dir).map(Some),
    }
}

fn short(text: &str, key: &str, dir: &Path) -> Result<Mount> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => return Err(ComposeError::invalid(key, format!("{text:?} is not source:target[:mode]"))),
    };
    if !target.starts_with('/') {
        return Err(ComposeError::invalid(key, format!("{text:?}: the container path must be absolute")));
    }
    let mut read_only = false;
    for option in mode.unwrap_or_default().split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "cached" | "delegated" | "consistent" => {}
            other => return Err(ComposeError::invalid(key, format!("mount option {other:?} is not supported"))),
        }
    }
    let source = match source {
        None => Source::Anonymous,
        Some(s) if s.starts_with('.') || s.starts_with('/') || s.starts_with('~') => Source::Bind(absolute(dir, s)),
        Some(name) => Source::Named(name.to_string()),
    };
    Ok(Mount { source, target: target.to_string(), read_only })
}

/// A host path made absolute against `dir` (`~` is the user's home).
pub(crate) fn absolute(dir: &Path, path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let joined = dir.join(path);
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A top-level named volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamedVolume {
    /// The Docker volume's name: `PROJECT_NAME` as compose names it, or `name:`, or the name as is when external.
    pub docker_name: String,
    /// The volume driver (`local` by default).
    pub driver: Option<String>,
    /// The driver's options.
    pub driver_opts: Vec<(String, String)>,
    /// Labels.
    pub labels: Vec<(String, String)>,
    /// Created by someone else: not provisioned.
    pub external: bool,
}

/// Reads a top-level `volumes.NAME` entry.
pub fn named(project: &str, name: &str, value: &Value, warnings: &mut Vec<String>) -> Result<NamedVolume> {
    let key = format!("volumes.{name}");
    let mut volume = NamedVolume { docker_name: format!("{project}_{name}"), ..NamedVolume::default() };
    let Some(map) = value.as_mapping() else {
        if value.is_null() {
            return Ok(volume);
        }
        return Err(ComposeError::invalid(key, "expected a mapping or nothing"));
    };
    let mut explicit_name = None;
    for (item, v) in entries(map) {
        let item_key = format!("{key}.{item}");
        match item.as_str() {
            "driver" => volume.driver = Some(scalar(v, &item_key)?),
            "driver_opts" => volume.driver_opts = pairs(v, &item_key)?,
            "labels" => volume.labels = pairs(v, &item_key)?,
            "external" => volume.external = boolean(v, &item_key)?,
            "name" => explicit_name = Some(scalar(v, &item_key)?),
            _ => warnings.push(unsupported(&item_key, "")),
        }
    }
    if let Some(explicit) = explicit_name {
        volume.docker_name = explicit;
    } else if volume.external {
        volume.docker_name = name.to_string();
    }
    Ok(volume)
}

fn pairs(value: &Value, key: &str) -> Result<Vec<(String, String)>> {
    Ok(crate::yaml::key_values(value, key, '=')?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
}
