//! The search on a plain read/write register, where the right answer is easy to see.

use super::*;
use crate::history::{History, Operation};
use crate::testing::{Builder, Rng, window};

/// A register holding a number, 0 at first.
struct Register;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Write(u32),
    Read,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    Ok,
    Value(u32),
}

impl Model for Register {
    const NAME: &'static str = "register";
    type State = u32;
    type Input = Op;
    type Output = Out;

    fn init() -> u32 {
        0
    }

    fn step(state: &u32, input: &Op, output: &Out) -> Option<u32> {
        match (input, output) {
            (Op::Write(value), Out::Ok) => Some(*value),
            (Op::Read, Out::Value(value)) if value == state => Some(*state),
            _ => None,
        }
    }

    fn step_pending(state: &u32, input: &Op) -> Option<u32> {
        match input {
            Op::Write(value) => Some(*value),
            Op::Read => Some(*state),
        }
    }
}

fn check(history: &History<Op, Out>) -> ReportOf<Register> {
    Checker::new().check::<Register>(history).expect("a valid history")
}

fn ids(ops: &[Operation<Op, Out>]) -> Vec<u64> {
    ops.iter().map(|op| op.id).collect()
}

#[test]
fn a_sequential_history_is_linearizable() {
    let history = Builder::new()
        .ok(1, 0, 1, Op::Write(1), Out::Ok)
        .ok(2, 2, 3, Op::Read, Out::Value(1))
        .ok(1, 4, 5, Op::Write(2), Out::Ok)
        .ok(2, 6, 7, Op::Read, Out::Value(2))
        .build();
    let report = check(&history);
    assert_eq!(report.verdict(), Verdict::Linearizable, "{report}");
    assert_eq!((report.partitions, report.operations), (1, 4));
}

#[test]
fn a_read_overlapping_a_write_may_see_either_value() {
    for seen in [0, 1] {
        let history =
            Builder::new().ok(1, 0, 10, Op::Write(1), Out::Ok).ok(2, 1, 9, Op::Read, Out::Value(seen)).build();
        assert!(check(&history).is_linearizable(), "read of {seen}");
    }
}

#[test]
fn two_overlapping_writes_may_land_in_either_order() {
    for last in [1, 2] {
        let history = Builder::new()
            .ok(1, 0, 10, Op::Write(1), Out::Ok)
            .ok(2, 0, 10, Op::Write(2), Out::Ok)
            .ok(3, 11, 12, Op::Read, Out::Value(last))
            .build();
        assert!(check(&history).is_linearizable(), "last write {last}");
    }
}

#[test]
fn operations_touching_at_one_instant_count_as_concurrent() {
    let history = Builder::new().ok(1, 0, 5, Op::Write(1), Out::Ok).ok(2, 5, 6, Op::Read, Out::Value(0)).build();
    assert!(check(&history).is_linearizable());
}

#[test]
fn a_pending_write_may_be_seen_or_not() {
    for seen in [0, 7] {
        let history = Builder::new().pending(1, 0, Op::Write(7)).ok(2, 100, 101, Op::Read, Out::Value(seen)).build();
        assert!(check(&history).is_linearizable(), "read of {seen}");
    }
}

#[test]
fn a_pending_write_once_seen_stays_seen() {
    let history = Builder::new()
        .pending(1, 0, Op::Write(7))
        .ok(2, 10, 11, Op::Read, Out::Value(7))
        .ok(2, 12, 13, Op::Read, Out::Value(0))
        .build();
    let report = check(&history);
    assert_eq!(report.verdict(), Verdict::NotLinearizable);
    let anomaly = &report.anomalies[0];
    assert_eq!(anomaly.stuck.id, 2);
    assert_eq!(ids(&anomaly.prefix), vec![0, 1]);
}

#[test]
fn a_stale_read_is_refuted_with_its_prefix_and_the_op_that_did_not_fit() {
    let history = Builder::new()
        .ok(1, 0, 1, Op::Write(1), Out::Ok)
        .ok(1, 2, 3, Op::Write(2), Out::Ok)
        .ok(2, 4, 5, Op::Read, Out::Value(1))
        .build();
    let report = check(&history);
    assert_eq!(report.verdict(), Verdict::NotLinearizable);
    let anomaly = &report.anomalies[0];
    assert_eq!(anomaly.key, "register");
    assert_eq!(ids(&anomaly.prefix), vec![0, 1]);
    assert_eq!(anomaly.state, "2");
    assert_eq!(anomaly.stuck.id, 2);
    assert!(anomaly.reason.contains("Value(1)"), "{}", anomaly.reason);
    let text = report.to_string();
    assert!(text.contains("could not place: op 2 (client 2, called at 4, returned at 5): Read -> Value(1)"), "{text}");
}

#[test]
fn a_history_with_no_completed_operation_is_linearizable() {
    let history = Builder::new().pending(1, 0, Op::Write(3)).pending(2, 1, Op::Read).build();
    assert!(check(&history).is_linearizable());
    assert!(check(&Builder::new().build()).is_linearizable());
}

