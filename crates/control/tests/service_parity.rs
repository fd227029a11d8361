//! CreateService and UpdateService refuse exactly what RunTask (and StartTask) refuse, with the same exception and
//! the same message (issue 9, item 4): one table of task definitions and request settings Berth cannot run, each
//! tried through every path that takes it, on an in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::{Control, ControlConfig, ControlError, EcsException};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::sync::Arc;

async fn control() -> Arc<Control> {
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), ControlConfig::default()).await.unwrap()
}

async fn agent(control: &Control) -> String {
    common::join_agent(control, "node").await.0
}

fn app() -> ContainerDefinition {
    ContainerDefinition { name: Some("app".into()), image: Some("x".into()), memory: Some(64), ..Default::default() }
}

fn definition(family: &str) -> RegisterTaskDefinitionRequest {
    RegisterTaskDefinitionRequest { family: family.into(), container_definitions: vec![app()], ..Default::default() }
}

/// Request settings every path can carry (UpdateService and StartTask carry fewer: see [`Paths`]).
#[derive(Clone, Default)]
struct Settings {
    launch_type: Option<LaunchType>,
    capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    platform_version: Option<String>,
    network_configuration: Option<NetworkConfiguration>,
    ebs_volume: bool,
    placement_constraints: Option<Vec<PlacementConstraint>>,
}

/// Which operations can express a case.
#[derive(Clone, Copy)]
struct Paths {
    start_task: bool,
    update_service: bool,
}

const ALL: Paths = Paths { start_task: true, update_service: true };

struct Case {
    name: &'static str,
    /// The task definition the requests name (registered as family `name`).
    definition: RegisterTaskDefinitionRequest,
    /// Deregister it first.
    deregistered: bool,
    settings: Settings,
    paths: Paths,
    expected: EcsException,
}

fn td_case(name: &'static str, change: impl FnOnce(&mut RegisterTaskDefinitionRequest)) -> Case {
    let mut definition = definition(name);
    change(&mut definition);
    Case {
        name,
        definition,
        deregistered: false,
        settings: Settings::default(),
        paths: ALL,
        expected: EcsException::UnsupportedFeatureException,
    }
}

fn request_case(name: &'static str, paths: Paths, expected: EcsException, settings: Settings) -> Case {
    Case { name, definition: definition(name), deregistered: false, settings, paths, expected }
}

