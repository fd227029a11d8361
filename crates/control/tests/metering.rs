//! Metering (issue 15, item 6) on an in-memory store with a manual clock: a task is metered from its image pull to
//! its containers' stop with a one-minute minimum, and when the liveness controller forgets the stopped task an hour
//! later its usage record takes its place, so its usage is counted once, before and after.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::metering::{GroupBy, RateCard, USAGE_PREFIX, UsageQuery};
use berth_control::{Control, ControlConfig};
use berth_model::agent::{AgentResources, ContainerReport, RegisterRequest, ReportRequest, TaskReport};
use berth_model::clock::{Clock, ManualClock};
use berth_model::ecs::*;
use berth_store::{MemoryStore, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

const T0: f64 = 1_700_000_000.0;

async fn report(control: &Control, instance: &str, arn: &str, status: &str, at: TaskReport) {
    let report = TaskReport {
        task_arn: arn.into(),
        last_status: status.into(),
        containers: vec![ContainerReport {
            name: "app".into(),
            last_status: status.into(),
            exit_code: (status == "STOPPED").then_some(0),
            health_status: "UNKNOWN".into(),
            ..Default::default()
        }],
        health_status: "UNKNOWN".into(),
        ..at
    };
    control
        .agent_report(
            "default",
            instance,
            ReportRequest { tasks: vec![report], applied_revision: 0, usage: Vec::new() },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_task_is_metered_from_its_pull_to_its_stop_once_before_and_after_it_is_forgotten() {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(MemoryStore::new());
    let control = Control::start(store.clone(), clock.clone(), ControlConfig::default()).await.unwrap();
    let mut attributes = BTreeMap::new();
    attributes.insert("ecs.capability.task-cpu-mem-limit".to_string(), String::new());
    let joined = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "node".into(),
            resources: AgentResources { cpu: 2048, memory_mib: 4096, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
    let instance = joined.container_instance_arn.rsplit('/').next().unwrap().to_string();
    let td = common::register_app(&control, "app", "x").await;
    let run = control
        .run_task(RunTaskRequest {
            task_definition: td,
            tags: Some(vec![Tag { key: Some("team".into()), value: Some("blue".into()) }]),
            ..Default::default()
        })
        .await
        .unwrap();
    let task = run.tasks.unwrap().remove(0);
    let arn = task.task_arn.clone().unwrap();
    let cpu: f64 = task.cpu.unwrap().parse().unwrap();
    let memory: f64 = task.memory.unwrap().parse().unwrap();
    let card = RateCard::default();
    let by_tag = UsageQuery { group_by: vec![GroupBy::Tag("team".into())], ..Default::default() };

    // Placed but not pulling yet: nothing used.
    assert!(control.usage(&by_tag, &card).await.unwrap().is_empty());

    // Pulls at T0 + 5, runs at T0 + 8; at T0 + 20 it has used its one-minute minimum.
    report(
        &control,
        &instance,
        &arn,
        "RUNNING",
        TaskReport {
            pull_started_at: Some(T0 + 5.0),
            pull_stopped_at: Some(T0 + 7.0),
            started_at: Some(T0 + 8.0),
            ..Default::default()
        },
    )
    .await;
    clock.advance(20.0);
    let groups = control.usage(&by_tag, &card).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].keys["tag:team"], "blue");
    assert_eq!(groups[0].vcpu_seconds, cpu / 1024.0 * 60.0);

    // Its containers stop at T0 + 125.4: 121 s metered (rounded up to the second).
    report(
        &control,
        &instance,
        &arn,
        "STOPPED",
        TaskReport {
            pull_started_at: Some(T0 + 5.0),
            started_at: Some(T0 + 8.0),
            execution_stopped_at: Some(T0 + 125.4),
            ..Default::default()
        },
    )
    .await;
    let before = control.usage(&by_tag, &card).await.unwrap();
    assert_eq!((before[0].tasks, before[0].vcpu_seconds), (1, cpu / 1024.0 * 121.0));
    assert_eq!(before[0].gb_seconds, memory / 1024.0 * 121.0);
    // EC2 tasks cost nothing at the default card.
    assert_eq!(before[0].cost, 0.0);
    // A window over part of it.
    let window = UsageQuery { since: Some(T0 + 65.0), until: Some(T0 + 95.0), group_by: Vec::new() };
    assert_eq!(control.usage(&window, &card).await.unwrap()[0].vcpu_seconds, cpu / 1024.0 * 30.0);

    // An hour and more later the task record is forgotten and its usage record written, in one transaction.
    clock.advance(3700.0);
    berth_control::liveness::reconcile(&control).await.unwrap();
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let described =
        control.describe_tasks(DescribeTasksRequest { tasks: vec![arn.clone()], ..Default::default() }).unwrap();
    assert_eq!(described.failures.unwrap_or_default().len(), 1, "the task record is forgotten");
    let stored = store.range(USAGE_PREFIX).await.unwrap();
    assert_eq!(stored.kvs.len(), 1);
    let after = control.usage(&by_tag, &card).await.unwrap();
    assert_eq!(after, before, "counted once, from its usage record now");
    // A window that starts after the day it stopped finds nothing; one on that day finds it.
    let later = UsageQuery { since: Some(clock.now() + 86_400.0 * 2.0), ..Default::default() };
    assert!(control.usage(&later, &card).await.unwrap().is_empty());
    let that_day = UsageQuery { since: Some(T0), ..Default::default() };
    assert_eq!(control.usage(&that_day, &card).await.unwrap()[0].tasks, 1);
    // A reversed window is refused.
    let reversed = UsageQuery { since: Some(T0 + 10.0), until: Some(T0), ..Default::default() };
    assert!(control.usage(&reversed, &card).await.is_err());
}
