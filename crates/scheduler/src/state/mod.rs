//! [`ClusterState`]: a long-lived, incrementally maintained snapshot of a cluster's container instances,
//! indexed for placement. See the crate documentation for the design.

mod classes;
mod failures;
mod groups;
mod select;
mod slot;
mod treap;

use std::collections::HashMap;

use classes::{Classes, KINDS, Kind};
use groups::{Groups, Spread};
pub(crate) use slot::tie_breaker;
use slot::{NO_CLASS, Slot};

use crate::error::StateError;
use crate::expr::Expr;
use crate::expr::eval::{AttrFact, Tri, eval};
use crate::model::{Instance, TaskDemand};

/// The scheduler's view of one cluster: container instances plus the indexes that make a placement cost
/// O(classes × log instances) instead of O(instances).
///
/// Build it once from the cluster's instances ([`ClusterState::new`]), then keep it current with
/// [`ClusterState::update_instance`], [`ClusterState::remove_instance`] and [`ClusterState::release`];
/// [`ClusterState::place`] records the tasks it places.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    slots: Vec<Slot>,
    live: Vec<bool>,
    free: Vec<u32>,
    by_arn: HashMap<String, u32>,
    groups: Groups,
    spread: Spread,
    classes: Classes,
    active: [bool; KINDS],
    parked: Vec<u32>,
    /// Per `memberOf` expression seen, its three-valued result for each class (by class id).
    class_results: HashMap<Expr, Vec<Tri>>,
}

/// How many expressions [`ClusterState`] remembers class results for before starting over.
const MAX_CACHED_EXPRESSIONS: usize = 4096;

impl ClusterState {
    /// A state holding these instances (a later duplicate ARN replaces an earlier one).
    pub fn new(instances: Vec<Instance>) -> ClusterState {
        let mut state = ClusterState::default();
        for inst in instances {
            state.update_instance(inst);
        }
        state
    }

    /// Number of container instances.
    pub fn len(&self) -> usize {
        self.by_arn.len()
    }

    /// Whether there are no container instances.
    pub fn is_empty(&self) -> bool {
        self.by_arn.is_empty()
    }

    /// The current snapshot of one instance, including what placements and releases changed.
    pub fn instance(&self, arn: &str) -> Option<Instance> {
        self.by_arn.get(arn).map(|&i| self.slots[i as usize].to_instance(&self.groups.names))
    }

    /// Snapshots of every instance, sorted by ARN.
    pub fn instances(&self) -> Vec<Instance> {
        let mut all: Vec<Instance> =
            self.by_arn.values().map(|&i| self.slots[i as usize].to_instance(&self.groups.names)).collect();
        all.sort_by(|a, b| a.arn.cmp(&b.arn));
        all
    }

    /// Adds an instance, or replaces the one with the same ARN (e.g. after `PutAttributes`, a status change,
    /// an agent reconnect, or a task state change the caller learnt about).
    pub fn update_instance(&mut self, instance: Instance) {
        if let Some(&i) = self.by_arn.get(&instance.arn) {
            self.unlink(i);
            let groups = &mut self.groups;
            self.slots[i as usize] = Slot::from_instance(instance, |g| groups.intern(g));
            self.link(i);
            return;
        }
        let groups = &mut self.groups;
        let slot = Slot::from_instance(instance, |g| groups.intern(g));
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                self.live[i as usize] = true;
                i
            }
            None => {
                self.slots.push(slot);
                self.live.push(true);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_arn.insert(self.slots[i as usize].arn.clone(), i);
        self.link(i);
    }

    /// Removes an instance; its last snapshot.
    pub fn remove_instance(&mut self, arn: &str) -> Option<Instance> {
        let i = self.by_arn.remove(arn)?;
        self.unlink(i);
        let snapshot = self.slots[i as usize].to_instance(&self.groups.names);
        self.slots[i as usize].attributes.clear();
        self.slots[i as usize].groups.clear();
        self.live[i as usize] = false;
        self.free.push(i);
        Some(snapshot)
    }

    /// Gives back what one task of `demand` reserved on an instance (its task stopped): CPU, memory, ephemeral
    /// storage, ports,
    /// the running task count and the task group count.
    pub fn release(&mut self, instance_arn: &str, demand: &TaskDemand) -> Result<(), StateError> {
        let Some(&i) = self.by_arn.get(instance_arn) else {
            return Err(StateError::UnknownInstance { arn: instance_arn.to_string() });
        };
        let group = self.groups.get(&demand.group);
        self.adjust(i, demand, group, -1);
        Ok(())
    }

