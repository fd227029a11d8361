//! `--node-provider`: the hosts managed scaling may add to a node group and take away (see
//! `roles::node_providers`).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One `--node-provider` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProviderSpec {
    /// The node group it serves.
    pub group: String,
    /// What it is.
    pub kind: NodeProviderKind,
}

/// The kinds of node provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeProviderKind {
    /// Extra local agents of this size, at most `max` (else as many as the host holds).
    Local {
        /// CPU units each offers.
        cpu: i64,
        /// Memory (MiB) each offers.
        memory: i64,
        /// The most agents at once.
        max: Option<u64>,
    },
    /// The operator's hook.
    Command {
        /// The executable.
        path: PathBuf,
    },
}

/// Parses `GROUP=local[,cpu=UNITS][,memory=MIB][,max=N]` or `GROUP=command,path=FILE`.
pub fn parse_spec(text: &str) -> std::result::Result<NodeProviderSpec, String> {
    let (group, rest) = text.split_once('=').ok_or_else(|| format!("{text:?} is not GROUP=local|command,..."))?;
    if group.is_empty() || !group.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(format!("node group {group:?} must be letters, digits, '-', '_' or '.'"));
    }
    let mut parts = rest.split(',');
    let kind = parts.next().unwrap_or_default();
    let mut options = BTreeMap::new();
    for part in parts {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("{part:?} is not key=value"))?;
        options.insert(key.to_string(), value.to_string());
    }
    let number = |key: &str| -> std::result::Result<Option<i64>, String> {
        options
            .get(key)
            .map(|v| {
                v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{key}={v} must be a positive integer"))
            })
            .transpose()
    };
    let allow = |known: &[&str]| match options.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(format!("unknown option {key:?} for a {kind} node provider (known: {})", known.join(", "))),
        None => Ok(()),
    };
    let kind = match kind {
        "local" => {
            allow(&["cpu", "memory", "max"])?;
            NodeProviderKind::Local {
                cpu: number("cpu")?.unwrap_or(1024),
                memory: number("memory")?.unwrap_or(2048),
                max: number("max")?.and_then(|n| u64::try_from(n).ok()),
            }
        }
        "command" => {
            allow(&["path"])?;
            let path = options.get("path").ok_or("a command node provider needs path=FILE")?;
            NodeProviderKind::Command { path: PathBuf::from(path) }
        }
        other => return Err(format!("node provider kind {other:?} is not local or command")),
    };
    Ok(NodeProviderSpec { group: group.to_string(), kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_defaults_and_refuse_what_they_do_not_know() {
        let spec = parse_spec("workers=local,cpu=512,max=3").unwrap();
        assert_eq!(spec.group, "workers");
        assert_eq!(spec.kind, NodeProviderKind::Local { cpu: 512, memory: 2048, max: Some(3) });
        let spec = parse_spec("gpu=command,path=/usr/local/bin/hosts").unwrap();
        assert_eq!(spec.kind, NodeProviderKind::Command { path: "/usr/local/bin/hosts".into() });
        for bad in ["workers", "=local", "w=cloud", "w=local,cpu=0", "w=local,disk=5", "w=command", "w x=local"] {
            assert!(parse_spec(bad).is_err(), "{bad} should be refused");
        }
    }
}
