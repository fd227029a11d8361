//! Compose `secrets`: the top-level definitions (`file`, `environment`, `external`) and a service's uses of them
//! (`- name` or `{source, target}`), which Berth delivers as files through Secrets Manager and its file-mode
//! container secrets (`berth:file=<path>`).

use crate::error::{ComposeError, Result, unsupported};
use crate::yaml::{boolean, entries, mapping, scalar};
use serde_yaml_ng::Value;
use std::path::{Path, PathBuf};

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file beside the compose file (read by `compose up`).
    File(PathBuf),
    /// A variable of the local environment.
    Environment(String),
    /// A Secrets Manager secret that exists already, by name.
    External(String),
}

/// A top-level secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// Its value's source.
    pub source: SecretSource,
}

impl Secret {
    /// The Secrets Manager secret's name: `compose/PROJECT/NAME` for the secrets `up` creates, the given name for
    /// an external one.
    pub fn secrets_manager_name(&self, project: &str, name: &str) -> String {
        match &self.source {
            SecretSource::External(external) => external.clone(),
            _ => format!("compose/{project}/{name}"),
        }
    }
}

/// One use of a secret by a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUse {
    /// The top-level secret's name.
    pub source: String,
    /// The file's path in the container (`/run/secrets/<target>` unless absolute).
    pub path: String,
}

/// Reads a top-level `secrets.NAME`.
pub fn parse_secret(name: &str, value: &Value, dir: &Path, warnings: &mut Vec<String>) -> Result<Secret> {
    let key = format!("secrets.{name}");
    let mut source = None;
    let mut external = false;
    let mut external_name = None;
    for (item, v) in entries(mapping(value, &key)?) {
        let k = format!("{key}.{item}");
        match item.as_str() {
            "file" => source = Some(SecretSource::File(crate::volumes::absolute(dir, &scalar(v, &k)?))),
            "environment" => source = Some(SecretSource::Environment(scalar(v, &k)?)),
            "external" => external = boolean(v, &k)?,
            "name" => external_name = Some(scalar(v, &k)?),
            _ => warnings.push(unsupported(&k, "")),
        }
    }
    let source = match (external, source) {
        (true, None) => SecretSource::External(external_name.unwrap_or_else(|| name.to_string())),
        (false, Some(source)) => source,
        (true, Some(_)) => return Err(ComposeError::invalid(key, "an external secret has no `file` or `environment`")),
        (false, None) => return Err(ComposeError::invalid(key, "needs `file`, `environment` or `external: true`")),
    };
    Ok(Secret { source })
}

/// Reads one item of a service's `secrets:`.
pub fn parse_use(value: &Value, key: &str, warnings: &mut Vec<String>) -> Result<SecretUse> {
    let (source, target) = match value {
        Value::Mapping(map) => {
            let mut source = None;
            let mut target = None;
            for (item, v) in entries(map) {
                let k = format!("{key}.{item}");
                match item.as_str() {
                    "source" => source = Some(scalar(v, &k)?),
                    "target" => target = Some(scalar(v, &k)?),
                    "uid" | "gid" | "mode" => {
                        warnings.push(unsupported(&k, "Berth's secret files are read-only and readable by every user"))
                    }
                    _ => warnings.push(unsupported(&k, "")),
                }
            }
            let source = source.ok_or_else(|| ComposeError::invalid(key, "needs `source`"))?;
            (source, target)
        }
        other => (scalar(other, key)?, None),
    };
    let target = target.unwrap_or_else(|| source.clone());
    let path = if target.starts_with('/') { target } else { format!("/run/secrets/{target}") };
    Ok(SecretUse { source, path })
}
