//! Task groups (interned, with the set of instances running each) and spread buckets (per tracked
//! attribute, the number of tasks of each group on instances with each attribute value).

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for the engine's own integer ids (never for caller-controlled strings, which keep the
/// standard library's flood-resistant hasher): multiply-rotate per word, as in rustc's FxHasher.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by engine ids.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Interned task group names and, per group, the slots running at least one of its tasks.
#[derive(Debug, Default, Clone)]
pub(crate) struct Groups {
    pub(crate) names: Vec<String>,
    ids: HashMap<String, u32>,
    pub(crate) members: Vec<BTreeSet<u32>>,
}

impl Groups {
    /// The id of a group, creating it if needed.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        self.members.push(BTreeSet::new());
        id
    }

    /// The id of a known group.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }
}

/// Spread bookkeeping for the attributes some `spread` strategy has used.
#[derive(Debug, Default, Clone)]
pub(crate) struct Spread {
    /// Tracked attribute names.
    pub(crate) attrs: Vec<String>,
    /// Per tracked attribute: value (`None`: missing or valueless) to value id.
    values: Vec<HashMap<Option<String>, u32>>,
    /// `(group, attribute, value)` to the number of the group's tasks on instances with that value.
    counts: IdMap<(u32, u32, u32), u32>,
}

impl Spread {
    /// The index of a tracked attribute.
    pub(crate) fn attr_index(&self, name: &str) -> Option<u32> {
        self.attrs.iter().position(|a| a == name).map(|i| i as u32)
    }

    /// Starts tracking an attribute; its index.
    pub(crate) fn track(&mut self, name: &str) -> u32 {
        if let Some(i) = self.attr_index(name) {
            return i;
        }
        self.attrs.push(name.to_string());
        self.values.push(HashMap::new());
        (self.attrs.len() - 1) as u32
    }

    /// The id of a value of tracked attribute `attr`.
    pub(crate) fn value_id(&mut self, attr: u32, value: Option<&str>) -> u32 {
        let map = &mut self.values[attr as usize];
        if let Some(&id) = map.get(&value.map(str::to_string)) {
            return id;
        }
        let id = map.len() as u32;
        map.insert(value.map(str::to_string), id);
        id
    }

    /// Tasks of `group` in bucket `value` of attribute `attr`.
    pub(crate) fn count(&self, group: u32, attr: u32, value: u32) -> u32 {
        self.counts.get(&(group, attr, value)).copied().unwrap_or(0)
    }

    /// Adds `delta` tasks of `group` to bucket `value` of attribute `attr`.
    pub(crate) fn add(&mut self, group: u32, attr: u32, value: u32, delta: i64) {
        let entry = self.counts.entry((group, attr, value)).or_insert(0);
        *entry = (i64::from(*entry) + delta).max(0) as u32;
        if *entry == 0 {
            self.counts.remove(&(group, attr, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_groups_once() {
        let mut g = Groups::default();
        assert_eq!(g.intern("service:web"), 0);
        assert_eq!(g.intern("service:db"), 1);
        assert_eq!(g.intern("service:web"), 0);
        assert_eq!(g.get("service:db"), Some(1));
        assert_eq!(g.get("nope"), None);
        assert_eq!(g.members.len(), 2);
    }

    #[test]
    fn spread_counts_per_bucket() {
        let mut s = Spread::default();
        let zone = s.track("ecs.availability-zone");
        assert_eq!(s.track("ecs.availability-zone"), zone);
        let a = s.value_id(zone, Some("a"));
        let none = s.value_id(zone, None);
        assert_ne!(a, none);
        s.add(7, zone, a, 2);
        s.add(7, zone, a, -1);
        assert_eq!(s.count(7, zone, a), 1);
        s.add(7, zone, a, -5);
        assert_eq!(s.count(7, zone, a), 0);
        assert_eq!(s.count(7, zone, none), 0);
    }
}
