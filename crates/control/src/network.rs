//! `awsvpc` tasks in the control plane: `networkConfiguration.awsvpcConfiguration` checked with ECS's messages,
//! the placement constraint its subnets imply, each task's interface (subnet, address from its instance's slice)
//! allocated at placement, and the interface as DescribeTasks shows it.
//!
//! The address comes from the `/24` slice of the subnet that belongs to the task's container instance (its
//! `network_slot`, taken at its first awsvpc placement under a compare-and-swap on a claim key, so two instances
//! never share one), avoiding the addresses the instance's unreleased tasks hold (`task_addresses`, written in
//! the same transaction as the task). The address is freed when the task's reservation is (it reached STOPPED:
//! its containers, the pause container's namespace with them, are gone from the network).

use crate::{ControlError, Result};
use berth_model::agent::{IngressRule, TaskNetwork};
use berth_model::ecs::{
    AssignPublicIp, Attachment, KeyValuePair, LaunchType, NetworkConfiguration, NetworkInterface, NetworkMode,
    PlacementConstraint, PlacementConstraintType,
};
use berth_vpc::{SecurityGroupDirectory, SubnetLayout, VpcLayout};
use std::net::Ipv4Addr;

/// ECS's message for an awsvpc task definition run without a network configuration.
pub const NETWORK_CONFIGURATION_REQUIRED: &str =
    "Network Configuration must be provided when networkMode 'awsvpc' is specified.";
/// ECS's message for `assignPublicIp: ENABLED` on the EC2 launch type.
pub const ASSIGN_PUBLIC_IP_UNSUPPORTED: &str = "Assign public IP is not supported for this launch type.";
/// The most subnets an awsvpcConfiguration may name.
pub const MAX_SUBNETS: usize = 16;
/// The most security groups an awsvpcConfiguration may name.
pub const MAX_SECURITY_GROUPS: usize = 5;
/// The `type` of a task's network interface attachment.
pub const ENI_ATTACHMENT: &str = "ElasticNetworkInterface";
/// The placement failure reason when an instance's slice has no address left, or no slot is free.
pub const NO_ADDRESS: &str = "RESOURCE:ENI";

/// A network configuration checked against the VPC: the subnets (in the order given) and security groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedNetwork {
    /// The subnets the task may be placed in.
    pub subnets: Vec<SubnetLayout>,
    /// Its security groups (the VPC's default group when none was given).
    pub security_groups: Vec<String>,
}

