//! Placement without a global lock: concurrent RunTasks on a multi-instance cluster all succeed while capacity
//! lasts, never over-commit an instance, and leave the live placement state equal to the records.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::{Control, ControlConfig};
use berth_model::clock::SystemClock;
use berth_model::ecs::{
    ContainerDefinition, PlacementStrategy, PlacementStrategyType, RegisterTaskDefinitionRequest, RunTaskRequest,
};
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

const INSTANCES: usize = 4;
/// Each instance offers 4096 CPU units (common::join_agent); a task holds 128, so 32 fit on one instance.
const TASK_CPU: i32 = 128;
const PER_INSTANCE: usize = 4096 / TASK_CPU as usize;

async fn cluster() -> Arc<Control> {
    let control =
        Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), ControlConfig::default()).await.unwrap();
    for n in 0..INSTANCES {
        common::join_agent(&control, &format!("host-{n}")).await;
    }
    control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: "small".into(),
            container_definitions: vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some("x".into()),
                cpu: TASK_CPU,
                memory: Some(16),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    control
}

/// Runs `n` RunTasks at once; returns how many placed a task and the failure reasons of the others.
async fn run_many(control: &Arc<Control>, n: usize, strategy: Option<Vec<PlacementStrategy>>) -> (usize, Vec<String>) {
    let mut handles = Vec::new();
    for _ in 0..n {
        let control = control.clone();
        let strategy = strategy.clone();
        handles.push(tokio::spawn(async move {
            control
                .run_task(RunTaskRequest {
                    task_definition: "small".into(),
                    placement_strategy: strategy,
                    ..Default::default()
                })
                .await
                .unwrap()
        }));
    }
    let (mut placed, mut reasons) = (0, Vec::new());
    for h in handles {
        let out = h.await.unwrap();
        placed += out.tasks.unwrap_or_default().len();
        reasons.extend(out.failures.unwrap_or_default().into_iter().filter_map(|f| f.reason));
    }
    (placed, reasons)
}

/// Per instance: the CPU its record has left, and the CPU its unreleased tasks hold.
fn ledger(control: &Control) -> BTreeMap<String, (i64, i64, i64)> {
    let state = control.cache().read();
    let mut out = BTreeMap::new();
    for v in state.instances.values() {
        let held: i64 = state
            .tasks_on_instance(&v.record.id)
            .filter(|t| !t.record.released)
            .map(|t| t.record.reservation.cpu)
            .sum();
        out.insert(v.record.id.clone(), (v.record.offered.cpu, v.record.remaining_cpu, held));
    }
    out
}

fn assert_never_over_committed(control: &Control) {
    for (id, (offered, remaining, held)) in ledger(control) {
        assert!(held <= offered, "instance {id} holds {held} CPU of {offered}");
        assert_eq!(remaining, offered - held, "instance {id}: the record's remaining CPU matches its tasks");
    }
    // The live state shows exactly the records (nothing left in flight).
    let state = control.cache().read();
    let live = state.placement_state("default").unwrap().instances();
    for instance in live {
        let record = &state.instances[&("default".to_string(), instance.id.clone())].record;
        assert_eq!(instance.remaining.cpu, record.remaining_cpu, "live view of {}", instance.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_run_tasks_all_place_and_never_over_commit() {
    let control = cluster().await;
    let first = INSTANCES * PER_INSTANCE - 8;
    let (placed, reasons) = run_many(&control, first, None).await;
    assert_eq!((placed, reasons), (first, Vec::new()), "every RunTask places while capacity lasts");
    assert_never_over_committed(&control);
    // 20 more for the last 8 slots: 8 place, the others fail for CPU, none over-commits.
    let (placed, reasons) = run_many(&control, 20, None).await;
    assert_eq!(placed, 8);
    assert!(reasons.iter().all(|r| r == "RESOURCE:CPU"), "{reasons:?}");
    assert_never_over_committed(&control);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_binpack_run_tasks_contend_for_one_instance_and_all_place() {
    let control = cluster().await;
    let binpack = vec![PlacementStrategy { r#type: Some(PlacementStrategyType::Binpack), field: Some("cpu".into()) }];
    let (placed, reasons) = run_many(&control, 48, Some(binpack)).await;
    assert_eq!((placed, reasons), (48, Vec::new()));
    assert_never_over_committed(&control);
    let full = ledger(&control).values().filter(|(_, remaining, _)| *remaining < i64::from(TASK_CPU)).count();
    assert_eq!(full, 1, "binpack filled one instance before the next");
}

/// Two servers on one store, each with its own cache and live placement state (as with several `berth server`
/// processes on one etcd): RunTasks sent to both at once for one instance never over-commit it. Neither server
/// sees the other's in-flight reservations; the compare-and-swap on the instance record in the placement
/// transaction is what catches the loser, which places again on the winner's record.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_placing_at_once_never_over_commit_an_instance() {
    let store: berth_store::SharedStore = Arc::new(MemoryStore::new());
    let a = Control::start(store.clone(), Arc::new(SystemClock), ControlConfig::default()).await.unwrap();
    let b = Control::start(store.clone(), Arc::new(SystemClock), ControlConfig::default()).await.unwrap();
    common::join_agent(&a, "host-0").await;
    a.register_task_definition(RegisterTaskDefinitionRequest {
        family: "small".into(),
        container_definitions: vec![ContainerDefinition {
            name: Some("app".into()),
            image: Some("x".into()),
            cpu: TASK_CPU,
            memory: Some(16),
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    b.cache().wait_for(store.revision()).await;
    // 24 RunTasks on each server for the instance's 32 slots.
    let (on_a, on_b) = tokio::join!(run_many(&a, 24, None), run_many(&b, 24, None));
    let placed = on_a.0 + on_b.0;
    let reasons: Vec<String> = on_a.1.into_iter().chain(on_b.1).collect();
    assert_eq!(placed, PER_INSTANCE, "exactly the instance's capacity is placed: {reasons:?}");
    assert!(reasons.iter().all(|r| r == "RESOURCE:CPU"), "{reasons:?}");
    for server in [&a, &b] {
        server.cache().wait_for(store.revision()).await;
        assert_never_over_committed(server);
    }
}
