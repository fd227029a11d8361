//! Berth's published ports for `awsvpc` tasks (an extension; ECS has no such setting): a container definition's
//! `dockerLabels` entry `berth.publish` lists ports of the container to publish on its host's addresses, as
//! `docker run -p HOST:CONTAINER[/PROTOCOL]` does, comma-separated: `8080:80,5353:53/udp`.
//!
//! An awsvpc task has an address of its own and ECS publishes nothing on the host (its port mappings' host port
//! must equal the container port). `berth compose` runs services in awsvpc so that each has an address its name
//! resolves to, and a compose file's `ports: ["8080:80"]` still means "reachable at port 8080 of the host": the
//! agent publishes these ports on the task's pause container, the scheduler reserves the host ports on the
//! instance as it does for bridge tasks' static host ports, and the task's security groups still decide who may
//! connect (the published traffic arrives at the task's address and container port).
//!
//! The form is an ordinary label, so the aws CLI, the SDKs and deploy tools pass it through unchanged; ECS itself
//! would only set the label on the container. RegisterTaskDefinition checks it ([`check`]).

use crate::ecs::{ContainerDefinition, NetworkMode, TransportProtocol};

/// The `dockerLabels` key that lists a container's published ports.
pub const LABEL: &str = "berth.publish";

/// One published port: `host_port` on the host's addresses forwards to `container_port` of the task's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedPort {
    /// The port on the host (1-65535).
    pub host_port: u16,
    /// The container's port (one of its port mappings).
    pub container_port: u16,
    /// The protocol.
    pub protocol: TransportProtocol,
}

/// Parses a label value: `HOST:CONTAINER[/tcp|/udp]` entries, comma-separated (spaces around them ignored).
pub fn parse(value: &str) -> Result<Vec<PublishedPort>, String> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (ports, protocol) = match entry.split_once('/') {
            Some((ports, "tcp")) => (ports, TransportProtocol::Tcp),
            Some((ports, "udp")) => (ports, TransportProtocol::Udp),
            Some((_, other)) => return Err(format!("{entry:?}: the protocol {other:?} is not tcp or udp")),
            None => (entry, TransportProtocol::Tcp),
        };
        let (host, container) =
            ports.split_once(':').ok_or_else(|| format!("{entry:?} is not HOST_PORT:CONTAINER_PORT[/PROTOCOL]"))?;
        let port = |text: &str, which: &str| match text.trim().parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(format!("{entry:?}: the {which} port {text:?} is not a port number (1-65535)")),
        };
        out.push(PublishedPort {
            host_port: port(host, "host")?,
            container_port: port(container, "container")?,
            protocol,
        });
    }
    Ok(out)
}

/// The ports a container publishes (none without the label; a malformed label publishes none here, as
/// RegisterTaskDefinition refused it).
pub fn of(container: &ContainerDefinition) -> Vec<PublishedPort> {
    container
        .docker_labels
        .as_ref()
        .and_then(|labels| labels.get(LABEL))
        .and_then(|v| parse(v).ok())
        .unwrap_or_default()
}

/// Checks a container's label as RegisterTaskDefinition does: only in `awsvpc` mode, well formed, each container
/// port one of the container's port mappings with the same protocol, no host port twice. The message names the
/// container and says what is wrong.
pub fn check(container: &ContainerDefinition, network_mode: NetworkMode) -> Result<(), String> {
    let Some(value) = container.docker_labels.as_ref().and_then(|labels| labels.get(LABEL)) else {
        return Ok(());
    };
    let name = container.name.as_deref().unwrap_or_default();
    let invalid = |why: String| format!("Invalid '{LABEL}' docker label for container '{name}': {why}");
    if network_mode != NetworkMode::Awsvpc {
        return Err(invalid(format!(
            "published ports are Berth's extension for the 'awsvpc' network mode; in the '{}' mode set hostPort in \
             portMappings instead.",
            network_mode.as_str()
        )));
    }
    let ports = parse(value).map_err(invalid)?;
    let mut seen = std::collections::BTreeSet::new();
    for p in &ports {
        let mapped = container.port_mappings.iter().flatten().any(|pm| {
            pm.container_port == Some(i32::from(p.container_port))
                && pm.protocol.unwrap_or(TransportProtocol::Tcp) == p.protocol
        });
        if !mapped {
            return Err(invalid(format!(
                "the container port {}/{} is not in the container's portMappings.",
                p.container_port,
                p.protocol.as_str()
            )));
        }
        if !seen.insert((p.host_port, p.protocol)) {
            return Err(invalid(format!("the host port {}/{} is published twice.", p.host_port, p.protocol.as_str())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::PortMapping;

    fn container(label: &str, mappings: &[(i32, TransportProtocol)]) -> ContainerDefinition {
        ContainerDefinition {
            name: Some("web".into()),
            docker_labels: Some([(LABEL.to_string(), label.to_string())].into_iter().collect()),
            port_mappings: Some(
                mappings
                    .iter()
                    .map(|(port, protocol)| PortMapping {
                        container_port: Some(*port),
                        protocol: Some(*protocol),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn entries_parse_with_tcp_by_default() {
        let ports = parse(" 8080:80 , 5353:53/udp,").unwrap();
        assert_eq!(
            ports,
            vec![
                PublishedPort { host_port: 8080, container_port: 80, protocol: TransportProtocol::Tcp },
                PublishedPort { host_port: 5353, container_port: 53, protocol: TransportProtocol::Udp },
            ]
        );
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn malformed_entries_say_what_is_wrong() {
        assert!(parse("8080").unwrap_err().contains("HOST_PORT:CONTAINER_PORT"));
        assert!(parse("0:80").unwrap_err().contains("host port"));
        assert!(parse("8080:70000").unwrap_err().contains("container port"));
        assert!(parse("8080:80/sctp").unwrap_err().contains("sctp"));
    }

    #[test]
    fn the_label_needs_awsvpc_and_a_mapped_container_port() {
        let web = container("8080:80", &[(80, TransportProtocol::Tcp)]);
        assert!(check(&web, NetworkMode::Awsvpc).is_ok());
        assert_eq!(of(&web).len(), 1);
        let bridge = check(&web, NetworkMode::Bridge).unwrap_err();
        assert!(bridge.contains("'awsvpc'") && bridge.contains("hostPort"), "{bridge}");
        let unmapped = check(&container("8080:81", &[(80, TransportProtocol::Tcp)]), NetworkMode::Awsvpc);
        assert!(unmapped.unwrap_err().contains("81/tcp is not in the container's portMappings"));
        let wrong_protocol = check(&container("53:53/udp", &[(53, TransportProtocol::Tcp)]), NetworkMode::Awsvpc);
        assert!(wrong_protocol.is_err());
        let twice = check(
            &container("8080:80,8080:81", &[(80, TransportProtocol::Tcp), (81, TransportProtocol::Tcp)]),
            NetworkMode::Awsvpc,
        );
        assert!(twice.unwrap_err().contains("published twice"));
        assert!(check(&ContainerDefinition::default(), NetworkMode::Bridge).is_ok(), "no label, nothing to check");
    }
}
