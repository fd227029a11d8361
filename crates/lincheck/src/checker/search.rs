//! The search for one sub-history: Wing & Gong's depth-first search with Lowe's cache, as Porcupine runs it.
//!
//! Walk the entry list from its head. At a call entry, try to linearize that operation next (completed operations
//! in a first walk, pending ones in a second: see [`Pass`]): if the model accepts it from the current state, and the
//! configuration it leads to (operations linearized, state) was not reached before, push it on a stack, lift its
//! entries out of the list and start again from the head. At a return entry, the operation that returned there was
//! not linearized before its return in this order: pop the last choice, put it back, and go on with the entry after
//! it. A pending operation has no return entry, so it may be linearized at any point after its call, or never: the
//! search succeeds once every completed operation is linearized. The cache ([`super::cache`]) makes the search
//! forget orders that end in a configuration already explored, which is what keeps it fast.

use super::cache::{Bits, Cache};
use super::entries::{Entries, Entry};
use crate::history::Operation;
use crate::model::Model;

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

/// Which candidates a walk of the list tries: the completed operations called before the first return, then, only
/// once those are exhausted, the pending ones. Trying pending operations last explores configurations with few of
/// them linearized first, which is what lets the cache prune those with more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Completed,
    Pending,
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
    // The operations linearized, completed ones and pending ones apart (see the cache).
    let mut completed = Bits::new(ops.len());
    let mut pending = Bits::new(ops.len());
    let mut cache = Cache::new();
    cache.insert(&completed, &pending, init);
    // (call entry lifted, its operation, the state before it, the pass it was tried in)
    let mut stack: Vec<(usize, usize, M::State, Pass)> = Vec::new();
    let mut state = init.clone();
    let mut deepest: Option<Deepest<M::State>> = None;
    let mut steps = 0u64;
    let mut node = entries.first();
    let mut pass = Pass::Completed;
    while remaining > 0 {
        steps += 1;
        if steps > budget {
            return (Outcome::Undecided, steps - 1);
        }
        match entries.get(node) {
            Entry::Call { op, .. } if ops[op].is_pending() != (pass == Pass::Pending) => node = entries.next(node),
            Entry::Call { op, .. } => {
                let operation = &ops[op];
                let next = match operation.output() {
                    Some(output) => M::step(&state, &operation.input, output),
                    None => M::step_pending(&state, &operation.input),
                };
                if let Some(next) = next {
                    let set = if operation.is_pending() { &mut pending } else { &mut completed };
                    set.flip(op);
                    if cache.insert(&completed, &pending, &next) {
                        stack.push((node, op, std::mem::replace(&mut state, next), pass));
                        entries.lift(node);
                        if !operation.is_pending() {
                            remaining -= 1;
                        }
                        node = entries.first();
                        pass = Pass::Completed;
                        continue;
                    }
                    let set = if operation.is_pending() { &mut pending } else { &mut completed };
                    set.flip(op);
                }
                node = entries.next(node);
            }
            _ if pass == Pass::Completed => {
                node = entries.first();
                pass = Pass::Pending;
            }
            found => {
                if let Entry::Return { op } = found
                    && deepest.as_ref().is_none_or(|d| stack.len() > d.prefix.len())
                {
                    let prefix = stack.iter().map(|&(_, op, _, _)| op).collect();
                    deepest = Some(Deepest { prefix, state: state.clone(), stuck: op });
                }
                let Some((call, op, before, tried_in)) = stack.pop() else {
                    return match deepest {
                        Some(deepest) => (Outcome::Refuted(deepest), steps),
                        // Unreachable: with completed operations left, the walk meets a return entry first.
                        None => (Outcome::Undecided, steps),
                    };
                };
                state = before;
                entries.unlift(call);
                if ops[op].is_pending() {
                    pending.flip(op);
                } else {
                    completed.flip(op);
                    remaining += 1;
                }
                node = entries.next(call);
                pass = tried_in;
            }
        }
    }
    (Outcome::Linearizable, steps)
}