fn cases() -> Vec<Case> {
    let strategy = vec![CapacityProviderStrategyItem { capacity_provider: "FARGATE".into(), ..Default::default() }];
    let network = NetworkConfiguration {
        awsvpc_configuration: Some(AwsVpcConfiguration { subnets: vec!["subnet-1".into()], ..Default::default() }),
    };
    let no_launch_type = Paths { start_task: false, update_service: false };
    let no_start = Paths { start_task: false, update_service: true };
    let mut inactive = td_case("inactive", |_| {});
    inactive.deregistered = true;
    inactive.expected = EcsException::ClientException;
    let mut fargate_only = td_case("fargate_only", |d| {
        d.requires_compatibilities = Some(vec![Compatibility::Fargate]);
        d.network_mode = Some(NetworkMode::Awsvpc);
        d.cpu = Some("256".into());
        d.memory = Some("512".into());
    });
    fargate_only.expected = EcsException::InvalidParameterException;
    vec![
        // Runs now, but not without a network configuration: ECS's InvalidParameterException on every path.
        Case {
            expected: EcsException::InvalidParameterException,
            ..td_case("awsvpc-without-network-configuration", |d| d.network_mode = Some(NetworkMode::Awsvpc))
        },
        inactive,
        fargate_only,
        // Secrets are supported now; without an execution role they are refused with ECS's ClientException.
        Case {
            expected: EcsException::ClientException,
            ..td_case("secrets-without-execution-role", |d| {
                d.container_definitions[0].secrets = Some(vec![Secret {
                    name: "P".into(),
                    value_from: "arn:aws:ssm:us-east-1:000000000000:parameter/p".into(),
                }])
            })
        },
        td_case("awslogs", |d| {
            d.container_definitions[0].log_configuration =
                Some(LogConfiguration { log_driver: LogDriver::Awslogs, options: None, secret_options: None })
        }),
        td_case("efs", |d| {
            d.volumes = Some(vec![Volume {
                name: Some("efs".into()),
                efs_volume_configuration: Some(EFSVolumeConfiguration {
                    file_system_id: "fs-1".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }])
        }),
        // repositoryCredentials are supported now; without an execution role they are refused as secrets are.
        Case {
            expected: EcsException::ClientException,
            ..td_case("repository-credentials-without-execution-role", |d| {
                d.container_definitions[0].repository_credentials = Some(RepositoryCredentials {
                    credentials_parameter: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x".into(),
                })
            })
        },
        td_case("environment_files", |d| {
            d.container_definitions[0].environment_files =
                Some(vec![EnvironmentFile { value: "arn:aws:s3:::b/env".into(), r#type: EnvironmentFileType::S3 }])
        }),
        td_case("gpu", |d| {
            d.container_definitions[0].resource_requirements = Some(vec![ResourceRequirement {
                value: Some("1".into()),
                r#type: ResourceType::Gpu,
                ..Default::default()
            }])
        }),
        td_case("pid_mode", |d| d.pid_mode = Some(PidMode::Task)),
        td_case("firelens", |d| {
            d.container_definitions[0].firelens_configuration =
                Some(FirelensConfiguration { r#type: FirelensConfigurationType::Fluentbit, options: None })
        }),
        td_case("volume_driver", |d| {
            d.volumes = Some(vec![Volume {
                name: Some("data".into()),
                docker_volume_configuration: Some(DockerVolumeConfiguration {
                    scope: Some(Scope::Shared),
                    driver: Some("rexray".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }])
        }),
        request_case(
            "capacity_provider_strategy",
            no_start,
            // FARGATE is not among the cluster's capacity providers: ECS's "not associated with the cluster".
            EcsException::InvalidParameterException,
            Settings { capacity_provider_strategy: Some(strategy.clone()), ..Default::default() },
        ),
        request_case(
            "launch_type_and_strategy",
            no_launch_type,
            EcsException::InvalidParameterException,
            Settings {
                launch_type: Some(LaunchType::Ec2),
                capacity_provider_strategy: Some(strategy),
                ..Default::default()
            },
        ),
        request_case(
            "fargate_launch_type",
            no_launch_type,
            // A bridge definition is not FARGATE compatible: ECS's "does not support launch_type FARGATE."
            EcsException::InvalidParameterException,
            Settings { launch_type: Some(LaunchType::Fargate), ..Default::default() },
        ),
        request_case(
            "platform_version",
            no_start,
            EcsException::InvalidParameterException,
            Settings { platform_version: Some("LATEST".into()), ..Default::default() },
        ),
        request_case(
            "network_configuration_on_bridge",
            ALL,
            EcsException::InvalidParameterException,
            Settings { network_configuration: Some(network), ..Default::default() },
        ),
        request_case(
            "bad_placement_expression",
            no_start,
            EcsException::InvalidParameterException,
            Settings {
                placement_constraints: Some(vec![PlacementConstraint {
                    r#type: Some(PlacementConstraintType::MemberOf),
                    expression: Some("attribute:stack == (".into()),
                }]),
                ..Default::default()
            },
        ),
        request_case(
            "ebs_volume_configurations",
            ALL,
            EcsException::UnsupportedFeatureException,
            Settings { ebs_volume: true, ..Default::default() },
        ),
    ]
}

fn refusal<T: std::fmt::Debug>(path: &str, case: &str, result: Result<T, ControlError>) -> (EcsException, String) {
    match result {
        Err(ControlError::Ecs { exception, message, .. }) => (exception, message),
        other => panic!("{case}: {path} should refuse, got {other:?}"),
    }
}

#[tokio::test]
async fn create_and_update_service_refuse_what_run_task_refuses_with_the_same_error() {
    let control = control().await;
    let instance = agent(&control).await;
    control.register_task_definition(definition("good")).await.unwrap();
    // The service every UpdateService case tries to change (desired 0: nothing is placed).
    control
        .create_service(CreateServiceRequest {
            service_name: "existing".into(),
            task_definition: Some("good".into()),
            desired_count: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    let cases = cases();
    for case in &cases {
        let td = control.register_task_definition(case.definition.clone()).await;
        let td = td.unwrap_or_else(|e| panic!("{}: the task definition registers: {e}", case.name));
        let arn = td.task_definition.unwrap().task_definition_arn.unwrap();
        if case.deregistered {
            control
                .deregister_task_definition(DeregisterTaskDefinitionRequest { task_definition: arn.clone() })
                .await
                .unwrap();
        }
        let s = &case.settings;
        let run = control
            .run_task(RunTaskRequest {
                task_definition: arn.clone(),
                launch_type: s.launch_type,
                capacity_provider_strategy: s.capacity_provider_strategy.clone(),
                platform_version: s.platform_version.clone(),
                network_configuration: s.network_configuration.clone(),
                volume_configurations: s
                    .ebs_volume
                    .then(|| vec![TaskVolumeConfiguration { name: "data".into(), ..Default::default() }]),
                placement_constraints: s.placement_constraints.clone(),
                ..Default::default()
            })
            .await;
        let expected = refusal("RunTask", case.name, run);
        assert_eq!(expected.0, case.expected, "{}: RunTask's exception ({})", case.name, expected.1);
        let create = control
            .create_service(CreateServiceRequest {
                service_name: case.name.into(),
                task_definition: Some(arn.clone()),
                desired_count: Some(1),
                launch_type: s.launch_type,
                capacity_provider_strategy: s.capacity_provider_strategy.clone(),
                platform_version: s.platform_version.clone(),
                network_configuration: s.network_configuration.clone(),
                volume_configurations: s
                    .ebs_volume
                    .then(|| vec![ServiceVolumeConfiguration { name: "data".into(), ..Default::default() }]),
                placement_constraints: s.placement_constraints.clone(),
                ..Default::default()
            })
            .await;
        assert_eq!(refusal("CreateService", case.name, create), expected, "{}: CreateService", case.name);
        if case.paths.update_service {
            // Request settings go with the service's own (good) task definition; task definitions are deployed.
            let request_only = s.launch_type.is_some()
                || s.capacity_provider_strategy.is_some()
                || s.platform_version.is_some()
                || s.network_configuration.is_some()
                || s.ebs_volume
                || s.placement_constraints.is_some();
            let update = control
                .update_service(UpdateServiceRequest {
                    service: "existing".into(),
                    task_definition: (!request_only).then(|| arn.clone()),
                    capacity_provider_strategy: s.capacity_provider_strategy.clone(),
                    platform_version: s.platform_version.clone(),
                    network_configuration: s.network_configuration.clone(),
                    volume_configurations: s
                        .ebs_volume
                        .then(|| vec![ServiceVolumeConfiguration { name: "data".into(), ..Default::default() }]),
                    placement_constraints: s.placement_constraints.clone(),
                    ..Default::default()
                })
                .await;
            assert_eq!(refusal("UpdateService", case.name, update), expected, "{}: UpdateService", case.name);
        }
        if case.paths.start_task {
            let start = control
                .start_task(StartTaskRequest {
                    task_definition: arn.clone(),
                    container_instances: vec![instance.clone()],
                    network_configuration: s.network_configuration.clone(),
                    volume_configurations: s
                        .ebs_volume
                        .then(|| vec![TaskVolumeConfiguration { name: "data".into(), ..Default::default() }]),
                    ..Default::default()
                })
                .await;
            assert_eq!(refusal("StartTask", case.name, start), expected, "{}: StartTask", case.name);
        }
    }
    // Nothing was created or changed by the refused calls: no task, no new service, the existing service untouched.
    let state = control.cache().read();
    assert!(state.tasks.is_empty(), "a refused call started a task");
    let names: Vec<&String> = state.services.keys().map(|(_, n)| n).collect();
    assert_eq!(names, ["existing"], "a refused CreateService created a service");
    let existing = &state.services[&("default".to_string(), "existing".to_string())].record;
    assert_eq!(existing.deployments.len(), 1, "a refused UpdateService deployed");
    assert!(existing.deployments[0].task_definition.ends_with("/good:1"));
    println!("{} refusals compared across RunTask, CreateService, UpdateService and StartTask", cases.len());
}

#[tokio::test]
async fn accepted_settings_still_pass_every_path() {
    let control = control().await;
    agent(&control).await;
    control.register_task_definition(definition("plain")).await.unwrap();
    // An empty platformVersion is absent; EXTERNAL is accepted as EC2 is.
    let run = control
        .run_task(RunTaskRequest {
            task_definition: "plain".into(),
            platform_version: Some(String::new()),
            launch_type: Some(LaunchType::External),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.tasks.unwrap().len(), 1);
    control
        .create_service(CreateServiceRequest {
            service_name: "plain".into(),
            task_definition: Some("plain".into()),
            desired_count: Some(0),
            platform_version: Some(String::new()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut second = definition("plain");
    second.container_definitions[0].memory = Some(96);
    control.register_task_definition(second).await.unwrap();
    let updated = control
        .update_service(UpdateServiceRequest {
            service: "plain".into(),
            task_definition: Some("plain:2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(updated.service.unwrap().task_definition.unwrap().ends_with("/plain:2"));
}
