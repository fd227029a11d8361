//! [`TaskLists`] and [`StrictTaskLists`]: ListTasks per cluster.

use super::*;
use crate::testing::Builder;
use DesiredStatus::{Running, Stopped};

const A: &str = "arn:task/default/a";
const B: &str = "arn:task/default/b";
const SERVICE_TASK: &str = "arn:task/default/from-a-service";

#[test]
fn lists_that_follow_runs_and_stops_are_accepted() {
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A, B]))
        .ok(2, 2, 3, list(Running), listed(&[A, B, SERVICE_TASK]))
        .ok(1, 4, 5, stop(A), Reply::Done)
        .ok(2, 6, 7, list(Running), listed(&[B, SERVICE_TASK]))
        .ok(2, 8, 9, list(Stopped), listed(&[A]))
        .build();
    accepts::<StrictTaskLists>(&history);
    accepts::<TaskLists>(&history);
}

#[test]
fn a_list_overlapping_a_run_or_a_stop_may_see_it_or_not() {
    for seen in [&[][..], &[A][..]] {
        let history = Builder::new()
            .ok(1, 0, 10, run_task(), started(&[A]))
            .ok(2, 2, 3, list(Running), listed(seen))
            .ok(2, 11, 12, list(Running), listed(&[A]))
            .build();
        accepts::<StrictTaskLists>(&history);
    }
    for (running, stopped) in [(&[A][..], &[][..]), (&[][..], &[A][..])] {
        let history = Builder::new()
            .ok(1, 0, 1, run_task(), started(&[A]))
            .ok(1, 2, 20, stop(A), Reply::Done)
            .ok(2, 3, 4, list(Running), listed(running))
            .ok(2, 5, 6, list(Stopped), listed(stopped))
            .build();
        accepts::<StrictTaskLists>(&history);
    }
}

#[test]
fn a_returned_task_missing_from_a_running_list_is_refuted() {
    let history = Builder::new().ok(1, 0, 1, run_task(), started(&[A])).ok(2, 2, 3, list(Running), listed(&[])).build();
    refutes::<StrictTaskLists>(&history, 1, "left out arn:task/default/a, running");
    // If something else may stop tasks, it must then be listed as stopped.
    accepts::<TaskLists>(&history);
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .ok(2, 2, 3, list(Running), listed(&[]))
        .ok(2, 4, 5, list(Stopped), listed(&[]))
        .build();
    refutes::<TaskLists>(&history, 2, "ListTasks(Stopped) left out arn:task/default/a, which was stopped before");
}

#[test]
fn a_stopped_task_listed_as_running_again_is_refuted() {
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .ok(1, 2, 3, stop(A), Reply::Done)
        .ok(2, 4, 5, list(Running), listed(&[A]))
        .build();
    refutes::<TaskLists>(&history, 2, "listed arn:task/default/a after it was stopped");
    let history = Builder::new()
        .ok(2, 0, 1, list(Stopped), listed(&[SERVICE_TASK]))
        .ok(2, 2, 3, list(Running), listed(&[SERVICE_TASK]))
        .build();
    refutes::<TaskLists>(&history, 1, "after it was stopped");
}

#[test]
fn a_task_listed_before_its_run_task_was_called_is_refuted() {
    let history =
        Builder::new().ok(2, 0, 1, list(Running), listed(&[A])).ok(1, 2, 3, run_task(), started(&[A])).build();
    refutes::<TaskLists>(&history, 0, "listed arn:task/default/a before its RunTask took effect");
}

#[test]
fn clusters_without_a_list_are_not_checked() {
    let history = Builder::new().ok(1, 0, 1, run_task(), started(&[A])).ok(1, 2, 3, stop(A), Reply::Done).build();
    assert_eq!(check::<TaskLists>(&history).partitions, 0);
}
