//! Why a task fits nowhere: each instance's first failed check, and the "closest matching" instance for
//! the service event.

use std::cmp::Reverse;

/// How close an instance came: the check it failed, how much of the lacking resource it has, its ARN.
type Closeness<'a> = (FailureReason, i64, Reverse<&'a str>);

use super::ClusterState;
use super::slot::{Slot, SlotFacts};
use crate::constraint::Constraint;
use crate::error::StateError;
use crate::expr::Expr;
use crate::expr::eval::{Tri, eval};
use crate::model::{Failure, FailureReason, InstanceStatus, TaskDemand};

impl ClusterState {
    /// The first check, in [`FailureReason`] order, that `slot` fails for the demand; `None` if it fits.
    fn first_failure(
        &self,
        slot: &Slot,
        demand: &TaskDemand,
        group: Option<u32>,
        exprs: &[&Expr],
        distinct: bool,
    ) -> Option<FailureReason> {
        match slot.status {
            InstanceStatus::Active => {}
            InstanceStatus::Draining => return Some(FailureReason::Draining),
            _ => return Some(FailureReason::Inactive),
        }
        if !slot.agent_connected {
            return Some(FailureReason::Agent);
        }
        if demand.required_attributes.iter().any(|a| !slot.attributes.contains_key(a)) {
            return Some(FailureReason::MissingAttribute);
        }
        if slot.remaining.cpu < demand.cpu {
            return Some(FailureReason::Cpu);
        }
        if slot.remaining.memory < demand.memory {
            return Some(FailureReason::Memory);
        }
        if !slot.remaining.storage_fits(demand.ephemeral_storage_gib) {
            return Some(FailureReason::EphemeralStorage);
        }
        let (tcp_free, udp_free) = slot.ports_free(&demand.tcp_ports, &demand.udp_ports);
        if !tcp_free {
            return Some(FailureReason::Ports);
        }
        if !udp_free {
            return Some(FailureReason::PortsUdp);
        }
        if distinct && group.is_some_and(|g| slot.group_count(g) > 0) {
            return Some(FailureReason::DistinctInstance);
        }
        let facts = SlotFacts { slot, names: &self.groups.names };
        if exprs.iter().any(|e| eval(e, &facts) != Tri::True) {
            return Some(FailureReason::MemberOf);
        }
        None
    }

    /// Whether one task of `demand` fits on one instance as it is now, ignoring strategies: `Ok(None)` when it
    /// fits, else the first check it fails (the reason [`Self::place`] would report for it). Nothing changes; a
    /// DAEMON service asks this of each instance.
    pub fn check(&self, instance_arn: &str, demand: &TaskDemand) -> Result<Option<FailureReason>, StateError> {
        let Some(&i) = self.by_arn.get(instance_arn) else {
            return Err(StateError::UnknownInstance { arn: instance_arn.to_string() });
        };
        let exprs: Vec<&Expr> = demand
            .constraints
            .iter()
            .filter_map(|c| match c {
                Constraint::MemberOf(e) => Some(e),
                Constraint::DistinctInstance => None,
            })
            .collect();
        let distinct = demand.constraints.contains(&Constraint::DistinctInstance);
        let group = self.groups.get(&demand.group);
        Ok(self.first_failure(self.slot(i), demand, group, &exprs, distinct))
    }

    /// One failure per instance that cannot take the task, sorted by ARN.
    pub(super) fn failures(
        &self,
        demand: &TaskDemand,
        group: Option<u32>,
        exprs: &[&Expr],
        distinct: bool,
    ) -> Vec<Failure> {
        let mut out: Vec<Failure> = self
            .by_arn
            .values()
            .filter_map(|&i| {
                let slot = self.slot(i);
                self.first_failure(slot, demand, group, exprs, distinct).map(|r| Failure::for_instance(&slot.arn, r))
            })
            .collect();
        out.sort();
        out
    }

    /// For the service event "... was unable to place a task because no container instance met all of its
    /// requirements. The closest matching container-instance X `<reason>`.": the `ACTIVE` instance that got
    /// furthest through the checks (ties: the most of the lacking resource left, then the smallest ARN), and
    /// the predicate, e.g. `has insufficient memory available`.
    ///
    /// `None` when some instance can take the task, or when no instance is `ACTIVE`.
    pub fn closest_match(&self, demand: &TaskDemand) -> Option<(String, String)> {
        let group = self.groups.get(&demand.group);
        let exprs: Vec<&Expr> = demand
            .constraints
            .iter()
            .filter_map(|c| match c {
                Constraint::MemberOf(e) => Some(e),
                Constraint::DistinctInstance => None,
            })
            .collect();
        let distinct = demand.constraints.contains(&Constraint::DistinctInstance);
        let mut best: Option<(Closeness<'_>, &Slot)> = None;
        for &i in self.by_arn.values() {
            let slot = self.slot(i);
            if slot.status != InstanceStatus::Active {
                continue;
            }
            let reason = self.first_failure(slot, demand, group, &exprs, distinct)?;
            let left = match reason {
                FailureReason::Cpu => slot.remaining.cpu,
                FailureReason::Memory => slot.remaining.memory,
                FailureReason::EphemeralStorage => slot.remaining.ephemeral_storage_gib.unwrap_or(0),
                _ => 0,
            };
            let score = (reason, left, Reverse(slot.arn.as_str()));
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, slot));
            }
        }
        best.map(|((reason, _, _), slot)| (slot.arn.clone(), reason.closest_match_phrase().to_string()))
    }
}
