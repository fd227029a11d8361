//! [`ElbView`]: a plain, cloneable description of every load balancer, listener, rule and target group, which
//! the data plane configures itself from (and re-reads when [`crate::Elb::subscribe`]'s generation changes).

use crate::actions::Action;
use crate::attributes::{self, Of};
use crate::conditions::Condition;
use crate::health::HealthCheck;
use crate::records::TargetRecord;
use crate::state::State;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The whole configuration at one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct ElbView {
    /// The generation it was taken at.
    pub generation: u64,
    /// Load balancers, by ARN.
    pub load_balancers: Vec<LoadBalancerView>,
    /// Target groups, by ARN.
    pub target_groups: Vec<TargetGroupView>,
}

/// A load balancer and its listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancerView {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// The address to serve it on.
    pub address: Ipv4Addr,
    /// Its DNS name.
    pub dns_name: String,
    /// Every attribute (defaults included).
    pub attributes: BTreeMap<String, String>,
    /// Its listeners, by port.
    pub listeners: Vec<ListenerView>,
}

/// A listener and its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerView {
    /// Its ARN.
    pub arn: String,
    /// The port.
    pub port: u16,
    /// The protocol (`HTTP` or `HTTPS`).
    pub protocol: String,
    /// An HTTPS listener's certificate (an ACM certificate ARN).
    pub certificate_arn: Option<String>,
    /// An HTTPS listener's SslPolicy name.
    pub ssl_policy: Option<String>,
    /// Its rules by priority, the default rule last.
    pub rules: Vec<RuleView>,
}

/// A rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleView {
    /// Its ARN.
    pub arn: String,
    /// Its priority; `None` for the default rule.
    pub priority: Option<u32>,
    /// Its conditions (none for the default rule).
    pub conditions: Vec<Condition>,
    /// Its actions.
    pub actions: Vec<Action>,
}

/// A target group and its targets.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupView {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// `HTTP` or `HTTPS`: how the data plane talks to targets.
    pub protocol: String,
    /// The default target port.
    pub port: u16,
    /// `instance` or `ip`.
    pub target_type: String,
    /// The health check.
    pub health_check: HealthCheck,
    /// Every attribute (defaults included).
    pub attributes: BTreeMap<String, String>,
    /// Registered targets, draining ones with `draining_until` set (send them no new requests).
    pub targets: Vec<TargetRecord>,
}

impl ElbView {
    pub(crate) fn new(state: &State, generation: u64, now: f64) -> Self {
        let load_balancers = state
            .load_balancers
            .values()
            .map(|lb| LoadBalancerView {
                arn: lb.arn.clone(),
                name: lb.name.clone(),
                address: lb.address,
                dns_name: lb.dns_name.clone(),
                attributes: attributes::all(Of::LoadBalancer, &lb.attributes).into_iter().collect(),
                listeners: state
                    .listeners_of(&lb.arn)
                    .into_iter()
                    .map(|l| {
                        let mut rules: Vec<RuleView> = state
                            .rules_of(&l.arn)
                            .into_iter()
                            .map(|r| RuleView {
                                arn: r.arn.clone(),
                                priority: Some(r.priority),
                                conditions: r.conditions.clone(),
                                actions: r.actions.clone(),
                            })
                            .collect();
                        rules.push(RuleView {
                            arn: l.default_rule_arn.clone(),
                            priority: None,
                            conditions: Vec::new(),
                            actions: l.default_actions.clone(),
                        });
                        ListenerView {
                            arn: l.arn.clone(),
                            port: l.port,
                            protocol: l.protocol.clone(),
                            certificate_arn: l.certificate_arn.clone(),
                            ssl_policy: l.ssl_policy.clone(),
                            rules,
                        }
                    })
                    .collect(),
            })
            .collect();
        let target_groups = state
            .target_groups
            .values()
            .map(|tg| TargetGroupView {
                arn: tg.arn.clone(),
                name: tg.name.clone(),
                protocol: tg.protocol.clone(),
                port: tg.port,
                target_type: tg.target_type.clone(),
                health_check: tg.health_check.clone(),
                attributes: attributes::all(Of::TargetGroup, &tg.attributes).into_iter().collect(),
                targets: tg.targets.iter().filter(|t| t.draining_until.is_none_or(|u| u > now)).cloned().collect(),
            })
            .collect();
        Self { generation, load_balancers, target_groups }
    }

    /// A target group by ARN.
    pub fn target_group(&self, arn: &str) -> Option<&TargetGroupView> {
        self.target_groups.iter().find(|t| t.arn == arn)
    }
}
