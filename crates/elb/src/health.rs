//! Health checks: the settings (with ELBv2's ranges and cross-checks), the [`TargetHealthSource`] the data plane
//! implements with its probes, and the state DescribeTargetHealth shows for each target.

use crate::ElbError;
use crate::records::{TargetGroupRecord, TargetRecord};
use berth_model::elbv2 as wire;
use serde::{Deserialize, Serialize};

/// A target group's health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// HealthCheckEnabled.
    pub enabled: bool,
    /// HealthCheckProtocol: `HTTP` or `HTTPS`.
    pub protocol: String,
    /// HealthCheckPort: `traffic-port` or a port number.
    pub port: String,
    /// HealthCheckPath (starts with `/`).
    pub path: String,
    /// HealthCheckIntervalSeconds (5-300).
    pub interval_seconds: u32,
    /// HealthCheckTimeoutSeconds (2-120, less than the interval).
    pub timeout_seconds: u32,
    /// HealthyThresholdCount (2-10).
    pub healthy_threshold: u32,
    /// UnhealthyThresholdCount (2-10).
    pub unhealthy_threshold: u32,
    /// Matcher HttpCode: codes and ranges, `200`, `200,202`, `200-299` (200-499).
    pub matcher: String,
}

impl HealthCheck {
    /// ELBv2's defaults for an HTTP or HTTPS target group.
    pub fn defaults(protocol: &str) -> Self {
        Self {
            enabled: true,
            protocol: protocol.to_string(),
            port: "traffic-port".into(),
            path: "/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: "200".into(),
        }
    }

    /// The port probes go to for a target on `target_port`.
    pub fn port_for(&self, target_port: u16) -> u16 {
        self.port.parse().unwrap_or(target_port)
    }

    /// Whether a status code passes the matcher.
    pub fn matches(&self, code: u16) -> bool {
        self.matcher.split(',').any(|part| match part.split_once('-') {
            Some((a, b)) => {
                a.trim().parse::<u16>().is_ok_and(|a| a <= code) && b.trim().parse::<u16>().is_ok_and(|b| code <= b)
            }
            None => part.trim().parse::<u16>() == Ok(code),
        })
    }
}

/// The health check members of CreateTargetGroup and ModifyTargetGroup.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// HealthCheckEnabled.
    pub enabled: Option<bool>,
    /// HealthCheckProtocol.
    pub protocol: Option<wire::ProtocolEnum>,
    /// HealthCheckPort.
    pub port: Option<String>,
    /// HealthCheckPath.
    pub path: Option<String>,
    /// HealthCheckIntervalSeconds.
    pub interval: Option<i32>,
    /// HealthCheckTimeoutSeconds.
    pub timeout: Option<i32>,
    /// HealthyThresholdCount.
    pub healthy: Option<i32>,
    /// UnhealthyThresholdCount.
    pub unhealthy: Option<i32>,
    /// Matcher.
    pub matcher: Option<wire::Matcher>,
}

fn bounded(member: &str, value: i32, min: i32, max: i32) -> Result<u32, ElbError> {
    if value < min {
        return Err(ElbError::range(member, value, &format!("Member must have value greater than or equal to {min}")));
    }
    if value > max {
        return Err(ElbError::range(member, value, &format!("Member must have value less than or equal to {max}")));
    }
    Ok(value as u32)
}

/// Applies changes to a health check and checks the result.
pub fn apply(hc: &HealthCheck, c: Changes) -> Result<HealthCheck, ElbError> {
    let mut out = hc.clone();
    if let Some(e) = c.enabled {
        out.enabled = e;
    }
    if let Some(p) = c.protocol {
        match p {
            wire::ProtocolEnum::Http | wire::ProtocolEnum::Https => out.protocol = p.to_string(),
            other => {
                return Err(ElbError::validation(format!(
                    "Health check protocol '{other}' is not supported for target groups with the HTTP or HTTPS protocol"
                )));
            }
        }
    }
    if let Some(port) = c.port.filter(|p| !p.is_empty()) {
        if port != "traffic-port" && !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(ElbError::validation(format!(
                "Health check port '{port}' must be 'traffic-port' or a number between 1 and 65535"
            )));
        }
        out.port = port;
    }
    if let Some(path) = c.path.filter(|p| !p.is_empty()) {
        if !path.starts_with('/') {
            return Err(ElbError::validation("Health check path must begin with a '/' character"));
        }
        if path.chars().count() > 1024 {
            return Err(ElbError::range(
                "healthCheckPath",
                &path,
                "Member must have length less than or equal to 1024",
            ));
        }
        out.path = path;
    }
    if let Some(v) = c.interval {
        out.interval_seconds = bounded("healthCheckIntervalSeconds", v, 5, 300)?;
    }
    if let Some(v) = c.timeout {
        out.timeout_seconds = bounded("healthCheckTimeoutSeconds", v, 2, 120)?;
    }
    if let Some(v) = c.healthy {
        out.healthy_threshold = bounded("healthyThresholdCount", v, 2, 10)?;
    }
    if let Some(v) = c.unhealthy {
        out.unhealthy_threshold = bounded("unhealthyThresholdCount", v, 2, 10)?;
    }
    if let Some(m) = c.matcher {
        if m.grpc_code.as_deref().is_some_and(|g| !g.is_empty()) {
            return Err(ElbError::validation(
                "A gRPC matcher is only for target groups with the GRPC protocol version",
            ));
        }
        let code = m.http_code.unwrap_or_default();
        check_matcher(&code)?;
        out.matcher = code;
    }
    if out.timeout_seconds >= out.interval_seconds {
        return Err(ElbError::validation("Health check interval must be greater than the timeout."));
    }
    Ok(out)
}

