//! `requiresAttributes` and agent capabilities on an in-memory store (no Docker): each of the twelve shared task
//! definition fixtures registers unchanged with the attributes ECS would derive, and then either places on an
//! instance advertising what Berth's agents advertise, or is refused at RunTask and CreateService with
//! `UnsupportedFeatureException` naming the setting; none registers and then fails placement with `ATTRIBUTE`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::{Control, ControlConfig, ControlError, EcsException};
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::capabilities;
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The fixtures (copied from `../shared/fixtures/task-definitions`), `IMAGE` and `ACCOUNT` filled in.
fn fixtures() -> Vec<(&'static str, RegisterTaskDefinitionRequest)> {
    macro_rules! fixture {
        ($name:literal) => {
            ($name, include_str!(concat!("fixtures/task-definitions/", $name, ".json")))
        };
    }
    let texts = [
        fixture!("ec2-bridge-dynamic-ports"),
        fixture!("efs-volume"),
        fixture!("env-files-and-labels"),
        fixture!("fargate-web-secrets"),
        fixture!("fargate-web"),
        fixture!("firelens-style"),
        fixture!("init-container"),
        fixture!("linux-parameters"),
        fixture!("multi-port-udp"),
        fixture!("one-off-job"),
        fixture!("shared-volume"),
        fixture!("sidecar-proxy"),
    ];
    texts
        .into_iter()
        .map(|(name, text)| {
            let text = text.replace("\"IMAGE\"", "\"berth-workload:latest\"").replace("ACCOUNT", "000000000000");
            (name, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")))
        })
        .collect()
}

async fn control() -> Arc<Control> {
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), config).await.unwrap()
}

