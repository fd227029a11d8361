//! The container definition pieces that take more than one line to translate: command words, environment and
//! env files, health checks, ulimits, extra hosts, tmpfs, logging and resources.

use crate::error::{ComposeError, Result, unsupported};
use crate::yaml::{boolean, entries, key_values, mapping, number, scalar, strings};
use serde_json::{Map, Value as Json, json};
use serde_yaml_ng::Value;
use std::path::Path;

/// `command:` / `entrypoint:`: a string is split as compose does, a list is taken as is.
pub fn words(value: &Value, key: &str) -> Result<Vec<String>> {
    match value {
        Value::Sequence(_) => strings(value, key),
        other => crate::command::split(&scalar(other, key)?).map_err(|e| ComposeError::invalid(key, e)),
    }
}

/// `env_file:` (a path, a list of paths, or long forms `{path, required}`) read into pairs, in order. A missing
/// required file is an error; a missing optional one is skipped.
pub fn env_files(value: &Value, key: &str, dir: &Path) -> Result<Vec<(String, Option<String>)>> {
    let items: Vec<Value> = match value {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    };
    let mut pairs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        let (path, required) = match item {
            Value::Mapping(map) => {
                let mut path = None;
                let mut required = true;
                for (name, v) in entries(map) {
                    match name.as_str() {
                        "path" => path = Some(scalar(v, &format!("{item_key}.path"))?),
                        "required" => required = boolean(v, &format!("{item_key}.required"))?,
                        other => {
                            return Err(ComposeError::invalid(&item_key, format!("unknown key {other:?}")));
                        }
                    }
                }
                (path.ok_or_else(|| ComposeError::invalid(&item_key, "needs `path`"))?, required)
            }
            other => (scalar(other, &item_key)?, true),
        };
        let full = dir.join(&path);
        let text = match std::fs::read_to_string(&full) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(source) => return Err(ComposeError::Read { path: full.display().to_string(), source }),
        };
        let file_pairs =
            crate::envfile::parse(&text).map_err(|e| ComposeError::invalid(&item_key, format!("{path}: {e}")))?;
        pairs.extend(file_pairs);
    }
    Ok(pairs)
}

