//! Load balancer and target group attributes: ELBv2's keys with their defaults and allowed values. A record keeps
//! only the values that differ from the defaults; Describe shows every key.

use crate::ElbError;
use std::collections::BTreeMap;

/// What values a key takes.
#[derive(Debug, Clone, Copy)]
enum Values {
    Bool,
    /// Only `false` (a feature Berth does not have, such as S3 access logs).
    FalseOnly(&'static str),
    Range(i64, i64),
    OneOf(&'static [&'static str]),
    Text,
}

/// An application load balancer's attributes: key, default, values.
const LB: &[(&str, &str, Values)] = &[
    ("access_logs.s3.enabled", "false", Values::FalseOnly("Berth has no S3: access logs cannot be enabled.")),
    ("access_logs.s3.bucket", "", Values::Text),
    ("access_logs.s3.prefix", "", Values::Text),
    ("client_keep_alive.seconds", "3600", Values::Range(60, 604_800)),
    ("connection_logs.s3.enabled", "false", Values::FalseOnly("Berth has no S3: connection logs cannot be enabled.")),
    ("connection_logs.s3.bucket", "", Values::Text),
    ("connection_logs.s3.prefix", "", Values::Text),
    ("deletion_protection.enabled", "false", Values::Bool),
    ("idle_timeout.timeout_seconds", "60", Values::Range(1, 4000)),
    ("load_balancing.cross_zone.enabled", "true", Values::Bool),
    ("routing.http.desync_mitigation_mode", "defensive", Values::OneOf(&["monitor", "defensive", "strictest"])),
    ("routing.http.drop_invalid_header_fields.enabled", "false", Values::Bool),
    ("routing.http.preserve_host_header.enabled", "false", Values::Bool),
    ("routing.http.x_amzn_tls_version_and_cipher_suite.enabled", "false", Values::Bool),
    ("routing.http.xff_client_port.enabled", "false", Values::Bool),
    ("routing.http.xff_header_processing.mode", "append", Values::OneOf(&["append", "preserve", "remove"])),
    ("routing.http2.enabled", "true", Values::Bool),
    ("waf.fail_open.enabled", "false", Values::Bool),
    ("zonal_shift.config.enabled", "false", Values::Bool),
];

/// An HTTP/HTTPS target group's attributes.
const TG: &[(&str, &str, Values)] = &[
    ("deregistration_delay.timeout_seconds", "300", Values::Range(0, 3600)),
    ("load_balancing.algorithm.anomaly_mitigation", "off", Values::OneOf(&["on", "off"])),
    (
        "load_balancing.algorithm.type",
        "round_robin",
        Values::OneOf(&["round_robin", "least_outstanding_requests", "weighted_random"]),
    ),
    (
        "load_balancing.cross_zone.enabled",
        "use_load_balancer_configuration",
        Values::OneOf(&["true", "false", "use_load_balancer_configuration"]),
    ),
    ("slow_start.duration_seconds", "0", Values::Range(0, 900)),
    ("stickiness.app_cookie.cookie_name", "", Values::Text),
    ("stickiness.app_cookie.duration_seconds", "86400", Values::Range(1, 604_800)),
    ("stickiness.enabled", "false", Values::Bool),
    ("stickiness.lb_cookie.duration_seconds", "86400", Values::Range(1, 604_800)),
    ("stickiness.type", "lb_cookie", Values::OneOf(&["lb_cookie", "app_cookie"])),
    ("target_group_health.dns_failover.minimum_healthy_targets.count", "1", Values::Text),
    ("target_group_health.dns_failover.minimum_healthy_targets.percentage", "off", Values::Text),
    ("target_group_health.unhealthy_state_routing.minimum_healthy_targets.count", "1", Values::Text),
    ("target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage", "off", Values::Text),
];

/// Which resource's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    /// A load balancer's.
    LoadBalancer,
    /// A target group's.
    TargetGroup,
}

impl Of {
    fn table(self) -> &'static [(&'static str, &'static str, Values)] {
        match self {
            Of::LoadBalancer => LB,
            Of::TargetGroup => TG,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Of::LoadBalancer => "Load balancer",
            Of::TargetGroup => "Target group",
        }
    }
}

/// Every key with its value: the stored ones over the defaults.
pub fn all(of: Of, stored: &BTreeMap<String, String>) -> Vec<(String, String)> {
    of.table()
        .iter()
        .map(|(k, d, _)| ((*k).to_string(), stored.get(*k).cloned().unwrap_or_else(|| (*d).to_string())))
        .collect()
}

/// One key's value (stored or default).
pub fn get(of: Of, stored: &BTreeMap<String, String>, key: &str) -> String {
    stored.get(key).cloned().unwrap_or_else(|| {
        of.table().iter().find(|(k, ..)| *k == key).map(|(_, d, _)| (*d).to_string()).unwrap_or_default()
    })
}

