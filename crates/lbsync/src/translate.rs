//! [`translate`]: an [`ElbView`] (the ELBv2 records) into the proxy's [`Config`], one to one where the data plane
//! has the concept, with a [`Problem`] for each piece it cannot serve (that piece is left out, never guessed).

use berth_elb::actions::{Action as ElbAction, ActionKind};
use berth_elb::conditions::Condition as ElbCondition;
use berth_elb::{ElbView, ListenerView, LoadBalancerView, TargetGroupView};
use berth_lb::config::{
    Action, Algorithm, Certificate, Condition, Config, FixedResponse, Forward, HealthCheck, Listener, ListenerProtocol,
    LoadBalancer, QueryPair, Redirect, Rule, TargetGroup, TargetGroupAttributes, TargetProtocol, WeightedTargetGroup,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, SocketAddr};

/// Where an `instance` target's traffic goes: the host address of a container instance, by its `ec2InstanceId`.
pub trait InstanceAddresses: Send + Sync + 'static {
    /// The address of the container instance with this `ec2InstanceId`; `None` when no instance has that id.
    fn address(&self, ec2_instance_id: &str) -> Option<IpAddr>;
}

/// Where HTTPS listeners' certificates come from (ACM in `berth server`): the PEM chain and decrypted key of a
/// certificate ARN, and a notification when any certificate changes (a re-import).
pub trait CertificateSource: Send + Sync + 'static {
    /// The certificate (leaf first, then its chain) and its private key; the error says why it cannot be had.
    fn certificate<'a>(
        &'a self,
        arn: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Certificate, String>> + Send + 'a>>;
    /// A receiver whose value changes after every change of a certificate.
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;
}

/// The certificates of the HTTPS listeners, by ARN, as fetched for one translation.
pub type Certificates = BTreeMap<String, Result<Certificate, String>>;

/// A registered target as the API names it: target group ARN, target id, port.
pub type TargetKey = (String, String, u16);

