//! The daemon scheduler on an in-memory store with pretend agents and a manual clock: the gate of a new instance
//! (released when its daemon task runs, or after the bound), and a deployment whose revision keeps failing tripping
//! the circuit breaker, draining the instances and rolling back to the revision that ran before.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::daemons::controller::reconcile_all;
use berth_control::daemons::{GATE_SECONDS, group};
use berth_control::{Control, ControlConfig};
use berth_model::agent::{AgentResources, ContainerReport, RegisterRequest, ReportRequest, TaskReport};
use berth_model::clock::ManualClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

const T0: f64 = 1_700_000_000.0;

async fn control() -> (Arc<Control>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let control = Control::start(Arc::new(MemoryStore::new()), clock.clone(), ControlConfig::default()).await.unwrap();
    control
        .create_capacity_provider(CreateCapacityProviderRequest {
            name: "workers".into(),
            auto_scaling_group_provider: Some(AutoScalingGroupProvider {
                auto_scaling_group_arn: "workers".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    control
        .put_cluster_capacity_providers(PutClusterCapacityProvidersRequest {
            cluster: "default".into(),
            capacity_providers: vec!["workers".into()],
            default_capacity_provider_strategy: Vec::new(),
        })
        .await
        .unwrap();
    (control, clock)
}

/// Joins a pretend agent of node group `workers`; returns its instance id.
async fn join(control: &Control, host: &str) -> String {
    let attributes =
        BTreeMap::from([("com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(), String::new())]);
    let arn = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: host.into(),
            resources: AgentResources { cpu: 1024, memory_mib: 1024, ..Default::default() },
            attributes,
            node_group: Some("workers".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .container_instance_arn;
    arn.rsplit('/').next().unwrap().to_string()
}

async fn register(control: &Control, marker: &str) -> String {
    control
        .register_daemon_task_definition(RegisterDaemonTaskDefinitionRequest {
            family: "agent".into(),
            container_definitions: vec![DaemonContainerDefinition {
                name: Some("app".into()),
                image: format!("agent:{marker}"),
                memory: Some(64),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .daemon_task_definition_arn
        .unwrap()
}

/// The daemon's tasks that are not STOPPED: (instance id, task ARN, task definition ARN, desired status).
fn daemon_tasks(control: &Control) -> Vec<(String, String, String, String)> {
    let state = control.cache().read();
    let mut out: Vec<_> = state
        .tasks
        .values()
        .map(|v| &v.record)
        .filter(|t| t.group.as_deref() == Some(group("agent").as_str()))
        .filter(|t| t.last_status() != Some(berth_control::status::TaskStatus::Stopped))
        .map(|t| {
            (t.instance_id.clone(), t.arn.clone(), t.task_definition_arn.clone(), t.desired_status.as_str().to_string())
        })
        .collect();
    out.sort();
    out
}

/// The agent of `instance` reports its tasks: `status`, with a stop code when STOPPED.
async fn report(control: &Control, instance: &str, arns: &[String], status: &str, stop_code: Option<&str>) {
    let tasks = arns
        .iter()
        .map(|arn| TaskReport {
            task_arn: arn.clone(),
            last_status: status.into(),
            containers: vec![ContainerReport {
                name: "app".into(),
                last_status: status.into(),
                exit_code: (status == "STOPPED").then_some(if stop_code.is_some() { 1 } else { 0 }),
                health_status: "UNKNOWN".into(),
                ..Default::default()
            }],
            health_status: "UNKNOWN".into(),
            stop_code: stop_code.map(str::to_string),
            stopped_reason: stop_code.map(|_| "Essential container in task exited".to_string()),
            ..Default::default()
        })
        .collect();
    control
        .agent_report("default", instance, ReportRequest { tasks, applied_revision: 0, usage: Vec::new() })
        .await
        .unwrap();
}

/// Every agent reports its daemon tasks as they are asked to be: RUNNING, or STOPPED when asked to stop.
async fn agents_obey(control: &Control) {
    for (instance, arn, _, desired) in daemon_tasks(control) {
        report(control, &instance, &[arn], if desired == "STOPPED" { "STOPPED" } else { "RUNNING" }, None).await;
    }
}

fn instance_status(control: &Control, id: &str) -> (String, Option<String>, bool) {
    let state = control.cache().read();
    let record = &state.instances[&("default".to_string(), id.to_string())].record;
    (record.status.as_str().to_string(), record.daemon_drain.clone(), record.daemon_gate_until.is_some())
}

fn deployment(control: &Control, arn: &str) -> DaemonDeployment {
    let out = control
        .describe_daemon_deployments(DescribeDaemonDeploymentsRequest { daemon_deployment_arns: vec![arn.into()] })
        .unwrap();
    out.daemon_deployments.unwrap().remove(0)
}

async fn run_one(control: &Control) -> RunTaskResponse {
    control.run_task(RunTaskRequest { task_definition: "app".into(), ..Default::default() }).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_instance_takes_other_tasks_only_once_its_daemon_task_runs_or_the_gate_times_out() {
    let (control, clock) = control().await;
    let first = register(&control, "1").await;
    control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "agent".into(),
            daemon_task_definition_arn: first,
            capacity_provider_arns: vec!["workers".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: "app".into(),
            container_definitions: vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some("app".into()),
                memory: Some(64),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();

    let host = join(&control, "host-a").await;
    assert!(instance_status(&control, &host).2, "a new instance of a daemon's provider is gated");
    let refused = run_one(&control).await;
    assert!(refused.tasks.unwrap_or_default().is_empty(), "no other task is placed while the daemon starts");
    reconcile_all(&control).await.unwrap();
    let tasks = daemon_tasks(&control);
    assert_eq!(tasks.len(), 1, "its daemon task is placed despite the gate");
    assert!(instance_status(&control, &host).2, "still gated until the daemon task runs");
    agents_obey(&control).await;
    reconcile_all(&control).await.unwrap();
    assert!(!instance_status(&control, &host).2, "released once the daemon task runs");
    assert_eq!(run_one(&control).await.tasks.unwrap().len(), 1);

    // A daemon task that never runs holds the instance for at most GATE_SECONDS.
    let stuck = join(&control, "host-b").await;
    reconcile_all(&control).await.unwrap();
    assert!(instance_status(&control, &stuck).2);
    clock.advance(GATE_SECONDS / 2.0);
    report(&control, &stuck, &[], "RUNNING", None).await; // a heartbeat
    reconcile_all(&control).await.unwrap();
    assert!(instance_status(&control, &stuck).2);
    clock.advance(GATE_SECONDS / 2.0 + 1.0);
    report(&control, &stuck, &[], "RUNNING", None).await;
    reconcile_all(&control).await.unwrap();
    assert!(!instance_status(&control, &stuck).2, "the gate is bounded");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_revision_trips_the_circuit_breaker_and_rolls_back_and_drained_instances_come_back() {
    let (control, clock) = control().await;
    let hosts = [join(&control, "host-a").await, join(&control, "host-b").await];
    let first = register(&control, "good").await;
    let created = control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "agent".into(),
            daemon_task_definition_arn: first.clone(),
            capacity_provider_arns: vec!["workers".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    reconcile_all(&control).await.unwrap();
    agents_obey(&control).await;
    reconcile_all(&control).await.unwrap();
    let created_deployment = deployment(&control, created.deployment_arn.as_deref().unwrap());
    assert_eq!(created_deployment.status, Some(DaemonDeploymentStatus::Successful));
    assert_eq!(daemon_tasks(&control).len(), 2);

    let bad = register(&control, "bad").await;
    let updated = control
        .update_daemon(UpdateDaemonRequest {
            daemon_arn: created.daemon_arn.clone().unwrap(),
            daemon_task_definition_arn: bad.clone(),
            capacity_provider_arns: vec!["workers".into()],
            deployment_configuration: Some(DaemonDeploymentConfiguration {
                drain_percent: Some(50.0),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let arn = updated.deployment_arn.unwrap();
    // Half of two instances at a time: one replacement in flight.
    reconcile_all(&control).await.unwrap();
    let stopping = daemon_tasks(&control).into_iter().filter(|t| t.3 == "STOPPED").count();
    assert_eq!(stopping, 1, "one batch of drainPercent 50 out of 2 instances");

    // Every task of the new revision fails: each instance drains and gets another try after the restart delay,
    // until three failures trip the breaker.
    for _ in 0..12 {
        for (instance, arn, td, desired) in daemon_tasks(&control) {
            if desired == "STOPPED" {
                report(&control, &instance, &[arn], "STOPPED", None).await;
            } else if td == bad {
                report(&control, &instance, &[arn], "STOPPED", Some("EssentialContainerExited")).await;
            } else {
                report(&control, &instance, &[arn], "RUNNING", None).await;
            }
        }
        reconcile_all(&control).await.unwrap();
        if deployment(&control, &arn).status == Some(DaemonDeploymentStatus::RollbackInProgress) {
            break;
        }
        clock.advance(6.0);
        for host in &hosts {
            report(&control, host, &[], "RUNNING", None).await;
        }
        reconcile_all(&control).await.unwrap();
    }
    let rolling_back = deployment(&control, &arn);
    assert_eq!(rolling_back.status, Some(DaemonDeploymentStatus::RollbackInProgress), "{rolling_back:?}");
    let breaker = rolling_back.circuit_breaker.unwrap();
    assert_eq!(breaker.status, Some(DaemonDeploymentRollbackMonitorsStatus::Triggered));
    assert!(breaker.failure_count >= breaker.threshold && breaker.threshold == 3, "{breaker:?}");
    assert!(hosts.iter().any(|h| instance_status(&control, h).0 == "DRAINING"), "a failed daemon drains its instance");
    assert!(
        instance_status(&control, &hosts[0])
            .1
            .iter()
            .chain(&instance_status(&control, &hosts[1]).1)
            .all(|r| r.contains("Berth does not own its host"))
    );

    // The rollback puts the first revision back everywhere and the drained instances come back.
    for _ in 0..6 {
        clock.advance(6.0);
        agents_obey(&control).await;
        for host in &hosts {
            report(&control, host, &[], "RUNNING", None).await;
        }
        reconcile_all(&control).await.unwrap();
    }
    agents_obey(&control).await;
    reconcile_all(&control).await.unwrap();
    let done = deployment(&control, &arn);
    assert_eq!(done.status, Some(DaemonDeploymentStatus::RollbackSuccessful), "{done:?}");
    let tasks = daemon_tasks(&control);
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.2 == first), "every instance runs the revision that ran before: {tasks:?}");
    for host in &hosts {
        assert_eq!(instance_status(&control, host), ("ACTIVE".to_string(), None, false));
    }

    // The daemon's provider stays in the cluster while the daemon is ACTIVE.
    let removal = control
        .put_cluster_capacity_providers(PutClusterCapacityProvidersRequest {
            cluster: "default".into(),
            capacity_providers: Vec::new(),
            default_capacity_provider_strategy: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(removal.exception(), berth_control::EcsException::ResourceInUseException);
    assert!(removal.to_string().contains("daemon agent runs on it"), "{removal}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_with_an_active_daemon_is_not_deleted_and_a_deleted_daemon_goes_away() {
    let (control, _clock) = control().await;
    let first = register(&control, "1").await;
    let created = control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "agent".into(),
            daemon_task_definition_arn: first.clone(),
            capacity_provider_arns: vec!["workers".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = control.delete_cluster(DeleteClusterRequest { cluster: "default".into() }).await.unwrap_err();
    assert_eq!(refused.exception(), berth_control::EcsException::ClientException);
    assert!(refused.to_string().contains("Daemons are active"), "{refused}");
    // A definition a daemon uses waits in DELETE_IN_PROGRESS until the daemon is gone.
    control
        .delete_daemon_task_definition(DeleteDaemonTaskDefinitionRequest { daemon_task_definition: first.clone() })
        .await
        .unwrap();
    let status = |control: &Control| {
        control
            .describe_daemon_task_definition(DescribeDaemonTaskDefinitionRequest {
                daemon_task_definition: first.clone(),
            })
            .unwrap()
            .daemon_task_definition
            .unwrap()
            .status
    };
    assert_eq!(status(&control), Some(DaemonTaskDefinitionStatus::DeleteInProgress));
    let daemon_arn = created.daemon_arn.unwrap();
    let deleted = control.delete_daemon(DeleteDaemonRequest { daemon_arn: daemon_arn.clone() }).await.unwrap();
    assert_eq!(deleted.status, Some(DaemonStatus::DeleteInProgress));
    let again = control.delete_daemon(DeleteDaemonRequest { daemon_arn: daemon_arn.clone() }).await.unwrap_err();
    assert_eq!(again.exception(), berth_control::EcsException::DaemonNotActiveException);
    reconcile_all(&control).await.unwrap();
    let gone = control.describe_daemon(DescribeDaemonRequest { daemon_arn }).unwrap_err();
    assert_eq!(gone.exception(), berth_control::EcsException::DaemonNotFoundException);
    assert_eq!(status(&control), Some(DaemonTaskDefinitionStatus::Deleted));
    control.delete_cluster(DeleteClusterRequest { cluster: "default".into() }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_moved_to_another_provider_leaves_the_instances_of_the_first() {
    let (control, _clock) = control().await;
    control
        .create_capacity_provider(CreateCapacityProviderRequest {
            name: "others".into(),
            auto_scaling_group_provider: Some(AutoScalingGroupProvider {
                auto_scaling_group_arn:
                    "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/others".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    control
        .put_cluster_capacity_providers(PutClusterCapacityProvidersRequest {
            cluster: "default".into(),
            capacity_providers: vec!["workers".into(), "others".into()],
            default_capacity_provider_strategy: Vec::new(),
        })
        .await
        .unwrap();
    let worker = join(&control, "worker").await;
    let other = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "other".into(),
            resources: AgentResources { cpu: 1024, memory_mib: 1024, ..Default::default() },
            node_group: Some("others".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .container_instance_arn;
    let other = other.rsplit('/').next().unwrap().to_string();
    let definition = register(&control, "1").await;
    let created = control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "agent".into(),
            daemon_task_definition_arn: definition.clone(),
            capacity_provider_arns: vec!["arn:aws:ecs:us-east-1:000000000000:capacity-provider/workers".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    reconcile_all(&control).await.unwrap();
    agents_obey(&control).await;
    let on: Vec<String> = daemon_tasks(&control).into_iter().map(|t| t.0).collect();
    assert_eq!(on, std::slice::from_ref(&worker));
    control
        .update_daemon(UpdateDaemonRequest {
            daemon_arn: created.daemon_arn.unwrap(),
            daemon_task_definition_arn: definition,
            capacity_provider_arns: vec!["others".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
        agents_obey(&control).await;
    }
    let on: Vec<(String, String)> = daemon_tasks(&control).into_iter().map(|t| (t.0, t.3)).collect();
    assert_eq!(on, [(other, "RUNNING".to_string())], "only the new provider's instance runs the daemon");
    assert_eq!(instance_status(&control, &worker).0, "ACTIVE", "a task the scheduler stopped drains nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_bakes_after_each_step_before_the_next_and_before_it_succeeds() {
    let (control, clock) = control().await;
    let hosts = [join(&control, "host-a").await, join(&control, "host-b").await];
    let heartbeat = |control: Arc<Control>| {
        let hosts = hosts.clone();
        async move {
            for host in &hosts {
                report(&control, host, &[], "RUNNING", None).await;
            }
        }
    };
    let first = register(&control, "1").await;
    let created = control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "agent".into(),
            daemon_task_definition_arn: first,
            capacity_provider_arns: vec!["workers".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    reconcile_all(&control).await.unwrap();
    agents_obey(&control).await;
    reconcile_all(&control).await.unwrap();
    let second = register(&control, "2").await;
    let updated = control
        .update_daemon(UpdateDaemonRequest {
            daemon_arn: created.daemon_arn.unwrap(),
            daemon_task_definition_arn: second.clone(),
            capacity_provider_arns: vec!["workers".into()],
            deployment_configuration: Some(DaemonDeploymentConfiguration {
                drain_percent: Some(50.0),
                bake_time_in_minutes: 1,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let arn = updated.deployment_arn.unwrap();
    let on_second = |control: &Control| daemon_tasks(control).iter().filter(|t| t.2 == second).count();
    // The first step: one instance replaced, then the bake time holds the second.
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
        agents_obey(&control).await;
    }
    reconcile_all(&control).await.unwrap();
    assert_eq!(on_second(&control), 1);
    clock.advance(30.0);
    heartbeat(control.clone()).await;
    reconcile_all(&control).await.unwrap();
    assert_eq!(on_second(&control), 1, "the bake time holds the next step");
    assert_eq!(deployment(&control, &arn).status, Some(DaemonDeploymentStatus::InProgress));
    clock.advance(31.0);
    heartbeat(control.clone()).await;
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
        agents_obey(&control).await;
    }
    reconcile_all(&control).await.unwrap();
    assert_eq!(on_second(&control), 2, "the second step ran after the bake time");
    assert_eq!(
        deployment(&control, &arn).status,
        Some(DaemonDeploymentStatus::InProgress),
        "the last step bakes before the deployment succeeds"
    );
    clock.advance(61.0);
    heartbeat(control.clone()).await;
    reconcile_all(&control).await.unwrap();
    assert_eq!(deployment(&control, &arn).status, Some(DaemonDeploymentStatus::Successful));
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_tasks_get_their_definitions_task_role_and_secrets_need_the_execution_role() {
    let (control, _clock) = control().await;
    // An agent advertising what real agents do (the task role capability among it).
    let host = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "host-a".into(),
            resources: AgentResources { cpu: 1024, memory_mib: 1024, ..Default::default() },
            attributes: berth_model::capabilities::supported().into_iter().map(|a| (a, String::new())).collect(),
            node_group: Some("workers".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .container_instance_arn;
    let host = host.rsplit('/').next().unwrap().to_string();
    let role = "arn:aws:iam::000000000000:role/node-agent";
    let with_role = control
        .register_daemon_task_definition(RegisterDaemonTaskDefinitionRequest {
            family: "agent".into(),
            task_role_arn: Some(role.into()),
            container_definitions: vec![DaemonContainerDefinition {
                name: Some("app".into()),
                image: "agent:1".into(),
                memory: Some(64),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .daemon_task_definition_arn
        .unwrap();
    assert_eq!(control.task_definition_roles(&with_role), vec![("taskRoleArn", role.to_string())]);
    let secret_without_role = control
        .register_daemon_task_definition(RegisterDaemonTaskDefinitionRequest {
            family: "agent".into(),
            container_definitions: vec![DaemonContainerDefinition {
                name: Some("app".into()),
                image: "agent:1".into(),
                memory: Some(64),
                secrets: Some(vec![Secret { name: "TOKEN".into(), value_from: "token".into() }]),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .daemon_task_definition_arn
        .unwrap();
    let refused = control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "agent".into(),
            daemon_task_definition_arn: secret_without_role,
            capacity_provider_arns: vec!["workers".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.exception(), berth_control::EcsException::ClientException, "{refused}");
    control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "agent".into(),
            daemon_task_definition_arn: with_role,
            capacity_provider_arns: vec!["workers".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    reconcile_all(&control).await.unwrap();
    let (_, task, _, _) = daemon_tasks(&control).remove(0);
    let source = control.task_role_source("default", &host, &task).unwrap();
    assert_eq!(source.role_arn, role);
    let desired = control.desired_state("default", &host);
    assert_eq!(desired.tasks[0].task_role_arn.as_deref(), Some(role), "the agent learns the daemon task's role");
}

/// A node provider that records what it is asked (its hosts join through the test's `join`).
#[derive(Default)]
struct RecordingProvider {
    launched: std::sync::Mutex<Vec<u64>>,
    removed: std::sync::Mutex<Vec<String>>,
}

impl berth_control::managed_scaling::nodes::NodeProvider for RecordingProvider {
    fn describe(&self) -> String {
        "recording".into()
    }

    fn launch(
        &self,
        launch: berth_control::managed_scaling::nodes::NodeLaunch,
    ) -> berth_control::managed_scaling::nodes::NodeFuture<'_, u64> {
        self.launched.lock().unwrap().push(launch.count);
        Box::pin(async move { Ok(launch.count) })
    }

    fn can_remove(&self, ec2_instance_id: &str) -> bool {
        ec2_instance_id.starts_with("host-")
    }

    fn remove(
        &self,
        removal: berth_control::managed_scaling::nodes::NodeRemoval,
    ) -> berth_control::managed_scaling::nodes::NodeFuture<'_, ()> {
        self.removed.lock().unwrap().push(removal.ec2_instance_id);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_daemon_task_replaces_its_instance_through_the_node_provider() {
    let (control, _clock) = control().await;
    let provider = Arc::new(RecordingProvider::default());
    control.set_node_providers(BTreeMap::from([(
        "workers".to_string(),
        provider.clone() as Arc<dyn berth_control::managed_scaling::nodes::NodeProvider>,
    )]));
    let hosts = [join(&control, "host-a").await, join(&control, "host-b").await];
    let first = register(&control, "good").await;
    control
        .create_daemon(CreateDaemonRequest {
            daemon_name: "agent".into(),
            daemon_task_definition_arn: first.clone(),
            capacity_provider_arns: vec!["workers".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    reconcile_all(&control).await.unwrap();
    agents_obey(&control).await;
    reconcile_all(&control).await.unwrap();
    assert_eq!(daemon_tasks(&control).len(), 2);

    // host-a's daemon task exits: the instance drains, marked for replacement, and gets no new daemon task.
    let (_, failed, _, _) = daemon_tasks(&control).into_iter().find(|t| t.0 == hosts[0]).unwrap();
    report(&control, &hosts[0], &[failed], "STOPPED", Some("EssentialContainerExited")).await;
    reconcile_all(&control).await.unwrap();
    let (status, reason, _) = instance_status(&control, &hosts[0]);
    assert_eq!(status, "DRAINING");
    assert!(reason.unwrap().contains("its node provider starts a replacement host"));
    reconcile_all(&control).await.unwrap();
    assert!(daemon_tasks(&control).iter().all(|t| t.0 != hosts[0]), "no daemon task restarts on a replaced host");

    // Managed scaling asks for one host, once, then removes the empty instance and deregisters it.
    control.replace_daemon_hosts().await.unwrap();
    assert_eq!(*provider.launched.lock().unwrap(), vec![1]);
    control.replace_daemon_hosts().await.unwrap();
    assert_eq!(*provider.launched.lock().unwrap(), vec![1], "the replacement is asked for once");
    assert_eq!(*provider.removed.lock().unwrap(), vec!["host-a".to_string()]);
    assert_eq!(instance_status(&control, &hosts[0]).0, "INACTIVE");

    // The replacement joins and gets its daemon task; host-b was never touched.
    let replacement = join(&control, "host-c").await;
    reconcile_all(&control).await.unwrap();
    let on: Vec<String> = daemon_tasks(&control).into_iter().map(|t| t.0).collect();
    assert!(on.contains(&replacement) && on.contains(&hosts[1]) && on.len() == 2, "{on:?}");
    assert_eq!(instance_status(&control, &hosts[1]).0, "ACTIVE");
}
