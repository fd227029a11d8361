//! [`Services`]: desiredCount per service.

use super::*;
use crate::testing::Builder;

fn seen(count: u32) -> Reply {
    services_seen(&[("web", Some(count))])
}

#[test]
fn a_sequential_history_is_accepted() {
    let history = Builder::new()
        .ok(1, 0, 1, create("web", 1), Reply::Done)
        .ok(2, 2, 3, describe_services(&["web"]), seen(1))
        .ok(1, 4, 5, update("web", 3), Reply::Done)
        .ok(2, 6, 7, describe_services(&["web"]), seen(3))
        .ok(1, 8, 9, update("web", 0), Reply::Done)
        .ok(2, 10, 11, describe_services(&["web"]), seen(0))
        .build();
    accepts::<Services>(&history);
}

#[test]
fn reads_overlapping_updates_may_see_either_count() {
    for (first, second) in [(1, 1), (1, 5), (5, 5), (1, 7), (7, 7), (5, 7), (7, 5)] {
        let history = Builder::new()
            .ok(1, 0, 1, create("web", 1), Reply::Done)
            .ok(1, 10, 30, update("web", 5), Reply::Done)
            .ok(2, 10, 30, update("web", 7), Reply::Done)
            .ok(3, 12, 14, describe_services(&["web"]), seen(first))
            .ok(3, 15, 17, describe_services(&["web"]), seen(second))
            .build();
        let report = check::<Services>(&history);
        // Going back to 1 after seeing 5 or 7 is the only impossible pair; (5, 7) and (7, 5) order the writes.
        assert!(report.is_linearizable(), "reads {first} then {second}: {report}");
    }
}

#[test]
fn a_pending_update_may_be_seen_or_not() {
    for count in [1, 4] {
        let history = Builder::new()
            .ok(1, 0, 1, create("web", 1), Reply::Done)
            .pending(1, 2, update("web", 4))
            .ok(2, 100, 101, describe_services(&["web"]), seen(count))
            .ok(2, 102, 103, describe_services(&["web"]), seen(count))
            .build();
        accepts::<Services>(&history);
    }
}

#[test]
fn a_service_created_before_the_history_may_show_any_count_first() {
    let history = Builder::new()
        .ok(2, 0, 1, describe_services(&["web"]), seen(6))
        .ok(1, 2, 3, update("web", 2), Reply::Done)
        .ok(2, 4, 5, describe_services(&["web"]), seen(2))
        .build();
    accepts::<Services>(&history);
}

#[test]
fn a_read_of_two_services_is_checked_against_each() {
    let history = Builder::new()
        .ok(1, 0, 1, create("web", 1), Reply::Done)
        .ok(1, 2, 3, create("api", 2), Reply::Done)
        .ok(2, 4, 5, describe_services(&["web", "api"]), services_seen(&[("web", Some(1)), ("api", Some(2))]))
        .build();
    let report = check::<Services>(&history);
    assert!(report.is_linearizable(), "{report}");
    assert_eq!((report.partitions, report.operations), (2, 4));

    let swapped = Builder::new()
        .ok(1, 0, 1, create("web", 1), Reply::Done)
        .ok(1, 2, 3, create("api", 2), Reply::Done)
        .ok(2, 4, 5, describe_services(&["web", "api"]), services_seen(&[("web", Some(2)), ("api", Some(1))]))
        .build();
    assert_eq!(check::<Services>(&swapped).anomalies.len(), 2);
}

#[test]
fn a_stale_read_after_a_completed_update_is_refuted() {
    let history = Builder::new()
        .ok(1, 0, 1, create("web", 1), Reply::Done)
        .ok(1, 2, 3, update("web", 3), Reply::Done)
        .ok(2, 4, 5, describe_services(&["web"]), seen(1))
        .build();
    let anomaly = refutes::<Services>(&history, 2, "saw desiredCount 1, but the writes placed before it leave 3");
    assert_eq!(anomaly.key, "default/web");
    assert_eq!(anomaly.prefix.iter().map(|op| op.id).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(anomaly.state, "Count(3)");
}

#[test]
fn a_later_read_going_back_to_an_older_count_is_refuted() {
    // The update is still in flight, so either count alone is fine; but 3 then 1 is not.
    let history = Builder::new()
        .ok(1, 0, 1, create("web", 1), Reply::Done)
        .ok(1, 2, 20, update("web", 3), Reply::Done)
        .ok(2, 5, 6, describe_services(&["web"]), seen(3))
        .ok(2, 7, 8, describe_services(&["web"]), seen(1))
        .build();
    refutes::<Services>(&history, 3, "saw desiredCount 1, but the writes placed before it leave 3");
}

#[test]
fn a_count_never_written_is_refuted() {
    let history = Builder::new()
        .ok(1, 0, 1, create("web", 1), Reply::Done)
        .ok(1, 2, 10, update("web", 2), Reply::Done)
        .ok(2, 3, 4, describe_services(&["web"]), seen(5))
        .build();
    refutes::<Services>(&history, 2, "saw desiredCount 5");
}

#[test]
fn lost_acknowledged_writes_are_refuted() {
    let history = Builder::new()
        .ok(1, 0, 1, create("web", 0), Reply::Done)
        .ok(1, 2, 5, update("web", 2), Reply::Done)
        .ok(2, 3, 6, update("web", 3), Reply::Done)
        .ok(3, 10, 11, describe_services(&["web"]), seen(0))
        .build();
    let anomaly = refutes::<Services>(&history, 3, "saw desiredCount 0");
    assert_eq!(anomaly.prefix.len(), 3);
}

#[test]
fn a_service_missing_after_it_was_created_is_refuted() {
    let history = Builder::new()
        .ok(1, 0, 1, create("web", 2), Reply::Done)
        .ok(2, 2, 3, describe_services(&["web"]), services_seen(&[("web", None)]))
        .build();
    refutes::<Services>(&history, 1, "MISSING after it existed");
}

#[test]
fn a_service_seen_before_its_create_was_called_is_refuted() {
    let history = Builder::new()
        .ok(2, 0, 1, describe_services(&["web"]), seen(2))
        .ok(1, 2, 3, create("web", 2), Reply::Done)
        .build();
    refutes::<Services>(&history, 0, "before any CreateService of it took effect");
}

#[test]
fn creating_a_service_twice_and_updating_a_missing_one_are_refuted() {
    let history =
        Builder::new().ok(1, 0, 1, create("web", 2), Reply::Done).ok(2, 2, 3, create("web", 4), Reply::Done).build();
    refutes::<Services>(&history, 1, "already existed");

    let history =
        Builder::new().ok(1, 0, 1, update("web", 2), Reply::Done).ok(2, 2, 3, create("web", 4), Reply::Done).build();
    refutes::<Services>(&history, 0, "before the service existed");
}