/// Checks a request's `networkConfiguration` against the task definition's network mode and the VPC; returns
/// the resolved network of an awsvpc task (`None` for other network modes).
pub fn check(
    layout: &VpcLayout,
    groups: Option<&dyn SecurityGroupDirectory>,
    network_mode: Option<NetworkMode>,
    configuration: Option<&NetworkConfiguration>,
    launch_type: LaunchType,
) -> Result<Option<ResolvedNetwork>> {
    if network_mode != Some(NetworkMode::Awsvpc) {
        if configuration.is_some() {
            return Err(ControlError::invalid(crate::tasks::launch::NETWORK_CONFIGURATION_NOT_VALID));
        }
        return Ok(None);
    }
    let Some(vpc) = configuration.and_then(|c| c.awsvpc_configuration.as_ref()) else {
        return Err(ControlError::invalid(NETWORK_CONFIGURATION_REQUIRED));
    };
    if vpc.subnets.is_empty() {
        return Err(ControlError::invalid("subnets can not be empty."));
    }
    if vpc.subnets.len() > MAX_SUBNETS {
        return Err(ControlError::invalid(format!("At most {MAX_SUBNETS} subnets can be provided.")));
    }
    let given_groups = vpc.security_groups.clone().unwrap_or_default();
    if given_groups.len() > MAX_SECURITY_GROUPS {
        return Err(ControlError::invalid(format!("At most {MAX_SECURITY_GROUPS} security groups can be provided.")));
    }
    if vpc.assign_public_ip == Some(AssignPublicIp::Enabled) && launch_type != LaunchType::Fargate {
        return Err(ControlError::invalid(ASSIGN_PUBLIC_IP_UNSUPPORTED));
    }
    let mut subnets: Vec<SubnetLayout> = Vec::new();
    let missing: Vec<&str> = vpc.subnets.iter().filter(|id| layout.subnet(id).is_none()).map(String::as_str).collect();
    if let Some(first) = missing.first() {
        return Err(ControlError::invalid(format!(
            "Error retrieving subnet information for [{}]: The subnet ID '{first}' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)",
            missing.join(", ")
        )));
    }
    for id in &vpc.subnets {
        if let Some(subnet) = layout.subnet(id)
            && !subnets.iter().any(|s| s.id == subnet.id)
        {
            subnets.push(subnet.clone());
        }
    }
    let vpc_of = |id: &str| -> Option<String> {
        match groups {
            Some(directory) => directory.group_vpc(id),
            None => (id == berth_vpc::layout::DEFAULT_SECURITY_GROUP_ID).then(|| berth_vpc::layout::VPC_ID.to_string()),
        }
    };
    let mut security_groups = Vec::new();
    for id in &given_groups {
        match vpc_of(id) {
            None => {
                return Err(ControlError::invalid(format!(
                    "Error retrieving security group information for [{id}]: The security group '{id}' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidGroup.NotFound)"
                )));
            }
            Some(owner) if owner != berth_vpc::layout::VPC_ID => {
                return Err(ControlError::invalid(format!(
                    "Security group {id} does not belong to the VPC of the subnets ({}).",
                    berth_vpc::layout::VPC_ID
                )));
            }
            Some(_) => {
                if !security_groups.contains(id) {
                    security_groups.push(id.clone());
                }
            }
        }
    }
    if security_groups.is_empty() {
        security_groups.push(berth_vpc::layout::DEFAULT_SECURITY_GROUP_ID.to_string());
    }
    Ok(Some(ResolvedNetwork { subnets, security_groups }))
}

/// The placement constraint a resolved network implies: an instance in an Availability Zone of one of its subnets.
pub fn zone_constraint(network: &ResolvedNetwork) -> PlacementConstraint {
    let mut zones: Vec<&str> = network.subnets.iter().map(|s| s.availability_zone.as_str()).collect();
    zones.dedup();
    PlacementConstraint {
        r#type: Some(PlacementConstraintType::MemberOf),
        expression: Some(format!("attribute:ecs.availability-zone in [{}]", zones.join(", "))),
    }
}

/// The lowest slot no instance in `taken` holds.
pub fn free_slot(taken: impl IntoIterator<Item = u32>) -> Option<u32> {
    let taken: std::collections::BTreeSet<u32> = taken.into_iter().collect();
    (0..berth_vpc::layout::MAX_SLOTS).find(|s| !taken.contains(s))
}

/// The subnet of `network` a task on an instance in `zone` goes to: the first in the instance's zone, else the
/// first given.
pub fn subnet_for<'a>(network: &'a ResolvedNetwork, zone: Option<&str>) -> Option<&'a SubnetLayout> {
    network.subnets.iter().find(|s| Some(s.availability_zone.as_str()) == zone).or_else(|| network.subnets.first())
}

/// The first address of `subnet`'s slice for `slot` that `taken` does not hold, with the slice.
pub fn free_address(
    layout: &VpcLayout,
    subnet: &SubnetLayout,
    slot: u32,
    taken: &std::collections::BTreeSet<Ipv4Addr>,
) -> Option<(berth_vpc::Cidr, Ipv4Addr)> {
    let slice = layout.slice(subnet, slot)?;
    VpcLayout::task_addresses(slice).find(|a| !taken.contains(a)).map(|a| (slice, a))
}

/// The interface of task `task_id` at `address` of `slice`, with its security groups' ingress resolved.
pub fn interface(
    layout: &VpcLayout,
    subnet: &SubnetLayout,
    slice: berth_vpc::Cidr,
    address: Ipv4Addr,
    task_id: &str,
    security_groups: &[String],
) -> TaskNetwork {
    let eni = layout.interface(task_id, subnet, slice, address);
    TaskNetwork {
        interface_id: eni.id,
        attachment_id: eni.attachment_id,
        subnet_id: eni.subnet_id,
        subnet_cidr: subnet.cidr.to_string(),
        slice_cidr: slice.to_string(),
        gateway: eni.gateway.to_string(),
        address: address.to_string(),
        mac_address: eni.mac,
        private_dns_name: eni.private_dns_name,
        security_groups: security_groups.to_vec(),
        ingress: Vec::new(),
        egress: None,
    }
}

