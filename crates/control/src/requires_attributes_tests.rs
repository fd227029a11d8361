//! One test per row of the table in docs/COMPATIBILITY.md ("requiresAttributes and capabilities").

use super::*;
use berth_model::ecs::{
    ContainerDependency, ContainerRestartPolicy, DockerVolumeConfiguration, EFSAuthorizationConfig,
    EFSVolumeConfiguration, EnvironmentFile, EnvironmentFileType, FirelensConfiguration, HealthCheck,
    InferenceAccelerator, LinuxParameters, LogConfiguration, LogDriver, PidMode, PortMapping, ProxyConfiguration,
    RepositoryCredentials, Secret, Ulimit, UlimitName, Volume,
};
use std::collections::BTreeMap;

fn plain() -> ContainerDefinition {
    ContainerDefinition {
        name: Some("app".into()),
        image: Some("berth-workload:latest".into()),
        memory: Some(128),
        ..Default::default()
    }
}

/// The attributes of a bridge-mode task definition with this one container and these task-level changes.
fn attrs_with(c: ContainerDefinition, td: TaskDefinition) -> Vec<String> {
    derive(&td, &[c]).into_iter().map(|r| r.attribute).collect()
}

fn attrs(c: ContainerDefinition) -> Vec<String> {
    attrs_with(c, TaskDefinition::default())
}

fn api(minor: u32) -> String {
    docker_remote_api(minor)
}

fn log(driver: LogDriver, options: &[(&str, &str)]) -> LogConfiguration {
    let options: BTreeMap<String, String> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LogConfiguration { log_driver: driver, options: (!options.is_empty()).then_some(options), secret_options: None }
}

#[test]
fn a_plain_definition_requires_nothing() {
    // ECS answers `"requiresAttributes": []` for a bridge task of one image with memory and port mappings.
    let mut c = plain();
    c.port_mappings = Some(vec![PortMapping { container_port: Some(80), ..Default::default() }]);
    c.cpu = 0;
    c.essential = Some(true);
    assert_eq!(attrs(c), Vec::<String>::new());
}

#[test]
fn task_role() {
    let td = TaskDefinition { task_role_arn: Some("arn:aws:iam::1:role/app".into()), ..Default::default() };
    assert_eq!(attrs_with(plain(), td), vec![cap::TASK_IAM_ROLE]);
    let empty = TaskDefinition { task_role_arn: Some(String::new()), ..Default::default() };
    assert_eq!(attrs_with(plain(), empty), Vec::<String>::new());
}

#[test]
fn execution_role_alone_is_docker_1_18() {
    let td = TaskDefinition { execution_role_arn: Some("arn:aws:iam::1:role/exec".into()), ..Default::default() };
    assert_eq!(attrs_with(plain(), td), vec![api(18)]);
}

#[test]
fn awsvpc_is_task_eni() {
    let td = TaskDefinition { network_mode: Some(NetworkMode::Awsvpc), ..Default::default() };
    assert_eq!(attrs_with(plain(), td), vec![cap::TASK_ENI]);
    let td = TaskDefinition { network_mode: Some(NetworkMode::Host), ..Default::default() };
    assert_eq!(attrs_with(plain(), td), Vec::<String>::new());
}

#[test]
fn pid_and_ipc_modes() {
    let td = TaskDefinition { pid_mode: Some(PidMode::Task), ..Default::default() };
    assert_eq!(attrs_with(plain(), td), vec![cap::PID_IPC_NAMESPACE_SHARING]);
}

#[test]
fn proxy_configuration_inference_accelerators_and_fault_injection() {
    let td = TaskDefinition {
        proxy_configuration: Some(ProxyConfiguration { container_name: "envoy".into(), ..Default::default() }),
        inference_accelerators: Some(vec![InferenceAccelerator::default()]),
        enable_fault_injection: Some(true),
        ..Default::default()
    };
    assert_eq!(attrs_with(plain(), td), vec![cap::APPMESH, cap::TASK_EIA, cap::FAULT_INJECTION]);
}

#[test]
fn ecr_images_need_ecr_auth_and_with_an_execution_role_the_execution_role_pull() {
    let mut c = plain();
    c.image = Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1".into());
    assert_eq!(attrs(c.clone()), vec![cap::ECR_AUTH]);
    let td = TaskDefinition { execution_role_arn: Some("arn:aws:iam::1:role/exec".into()), ..Default::default() };
    assert_eq!(attrs_with(c, td), vec![api(18), cap::ECR_AUTH.into(), cap::EXECUTION_ROLE_ECR_PULL.into()]);
    assert!(!is_ecr_image("127.0.0.1:7700/web:1"));
    assert!(!is_ecr_image("public.ecr.aws/nginx/nginx:latest"));
    assert!(is_ecr_image("1.dkr.ecr.cn-north-1.amazonaws.com.cn/x"));
}

