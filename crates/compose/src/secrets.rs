//! Compose `secrets` and `configs`: the top-level definitions (`file`, `environment`, `external`; `content` for a
//! config) and a service's uses of them (`- name` or `{source, target}`), which Berth delivers as files through
//! Secrets Manager (secrets) or SSM Parameter Store (configs) and its file-mode container secrets
//! (`berth:file=<path>`).

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
    /// A value written in the file (`content:`, configs only).
    Content(String),
    /// A Secrets Manager secret (or, for a config, an SSM parameter) that exists already, by name.
    External(String),
}

/// Which of the two a definition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `secrets:`: kept in Secrets Manager, files under `/run/secrets/` by default.
    Secret,
    /// `configs:`: kept in SSM Parameter Store, files at `/<name>` by default.
    Config,
}

impl Kind {
    /// The top-level key.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Config => "configs",
        }
    }
}

/// A top-level secret or config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// Its value's source.
    pub source: SecretSource,
    /// A secret or a config.
    pub kind: Kind,
}

impl Secret {
    /// The name of what holds the value: the Secrets Manager secret `compose/PROJECT/NAME` or the SSM parameter
    /// `/compose/PROJECT/NAME` that `up` writes, or the given name of an external one.
    pub fn store_name(&self, project: &str, name: &str) -> String {
        match (&self.source, self.kind) {
            (SecretSource::External(external), _) => external.clone(),
            (_, Kind::Secret) => format!("compose/{project}/{name}"),
            (_, Kind::Config) => format!("/compose/{project}/{name}"),
        }
    }
}

/// One use of a secret by a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUse {
    /// The top-level secret's name.
    pub source: String,
    /// The file's path in the container (`/run/secrets/<target>` for a secret, `/<target>` for a config, unless
    /// absolute).
    pub path: String,
    /// A secret or a config.
    pub kind: Kind,
}

/// Reads a top-level `secrets.NAME` or `configs.NAME`.
pub fn parse_secret(name: &str, value: &Value, dir: &Path, kind: Kind, warnings: &mut Vec<String>) -> Result<Secret> {
    let key = format!("{}.{name}", kind.key());
    let mut source = None;
    let mut external = false;
    let mut external_name = None;
    for (item, v) in entries(mapping(value, &key)?) {
        let k = format!("{key}.{item}");
        match item.as_str() {
            "file" => source = Some(SecretSource::File(crate::volumes::absolute(dir, &scalar(v, &k)?))),
            "environment" => source = Some(SecretSource::Environment(scalar(v, &k)?)),
            "content" if kind == Kind::Config => source = Some(SecretSource::Content(scalar(v, &k)?)),
            "external" => external = boolean(v, &k)?,
            "name" => external_name = Some(scalar(v, &k)?),
            _ => warnings.push(unsupported(&k, "")),
        }
    }
    let source = match (external, source) {
        (true, None) => SecretSource::External(external_name.unwrap_or_else(|| name.to_string())),
        (false, Some(source)) => source,
        (true, Some(_)) => return Err(ComposeError::invalid(key, "an external one has no `file` or `environment`")),
        (false, None) => return Err(ComposeError::invalid(key, "needs `file`, `environment` or `external: true`")),
    };
    Ok(Secret { source, kind })
}

/// Reads one item of a service's `secrets:` or `configs:`.
pub fn parse_use(value: &Value, key: &str, kind: Kind, warnings: &mut Vec<String>) -> Result<SecretUse> {
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
    let path = match kind {
        _ if target.starts_with('/') => target,
        Kind::Secret => format!("/run/secrets/{target}"),
        Kind::Config => format!("/{target}"),
    };
    if path.rsplit_once('/').is_some_and(|(dir, _)| dir.is_empty()) {
        return Err(ComposeError::invalid(
            key,
            format!(
                "{path} is a file directly in /: Berth mounts the file's directory read-only over the image's, so \
                 give a `target` in a directory of its own, such as /etc/{source}/{source}"
            ),
        ));
    }
    Ok(SecretUse { source, path, kind })
}
