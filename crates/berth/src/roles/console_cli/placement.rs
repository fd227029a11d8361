//! Why a task cannot be placed, instance by instance: ECS's "unable to place a task" event names only the closest
//! instance's reason, so this checks every container instance of the cluster against what the task definition
//! needs (DescribeContainerInstances and DescribeTaskDefinition): status and agent, required attributes, memberOf
//! and distinctInstance constraints, CPU, memory and static host ports, and lists every reason of each.

use super::term::short;
use berth_model::ecs;
use std::collections::{BTreeMap, BTreeSet};

/// What one task needs of an instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Demand {
    /// `family:revision`.
    pub revision: String,
    /// CPU units.
    pub cpu: i64,
    /// Memory in MiB.
    pub memory: i64,
    /// Static host ports, `(port, "tcp"|"udp")`.
    pub ports: Vec<(i32, String)>,
    /// Attributes the instance must have: name and, when given, value.
    pub attributes: Vec<(String, Option<String>)>,
    /// memberOf expressions (the task definition's and the service's).
    pub member_of: Vec<String>,
    /// Whether at most one task of the group may run per instance (distinctInstance).
    pub distinct_instance: bool,
}

/// Reads `"256"`, `"0.25 vCPU"` or `"1 vcpu"` as CPU units.
fn cpu_units(text: &str) -> Option<i64> {
    let lower = text.trim().to_ascii_lowercase();
    match lower.strip_suffix("vcpu") {
        Some(v) => v.trim().parse::<f64>().ok().map(|v| (v * 1024.0).round() as i64),
        None => lower.parse().ok(),
    }
}

/// Reads `"512"` or `"2 GB"` as MiB.
fn memory_mib(text: &str) -> Option<i64> {
    let lower = text.trim().to_ascii_lowercase();
    match lower.strip_suffix("gb") {
        Some(v) => v.trim().parse::<f64>().ok().map(|v| (v * 1024.0).round() as i64),
        None => lower.parse().ok(),
    }
}

impl Demand {
    /// What a task of `definition` needs, with the service's own `constraints`.
    pub fn of(definition: &ecs::TaskDefinition, constraints: &[ecs::PlacementConstraint]) -> Self {
        let containers = definition.container_definitions.as_deref().unwrap_or_default();
        let cpu = definition
            .cpu
            .as_deref()
            .and_then(cpu_units)
            .unwrap_or_else(|| containers.iter().map(|c| i64::from(c.cpu)).sum());
        let memory = definition.memory.as_deref().and_then(memory_mib).unwrap_or_else(|| {
            containers.iter().map(|c| i64::from(c.memory.or(c.memory_reservation).unwrap_or(0))).sum()
        });
        let host_network = definition.network_mode == Some(ecs::NetworkMode::Host);
        let mut ports = Vec::new();
        if definition.network_mode != Some(ecs::NetworkMode::Awsvpc) {
            for mapping in containers.iter().flat_map(|c| c.port_mappings.as_deref().unwrap_or_default()) {
                let port = if host_network { mapping.host_port.or(mapping.container_port) } else { mapping.host_port };
                if let Some(port) = port.filter(|p| *p > 0) {
                    ports.push((port, mapping.protocol.map(|p| p.as_str()).unwrap_or("tcp").to_string()));
                }
            }
        }
        let attributes = definition
            .requires_attributes
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect();
        let mut member_of: Vec<String> = definition
            .placement_constraints
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.expression.clone())
            .collect();
        let mut distinct_instance = false;
        for c in constraints {
            match c.r#type {
                Some(ecs::PlacementConstraintType::DistinctInstance) => distinct_instance = true,
                Some(ecs::PlacementConstraintType::MemberOf) => member_of.extend(c.expression.clone()),
                None => {}
            }
        }
        let revision = format!("{}:{}", definition.family.as_deref().unwrap_or("?"), definition.revision);
        Self { revision, cpu, memory, ports, attributes, member_of, distinct_instance }
    }

    /// `cpu 256, memory 512 MiB, ports 8080/tcp`.
    pub fn summary(&self) -> String {
        let mut text = format!("cpu {}, memory {} MiB", self.cpu, self.memory);
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(|(p, proto)| format!("{p}/{proto}")).collect();
            text.push_str(&format!(", host ports {}", ports.join(" ")));
        }
        text
    }
}

/// One instance's verdict: empty `reasons` when the task fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The host name (`ec2InstanceId`) and the instance id.
    pub instance: String,
    /// Every reason the task does not fit there.
    pub reasons: Vec<String>,
}

fn resource<'a>(list: &'a Option<Vec<ecs::Resource>>, name: &str) -> Option<&'a ecs::Resource> {
    list.as_deref()?.iter().find(|r| r.name.as_deref() == Some(name))
}

fn number(resource: &ecs::Resource) -> i64 {
    if resource.integer_value != 0 { i64::from(resource.integer_value) } else { resource.long_value }
}

