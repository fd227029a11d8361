//! One container instance inside [`super::ClusterState`]: the snapshot's fields with task groups interned,
//! plus the instance's place in the indexes.

use std::collections::{BTreeMap, BTreeSet};

use crate::expr::eval::{AttrFact, Facts};
use crate::model::{Instance, InstanceStatus, Resources};

/// Marks a slot that is in no class (not schedulable).
pub(crate) const NO_CLASS: u32 = u32::MAX;

/// A container instance as stored by the state.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) arn: String,
    pub(crate) id: String,
    pub(crate) status: InstanceStatus,
    pub(crate) agent_connected: bool,
    pub(crate) agent_version: String,
    pub(crate) ec2_instance_id: String,
    pub(crate) registered_at: f64,
    pub(crate) attributes: BTreeMap<String, Option<String>>,
    pub(crate) registered: Resources,
    pub(crate) remaining: Resources,
    pub(crate) tcp: BTreeSet<u16>,
    pub(crate) udp: BTreeSet<u16>,
    pub(crate) running: u32,
    /// `(group id, count)` sorted by group id; counts are positive.
    pub(crate) groups: Vec<(u32, u32)>,
    /// A hash of the ARN: the random tie-breaker.
    pub(crate) tb: u64,
    /// The class, or [`NO_CLASS`].
    pub(crate) class: u32,
    /// Position in the class's member list while attached.
    pub(crate) class_pos: u32,
    /// Whether the slot's class indexes currently hold it.
    pub(crate) attached: bool,
    /// Whether a placement call set the slot aside (see `ClusterState::park`).
    pub(crate) parked: bool,
    /// Per tracked spread attribute, the id of this instance's value.
    pub(crate) spread_vals: Vec<u32>,
}

/// FNV-1a of the ARN, finished with a mixer so that similar ARNs spread over the whole ring.
pub(crate) fn tie_breaker(arn: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in arn.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Slot {
    /// Builds a slot; `group_id` interns a group name.
    pub(crate) fn from_instance(inst: Instance, mut group_id: impl FnMut(&str) -> u32) -> Slot {
        let mut groups: Vec<(u32, u32)> =
            inst.task_groups.iter().filter(|(_, n)| **n > 0).map(|(g, n)| (group_id(g), *n)).collect();
        groups.sort_unstable();
        Slot {
            tb: tie_breaker(&inst.arn),
            arn: inst.arn,
            id: inst.id,
            status: inst.status,
            agent_connected: inst.agent_connected,
            agent_version: inst.agent_version,
            ec2_instance_id: inst.ec2_instance_id,
            registered_at: inst.registered_at,
            attributes: inst.attributes,
            registered: inst.registered,
            remaining: inst.remaining,
            tcp: inst.used_tcp_ports,
            udp: inst.used_udp_ports,
            running: inst.running_tasks_count,
            groups,
            class: NO_CLASS,
            class_pos: 0,
            attached: false,
            parked: false,
            spread_vals: Vec::new(),
        }
    }

    /// The public snapshot; `names` maps group ids to names.
    pub(crate) fn to_instance(&self, names: &[String]) -> Instance {
        Instance {
            arn: self.arn.clone(),
            id: self.id.clone(),
            status: self.status,
            agent_connected: self.agent_connected,
            agent_version: self.agent_version.clone(),
            ec2_instance_id: self.ec2_instance_id.clone(),
            registered_at: self.registered_at,
            attributes: self.attributes.clone(),
            registered: self.registered,
            remaining: self.remaining,
            used_tcp_ports: self.tcp.clone(),
            used_udp_ports: self.udp.clone(),
            running_tasks_count: self.running,
            task_groups: self.groups.iter().map(|&(g, n)| (names[g as usize].clone(), n)).collect(),
        }
    }

    pub(crate) fn is_schedulable(&self) -> bool {
        self.status == InstanceStatus::Active && self.agent_connected
    }

    /// Tasks of group `g` on the instance.
    pub(crate) fn group_count(&self, g: u32) -> u32 {
        match self.groups.binary_search_by_key(&g, |&(id, _)| id) {
            Ok(i) => self.groups[i].1,
            Err(_) => 0,
        }
    }

    /// Adds `delta` tasks of group `g`; the new count.
    pub(crate) fn add_group(&mut self, g: u32, delta: i64) -> u32 {
        match self.groups.binary_search_by_key(&g, |&(id, _)| id) {
            Ok(i) => {
                let n = (i64::from(self.groups[i].1) + delta).max(0) as u32;
                if n == 0 {
                    self.groups.remove(i);
                } else {
                    self.groups[i].1 = n;
                }
                n
            }
            Err(i) if delta > 0 => {
                let n = u32::try_from(delta).unwrap_or(u32::MAX);
                self.groups.insert(i, (g, n));
                n
            }
            Err(_) => 0,
        }
    }

    /// Whether none of the ports is in use.
    pub(crate) fn ports_free(&self, tcp: &[u16], udp: &[u16]) -> (bool, bool) {
        (tcp.iter().all(|p| !self.tcp.contains(p)), udp.iter().all(|p| !self.udp.contains(p)))
    }
}

/// A slot seen by the expression evaluator.
pub(crate) struct SlotFacts<'a> {
    pub(crate) slot: &'a Slot,
    pub(crate) names: &'a [String],
}

impl Facts for SlotFacts<'_> {
    fn attribute(&self, name: &str) -> AttrFact<'_> {
        AttrFact::of(self.slot.attributes.get(name))
    }
    fn agent_connected(&self) -> Option<bool> {
        Some(self.slot.agent_connected)
    }
    fn agent_version(&self) -> Option<&str> {
        Some(&self.slot.agent_version)
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        Some(&self.slot.ec2_instance_id)
    }
    fn registered_at(&self) -> Option<f64> {
        Some(self.slot.registered_at)
    }
    fn running_tasks_count(&self) -> Option<u32> {
        Some(self.slot.running)
    }
    fn any_group(&self, pred: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        Some(self.slot.groups.iter().any(|&(g, _)| pred(&self.names[g as usize])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_counts_stay_sorted_and_positive() {
        let mut slot = Slot::from_instance(Instance::new("arn/x", Resources::new(1, 1)), |_| 0);
        assert_eq!(slot.add_group(5, 1), 1);
        assert_eq!(slot.add_group(2, 2), 2);
        assert_eq!(slot.add_group(5, 1), 2);
        assert_eq!(slot.groups, vec![(2, 2), (5, 2)]);
        assert_eq!(slot.add_group(2, -2), 0);
        assert_eq!(slot.add_group(9, -1), 0);
        assert_eq!(slot.groups, vec![(5, 2)]);
        assert_eq!(slot.group_count(5), 2);
        assert_eq!(slot.group_count(2), 0);
    }

    #[test]
    fn tie_breakers_differ_for_similar_arns() {
        assert_ne!(tie_breaker("arn:a/1"), tie_breaker("arn:a/2"));
        assert_eq!(tie_breaker("same"), tie_breaker("same"));
    }
}
