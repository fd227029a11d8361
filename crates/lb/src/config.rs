//! The data plane's configuration, shaped after ELBv2's concepts so that a load balancer, its listeners, rules and
//! target groups translate one to one: a [`Config`] is the whole desired state, handed to
//! [`Proxy::apply`](crate::Proxy::apply) as a value. Defaults are ELBv2's (see the `Default` impls).

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// Everything the data plane serves: load balancers (with their listeners and rules) and target groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The load balancers.
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
    /// The target groups the listeners' actions forward to.
    #[serde(default)]
    pub target_groups: Vec<TargetGroup>,
}

/// An application load balancer: an address its listeners bind, and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// A unique id (the ELBv2 ARN, say).
    pub id: String,
    /// The address every listener of this load balancer binds (its port is the listener's).
    pub bind_ip: IpAddr,
    /// `idle_timeout.timeout_seconds` (1-4000, default 60): how long a target may take to answer (else 504), and
    /// how long an upstream connection stays pooled unused.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u32,
    /// The listeners.
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

fn default_idle_timeout() -> u32 {
    60
}

/// A listener: a port, a protocol, rules and a default action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// A unique id (the listener ARN).
    pub id: String,
    /// The port (1-65535).
    pub port: u16,
    /// HTTP or HTTPS.
    pub protocol: ListenerProtocol,
    /// The server certificate of an HTTPS listener.
    #[serde(default)]
    pub certificate: Option<Certificate>,
    /// The rules, evaluated by ascending priority before the default action.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What a request that matches no rule gets (ELBv2's default rule).
    pub default_action: Action,
}

/// A listener's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ListenerProtocol {
    /// Plain HTTP/1.1, and HTTP/2 with prior knowledge (h2c).
    Http,
    /// TLS with ALPN `h2` and `http/1.1`.
    Https,
}

impl ListenerProtocol {
    /// `http` or `https`, as in `X-Forwarded-Proto` and redirects.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// A server certificate: a PEM chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or SEC1).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// The certificate chain, PEM.
    pub chain_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate").field("chain_pem", &self.chain_pem).field("key_pem", &"<redacted>").finish()
    }
}

/// A listener rule: when every condition matches, its action applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A unique id (the rule ARN).
    pub id: String,
    /// 1-50000, unique within the listener; lower is evaluated first.
    pub priority: u32,
    /// The conditions, all of which must match (values within one condition are alternatives).
    pub conditions: Vec<Condition>,
    /// The action.
    pub action: Action,
}

/// A rule condition. Patterns take ELBv2's wildcards: `*` (any run of characters) and `?` (one character).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "field", content = "values")]
pub enum Condition {
    /// The host name (the `Host` header without its port), case-insensitive.
    HostHeader(Vec<String>),
    /// The request path (without the query), case-sensitive.
    PathPattern(Vec<String>),
    /// A header by name (case-insensitive), its values case-insensitive patterns.
    HttpHeader {
        /// The header name.
        name: String,
        /// The patterns.
        values: Vec<String>,
    },
    /// The request method, exact (case-sensitive), e.g. `GET`.
    HttpRequestMethod(Vec<String>),
    /// Query parameters: each pair matches a parameter (key optional), case-insensitive patterns.
    QueryString(Vec<QueryPair>),
    /// The client's address (the connection's source, not `X-Forwarded-For`), in CIDR notation.
    SourceIp(Vec<String>),
}

/// A query-string condition's key/value pattern; no key matches any parameter's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryPair {
    /// The key pattern, if any.
    #[serde(default)]
    pub key: Option<String>,
    /// The value pattern.
    pub value: String,
}

/// What a rule (or a listener's default) does with a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Action {
    /// Forward to one of the target groups, chosen by weight.
    Forward(Forward),
    /// Answer with a fixed response.
    FixedResponse(FixedResponse),
    /// Answer with a redirect.
    Redirect(Redirect),
}

/// A forward action: weighted target groups and optional group stickiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// The target groups (1-5), each with a weight 0-999.
    pub target_groups: Vec<WeightedTargetGroup>,
    /// Group-level stickiness: a client keeps its target group (cookie `AWSALBTG`) for this many seconds
    /// (1-604800); `None` turns it off.
    #[serde(default)]
    pub stickiness_seconds: Option<u32>,
    /// How many requests it has chosen a target group for (not configuration: shared by the clones of one
    /// configuration, it spreads requests over the groups exactly by weight).
    #[serde(skip)]
    pub turns: Turns,
}

