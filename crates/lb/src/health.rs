//! Target health: the states and reason codes ELBv2 reports, and the active checker, one task per target group.
//!
//! The checker keeps a due time per target: a new target is checked at once, then every interval; a check
//! that does not answer within the timeout fails with `Target.Timeout`, a status the matcher refuses with
//! `Target.ResponseCodeMismatch`, a failed connection with `Target.FailedHealthChecks`. Its timers run on the
//! proxy's `Clock`, so tests drive rounds with a manual clock (a check's own timeout is real time). A group that
//! no listener forwards to is not checked (its targets are `unused`).

use crate::group::Group;
use crate::target::{Failure, Outcome, Target};
use bytes::Bytes;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A target's state, as `TargetHealth.State` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Registered, initial checks in progress.
    Initial,
    /// Passing its checks.
    Healthy,
    /// Failing its checks.
    Unhealthy,
    /// Its target group receives no traffic.
    Unused,
    /// Deregistered, draining.
    Draining,
    /// Health checks are disabled.
    Unavailable,
}

impl TargetState {
    /// ELBv2's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::Unused => "unused",
            Self::Draining => "draining",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Why a target is not healthy, as `TargetHealth.Reason` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetReason {
    /// `Elb.InitialHealthChecking`.
    InitialHealthChecking,
    /// `Target.ResponseCodeMismatch`, with the code the check got.
    ResponseCodeMismatch(u16),
    /// `Target.Timeout`.
    Timeout,
    /// `Target.FailedHealthChecks`.
    FailedHealthChecks,
    /// `Target.DeregistrationInProgress`.
    DeregistrationInProgress,
    /// `Target.NotInUse`.
    NotInUse,
    /// `Target.HealthCheckDisabled`.
    HealthCheckDisabled,
}

impl TargetReason {
    /// The reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::InitialHealthChecking => "Elb.InitialHealthChecking",
            Self::ResponseCodeMismatch(_) => "Target.ResponseCodeMismatch",
            Self::Timeout => "Target.Timeout",
            Self::FailedHealthChecks => "Target.FailedHealthChecks",
            Self::DeregistrationInProgress => "Target.DeregistrationInProgress",
            Self::NotInUse => "Target.NotInUse",
            Self::HealthCheckDisabled => "Target.HealthCheckDisabled",
        }
    }

    /// ELBv2's description.
    pub fn description(self) -> String {
        match self {
            Self::InitialHealthChecking => "Initial health checks in progress".into(),
            Self::ResponseCodeMismatch(c) => format!("Health checks failed with these codes: [{c}]"),
            Self::Timeout => "Request timed out".into(),
            Self::FailedHealthChecks => "Health checks failed".into(),
            Self::DeregistrationInProgress => "Target deregistration is in progress".into(),
            Self::NotInUse => "Target group is not configured to receive traffic from the load balancer".into(),
            Self::HealthCheckDisabled => "Health checks are disabled".into(),
        }
    }
}

/// One target's health, as DescribeTargetHealth reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetHealth {
    /// The target.
    pub target: SocketAddr,
    /// Its state.
    pub state: TargetState,
    /// The reason code (`Target.ResponseCodeMismatch` ...), absent when healthy.
    pub reason: Option<&'static str>,
    /// The description, absent when healthy.
    pub description: Option<String>,
    /// The reason, typed (with the code a mismatching check got), for callers that act on it.
    #[serde(skip)]
    pub cause: Option<TargetReason>,
}

impl TargetHealth {
    pub(crate) fn new(target: SocketAddr, state: TargetState, reason: Option<TargetReason>) -> Self {
        Self {
            target,
            state,
            reason: reason.map(TargetReason::code),
            description: reason.map(TargetReason::description),
            cause: reason,
        }
    }
}

/// The HTTP client the checks use: a fresh connection per check, as a dead target must be noticed.
pub(crate) type ProbeClient = Client<HttpConnector, Empty<Bytes>>;

/// A client for health checks.
pub(crate) fn probe_client() -> ProbeClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(hyper_util::rt::TokioExecutor::new()).pool_max_idle_per_host(0).build(connector)
}

/// What the checker needs from the proxy.
pub(crate) struct CheckerContext {
    /// The proxy's clock and origin.
    pub time: crate::proxy::ProxyTime,
    /// The client.
    pub client: ProbeClient,
}

/// Runs the checks of `group` until the group is dropped.
pub(crate) async fn run(group: Weak<Group>, ctx: Arc<CheckerContext>) {
    loop {
        let Some(g) = group.upgrade() else { return };
        let now = ctx.time.now_ms();
        let settings = g.settings();
        let hc = &settings.config.health_check;
        let interval = u64::from(hc.interval_seconds) * 1000;
        let mut next = now + interval;
        if let Some(d) = g.expire_draining(now) {
            next = next.min(d);
        }
        if g.in_use() && hc.enabled {
            for t in g.targets().iter() {
                let mut h = t.health();
                if !h.probing && h.next_probe <= now {
                    h.probing = true;
                    h.next_probe = now + interval;
                    tokio::spawn(probe_and_record(g.clone(), t.clone(), ctx.clone()));
                }
                next = next.min(h.next_probe.max(now + 1));
            }
        }
        let wait = ctx.time.sleep_ms(next.saturating_sub(now));
        let woken = async {
            g.wake.notified().await;
        };
        // Hold the group only while waiting for its wake-up: dropping `g` first would lose the notification.
        tokio::select! {
            () = wait => {}
            () = woken => {}
        }
    }
}

async fn probe_and_record(group: Arc<Group>, target: Arc<Target>, ctx: Arc<CheckerContext>) {
    let settings = group.settings();
    let hc = &settings.config.health_check;
    let outcome = probe(&ctx.client, target.addr, hc, &settings.matcher).await;
    let now = ctx.time.now_ms();
    let slow = outcome.is_ok() && !target.is_healthy() && group.starts_slow(target.addr, now);
    if target.record(outcome, hc.healthy_threshold, hc.unhealthy_threshold, now, slow) {
        tracing::debug!(group = %group.id, target = %target.addr, "target healthy");
    }
}

/// One check of `addr`.
async fn probe(
    client: &ProbeClient,
    addr: SocketAddr,
    hc: &crate::config::HealthCheck,
    matcher: &crate::matcher::Matcher,
) -> Outcome {
    let port = hc.port.unwrap_or(addr.port());
    let authority = SocketAddr::new(addr.ip(), port).to_string();
    let uri = format!("http://{authority}{}", hc.path);
    let req = Request::get(uri)
        .header(header::HOST, authority)
        .header(header::USER_AGENT, "ELB-HealthChecker/2.0")
        .body(Empty::<Bytes>::new())
        .map_err(|_| Failure::Failed)?;
    let timeout = Duration::from_secs(u64::from(hc.timeout_seconds));
    match tokio::time::timeout(timeout, client.request(req)).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(_)) => Err(Failure::Failed),
        Ok(Ok(resp)) => {
            let code = resp.status().as_u16();
            if matcher.accepts(code) { Ok(()) } else { Err(Failure::Code(code)) }
        }
    }
}
