//! The checker: splits a history with the model's [`Model::partition`] and searches each sub-history for a
//! linearization (`search.rs`), within a step budget.

mod cache;
mod entries;
mod report;
mod search;

pub use report::{Anomaly, Report, Undecided, Verdict};

use crate::history::{History, InvalidHistory};
use crate::model::{Model, Partition};
use search::{Deepest, Outcome};

/// Checks histories for linearizability against a [`Model`].
#[derive(Clone, Copy, Debug)]
pub struct Checker {
    budget: u64,
}

impl Default for Checker {
    fn default() -> Self {
        Self { budget: Self::DEFAULT_BUDGET }
    }
}

/// A [`Report`] for model `M`'s inputs and outputs.
pub type ReportOf<M> = Report<<M as Model>::Input, <M as Model>::Output>;

impl Checker {
    /// Steps per sub-history before it is called undecided: seconds of work, far more than a history of a few
    /// hundred operations per key with a handful of clients needs.
    pub const DEFAULT_BUDGET: u64 = 10_000_000;

    /// A checker with the default budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// A checker that gives up on a sub-history after `budget` search steps (each an attempt to place an operation
    /// or a backtrack), calling it undecided.
    pub fn with_budget(budget: u64) -> Self {
        Self { budget }
    }

    /// Checks `history` against model `M`, one sub-history per key of [`Model::partition`].
    pub fn check<M: Model>(&self, history: &History<M::Input, M::Output>) -> Result<ReportOf<M>, InvalidHistory> {
        history.validate()?;
        Ok(self.check_partitions::<M>(&M::partition(history)))
    }

    /// Checks sub-histories made by hand (or by [`Model::partition`]); their times must be valid.
    pub fn check_partitions<M: Model>(&self, partitions: &[Partition<M>]) -> ReportOf<M> {
        let mut report = Report {
            model: M::NAME,
            partitions: partitions.len(),
            operations: 0,
            steps: 0,
            anomalies: Vec::new(),
            undecided: Vec::new(),
        };
        for partition in partitions {
            let (outcome, steps) = search::search::<M>(&partition.init, &partition.ops, self.budget);
            report.operations += partition.ops.len();
            report.steps += steps;
            match outcome {
                Outcome::Linearizable => {}
                Outcome::Refuted(deepest) => report.anomalies.push(explain(partition, deepest)),
                Outcome::Undecided => report.undecided.push(Undecided {
                    key: partition.key.clone(),
                    operations: partition.ops.len(),
                    steps,
                }),
            }
        }
        report
    }
}

/// The anomaly a refuted search's deepest point shows.
fn explain<M: Model>(
    partition: &Partition<M>,
    deepest: Deepest<M::State>,
) -> crate::checker::Anomaly<M::Input, M::Output> {
    let ops = &partition.ops;
    let stuck = &ops[deepest.stuck];
    let reason = match stuck.output() {
        Some(output) => match M::step(&deepest.state, &stuck.input, output) {
            None => M::explain(&deepest.state, &stuck.input, output),
            Some(_) => {
                "the model allows it after this prefix, but no order of the operations still open then fits".to_string()
            }
        },
        None => "it never returned".to_string(),
    };
    let returned = stuck.returned.as_ref().map_or(u64::MAX, |r| r.at);
    let open = ops
        .iter()
        .enumerate()
        .filter(|&(i, op)| i != deepest.stuck && !deepest.prefix.contains(&i) && op.call <= returned)
        .map(|(_, op)| op.clone())
        .collect();
    Anomaly {
        key: partition.key.clone(),
        prefix: deepest.prefix.iter().map(|&i| ops[i].clone()).collect(),
        state: format!("{:?}", deepest.state),
        stuck: stuck.clone(),
        reason,
        open,
    }
}

#[cfg(test)]
mod tests;
