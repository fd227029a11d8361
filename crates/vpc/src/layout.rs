//! The default VPC's shape: its CIDR, one `/20` subnet per Availability Zone, and each subnet cut into one `/24`
//! slice per container instance, from which that instance's tasks get their addresses.
//!
//! AWS's default VPC is `172.31.0.0/16` with a default subnet of `/20` per Availability Zone (`172.31.0.0/20`,
//! `172.31.16.0/20`, ...). Berth's has the same shape (the CIDR is the operator's choice, a `/16`) with two
//! subnets, in `<region>a` and `<region>b`. The identifiers are fixed, the same as the ELBv2 API's provisional
//! ones, so that scripts written against one Berth work against another.
//!
//! A subnet spans several hosts. Each container instance that runs awsvpc tasks gets a *slot* (0 to
//! [`MAX_SLOTS`]` - 1`, unique in the VPC, kept while the instance is registered), and slot `k` of a subnet is its `k`-th
//! `/24`: on that host the subnet is a Docker bridge network of exactly that `/24`, whose first address is the
//! bridge (the tasks' gateway) and whose other addresses (`.2` to `.254`) the control plane hands to tasks. Two
//! hosts never hand out the same address, and a host reaches another host's slice by a route to that `/24` through
//! the other host (see ARCHITECTURE.md).

use crate::cidr::Cidr;
use std::net::Ipv4Addr;

/// The default VPC's id.
pub const VPC_ID: &str = "vpc-0be7f000000000001";
/// The default VPC's default security group.
pub const DEFAULT_SECURITY_GROUP_ID: &str = "sg-0be7f000000000001";
/// The default security group's name, as on AWS.
pub const DEFAULT_SECURITY_GROUP_NAME: &str = "default";
/// The default VPC's subnets: id and the suffix of their Availability Zone.
pub const SUBNETS: [(&str, &str); 2] = [("subnet-0be7f00000000000a", "a"), ("subnet-0be7f00000000000b", "b")];
/// The default VPC's CIDR, as AWS's.
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";
/// The prefix length of a subnet.
pub const SUBNET_PREFIX: u8 = 20;
/// The prefix length of a host's slice of a subnet.
pub const SLICE_PREFIX: u8 = 24;
/// How many container instances can hold a slice (the `/24`s of a `/20`).
pub const MAX_SLOTS: u32 = 1 << (SLICE_PREFIX - SUBNET_PREFIX);

/// One subnet of the VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetLayout {
    /// `subnet-...`.
    pub id: String,
    /// `<region>a` ...
    pub availability_zone: String,
    /// Its `/20`.
    pub cidr: Cidr,
}

/// The default VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcLayout {
    /// The region (for Availability Zone names and private DNS names).
    pub region: String,
    /// The account that owns it.
    pub account_id: String,
    /// Its `/16`.
    pub cidr: Cidr,
    /// Its subnets.
    pub subnets: Vec<SubnetLayout>,
}

/// A task's network interface (ECS's `ElasticNetworkInterface` attachment), as placement decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// `eni-...`.
    pub id: String,
    /// The attachment's id (a UUID).
    pub attachment_id: String,
    /// The subnet.
    pub subnet_id: String,
    /// The address.
    pub address: Ipv4Addr,
    /// The MAC address.
    pub mac: String,
    /// `ip-a-b-c-d.ec2.internal` style.
    pub private_dns_name: String,
    /// The host's slice of the subnet (the Docker network's subnet).
    pub slice: Cidr,
    /// The slice's gateway (the host's bridge).
    pub gateway: Ipv4Addr,
}

impl VpcLayout {
    /// The default VPC on `cidr` (a `/16`), with its subnets.
    pub fn new(region: &str, account_id: &str, cidr: Cidr) -> Result<Self, String> {
        if cidr.prefix != 16 {
            return Err(format!("the VPC CIDR must be a /16 (one /20 subnet per Availability Zone); {cidr} is not"));
        }
        let subnets = SUBNETS
            .iter()
            .zip(0u32..)
            .filter_map(|((id, zone), index)| {
                Some(SubnetLayout {
                    id: (*id).to_string(),
                    availability_zone: format!("{region}{zone}"),
                    cidr: cidr.subnet(SUBNET_PREFIX, index)?,
                })
            })
            .collect();
        Ok(Self { region: region.to_string(), account_id: account_id.to_string(), cidr, subnets })
    }

    /// The default VPC on AWS's default CIDR.
    pub fn default_for(region: &str, account_id: &str) -> Self {
        let cidr = Cidr::parse(DEFAULT_VPC_CIDR).unwrap_or(Cidr { network: Ipv4Addr::new(172, 31, 0, 0), prefix: 16 });
        Self::new(region, account_id, cidr).unwrap_or_else(|_| Self {
            region: region.to_string(),
            account_id: account_id.to_string(),
            cidr,
            subnets: Vec::new(),
        })
    }

