//! Rule evaluation: a listener's rules, compiled once per configuration and evaluated by ascending priority.
//! Conditions of a rule are AND-ed, values within a condition OR-ed; the default action comes last.

use crate::config::{Action, Condition, QueryPair, Rule};
use crate::error::{LbError, invalid};
use crate::wildcard::matches;
use http::HeaderMap;
use http::header::HeaderName;
use std::net::IpAddr;
use std::sync::Arc;

/// A CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::y/n`; the address must be the network's (no host bits), as ELBv2 requires.
    pub(crate) fn parse(text: &str) -> Result<Self, LbError> {
        let bad = || invalid!("'{text}' is not a valid CIDR block");
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        let cidr = Self { net, prefix };
        if !cidr.contains(net) || mask(net, prefix) != net {
            return Err(invalid!("'{text}' is not a valid CIDR block: the address has bits set beyond the prefix"));
        }
        Ok(cidr)
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (ip, self.net) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => mask(ip, self.prefix) == self.net,
            _ => false,
        }
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// A condition ready to evaluate.
#[derive(Debug)]
enum Compiled {
    Host(Vec<String>),
    Path(Vec<String>),
    Header(HeaderName, Vec<String>),
    Method(Vec<String>),
    Query(Vec<QueryPair>),
    Source(Vec<Cidr>),
}

/// A rule ready to evaluate.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    priority: u32,
    conditions: Vec<Compiled>,
    action: Arc<Action>,
}

/// What routing looks at in a request.
pub(crate) struct RequestView<'a> {
    /// The method.
    pub method: &'a str,
    /// The host name, without a port.
    pub host: &'a str,
    /// The path.
    pub path: &'a str,
    /// The raw query, without `?`.
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The client's address.
    pub client: IpAddr,
}

/// Compiles a listener's rules (checked by validation first), sorted by priority.
pub(crate) fn compile(rules: &[Rule]) -> Result<Vec<CompiledRule>, LbError> {
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules {
        let mut conditions = Vec::with_capacity(rule.conditions.len());
        for c in &rule.conditions {
            conditions.push(match c {
                Condition::HostHeader(v) => Compiled::Host(v.clone()),
                Condition::PathPattern(v) => Compiled::Path(v.clone()),
                Condition::HttpHeader { name, values } => {
                    let name = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| invalid!("rule {}: '{name}' is not a valid header name", rule.id))?;
                    Compiled::Header(name, values.clone())
                }
                Condition::HttpRequestMethod(v) => Compiled::Method(v.clone()),
                Condition::QueryString(v) => Compiled::Query(v.clone()),
                Condition::SourceIp(v) => Compiled::Source(v.iter().map(|s| Cidr::parse(s)).collect::<Result<_, _>>()?),
            });
        }
        out.push(CompiledRule { priority: rule.priority, conditions, action: Arc::new(rule.action.clone()) });
    }
    out.sort_by_key(|r| r.priority);
    Ok(out)
}

/// The action for a request: the first rule (by priority) whose conditions all match, else `default`.
pub(crate) fn route<'a>(rules: &'a [CompiledRule], default: &'a Arc<Action>, req: &RequestView<'_>) -> &'a Arc<Action> {
    rules.iter().find(|r| r.conditions.iter().all(|c| condition_matches(c, req))).map_or(default, |r| &r.action)
}

fn condition_matches(c: &Compiled, req: &RequestView<'_>) -> bool {
    match c {
        Compiled::Host(v) => v.iter().any(|p| matches(p, req.host, true)),
        Compiled::Path(v) => v.iter().any(|p| matches(p, req.path, false)),
        Compiled::Header(name, v) => req
            .headers
            .get_all(name)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .any(|h| v.iter().any(|p| matches(p, h, true))),
        Compiled::Method(v) => v.iter().any(|m| m == req.method),
        Compiled::Query(pairs) => {
            let params = query_pairs(req.query);
            pairs.iter().any(|pair| {
                params.iter().any(|(k, val)| {
                    pair.key.as_ref().is_none_or(|kp| matches(kp, k, true)) && matches(&pair.value, val, true)
                })
            })
        }
        Compiled::Source(v) => v.iter().any(|c| c.contains(req.client)),
    }
}

