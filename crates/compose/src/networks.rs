//! Compose networks as Berth runs them: each service (unless it names a `network_mode`) is an `awsvpc` service with
//! an address of its own in the default VPC; each compose network is a security group that lets its members reach
//! each other on every port (compose's network: every container on it reaches every other), and the project's
//! services find each other by name through a private DNS namespace in Cloud Map, searched by every task, so
//! `redis` resolves to the addresses of the `redis` service's tasks.
//!
//! Names: the security group of network `NET` is `PROJECT_NET` (as compose names the Docker network), the one that
//! opens a service's published ports to everyone is `PROJECT_SERVICE_published`, the namespace is
//! [`namespace`] (`PROJECT.compose.internal`, `_` in the project's name becoming `-` as DNS names take no `_`).
//! An `external: true` network names an existing security group (by its `name`, else the key) in the default VPC.

use crate::error::{ComposeError, Result, unsupported};
use crate::yaml::{boolean, entries, mapping, scalar};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;

/// The network every service joins when it names none.
pub const DEFAULT: &str = "default";

/// The domain under which each project's namespace is made.
pub const DOMAIN: &str = "compose.internal";

/// A top-level network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The security group's name (or, external, the existing group's name or id).
    pub group_name: String,
    /// Whether it exists outside the project (`external: true`): not created, not deleted.
    pub external: bool,
}

/// The Cloud Map namespace of `project` (the domain its tasks search).
pub fn namespace(project: &str) -> String {
    format!("{}.{DOMAIN}", project.replace('_', "-"))
}

/// The security group name of the project's network `network`.
pub fn group_name(project: &str, network: &str) -> String {
    format!("{project}_{network}")
}

/// The security group that opens `service`'s published container ports to every source.
pub fn published_group_name(project: &str, service: &str) -> String {
    format!("{project}_{service}_published")
}

/// Reads the top-level `networks:`; the default network is always there.
pub fn parse_top(
    value: Option<&Value>,
    project: &str,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, Network>> {
    let mut out = BTreeMap::new();
    out.insert(DEFAULT.to_string(), Network { group_name: group_name(project, DEFAULT), external: false });
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(out) };
    for (name, spec) in entries(mapping(value, "networks")?) {
        let key = format!("networks.{name}");
        let mut network = Network { group_name: group_name(project, &name), external: false };
        let mut given_name = None;
        if !spec.is_null() {
            for (field, v) in entries(mapping(spec, &key)?) {
                let k = format!("{key}.{field}");
                match field.as_str() {
                    "external" => network.external = external(v, &k)?,
                    "name" => given_name = Some(scalar(v, &k)?),
                    "driver" => {
                        let driver = scalar(v, &k)?;
                        if driver != "bridge" && driver != "overlay" {
                            warnings.push(unsupported(&k, "a Berth network is a security group in the VPC"));
                        }
                    }
                    "internal" => warnings.push(unsupported(
                        &k,
                        "the network's security group lets its members in; traffic out is not restricted",
                    )),
                    "labels" => {}
                    _ => warnings.push(unsupported(&k, "a Berth network is a security group in the VPC")),
                }
            }
        }
        if network.external {
            network.group_name = given_name.unwrap_or_else(|| name.clone());
        } else if let Some(given) = given_name {
            network.group_name = given;
        }
        out.insert(name, network);
    }
    Ok(out)
}

/// `external: true`, or the obsolete `external: {name: ...}` form (refused: use `name`).
fn external(value: &Value, key: &str) -> Result<bool> {
    if value.is_mapping() {
        return Err(ComposeError::invalid(
            key,
            "the `external: {name}` form is obsolete: write `external: true` and `name`",
        ));
    }
    boolean(value, key)
}

/// Reads a service's `networks:` (a list, or a mapping whose values may set `aliases` and addresses).
pub fn parse_service(value: &Value, key: &str, warnings: &mut Vec<String>) -> Result<Vec<String>> {
    match value {
        Value::Sequence(_) => crate::yaml::list(value, key),
        Value::Mapping(map) => {
            let mut out = Vec::new();
            for (name, spec) in entries(map) {
                if let Value::Mapping(settings) = spec {
                    for (field, _) in entries(settings) {
                        let why = match field.as_str() {
                            "aliases" => "a service is found by its own name only",
                            "ipv4_address" | "ipv6_address" => "each task gets an address of the VPC",
                            _ => "",
                        };
                        warnings.push(unsupported(&format!("{key}.{name}.{field}"), why));
                    }
                }
                out.push(name);
            }
            Ok(out)
        }
        _ => Err(ComposeError::invalid(key, "expected a list or a mapping of networks")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn names_follow_compose_and_dns() {
        assert_eq!(namespace("my_shop"), "my-shop.compose.internal");
        assert_eq!(group_name("shop", "default"), "shop_default");
        assert_eq!(published_group_name("shop", "web"), "shop_web_published");
    }

    #[test]
    fn top_level_networks_become_groups() {
        let mut warnings = Vec::new();
        let value = yaml("front: {}\nback: {driver: bridge, ipam: {}}\nshared: {external: true, name: sg-legacy}\n");
        let networks = parse_top(Some(&value), "shop", &mut warnings).unwrap();
        assert_eq!(networks["default"].group_name, "shop_default");
        assert_eq!(networks["front"], Network { group_name: "shop_front".into(), external: false });
        assert_eq!(networks["shared"], Network { group_name: "sg-legacy".into(), external: true });
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("networks.back.ipam"));
        let old = yaml("legacy: {external: {name: x}}\n");
        assert!(parse_top(Some(&old), "shop", &mut warnings).is_err());
    }

    #[test]
    fn service_networks_in_both_forms() {
        let mut warnings = Vec::new();
        assert_eq!(parse_service(&yaml("[front, back]"), "k", &mut warnings).unwrap(), ["front", "back"]);
        let map = yaml("front: {aliases: [www]}\nback:\n");
        assert_eq!(parse_service(&map, "services.web.networks", &mut warnings).unwrap(), ["front", "back"]);
        assert!(warnings[0].contains("services.web.networks.front.aliases"), "{warnings:?}");
        assert!(parse_service(&yaml("7"), "k", &mut warnings).is_err());
    }
}
