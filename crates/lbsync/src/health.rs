//! [`ProxyHealth`]: the proxy's own probe results as ELBv2's [`TargetHealthSource`], so DescribeTargetHealth shows
//! what the data plane sees. A registered target is found by the address it was last translated to.

use crate::translate::TargetKey;
use berth_elb::{Probe, TargetHealthSource};
use berth_lb::{Proxy, TargetHealth, TargetReason, TargetState};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// The targets' addresses as last applied, shared by the sync loop (writer) and [`ProxyHealth`] (reader).
pub type Addresses = Arc<RwLock<BTreeMap<TargetKey, SocketAddr>>>;

/// Target health from the proxy's health checks.
pub struct ProxyHealth {
    proxy: Arc<Proxy>,
    addresses: Addresses,
}

impl ProxyHealth {
    /// Health from `proxy`, for targets at `addresses`.
    pub fn new(proxy: Arc<Proxy>, addresses: Addresses) -> Self {
        Self { proxy, addresses }
    }
}

impl TargetHealthSource for ProxyHealth {
    fn probe(&self, target_group_arn: &str, target_id: &str, port: u16) -> Option<Probe> {
        let key = (target_group_arn.to_string(), target_id.to_string(), port);
        let addr = *self.addresses.read().unwrap_or_else(|p| p.into_inner()).get(&key)?;
        let health = self.proxy.target_health(target_group_arn);
        health.iter().find(|h| h.target == addr).and_then(verdict)
    }
}

/// The verdict the proxy reports for one target; `None` for the states ELBv2 decides from its records (draining,
/// unused, checks disabled).
pub(crate) fn verdict(h: &TargetHealth) -> Option<Probe> {
    match h.state {
        TargetState::Initial => Some(Probe::Checking),
        TargetState::Healthy => Some(Probe::Healthy),
        TargetState::Unhealthy => Some(match h.cause {
            Some(TargetReason::ResponseCodeMismatch(code)) => Probe::ResponseCodeMismatch(code),
            Some(TargetReason::Timeout) => Probe::Timeout,
            _ => Probe::Failed,
        }),
        TargetState::Unused | TargetState::Draining | TargetState::Unavailable => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(state: TargetState, cause: Option<TargetReason>) -> TargetHealth {
        TargetHealth {
            target: "127.0.0.1:1".parse().unwrap(),
            state,
            reason: cause.map(TargetReason::code),
            description: cause.map(TargetReason::description),
            cause,
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            verdict(&health(TargetState::Initial, Some(TargetReason::InitialHealthChecking))),
            Some(Probe::Checking)
        );
        assert_eq!(verdict(&health(TargetState::Healthy, None)), Some(Probe::Healthy));
        let mismatch = health(TargetState::Unhealthy, Some(TargetReason::ResponseCodeMismatch(503)));
        assert_eq!(verdict(&mismatch), Some(Probe::ResponseCodeMismatch(503)));
        assert_eq!(verdict(&health(TargetState::Unhealthy, Some(TargetReason::Timeout))), Some(Probe::Timeout));
        assert_eq!(
            verdict(&health(TargetState::Unhealthy, Some(TargetReason::FailedHealthChecks))),
            Some(Probe::Failed)
        );
        assert_eq!(verdict(&health(TargetState::Draining, None)), None);
        assert_eq!(verdict(&health(TargetState::Unused, None)), None);
    }
}
