//! The history as one time-ordered doubly linked list of call and return entries, from which the search lifts an
//! operation (its call and its return) when it linearizes it and puts it back, in reverse order, when it backtracks
//! (Knuth's dancing links: a removed node keeps its own links, so reinsertion is two writes).

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    /// The list's ends.
    Sentinel,
    /// Operation `op` was called; `ret` is its return entry, if it returned.
    Call { op: usize, ret: Option<usize> },
    /// Operation `op` returned.
    Return { op: usize },
}

/// The list; node 0 is the head, the last node the tail.
pub(super) struct Entries {
    entries: Vec<Entry>,
    prev: Vec<usize>,
    next: Vec<usize>,
}

impl Entries {
    /// The list of operations given as (call, return) times: sorted by time, a call before a return at the same
    /// time (so operations that touch at one instant count as concurrent, the reading that cannot invent an anomaly).
    pub(super) fn new(times: &[(u64, Option<u64>)]) -> Self {
        // (time, return after call, operation)
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(times.len() * 2);
        for (op, &(call, ret)) in times.iter().enumerate() {
            events.push((call, false, op));
            if let Some(ret) = ret {
                events.push((ret, true, op));
            }
        }
        events.sort_unstable();
        let mut entries = Vec::with_capacity(events.len() + 2);
        entries.push(Entry::Sentinel);
        let mut call_node = vec![0; times.len()];
        for &(_, is_return, op) in &events {
            let node = entries.len();
            if is_return {
                entries.push(Entry::Return { op });
                if let Entry::Call { ret, .. } = &mut entries[call_node[op]] {
                    *ret = Some(node);
                }
            } else {
                entries.push(Entry::Call { op, ret: None });
                call_node[op] = node;
            }
        }
        entries.push(Entry::Sentinel);
        let n = entries.len();
        let prev = (0..n).map(|i| i.saturating_sub(1)).collect();
        let next = (0..n).map(|i| (i + 1).min(n - 1)).collect();
        Self { entries, prev, next }
    }

    /// The first entry still in the list (the tail when it is empty).
    pub(super) fn first(&self) -> usize {
        self.next[0]
    }

    /// The entry after `node`.
    pub(super) fn next(&self, node: usize) -> usize {
        self.next[node]
    }

    /// What `node` is.
    pub(super) fn get(&self, node: usize) -> Entry {
        self.entries[node]
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        self.prev[next] = node;
    }

    /// Removes a call entry and its return entry.
    pub(super) fn lift(&mut self, call: usize) {
        self.unlink(call);
        if let Entry::Call { ret: Some(ret), .. } = self.entries[call] {
            self.unlink(ret);
        }
    }

    /// Puts back what [`Entries::lift`] removed; lifts must be undone in reverse order.
    pub(super) fn unlift(&mut self, call: usize) {
        if let Entry::Call { ret: Some(ret), .. } = self.entries[call] {
            self.relink(ret);
        }
        self.relink(call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(entries: &Entries) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut node = entries.first();
        while entries.get(node) != Entry::Sentinel {
            out.push(entries.get(node));
            node = entries.next(node);
        }
        out
    }

    #[test]
    fn orders_by_time_with_calls_first_at_ties_and_lifts_in_reverse() {
        // op 0: [5, 10]; op 1: [10, 20]; op 2: [0, never]
        let mut entries = Entries::new(&[(5, Some(10)), (10, Some(20)), (0, None)]);
        let all = walk(&entries);
        assert_eq!(
            all,
            vec![
                Entry::Call { op: 2, ret: None },
                Entry::Call { op: 0, ret: Some(4) },
                Entry::Call { op: 1, ret: Some(5) },
                Entry::Return { op: 0 },
                Entry::Return { op: 1 },
            ]
        );
        entries.lift(2); // op 0's call
        entries.lift(1); // op 2's call
        assert_eq!(walk(&entries), vec![Entry::Call { op: 1, ret: Some(5) }, Entry::Return { op: 1 }]);
        entries.unlift(1);
        entries.unlift(2);
        assert_eq!(walk(&entries), all);
    }
}
