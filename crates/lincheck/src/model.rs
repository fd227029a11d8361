//! What a checker checks a history against: a sequential specification ([`Model`]) and how a history splits into
//! independent keys ([`Model::partition`]).

use crate::history::{History, Operation};
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification of an object: its states and which outputs each operation may give from each state.
///
/// The checker searches for an order of the operations, each placed between its call and its return, in which
/// every completed operation's output is one the model allows from the state the operations before it left.
/// `step` must be deterministic (the state after an operation is a function of the state, input and output), and
/// equal states must behave alike: the checker prunes on them.
pub trait Model {
    /// A name for reports.
    const NAME: &'static str;
    /// The object's state; cloned and hashed often, so keep it small.
    type State: Clone + Eq + Hash + Debug;
    /// What a call asks.
    type Input: Clone + Debug;
    /// What a call answers.
    type Output: Clone + Debug;

    /// The state before any operation, for [`Model::partition`]'s default.
    fn init() -> Self::State;

    /// The state after an operation that answered `output`, or `None` if that answer is impossible from `state`.
    fn step(state: &Self::State, input: &Self::Input, output: &Self::Output) -> Option<Self::State>;

    /// The state after an operation whose answer was never seen, had it taken effect; `None` if it cannot take
    /// effect from `state`. (That it may never take effect at all is the checker's business, not the model's.)
    fn step_pending(state: &Self::State, input: &Self::Input) -> Option<Self::State>;

    /// Why [`Model::step`] refuses `output` from `state`, for reports; only called on a refusal.
    fn explain(state: &Self::State, input: &Self::Input, output: &Self::Output) -> String {
        format!("{input:?} cannot answer {output:?} from {state:?}")
    }

    /// Splits a history into independent sub-histories, each checked on its own. Sound when the operations of
    /// different sub-histories touch disjoint parts of the state: linearizability is local (Herlihy & Wing), so a
    /// history of independent keys is linearizable exactly when each key's sub-history is. An operation that touches
    /// several keys (a read of many tasks) may be projected onto each one. The default is one sub-history of every
    /// operation, from [`Model::init`].
    fn partition(history: &History<Self::Input, Self::Output>) -> Vec<Partition<Self>> {
        vec![Partition { key: Self::NAME.to_string(), init: Self::init(), ops: history.ops.clone() }]
    }
}

/// One independent sub-history of a [`Model`].
pub struct Partition<M: Model + ?Sized> {
    /// What it is about (a service, a task ARN), for reports.
    pub key: String,
    /// The state before its first operation.
    pub init: M::State,
    /// Its operations, in any order.
    pub ops: Vec<Operation<M::Input, M::Output>>,
}

impl<M: Model + ?Sized> Clone for Partition<M> {
    fn clone(&self) -> Self {
        Self { key: self.key.clone(), init: self.init.clone(), ops: self.ops.clone() }
    }
}

impl<M: Model + ?Sized> Debug for Partition<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition").field("key", &self.key).field("init", &self.init).field("ops", &self.ops).finish()
    }
}
