//! Checks a whole [`Config`] against ELBv2's rules before anything of it is applied, so a refused configuration
//! changes nothing. Messages follow ELBv2's wording where it has one.

use crate::config::{Action, Config, Forward, ListenerProtocol, Redirect, TargetProtocol};
use crate::error::{LbError, invalid};
use crate::matcher::Matcher;
use crate::rules::Cidr;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

/// Validates `config`.
pub(crate) fn validate(config: &Config) -> Result<(), LbError> {
    let mut groups = HashSet::new();
    for tg in &config.target_groups {
        if !groups.insert(tg.id.as_str()) {
            return Err(invalid!("duplicate target group id '{}'", tg.id));
        }
        if tg.protocol == TargetProtocol::Https || tg.health_check.protocol == TargetProtocol::Https {
            return Err(LbError::Unsupported(format!(
                "target group {}: the HTTPS protocol to targets is not supported by Berth's load balancer",
                tg.id
            )));
        }
        let hc = &tg.health_check;
        range("health check interval", hc.interval_seconds, 5, 300)?;
        range("health check timeout", hc.timeout_seconds, 2, 120)?;
        if hc.timeout_seconds >= hc.interval_seconds {
            return Err(invalid!("health check timeout must be smaller than the interval"));
        }
        range("healthy threshold", hc.healthy_threshold, 2, 10)?;
        range("unhealthy threshold", hc.unhealthy_threshold, 2, 10)?;
        if !hc.path.starts_with('/') || hc.path.len() > 1024 {
            return Err(invalid!("health check path must begin with a '/' character and be at most 1024 characters"));
        }
        if hc.port == Some(0) {
            return Err(invalid!("health check port must be between 1 and 65535"));
        }
        Matcher::parse(&hc.matcher)?;
        let a = &tg.attributes;
        range("deregistration_delay.timeout_seconds", a.deregistration_delay_seconds, 0, 3600)?;
        if a.slow_start_seconds != 0 {
            range("slow_start.duration_seconds", a.slow_start_seconds, 30, 900)?;
            if a.algorithm == crate::config::Algorithm::LeastOutstandingRequests {
                return Err(invalid!(
                    "slow start mode cannot be enabled with the least outstanding requests algorithm"
                ));
            }
        }
        if let Some(d) = a.stickiness_seconds {
            range("stickiness.lb_cookie.duration_seconds", d, 1, 604_800)?;
        }
        let mut seen = HashSet::new();
        for t in &tg.targets {
            if t.port() == 0 {
                return Err(invalid!("target {t}: port must be between 1 and 65535"));
            }
            if !seen.insert(t) {
                return Err(invalid!("target group {}: target {t} is registered twice", tg.id));
            }
        }
    }
    let mut lbs = HashSet::new();
    let mut addrs: HashMap<SocketAddr, &str> = HashMap::new();
    for lb in &config.load_balancers {
        if !lbs.insert(lb.id.as_str()) {
            return Err(invalid!("duplicate load balancer id '{}'", lb.id));
        }
        range("idle_timeout.timeout_seconds", lb.idle_timeout_seconds, 1, 4000)?;
        for l in &lb.listeners {
            if l.port == 0 {
                return Err(invalid!("listener {}: port must be between 1 and 65535", l.id));
            }
            let addr = SocketAddr::new(lb.bind_ip, l.port);
            if let Some(other) = addrs.insert(addr, &l.id) {
                return Err(LbError::Invalid(format!("a listener already exists on port {} ({other})", l.port)));
            }
            match (l.protocol, &l.certificate) {
                (ListenerProtocol::Https, None) => {
                    return Err(invalid!("listener {}: a certificate must be specified for HTTPS listeners", l.id));
                }
                (ListenerProtocol::Http, Some(_)) => {
                    return Err(invalid!("listener {}: certificates may only be specified for HTTPS listeners", l.id));
                }
                _ => {}
            }
            let mut priorities = HashSet::new();
            for r in &l.rules {
                range("rule priority", r.priority, 1, 50_000)?;
                if !priorities.insert(r.priority) {
                    return Err(invalid!("priority '{}' is currently in use", r.priority));
                }
                if r.conditions.is_empty() {
                    return Err(invalid!("rule {}: a rule must have at least one condition", r.id));
                }
                conditions(&r.id, &r.conditions)?;
                action(&r.action, &groups)?;
            }
            action(&l.default_action, &groups)?;
        }
    }
    Ok(())
}