    /// A subnet by id.
    pub fn subnet(&self, id: &str) -> Option<&SubnetLayout> {
        self.subnets.iter().find(|s| s.id == id)
    }

    /// Slot `slot`'s slice of `subnet`.
    pub fn slice(&self, subnet: &SubnetLayout, slot: u32) -> Option<Cidr> {
        subnet.cidr.subnet(SLICE_PREFIX, slot)
    }

    /// The addresses a slice gives to tasks: all but the network, the gateway (`.1`) and the broadcast address.
    pub fn task_addresses(slice: Cidr) -> impl Iterator<Item = Ipv4Addr> {
        let size = u32::try_from(slice.size()).unwrap_or(u32::MAX);
        (2..size.saturating_sub(1)).filter_map(move |offset| slice.nth(offset))
    }

    /// The slice's gateway: its first address, the host's bridge.
    pub fn gateway(slice: Cidr) -> Ipv4Addr {
        slice.nth(1).unwrap_or(slice.network)
    }

    /// The private DNS name of an address, as EC2 names it (`ip-172-31-0-5.ec2.internal` in us-east-1,
    /// `ip-...<region>.compute.internal` elsewhere).
    pub fn private_dns_name(&self, address: Ipv4Addr) -> String {
        let [a, b, c, d] = address.octets();
        if self.region == "us-east-1" {
            format!("ip-{a}-{b}-{c}-{d}.ec2.internal")
        } else {
            format!("ip-{a}-{b}-{c}-{d}.{}.compute.internal", self.region)
        }
    }

    /// The network interface of the task `task_id` (32 hex digits) at `address` in `subnet`'s slice `slice`.
    pub fn interface(&self, task_id: &str, subnet: &SubnetLayout, slice: Cidr, address: Ipv4Addr) -> Interface {
        Interface {
            id: eni_id(task_id),
            attachment_id: attachment_id(task_id),
            subnet_id: subnet.id.clone(),
            address,
            mac: mac_address(address),
            private_dns_name: self.private_dns_name(address),
            slice,
            gateway: Self::gateway(slice),
        }
    }
}

/// The network interface id of a task: `eni-` and 17 hex digits of its id.
pub fn eni_id(task_id: &str) -> String {
    let hex: String = task_id.chars().filter(char::is_ascii_hexdigit).take(17).collect();
    format!("eni-{hex:0<17}")
}

/// The attachment id of a task's interface: its 32-hex-digit id written as a UUID.
pub fn attachment_id(task_id: &str) -> String {
    let hex: String = task_id.chars().filter(char::is_ascii_hexdigit).take(32).collect();
    let hex = format!("{hex:0<32}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// The MAC address of the interface holding `address`: locally administered (`0a:b7`), then the address's four
/// bytes, so that it is unique in the VPC as the address is.
pub fn mac_address(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("0a:b7:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_vpc_has_aws_shape() {
        let vpc = VpcLayout::default_for("us-east-1", "000000000000");
        assert_eq!(vpc.subnets.len(), 2);
        assert_eq!(vpc.subnets[0].cidr.to_string(), "172.31.0.0/20");
        assert_eq!(vpc.subnets[1].cidr.to_string(), "172.31.16.0/20");
        assert_eq!(vpc.subnets[1].availability_zone, "us-east-1b");
        let slice = vpc.slice(&vpc.subnets[1], 2).unwrap();
        assert_eq!(slice.to_string(), "172.31.18.0/24");
        assert_eq!(VpcLayout::gateway(slice).to_string(), "172.31.18.1");
        let addrs: Vec<_> = VpcLayout::task_addresses(slice).collect();
        assert_eq!(
            (addrs.len(), addrs[0].to_string(), addrs[252].to_string()),
            (253, "172.31.18.2".into(), "172.31.18.254".into())
        );
        assert!(vpc.slice(&vpc.subnets[0], MAX_SLOTS).is_none());
        assert!(VpcLayout::new("us-east-1", "0", Cidr::parse("10.0.0.0/8").unwrap()).is_err());
    }

    #[test]
    fn interfaces_are_named_from_the_task_and_address() {
        let vpc = VpcLayout::default_for("eu-west-1", "000000000000");
        let id = "0123456789abcdef0123456789abcdef";
        let subnet = vpc.subnets[0].clone();
        let slice = vpc.slice(&subnet, 0).unwrap();
        let eni = vpc.interface(id, &subnet, slice, Ipv4Addr::new(172, 31, 0, 7));
        assert_eq!(eni.id, "eni-0123456789abcdef0");
        assert_eq!(eni.attachment_id, "01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(eni.mac, "0a:b7:ac:1f:00:07");
        assert_eq!(eni.private_dns_name, "ip-172-31-0-7.eu-west-1.compute.internal");
        assert_eq!(eni.gateway.to_string(), "172.31.0.1");
    }
}
