//! The reference scheduler: the same semantics as [`crate::ClusterState`], by a linear scan over every
//! instance for every task, written to be obviously correct rather than fast. Property tests check the
//! indexed engine against it, and the benchmarks report the speed-up over it.
//!
//! Ranking, shared with the engine: for each strategy before the first `random`, a value where lower is
//! better (binpack: the remaining amount of the resource; spread: the group's tasks on the instance, or in
//! the instance's attribute bucket over all instances); ties go to the instance whose ARN hash is the first at
//! or after a random point drawn for each task (one `u64` per task). With no strategy before the first
//! `random`, the choice is uniform over the feasible instances.

use std::collections::HashMap;

use rand::Rng;

use crate::constraint::Constraint;
use crate::error::StateError;
use crate::model::{Failure, FailureReason, Instance, InstanceStatus, Placement, TaskDemand};
use crate::state::tie_breaker;
use crate::strategy::{BinpackField, SpreadOver, Strategy, spread_over};

/// A cluster as a plain list of instances.
#[derive(Debug, Clone, Default)]
pub struct ReferenceState {
    instances: Vec<Instance>,
}

/// The strategies that rank (those before the first `random`).
fn ranking_chain(demand: &TaskDemand) -> &[Strategy] {
    let end = demand.strategy.iter().position(|s| *s == Strategy::Random).unwrap_or(demand.strategy.len());
    &demand.strategy[..end]
}

fn bucket<'a>(inst: &'a Instance, attribute: &str) -> Option<&'a str> {
    inst.attributes.get(attribute).and_then(|v| v.as_deref())
}

impl ReferenceState {
    /// A cluster of these instances (a later duplicate ARN replaces an earlier one).
    pub fn new(instances: Vec<Instance>) -> ReferenceState {
        let mut state = ReferenceState::default();
        for inst in instances {
            state.update_instance(inst);
        }
        state
    }

    /// The instances, sorted by ARN.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Adds or replaces an instance.
    pub fn update_instance(&mut self, instance: Instance) {
        match self.instances.binary_search_by(|i| i.arn.cmp(&instance.arn)) {
            Ok(k) => self.instances[k] = instance,
            Err(k) => self.instances.insert(k, instance),
        }
    }

    /// Removes an instance.
    pub fn remove_instance(&mut self, arn: &str) -> Option<Instance> {
        let k = self.instances.binary_search_by(|i| i.arn.as_str().cmp(arn)).ok()?;
        Some(self.instances.remove(k))
    }

    /// The first check, in [`FailureReason`] order, that `inst` fails for `demand`; `None` if it fits.
    pub fn first_failure(&self, inst: &Instance, demand: &TaskDemand) -> Option<FailureReason> {
        match inst.status {
            InstanceStatus::Active => {}
            InstanceStatus::Draining => return Some(FailureReason::Draining),
            _ => return Some(FailureReason::Inactive),
        }
        if !inst.agent_connected {
            return Some(FailureReason::Agent);
        }
        if !demand.required_attributes.iter().all(|a| inst.attributes.contains_key(a)) {
            return Some(FailureReason::MissingAttribute);
        }
        if inst.remaining.cpu < demand.cpu {
            return Some(FailureReason::Cpu);
        }
        if inst.remaining.memory < demand.memory {
            return Some(FailureReason::Memory);
        }
        if !inst.remaining.storage_fits(demand.ephemeral_storage_gib) {
            return Some(FailureReason::EphemeralStorage);
        }
        if demand.tcp_ports.iter().any(|p| inst.used_tcp_ports.contains(p)) {
            return Some(FailureReason::Ports);
        }
        if demand.udp_ports.iter().any(|p| inst.used_udp_ports.contains(p)) {
            return Some(FailureReason::PortsUdp);
        }
        for c in &demand.constraints {
            if *c == Constraint::DistinctInstance && inst.task_groups.get(&demand.group).is_some_and(|n| *n > 0) {
                return Some(FailureReason::DistinctInstance);
            }
        }
        for c in &demand.constraints {
            if let Constraint::MemberOf(e) = c
                && !e.matches(inst)
            {
                return Some(FailureReason::MemberOf);
            }
        }
        None
    }

    /// The rank of every instance (in ARN order) for the next task: one value per ranking strategy, lower
    /// is better, then the distance on the hash ring from `r`.
    pub fn ranks(&self, demand: &TaskDemand, r: u64) -> Vec<(Vec<i64>, u64)> {
        let group_count = |inst: &Instance| i64::from(inst.task_groups.get(&demand.group).copied().unwrap_or(0));
        let chain = ranking_chain(demand);
        let mut buckets: HashMap<&str, HashMap<Option<&str>, i64>> = HashMap::new();
        for s in chain {
            if let Strategy::Spread(field) = s
                && let SpreadOver::Attribute(name) = spread_over(field)
            {
                let mut counts = HashMap::new();
                for inst in &self.instances {
                    *counts.entry(bucket(inst, &name)).or_insert(0) += group_count(inst);
                }
                buckets.insert(field.as_str(), counts);
            }
        }
        self.instances
            .iter()
            .map(|inst| {
                let vals = chain
                    .iter()
                    .map(|s| match s {
                        Strategy::Binpack(BinpackField::Memory) => inst.remaining.memory,
                        Strategy::Binpack(BinpackField::Cpu) => inst.remaining.cpu,
                        Strategy::Spread(field) => match spread_over(field) {
                            SpreadOver::Instance => group_count(inst),
                            SpreadOver::Attribute(name) => buckets
                                .get(field.as_str())
                                .and_then(|b| b.get(&bucket(inst, &name)))
                                .copied()
                                .unwrap_or(0),
                        },
                        Strategy::Random => 0,
                    })
                    .collect();
                (vals, tie_breaker(&inst.arn).wrapping_sub(r))
            })
            .collect()
    }

