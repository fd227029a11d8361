//! [`ElbConfig`] and Berth's provisional network: one default VPC with two subnets in two Availability Zones.
//!
//! Berth has no VPCs yet. Until the networking work defines real ones, every load balancer and target group lives
//! in the VPC and subnets named here; the identifiers are fixed so that scripts written against one Berth work
//! against another.

use std::net::Ipv4Addr;

/// The default VPC's id.
pub const VPC_ID: &str = "vpc-0be7f000000000001";
/// The default VPC's security group (given to a load balancer created without one).
pub const DEFAULT_SECURITY_GROUP: &str = "sg-0be7f000000000001";
/// The two subnets and the suffix of their Availability Zone (`<region>a`, `<region>b`).
pub const SUBNETS: [(&str, &str); 2] = [("subnet-0be7f00000000000a", "a"), ("subnet-0be7f00000000000b", "b")];
/// The hosted zone id every load balancer shows (Berth's DNS, not Route 53, will answer for its names).
pub const CANONICAL_HOSTED_ZONE_ID: &str = "Z0BERTHELB00001";
/// The domain of load balancer DNS names: `<name>-<10 digits>.<region>.elb.berth.internal`.
pub const DNS_SUFFIX: &str = "elb.berth.internal";

pub use berth_model::cidr::Cidr;

/// The ELBv2 service's settings.
#[derive(Debug, Clone)]
pub struct ElbConfig {
    /// The region in ARNs and names.
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
    /// Where each load balancer's own address comes from (default `127.0.1.0/24`): one address per load balancer,
    /// kept in its record, which the data plane listens on.
    pub address_range: Cidr,
    /// The default VPC's CIDR (default `172.16.0.0/12`, Docker's default bridge pools): `ip` targets must be
    /// inside it unless registered with `AvailabilityZone: all`.
    pub vpc_cidr: Cidr,
    /// The CIDR of Berth's VPC (`--vpc-cidr`), where awsvpc tasks get their addresses: `ip` targets there are in
    /// the VPC too, whether or not it lies inside `vpc_cidr`.
    pub awsvpc_cidr: Option<Cidr>,
}

impl ElbConfig {
    /// Defaults for a region and account.
    pub fn new(region: &str, account_id: &str) -> Self {
        Self {
            region: region.to_string(),
            account_id: account_id.to_string(),
            address_range: Cidr { network: Ipv4Addr::new(127, 0, 1, 0), prefix: 24 },
            vpc_cidr: Cidr { network: Ipv4Addr::new(172, 16, 0, 0), prefix: 12 },
            awsvpc_cidr: None,
        }
    }

    /// Whether an `ip` target's address is in the VPC.
    pub fn in_vpc(&self, addr: Ipv4Addr) -> bool {
        self.vpc_cidr.contains(addr) || self.awsvpc_cidr.is_some_and(|c| c.contains(addr))
    }

    /// The Availability Zone of a subnet of the default VPC.
    pub fn zone_of(&self, subnet: &str) -> Option<String> {
        SUBNETS.iter().find(|(s, _)| *s == subnet).map(|(_, z)| format!("{}{z}", self.region))
    }

    /// The Availability Zones of the default VPC.
    pub fn zones(&self) -> Vec<String> {
        SUBNETS.iter().map(|(_, z)| format!("{}{z}", self.region)).collect()
    }
}

/// The networks an `ip` target outside the VPC may be in (`AvailabilityZone: all`): RFC 1918, RFC 6598 and, as a
/// Berth extension for one-machine set-ups, loopback.
pub fn outside_vpc_ok(addr: Ipv4Addr) -> bool {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8"]
        .iter()
        .filter_map(|c| Cidr::parse(c))
        .any(|c| c.contains(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("127.0.1.0/24").unwrap();
        assert!(c.contains(Ipv4Addr::new(127, 0, 1, 9)) && !c.contains(Ipv4Addr::new(127, 0, 2, 1)));
        let hosts: Vec<_> = c.hosts().collect();
        assert_eq!(
            (hosts.len(), hosts[0], hosts[253]),
            (254, Ipv4Addr::new(127, 0, 1, 1), Ipv4Addr::new(127, 0, 1, 254))
        );
        assert_eq!(Cidr::parse("10.0.0.1/8"), None);
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("10.0.0.0/32").unwrap().hosts().count(), 1);
        assert!(outside_vpc_ok(Ipv4Addr::new(192, 168, 3, 4)) && !outside_vpc_ok(Ipv4Addr::new(8, 8, 8, 8)));
        assert_eq!(ElbConfig::new("us-east-1", "1").zone_of(SUBNETS[1].0).as_deref(), Some("us-east-1b"));
    }

    #[test]
    fn ip_targets_may_be_in_the_awsvpc_cidr_as_well() {
        let mut config = ElbConfig::new("us-east-1", "1");
        let task = Ipv4Addr::new(10, 70, 0, 5);
        assert!(config.in_vpc(Ipv4Addr::new(172, 17, 0, 2)) && !config.in_vpc(task));
        config.awsvpc_cidr = Cidr::parse("10.70.0.0/16");
        assert!(config.in_vpc(task) && config.in_vpc(Ipv4Addr::new(172, 17, 0, 2)));
        assert!(!config.in_vpc(Ipv4Addr::new(10, 71, 0, 5)));
    }
}
