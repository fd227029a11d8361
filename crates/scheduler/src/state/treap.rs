//! An ordered index of container instances: a treap (a randomized balanced search tree) keyed by a 4-tuple,
//! where every node also carries its instance's remaining CPU and memory and the maximum of both over its
//! subtree.
//!
//! The aggregates make "the first instance at or after key `lo` that has at least `c` CPU and `m` memory
//! left and passes `accept`" cost O(log n) plus the instances `accept` rejects: whole subtrees without enough
//! of either resource are skipped. Binpack on memory therefore never walks past instances whose CPU ran out,
//! which would otherwise pile up at the front of the index.

/// An index key: two ordering values (e.g. remaining memory, remaining CPU), the instance's hash (the random
/// tie-breaker) and its slot number.
pub(crate) type Key = (i64, i64, u64, u32);

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    key: Key,
    cpu: i64,
    mem: i64,
    max_cpu: i64,
    max_mem: i64,
    prio: u64,
    left: u32,
    right: u32,
}

/// The bounds and resource needs of a search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query {
    /// Smallest key considered.
    pub(crate) lo: Key,
    /// Largest key considered.
    pub(crate) hi: Key,
    /// CPU the instance must have left.
    pub(crate) cpu: i64,
    /// Memory the instance must have left.
    pub(crate) mem: i64,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Treap {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    len: usize,
    seed: u64,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Treap {
    pub(crate) fn new() -> Treap {
        Treap { nodes: Vec::new(), free: Vec::new(), root: NIL, len: 0, seed: 0x5EED }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    fn pull(&mut self, i: u32) {
        let n = self.node(i);
        let (mut max_cpu, mut max_mem) = (n.cpu, n.mem);
        for child in [n.left, n.right] {
            if child != NIL {
                let c = self.node(child);
                max_cpu = max_cpu.max(c.max_cpu);
                max_mem = max_mem.max(c.max_mem);
            }
        }
        let n = self.node_mut(i);
        n.max_cpu = max_cpu;
        n.max_mem = max_mem;
    }

    /// Splits `t` into keys `< key` and keys `>= key`.
    fn split(&mut self, t: u32, key: &Key) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.node(t).key < *key {
            let (l, r) = self.split(self.node(t).right, key);
            self.node_mut(t).right = l;
            self.pull(t);
            (t, r)
        } else {
            let (l, r) = self.split(self.node(t).left, key);
            self.node_mut(t).left = r;
            self.pull(t);
            (l, t)
        }
    }

    /// Joins two treaps whose keys are all ordered `a < b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.node(a).prio > self.node(b).prio {
            let r = self.merge(self.node(a).right, b);
            self.node_mut(a).right = r;
            self.pull(a);
            a
        } else {
            let l = self.merge(a, self.node(b).left);
            self.node_mut(b).left = l;
            self.pull(b);
            b
        }
    }

    fn insert_at(&mut self, t: u32, n: u32) -> u32 {
        if t == NIL {
            return n;
        }
        let key = self.node(n).key;
        if self.node(n).prio > self.node(t).prio {
            let (l, r) = self.split(t, &key);
            let node = self.node_mut(n);
            node.left = l;
            node.right = r;
            self.pull(n);
            return n;
        }
        if key < self.node(t).key {
            let c = self.insert_at(self.node(t).left, n);
            self.node_mut(t).left = c;
        } else {
            let c = self.insert_at(self.node(t).right, n);
            self.node_mut(t).right = c;
        }
        self.pull(t);
        t
    }

    /// Inserts a key (which must not be present).
    pub(crate) fn insert(&mut self, key: Key, cpu: i64, mem: i64) {
        let prio = splitmix(&mut self.seed);
        let node = Node { key, cpu, mem, max_cpu: cpu, max_mem: mem, prio, left: NIL, right: NIL };
        let n = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.root = self.insert_at(self.root, n);
        self.len += 1;
    }

    fn remove_at(&mut self, t: u32, key: &Key) -> (u32, bool) {
        if t == NIL {
            return (NIL, false);
        }
        let here = self.node(t).key;
        if *key == here {
            let merged = self.merge(self.node(t).left, self.node(t).right);
            self.free.push(t);
            return (merged, true);
        }
        let found = if *key < here {
            let (c, found) = self.remove_at(self.node(t).left, key);
            self.node_mut(t).left = c;
            found
        } else {
            let (c, found) = self.remove_at(self.node(t).right, key);
            self.node_mut(t).right = c;
            found
        };
        if found {
            self.pull(t);
        }
        (t, found)
    }

    /// Removes a key; whether it was present.
    pub(crate) fn remove(&mut self, key: &Key) -> bool {
        let (root, found) = self.remove_at(self.root, key);
        self.root = root;
        if found {
            self.len -= 1;
        }
        found
    }

    fn first_at(&self, t: u32, q: &Query, accept: &mut impl FnMut(u32) -> bool) -> Option<Key> {
        if t == NIL {
            return None;
        }
        let n = self.node(t);
        if n.max_cpu < q.cpu || n.max_mem < q.mem {
            return None;
        }
        if n.key < q.lo {
            return self.first_at(n.right, q, accept);
        }
        if n.key > q.hi {
            return self.first_at(n.left, q, accept);
        }
        if let Some(k) = self.first_at(n.left, q, accept) {
            return Some(k);
        }
        if n.cpu >= q.cpu && n.mem >= q.mem && accept(n.key.3) {
            return Some(n.key);
        }
        self.first_at(n.right, q, accept)
    }

    /// The first key in `[q.lo, q.hi]` whose instance has the resources `q` asks for and that `accept`
    /// accepts (it is given the slot number, in key order, and may record rejections).
    pub(crate) fn first(&self, q: &Query, accept: &mut impl FnMut(u32) -> bool) -> Option<Key> {
        self.first_at(self.root, q, accept)
    }

    fn walk_at(&self, t: u32, q: &Query, f: &mut impl FnMut(&Key) -> bool) -> bool {
        if t == NIL {
            return true;
        }
        let n = self.node(t);
        if n.max_cpu < q.cpu || n.max_mem < q.mem {
            return true;
        }
        if n.key >= q.lo && !self.walk_at(n.left, q, f) {
            return false;
        }
        if n.key >= q.lo && n.key <= q.hi && n.cpu >= q.cpu && n.mem >= q.mem && !f(&n.key) {
            return false;
        }
        if n.key <= q.hi {
            return self.walk_at(n.right, q, f);
        }
        true
    }

    /// Calls `f` with every key in `[q.lo, q.hi]` whose instance has the resources `q` asks for, in order,
    /// until `f` returns false.
    pub(crate) fn walk(&self, q: &Query, f: &mut impl FnMut(&Key) -> bool) {
        self.walk_at(self.root, q, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    const ALL: Query =
        Query { lo: (i64::MIN, i64::MIN, 0, 0), hi: (i64::MAX, i64::MAX, u64::MAX, u32::MAX), cpu: 0, mem: 0 };

    #[test]
    fn matches_a_btreemap_under_random_operations() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut treap = Treap::new();
        let mut model: BTreeMap<Key, (i64, i64)> = BTreeMap::new();
        for step in 0..4000u32 {
            if rng.random_bool(0.6) || model.is_empty() {
                let key = (rng.random_range(0..50), rng.random_range(0..5), rng.random_range(0..1000), step);
                let (cpu, mem) = (rng.random_range(0..100), rng.random_range(0..100));
                treap.insert(key, cpu, mem);
                model.insert(key, (cpu, mem));
            } else {
                let idx = rng.random_range(0..model.len());
                let key = *model.keys().nth(idx).unwrap();
                assert!(treap.remove(&key));
                model.remove(&key);
                assert!(!treap.remove(&key));
            }
            assert_eq!(treap.len(), model.len());
            if step % 97 == 0 {
                let (need_cpu, need_mem) = (rng.random_range(0..100), rng.random_range(0..100));
                let lo = (rng.random_range(0..50), 0, 0, 0);
                let q = Query { lo, hi: ALL.hi, cpu: need_cpu, mem: need_mem };
                let odd_only = |slot: u32| slot % 2 == 1;
                let want = model
                    .iter()
                    .find(|(k, (c, m))| **k >= lo && *c >= need_cpu && *m >= need_mem && odd_only(k.3))
                    .map(|(k, _)| *k);
                assert_eq!(treap.first(&q, &mut |s| odd_only(s)), want);
                let mut walked = Vec::new();
                treap.walk(&q, &mut |k| {
                    walked.push(*k);
                    true
                });
                let expected: Vec<Key> = model
                    .iter()
                    .filter(|(k, (c, m))| **k >= lo && *c >= need_cpu && *m >= need_mem)
                    .map(|(k, _)| *k)
                    .collect();
                assert_eq!(walked, expected);
            }
        }
    }

    #[test]
    fn bounded_searches_and_early_stop() {
        let mut treap = Treap::new();
        for i in 0..100u32 {
            treap.insert((i64::from(i / 10), 0, u64::from(i), i), 10, 10);
        }
        let q = Query { lo: (3, 0, 35, 0), hi: (3, 0, u64::MAX, u32::MAX), ..ALL };
        assert_eq!(treap.first(&q, &mut |_| true), Some((3, 0, 35, 35)));
        let q = Query { lo: (3, 0, 0, 0), hi: (3, 0, 34, u32::MAX), ..ALL };
        assert_eq!(treap.first(&q, &mut |s| s > 31), Some((3, 0, 32, 32)));
        let mut n = 0;
        treap.walk(&ALL, &mut |_| {
            n += 1;
            n < 5
        });
        assert_eq!(n, 5);
        assert_eq!(treap.first(&Query { cpu: 11, ..ALL }, &mut |_| true), None);
    }
}
