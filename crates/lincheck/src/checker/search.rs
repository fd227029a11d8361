//! The search for one sub-history: Wing & Gong's depth-first search with Lowe's cache, as Porcupine runs it.
//!
//! Walk the entry list from its head. At a call entry, try to linearize that operation next: if the model accepts
//! it from the current state, and the pair (set of operations linearized, resulting state) was not reached before,
//! push it on a stack, lift its entries out of the list and start again from the head. At a return entry, the
//! operation that returned there was not linearized before its return in this order: pop the last choice, put it
//! back, and go on with the entry after it. A pending operation has no return entry, so it may be linearized at any
//! point after its call, or never: the search succeeds once every completed operation is linearized. The cache
//! makes the search forget orders that end in a configuration already explored, which is what keeps it fast.

use super::entries::{Entries, Entry};
use crate::history::Operation;
use crate::model::Model;
use std::collections::HashSet;

/// How a search ended.
pub(super) enum Outcome<S> {
    /// Every completed operation was placed.
    Linearizable,
    /// No order fits; the deepest point reached.
    Refuted(Deepest<S>),
    /// The step budget ran out.
    Undecided,
}

/// The longest linearizable prefix the search found, and the operation that returned before it could be placed.
pub(super) struct Deepest<S> {
    /// Indices of the prefix's operations, in their linearization order.
    pub prefix: Vec<usize>,
    /// The state after the prefix.
    pub state: S,
    /// The index of the operation whose return came first with it unplaced.
    pub stuck: usize,
}

/// A set of operations by index.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Box<[u64]>);

impl Bits {
    fn new(len: usize) -> Self {
        Self(vec![0; len.div_ceil(64)].into_boxed_slice())
    }

    fn flip(&mut self, i: usize) {
        self.0[i / 64] ^= 1 << (i % 64);
    }
}

/// Searches for a linearization of `ops` from `init`, taking at most `budget` steps; returns the outcome and the
/// steps taken.
pub(super) fn search<M: Model>(
    init: &M::State,
    ops: &[Operation<M::Input, M::Output>],
    budget: u64,
) -> (Outcome<M::State>, u64) {
    let times: Vec<_> = ops.iter().map(|op| (op.call, op.returned.as_ref().map(|r| r.at))).collect();
    let mut entries = Entries::new(&times);
    let mut remaining = ops.iter().filter(|op| !op.is_pending()).count();
    let mut linearized = Bits::new(ops.len());
    let mut cache: HashSet<(Bits, M::State)> = HashSet::new();
    // (call entry lifted, its operation, the state before it)
    let mut stack: Vec<(usize, usize, M::State)> = Vec::new();
    let mut state = init.clone();
    let mut deepest: Option<Deepest<M::State>> = None;
    let mut steps = 0u64;
    let mut node = entries.first();
    while remaining > 0 {
        steps += 1;
        if steps > budget {
            return (Outcome::Undecided, steps - 1);
        }
        match entries.get(node) {
            Entry::Call { op, .. } => {
                let operation = &ops[op];
                let next = match operation.output() {
                    Some(output) => M::step(&state, &operation.input, output),
                    None => M::step_pending(&state, &operation.input),
                };
                if let Some(next) = next {
                    linearized.flip(op);
                    if cache.insert((linearized.clone(), next.clone())) {
                        stack.push((node, op, std::mem::replace(&mut state, next)));
                        entries.lift(node);
                        if !operation.is_pending() {
                            remaining -= 1;
                        }
                        node = entries.first();
                        continue;
                    }
                    linearized.flip(op);
                }
                node = entries.next(node);
            }
            found => {
                if let Entry::Return { op } = found
                    && deepest.as_ref().is_none_or(|d| stack.len() > d.prefix.len())
                {
                    let prefix = stack.iter().map(|&(_, op, _)| op).collect();
                    deepest = Some(Deepest { prefix, state: state.clone(), stuck: op });
                }
                let Some((call, op, before)) = stack.pop() else {
                    return match deepest {
                        Some(deepest) => (Outcome::Refuted(deepest), steps),
                        // Unreachable: with completed operations left, the walk meets a return entry first.
                        None => (Outcome::Undecided, steps),
                    };
                };
                state = before;
                entries.unlift(call);
                linearized.flip(op);
                if !ops[op].is_pending() {
                    remaining += 1;
                }
                node = entries.next(call);
            }
        }
    }
    (Outcome::Linearizable, steps)
}