fn range(what: &str, v: u32, lo: u32, hi: u32) -> Result<(), LbError> {
    if (lo..=hi).contains(&v) { Ok(()) } else { Err(invalid!("{what} must be between {lo} and {hi}, got {v}")) }
}

fn conditions(rule: &str, conditions: &[crate::config::Condition]) -> Result<(), LbError> {
    use crate::config::Condition::*;
    let mut kinds = HashSet::new();
    for c in conditions {
        let (kind, count) = match c {
            HostHeader(v) => ("host-header", v.len()),
            PathPattern(v) => ("path-pattern", v.len()),
            HttpHeader { values, .. } => ("http-header", values.len()),
            HttpRequestMethod(v) => ("http-request-method", v.len()),
            QueryString(v) => ("query-string", v.len()),
            SourceIp(v) => ("source-ip", v.len()),
        };
        if count == 0 {
            return Err(invalid!("rule {rule}: a {kind} condition needs at least one value"));
        }
        if !matches!(c, HttpHeader { .. } | QueryString(_)) && !kinds.insert(kind) {
            return Err(invalid!("rule {rule}: a rule can only have one '{kind}' condition"));
        }
        match c {
            SourceIp(v) => {
                for cidr in v {
                    Cidr::parse(cidr)?;
                }
            }
            HttpRequestMethod(v) => {
                if let Some(m) = v
                    .iter()
                    .find(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-'))
                {
                    return Err(invalid!("rule {rule}: '{m}' is not a valid HTTP request method (A-Z, '-' and '_')"));
                }
            }
            HttpHeader { name, .. } => {
                if http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(invalid!("rule {rule}: '{name}' is not a valid header name"));
                }
            }
            PathPattern(v) | HostHeader(v) => {
                if let Some(p) = v.iter().find(|p| p.is_empty() || p.len() > 128) {
                    return Err(invalid!("rule {rule}: condition value '{p}' must be 1 to 128 characters"));
                }
            }
            QueryString(_) => {}
        }
    }
    Ok(())
}

fn action(a: &Action, groups: &HashSet<&str>) -> Result<(), LbError> {
    match a {
        Action::Forward(f) => forward(f, groups),
        Action::FixedResponse(f) => {
            let class = f.status_code / 100;
            if !matches!(class, 2 | 4 | 5) || f.status_code > 599 {
                return Err(invalid!("fixed-response status code must be 2XX, 4XX or 5XX, got {}", f.status_code));
            }
            if let Some(ct) = &f.content_type {
                const TYPES: [&str; 5] =
                    ["text/plain", "text/css", "text/html", "application/javascript", "application/json"];
                if !TYPES.contains(&ct.as_str()) {
                    return Err(invalid!("fixed-response content type must be one of {}", TYPES.join(", ")));
                }
            }
            if f.message_body.as_ref().is_some_and(|b| b.len() > 1024) {
                return Err(invalid!("fixed-response message body must be at most 1024 characters"));
            }
            Ok(())
        }
        Action::Redirect(r) => redirect(r),
    }
}

fn forward(f: &Forward, groups: &HashSet<&str>) -> Result<(), LbError> {
    if f.target_groups.is_empty() || f.target_groups.len() > 5 {
        return Err(invalid!("a forward action must have between 1 and 5 target groups"));
    }
    let mut seen = HashSet::new();
    for w in &f.target_groups {
        if !groups.contains(w.target_group_id.as_str()) {
            return Err(invalid!("target group '{}' not found", w.target_group_id));
        }
        if !seen.insert(w.target_group_id.as_str()) {
            return Err(invalid!("target group '{}' appears twice in a forward action", w.target_group_id));
        }
        if f.target_groups.len() > 1 && w.weight > 999 {
            return Err(invalid!("target group weight must be between 0 and 999, got {}", w.weight));
        }
    }
    if let Some(d) = f.stickiness_seconds {
        range("target group stickiness duration", d, 1, 604_800)?;
    }
    Ok(())
}

