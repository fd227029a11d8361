//! What a check found: per model, the sub-histories checked, the anomalies with their explanation, and the
//! sub-histories the step budget left undecided.

use crate::history::Operation;
use std::fmt;

/// How many operations of a prefix (its last ones) and of the open ones a report prints; the fields hold them all.
const SHOWN: usize = 20;

/// The overall answer of a [`Report`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every sub-history has a linearization.
    Linearizable,
    /// At least one sub-history has none.
    NotLinearizable,
    /// No anomaly found, but the step budget ran out on at least one sub-history.
    Undecided,
}

/// A sub-history with no linearization, explained by the deepest point the search reached.
#[derive(Clone, Debug)]
pub struct Anomaly<I, O> {
    /// The sub-history's key (a service, a task ARN, a cluster).
    pub key: String,
    /// The longest linearizable prefix found, in its linearization order.
    pub prefix: Vec<Operation<I, O>>,
    /// The model's state after that prefix (its `Debug` form).
    pub state: String,
    /// The operation that returned before it could be placed after that prefix.
    pub stuck: Operation<I, O>,
    /// Why it could not be placed.
    pub reason: String,
    /// The other operations not in the prefix that were called before `stuck` returned (so could have gone first).
    pub open: Vec<Operation<I, O>>,
}

/// A sub-history whose search ran out of steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecided {
    /// The sub-history's key.
    pub key: String,
    /// Its operations.
    pub operations: usize,
    /// The steps spent on it (the budget).
    pub steps: u64,
}

/// The result of checking a history against one model.
#[derive(Clone, Debug)]
pub struct Report<I, O> {
    /// The model's name.
    pub model: &'static str,
    /// Sub-histories checked.
    pub partitions: usize,
    /// Operations in them (an operation projected onto several keys counts once per key).
    pub operations: usize,
    /// Search steps taken in all.
    pub steps: u64,
    /// The sub-histories with no linearization.
    pub anomalies: Vec<Anomaly<I, O>>,
    /// The sub-histories the budget left undecided.
    pub undecided: Vec<Undecided>,
}

impl<I, O> Report<I, O> {
    /// The overall answer: an anomaly anywhere makes the history not linearizable, whatever else is undecided.
    pub fn verdict(&self) -> Verdict {
        if !self.anomalies.is_empty() {
            Verdict::NotLinearizable
        } else if !self.undecided.is_empty() {
            Verdict::Undecided
        } else {
            Verdict::Linearizable
        }
    }

    /// Whether every sub-history was shown linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.verdict() == Verdict::Linearizable
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for Anomaly<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "key {}: not linearizable", self.key)?;
        writeln!(f, "  longest linearizable prefix ({} operations):", self.prefix.len())?;
        let shown = self.prefix.len().saturating_sub(SHOWN);
        if shown > 0 {
            writeln!(f, "    ... {shown} earlier operations (in `prefix`)")?;
        }
        for op in &self.prefix[shown..] {
            writeln!(f, "    {op}")?;
        }
        writeln!(f, "  state after it: {}", self.state)?;
        writeln!(f, "  could not place: {}", self.stuck)?;
        writeln!(f, "  because: {}", self.reason)?;
        if !self.open.is_empty() {
            writeln!(f, "  other operations it could have followed:")?;
            for op in self.open.iter().take(SHOWN) {
                writeln!(f, "    {op}")?;
            }
            if self.open.len() > SHOWN {
                writeln!(f, "    ... {} more (in `open`)", self.open.len() - SHOWN)?;
            }
        }
        Ok(())
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for Report<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {:?} ({} sub-histories, {} operations, {} steps)",
            self.model,
            self.verdict(),
            self.partitions,
            self.operations,
            self.steps
        )?;
        for anomaly in &self.anomalies {
            write!(f, "{anomaly}")?;
        }
        for undecided in &self.undecided {
            writeln!(
                f,
                "key {}: undecided after {} steps ({} operations)",
                undecided.key, undecided.steps, undecided.operations
            )?;
        }
        Ok(())
    }
}
