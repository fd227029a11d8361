//! [`Tasks`] and [`StrictTasks`]: existence, desiredStatus and lastStatus per task ARN.

use super::*;
use crate::testing::Builder;
use DesiredStatus::{Running as DRunning, Stopped as DStopped};
use LastStatus::{Activating, Deprovisioning, Pending, Running, Stopped, Stopping};

const A: &str = "arn:aws:ecs:us-east-1:000000000000:task/default/a";
const B: &str = "arn:aws:ecs:us-east-1:000000000000:task/default/b";

fn describe(desired: DesiredStatus, last: LastStatus) -> Reply {
    tasks_seen(&[(A, Some((desired, last)))])
}

fn missing() -> Reply {
    tasks_seen(&[(A, None)])
}

#[test]
fn a_task_life_read_in_order_is_accepted() {
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .ok(2, 2, 3, describe_tasks(&[A]), describe(DRunning, Pending))
        .ok(2, 4, 5, describe_tasks(&[A]), describe(DRunning, Running))
        .ok(1, 6, 7, stop(A), Reply::Done)
        .ok(2, 8, 9, describe_tasks(&[A]), describe(DStopped, Stopping))
        .ok(2, 10, 11, describe_tasks(&[A]), describe(DStopped, Stopped))
        .ok(1, 12, 13, stop(A), Reply::Done)
        .ok(2, 14, 15, describe_tasks(&[A]), describe(DStopped, Stopped))
        .build();
    accepts::<Tasks>(&history);
    accepts::<StrictTasks>(&history);
}

#[test]
fn a_read_overlapping_its_run_task_may_find_it_or_not() {
    for answer in [missing(), describe(DRunning, Pending)] {
        let history = Builder::new()
            .ok(1, 0, 10, run_task(), started(&[A]))
            .ok(2, 2, 3, describe_tasks(&[A]), answer)
            .ok(2, 12, 13, describe_tasks(&[A]), describe(DRunning, Running))
            .build();
        accepts::<StrictTasks>(&history);
    }
}

#[test]
fn a_read_overlapping_a_stop_may_see_running_or_stopped() {
    for desired in [DRunning, DStopped] {
        let history = Builder::new()
            .ok(1, 0, 1, run_task(), started(&[A]))
            .ok(1, 2, 10, stop(A), Reply::Done)
            .ok(2, 3, 4, describe_tasks(&[A]), describe(desired, Running))
            .build();
        accepts::<StrictTasks>(&history);
    }
}

#[test]
fn a_pending_stop_may_be_seen_or_not_but_not_undone() {
    for desired in [DRunning, DStopped] {
        let history = Builder::new()
            .ok(1, 0, 1, run_task(), started(&[A]))
            .pending(1, 2, stop(A))
            .ok(2, 50, 51, describe_tasks(&[A]), describe(desired, Running))
            .build();
        accepts::<StrictTasks>(&history);
    }
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .pending(1, 2, stop(A))
        .ok(2, 50, 51, describe_tasks(&[A]), describe(DStopped, Running))
        .ok(2, 52, 53, describe_tasks(&[A]), describe(DRunning, Running))
        .build();
    refutes::<StrictTasks>(&history, 3, "RUNNING after the task's desiredStatus became STOPPED");
}

#[test]
fn a_task_may_stop_by_itself() {
    // lastStatus STOPPED with desiredStatus RUNNING: its essential container exited.
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .ok(2, 2, 3, describe_tasks(&[A]), describe(DRunning, Stopped))
        .build();
    accepts::<StrictTasks>(&history);
    // desiredStatus STOPPED with no StopTask: fine when something else may stop tasks, not in the strict model.
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .ok(2, 2, 3, describe_tasks(&[A]), describe(DStopped, Deprovisioning))
        .build();
    accepts::<Tasks>(&history);
    refutes::<StrictTasks>(&history, 1, "STOPPED before any StopTask of it took effect");
}