fn redirect(r: &Redirect) -> Result<(), LbError> {
    if !matches!(r.status_code, 301 | 302) {
        return Err(invalid!("redirect status code must be HTTP_301 or HTTP_302"));
    }
    if let Some(p) = &r.protocol
        && !["HTTP", "HTTPS", "#{protocol}"].contains(&p.as_str())
    {
        return Err(invalid!("redirect protocol must be HTTP, HTTPS or #{{protocol}}"));
    }
    if let Some(port) = &r.port
        && port != "#{port}"
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(invalid!("redirect port must be between 1 and 65535 or #{{port}}"));
    }
    if let Some(path) = &r.path
        && !path.starts_with('/')
    {
        return Err(invalid!("redirect path must start with a '/'"));
    }
    if r.protocol.is_none() && r.port.is_none() && r.host.is_none() && r.path.is_none() && r.query.is_none() {
        return Err(invalid!(
            "a redirect must change at least one of protocol, port, host, path or query, or it would loop"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;
    use crate::config::*;

    fn config() -> Config {
        serde_json::from_value(serde_json::json!({
            "load_balancers": [{"id": "lb", "bind_ip": "127.0.0.1", "listeners": [{
                "id": "l", "port": 80, "protocol": "HTTP",
                "rules": [{"id": "r", "priority": 1,
                           "conditions": [{"field": "path-pattern", "values": ["/a/*"]}],
                           "action": {"type": "fixed-response", "status_code": 200}}],
                "default_action": {"type": "forward", "target_groups": [{"target_group_id": "tg"}]}}]}],
            "target_groups": [{"id": "tg", "targets": ["10.0.0.1:8080"]}]
        }))
        .unwrap()
    }

    fn err(c: &Config) -> String {
        validate(c).unwrap_err().to_string()
    }

    #[test]
    fn the_json_form_with_elbv2_defaults_is_valid() {
        let c = config();
        validate(&c).unwrap();
        assert_eq!(c.load_balancers[0].idle_timeout_seconds, 60);
        assert_eq!(c.target_groups[0].health_check.interval_seconds, 30);
        assert_eq!(c.target_groups[0].attributes.deregistration_delay_seconds, 300);
    }

    #[test]
    fn ranges_duplicates_and_references() {
        let mut c = config();
        c.load_balancers[0].listeners[0].rules[0].priority = 0;
        assert!(err(&c).contains("rule priority must be between 1 and 50000"));
        let mut c = config();
        let l = c.load_balancers[0].listeners[0].clone();
        c.load_balancers[0].listeners.push(l);
        assert!(err(&c).contains("a listener already exists on port 80"));
        let mut c = config();
        c.target_groups[0].health_check.healthy_threshold = 11;
        assert!(err(&c).contains("healthy threshold must be between 2 and 10"));
        let mut c = config();
        c.target_groups[0].targets.push("10.0.0.1:8080".parse().unwrap());
        assert!(err(&c).contains("registered twice"));
        let mut c = config();
        c.load_balancers[0].listeners[0].rules[0].conditions.push(Condition::PathPattern(vec!["/b".into()]));
        assert!(err(&c).contains("only have one 'path-pattern' condition"));
        let mut c = config();
        c.load_balancers[0].listeners[0].rules[0].conditions = vec![Condition::HttpRequestMethod(vec!["get".into()])];
        assert!(err(&c).contains("not a valid HTTP request method"));
        let mut c = config();
        c.load_balancers[0].listeners[0].default_action =
            Action::FixedResponse(FixedResponse { status_code: 302, content_type: None, message_body: None });
        assert!(err(&c).contains("2XX, 4XX or 5XX"));
        let mut c = config();
        c.load_balancers[0].listeners[0].default_action = Action::Redirect(Redirect {
            protocol: None,
            port: None,
            host: None,
            path: None,
            query: None,
            status_code: 301,
        });
        assert!(err(&c).contains("loop"));
        let mut c = config();
        c.load_balancers[0].idle_timeout_seconds = 0;
        assert!(err(&c).contains("idle_timeout.timeout_seconds"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let bad = serde_json::json!({"target_groups": [{"id": "tg", "colour": "red"}]});
        assert!(serde_json::from_value::<Config>(bad).is_err());
    }
}
