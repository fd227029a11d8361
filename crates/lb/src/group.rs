//! A target group at run time: its settings, registered targets, draining targets, and how it picks a target.
//! A group outlives configuration changes (it is keyed by id), so its targets keep their health and counters.

use crate::config::{Algorithm, TargetGroup};
use crate::health::{TargetHealth, TargetReason, TargetState};
use crate::matcher::Matcher;
use crate::target::{Failure, Probed, Target};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Notify;

/// A group's settings, compiled.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The configuration.
    pub config: TargetGroup,
    /// The health check's matcher.
    pub matcher: Matcher,
}

/// A target that left the configuration and is draining until `until` (proxy milliseconds).
#[derive(Debug)]
struct Draining {
    target: Arc<Target>,
    until: u64,
}

/// A target group at run time.
#[derive(Debug)]
pub(crate) struct Group {
    /// The id.
    pub id: String,
    settings: RwLock<Arc<Settings>>,
    targets: RwLock<Arc<Vec<Arc<Target>>>>,
    draining: Mutex<Vec<Draining>>,
    in_use: AtomicBool,
    next: AtomicUsize,
    /// Smooth weighted round robin's current weights, used while a target is in slow start.
    current: Mutex<HashMap<SocketAddr, i64>>,
    /// Wakes the health checker after a change.
    pub wake: Notify,
    /// Its traffic counters.
    pub(crate) traffic: crate::traffic::Traffic,
}

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read().unwrap_or_else(|p| p.into_inner()).clone()
}

impl Group {
    /// A new group (its targets follow with [`Group::update`]).
    pub(crate) fn new(settings: Settings) -> Arc<Self> {
        Arc::new(Self {
            id: settings.config.id.clone(),
            settings: RwLock::new(Arc::new(settings)),
            targets: RwLock::new(Arc::new(Vec::new())),
            draining: Mutex::new(Vec::new()),
            in_use: AtomicBool::new(false),
            next: AtomicUsize::new(0),
            current: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            traffic: crate::traffic::Traffic::default(),
        })
    }

    /// The current settings.
    pub(crate) fn settings(&self) -> Arc<Settings> {
        read(&self.settings)
    }

    /// The registered targets.
    pub(crate) fn targets(&self) -> Arc<Vec<Arc<Target>>> {
        read(&self.targets)
    }