/// The instance as the placement engine's expressions see it.
fn scheduler_view(instance: &ecs::ContainerInstance) -> berth_scheduler::Instance {
    let arn = instance.container_instance_arn.clone().unwrap_or_default();
    let mut view = berth_scheduler::Instance::new(arn, berth_scheduler::Resources::new(0, 0));
    view.agent_connected = instance.agent_connected;
    view.ec2_instance_id = instance.ec2_instance_id.clone().unwrap_or_default();
    view.registered_at = instance.registered_at.unwrap_or_default();
    view.running_tasks_count = u32::try_from(instance.running_tasks_count).unwrap_or(0);
    view.agent_version = instance.version_info.as_ref().and_then(|v| v.agent_version.clone()).unwrap_or_default();
    for a in instance.attributes.as_deref().unwrap_or_default() {
        view.attributes.insert(a.name.clone(), a.value.clone());
    }
    view
}

/// Checks every instance. `group_tasks` counts the tasks of the task's group already on each instance (by
/// container instance ARN), for distinctInstance.
pub fn explain(
    demand: &Demand,
    instances: &[ecs::ContainerInstance],
    group_tasks: &BTreeMap<String, usize>,
) -> Vec<Verdict> {
    instances.iter().map(|i| verdict(demand, i, group_tasks)).collect()
}

fn verdict(demand: &Demand, instance: &ecs::ContainerInstance, group_tasks: &BTreeMap<String, usize>) -> Verdict {
    let arn = instance.container_instance_arn.as_deref().unwrap_or("?");
    let name = match instance.ec2_instance_id.as_deref() {
        Some(host) => format!("{host} ({})", short(arn)),
        None => short(arn).to_string(),
    };
    let mut reasons = Vec::new();
    match instance.status.as_deref() {
        Some("ACTIVE") => {}
        status => {
            reasons.push(format!("status {} (only ACTIVE instances take new tasks)", status.unwrap_or("unknown")))
        }
    }
    if !instance.agent_connected {
        reasons.push("agent disconnected".into());
    }
    let attributes: BTreeMap<&str, Option<&str>> = instance
        .attributes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|a| (a.name.as_str(), a.value.as_deref()))
        .collect();
    for (attribute, value) in &demand.attributes {
        match (attributes.get(attribute.as_str()), value) {
            (None, _) => reasons.push(format!("ATTRIBUTE: lacks {attribute}")),
            (Some(have), Some(want)) if *have != Some(want.as_str()) => reasons
                .push(format!("ATTRIBUTE: {attribute} is {} here, the task needs {want}", have.unwrap_or("unset"))),
            _ => {}
        }
    }
    if !demand.member_of.is_empty() {
        let view = scheduler_view(instance);
        for expression in &demand.member_of {
            match berth_scheduler::Expr::parse(expression) {
                Ok(expr) if !expr.matches(&view) => reasons.push(format!("CONSTRAINT: not memberOf({expression})")),
                Ok(_) => {}
                Err(error) => reasons.push(format!("CONSTRAINT: memberOf({expression}) does not parse: {error}")),
            }
        }
    }
    if demand.distinct_instance && group_tasks.get(arn).copied().unwrap_or(0) > 0 {
        reasons.push("CONSTRAINT: distinctInstance, and a task of the group already runs here".into());
    }
    if let Some(cpu) = resource(&instance.remaining_resources, "CPU").map(number)
        && cpu < demand.cpu
    {
        reasons.push(format!("CPU: needs {}, {cpu} free", demand.cpu));
    }
    if let Some(memory) = resource(&instance.remaining_resources, "MEMORY").map(number)
        && memory < demand.memory
    {
        reasons.push(format!("MEMORY: needs {} MiB, {memory} free", demand.memory));
    }
    let taken = |name: &str| -> BTreeSet<String> {
        resource(&instance.remaining_resources, name)
            .and_then(|r| r.string_set_value.clone())
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    let (tcp, udp) = (taken("PORTS"), taken("PORTS_UDP"));
    for (port, protocol) in &demand.ports {
        let used = if protocol == "udp" { &udp } else { &tcp };
        if used.contains(&port.to_string()) {
            reasons.push(format!("PORTS: host port {port}/{protocol} is taken"));
        }
    }
    Verdict { instance: name, reasons }
}

/// The explanation as text lines, one per instance.
pub fn render(demand: &Demand, verdicts: &[Verdict]) -> String {
    let mut out =
        format!("Why a task of {} ({}) cannot be placed, instance by instance:\n", demand.revision, demand.summary());
    if verdicts.is_empty() {
        out.push_str("  the cluster has no container instances\n");
    }
    for v in verdicts {
        if v.reasons.is_empty() {
            out.push_str(&format!("  {}: fits now\n", v.instance));
        } else {
            out.push_str(&format!("  {}: {}\n", v.instance, v.reasons.join("; ")));
        }
    }
    out
}