/// Something in the records the data plane does not serve, with what was left out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem(pub String);

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome of [`translate`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translation {
    /// What the proxy should serve.
    pub config: Config,
    /// Each registered (not draining) target's resolved address.
    pub addresses: BTreeMap<TargetKey, SocketAddr>,
    /// What was left out, and why.
    pub problems: Vec<Problem>,
}

/// Translates the records. Draining targets are left out of the target lists: the proxy drains a target that
/// leaves its group for the group's deregistration delay, which is what ELBv2 does with a deregistered one.
pub fn translate(view: &ElbView, instances: &dyn InstanceAddresses) -> Translation {
    translate_with(view, instances, &Certificates::new())
}

/// The certificate ARNs the view's HTTPS listeners serve.
pub fn certificate_arns(view: &ElbView) -> BTreeSet<String> {
    view.load_balancers
        .iter()
        .flat_map(|lb| &lb.listeners)
        .filter(|l| l.protocol == "HTTPS")
        .filter_map(|l| l.certificate_arn.clone())
        .collect()
}

/// [`translate`], with the HTTPS listeners' certificates (an HTTPS listener whose certificate is missing from
/// `certificates`, or failed to load, is a [`Problem`] and is left out).
pub fn translate_with(view: &ElbView, instances: &dyn InstanceAddresses, certificates: &Certificates) -> Translation {
    let mut out = Translation::default();
    let mut served_groups = HashSet::new();
    for tg in &view.target_groups {
        if let Some(group) = target_group(tg, instances, &mut out) {
            served_groups.insert(group.id.clone());
            out.config.target_groups.push(group);
        }
    }
    for lb in &view.load_balancers {
        out.config.load_balancers.push(load_balancer(lb, &served_groups, certificates, &mut out.problems));
    }
    out
}

fn target_group(tg: &TargetGroupView, instances: &dyn InstanceAddresses, out: &mut Translation) -> Option<TargetGroup> {
    let problems = &mut out.problems;
    if tg.protocol != "HTTP" || tg.health_check.protocol != "HTTP" {
        problems.push(Problem(format!(
            "target group {} ({}): the HTTPS protocol to targets is not supported by Berth's load balancer; \
             listeners that forward to it are not served",
            tg.name, tg.arn
        )));
        return None;
    }
    let hc = &tg.health_check;
    let health_check = HealthCheck {
        enabled: hc.enabled,
        protocol: TargetProtocol::Http,
        path: hc.path.clone(),
        port: hc.port.parse().ok(),
        interval_seconds: hc.interval_seconds,
        timeout_seconds: hc.timeout_seconds,
        healthy_threshold: hc.healthy_threshold,
        unhealthy_threshold: hc.unhealthy_threshold,
        matcher: hc.matcher.clone(),
    };
    let attributes = group_attributes(tg, problems);
    let mut targets = Vec::new();
    for t in tg.targets.iter().filter(|t| t.draining_until.is_none()) {
        let ip = if tg.target_type == "instance" { instances.address(&t.id) } else { t.id.parse::<IpAddr>().ok() };
        let Some(ip) = ip else {
            problems.push(Problem(format!(
                "target group {}: target {}:{} has no known address (no container instance has that \
                 ec2InstanceId); it gets no traffic",
                tg.name, t.id, t.port
            )));
            continue;
        };
        let addr = SocketAddr::new(ip, t.port);
        out.addresses.insert((tg.arn.clone(), t.id.clone(), t.port), addr);
        if !targets.contains(&addr) {
            targets.push(addr);
        }
    }
    Some(TargetGroup { id: tg.arn.clone(), protocol: TargetProtocol::Http, health_check, attributes, targets })
}

fn group_attributes(tg: &TargetGroupView, problems: &mut Vec<Problem>) -> TargetGroupAttributes {
    let get = |k: &str| tg.attributes.get(k).map(String::as_str).unwrap_or_default();
    let number = |k: &str, default: u32| get(k).parse::<u32>().unwrap_or(default);
    let defaults = TargetGroupAttributes::default();
    let algorithm = match get("load_balancing.algorithm.type") {
        "least_outstanding_requests" => Algorithm::LeastOutstandingRequests,
        "round_robin" | "" => Algorithm::RoundRobin,
        other => {
            problems.push(Problem(format!(
                "target group {}: load_balancing.algorithm.type '{other}' is not supported by Berth's load \
                 balancer; it balances round robin",
                tg.name
            )));
            Algorithm::RoundRobin
        }
    };
    let stickiness_seconds = match (get("stickiness.enabled"), get("stickiness.type")) {
        ("true", "lb_cookie" | "") => Some(number("stickiness.lb_cookie.duration_seconds", 86_400)),
        ("true", other) => {
            problems.push(Problem(format!(
                "target group {}: stickiness.type '{other}' is not supported by Berth's load balancer; requests \
                 are not sticky",
                tg.name
            )));
            None
        }
        _ => None,
    };
    TargetGroupAttributes {
        deregistration_delay_seconds: number(
            "deregistration_delay.timeout_seconds",
            defaults.deregistration_delay_seconds,
        ),
        slow_start_seconds: number("slow_start.duration_seconds", 0),
        algorithm,
        stickiness_seconds,
    }
}

fn load_balancer(
    lb: &LoadBalancerView,
    groups: &HashSet<String>,
    certificates: &Certificates,
    problems: &mut Vec<Problem>,
) -> LoadBalancer {
    let idle = lb.attributes.get("idle_timeout.timeout_seconds").and_then(|v| v.parse().ok()).unwrap_or(60);
    let listeners =
        lb.listeners.iter().filter_map(|l| listener(lb, l, groups, certificates).map_err(|p| problems.push(p)).ok());
    LoadBalancer {
        id: lb.arn.clone(),
        bind_ip: IpAddr::V4(lb.address),
        idle_timeout_seconds: idle,
        listeners: listeners.collect(),
    }
}

fn listener(
    lb: &LoadBalancerView,
    l: &ListenerView,
    groups: &HashSet<String>,
    certificates: &Certificates,
) -> Result<Listener, Problem> {
    let refuse = |why: String| {
        Problem(format!(
            "listener {} (port {}) of load balancer {}: {why}; the listener is not served",
            l.arn, l.port, lb.name
        ))
    };
    let (protocol, certificate) = match l.protocol.as_str() {
        "HTTP" => (ListenerProtocol::Http, None),
        "HTTPS" => {
            let arn = l.certificate_arn.as_deref().ok_or_else(|| refuse("it has no certificate".into()))?;
            match certificates.get(arn) {
                Some(Ok(c)) => (ListenerProtocol::Https, Some(c.clone())),
                Some(Err(why)) => return Err(refuse(format!("its certificate {arn} cannot be loaded: {why}"))),
                None => return Err(refuse(format!("its certificate {arn} is not available"))),
            }
        }
        other => return Err(refuse(format!("protocol {other} is not supported"))),
    };
    let mut rules = Vec::new();
    let mut default_action = None;
    for r in &l.rules {
        let action = action(&r.actions, groups).map_err(|why| refuse(format!("rule {}: {why}", r.arn)))?;
        match r.priority {
            Some(priority) => rules.push(Rule {
                id: r.arn.clone(),
                priority,
                conditions: r.conditions.iter().map(condition).collect(),
                action,
            }),
            None => default_action = Some(action),
        }
    }
    let default_action = default_action.ok_or_else(|| refuse("it has no default rule".into()))?;
    Ok(Listener { id: l.arn.clone(), port: l.port, protocol, certificate, rules, default_action })
}

/// A rule's action: its last one (ELBv2 allows one forward, redirect or fixed-response, last).
fn action(actions: &[ElbAction], groups: &HashSet<String>) -> Result<Action, String> {
    let mut sorted: Vec<&ElbAction> = actions.iter().collect();
    sorted.sort_by_key(|a| a.order.unwrap_or(i32::MAX));
    let a = sorted.last().ok_or("it has no action")?;
    Ok(match &a.kind {
        ActionKind::Forward { target_groups, stickiness } => {
            if let Some(g) = target_groups.iter().find(|g| !groups.contains(&g.arn)) {
                return Err(format!("it forwards to target group {}, which is not served", g.arn));
            }
            Action::Forward(Forward {
                target_groups: target_groups
                    .iter()
                    .map(|g| WeightedTargetGroup { target_group_id: g.arn.clone(), weight: g.weight })
                    .collect(),
                stickiness_seconds: *stickiness,
                turns: Default::default(),
            })
        }
        ActionKind::FixedResponse { status_code, content_type, message_body } => Action::FixedResponse(FixedResponse {
            status_code: status_code.parse().map_err(|_| format!("status code '{status_code}' is not a number"))?,
            content_type: content_type.clone(),
            message_body: message_body.clone(),
        }),
        ActionKind::Redirect { protocol, port, host, path, query, status_code } => Action::Redirect(Redirect {
            protocol: protocol.clone(),
            port: port.clone(),
            host: host.clone(),
            path: path.clone(),
            query: query.clone(),
            status_code: *status_code,
        }),
    })
}

fn condition(c: &ElbCondition) -> Condition {
    match c {
        ElbCondition::PathPattern { values } => Condition::PathPattern(values.clone()),
        ElbCondition::HostHeader { values } => Condition::HostHeader(values.clone()),
        ElbCondition::HttpHeader { name, values } => {
            Condition::HttpHeader { name: name.clone(), values: values.clone() }
        }
        ElbCondition::HttpRequestMethod { values } => Condition::HttpRequestMethod(values.clone()),
        ElbCondition::QueryString { values } => Condition::QueryString(
            values.iter().map(|p| QueryPair { key: p.key.clone(), value: p.value.clone() }).collect(),
        ),
        ElbCondition::SourceIp { values } => Condition::SourceIp(values.clone()),
    }
}

/// The problems as a set, to log only what changed.
pub(crate) fn problem_set(problems: &[Problem]) -> BTreeSet<Problem> {
    problems.iter().cloned().collect()
}