    /// Whether a listener forwards to this group.
    pub(crate) fn in_use(&self) -> bool {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Adds the targets of `wanted` it does not have (a draining one comes back with its state), keeping the others:
    /// the first half of a configuration change ([`Group::update`] removes the rest once requests use the new
    /// configuration).
    pub(crate) fn add_targets(&self, wanted: &[SocketAddr]) {
        let old = self.targets();
        if wanted.iter().all(|a| old.iter().any(|t| t.addr == *a)) {
            return;
        }
        let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
        let mut next: Vec<Arc<Target>> = old.iter().cloned().collect();
        for addr in wanted.iter().filter(|a| !old.iter().any(|t| t.addr == **a)) {
            match draining.iter().position(|d| d.target.addr == *addr) {
                Some(i) => next.push(draining.swap_remove(i).target),
                None => next.push(Target::new(*addr)),
            }
        }
        drop(draining);
        *self.targets.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        self.wake.notify_one();
    }

    /// Applies new settings, registered targets and use at `now`: targets that stay keep their state, a draining
    /// target registered again comes back with its state, and a removed target drains for the deregistration
    /// delay (the new settings' delay).
    pub(crate) fn update(&self, settings: Settings, in_use: bool, now: u64) {
        let delay = u64::from(settings.config.attributes.deregistration_delay_seconds) * 1000;
        let wanted = settings.config.targets.clone();
        let old = self.targets();
        let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = Vec::with_capacity(wanted.len());
        for addr in &wanted {
            if let Some(t) = old.iter().find(|t| t.addr == *addr) {
                next.push(t.clone());
            } else if let Some(i) = draining.iter().position(|d| d.target.addr == *addr) {
                next.push(draining.swap_remove(i).target);
            } else {
                next.push(Target::new(*addr));
            }
        }
        for t in old.iter().filter(|t| !wanted.contains(&t.addr)) {
            if delay > 0 {
                draining.push(Draining { target: t.clone(), until: now + delay });
            }
        }
        drop(draining);
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        *self.targets.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        self.in_use.store(in_use, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Forgets draining targets whose delay has passed at `now`; returns the next deadline, if any.
    pub(crate) fn expire_draining(&self, now: u64) -> Option<u64> {
        let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
        draining.retain(|d| d.until > now);
        draining.iter().map(|d| d.until).min()
    }

    /// Picks a target for a request at `now`, never one of `exclude`; `sticky` is preferred while it is a
    /// candidate. Candidates are the healthy targets not marked by a failed connection; with none, ALB fails
    /// open: every registered target (those without a failed connection first). `None` when no target is left.
    #[cfg(test)]
    pub(crate) fn pick(&self, exclude: &[SocketAddr], sticky: Option<SocketAddr>, now: u64) -> Option<Arc<Target>> {
        self.pick_in(&self.targets(), &self.settings(), exclude, sticky, now)
    }

    /// [`Group::pick`] among `targets` with `settings` (the group's, read once by a request for all its attempts:
    /// each read is a lock and a reference count shared by every worker).
    pub(crate) fn pick_in(
        &self,
        targets: &[Arc<Target>],
        settings: &Settings,
        exclude: &[SocketAddr],
        sticky: Option<SocketAddr>,
        now: u64,
    ) -> Option<Arc<Target>> {
        let check = settings.config.health_check.enabled;
        let allowed = |t: &&Arc<Target>| !exclude.contains(&t.addr);
        let algorithm = settings.config.attributes.algorithm;
        if sticky.is_none() && algorithm == Algorithm::RoundRobin && settings.config.attributes.slow_start_seconds == 0
        {
            // The common case without building a candidate list: the n-th healthy target in turn.
            let eligible = |t: &&Arc<Target>| allowed(t) && (!check || t.is_healthy()) && !t.passively_failed(now);
            let count = targets.iter().filter(eligible).count();
            if count > 0 {
                let n = self.next.fetch_add(1, Ordering::Relaxed) % count;
                // (health may change between the two passes: then fall through to the general path)
                if let Some(t) = targets.iter().filter(eligible).nth(n) {
                    return Some(t.clone());
                }
            }
        }
        let mut candidates: Vec<&Arc<Target>> =
            targets.iter().filter(allowed).filter(|t| (!check || t.is_healthy()) && !t.passively_failed(now)).collect();
        if candidates.is_empty() {
            candidates = targets.iter().filter(allowed).filter(|t| !t.passively_failed(now)).collect();
        }
        if candidates.is_empty() {
            candidates = targets.iter().filter(allowed).collect();
        }
        if candidates.is_empty() {
            return None;
        }
        if let Some(s) = sticky
            && let Some(t) = candidates.iter().find(|t| t.addr == s)
        {
            return Some((*t).clone());
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let chosen = match algorithm {
            Algorithm::LeastOutstandingRequests => {
                let n = candidates.len();
                (0..n).map(|i| candidates[(start + i) % n]).min_by_key(|t| t.in_flight())
            }
            Algorithm::RoundRobin => {
                let ramp = u64::from(settings.config.attributes.slow_start_seconds) * 1000;
                if ramp > 0 && candidates.iter().any(|t| t.in_slow_start(now, ramp)) {
                    self.weighted(&candidates, now, ramp)
                } else {
                    Some(candidates[start % candidates.len()])
                }
            }
        };
        chosen.cloned()
    }

    /// Smooth weighted round robin (each pick adds every candidate's weight to its current weight, takes the
    /// largest and subtracts the total from it), with slow-start weights.
    fn weighted<'a>(&self, candidates: &[&'a Arc<Target>], now: u64, ramp: u64) -> Option<&'a Arc<Target>> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.retain(|addr, _| candidates.iter().any(|t| t.addr == *addr));
        let mut total = 0;
        let mut best: Option<(&Arc<Target>, i64)> = None;
        for t in candidates {
            let w = t.weight(now, ramp);
            total += w;
            let c = current.entry(t.addr).or_insert(0);
            *c += w;
            if best.is_none_or(|(_, b)| *c > b) {
                best = Some((t, *c));
            }
        }
        let (t, _) = best?;
        if let Some(c) = current.get_mut(&t.addr) {
            *c -= total;
        }
        Some(t)
    }

    /// Whether a target turning healthy now starts a slow start: slow start is configured and another healthy
    /// target is not in slow start (ELBv2's rule).
    pub(crate) fn starts_slow(&self, turning: SocketAddr, now: u64) -> bool {
        let ramp = u64::from(self.settings().config.attributes.slow_start_seconds) * 1000;
        ramp > 0 && self.targets().iter().any(|t| t.addr != turning && t.is_healthy() && !t.in_slow_start(now, ramp))
    }

    /// The health of every registered and draining target, as DescribeTargetHealth reports it.
    pub(crate) fn report(&self, now: u64) -> Vec<TargetHealth> {
        let settings = self.settings();
        let mut out: Vec<TargetHealth> = self
            .targets()
            .iter()
            .map(|t| {
                let (state, reason) = if !self.in_use() {
                    (TargetState::Unused, Some(TargetReason::NotInUse))
                } else if !settings.config.health_check.enabled {
                    (TargetState::Unavailable, Some(TargetReason::HealthCheckDisabled))
                } else {
                    let h = t.health();
                    match (h.probed, h.last_failure) {
                        (Probed::Initial, _) => (TargetState::Initial, Some(TargetReason::InitialHealthChecking)),
                        (Probed::Healthy, _) => (TargetState::Healthy, None),
                        (Probed::Unhealthy, Some(Failure::Code(c))) => {
                            (TargetState::Unhealthy, Some(TargetReason::ResponseCodeMismatch(c)))
                        }
                        (Probed::Unhealthy, Some(Failure::Timeout)) => {
                            (TargetState::Unhealthy, Some(TargetReason::Timeout))
                        }
                        (Probed::Unhealthy, _) => (TargetState::Unhealthy, Some(TargetReason::FailedHealthChecks)),
                    }
                };
                TargetHealth::new(t.addr, state, reason)
            })
            .collect();
        let draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
        for d in draining.iter().filter(|d| d.until > now) {
            out.push(TargetHealth::new(
                d.target.addr,
                TargetState::Draining,
                Some(TargetReason::DeregistrationInProgress),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HealthCheck;
    use crate::target::InFlight;

    fn group(targets: &[&str], algorithm: Algorithm) -> Arc<Group> {
        let mut config = TargetGroup {
            id: "tg".into(),
            protocol: crate::config::TargetProtocol::Http,
            health_check: HealthCheck::default(),
            attributes: Default::default(),
            targets: targets.iter().map(|t| t.parse().unwrap()).collect(),
        };
        config.attributes.algorithm = algorithm;
        let settings = || Settings { matcher: Matcher::parse("200").unwrap(), config: config.clone() };
        let g = Group::new(settings());
        g.update(settings(), true, 0);
        g
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn healthy(g: &Group, t: &str) {
        let t = g.targets().iter().find(|x| x.addr == addr(t)).unwrap().clone();
        t.record(Ok(()), 5, 2, 0, false);
    }

    #[test]
    fn only_healthy_targets_while_any_is_healthy_else_all() {
        let g = group(&["10.0.0.1:80", "10.0.0.2:80"], Algorithm::RoundRobin);
        // none healthy yet: fail open over both
        let picks: Vec<_> = (0..4).map(|_| g.pick(&[], None, 0).unwrap().addr).collect();
        assert!(picks.contains(&addr("10.0.0.1:80")) && picks.contains(&addr("10.0.0.2:80")));
        healthy(&g, "10.0.0.2:80");
        for _ in 0..4 {
            assert_eq!(g.pick(&[], None, 0).unwrap().addr, addr("10.0.0.2:80"));
        }
    }

    #[test]
    fn passive_failures_and_exclusions_are_skipped() {
        let g = group(&["10.0.0.1:80", "10.0.0.2:80"], Algorithm::RoundRobin);
        healthy(&g, "10.0.0.1:80");
        healthy(&g, "10.0.0.2:80");
        g.targets()[0].mark_passive_failure(1000);
        for _ in 0..4 {
            assert_eq!(g.pick(&[], None, 500).unwrap().addr, addr("10.0.0.2:80"));
        }
        // every candidate marked or excluded: the marked one is still better than nothing
        assert_eq!(g.pick(&[addr("10.0.0.2:80")], None, 500).unwrap().addr, addr("10.0.0.1:80"));
        assert!(g.pick(&[addr("10.0.0.1:80"), addr("10.0.0.2:80")], None, 500).is_none());
    }

    #[test]
    fn sticky_target_wins_while_it_is_a_candidate() {
        let g = group(&["10.0.0.1:80", "10.0.0.2:80"], Algorithm::RoundRobin);
        healthy(&g, "10.0.0.1:80");
        healthy(&g, "10.0.0.2:80");
        for _ in 0..4 {
            assert_eq!(g.pick(&[], Some(addr("10.0.0.2:80")), 0).unwrap().addr, addr("10.0.0.2:80"));
        }
        assert!(g.pick(&[], Some(addr("10.9.9.9:80")), 0).is_some());
    }

    #[test]
    fn least_outstanding_requests() {
        let g = group(&["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"], Algorithm::LeastOutstandingRequests);
        let held: Vec<InFlight> = g.targets().iter().take(2).map(|t| InFlight::new(t.clone())).collect();
        for _ in 0..5 {
            assert_eq!(g.pick(&[], None, 0).unwrap().addr, addr("10.0.0.3:80"));
        }
        drop(held);
    }

    #[test]
    fn removed_targets_drain_for_the_delay_and_come_back_with_their_state() {
        let g = group(&["10.0.0.1:80", "10.0.0.2:80"], Algorithm::RoundRobin);
        healthy(&g, "10.0.0.1:80");
        let mut s = g.settings().config.clone();
        s.targets.retain(|t| *t != addr("10.0.0.1:80"));
        g.update(Settings { matcher: Matcher::parse("200").unwrap(), config: s.clone() }, true, 1000);
        let report = g.report(1000);
        assert!(report.iter().any(|h| h.target == addr("10.0.0.1:80") && h.state == TargetState::Draining));
        assert_eq!(g.expire_draining(1000), Some(301_000));
        for _ in 0..3 {
            assert_eq!(g.pick(&[], None, 1000).unwrap().addr, addr("10.0.0.2:80"));
        }
        s.targets.push(addr("10.0.0.1:80"));
        g.update(Settings { matcher: Matcher::parse("200").unwrap(), config: s }, true, 2000);
        assert!(g.targets().iter().any(|t| t.addr == addr("10.0.0.1:80") && t.is_healthy()));
        assert_eq!(g.expire_draining(2000), None);
    }
}