/// One permission as the agent enforces it: its CIDRs and the addresses of the groups it names (`members`).
fn resolved(p: &berth_vpc::Permission, members: &dyn Fn(&str) -> Vec<String>) -> IngressRule {
    let mut addresses = p.cidrs.clone();
    for group in &p.groups {
        addresses.extend(members(group).into_iter().map(|a| format!("{a}/32")));
    }
    let port = |p: Option<i32>| p.filter(|p| *p >= 0).and_then(|p| u16::try_from(p).ok());
    let all_ports = p.protocol == "-1" || p.protocol == "icmp";
    IngressRule {
        protocol: p.protocol.clone(),
        from_port: if all_ports { None } else { port(p.from_port) },
        to_port: if all_ports { None } else { port(p.to_port) },
        sources: addresses,
    }
}

/// The ingress rules of `groups`, with source groups resolved by `members` (the addresses of the interfaces in a
/// group).
pub fn resolve_ingress(
    directory: Option<&dyn SecurityGroupDirectory>,
    groups: &[String],
    members: &dyn Fn(&str) -> Vec<String>,
) -> Vec<IngressRule> {
    let Some(directory) = directory else { return Vec::new() };
    groups.iter().flat_map(|g| directory.ingress(g)).map(|p| resolved(&p, members)).collect()
}

/// The egress rules of `groups`, with destination groups resolved by `members`; `None` when one of them lets all
/// traffic out (all protocols to `0.0.0.0/0`, every group's default rule), so the task's egress is not filtered.
/// A task in several groups may send what any of them allows.
pub fn resolve_egress(
    directory: Option<&dyn SecurityGroupDirectory>,
    groups: &[String],
    members: &dyn Fn(&str) -> Vec<String>,
) -> Option<Vec<IngressRule>> {
    let directory = directory?;
    let permissions: Vec<berth_vpc::Permission> = groups.iter().flat_map(|g| directory.egress(g)).collect();
    if permissions.iter().any(|p| p.protocol == "-1" && p.cidrs.iter().any(|c| c == "0.0.0.0/0")) {
        return None;
    }
    Some(permissions.iter().map(|p| resolved(p, members)).collect())
}

/// The addresses of the interfaces in security group `group`: every task that holds its address (not released).
pub fn group_members(state: &crate::cache::State, group: &str) -> Vec<String> {
    state
        .tasks
        .values()
        .filter(|t| !t.record.released)
        .filter_map(|t| t.record.network.as_ref())
        .filter(|n| n.security_groups.iter().any(|g| g == group))
        .map(|n| n.address.clone())
        .collect()
}

/// The source addresses that count as members of security group `group` for ingress to a task: the interfaces in
/// the group, and, when a load balancer has the group (`load_balancer_groups`), the addresses Berth's load balancer
/// connects to the task from (`load_balancer_sources`). It runs in the berth process: its connections to a task
/// on the same host leave through the slice's bridge from the slice's gateway, and those to a task on another host
/// from the server host's own address on the route there (`host_routes::local_host_addresses`). So an ingress rule
/// naming a load balancer's group lets its traffic in, as on AWS, where the load balancer's interfaces are in its
/// groups.
pub fn ingress_members(
    state: &crate::cache::State,
    group: &str,
    load_balancer_groups: &std::collections::BTreeSet<String>,
    load_balancer_sources: &[String],
) -> Vec<String> {
    let mut members = group_members(state, group);
    if load_balancer_groups.contains(group) {
        for source in load_balancer_sources.iter().filter(|s| !s.is_empty()) {
            if !members.contains(source) {
                members.push(source.clone());
            }
        }
    }
    members
}

