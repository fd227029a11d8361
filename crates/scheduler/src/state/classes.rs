//! Instance classes: schedulable instances that look the same to every constraint, required attribute and
//! spread field seen so far (the same values of the *relevant* attributes, and the same agent version when
//! an expression asks for it). A class is checked once per placement call instead of once per instance, and
//! holds the ordered indexes its instances are searched through.

use std::collections::HashMap;

use super::slot::Slot;
use super::treap::{Key, Treap};
use crate::expr::eval::{AttrFact, Facts};

/// The orders an index can keep; every key ends with the tie-breaker hash and the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Hash order only (for strategies without binpack).
    Hash = 0,
    /// Remaining memory.
    Mem = 1,
    /// Remaining CPU.
    Cpu = 2,
    /// Remaining memory, then CPU.
    MemCpu = 3,
    /// Remaining CPU, then memory.
    CpuMem = 4,
}

/// Number of [`Kind`]s.
pub(crate) const KINDS: usize = 5;

impl Kind {
    pub(crate) const ALL: [Kind; KINDS] = [Kind::Hash, Kind::Mem, Kind::Cpu, Kind::MemCpu, Kind::CpuMem];

    /// The index key of a slot.
    pub(crate) fn key(self, slot: &Slot, idx: u32) -> Key {
        let (cpu, mem) = (slot.remaining.cpu, slot.remaining.memory);
        match self {
            Kind::Hash => (0, 0, slot.tb, idx),
            Kind::Mem => (mem, 0, slot.tb, idx),
            Kind::Cpu => (cpu, 0, slot.tb, idx),
            Kind::MemCpu => (mem, cpu, slot.tb, idx),
            Kind::CpuMem => (cpu, mem, slot.tb, idx),
        }
    }
}

/// What identifies a class: the agent version (when relevant) and each relevant attribute's state
/// (`None`: missing, `Some(None)`: present without a value).
pub(crate) type ClassKey = (Option<String>, Vec<Option<Option<String>>>);

/// One class.
#[derive(Debug, Clone)]
pub(crate) struct Class {
    pub(crate) key: ClassKey,
    /// Per tracked spread attribute, the value id of this class's instances.
    pub(crate) spread_vals: Vec<u32>,
    /// The attached slots, for uniform random sampling.
    pub(crate) members: Vec<u32>,
    /// One index per [`Kind`]; only the active kinds are maintained.
    pub(crate) trees: [Treap; KINDS],
}

/// The class table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Classes {
    /// Relevant attribute names, in the order of [`ClassKey`]'s vector.
    pub(crate) names: Vec<String>,
    /// Whether the agent version is part of the key.
    pub(crate) with_version: bool,
    table: HashMap<ClassKey, u32>,
    pub(crate) list: Vec<Class>,
}

impl Classes {
    /// The key of a slot under the current relevant names.
    pub(crate) fn key_of(&self, slot: &Slot) -> ClassKey {
        let version = self.with_version.then(|| slot.agent_version.clone());
        let attrs = self.names.iter().map(|n| slot.attributes.get(n).cloned()).collect();
        (version, attrs)
    }

    /// The class id for a key, creating the class if needed (its `spread_vals` are left empty for the caller).
    pub(crate) fn get_or_create(&mut self, key: ClassKey) -> u32 {
        if let Some(&id) = self.table.get(&key) {
            return id;
        }
        let id = self.list.len() as u32;
        self.table.insert(key.clone(), id);
        self.list.push(Class {
            key,
            spread_vals: Vec::new(),
            members: Vec::new(),
            trees: std::array::from_fn(|_| Treap::new()),
        });
        id
    }

    /// Forgets every class (the caller re-attaches the slots).
    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.list.clear();
    }

    /// The value of a relevant attribute in a class key.
    pub(crate) fn attribute<'k>(&self, key: &'k ClassKey, name: &str) -> AttrFact<'k> {
        match self.names.iter().position(|n| n == name) {
            None => AttrFact::Unknown,
            Some(i) => AttrFact::of(key.1[i].as_ref()),
        }
    }
}

/// A class seen by the expression evaluator: it knows the relevant attributes (and the agent version when
/// relevant); instances in classes always have a connected agent; everything else is per instance.
pub(crate) struct ClassFacts<'a> {
    pub(crate) classes: &'a Classes,
    pub(crate) key: &'a ClassKey,
}

impl Facts for ClassFacts<'_> {
    fn attribute(&self, name: &str) -> AttrFact<'_> {
        self.classes.attribute(self.key, name)
    }
    fn agent_connected(&self) -> Option<bool> {
        Some(true)
    }
    fn agent_version(&self) -> Option<&str> {
        self.key.0.as_deref()
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        None
    }
    fn registered_at(&self) -> Option<f64> {
        None
    }
    fn running_tasks_count(&self) -> Option<u32> {
        None
    }
    fn any_group(&self, _: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::eval::{Tri, eval};
    use crate::expr::parse_expression;
    use crate::{Instance, Resources};

    fn slot(zone: &str, version: &str) -> Slot {
        let mut inst = Instance::new("arn/1", Resources::new(1024, 2048)).with_attribute("zone", Some(zone));
        inst.agent_version = version.to_string();
        Slot::from_instance(inst, |_| 0)
    }

    #[test]
    fn keys_project_relevant_attributes_only() {
        let mut classes = Classes { names: vec!["zone".into(), "missing".into()], ..Classes::default() };
        let a = classes.key_of(&slot("a", "1.0"));
        assert_eq!(a, (None, vec![Some(Some("a".into())), None]));
        let id = classes.get_or_create(a.clone());
        assert_eq!(classes.get_or_create(classes.key_of(&slot("a", "2.0"))), id);
        classes.with_version = true;
        assert_ne!(classes.key_of(&slot("a", "2.0")), classes.key_of(&slot("a", "1.0")));
    }

    #[test]
    fn class_facts_leave_instance_fields_unknown() {
        let classes = Classes { names: vec!["zone".into()], ..Classes::default() };
        let key = classes.key_of(&slot("a", "1.0"));
        let facts = ClassFacts { classes: &classes, key: &key };
        let e = |s: &str| eval(&parse_expression(s).unwrap(), &facts);
        assert_eq!(e("attribute:zone == a"), Tri::True);
        assert_eq!(e("attribute:zone == b"), Tri::False);
        assert_eq!(e("attribute:zone == a and runningTasksCount < 3"), Tri::Unknown);
        assert_eq!(e("attribute:zone == b and runningTasksCount < 3"), Tri::False);
        assert_eq!(e("attribute:zone == a or task:group == x"), Tri::True);
        assert_eq!(e("not (ec2InstanceId == i-1)"), Tri::Unknown);
        assert_eq!(e("agentConnected == true"), Tri::True);
    }

    #[test]
    fn kinds_order_by_their_resources() {
        let mut s = slot("a", "1");
        s.remaining = Resources::new(10, 20);
        assert_eq!(Kind::Mem.key(&s, 3), (20, 0, s.tb, 3));
        assert_eq!(Kind::CpuMem.key(&s, 3), (10, 20, s.tb, 3));
        assert_eq!(Kind::Hash.key(&s, 3), (0, 0, s.tb, 3));
    }
}