/// A request counter shared by the clones of one forward action, starting at a random turn (so that a new
/// configuration does not favour the first group with its first requests). Every counter is equal to every other,
/// so that configurations compare by what they say.
#[derive(Debug, Clone)]
pub struct Turns(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Default for Turns {
    fn default() -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rand::random::<u64>())))
    }
}

impl Turns {
    /// The next turn (0, 1, 2, ...).
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

impl PartialEq for Turns {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A target group in a forward action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedTargetGroup {
    /// The target group's id.
    pub target_group_id: String,
    /// Its weight (0-999); a lone target group may use any weight.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// A fixed-response action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedResponse {
    /// A 2XX, 4XX or 5XX status code.
    pub status_code: u16,
    /// `text/plain`, `text/css`, `text/html`, `application/javascript` or `application/json`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The body (at most 1024 bytes).
    #[serde(default)]
    pub message_body: Option<String>,
}

/// A redirect action. Each part may use `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (without its leading `/`)
/// and `#{query}`; an absent part keeps the request's (`path` defaults to `/#{path}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// `HTTP`, `HTTPS` or `#{protocol}`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// A port or `#{port}`.
    #[serde(default)]
    pub port: Option<String>,
    /// The host.
    #[serde(default)]
    pub host: Option<String>,
    /// The path, starting with `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// The query, without the `?`.
    #[serde(default)]
    pub query: Option<String>,
    /// 301 (`HTTP_301`) or 302 (`HTTP_302`).
    pub status_code: u16,
}

/// A target group: its targets, health check and attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    /// A unique id (the target group ARN).
    pub id: String,
    /// The protocol to the targets: only `HTTP` is supported by this data plane.
    #[serde(default = "default_target_protocol")]
    pub protocol: TargetProtocol,
    /// The health check.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// The attributes.
    #[serde(default)]
    pub attributes: TargetGroupAttributes,
    /// The registered targets.
    #[serde(default)]
    pub targets: Vec<SocketAddr>,
}

fn default_target_protocol() -> TargetProtocol {
    TargetProtocol::Http
}

/// The protocol to a target group's targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TargetProtocol {
    /// HTTP/1.1.
    Http,
    /// HTTPS (refused by [`Proxy::apply`](crate::Proxy::apply): not supported yet).
    Https,
}

/// A target group's active health check (ELBv2's defaults for an HTTP target group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheck {
    /// Whether targets are checked at all; when off, targets report `unavailable` and all receive traffic.
    pub enabled: bool,
    /// `HTTP` only (`HTTPS` checks are refused).
    pub protocol: TargetProtocol,
    /// The path requested (default `/`).
    pub path: String,
    /// The port checked: the target's own (`traffic-port`, `None`) or this one.
    pub port: Option<u16>,
    /// Seconds between checks of one target (5-300, default 30).
    pub interval_seconds: u32,
    /// Seconds a check may take (2-120, default 5, less than the interval).
    pub timeout_seconds: u32,
    /// Consecutive passes that make an unhealthy target healthy (2-10, default 5; a new target needs one).
    pub healthy_threshold: u32,
    /// Consecutive failures that make a target unhealthy (2-10, default 2).
    pub unhealthy_threshold: u32,
    /// Status codes that pass: `200`, `200-299`, `200,302` (default `200`).
    pub matcher: String,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            enabled: true,
            protocol: TargetProtocol::Http,
            path: "/".to_string(),
            port: None,
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: "200".to_string(),
        }
    }
}

/// A target group's attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetGroupAttributes {
    /// `deregistration_delay.timeout_seconds` (0-3600, default 300).
    pub deregistration_delay_seconds: u32,
    /// `slow_start.duration_seconds` (0 = off, else 30-900).
    pub slow_start_seconds: u32,
    /// `load_balancing.algorithm.type`.
    pub algorithm: Algorithm,
    /// `stickiness.enabled` with `stickiness.type` `lb_cookie`: the duration (1-604800 s) of the `AWSALB` cookie.
    pub stickiness_seconds: Option<u32>,
}

impl Default for TargetGroupAttributes {
    fn default() -> Self {
        Self {
            deregistration_delay_seconds: 300,
            slow_start_seconds: 0,
            algorithm: Algorithm::RoundRobin,
            stickiness_seconds: None,
        }
    }
}

/// How a target group picks among its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// In turn (weighted while targets are in slow start).
    #[default]
    RoundRobin,
    /// The target with the fewest requests in progress.
    LeastOutstandingRequests,
}
