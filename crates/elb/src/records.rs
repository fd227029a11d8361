//! What ELBv2 keeps in `berth_store`, under `/elb/`: load balancers, listeners, rules and target groups (with their
//! registered targets), as JSON records (schema 1) keyed by the random id at the end of their ARN. These typed
//! records, not the generated wire shapes, are what is on disk and what the data plane reads ([`crate::ElbView`]).

use crate::actions::Action;
use crate::conditions::Condition;
use crate::health::HealthCheck;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The root of every key.
pub const PREFIX: &str = "/elb/";
/// The schema version written in every record.
pub const SCHEMA: u32 = 1;

/// Tags, by key.
pub type Tags = BTreeMap<String, String>;

/// An application load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerRecord {
    /// The record's schema version.
    pub schema: u32,
    /// LoadBalancerArn.
    pub arn: String,
    /// LoadBalancerName.
    pub name: String,
    /// Whether the scheme is `internal` (else `internet-facing`).
    pub internal: bool,
    /// SecurityGroups, as given. Berth does not filter the load balancer's own ingress by them; awsvpc tasks whose
    /// ingress rules name one of them let the load balancer's traffic in.
    pub security_groups: Vec<String>,
    /// The subnets (of [`crate::config::SUBNETS`]).
    pub subnets: Vec<String>,
    /// The address the data plane serves this load balancer on.
    pub address: Ipv4Addr,
    /// DNSName.
    pub dns_name: String,
    /// CreatedTime (epoch seconds).
    pub created: f64,
    /// Attributes that differ from the defaults ([`crate::attributes`]).
    pub attributes: BTreeMap<String, String>,
    /// Tags.
    pub tags: Tags,
}

/// A listener: a port and protocol on a load balancer, with its default actions and default rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerRecord {
    /// The record's schema version.
    pub schema: u32,
    /// ListenerArn.
    pub arn: String,
    /// Its load balancer's ARN.
    pub load_balancer_arn: String,
    /// Port.
    pub port: u16,
    /// Protocol (`HTTP` or `HTTPS`).
    pub protocol: String,
    /// An HTTPS listener's default certificate (an ACM certificate ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    /// An HTTPS listener's SslPolicy (a predefined policy's name, [`crate::ssl_policies`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    /// DefaultActions (the default rule's actions).
    pub default_actions: Vec<Action>,
    /// The default rule's ARN.
    pub default_rule_arn: String,
    /// Tags of the listener.
    pub tags: Tags,
    /// Tags of the default rule.
    #[serde(default)]
    pub default_rule_tags: Tags,
}

/// A listener rule other than the default one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    /// The record's schema version.
    pub schema: u32,
    /// RuleArn.
    pub arn: String,
    /// Its listener's ARN.
    pub listener_arn: String,
    /// Priority (1-50000; lowest first).
    pub priority: u32,
    /// Conditions (all must match).
    pub conditions: Vec<Condition>,
    /// Actions.
    pub actions: Vec<Action>,
    /// Tags.
    pub tags: Tags,
}

/// A registered target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// Id: an instance id (`instance` target groups) or an IPv4 address (`ip`).
    pub id: String,
    /// Port (the target group's when not given).
    pub port: u16,
    /// AvailabilityZone as given (`all` for an `ip` target outside the VPC).
    pub availability_zone: Option<String>,
    /// When it was registered.
    pub registered: f64,
    /// While draining: when the deregistration delay ends (the target is gone after it).
    pub draining_until: Option<f64>,
}

/// A target group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupRecord {
    /// The record's schema version.
    pub schema: u32,
    /// TargetGroupArn.
    pub arn: String,
    /// TargetGroupName.
    pub name: String,
    /// Protocol (`HTTP` or `HTTPS`).
    pub protocol: String,
    /// ProtocolVersion (`HTTP1`).
    pub protocol_version: String,
    /// Port.
    pub port: u16,
    /// VpcId.
    pub vpc_id: String,
    /// TargetType: `instance` or `ip`.
    pub target_type: String,
    /// The health check.
    pub health_check: HealthCheck,
    /// Attributes that differ from the defaults ([`crate::attributes`]).
    pub attributes: BTreeMap<String, String>,
    /// Registered (and draining) targets.
    pub targets: Vec<TargetRecord>,
    /// When it was created.
    pub created: f64,
    /// Tags.
    pub tags: Tags,
}

/// The random id at the end of an ARN (its record's key).
pub fn id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The key of a load balancer.
pub fn lb_key(arn: &str) -> String {
    format!("{PREFIX}lb/{}", id_of(arn))
}

/// The key of a listener.
pub fn listener_key(arn: &str) -> String {
    format!("{PREFIX}listener/{}", id_of(arn))
}

/// The key of a rule.
pub fn rule_key(arn: &str) -> String {
    format!("{PREFIX}rule/{}", id_of(arn))
}

/// The key of a target group.
pub fn tg_key(arn: &str) -> String {
    format!("{PREFIX}tg/{}", id_of(arn))
}

/// A new 16-hex-digit resource id, as ELBv2 puts at the end of its ARNs.
pub fn new_id() -> String {
    berth_model::ids::new_hex_id()[..16].to_string()
}