/// Applies changes (key, value) to the stored attributes, checking each and the result.
pub fn modify(
    of: Of,
    stored: &BTreeMap<String, String>,
    changes: &[(String, String)],
) -> Result<BTreeMap<String, String>, ElbError> {
    if changes.is_empty() {
        return Err(ElbError::validation("At least one attribute must be specified"));
    }
    let mut out = stored.clone();
    for (key, value) in changes {
        let Some((_, default, values)) = of.table().iter().find(|(k, ..)| k == key) else {
            return Err(ElbError::validation(format!("{} attribute key '{key}' is not recognized", of.noun())));
        };
        let bad =
            || ElbError::validation(format!("{} attribute value '{value}' is not valid for key '{key}'", of.noun()));
        match values {
            Values::Bool if !matches!(value.as_str(), "true" | "false") => return Err(bad()),
            Values::FalseOnly(why) => match value.as_str() {
                "false" => {}
                "true" => return Err(ElbError::not_permitted(*why)),
                _ => return Err(bad()),
            },
            Values::Range(lo, hi) if !value.parse::<i64>().is_ok_and(|n| (*lo..=*hi).contains(&n)) => {
                return Err(ElbError::validation(format!(
                    "{} attribute '{key}' must be between {lo} and {hi}, not '{value}'",
                    of.noun()
                )));
            }
            Values::OneOf(allowed) if !allowed.contains(&value.as_str()) => return Err(bad()),
            _ => {}
        }
        if value == default {
            out.remove(key);
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    if of == Of::TargetGroup {
        cross_check(&out)?;
    }
    Ok(out)
}

fn cross_check(attrs: &BTreeMap<String, String>) -> Result<(), ElbError> {
    let get = |k: &str| get(Of::TargetGroup, attrs, k);
    let slow = get("slow_start.duration_seconds");
    if slow != "0" && slow.parse::<i64>().is_ok_and(|n| n < 30) {
        return Err(ElbError::validation("Slow start duration must be 0 (off) or between 30 and 900 seconds"));
    }
    let algorithm = get("load_balancing.algorithm.type");
    if slow != "0" && algorithm == "least_outstanding_requests" {
        return Err(ElbError::invalid_config(
            "Slow start mode cannot be enabled with the least outstanding requests algorithm",
        ));
    }
    if get("load_balancing.algorithm.anomaly_mitigation") == "on" && algorithm != "weighted_random" {
        return Err(ElbError::invalid_config("Anomaly mitigation requires the weighted_random algorithm"));
    }
    if get("stickiness.type") == "app_cookie"
        && get("stickiness.enabled") == "true"
        && get("stickiness.app_cookie.cookie_name").is_empty()
    {
        return Err(ElbError::validation("An application cookie name must be specified for app_cookie stickiness"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn keys_values_and_defaults() {
        let none = BTreeMap::new();
        let lb = modify(
            Of::LoadBalancer,
            &none,
            &[kv("idle_timeout.timeout_seconds", "120"), kv("routing.http2.enabled", "true")],
        )
        .unwrap();
        assert_eq!(lb.len(), 1, "a default value is not stored");
        assert_eq!(get(Of::LoadBalancer, &lb, "idle_timeout.timeout_seconds"), "120");
        assert_eq!(all(Of::LoadBalancer, &lb).len(), LB.len());
        let e = modify(Of::LoadBalancer, &none, &[kv("nope", "1")]).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("ValidationError", "Load balancer attribute key 'nope' is not recognized")
        );
        assert_eq!(
            modify(Of::LoadBalancer, &none, &[kv("access_logs.s3.enabled", "true")]).unwrap_err().code,
            "OperationNotPermitted"
        );
        assert!(modify(Of::LoadBalancer, &none, &[kv("idle_timeout.timeout_seconds", "0")]).is_err());
        assert!(modify(Of::LoadBalancer, &none, &[kv("deletion_protection.enabled", "yes")]).is_err());
        let tg = modify(
            Of::TargetGroup,
            &none,
            &[kv("deregistration_delay.timeout_seconds", "5"), kv("slow_start.duration_seconds", "30")],
        )
        .unwrap();
        assert_eq!(get(Of::TargetGroup, &tg, "deregistration_delay.timeout_seconds"), "5");
        let e = modify(Of::TargetGroup, &tg, &[kv("load_balancing.algorithm.type", "least_outstanding_requests")])
            .unwrap_err();
        assert_eq!(e.code, "InvalidConfigurationRequest");
        assert!(modify(Of::TargetGroup, &none, &[kv("slow_start.duration_seconds", "10")]).is_err());
        assert!(modify(Of::TargetGroup, &none, &[kv("deregistration_delay.timeout_seconds", "3601")]).is_err());
    }
}