/// Whether a service event says a task could not be placed.
pub fn is_placement_failure(message: &str) -> bool {
    message.contains("unable to place a task")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(name: &str, value: i32) -> ecs::Resource {
        ecs::Resource { name: Some(name.into()), integer_value: value, ..Default::default() }
    }

    fn ports(name: &str, ports: &[&str]) -> ecs::Resource {
        ecs::Resource {
            name: Some(name.into()),
            string_set_value: Some(ports.iter().map(|p| p.to_string()).collect()),
            ..Default::default()
        }
    }

    fn instance(id: &str, cpu: i32, memory: i32, tcp: &[&str]) -> ecs::ContainerInstance {
        ecs::ContainerInstance {
            container_instance_arn: Some(format!("arn:aws:ecs:us-east-1:0:container-instance/default/{id}")),
            ec2_instance_id: Some(format!("host-{id}")),
            status: Some("ACTIVE".into()),
            agent_connected: true,
            remaining_resources: Some(vec![res("CPU", cpu), res("MEMORY", memory), ports("PORTS", tcp)]),
            attributes: Some(vec![ecs::Attribute {
                name: "ecs.instance-type".into(),
                value: Some(format!("type-{id}")),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn definition() -> ecs::TaskDefinition {
        ecs::TaskDefinition {
            family: Some("web".into()),
            revision: 3,
            container_definitions: Some(vec![ecs::ContainerDefinition {
                name: Some("app".into()),
                cpu: 256,
                memory: Some(512),
                port_mappings: Some(vec![ecs::PortMapping {
                    container_port: Some(8080),
                    host_port: Some(8080),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
            requires_attributes: Some(vec![ecs::Attribute {
                name: "com.amazonaws.ecs.capability.docker-remote-api.1.19".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn the_demand_sums_containers_or_takes_the_task_size() {
        let demand = Demand::of(&definition(), &[]);
        assert_eq!((demand.cpu, demand.memory), (256, 512));
        assert_eq!(demand.ports, [(8080, "tcp".to_string())]);
        assert_eq!(demand.summary(), "cpu 256, memory 512 MiB, host ports 8080/tcp");
        let mut sized = definition();
        sized.cpu = Some("0.5 vCPU".into());
        sized.memory = Some("2 GB".into());
        sized.network_mode = Some(ecs::NetworkMode::Awsvpc);
        let demand = Demand::of(&sized, &[]);
        assert_eq!((demand.cpu, demand.memory), (512, 2048));
        assert!(demand.ports.is_empty(), "awsvpc tasks take no host ports");
    }

    #[test]
    fn every_reason_of_every_instance_is_given() {
        let mut demand = Demand::of(
            &definition(),
            &[
                ecs::PlacementConstraint {
                    r#type: Some(ecs::PlacementConstraintType::DistinctInstance),
                    expression: None,
                },
                ecs::PlacementConstraint {
                    r#type: Some(ecs::PlacementConstraintType::MemberOf),
                    expression: Some("attribute:ecs.instance-type != type-c".into()),
                },
            ],
        );
        demand.attributes.clear();
        let mut draining = instance("d", 4096, 8192, &[]);
        draining.status = Some("DRAINING".into());
        draining.agent_connected = false;
        let instances = [
            instance("a", 128, 8192, &["22", "8080"]),
            instance("b", 4096, 256, &[]),
            instance("c", 4096, 8192, &[]),
            draining,
            instance("e", 4096, 8192, &[]),
            instance("f", 4096, 8192, &["22"]),
        ];
        let group: BTreeMap<String, usize> =
            [("arn:aws:ecs:us-east-1:0:container-instance/default/e".to_string(), 1)].into();
        let verdicts = explain(&demand, &instances, &group);
        let reasons: Vec<(&str, String)> =
            verdicts.iter().map(|v| (v.instance.as_str(), v.reasons.join("; "))).collect();
        assert_eq!(
            reasons,
            [
                ("host-a (a)", "CPU: needs 256, 128 free; PORTS: host port 8080/tcp is taken".to_string()),
                ("host-b (b)", "MEMORY: needs 512 MiB, 256 free".to_string()),
                ("host-c (c)", "CONSTRAINT: not memberOf(attribute:ecs.instance-type != type-c)".to_string()),
                (
                    "host-d (d)",
                    "status DRAINING (only ACTIVE instances take new tasks); agent disconnected".to_string()
                ),
                ("host-e (e)", "CONSTRAINT: distinctInstance, and a task of the group already runs here".to_string()),
                ("host-f (f)", String::new()),
            ]
        );
        let text = render(&demand, &verdicts);
        assert!(text.starts_with("Why a task of web:3 (cpu 256, memory 512 MiB, host ports 8080/tcp)"), "{text}");
        assert!(text.contains("  host-f (f): fits now\n"), "{text}");
    }

    #[test]
    fn required_attributes_are_checked_by_name_and_value() {
        let demand = Demand {
            attributes: vec![("ecs.capability.x".into(), None), ("ecs.instance-type".into(), Some("big".into()))],
            ..Default::default()
        };
        let verdicts = explain(&demand, &[instance("a", 10, 10, &[])], &BTreeMap::new());
        assert_eq!(
            verdicts[0].reasons,
            ["ATTRIBUTE: lacks ecs.capability.x", "ATTRIBUTE: ecs.instance-type is type-a here, the task needs big"]
        );
        assert!(is_placement_failure(
            "(service web) was unable to place a task because no container instance met all of its requirements."
        ));
    }
}