#[test]
fn a_task_made_outside_the_history_may_appear_but_not_vanish() {
    let history = Builder::new()
        .ok(2, 0, 1, describe_tasks(&[A]), missing())
        .ok(2, 2, 3, describe_tasks(&[A]), describe(DRunning, Activating))
        .ok(1, 4, 5, stop(A), Reply::Done)
        .ok(2, 6, 7, describe_tasks(&[A]), describe(DStopped, Stopped))
        .build();
    accepts::<StrictTasks>(&history);
    let history = Builder::new()
        .ok(2, 0, 1, describe_tasks(&[A]), describe(DRunning, Activating))
        .ok(2, 2, 3, describe_tasks(&[A]), missing())
        .build();
    refutes::<Tasks>(&history, 1, "MISSING after it existed");
}

#[test]
fn a_read_of_two_tasks_is_checked_against_each() {
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A, B]))
        .ok(1, 2, 3, stop(B), Reply::Done)
        .ok(
            2,
            4,
            5,
            describe_tasks(&[A, B]),
            tasks_seen(&[(A, Some((DRunning, Running))), (B, Some((DRunning, Running)))]),
        )
        .build();
    let anomaly = refutes::<Tasks>(&history, 2, "RUNNING after the task's desiredStatus became STOPPED");
    assert_eq!(anomaly.key, B);
    assert_eq!(anomaly.stuck.input, describe_tasks(&[B]), "projected onto B");
    let report = check::<Tasks>(&history);
    assert_eq!((report.partitions, report.operations), (2, 5));
}

#[test]
fn desired_running_after_a_completed_stop_is_refuted() {
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .ok(1, 2, 3, stop(A), Reply::Done)
        .ok(2, 4, 5, describe_tasks(&[A]), describe(DRunning, Running))
        .build();
    let anomaly = refutes::<Tasks>(&history, 2, "RUNNING after the task's desiredStatus became STOPPED");
    assert_eq!(anomaly.prefix.iter().map(|op| op.id).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(anomaly.state, "Present { stopped: true, last: Provisioning }");
}

#[test]
fn last_status_going_backwards_across_reads_is_refuted() {
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .ok(2, 2, 3, describe_tasks(&[A]), describe(DRunning, Running))
        .ok(3, 4, 5, describe_tasks(&[A]), describe(DRunning, Pending))
        .build();
    refutes::<Tasks>(&history, 2, "saw lastStatus PENDING, behind the RUNNING already seen");
    // Overlapping reads may come back in either order.
    let history = Builder::new()
        .ok(1, 0, 1, run_task(), started(&[A]))
        .ok(2, 2, 5, describe_tasks(&[A]), describe(DRunning, Running))
        .ok(3, 3, 6, describe_tasks(&[A]), describe(DRunning, Pending))
        .build();
    accepts::<Tasks>(&history);
}

#[test]
fn a_task_missing_after_its_run_task_returned_is_refuted() {
    let history =
        Builder::new().ok(1, 0, 1, run_task(), started(&[A])).ok(2, 2, 3, describe_tasks(&[A]), missing()).build();
    refutes::<Tasks>(&history, 1, "MISSING after it existed");
}

#[test]
fn a_task_found_before_its_run_task_was_called_is_refuted() {
    let history = Builder::new()
        .ok(2, 0, 1, describe_tasks(&[A]), describe(DRunning, Pending))
        .ok(1, 2, 3, run_task(), started(&[A]))
        .build();
    refutes::<Tasks>(&history, 0, "found the task before its RunTask took effect");
}

#[test]
fn one_arn_from_two_run_tasks_is_refuted() {
    let history =
        Builder::new().ok(1, 0, 1, run_task(), started(&[A])).ok(2, 2, 3, run_task(), started(&[A, B])).build();
    refutes::<Tasks>(&history, 1, "a second RunTask returned the same task ARN");
}