/// The container's `environment`: env files first, `environment:` over them, a name without a value taken from the
/// local environment (left out when unset there, as compose does). Sorted by name.
pub fn merge_environment(
    files: Vec<(String, Option<String>)>,
    environment: Vec<(String, Option<String>)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Json {
    let mut merged = std::collections::BTreeMap::new();
    for (name, value) in files.into_iter().chain(environment) {
        match value.or_else(|| env(&name)) {
            Some(value) => {
                merged.insert(name, value);
            }
            None => {
                merged.remove(&name);
            }
        }
    }
    if merged.is_empty() {
        return Json::Null;
    }
    json!(merged.into_iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Vec<_>>())
}

/// `healthcheck:` as ECS's `healthCheck` (`None` for `disable: true` or `test: ["NONE"]`).
pub fn healthcheck(value: &Value, key: &str, warnings: &mut Vec<String>) -> Result<Option<Json>> {
    let mut check = Map::new();
    let mut disabled = false;
    for (name, v) in entries(mapping(value, key)?) {
        let k = format!("{key}.{name}");
        match name.as_str() {
            "test" => {
                let command = match v {
                    Value::Sequence(_) => strings(v, &k)?,
                    other => vec!["CMD-SHELL".to_string(), scalar(other, &k)?],
                };
                match command.first().map(String::as_str) {
                    Some("NONE") => disabled = true,
                    Some("CMD") if command.len() > 1 => {}
                    Some("CMD-SHELL") if command.len() == 2 => {}
                    _ => {
                        return Err(ComposeError::invalid(
                            k,
                            "expected [\"CMD\", args...], [\"CMD-SHELL\", command], [\"NONE\"] or a string",
                        ));
                    }
                }
                check.insert("command".into(), json!(command));
            }
            "interval" | "timeout" | "start_period" => {
                let text = scalar(v, &k)?;
                let seconds = crate::duration::parse_seconds(&text).map_err(|e| ComposeError::invalid(&k, e))?;
                let field = match name.as_str() {
                    "interval" => "interval",
                    "timeout" => "timeout",
                    _ => "startPeriod",
                };
                check.insert(field.into(), json!(seconds));
            }
            "retries" => {
                check.insert("retries".into(), json!(number(v, &k, 10)?));
            }
            "disable" => disabled = boolean(v, &k)?,
            _ => warnings.push(unsupported(&k, "")),
        }
    }
    if disabled {
        return Ok(None);
    }
    if !check.contains_key("command") {
        return Err(ComposeError::invalid(key, "a health check needs `test`"));
    }
    Ok(Some(Json::Object(check)))
}

/// `ulimits:` (`nofile: {soft, hard}` or `nproc: 65535`) as ECS's ulimits.
pub fn ulimits(value: &Value, key: &str) -> Result<Json> {
    let mut out = Vec::new();
    for (name, v) in entries(mapping(value, key)?) {
        let k = format!("{key}.{name}");
        let (soft, hard) = match v {
            Value::Mapping(map) => {
                let mut soft = None;
                let mut hard = None;
                for (item, limit) in entries(map) {
                    match item.as_str() {
                        "soft" => soft = Some(number(limit, &format!("{k}.soft"), u32::MAX as u64)?),
                        "hard" => hard = Some(number(limit, &format!("{k}.hard"), u32::MAX as u64)?),
                        other => return Err(ComposeError::invalid(&k, format!("unknown key {other:?}"))),
                    }
                }
                match (soft, hard) {
                    (Some(soft), Some(hard)) => (soft, hard),
                    _ => return Err(ComposeError::invalid(&k, "needs both `soft` and `hard`")),
                }
            }
            other => {
                let limit = number(other, &k, u32::MAX as u64)?;
                (limit, limit)
            }
        };
        out.push(json!({"name": name, "softLimit": soft, "hardLimit": hard}));
    }
    Ok(json!(out))
}

/// `extra_hosts:` (`host:ip`, `host=ip`, or a mapping) as ECS's extraHosts.
pub fn extra_hosts(value: &Value, key: &str) -> Result<Json> {
    let pairs = match value {
        Value::Sequence(_) => crate::yaml::list(value, key)?
            .into_iter()
            .map(|item| {
                let split = item.split_once('=').or_else(|| item.split_once(':'));
                split
                    .map(|(host, ip)| (host.to_string(), Some(ip.to_string())))
                    .ok_or_else(|| ComposeError::invalid(key, format!("{item:?} is not host:ip")))
            })
            .collect::<Result<Vec<_>>>()?,
        other => key_values(other, key, '=')?,
    };
    let hosts: Vec<Json> = pairs
        .into_iter()
        .map(|(hostname, ip)| json!({"hostname": hostname, "ipAddress": ip.unwrap_or_default()}))
        .collect();
    Ok(json!(hosts))
}

/// The container paths of `tmpfs:` (`/run` or `/run:size=64m,mode=1777`) as ECS's tmpfs; ECS needs a size, so one
/// without a size gets 64 MiB and a warning.
pub fn tmpfs(paths: &[String], key: &str, warnings: &mut Vec<String>) -> Result<Json> {
    let mut out = Vec::new();
    for entry in paths {
        let (path, options) = entry.split_once(':').unwrap_or((entry.as_str(), ""));
        let mut size = None;
        let mut mount_options = Vec::new();
        for option in options.split(',').filter(|o| !o.is_empty()) {
            match option.split_once('=') {
                Some(("size", value)) => {
                    size = Some(crate::units::parse_mib(value).map_err(|e| ComposeError::invalid(key, e))?)
                }
                _ => mount_options.push(option.to_string()),
            }
        }
        let size = size.unwrap_or_else(|| {
            warnings.push(format!("{key}: {path} has no size; ECS needs one, so Berth gives it 64 MiB"));
            64
        });
        let mut item = json!({"containerPath": path, "size": size});
        if !mount_options.is_empty() {
            item["mountOptions"] = json!(mount_options);
        }
        out.push(item);
    }
    Ok(json!(out))
}

/// `logging: {driver, options}`.
pub fn logging(value: &Value, key: &str, warnings: &mut Vec<String>) -> Result<(String, Vec<(String, String)>)> {
    let mut driver = "json-file".to_string();
    let mut options = Vec::new();
    for (name, v) in entries(mapping(value, key)?) {
        let k = format!("{key}.{name}");
        match name.as_str() {
            "driver" => driver = scalar(v, &k)?,
            "options" => {
                options = key_values(v, &k, '=')?.into_iter().map(|(n, v)| (n, v.unwrap_or_default())).collect()
            }
            _ => warnings.push(unsupported(&k, "")),
        }
    }
    Ok((driver, options))
}

/// `deploy.resources.limits` (cpus → cpu units, memory → memory MiB) or `reservations` (memory →
/// memoryReservation; cpus → cpu units when no limit sets them).
pub fn resources(
    section: &str,
    value: &Value,
    key: &str,
    container: &mut Map<String, Json>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for (name, v) in entries(mapping(value, key)?) {
        let k = format!("{key}.{name}");
        let text = scalar(v, &k)?;
        match (section, name.as_str()) {
            (_, "cpus") => {
                let units = crate::units::parse_cpu_units(&text).map_err(|e| ComposeError::invalid(&k, e))?;
                if section == "limits" || !container.contains_key("cpu") {
                    container.insert("cpu".into(), json!(units));
                } else {
                    warnings.push(format!("{k} is ignored: ECS has one cpu value per container, set by the limit"));
                }
            }
            (_, "memory") => {
                let mib = crate::units::parse_mib(&text).map_err(|e| ComposeError::invalid(&k, e))?;
                let field = if section == "limits" { "memory" } else { "memoryReservation" };
                container.insert(field.into(), json!(mib));
            }
            _ => warnings.push(unsupported(&k, "")),
        }
    }
    Ok(())
}
