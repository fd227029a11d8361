//! One scaling decision for a capacity provider in one cluster, as a pure function of its reservation, its managed
//! scaling settings and what the controller remembers between looks ([`Track`]): add hosts when the tasks need more
//! than `targetCapacity` allows (counting hosts launched within `instanceWarmupPeriod` that have not registered yet,
//! so one shortfall is not answered twice), and remove idle hosts once the reservation has stayed under the target
//! for the scale-in period (CloudWatch's scale-in alarm of target tracking: 15 one-minute datapoints).

use super::reservation::ProviderReservation;
use super::{scale_in, scale_out};
use crate::records::ManagedScalingRecord;
use std::collections::BTreeSet;

/// Hosts asked of a node provider at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Launch {
    /// When (seconds since the epoch).
    pub at: f64,
    /// How many the provider started.
    pub count: u64,
}

/// What the controller remembers of one (cluster, capacity provider) between looks. It lives on the leader, in
/// memory: after a restart or a leader change, hosts still warming up are counted again once they register.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Track {
    /// Launches within the warm-up period.
    pub launches: Vec<Launch>,
    /// Since when the reservation has wanted fewer hosts (none: it has not).
    pub under_target_since: Option<f64>,
    /// Container instance ids being drained for scale-in.
    pub removing: BTreeSet<String>,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Ask the node provider for this many hosts.
    Launch(u64),
    /// Drain and remove this many idle hosts.
    ScaleIn(u64),
    /// Nothing.
    Wait,
}

/// The decision for `reservation` under `settings` at `now`. `registered_since(at)` counts the provider's
/// instances in the cluster that registered at or after `at` (they answer earlier launches).
pub fn decide(
    reservation: &ProviderReservation,
    settings: &ManagedScalingRecord,
    track: &mut Track,
    registered_since: impl Fn(f64) -> u64,
    now: f64,
    scale_in_after: f64,
) -> Decision {
    let warmup = f64::from(settings.instance_warmup_period.max(0));
    track.launches.retain(|l| now - l.at < warmup);
    let launched: u64 = track.launches.iter().map(|l| l.count).sum();
    let arrived = track.launches.first().map_or(0, |l| registered_since(l.at));
    let pending = launched.saturating_sub(arrived);
    let add = scale_out(reservation.needed, reservation.running + pending, settings);
    if add > 0 {
        track.under_target_since = None;
        return Decision::Launch(add);
    }
    if pending > 0 || !track.removing.is_empty() {
        // Hosts still arriving or leaving: the counts are about to change; look again then.
        return Decision::Wait;
    }
    let surplus = scale_in(reservation.needed, reservation.running, reservation.idle, settings);
    if surplus == 0 {
        track.under_target_since = None;
        return Decision::Wait;
    }
    let since = *track.under_target_since.get_or_insert(now);
    if now - since >= scale_in_after {
        track.under_target_since = None;
        Decision::ScaleIn(surplus)
    } else {
        Decision::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(needed: u64, running: u64, idle: u64) -> ProviderReservation {
        ProviderReservation {
            cluster: "c".into(),
            provider: "cp".into(),
            needed,
            running,
            idle,
            value: super::super::reservation(needed, running),
        }
    }

    fn settings() -> ManagedScalingRecord {
        ManagedScalingRecord { enabled: true, instance_warmup_period: 60, ..Default::default() }
    }

    #[test]
    fn a_shortfall_is_answered_once_while_hosts_warm_up() {
        let mut track = Track::default();
        let s = settings();
        assert_eq!(decide(&point(2, 0, 0), &s, &mut track, |_| 0, 100.0, 900.0), Decision::Launch(2));
        track.launches.push(Launch { at: 100.0, count: 2 });
        // Nothing registered yet: the two launched count.
        assert_eq!(decide(&point(2, 0, 0), &s, &mut track, |_| 0, 110.0, 900.0), Decision::Wait);
        // One arrived, and the tasks now need three: one more.
        assert_eq!(decide(&point(3, 1, 0), &s, &mut track, |_| 1, 120.0, 900.0), Decision::Launch(1));
        // Past the warm-up, a launch that never arrived no longer counts.
        assert_eq!(decide(&point(2, 1, 0), &s, &mut track, |_| 1, 200.0, 900.0), Decision::Launch(1));
        assert!(track.launches.is_empty());
    }

    #[test]
    fn scale_in_waits_for_the_period_under_target() {
        let mut track = Track::default();
        let s = settings();
        assert_eq!(decide(&point(1, 3, 2), &s, &mut track, |_| 0, 0.0, 30.0), Decision::Wait);
        assert_eq!(track.under_target_since, Some(0.0));
        assert_eq!(decide(&point(1, 3, 2), &s, &mut track, |_| 0, 20.0, 30.0), Decision::Wait);
        // Back at the target resets the period.
        assert_eq!(decide(&point(3, 3, 0), &s, &mut track, |_| 0, 25.0, 30.0), Decision::Wait);
        assert_eq!(track.under_target_since, None);
        assert_eq!(decide(&point(1, 3, 2), &s, &mut track, |_| 0, 40.0, 30.0), Decision::Wait);
        assert_eq!(decide(&point(1, 3, 2), &s, &mut track, |_| 0, 70.0, 30.0), Decision::ScaleIn(2));
        // While hosts are being removed, nothing else happens.
        track.removing.insert("i1".into());
        assert_eq!(decide(&point(1, 3, 2), &s, &mut track, |_| 0, 200.0, 30.0), Decision::Wait);
        // Scale-in to zero when nothing is needed (M = 0).
        track.removing.clear();
        assert_eq!(decide(&point(0, 2, 2), &s, &mut track, |_| 0, 300.0, 0.0), Decision::ScaleIn(2));
    }

    #[test]
    fn busy_hosts_are_never_a_surplus() {
        let mut track = Track::default();
        assert_eq!(decide(&point(2, 2, 0), &settings(), &mut track, |_| 0, 0.0, 0.0), Decision::Wait);
    }
}