/// The task's `attachments` as ECS shows them: its network interface, ATTACHED until the task stops.
pub fn render_attachment(network: &TaskNetwork, stopped: bool) -> Attachment {
    let detail = |name: &str, value: &str| KeyValuePair { name: Some(name.into()), value: Some(value.into()) };
    Attachment {
        id: Some(network.attachment_id.clone()),
        r#type: Some(ENI_ATTACHMENT.into()),
        status: Some(if stopped { "DELETED" } else { "ATTACHED" }.into()),
        details: Some(vec![
            detail("subnetId", &network.subnet_id),
            detail("networkInterfaceId", &network.interface_id),
            detail("macAddress", &network.mac_address),
            detail("privateDnsName", &network.private_dns_name),
            detail("privateIPv4Address", &network.address),
        ]),
    }
}

/// A container's `networkInterfaces` entry.
pub fn render_container_interface(network: &TaskNetwork) -> NetworkInterface {
    NetworkInterface {
        attachment_id: Some(network.attachment_id.clone()),
        private_ipv4_address: Some(network.address.clone()),
        ipv6_address: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecs::AwsVpcConfiguration;

    fn layout() -> VpcLayout {
        VpcLayout::default_for("us-east-1", "000000000000")
    }

    fn config(subnets: &[&str], groups: Option<&[&str]>, public: Option<AssignPublicIp>) -> NetworkConfiguration {
        NetworkConfiguration {
            awsvpc_configuration: Some(AwsVpcConfiguration {
                subnets: subnets.iter().map(|s| s.to_string()).collect(),
                security_groups: groups.map(|g| g.iter().map(|s| s.to_string()).collect()),
                assign_public_ip: public,
            }),
        }
    }

    fn message(result: Result<Option<ResolvedNetwork>>) -> String {
        match result {
            Err(ControlError::Ecs { message, .. }) => message,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn awsvpc_configurations_are_checked_with_ecs_messages() {
        let l = layout();
        let awsvpc = Some(NetworkMode::Awsvpc);
        let ec2 = LaunchType::Ec2;
        assert_eq!(message(check(&l, None, awsvpc, None, ec2)), NETWORK_CONFIGURATION_REQUIRED);
        let good = config(&["subnet-0be7f00000000000b", "subnet-0be7f00000000000a"], None, None);
        assert_eq!(
            message(check(&l, None, Some(NetworkMode::Bridge), Some(&good), ec2)),
            crate::tasks::launch::NETWORK_CONFIGURATION_NOT_VALID
        );
        let resolved = check(&l, None, awsvpc, Some(&good), ec2).unwrap().unwrap();
        assert_eq!(resolved.subnets[0].availability_zone, "us-east-1b");
        assert_eq!(resolved.security_groups, [berth_vpc::layout::DEFAULT_SECURITY_GROUP_ID]);
        assert_eq!(
            zone_constraint(&resolved).expression.as_deref(),
            Some("attribute:ecs.availability-zone in [us-east-1b, us-east-1a]")
        );
        assert_eq!(subnet_for(&resolved, Some("us-east-1a")).unwrap().id, "subnet-0be7f00000000000a");
        let public = config(&["subnet-0be7f00000000000a"], None, Some(AssignPublicIp::Enabled));
        assert_eq!(message(check(&l, None, awsvpc, Some(&public), ec2)), ASSIGN_PUBLIC_IP_UNSUPPORTED);
        let unknown = config(&["subnet-nope"], None, None);
        assert!(message(check(&l, None, awsvpc, Some(&unknown), ec2)).contains("subnet-nope"));
        let sg = config(&["subnet-0be7f00000000000a"], Some(&["sg-nope"]), None);
        assert!(
            message(check(&l, None, awsvpc, Some(&sg), ec2)).contains("The security group 'sg-nope' does not exist")
        );
        let many: Vec<String> = (0..17).map(|i| format!("subnet-{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(message(check(&l, None, awsvpc, Some(&config(&many, None, None)), ec2)).contains("16 subnets"));
        let groups = ["sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"];
        let too_many = config(&["subnet-0be7f00000000000a"], Some(&groups), None);
        assert!(message(check(&l, None, awsvpc, Some(&too_many), ec2)).contains("5 security groups"));
        assert_eq!(message(check(&l, None, awsvpc, Some(&config(&[], None, None)), ec2)), "subnets can not be empty.");
    }

    #[test]
    fn a_load_balancers_group_counts_the_slice_gateway_as_a_member() {
        let state = crate::cache::State::default();
        let lb_groups: std::collections::BTreeSet<String> = ["sg-lb".to_string()].into_iter().collect();
        let sources = ["172.31.0.1".to_string(), "192.0.2.7".to_string()];
        assert_eq!(ingress_members(&state, "sg-lb", &lb_groups, &sources), sources);
        assert!(ingress_members(&state, "sg-other", &lb_groups, &sources).is_empty());
        assert!(ingress_members(&state, "sg-lb", &lb_groups, &[String::new()]).is_empty());
        let x = ["x".to_string()];
        let rules = resolve_ingress(None, &["sg-lb".to_string()], &|g| ingress_members(&state, g, &lb_groups, &x));
        assert!(rules.is_empty(), "without a directory no group has rules");
    }

    #[test]
    fn slots_and_addresses_are_the_lowest_free() {
        assert_eq!(free_slot([0, 1, 3]), Some(2));
        assert_eq!(free_slot(0..berth_vpc::layout::MAX_SLOTS), None);
        let l = layout();
        let subnet = l.subnets[0].clone();
        let taken = [Ipv4Addr::new(172, 31, 1, 2)].into_iter().collect();
        let (slice, address) = free_address(&l, &subnet, 1, &taken).unwrap();
        assert_eq!((slice.to_string(), address.to_string()), ("172.31.1.0/24".into(), "172.31.1.3".into()));
        let network = interface(&l, &subnet, slice, address, "0123456789abcdef0123456789abcdef", &["sg-1".into()]);
        let attachment = render_attachment(&network, false);
        assert_eq!(attachment.status.as_deref(), Some("ATTACHED"));
        let details = attachment.details.unwrap();
        assert_eq!(details[4].name.as_deref(), Some("privateIPv4Address"));
        assert_eq!(details[4].value.as_deref(), Some("172.31.1.3"));
    }

    /// Security groups by id: (ingress, egress).
    struct Groups(Vec<(&'static str, Vec<berth_vpc::Permission>)>);

    impl SecurityGroupDirectory for Groups {
        fn group_vpc(&self, id: &str) -> Option<String> {
            self.0.iter().any(|(g, _)| *g == id).then(|| "vpc-1".to_string())
        }

        fn egress(&self, id: &str) -> Vec<berth_vpc::Permission> {
            self.0.iter().find(|(g, _)| *g == id).map(|(_, e)| e.clone()).unwrap_or_default()
        }
    }

    fn permission(protocol: &str, port: Option<i32>, cidrs: &[&str], groups: &[&str]) -> berth_vpc::Permission {
        berth_vpc::Permission {
            protocol: protocol.into(),
            from_port: port,
            to_port: port,
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn egress_is_filtered_only_when_no_group_lets_everything_out() {
        let directory = Groups(vec![
            ("sg-open", vec![permission("-1", None, &["0.0.0.0/0"], &[])]),
            ("sg-web", vec![permission("tcp", Some(443), &["198.51.100.0/24"], &["sg-db"])]),
            ("sg-none", vec![]),
        ]);
        let members = |g: &str| if g == "sg-db" { vec!["172.31.0.7".to_string()] } else { Vec::new() };
        let groups = |gs: &[&str]| gs.iter().map(|g| g.to_string()).collect::<Vec<_>>();
        assert_eq!(resolve_egress(Some(&directory), &groups(&["sg-web", "sg-open"]), &members), None);
        let web = resolve_egress(Some(&directory), &groups(&["sg-web"]), &members).unwrap();
        assert_eq!(web.len(), 1);
        assert_eq!(web[0].sources, ["198.51.100.0/24", "172.31.0.7/32"]);
        assert_eq!((web[0].from_port, web[0].to_port), (Some(443), Some(443)));
        assert_eq!(resolve_egress(Some(&directory), &groups(&["sg-none"]), &members), Some(Vec::new()), "all dropped");
        assert_eq!(resolve_egress(None, &groups(&["sg-none"]), &members), None);
    }
}