#[test]
fn memory_reservation_is_docker_1_21() {
    let mut c = plain();
    c.memory_reservation = Some(64);
    assert_eq!(attrs(c), vec![api(21)]);
}

#[test]
fn ulimits_and_docker_labels_are_docker_1_18() {
    let mut c = plain();
    c.ulimits = Some(vec![Ulimit { name: UlimitName::Nofile, soft_limit: 1024, hard_limit: 1024 }]);
    assert_eq!(attrs(c), vec![api(18)]);
    let mut c = plain();
    c.docker_labels = Some(BTreeMap::from([("team".to_string(), "a".to_string())]));
    assert_eq!(attrs(c), vec![api(18)]);
}

#[test]
fn health_checks_are_docker_1_24_or_with_a_start_period_1_29() {
    let mut c = plain();
    c.health_check = Some(HealthCheck { command: vec!["CMD".into(), "true".into()], ..Default::default() });
    assert_eq!(attrs(c.clone()), vec![cap::CONTAINER_HEALTH_CHECK.to_string(), api(24)]);
    c.health_check.as_mut().unwrap().start_period = Some(10);
    assert_eq!(attrs(c), vec![cap::CONTAINER_HEALTH_CHECK.to_string(), api(29)]);
}

#[test]
fn init_process_is_docker_1_25() {
    let mut c = plain();
    c.linux_parameters = Some(LinuxParameters { init_process_enabled: Some(true), ..Default::default() });
    assert_eq!(attrs(c), vec![api(25)]);
}

#[test]
fn depends_on_and_timeouts_are_container_ordering() {
    let mut c = plain();
    c.depends_on = Some(vec![ContainerDependency::default()]);
    assert_eq!(attrs(c), vec![cap::CONTAINER_ORDERING]);
    let mut c = plain();
    c.stop_timeout = Some(60);
    assert_eq!(attrs(c), vec![cap::CONTAINER_ORDERING]);
    let mut c = plain();
    c.start_timeout = Some(60);
    assert_eq!(attrs(c), vec![cap::CONTAINER_ORDERING]);
}

#[test]
fn restart_policy_and_port_ranges() {
    let mut c = plain();
    c.restart_policy = Some(ContainerRestartPolicy { enabled: true, ..Default::default() });
    assert_eq!(attrs(c), vec![cap::CONTAINER_RESTART_POLICY]);
    let mut c = plain();
    c.port_mappings = Some(vec![PortMapping { container_port_range: Some("8000-8010".into()), ..Default::default() }]);
    assert_eq!(attrs(c), vec![cap::CONTAINER_PORT_RANGE]);
}

#[test]
fn secrets_by_service() {
    let mut c = plain();
    c.secrets = Some(vec![
        Secret { name: "A".into(), value_from: "arn:aws:secretsmanager:us-east-1:1:secret:db-AbC:password::".into() },
        Secret { name: "B".into(), value_from: "arn:aws:ssm:us-east-1:1:parameter/b".into() },
        Secret { name: "C".into(), value_from: "/plain/name".into() },
    ]);
    assert_eq!(attrs(c), vec![api(17), cap::SECRETS_ASM_ENV.into(), cap::SECRETS_SSM_ENV.into()]);
}