#[test]
fn an_exhausted_budget_is_undecided_not_a_verdict() {
    // Ten concurrent writes and a read of a value none wrote: refuting it means trying every subset of writes.
    let mut builder = Builder::new();
    for i in 0..10 {
        builder.ok(i, 0, 100, Op::Write(i as u32 + 1), Out::Ok);
    }
    builder.ok(99, 50, 60, Op::Read, Out::Value(1000));
    let history = builder.build();
    let report = Checker::with_budget(1000).check::<Register>(&history).unwrap();
    assert_eq!(report.verdict(), Verdict::Undecided);
    assert_eq!(report.undecided, vec![Undecided { key: "register".into(), operations: 11, steps: 1000 }]);
    assert!(report.to_string().contains("undecided after 1000 steps"));
    // With the default budget the same history is refuted.
    let report = check(&history);
    assert_eq!(report.verdict(), Verdict::NotLinearizable);
    assert_eq!(report.anomalies[0].stuck.id, 10);
}

#[test]
fn a_return_before_its_call_is_an_invalid_history() {
    let history = Builder::new().ok(1, 5, 4, Op::Read, Out::Value(0)).build();
    assert_eq!(
        Checker::new().check::<Register>(&history).unwrap_err(),
        crate::history::InvalidHistory::ReturnBeforeCall { id: 0 }
    );
}

/// A history made by running operations one at a time (at instants 100 apart) and widening each into a window of
/// up to `jitter` either side, so that many overlap; some writes never return (and half of those never applied).
fn random_register_history(seed: u64, ops: u64, jitter: u64, pending_percent: u64) -> History<Op, Out> {
    let mut rng = Rng::new(seed);
    let mut builder = Builder::new();
    let mut value = 0;
    for i in 0..ops {
        let at = 1_000 + i * 100;
        let (call, ret) = window(&mut rng, at, jitter);
        let client = i % 8;
        if rng.chance(50) {
            let written = rng.below(5) as u32;
            if rng.chance(pending_percent) {
                if rng.chance(50) {
                    value = written;
                }
                builder.pending(client, call, Op::Write(written));
            } else {
                value = written;
                builder.ok(client, call, ret, Op::Write(written), Out::Ok);
            }
        } else {
            builder.ok(client, call, ret, Op::Read, Out::Value(value));
        }
    }
    builder.build()
}

#[test]
fn large_random_valid_histories_are_linearizable_in_few_steps() {
    for seed in 0..20 {
        let history = random_register_history(seed, 400, 250, 5);
        let report = check(&history);
        assert!(report.is_linearizable(), "seed {seed}: {report}");
        assert!(report.steps < 200_000, "seed {seed}: {} steps", report.steps);
    }
}

#[test]
fn random_valid_histories_with_many_pending_writes_on_one_key_are_linearizable() {
    for seed in 0..20 {
        let history = random_register_history(seed, 400, 250, 25);
        let pending = history.ops.iter().filter(|op| op.is_pending()).count();
        assert!(pending >= 40, "seed {seed}: {pending} pending writes");
        let report = check(&history);
        assert!(report.is_linearizable(), "seed {seed}: {report}");
        assert!(report.steps < 100_000, "seed {seed}: {} steps", report.steps);
    }
}

#[test]
fn a_random_history_with_one_read_corrupted_is_refuted() {
    let mut history = random_register_history(7, 300, 30, 5);
    let read = history.ops.iter_mut().rev().find(|op| op.input == Op::Read).unwrap();
    read.returned.as_mut().unwrap().output = Out::Value(99);
    let id = read.id;
    let report = check(&history);
    assert_eq!(report.verdict(), Verdict::NotLinearizable);
    assert_eq!(report.anomalies[0].stuck.id, id);
}

#[test]
fn many_pending_writes_on_one_key_still_refute_a_stale_read_within_the_budget() {
    // Each write that never returned may have applied at any point or never: 2^12 subsets to rule out.
    let mut builder = Builder::new();
    builder.ok(0, 0, 1, Op::Write(1), Out::Ok);
    for i in 0..12 {
        builder.pending(i + 1, 2 + i, Op::Write(10 + i as u32));
    }
    builder.ok(20, 30, 31, Op::Write(2), Out::Ok).ok(21, 40, 41, Op::Read, Out::Value(1));
    let report = check(&builder.build());
    assert_eq!(report.verdict(), Verdict::NotLinearizable, "{report}");
    assert_eq!(report.anomalies[0].stuck.id, 14);
    assert!(report.steps < Checker::DEFAULT_BUDGET / 10, "{} steps", report.steps);
}

#[test]
fn a_long_prefix_is_printed_by_its_last_operations() {
    let mut builder = Builder::new();
    for i in 0..30 {
        builder.ok(1, i * 2, i * 2 + 1, Op::Write(i as u32), Out::Ok);
    }
    builder.ok(2, 100, 101, Op::Read, Out::Value(3));
    let report = check(&builder.build());
    assert_eq!(report.anomalies[0].prefix.len(), 30);
    let text = report.to_string();
    assert!(text.contains("... 10 earlier operations (in `prefix`)"), "{text}");
    assert!(!text.contains("Write(9) -> Ok") && text.contains("Write(10) -> Ok"), "{text}");
}
