//! Hardening of the control plane on an in-memory store (no Docker): overrides validated like task definitions
//! (with a property test over random override sets), ECS's limits, clientToken expiry, and the quarantine of
//! records that do not decode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::records::keys;
use berth_control::services::controller::reconcile_all;
use berth_control::{Control, ControlConfig, ControlError, EcsException, QUARANTINED_REASON};
use berth_model::agent::{AgentResources, ContainerReport, RegisterRequest, ReportRequest, TaskReport};
use berth_model::clock::{Clock, ManualClock, SystemClock};
use berth_model::ecs::*;
use berth_store::{MemoryStore, SharedStore, Store, Txn};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

async fn control_with(store: SharedStore, clock: Arc<dyn Clock>) -> Arc<Control> {
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    Control::start(store, clock, config).await.unwrap()
}

async fn control() -> Arc<Control> {
    control_with(Arc::new(MemoryStore::new()), Arc::new(SystemClock)).await
}

async fn agent(control: &Control, cpu: i64, memory: i64) -> String {
    let mut attributes = BTreeMap::new();
    attributes.insert("com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(), String::new());
    attributes.insert("com.amazonaws.ecs.capability.docker-remote-api.1.21".to_string(), String::new());
    attributes.insert("ecs.capability.task-cpu-mem-limit".to_string(), String::new());
    let out = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "node".into(),
            resources: AgentResources { cpu, memory_mib: memory, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
    out.container_instance_arn.rsplit('/').next().unwrap().to_string()
}

fn container(name: &str, memory: Option<i32>, reservation: Option<i32>) -> ContainerDefinition {
    ContainerDefinition {
        name: Some(name.into()),
        image: Some("x".into()),
        cpu: 10,
        memory,
        memory_reservation: reservation,
        ..Default::default()
    }
}

async fn register(control: &Control, family: &str, containers: Vec<ContainerDefinition>) -> String {
    control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: family.into(),
            container_definitions: containers,
            ..Default::default()
        })
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

fn exception(error: &ControlError) -> Option<EcsException> {
    match error {
        ControlError::Ecs { exception, .. } => Some(*exception),
        _ => None,
    }
}

fn run_request(td: &str, overrides: Option<TaskOverride>) -> RunTaskRequest {
    RunTaskRequest { task_definition: td.into(), overrides, ..Default::default() }
}

fn override_of(name: &str, cpu: Option<i32>, memory: Option<i32>, reservation: Option<i32>) -> TaskOverride {
    TaskOverride {
        container_overrides: Some(vec![ContainerOverride {
            name: Some(name.into()),
            cpu,
            memory,
            memory_reservation: reservation,
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// Reports every task on the instance as STOPPED (the agent stopped them), which releases their reservations.
async fn report_stopped(control: &Control, instance: &str, arns: &[String]) {
    let reports = arns
        .iter()
        .map(|arn| TaskReport {
            task_arn: arn.clone(),
            last_status: "STOPPED".into(),
            containers: vec![ContainerReport {
                name: "app".into(),
                last_status: "STOPPED".into(),
                exit_code: Some(0),
                health_status: "UNKNOWN".into(),
                ..Default::default()
            }],
            health_status: "UNKNOWN".into(),
            ..Default::default()
        })
        .collect();
    control
        .agent_report("default", instance, ReportRequest { tasks: reports, applied_revision: 0, usage: Vec::new() })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_negative_or_zero_memory_reservation_override_is_refused() {
    let control = control().await;
    let instance = agent(&control, 4096, 4096).await;
    let td = register(&control, "app", vec![container("app", Some(256), Some(128))]).await;
    for bad in [-512, 0, 5] {
        let error =
            control.run_task(run_request(&td, Some(override_of("app", None, None, Some(bad))))).await.unwrap_err();
        assert_eq!(exception(&error), Some(EcsException::InvalidParameterException), "{error}");
        assert!(error.to_string().contains("memoryReservation"), "{error}");
    }
    // A cpu override that is negative, and task-level sizes that do not parse or are too small, are refused too.
    let error = control.run_task(run_request(&td, Some(override_of("app", Some(-1), None, None)))).await.unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::InvalidParameterException), "{error}");
    let tiny = TaskOverride { memory: Some("3".into()), ..Default::default() };
    let error = control.run_task(run_request(&td, Some(tiny))).await.unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::InvalidParameterException), "{error}");
    // The instance's remaining memory never went above what it registered.
    let state = control.cache().read();
    let record = &state.instances.get(&("default".to_string(), instance)).unwrap().record;
    assert!(record.remaining_memory <= 4096, "{}", record.remaining_memory);
}

#[tokio::test]
async fn oversized_overrides_and_empty_environment_names_are_refused() {
    let control = control().await;
    agent(&control, 4096, 4096).await;
    let td = register(&control, "app", vec![container("app", Some(256), None)]).await;
    let big = TaskOverride {
        container_overrides: Some(vec![ContainerOverride {
            name: Some("app".into()),
            environment: Some(vec![KeyValuePair { name: Some("A".into()), value: Some("x".repeat(9000)) }]),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let error = control.run_task(run_request(&td, Some(big))).await.unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::InvalidParameterException), "{error}");
    let unnamed = TaskOverride {
        container_overrides: Some(vec![ContainerOverride {
            name: Some("app".into()),
            environment: Some(vec![KeyValuePair { name: Some(String::new()), value: Some("x".into()) }]),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let error = control.run_task(run_request(&td, Some(unnamed))).await.unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::InvalidParameterException), "{error}");
}

/// One random step: run a task with random overrides (valid or not), or stop some tasks.
#[derive(Debug, Clone)]
enum Step {
    Run {
        cpu: Option<i32>,
        memory: Option<i32>,
        reservation: Option<i32>,
        task_cpu: Option<i32>,
        task_memory: Option<i32>,
    },
    StopAll,
}

fn value() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![
        Just(None),
        (-2048i32..4096).prop_map(Some),
        Just(Some(0)),
        Just(Some(-1)),
        Just(Some(i32::MIN)),
        Just(Some(i32::MAX)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        9 => (value(), value(), value(), value(), value()).prop_map(|(cpu, memory, reservation, task_cpu, task_memory)| {
            Step::Run { cpu, memory, reservation, task_cpu, task_memory }
        }),
        1 => Just(Step::StopAll),
    ]
}

/// Runs the steps and checks after each one that no reservation is negative and no instance's remaining resources
/// exceed what it registered.
async fn run_steps(steps: Vec<Step>) {
    let control = control().await;
    let instance = agent(&control, 8192, 8192).await;
    let td = register(&control, "prop", vec![container("app", Some(512), Some(256))]).await;
    let mut running: Vec<String> = Vec::new();
    for step in steps {
        match step {
            Step::Run { cpu, memory, reservation, task_cpu, task_memory } => {
                let mut overrides = override_of("app", cpu, memory, reservation);
                overrides.cpu = task_cpu.map(|c| c.to_string());
                overrides.memory = task_memory.map(|m| m.to_string());
                // Any outcome is fine (placed, refused, no room); only the invariants below matter.
                if let Ok(out) = control.run_task(run_request(&td, Some(overrides))).await {
                    running.extend(out.tasks.unwrap_or_default().into_iter().filter_map(|t| t.task_arn));
                }
            }
            Step::StopAll => {
                for arn in &running {
                    control.stop_task(StopTaskRequest { task: arn.clone(), ..Default::default() }).await.unwrap();
                }
                report_stopped(&control, &instance, &running).await;
                running.clear();
            }
        }
        let state = control.cache().read();
        for t in state.tasks.values() {
            let r = &t.record.reservation;
            assert!(r.cpu >= 0 && r.memory >= 0, "negative reservation {r:?}");
        }
        for i in state.instances.values() {
            let r = &i.record;
            assert!(r.remaining_cpu <= r.offered.cpu, "remaining cpu {} > {}", r.remaining_cpu, r.offered.cpu);
            assert!(
                r.remaining_memory <= r.offered.memory_mib,
                "remaining memory {} > {}",
                r.remaining_memory,
                r.offered.memory_mib
            );
            assert!(
                r.remaining_cpu >= 0 && r.remaining_memory >= 0,
                "overcommitted {} {}",
                r.remaining_cpu,
                r.remaining_memory
            );
        }
    }
}

proptest! {
    // 4 cases of 250 steps: 1,000 random override sets.
    #![proptest_config(ProptestConfig { cases: 4, max_shrink_iters: 50, ..ProptestConfig::default() })]
    #[test]
    fn random_overrides_never_corrupt_reservations(steps in proptest::collection::vec(step(), 250)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_steps(steps));
    }
}

#[tokio::test]
async fn a_task_definition_over_64_kib_is_refused_with_ecs_message() {
    let control = control().await;
    let mut c = container("app", Some(256), None);
    c.environment = Some(vec![KeyValuePair { name: Some("BIG".into()), value: Some("x".repeat(70 * 1024)) }]);
    let error = control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: "big".into(),
            container_definitions: vec![c],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::ClientException), "{error}");
    assert!(error.to_string().contains("Max allowed length is '65536' bytes"), "{error}");
    // 60 KiB still registers.
    let mut c = container("app", Some(256), None);
    c.environment = Some(vec![KeyValuePair { name: Some("BIG".into()), value: Some("x".repeat(60 * 1024)) }]);
    control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: "big".into(),
            container_definitions: vec![c],
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn desired_count_is_capped_by_the_tasks_per_service_quota() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let config = ControlConfig { max_tasks_per_service: 20, ..ControlConfig::default() };
    let control = Control::start(store, Arc::new(SystemClock), config).await.unwrap();
    let td = register(&control, "web", vec![container("app", Some(64), None)]).await;
    let create = |n| CreateServiceRequest {
        service_name: format!("s{n}"),
        task_definition: Some(td.clone()),
        desired_count: Some(n),
        ..Default::default()
    };
    let error = control.create_service(create(1_000_000_000)).await.unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::InvalidParameterException), "{error}");
    assert!(error.to_string().contains("Tasks per service"), "{error}");
    control.create_service(create(20)).await.unwrap();
    let error = control
        .update_service(UpdateServiceRequest { service: "s20".into(), desired_count: Some(21), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::InvalidParameterException), "{error}");
    // ECS's default quota is 5,000.
    assert_eq!(ControlConfig::default().max_tasks_per_service, 5_000);
}

#[tokio::test]
async fn run_task_client_tokens_expire_after_24_hours() {
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let control = control_with(Arc::new(MemoryStore::new()), clock.clone()).await;
    let instance = agent(&control, 4096, 4096).await;
    let td = register(&control, "app", vec![container("app", Some(64), None)]).await;
    let request = RunTaskRequest { client_token: Some("tok-1".into()), ..run_request(&td, None) };
    let first = control.run_task(request.clone()).await.unwrap().tasks.unwrap()[0].task_arn.clone();
    clock.advance(23.0 * 3600.0);
    // The agent heartbeats meanwhile (liveness runs on the same clock).
    control.touch_agent("default", &instance).await.unwrap();
    let retry = control.run_task(request.clone()).await.unwrap().tasks.unwrap()[0].task_arn.clone();
    assert_eq!(first, retry, "within 24 h a retry returns the original task");
    clock.advance(2.0 * 3600.0);
    control.touch_agent("default", &instance).await.unwrap();
    berth_control::liveness::forget_expired_tokens(&control).await.unwrap();
    assert!(control.cache().read().tokens.is_empty(), "the expired token record is deleted");
    let later = control.run_task(request).await.unwrap().tasks.unwrap()[0].task_arn.clone();
    assert_ne!(first, later, "after 24 h the same token is a new request");
}

#[tokio::test]
async fn deleted_task_definitions_leave_the_cache() {
    let control = control().await;
    let td = register(&control, "gone", vec![container("app", Some(64), None)]).await;
    control.deregister_task_definition(DeregisterTaskDefinitionRequest { task_definition: td.clone() }).await.unwrap();
    control.delete_task_definitions(DeleteTaskDefinitionsRequest { task_definitions: vec![td.clone()] }).await.unwrap();
    berth_control::liveness::reconcile(&control).await.unwrap();
    assert!(control.cache().read().task_definitions.is_empty(), "the deleted revision is gone from the cache");
    let error = control
        .describe_task_definition(DescribeTaskDefinitionRequest { task_definition: td, ..Default::default() })
        .unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::ClientException));
}

