//! Berth's networking for `awsvpc` tasks: the default VPC, its subnets and each host's slice of them, task
//! network interfaces, security groups, and the EC2 networking API subset tools use to find them.
//!
//! # Background
//! On ECS an `awsvpc` task gets its own elastic network interface in one of the subnets its
//! `networkConfiguration` names, with the security groups it names. Berth has no EC2 underneath: it defines one
//! default VPC itself ([`layout`]) and turns each subnet into a Docker bridge network on each host, a `/24` slice
//! per host, so that a task's address is unique in the VPC and routable between hosts.
//!
//! # Design
//! - [`layout`]: the VPC's shape (AWS's default VPC: a `/16`, a `/20` subnet per Availability Zone), the per-host
//!   slices, and the names of a task's interface (`eni-...`, its attachment, MAC and private DNS name).
//! - [`cidr`]: IPv4 network arithmetic (`berth_model::cidr`, shared with ELBv2).
//! - [`groups`]: security group records under `/vpc/sg/` and EC2's rules for authorizing and revoking.
//! - [`Vpc`] ([`service`]): the groups in memory, written through to the store under one write lock, the
//!   interfaces the control plane reports ([`InterfaceSource`]), and the [`SecurityGroupDirectory`] the control
//!   plane validates `securityGroups` with and resolves ingress rules from.
//! - [`ec2`]: the EC2 actions on the EC2 query protocol ([`form`] in, [`xml`] out).
//!
//! # Limitations
//! One VPC (the default one); no IPv6; two Availability Zones; at most [`layout::MAX_SLOTS`] hosts hold a slice.
//! Security groups are read at open and written through by this server: a second server does not see another's
//! changes until it restarts. Egress rules are enforced by the agent too when a task's groups restrict egress.

pub mod ec2;
pub mod form;
pub mod groups;
pub mod layout;
pub mod service;
pub mod xml;

pub use berth_model::cidr::{self, Cidr};
pub use layout::{Interface, SubnetLayout, VpcLayout};
pub use service::{InterfaceSource, InterfaceView, Vpc, VpcError};

/// Where the control plane looks security groups up (the EC2 API's store implements it; without one, only each
/// VPC's default group exists).
pub trait SecurityGroupDirectory: Send + Sync {
    /// The VPC of the security group `id`, or `None` when there is no such group.
    fn group_vpc(&self, id: &str) -> Option<String>;

    /// The ingress permissions of the security group `id` (empty when there is no such group).
    fn ingress(&self, id: &str) -> Vec<Permission> {
        let _ = id;
        Vec::new()
    }

    /// The egress permissions of the security group `id` (a directory that does not know them allows all egress).
    fn egress(&self, id: &str) -> Vec<Permission> {
        let _ = id;
        vec![Permission {
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidrs: vec!["0.0.0.0/0".into()],
            groups: Vec::new(),
        }]
    }
}

/// One permission of a security group rule, in EC2's terms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    /// The first port (`None`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// The last port (`None`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// Source IPv4 networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
    /// Source security groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}
