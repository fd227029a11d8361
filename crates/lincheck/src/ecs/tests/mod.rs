//! The ECS models' tests: hand-written histories each model must accept or refute (with the reason it gives), and
//! random valid histories generated from a sequential run.

mod lists;
mod random;
mod services;
mod tasks;

use super::*;
use crate::checker::{Anomaly, Checker, ReportOf};
use crate::model::Model;

const CLUSTER: &str = "default";

fn create(service: &str, count: u32) -> Call {
    Call::CreateService { cluster: CLUSTER.into(), service: service.into(), desired_count: count }
}

fn update(service: &str, count: u32) -> Call {
    Call::UpdateService { cluster: CLUSTER.into(), service: service.into(), desired_count: Some(count) }
}

fn describe_services(services: &[&str]) -> Call {
    Call::DescribeServices { cluster: CLUSTER.into(), services: services.iter().map(|s| s.to_string()).collect() }
}

/// A DescribeServices answer: (service, desiredCount or MISSING).
fn services_seen(seen: &[(&str, Option<u32>)]) -> Reply {
    Reply::Services(
        seen.iter()
            .map(|(service, count)| ServiceRead { service: service.to_string(), desired_count: *count })
            .collect(),
    )
}

fn run_task() -> Call {
    Call::RunTask { cluster: CLUSTER.into() }
}

fn started(arns: &[&str]) -> Reply {
    Reply::Started(arns.iter().map(|arn| arn.to_string()).collect())
}

fn stop(arn: &str) -> Call {
    Call::StopTask { cluster: CLUSTER.into(), task: arn.into() }
}

fn describe_tasks(arns: &[&str]) -> Call {
    Call::DescribeTasks { cluster: CLUSTER.into(), tasks: arns.iter().map(|arn| arn.to_string()).collect() }
}

/// A DescribeTasks answer: (ARN, (desiredStatus, lastStatus) or MISSING).
fn tasks_seen(seen: &[(&str, Option<(DesiredStatus, LastStatus)>)]) -> Reply {
    Reply::Tasks(
        seen.iter()
            .map(|(arn, status)| TaskRead {
                task: arn.to_string(),
                status: status.map(|(desired, last)| TaskStatus { desired, last }),
            })
            .collect(),
    )
}

fn list(desired_status: DesiredStatus) -> Call {
    Call::ListTasks { cluster: CLUSTER.into(), desired_status }
}

fn listed(arns: &[&str]) -> Reply {
    Reply::Listed(arns.iter().map(|arn| arn.to_string()).collect())
}

fn check<M: Model<Input = Call, Output = Reply>>(history: &EcsHistory) -> ReportOf<M> {
    Checker::new().check::<M>(history).expect("a valid history")
}

/// Asserts that model `M` accepts the history.
fn accepts<M: Model<Input = Call, Output = Reply>>(history: &EcsHistory) {
    let report = check::<M>(history);
    assert!(report.is_linearizable(), "{report}");
}

/// Asserts that model `M` refutes the history on one key, stuck at operation `stuck`, for a reason containing
/// `reason`; returns the anomaly.
fn refutes<M: Model<Input = Call, Output = Reply>>(
    history: &EcsHistory,
    stuck: u64,
    reason: &str,
) -> Anomaly<Call, Reply> {
    let report = check::<M>(history);
    assert_eq!(report.anomalies.len(), 1, "{report}");
    let anomaly = report.anomalies[0].clone();
    assert_eq!(anomaly.stuck.id, stuck, "{report}");
    assert!(anomaly.reason.contains(reason), "expected {reason:?} in {report}");
    anomaly
}

#[test]
fn an_ecs_history_round_trips_through_json_with_ecs_names() {
    let history = crate::testing::Builder::new()
        .ok(1, 0, 1, run_task(), started(&["arn:task/a"]))
        .ok(
            1,
            2,
            3,
            describe_tasks(&["arn:task/a"]),
            tasks_seen(&[("arn:task/a", Some((DesiredStatus::Running, LastStatus::Pending)))]),
        )
        .pending(2, 4, update("web", 3))
        .build();
    let json = history.to_json().unwrap();
    for name in [
        "runTask",
        "describeTasks",
        "\"desired\": \"RUNNING\"",
        "\"last\": \"PENDING\"",
        "updateService",
        "\"desiredCount\": 3",
    ] {
        assert!(json.contains(name), "{name} in {json}");
    }
    assert_eq!(EcsHistory::from_json(&json).unwrap(), history);
    assert_eq!(LastStatus::parse("DEPROVISIONING"), Some(LastStatus::Deprovisioning));
    assert_eq!(DesiredStatus::parse("STOPPED"), Some(DesiredStatus::Stopped));
    assert_eq!(DesiredStatus::parse("PENDING"), None);
}

#[test]
fn check_runs_every_model_and_names_the_failing_one() {
    let history = crate::testing::Builder::new()
        .ok(1, 0, 1, create("web", 1), Reply::Done)
        .ok(1, 2, 3, update("web", 2), Reply::Done)
        .ok(2, 4, 5, describe_services(&["web"]), services_seen(&[("web", Some(1))]))
        .ok(3, 0, 1, run_task(), started(&["arn:task/a"]))
        .ok(3, 2, 3, list(DesiredStatus::Running), listed(&["arn:task/a"]))
        .build();
    let report = super::check(&Checker::new(), &history).unwrap();
    assert!(!report.is_linearizable());
    let verdicts: Vec<_> = report.reports.iter().map(|r| (r.model, r.is_linearizable())).collect();
    assert_eq!(verdicts, vec![(Services::NAME, false), (Tasks::NAME, true), (TaskLists::NAME, true)]);
    let text = report.to_string();
    assert!(text.contains("key default/web: not linearizable"), "{text}");
}