    /// Records one task of `demand` on an instance, as [`Self::place`] does for the instance it chooses: CPU,
    /// memory, ephemeral storage, ports, the running task count and the task group count. For a caller that keeps reservations the
    /// state does not know yet (placements in flight) on top of a fresh snapshot of the instance.
    pub fn reserve(&mut self, instance_arn: &str, demand: &TaskDemand) -> Result<(), StateError> {
        let Some(&i) = self.by_arn.get(instance_arn) else {
            return Err(StateError::UnknownInstance { arn: instance_arn.to_string() });
        };
        let group = self.groups.intern(&demand.group);
        self.adjust(i, demand, Some(group), 1);
        Ok(())
    }

    fn slot(&self, i: u32) -> &Slot {
        &self.slots[i as usize]
    }

    /// Adds or removes (`sign` = 1 or -1) one task of `demand` (of group `group`) on slot `i`, keeping the
    /// indexes, group members and spread counts in step.
    fn adjust(&mut self, i: u32, demand: &TaskDemand, group: Option<u32>, sign: i64) {
        let in_trees = self.slot(i).attached;
        if in_trees {
            self.trees_remove(i);
        }
        let slot = &mut self.slots[i as usize];
        slot.remaining.cpu -= sign * demand.cpu;
        slot.remaining.memory -= sign * demand.memory;
        slot.remaining.take_storage(demand.ephemeral_storage_gib, sign);
        for p in &demand.tcp_ports {
            if sign > 0 {
                slot.tcp.insert(*p)
            } else {
                slot.tcp.remove(p)
            };
        }
        for p in &demand.udp_ports {
            if sign > 0 {
                slot.udp.insert(*p)
            } else {
                slot.udp.remove(p)
            };
        }
        slot.running = if sign > 0 { slot.running.saturating_add(1) } else { slot.running.saturating_sub(1) };
        if let Some(g) = group {
            let before = slot.group_count(g);
            let after = slot.add_group(g, sign);
            if before != after {
                if after == 0 {
                    self.groups.members[g as usize].remove(&i);
                } else if before == 0 {
                    self.groups.members[g as usize].insert(i);
                }
                for (a, &v) in slot.spread_vals.iter().enumerate() {
                    self.spread.add(g, a as u32, v, i64::from(after) - i64::from(before));
                }
            }
        }
        if in_trees {
            self.trees_insert(i);
        }
    }

    /// Registers a freshly stored slot in the group, spread and class structures.
    fn link(&mut self, i: u32) {
        let mut vals = Vec::with_capacity(self.spread.attrs.len());
        for a in 0..self.spread.attrs.len() {
            let name = &self.spread.attrs[a];
            let value = self.slots[i as usize].attributes.get(name).cloned().flatten();
            vals.push(self.spread.value_id(a as u32, value.as_deref()));
        }
        for &(g, n) in &self.slots[i as usize].groups {
            self.groups.members[g as usize].insert(i);
            for (a, &v) in vals.iter().enumerate() {
                self.spread.add(g, a as u32, v, i64::from(n));
            }
        }
        self.slots[i as usize].spread_vals = vals;
        self.classify(i);
    }

    /// Undoes [`Self::link`].
    fn unlink(&mut self, i: u32) {
        if self.slot(i).attached {
            self.detach(i);
        }
        let slot = &mut self.slots[i as usize];
        slot.class = NO_CLASS;
        slot.parked = false;
        for &(g, n) in &slot.groups {
            self.groups.members[g as usize].remove(&i);
            for (a, &v) in slot.spread_vals.iter().enumerate() {
                self.spread.add(g, a as u32, v, -i64::from(n));
            }
        }
    }

    /// Puts a schedulable slot into its class and attaches it.
    fn classify(&mut self, i: u32) {
        if !self.slot(i).is_schedulable() {
            self.slots[i as usize].class = NO_CLASS;
            return;
        }
        let key = self.classes.key_of(self.slot(i));
        let before = self.classes.list.len();
        let c = self.classes.get_or_create(key);
        if self.classes.list.len() > before {
            self.compute_class_spread(c);
        }
        self.slots[i as usize].class = c;
        self.attach(i);
    }

    /// The spread value ids of a class, from its key (every tracked attribute is relevant).
    fn compute_class_spread(&mut self, c: u32) {
        let mut vals = Vec::with_capacity(self.spread.attrs.len());
        for a in 0..self.spread.attrs.len() {
            let value = match self.classes.attribute(&self.classes.list[c as usize].key, &self.spread.attrs[a]) {
                AttrFact::Value(v) => Some(v.to_string()),
                _ => None,
            };
            vals.push(self.spread.value_id(a as u32, value.as_deref()));
        }
        self.classes.list[c as usize].spread_vals = vals;
    }