fn check_matcher(code: &str) -> Result<(), ElbError> {
    let valid = |s: &str| s.trim().parse::<u16>().is_ok_and(|n| (200..=499).contains(&n));
    let ok = !code.is_empty()
        && code.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => valid(a) && valid(b) && a.trim().parse::<u16>().ok() <= b.trim().parse::<u16>().ok(),
            None => valid(part),
        });
    if ok {
        Ok(())
    } else {
        Err(ElbError::validation(format!(
            "Health check matcher HTTP code '{code}' must be a code, a list or a range of codes between 200 and 499"
        )))
    }
}

/// What the data plane's probes say about a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Not yet decided: the first checks are running.
    Checking,
    /// Passing.
    Healthy,
    /// The last check answered a status code outside the matcher.
    ResponseCodeMismatch(u16),
    /// The last check timed out.
    Timeout,
    /// The last checks failed (connection refused, reset ...).
    Failed,
}

/// The data plane's view of target health, set with [`crate::Elb::set_health_source`].
pub trait TargetHealthSource: Send + Sync + 'static {
    /// The latest verdict for a target of a target group; `None` when it has not been probed.
    fn probe(&self, target_group_arn: &str, target_id: &str, port: u16) -> Option<Probe>;
}

/// The health DescribeTargetHealth shows: state, reason and description.
pub fn describe(
    tg: &TargetGroupRecord,
    target: &TargetRecord,
    in_use: bool,
    source: Option<&dyn TargetHealthSource>,
) -> wire::TargetHealth {
    use wire::TargetHealthReasonEnum as R;
    use wire::TargetHealthStateEnum as S;
    let (state, reason, description) = if target.draining_until.is_some() {
        (S::Draining, Some(R::TargetDeregistrationInProgress), "Target deregistration is in progress")
    } else if !in_use {
        (S::Unused, Some(R::TargetNotInUse), "Target group is not configured to receive traffic from the load balancer")
    } else if !tg.health_check.enabled {
        (S::Unavailable, Some(R::TargetHealthCheckDisabled), "Health checks disabled")
    } else {
        match source.and_then(|s| s.probe(&tg.arn, &target.id, target.port)) {
            None => (S::Initial, Some(R::ElbRegistrationInProgress), "Target registration is in progress"),
            Some(Probe::Checking) => {
                (S::Initial, Some(R::ElbInitialHealthChecking), "Initial health checks in progress")
            }
            Some(Probe::Healthy) => (S::Healthy, None, ""),
            Some(Probe::ResponseCodeMismatch(code)) => {
                return wire::TargetHealth {
                    state: Some(S::Unhealthy),
                    reason: Some(R::TargetResponseCodeMismatch),
                    description: Some(format!("Health checks failed with these codes: [{code}]")),
                };
            }
            Some(Probe::Timeout) => (S::Unhealthy, Some(R::TargetTimeout), "Request timed out"),
            Some(Probe::Failed) => (S::Unhealthy, Some(R::TargetFailedHealthChecks), "Health checks failed"),
        }
    };
    wire::TargetHealth {
        state: Some(state),
        reason,
        description: (!description.is_empty()).then(|| description.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_cross_checks() {
        let d = HealthCheck::defaults("HTTP");
        let ok = apply(
            &d,
            Changes { interval: Some(10), timeout: Some(3), path: Some("/health".into()), ..Default::default() },
        )
        .unwrap();
        assert_eq!((ok.interval_seconds, ok.timeout_seconds, ok.path.as_str()), (10, 3, "/health"));
        let e = apply(&d, Changes { interval: Some(5), timeout: Some(5), ..Default::default() }).unwrap_err();
        assert_eq!(e.message, "Health check interval must be greater than the timeout.");
        let e = apply(&d, Changes { interval: Some(301), ..Default::default() }).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value '301' at 'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have value less than or equal to 300"
        );
        assert!(apply(&d, Changes { healthy: Some(1), ..Default::default() }).is_err());
        assert!(apply(&d, Changes { path: Some("health".into()), ..Default::default() }).is_err());
        assert!(apply(&d, Changes { port: Some("0".into()), ..Default::default() }).is_err());
        assert!(apply(&d, Changes { protocol: Some(wire::ProtocolEnum::Tcp), ..Default::default() }).is_err());
        let m = |code: &str| Changes {
            matcher: Some(wire::Matcher { http_code: Some(code.into()), grpc_code: None }),
            ..Default::default()
        };
        let ranged = apply(&d, m("200-299,302")).unwrap();
        assert!(ranged.matches(204) && ranged.matches(302) && !ranged.matches(301));
        assert!(apply(&d, m("500")).is_err());
        assert!(apply(&d, m("299-200")).is_err());
        assert!(apply(&d, m("abc")).is_err());
    }
}