/// The query's `key=value` pairs, percent-decoded (a parameter without `=` has an empty value).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FixedResponse;

    fn fixed(code: u16) -> Action {
        Action::FixedResponse(FixedResponse { status_code: code, content_type: None, message_body: None })
    }

    fn rule(priority: u32, conditions: Vec<Condition>, code: u16) -> Rule {
        Rule { id: format!("r{priority}"), priority, conditions, action: fixed(code) }
    }

    fn code(a: &Action) -> u16 {
        match a {
            Action::FixedResponse(f) => f.status_code,
            _ => 0,
        }
    }

    fn view<'a>(
        method: &'a str,
        host: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a HeaderMap,
    ) -> RequestView<'a> {
        RequestView { method, host, path, query, headers, client: "10.1.2.3".parse().unwrap() }
    }

    #[test]
    fn lowest_priority_first_then_default() {
        let rules = compile(&[
            rule(20, vec![Condition::PathPattern(vec!["/api/*".into()])], 220),
            rule(10, vec![Condition::PathPattern(vec!["/api/v2/*".into()])], 210),
        ])
        .unwrap();
        let default = Arc::new(fixed(404));
        let h = HeaderMap::new();
        assert_eq!(code(route(&rules, &default, &view("GET", "a", "/api/v2/x", "", &h))), 210);
        assert_eq!(code(route(&rules, &default, &view("GET", "a", "/api/v1/x", "", &h))), 220);
        assert_eq!(code(route(&rules, &default, &view("GET", "a", "/other", "", &h))), 404);
    }

    #[test]
    fn conditions_and_values_or() {
        let rules = compile(&[rule(
            1,
            vec![
                Condition::HostHeader(vec!["*.example.com".into(), "example.org".into()]),
                Condition::HttpRequestMethod(vec!["GET".into(), "HEAD".into()]),
            ],
            201,
        )])
        .unwrap();
        let d = Arc::new(fixed(404));
        let h = HeaderMap::new();
        assert_eq!(code(route(&rules, &d, &view("GET", "WWW.Example.com", "/", "", &h))), 201);
        assert_eq!(code(route(&rules, &d, &view("HEAD", "example.org", "/", "", &h))), 201);
        assert_eq!(code(route(&rules, &d, &view("POST", "www.example.com", "/", "", &h))), 404);
        assert_eq!(code(route(&rules, &d, &view("get", "www.example.com", "/", "", &h))), 404);
        assert_eq!(code(route(&rules, &d, &view("GET", "example.net", "/", "", &h))), 404);
    }

    #[test]
    fn header_query_and_source() {
        let rules = compile(&[
            rule(1, vec![Condition::HttpHeader { name: "X-Canary".into(), values: vec!["yes*".into()] }], 201),
            rule(
                2,
                vec![Condition::QueryString(vec![
                    QueryPair { key: Some("v".into()), value: "2".into() },
                    QueryPair { key: None, value: "beta?".into() },
                ])],
                202,
            ),
            rule(3, vec![Condition::SourceIp(vec!["192.168.0.0/16".into(), "10.1.0.0/16".into()])], 203),
        ])
        .unwrap();
        let d = Arc::new(fixed(404));
        let mut h = HeaderMap::new();
        h.insert("x-canary", "YES-please".parse().unwrap());
        assert_eq!(code(route(&rules, &d, &view("GET", "a", "/", "", &h))), 201);
        let h = HeaderMap::new();
        assert_eq!(code(route(&rules, &d, &view("GET", "a", "/", "a=1&V=2", &h))), 202);
        assert_eq!(code(route(&rules, &d, &view("GET", "a", "/", "x=Beta1", &h))), 202);
        assert_eq!(code(route(&rules, &d, &view("GET", "a", "/", "x=beta%31", &h))), 202);
        // the client 10.1.2.3 is in 10.1.0.0/16
        assert_eq!(code(route(&rules, &d, &view("GET", "a", "/", "v=3", &h))), 203);
        let other = RequestView { client: "172.16.0.1".parse().unwrap(), ..view("GET", "a", "/", "", &h) };
        assert_eq!(code(route(&rules, &d, &other)), 404);
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.255.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32").unwrap().contains("2001:db8::1".parse().unwrap()));
        for bad in ["10.0.0.1/8", "10.0.0.0", "10.0.0.0/33", "x/8", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
