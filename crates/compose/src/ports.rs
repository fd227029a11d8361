//! `ports:` in the short (`"8080:80/udp"`) and long (`{target, published, protocol}`) forms, as ECS port mappings.

use crate::error::{ComposeError, Result, unsupported};
use crate::yaml::{entries, scalar};
use serde_yaml_ng::Value;

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The container's port.
    pub container: u16,
    /// The host's port (`None`: a dynamic host port, as compose picks one).
    pub host: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// Reads one `ports:` item; `warnings` gets what ECS cannot honour (a host IP to bind).
pub fn parse(value: &Value, key: &str, warnings: &mut Vec<String>) -> Result<Vec<Port>> {
    match value {
        Value::Mapping(map) => {
            let mut container = None;
            let mut host = None;
            let mut protocol = "tcp".to_string();
            for (name, item) in entries(map) {
                let item_key = format!("{key}.{name}");
                match name.as_str() {
                    "target" => container = Some(port_number(&scalar(item, &item_key)?, &item_key)?),
                    "published" => host = Some(port_number(&scalar(item, &item_key)?, &item_key)?),
                    "protocol" => protocol = protocol_name(&scalar(item, &item_key)?, &item_key)?,
                    "mode" => {
                        let mode = scalar(item, &item_key)?;
                        if mode != "host" && mode != "ingress" {
                            return Err(ComposeError::invalid(item_key, format!("unknown mode {mode:?}")));
                        }
                    }
                    "name" | "app_protocol" => warnings.push(unsupported(&item_key, "")),
                    "host_ip" => warnings.push(unsupported(&item_key, "ECS binds published ports on every address")),
                    _ => warnings.push(unsupported(&item_key, "")),
                }
            }
            let container = container.ok_or_else(|| ComposeError::invalid(key, "a long-form port needs `target`"))?;
            Ok(vec![Port { container, host, protocol }])
        }
        other => short(&scalar(other, key)?, key, warnings),
    }
}

fn short(text: &str, key: &str, warnings: &mut Vec<String>) -> Result<Vec<Port>> {
    let (spec, protocol) = match text.split_once('/') {
        Some((spec, protocol)) => (spec, protocol_name(protocol, key)?),
        None => (text, "tcp".to_string()),
    };
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let (container, host) = match parts.as_slice() {
        [container] => (*container, None),
        [container, host] => (*container, Some(*host)),
        [container, host, _ip] => {
            warnings.push(unsupported(key, "ECS binds published ports on every address, not one host IP"));
            (*container, Some(*host))
        }
        _ => return Err(ComposeError::invalid(key, format!("{text:?} is not a port"))),
    };
    let containers = range(container, key)?;
    let hosts = match host.filter(|h| !h.is_empty()) {
        Some(host) => Some(range(host, key)?),
        None => None,
    };
    if let Some(hosts) = &hosts
        && hosts.len() != containers.len()
    {
        return Err(ComposeError::invalid(key, format!("{text:?}: the host and container ranges differ in length")));
    }
    Ok(containers
        .iter()
        .enumerate()
        .map(|(i, container)| Port {
            container: *container,
            host: hosts.as_ref().map(|h| h[i]),
            protocol: protocol.clone(),
        })
        .collect())
}

/// A port or a range `8000-8010` (at most 100 ports).
fn range(text: &str, key: &str) -> Result<Vec<u16>> {
    match text.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (port_number(from, key)?, port_number(to, key)?);
            if to < from || to - from >= 100 {
                return Err(ComposeError::invalid(key, format!("{text:?} is not a range of at most 100 ports")));
            }
            Ok((from..=to).collect())
        }
        None => Ok(vec![port_number(text, key)?]),
    }
}

fn port_number(text: &str, key: &str) -> Result<u16> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ComposeError::invalid(key, format!("{text:?} is not a port number")))
}

fn protocol_name(text: &str, key: &str) -> Result<String> {
    match text.to_ascii_lowercase().as_str() {
        p @ ("tcp" | "udp") => Ok(p.to_string()),
        _ => Err(ComposeError::invalid(key, format!("protocol {text:?}: ECS takes tcp or udp"))),
    }
}