    fn trees_insert(&mut self, i: u32) {
        let slot = &self.slots[i as usize];
        let class = &mut self.classes.list[slot.class as usize];
        for kind in Kind::ALL {
            if self.active[kind as usize] {
                class.trees[kind as usize].insert(kind.key(slot, i), slot.remaining.cpu, slot.remaining.memory);
            }
        }
    }

    fn trees_remove(&mut self, i: u32) {
        let slot = &self.slots[i as usize];
        let class = &mut self.classes.list[slot.class as usize];
        for kind in Kind::ALL {
            if self.active[kind as usize] {
                class.trees[kind as usize].remove(&kind.key(slot, i));
            }
        }
    }

    /// Makes slot `i` findable through its class: member list and indexes.
    fn attach(&mut self, i: u32) {
        let c = self.slot(i).class as usize;
        let members = &mut self.classes.list[c].members;
        self.slots[i as usize].class_pos = members.len() as u32;
        members.push(i);
        self.slots[i as usize].attached = true;
        self.trees_insert(i);
    }

    /// Undoes [`Self::attach`].
    fn detach(&mut self, i: u32) {
        self.trees_remove(i);
        let (c, pos) = (self.slot(i).class as usize, self.slot(i).class_pos as usize);
        let members = &mut self.classes.list[c].members;
        members.swap_remove(pos);
        if let Some(&moved) = members.get(pos) {
            self.slots[moved as usize].class_pos = pos as u32;
        }
        self.slots[i as usize].attached = false;
    }

    /// Sets an attached slot aside for the rest of a placement call: its state cannot change during the call
    /// unless a task is placed on it, so an instance found infeasible stays infeasible and need not be looked
    /// at again.
    fn park(&mut self, i: u32) {
        if self.slot(i).attached {
            self.detach(i);
            self.slots[i as usize].parked = true;
            self.parked.push(i);
        }
    }

    /// Re-attaches every parked slot (at the end of a placement call).
    fn unpark_all(&mut self) {
        while let Some(i) = self.parked.pop() {
            if self.slot(i).parked {
                self.slots[i as usize].parked = false;
                self.attach(i);
            }
        }
    }

    /// Makes `names` (and the agent version, if `version`) part of class keys, reclassifying every instance
    /// when that changes anything.
    fn ensure_relevant(&mut self, names: &[&str], version: bool) {
        let mut changed = version && !self.classes.with_version;
        self.classes.with_version |= version;
        for name in names {
            if !self.classes.names.iter().any(|n| n == name) {
                self.classes.names.push((*name).to_string());
                changed = true;
            }
        }
        if !changed {
            return;
        }
        self.class_results.clear();
        for i in 0..self.slots.len() {
            self.slots[i].attached = false;
            self.slots[i].class = NO_CLASS;
        }
        self.classes.clear();
        for i in 0..self.slots.len() as u32 {
            if self.live[i as usize] {
                self.classify(i);
            }
        }
    }

    /// Starts counting tasks per value of a spread attribute (which must already be relevant).
    fn ensure_tracked(&mut self, name: &str) -> u32 {
        if let Some(a) = self.spread.attr_index(name) {
            return a;
        }
        let a = self.spread.track(name);
        for i in 0..self.slots.len() {
            if !self.live[i] {
                continue;
            }
            let value = self.slots[i].attributes.get(name).cloned().flatten();
            let v = self.spread.value_id(a, value.as_deref());
            self.slots[i].spread_vals.push(v);
            for &(g, n) in &self.slots[i].groups {
                self.spread.add(g, a, v, i64::from(n));
            }
        }
        for c in 0..self.classes.list.len() as u32 {
            self.compute_class_spread(c);
        }
        a
    }

    /// Makes [`Self::class_results`] hold `expr`'s result for every class.
    fn evaluate_per_class(&mut self, expr: &Expr) {
        if !self.class_results.contains_key(expr) {
            if self.class_results.len() >= MAX_CACHED_EXPRESSIONS {
                self.class_results.clear();
            }
            self.class_results.insert(expr.clone(), Vec::new());
        }
        let classes = &self.classes;
        if let Some(results) = self.class_results.get_mut(expr) {
            for class in &classes.list[results.len()..] {
                results.push(eval(expr, &classes::ClassFacts { classes, key: &class.key }));
            }
        }
    }

    /// Starts maintaining index `kind` in every class.
    fn ensure_kind(&mut self, kind: Kind) {
        if self.active[kind as usize] {
            return;
        }
        self.active[kind as usize] = true;
        for class in &mut self.classes.list {
            for &i in &class.members {
                let slot = &self.slots[i as usize];
                class.trees[kind as usize].insert(kind.key(slot, i), slot.remaining.cpu, slot.remaining.memory);
            }
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

#[cfg(test)]
mod storage_tests;