#[test]
fn repository_credentials_environment_files_and_credential_specs() {
    let mut c = plain();
    c.repository_credentials = Some(RepositoryCredentials { credentials_parameter: "arn:x".into() });
    c.environment_files =
        Some(vec![EnvironmentFile { value: "arn:aws:s3:::b/x.env".into(), r#type: EnvironmentFileType::S3 }]);
    c.credential_specs = Some(vec!["credentialspec:file://x.json".into()]);
    assert_eq!(attrs(c), vec![cap::PRIVATE_REGISTRY_AUTH, cap::ENV_FILES_S3, cap::GMSA]);
}

#[test]
fn firelens() {
    let mut c = plain();
    c.firelens_configuration = Some(FirelensConfiguration {
        r#type: FirelensConfigurationType::Fluentbit,
        options: Some(BTreeMap::from([("config-file-type".to_string(), "s3".to_string())])),
    });
    assert_eq!(attrs(c), vec![cap::FIRELENS_FLUENTBIT, cap::FIRELENS_CONFIG_S3]);
    let mut c = plain();
    c.log_configuration = Some(log(LogDriver::Awsfirelens, &[]));
    assert_eq!(attrs(c), vec!["com.amazonaws.ecs.capability.logging-driver.awsfirelens"]);
}

#[test]
fn log_drivers_options_and_non_blocking_mode() {
    let mut c = plain();
    c.log_configuration = Some(log(LogDriver::Syslog, &[]));
    assert_eq!(attrs(c), vec!["com.amazonaws.ecs.capability.logging-driver.syslog"]);
    let mut c = plain();
    c.log_configuration = Some(log(LogDriver::Awslogs, &[("awslogs-group", "g"), ("mode", "non-blocking")]));
    assert_eq!(attrs(c.clone()), vec!["com.amazonaws.ecs.capability.logging-driver.awslogs".into(), api(19), api(28)]);
    let td = TaskDefinition { execution_role_arn: Some("arn:aws:iam::1:role/exec".into()), ..Default::default() };
    assert_eq!(
        attrs_with(c, td),
        vec![
            api(18),
            "com.amazonaws.ecs.capability.logging-driver.awslogs".into(),
            cap::EXECUTION_ROLE_AWSLOGS.into(),
            api(19),
            api(28)
        ]
    );
}

#[test]
fn log_secret_options_by_service() {
    let mut c = plain();
    let mut config = log(LogDriver::Splunk, &[]);
    config.secret_options = Some(vec![Secret { name: "splunk-token".into(), value_from: "/splunk/token".into() }]);
    c.log_configuration = Some(config);
    assert_eq!(attrs(c), vec!["com.amazonaws.ecs.capability.logging-driver.splunk", cap::SECRETS_SSM_LOG_DRIVER]);
}

#[test]
fn volumes() {
    let efs = |transit, auth| Volume {
        name: Some("efs".into()),
        efs_volume_configuration: Some(EFSVolumeConfiguration {
            file_system_id: "fs-1".into(),
            transit_encryption: transit,
            authorization_config: auth,
            ..Default::default()
        }),
        ..Default::default()
    };
    let td = |v: Volume| TaskDefinition { volumes: Some(vec![v]), ..Default::default() };
    assert_eq!(attrs_with(plain(), td(efs(None, None))), vec![cap::EFS.to_string(), api(25)]);
    assert_eq!(
        attrs_with(plain(), td(efs(Some(EFSTransitEncryption::Enabled), None))),
        vec![cap::EFS.to_string(), api(25), cap::EFS_AUTH.into()]
    );
    assert_eq!(
        attrs_with(plain(), td(efs(None, Some(EFSAuthorizationConfig::default())))),
        vec![cap::EFS.to_string(), api(25), cap::EFS_AUTH.into()]
    );
    let docker = Volume {
        name: Some("data".into()),
        docker_volume_configuration: Some(DockerVolumeConfiguration {
            scope: None,
            autoprovision: Some(true),
            driver: Some("local".into()),
            driver_opts: None,
            labels: None,
        }),
        ..Default::default()
    };
    assert_eq!(attrs_with(plain(), td(docker)), vec!["ecs.capability.docker-plugin.local".to_string(), api(25)]);
    // A host volume or a task-scoped empty volume needs nothing of ECS (host paths are Berth's own gate).
    assert_eq!(attrs_with(plain(), td(Volume { name: Some("v".into()), ..Default::default() })), Vec::<String>::new());
}

#[test]
fn unsupported_names_the_setting_and_the_attribute() {
    let td = TaskDefinition { enable_fault_injection: Some(true), ..Default::default() };
    let why = unsupported(&td, &[plain()]).unwrap();
    assert!(why.contains("enableFaultInjection") && why.contains(cap::FAULT_INJECTION), "{why}");
    // A task role is served by the agents.
    let td = TaskDefinition { task_role_arn: Some("arn:aws:iam::1:role/app".into()), ..Default::default() };
    assert_eq!(unsupported(&td, &[plain()]), None);
    let mut c = plain();
    c.health_check = Some(HealthCheck { command: vec!["CMD".into()], start_period: Some(5), ..Default::default() });
    c.log_configuration = Some(log(LogDriver::JsonFile, &[("max-size", "1m"), ("mode", "non-blocking")]));
    c.memory_reservation = Some(64);
    c.depends_on = Some(vec![]);
    c.restart_policy = Some(ContainerRestartPolicy { enabled: true, ..Default::default() });
    c.linux_parameters = Some(LinuxParameters { init_process_enabled: Some(true), ..Default::default() });
    assert_eq!(unsupported(&TaskDefinition::default(), &[c]), None, "what Berth runs is not refused");
}
