//! Compatibility with what ECS answers and accepts (issue 9, points 5 and 6), on an in-memory store (no Docker):
//! every operation that names a cluster answers ClusterNotFoundException for an unknown one, services are
//! ServiceNotFound or ServiceNotActive as ECS tells them apart, DeleteTaskDefinitions' failure reasons, RunTask's
//! launch type against capacity provider strategy, and the leniency ECS shows (empty role ARNs, `startedBy` with a
//! space).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::{Control, ControlConfig, ControlError, EcsException};
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

async fn control() -> Arc<Control> {
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), config).await.unwrap()
}

/// An agent advertising the basic capabilities, and not `task-iam-role`.
async fn agent(control: &Control) {
    let mut attributes = BTreeMap::new();
    attributes.insert("com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(), String::new());
    attributes.insert("com.amazonaws.ecs.capability.docker-remote-api.1.21".to_string(), String::new());
    control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "node".into(),
            resources: AgentResources { cpu: 2048, memory_mib: 2048, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
}

fn container(name: &str) -> ContainerDefinition {
    ContainerDefinition { name: Some(name.into()), image: Some("x".into()), memory: Some(64), ..Default::default() }
}

async fn register(control: &Control, req: RegisterTaskDefinitionRequest) -> TaskDefinition {
    control.register_task_definition(req).await.unwrap().task_definition.unwrap()
}

fn simple(family: &str) -> RegisterTaskDefinitionRequest {
    RegisterTaskDefinitionRequest {
        family: family.into(),
        container_definitions: vec![container("app")],
        ..Default::default()
    }
}

#[track_caller]
fn assert_ecs<T: std::fmt::Debug>(result: Result<T, ControlError>, expected: EcsException, needle: &str) {
    match result {
        Err(ControlError::Ecs { exception, message, .. }) => {
            assert_eq!(exception, expected, "wrong exception (message {message:?})");
            assert!(message.contains(needle), "message {message:?} should contain {needle:?}");
        }
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn every_operation_naming_an_unknown_cluster_is_cluster_not_found() {
    let control = control().await;
    let c = || Some("nope".to_string());
    let not_found = EcsException::ClusterNotFoundException;
    let msg = "Cluster not found.";
    assert_ecs(
        control.describe_tasks(DescribeTasksRequest { cluster: c(), tasks: vec!["t".into()], ..Default::default() }),
        not_found,
        msg,
    );
    assert_ecs(control.list_tasks(ListTasksRequest { cluster: c(), ..Default::default() }), not_found, msg);
    assert_ecs(
        control.stop_task(StopTaskRequest { cluster: c(), task: "t".into(), ..Default::default() }).await,
        not_found,
        msg,
    );
    assert_ecs(
        control.run_task(RunTaskRequest { cluster: c(), task_definition: "f:1".into(), ..Default::default() }).await,
        not_found,
        msg,
    );
    assert_ecs(
        control
            .start_task(StartTaskRequest {
                cluster: c(),
                task_definition: "f:1".into(),
                container_instances: vec!["i".into()],
                ..Default::default()
            })
            .await,
        not_found,
        msg,
    );
    assert_ecs(
        control.describe_container_instances(DescribeContainerInstancesRequest {
            cluster: c(),
            container_instances: vec!["i".into()],
            ..Default::default()
        }),
        not_found,
        msg,
    );
    assert_ecs(
        control.list_container_instances(ListContainerInstancesRequest { cluster: c(), ..Default::default() }),
        not_found,
        msg,
    );
    assert_ecs(
        control
            .update_container_instances_state(UpdateContainerInstancesStateRequest {
                cluster: c(),
                container_instances: vec!["i".into()],
                status: ContainerInstanceStatus::Draining,
            })
            .await,
        not_found,
        msg,
    );
    assert_ecs(
        control
            .deregister_container_instance(DeregisterContainerInstanceRequest {
                cluster: c(),
                container_instance: "i".into(),
                ..Default::default()
            })
            .await,
        not_found,
        msg,
    );
    assert_ecs(control.list_services(ListServicesRequest { cluster: c(), ..Default::default() }), not_found, msg);
    assert_ecs(
        control.describe_services(DescribeServicesRequest {
            cluster: c(),
            services: vec!["s".into()],
            ..Default::default()
        }),
        not_found,
        msg,
    );
    assert_ecs(
        control
            .create_service(CreateServiceRequest {
                cluster: c(),
                service_name: "s".into(),
                task_definition: Some("f:1".into()),
                desired_count: Some(1),
                ..Default::default()
            })
            .await,
        not_found,
        msg,
    );
    assert_ecs(
        control.update_service(UpdateServiceRequest { cluster: c(), service: "s".into(), ..Default::default() }).await,
        not_found,
        msg,
    );
    assert_ecs(
        control.delete_service(DeleteServiceRequest { cluster: c(), service: "s".into(), ..Default::default() }).await,
        not_found,
        msg,
    );
    assert_ecs(
        control.list_service_deployments(ListServiceDeploymentsRequest {
            cluster: c(),
            service: "s".into(),
            ..Default::default()
        }),
        not_found,
        msg,
    );
    let attribute =
        Attribute { name: "a".into(), value: Some("b".into()), target_id: Some("i".into()), ..Default::default() };
    assert_ecs(
        control.put_attributes(PutAttributesRequest { cluster: c(), attributes: vec![attribute.clone()] }).await,
        not_found,
        msg,
    );
    assert_ecs(
        control.delete_attributes(DeleteAttributesRequest { cluster: c(), attributes: vec![attribute] }).await,
        not_found,
        msg,
    );
    assert_ecs(
        control.list_attributes(ListAttributesRequest {
            cluster: c(),
            target_type: TargetType::ContainerInstance,
            ..Default::default()
        }),
        not_found,
        msg,
    );
    assert_ecs(
        control.update_cluster(UpdateClusterRequest { cluster: "nope".into(), ..Default::default() }).await,
        not_found,
        msg,
    );
    assert_ecs(
        control
            .update_cluster_settings(UpdateClusterSettingsRequest { cluster: "nope".into(), settings: vec![] })
            .await,
        not_found,
        msg,
    );
    assert_ecs(control.delete_cluster(DeleteClusterRequest { cluster: "nope".into() }).await, not_found, msg);
    assert_ecs(
        control.get_task_protection(GetTaskProtectionRequest { cluster: "nope".into(), ..Default::default() }),
        not_found,
        msg,
    );
    assert_ecs(
        control
            .update_task_protection(UpdateTaskProtectionRequest {
                cluster: "nope".into(),
                tasks: vec!["t".into()],
                protection_enabled: true,
                ..Default::default()
            })
            .await,
        not_found,
        msg,
    );
    assert_ecs(
        control
            .register_container_instance(RegisterContainerInstanceRequest { cluster: c(), ..Default::default() })
            .await,
        not_found,
        msg,
    );
    // The state changes an agent submits name a cluster too.
    let agent = berth_control::state_changes::AgentCaller { cluster: "default".into(), instance_id: "i".into() };
    assert_ecs(
        control
            .submit_task_state_change(
                &agent,
                SubmitTaskStateChangeRequest { cluster: c(), task: Some("t".into()), ..Default::default() },
            )
            .await,
        not_found,
        msg,
    );
    assert_ecs(
        control
            .submit_container_state_change(
                &agent,
                SubmitContainerStateChangeRequest { cluster: c(), task: Some("t".into()), ..Default::default() },
            )
            .await,
        not_found,
        msg,
    );
    assert_ecs(
        control
            .submit_attachment_state_changes(
                &agent,
                SubmitAttachmentStateChangesRequest { cluster: c(), ..Default::default() },
            )
            .await,
        not_found,
        msg,
    );
    // A cluster named by ARN is the same.
    assert_ecs(
        control.list_tasks(ListTasksRequest {
            cluster: Some("arn:aws:ecs:us-east-1:000000000000:cluster/nope".into()),
            ..Default::default()
        }),
        not_found,
        msg,
    );
}

#[tokio::test]
async fn services_are_not_found_or_not_active_as_ecs_tells_them_apart() {
    let control = control().await;
    let td = register(&control, simple("svc")).await.task_definition_arn.unwrap();
    assert_ecs(
        control.update_service(UpdateServiceRequest { service: "never".into(), ..Default::default() }).await,
        EcsException::ServiceNotFoundException,
        "Service not found.",
    );
    assert_ecs(
        control.delete_service(DeleteServiceRequest { service: "never".into(), ..Default::default() }).await,
        EcsException::ServiceNotFoundException,
        "Service not found.",
    );
    control
        .create_service(CreateServiceRequest {
            service_name: "gone".into(),
            task_definition: Some(td),
            desired_count: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    control.delete_service(DeleteServiceRequest { service: "gone".into(), ..Default::default() }).await.unwrap();
    assert_ecs(
        control
            .update_service(UpdateServiceRequest {
                service: "gone".into(),
                desired_count: Some(1),
                ..Default::default()
            })
            .await,
        EcsException::ServiceNotActiveException,
        "Service was not ACTIVE.",
    );
}

#[tokio::test]
async fn delete_task_definitions_fails_with_ecs_reasons() {
    let control = control().await;
    let arn = register(&control, simple("del")).await.task_definition_arn.unwrap();
    let out = control
        .delete_task_definitions(DeleteTaskDefinitionsRequest {
            task_definitions: vec![arn.clone(), "del:9".into(), "del".into()],
        })
        .await
        .unwrap();
    let reasons: Vec<String> = out.failures.unwrap().into_iter().map(|f| f.reason.unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
            "The specified task definition does not exist. Specify a valid account, family, revision and try again.",
            "The specified task definition identifier is invalid. Specify a valid name or ARN and try again.",
        ]
    );
    control.deregister_task_definition(DeregisterTaskDefinitionRequest { task_definition: arn.clone() }).await.unwrap();
    let out =
        control.delete_task_definitions(DeleteTaskDefinitionsRequest { task_definitions: vec![arn] }).await.unwrap();
    assert_eq!(out.failures.unwrap_or_default().len(), 0);
    assert_eq!(out.task_definitions.unwrap()[0].status, Some(TaskDefinitionStatus::DeleteInProgress));
}

#[tokio::test]
async fn run_task_with_launch_type_and_capacity_provider_strategy_is_invalid() {
    let control = control().await;
    register(&control, simple("lt")).await;
    let strategy = vec![CapacityProviderStrategyItem { capacity_provider: "cp".into(), ..Default::default() }];
    assert_ecs(
        control
            .run_task(RunTaskRequest {
                task_definition: "lt".into(),
                launch_type: Some(LaunchType::Ec2),
                capacity_provider_strategy: Some(strategy.clone()),
                ..Default::default()
            })
            .await,
        EcsException::InvalidParameterException,
        "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
    );
    assert_ecs(
        control
            .create_service(CreateServiceRequest {
                service_name: "both".into(),
                task_definition: Some("lt".into()),
                desired_count: Some(1),
                launch_type: Some(LaunchType::Ec2),
                capacity_provider_strategy: Some(strategy),
                ..Default::default()
            })
            .await,
        EcsException::InvalidParameterException,
        "Specifying both a launch type and capacity provider strategy",
    );
}

#[tokio::test]
async fn empty_role_arns_and_container_strings_are_absent_and_the_revision_places() {
    let control = control().await;
    agent(&control).await;
    let mut req = simple("copied");
    req.task_role_arn = Some(String::new());
    req.execution_role_arn = Some(String::new());
    req.container_definitions[0].hostname = Some(String::new());
    req.container_definitions[0].user = Some(String::new());
    req.container_definitions[0].working_directory = Some(String::new());
    let td = register(&control, req).await;
    assert_eq!(td.task_role_arn, None);
    assert_eq!(td.execution_role_arn, None);
    let c = &td.container_definitions.as_ref().unwrap()[0];
    assert_eq!((c.hostname.as_deref(), c.user.as_deref(), c.working_directory.as_deref()), (None, None, None));
    let required: Vec<String> = td.requires_attributes.unwrap_or_default().into_iter().map(|a| a.name).collect();
    assert!(!required.iter().any(|a| a.contains("task-iam-role")), "requiresAttributes {required:?}");
    let out =
        control.run_task(RunTaskRequest { task_definition: "copied".into(), ..Default::default() }).await.unwrap();
    assert_eq!(out.failures.unwrap_or_default(), vec![], "the revision places");
    assert_eq!(out.tasks.unwrap().len(), 1);

    // A real role is still a role, and still requires the capability.
    let mut req = simple("withrole");
    req.task_role_arn = Some("arn:aws:iam::000000000000:role/app".into());
    let td = register(&control, req).await;
    let required: Vec<String> = td.requires_attributes.unwrap_or_default().into_iter().map(|a| a.name).collect();
    assert!(
        required.iter().any(|a| a == "com.amazonaws.ecs.capability.task-iam-role"),
        "requiresAttributes {required:?}"
    );
}

#[tokio::test]
async fn started_by_takes_any_printable_characters_up_to_128() {
    let control = control().await;
    agent(&control).await;
    register(&control, simple("deploy")).await;
    let run = |started_by: &str| RunTaskRequest {
        task_definition: "deploy".into(),
        started_by: Some(started_by.into()),
        ..Default::default()
    };
    let out = control.run_task(run("ECS Deploy")).await.unwrap();
    assert_eq!(out.tasks.unwrap()[0].started_by.as_deref(), Some("ECS Deploy"));
    let listed =
        control.list_tasks(ListTasksRequest { started_by: Some("ECS Deploy".into()), ..Default::default() }).unwrap();
    assert_eq!(listed.task_arns.unwrap_or_default().len(), 1);
    assert_ecs(control.run_task(run(&"x".repeat(129))).await, EcsException::InvalidParameterException, "startedBy");
    assert_ecs(control.run_task(run("a\nb")).await, EcsException::InvalidParameterException, "startedBy");
}

#[tokio::test]
async fn a_definition_copied_by_a_deploy_tool_with_empty_modes_registers_and_places() {
    let control = control().await;
    agent(&control).await;
    // What a deploy tool sends after copying a described definition and blanking what it does not use.
    let req: RegisterTaskDefinitionRequest = serde_json::from_value(serde_json::json!({
        "family": "tool",
        "taskRoleArn": "",
        "executionRoleArn": "",
        "networkMode": "",
        "pidMode": "",
        "ipcMode": "",
        "containerDefinitions": [{"name": "app", "image": "x", "memory": 64, "user": "", "workingDirectory": ""}],
    }))
    .unwrap();
    let td = register(&control, req).await;
    assert_eq!((td.network_mode, td.pid_mode, td.ipc_mode), (None, None, None));
    let out = control.run_task(RunTaskRequest { task_definition: "tool".into(), ..Default::default() }).await.unwrap();
    assert_eq!(out.failures.unwrap_or_default(), vec![]);
    assert_eq!(out.tasks.unwrap().len(), 1);
}

/// Issue 9, point 3: an agent may submit state changes only about tasks on its own container instance, in its own
/// cluster; ECS's AccessDeniedException otherwise, and the task is left as it was.
#[tokio::test]
async fn an_agent_cannot_submit_state_changes_for_another_instances_task() {
    use berth_control::state_changes::AgentCaller;
    let control = control().await;
    agent(&control).await;
    register(&control, simple("own")).await;
    let out = control.run_task(RunTaskRequest { task_definition: "own".into(), ..Default::default() }).await.unwrap();
    let task = &out.tasks.unwrap()[0];
    let task_arn = task.task_arn.clone().unwrap();
    let instance_id = task.container_instance_arn.clone().unwrap().rsplit('/').next().unwrap().to_string();
    let change = |status: &str| SubmitTaskStateChangeRequest {
        task: Some(task_arn.clone()),
        status: Some(status.into()),
        ..Default::default()
    };
    let stranger = AgentCaller { cluster: "default".into(), instance_id: "another-instance".into() };
    assert_ecs(
        control.submit_task_state_change(&stranger, change("RUNNING")).await,
        EcsException::AccessDeniedException,
        "is not placed on the calling agent's container instance",
    );
    control
        .create_cluster(CreateClusterRequest { cluster_name: Some("other".into()), ..Default::default() })
        .await
        .unwrap();
    let elsewhere = AgentCaller { cluster: "other".into(), instance_id: instance_id.clone() };
    assert_ecs(
        control.submit_task_state_change(&elsewhere, change("RUNNING")).await,
        EcsException::AccessDeniedException,
        "in the cluster its container instance belongs to",
    );
    let described =
        control.describe_tasks(DescribeTasksRequest { tasks: vec![task_arn.clone()], ..Default::default() }).unwrap();
    assert_eq!(described.tasks.unwrap()[0].last_status.as_deref(), Some("PROVISIONING"), "nothing changed");
    // The task's own agent may.
    let owner = AgentCaller { cluster: "default".into(), instance_id };
    control.submit_task_state_change(&owner, change("RUNNING")).await.unwrap();
}