#[tokio::test]
async fn an_unreadable_record_is_quarantined_not_treated_as_absent() {
    let store = Arc::new(MemoryStore::new());
    let shared: SharedStore = store.clone();
    let control = control_with(shared.clone(), Arc::new(SystemClock)).await;
    let instance = agent(&control, 4096, 4096).await;
    let td = register(&control, "app", vec![container("app", Some(64), None)]).await;
    let service_td = register(&control, "web", vec![container("app", Some(64), None)]).await;
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some(service_td),
            desired_count: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    reconcile_all(&control).await.unwrap();
    let standalone =
        control.run_task(run_request(&td, None)).await.unwrap().tasks.unwrap()[0].task_arn.clone().unwrap();
    let standalone_id = standalone.rsplit('/').next().unwrap().to_string();
    let service_task = {
        let state = control.cache().read();
        state.tasks_in_group("default", "service:web").next().unwrap().record.arn.clone()
    };
    let service_task_id = service_task.rsplit('/').next().unwrap().to_string();
    let before = control.desired_state("default", &instance).tasks.len();
    assert_eq!(before, 3);

    // Garbage lands in two task records (one of them a service's), as corruption would write it.
    for id in [&standalone_id, &service_task_id] {
        store.txn(Txn::new().put(keys::task("default", id), b"\x00garbage{".to_vec())).await.unwrap();
    }
    // A control plane started on this store (a restart) lists it: nothing is treated as absent.
    let restarted = control_with(shared.clone(), Arc::new(SystemClock)).await;
    control.cache().wait_for(store.revision()).await;
    for c in [&control, &restarted] {
        let desired = c.desired_state("default", &instance);
        assert!(desired.keep.contains(&standalone) && desired.keep.contains(&service_task), "{:?}", desired.keep);
        let state = c.cache().read();
        assert!(state.is_quarantined(&keys::task("default", &standalone_id)));
    }
    // The running process kept the last good versions too.
    assert_eq!(control.desired_state("default", &instance).tasks.len(), 3);
    // Reports about the quarantined tasks are not answered "unknown" (which would make the agent stop them).
    let out = restarted
        .agent_report(
            "default",
            &instance,
            ReportRequest {
                tasks: vec![TaskReport {
                    task_arn: standalone.clone(),
                    last_status: "RUNNING".into(),
                    health_status: "UNKNOWN".into(),
                    ..Default::default()
                }],
                applied_revision: 0,
                usage: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert!(out.unknown_task_arns.is_empty(), "{:?}", out.unknown_task_arns);
    // DescribeTasks names the corruption.
    let described = restarted
        .describe_tasks(DescribeTasksRequest { tasks: vec![standalone.clone()], ..Default::default() })
        .unwrap();
    let failure = &described.failures.unwrap()[0];
    assert_eq!(failure.reason.as_deref(), Some(QUARANTINED_REASON));
    assert!(failure.detail.as_deref().unwrap_or_default().contains("corrupt"), "{failure:?}");
    // The service scheduler starts no replacement; the service reports why.
    let tasks_before = restarted.cache().read().tasks.len();
    reconcile_all(&restarted).await.unwrap();
    reconcile_all(&restarted).await.unwrap();
    assert_eq!(restarted.cache().read().tasks.len(), tasks_before, "no replacement was started");
    let service = restarted
        .describe_services(DescribeServicesRequest { services: vec!["web".into()], ..Default::default() })
        .unwrap()
        .services
        .unwrap()
        .remove(0);
    let events: Vec<String> = service.events.unwrap_or_default().into_iter().filter_map(|e| e.message).collect();
    assert!(events.iter().any(|e| e.contains("quarantined")), "{events:?}");

    // A quarantined service is reported by DescribeServices and never touched.
    store.txn(Txn::new().put(keys::service("default", "web"), b"nope".to_vec())).await.unwrap();
    let restarted = control_with(shared.clone(), Arc::new(SystemClock)).await;
    let described = restarted
        .describe_services(DescribeServicesRequest { services: vec!["web".into()], ..Default::default() })
        .unwrap();
    assert_eq!(described.failures.unwrap()[0].reason.as_deref(), Some(QUARANTINED_REASON));
    // The raw bytes stay untouched in the store.
    assert_eq!(store.get(&keys::service("default", "web")).await.unwrap().unwrap().value, b"nope");

    // A quarantined instance: its agent is told to retry (not to register anew), and nothing on it is lost.
    store.txn(Txn::new().put(keys::instance("default", &instance), b"{".to_vec())).await.unwrap();
    let restarted = control_with(shared, Arc::new(SystemClock)).await;
    let error = restarted.authenticate_agent(&format!("default/{instance}/whatever")).unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::ServerException), "{error}");
    let instance_arn = restarted.arn(&format!("container-instance/default/{instance}"));
    let error = restarted
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            container_instance_arn: Some(instance_arn),
            hostname: "node".into(),
            resources: AgentResources { cpu: 4096, memory_mib: 4096, ..Default::default() },
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(exception(&error), Some(EcsException::ServerException), "re-registering must not make a new instance");
    berth_control::liveness::stop_tasks_of_lost_instances(&restarted).await.unwrap();
    let state = restarted.cache().read();
    assert!(state.tasks.values().all(|t| t.record.desired_status == berth_control::status::DesiredStatus::Running));
}