    /// Places `count` tasks like [`crate::ClusterState::place`], by scanning every instance for each task.
    pub fn place(&mut self, demand: &TaskDemand, count: usize, rng: &mut impl Rng) -> Placement {
        let mut out = Placement::default();
        for _ in 0..count {
            let r: u64 = rng.random();
            let feasible: Vec<usize> = (0..self.instances.len())
                .filter(|&k| self.first_failure(&self.instances[k], demand).is_none())
                .collect();
            if feasible.is_empty() {
                out.failures = self.failures(demand);
                break;
            }
            let chosen = if ranking_chain(demand).is_empty() {
                feasible[rng.random_range(0..feasible.len())]
            } else {
                let ranks = self.ranks(demand, r);
                let mut best = feasible[0];
                for &k in &feasible[1..] {
                    if ranks[k] < ranks[best] {
                        best = k;
                    }
                }
                best
            };
            let arn = self.instances[chosen].arn.clone();
            self.record(chosen, demand, 1);
            out.placed.push(arn);
        }
        out
    }

    /// One failure per instance that cannot take the task, sorted by ARN.
    pub fn failures(&self, demand: &TaskDemand) -> Vec<Failure> {
        let mut out: Vec<Failure> = self
            .instances
            .iter()
            .filter_map(|i| self.first_failure(i, demand).map(|r| Failure::for_instance(&i.arn, r)))
            .collect();
        out.sort();
        out
    }

    fn record(&mut self, k: usize, demand: &TaskDemand, sign: i64) {
        let inst = &mut self.instances[k];
        inst.remaining.cpu -= sign * demand.cpu;
        inst.remaining.memory -= sign * demand.memory;
        inst.remaining.take_storage(demand.ephemeral_storage_gib, sign);
        for p in &demand.tcp_ports {
            if sign > 0 {
                inst.used_tcp_ports.insert(*p)
            } else {
                inst.used_tcp_ports.remove(p)
            };
        }
        for p in &demand.udp_ports {
            if sign > 0 {
                inst.used_udp_ports.insert(*p)
            } else {
                inst.used_udp_ports.remove(p)
            };
        }
        if sign > 0 {
            inst.running_tasks_count = inst.running_tasks_count.saturating_add(1);
            *inst.task_groups.entry(demand.group.clone()).or_insert(0) += 1;
        } else {
            inst.running_tasks_count = inst.running_tasks_count.saturating_sub(1);
            if let Some(n) = inst.task_groups.get_mut(&demand.group) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    inst.task_groups.remove(&demand.group);
                }
            }
        }
    }

    /// Records a task placed on `arn` by someone else (e.g. the engine, when the choice was random).
    pub fn record_placement(&mut self, arn: &str, demand: &TaskDemand) -> Result<(), StateError> {
        let k = self.index(arn)?;
        self.record(k, demand, 1);
        Ok(())
    }

    /// Gives back what one task of `demand` reserved on an instance.
    pub fn release(&mut self, arn: &str, demand: &TaskDemand) -> Result<(), StateError> {
        let k = self.index(arn)?;
        self.record(k, demand, -1);
        Ok(())
    }

    fn index(&self, arn: &str) -> Result<usize, StateError> {
        self.instances
            .binary_search_by(|i| i.arn.as_str().cmp(arn))
            .map_err(|_| StateError::UnknownInstance { arn: arn.to_string() })
    }

    /// Like [`crate::ClusterState::closest_match`].
    pub fn closest_match(&self, demand: &TaskDemand) -> Option<(String, String)> {
        let mut best: Option<(FailureReason, i64, &Instance)> = None;
        for inst in self.instances.iter().filter(|i| i.status == InstanceStatus::Active) {
            let reason = self.first_failure(inst, demand)?;
            let left = match reason {
                FailureReason::Cpu => inst.remaining.cpu,
                FailureReason::Memory => inst.remaining.memory,
                FailureReason::EphemeralStorage => inst.remaining.ephemeral_storage_gib.unwrap_or(0),
                _ => 0,
            };
            // Instances are in ARN order, so keeping the first of equals keeps the smallest ARN.
            if best.is_none_or(|(r, l, _)| (reason, left) > (r, l)) {
                best = Some((reason, left, inst));
            }
        }
        best.map(|(reason, _, inst)| (inst.arn.clone(), reason.closest_match_phrase().to_string()))
    }
}
