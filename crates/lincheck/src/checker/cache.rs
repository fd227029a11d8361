//! The configurations the search has reached: Lowe's cache, with one refinement for operations that never returned.
//!
//! A configuration is (completed operations linearized, pending operations linearized, state); from it, which
//! orders remain depends on nothing else. The search never needs to explore a configuration twice. Moreover, a
//! configuration with more pending operations linearized than another with the same completed set and state has
//! fewer choices left (a pending operation may be linearized later, or never), so once the smaller one is reached,
//! the larger one is pruned too. Without this, k pending operations on one key could be combined in 2^k ways, each
//! searched again.

use std::collections::HashMap;
use std::hash::Hash;

/// A set of operations by index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Bits(Box<[u64]>);

impl Bits {
    /// The empty set of `len` operations.
    pub(super) fn new(len: usize) -> Self {
        Self(vec![0; len.div_ceil(64)].into_boxed_slice())
    }

    /// Adds `i` if absent, removes it if present.
    pub(super) fn flip(&mut self, i: usize) {
        self.0[i / 64] ^= 1 << (i % 64);
    }

    fn is_subset_of(&self, other: &Self) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }
}

/// The configurations reached: per (completed set, state), the minimal pending sets seen with them.
pub(super) struct Cache<S> {
    seen: HashMap<(Bits, S), Vec<Bits>>,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    pub(super) fn new() -> Self {
        Self { seen: HashMap::new() }
    }

    /// Records a configuration; `false` if it, or one with a subset of its pending operations, was reached before.
    pub(super) fn insert(&mut self, completed: &Bits, pending: &Bits, state: &S) -> bool {
        let minimal = self.seen.entry((completed.clone(), state.clone())).or_default();
        if minimal.iter().any(|seen| seen.is_subset_of(pending)) {
            return false;
        }
        minimal.retain(|seen| !pending.is_subset_of(seen));
        minimal.push(pending.clone());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(members: &[usize]) -> Bits {
        let mut bits = Bits::new(70);
        members.iter().for_each(|&i| bits.flip(i));
        bits
    }

    #[test]
    fn a_configuration_with_more_pending_operations_is_dominated() {
        let mut cache = Cache::new();
        let done = bits(&[0]);
        assert!(cache.insert(&done, &bits(&[65]), &1));
        assert!(!cache.insert(&done, &bits(&[65]), &1), "the same again");
        assert!(!cache.insert(&done, &bits(&[3, 65]), &1), "a superset of pending operations");
        assert!(cache.insert(&done, &bits(&[3]), &1), "not comparable");
        assert!(cache.insert(&done, &bits(&[]), &1), "a subset replaces both");
        assert!(!cache.insert(&done, &bits(&[3]), &1));
        assert!(cache.insert(&done, &bits(&[3]), &2), "another state");
        assert!(cache.insert(&bits(&[0, 1]), &bits(&[3]), &1), "another completed set");
    }
}