/// An instance advertising exactly the ECS capabilities Berth's agents advertise (no host reach).
async fn berth_like_agent(control: &Control) {
    let mut attributes: BTreeMap<String, String> =
        capabilities::supported().into_iter().map(|name| (name, String::new())).collect();
    // Every agent names its zone (`berth agent` defaults to `<region>a`); awsvpc tasks place by it.
    attributes.insert("ecs.availability-zone".into(), "us-east-1a".into());
    control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "node".into(),
            resources: AgentResources { cpu: 8192, memory_mib: 16384, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
}

fn names(td: &TaskDefinition) -> Vec<String> {
    td.requires_attributes.iter().flatten().map(|a| a.name.clone()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// What ECS derives for each fixture (docs/COMPATIBILITY.md §6), by fixture.
fn expected(name: &str) -> Vec<String> {
    let api = |m: u32| capabilities::docker_remote_api(m);
    let v: Vec<String> = match name {
        "ec2-bridge-dynamic-ports" => vec![api(21), capabilities::CONTAINER_ORDERING.into()],
        "efs-volume" => {
            vec![capabilities::TASK_ENI.into(), capabilities::EFS.into(), api(25), capabilities::EFS_AUTH.into()]
        }
        "env-files-and-labels" => {
            vec![api(18), capabilities::PRIVATE_REGISTRY_AUTH.into(), capabilities::ENV_FILES_S3.into()]
        }
        "fargate-web-secrets" => vec![
            capabilities::TASK_IAM_ROLE.into(),
            api(18),
            capabilities::TASK_ENI.into(),
            api(17),
            capabilities::SECRETS_ASM_ENV.into(),
            capabilities::SECRETS_SSM_ENV.into(),
            "com.amazonaws.ecs.capability.logging-driver.awslogs".into(),
            capabilities::EXECUTION_ROLE_AWSLOGS.into(),
            api(19),
            api(28),
        ],
        "fargate-web" => vec![
            api(18),
            capabilities::TASK_ENI.into(),
            capabilities::CONTAINER_HEALTH_CHECK.into(),
            api(29),
            "com.amazonaws.ecs.capability.logging-driver.awslogs".into(),
            capabilities::EXECUTION_ROLE_AWSLOGS.into(),
            api(19),
        ],
        "firelens-style" => vec![
            capabilities::TASK_ENI.into(),
            api(21),
            capabilities::FIRELENS_FLUENTBIT.into(),
            capabilities::CONTAINER_ORDERING.into(),
            "com.amazonaws.ecs.capability.logging-driver.awsfirelens".into(),
            api(19),
        ],
        "init-container" => vec![capabilities::TASK_ENI.into(), capabilities::CONTAINER_ORDERING.into()],
        "linux-parameters" => vec![api(25)],
        "multi-port-udp" => vec![],
        "one-off-job" => vec![
            capabilities::TASK_ENI.into(),
            api(18),
            capabilities::CONTAINER_ORDERING.into(),
            "com.amazonaws.ecs.capability.logging-driver.awslogs".into(),
            api(19),
            // Its execution role (Fargate requires one for awslogs) ships its logs.
            "ecs.capability.execution-role-awslogs".into(),
        ],
        "shared-volume" => vec!["ecs.capability.docker-plugin.local".into(), api(25)],
        "sidecar-proxy" => vec![
            capabilities::TASK_ENI.into(),
            capabilities::CONTAINER_HEALTH_CHECK.into(),
            api(24),
            capabilities::CONTAINER_ORDERING.into(),
        ],
        other => panic!("no expectation for {other}"),
    };
    sorted(v)
}

#[tokio::test]
async fn every_fixture_registers_with_ecs_attributes_and_places_or_is_refused_at_the_call() {
    let control = control().await;
    berth_like_agent(&control).await;
    let mut placed = Vec::new();
    let mut refused = Vec::new();
    for (name, req) in fixtures() {
        let family = req.family.clone();
        let td = control.register_task_definition(req).await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let td = td.task_definition.unwrap();
        assert_eq!(sorted(names(&td)), expected(name), "{name}: requiresAttributes");

        // An awsvpc definition runs in the default VPC's subnet, as a user gives it.
        let network = (td.network_mode == Some(NetworkMode::Awsvpc)).then(|| NetworkConfiguration {
            awsvpc_configuration: Some(AwsVpcConfiguration {
                subnets: vec!["subnet-0be7f00000000000a".into()],
                ..Default::default()
            }),
        });
        let run = control
            .run_task(RunTaskRequest {
                task_definition: family.clone(),
                network_configuration: network.clone(),
                ..Default::default()
            })
            .await;
        let service = control
            .create_service(CreateServiceRequest {
                service_name: format!("svc-{family}"),
                task_definition: Some(family.clone()),
                desired_count: Some(0),
                network_configuration: network,
                ..Default::default()
            })
            .await;
        match run {
            Ok(out) => {
                let failures = out.failures.unwrap_or_default();
                assert!(failures.is_empty(), "{name}: registered, then did not place: {failures:?}");
                assert_eq!(out.tasks.unwrap_or_default().len(), 1, "{name}");
                assert!(service.is_ok(), "{name}: RunTask places it but CreateService refuses it: {service:?}");
                placed.push(name);
            }
            Err(ControlError::Ecs { exception: EcsException::UnsupportedFeatureException, message, .. }) => {
                assert!(message.contains("not supported") || message.contains("do not provide"), "{name}: {message}");
                match service {
                    Err(ControlError::Ecs { exception: EcsException::UnsupportedFeatureException, .. }) => {}
                    other => panic!("{name}: RunTask refuses it ({message}) but CreateService answers {other:?}"),
                }
                refused.push((name, message));
            }
            // A FARGATE-only definition run without a launch type (EC2, as in ECS): ECS's own refusal, the same on
            // CreateService.
            Err(ControlError::Ecs { exception: EcsException::InvalidParameterException, message, .. })
                if message.contains("does not support launch_type EC2") =>
            {
                match service {
                    Err(ControlError::Ecs { exception: EcsException::InvalidParameterException, .. }) => {}
                    other => panic!("{name}: RunTask refuses it ({message}) but CreateService answers {other:?}"),
                }
                refused.push((name, message));
            }
            Err(other) => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(
        placed,
        vec![
            "ec2-bridge-dynamic-ports",
            "linux-parameters",
            "multi-port-udp",
            "one-off-job",
            "shared-volume",
            "sidecar-proxy"
        ],
        "refused: {refused:#?}"
    );
}

#[tokio::test]
async fn a_capability_no_agent_provides_is_refused_at_the_call_naming_the_setting() {
    let control = control().await;
    berth_like_agent(&control).await;
    let container = ContainerDefinition {
        name: Some("app".into()),
        image: Some("berth-workload:latest".into()),
        memory: Some(64),
        ..Default::default()
    };
    let cases: Vec<(RegisterTaskDefinitionRequest, &str)> = vec![
        (
            RegisterTaskDefinitionRequest {
                family: "from-ecr".into(),
                container_definitions: vec![ContainerDefinition {
                    image: Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1".into()),
                    ..container.clone()
                }],
                ..Default::default()
            },
            "Container app: an image in Amazon ECR needs the container instance attribute com.amazonaws.ecs.capability.ecr-auth",
        ),
        (
            RegisterTaskDefinitionRequest {
                family: "faults".into(),
                enable_fault_injection: Some(true),
                container_definitions: vec![container.clone()],
                ..Default::default()
            },
            "enableFaultInjection needs the container instance attribute ecs.capability.fault-injection",
        ),
    ];
    for (req, needle) in cases {
        let family = req.family.clone();
        control.register_task_definition(req).await.unwrap();
        match control.run_task(RunTaskRequest { task_definition: family.clone(), ..Default::default() }).await {
            Err(ControlError::Ecs { exception: EcsException::UnsupportedFeatureException, message, .. }) => {
                assert!(message.contains(needle), "{family}: {message}");
            }
            other => panic!("{family}: {other:?}"),
        }
    }
    // A task role places: the agents serve its credentials.
    control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: "with-role".into(),
            task_role_arn: Some("arn:aws:iam::000000000000:role/app".into()),
            container_definitions: vec![container.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let placed =
        control.run_task(RunTaskRequest { task_definition: "with-role".into(), ..Default::default() }).await.unwrap();
    assert_eq!(placed.tasks.as_ref().map(Vec::len), Some(1), "{placed:?}");
    // What the agents advertise still places: a health check with a start period, a syslog driver in
    // non-blocking mode, memoryReservation, init, ordering and a restart policy.
    let rich = ContainerDefinition {
        health_check: Some(HealthCheck {
            command: vec!["CMD".into(), "/workload".into(), "--check".into()],
            start_period: Some(5),
            ..Default::default()
        }),
        log_configuration: Some(LogConfiguration {
            log_driver: LogDriver::Syslog,
            options: Some(BTreeMap::from([("mode".to_string(), "non-blocking".to_string())])),
            secret_options: None,
        }),
        memory_reservation: Some(32),
        stop_timeout: Some(5),
        restart_policy: Some(ContainerRestartPolicy { enabled: true, ..Default::default() }),
        linux_parameters: Some(LinuxParameters { init_process_enabled: Some(true), ..Default::default() }),
        ..container
    };
    let req = RegisterTaskDefinitionRequest {
        family: "rich".into(),
        container_definitions: vec![rich],
        ..Default::default()
    };
    control.register_task_definition(req).await.unwrap();
    let out = control.run_task(RunTaskRequest { task_definition: "rich".into(), ..Default::default() }).await.unwrap();
    assert_eq!(out.failures.unwrap_or_default(), vec![]);
    assert_eq!(out.tasks.unwrap_or_default().len(), 1);
}
