//! What of a task definition Berth's agent runs. ECS accepts many settings that need AWS services Berth does not
//! have yet (EFS, FireLens, S3 environment files, ...). Registering such a task definition works as on ECS, but
//! running it is refused with `UnsupportedFeatureException` naming the setting, so that no task starts with part
//! of its definition silently ignored. The `awslogs` driver runs (the agent ships to Berth's log store); its
//! options are checked here with the driver's wording, so a bad option is refused at the call rather than failing
//! the container at its start as on ECS.

use berth_model::ecs::{ContainerDefinition, LogDriver, TaskDefinition, Volume};

/// Why Berth cannot run `definition` with these (overridden) `containers` in `region`, or `None` when it can.
pub fn unsupported(definition: &TaskDefinition, containers: &[ContainerDefinition], region: &str) -> Option<String> {
    let volumes = definition.volumes.as_deref().unwrap_or_default();
    volumes
        .iter()
        .find_map(unsupported_volume)
        .or_else(|| task_level(definition))
        .or_else(|| {
            containers.iter().find_map(|c| {
                let name = c.name.as_deref().unwrap_or_default();
                container_level(c, volumes, containers, region).map(|why| format!("Container {name}: {why}"))
            })
        })
        // Anything else that needs an ECS capability Berth's agents never advertise (a task role, awsvpc, ...)
        // would only fail placement with ATTRIBUTE: refuse it here, naming the setting.
        .or_else(|| crate::requires_attributes::unsupported(definition, containers))
}

/// Why `environmentFiles` are refused: ECS reads them from Amazon S3, and Berth has no S3.
pub const ENVIRONMENT_FILES: &str = "environmentFiles are not supported by Berth: ECS reads them from Amazon S3, and \
                                     Berth has no S3; pass the variables in 'environment', or in 'secrets' from \
                                     Secrets Manager or SSM Parameter Store.";

fn not_yet(what: &str) -> Option<String> {
    Some(format!("{what} not supported by Berth yet."))
}

fn task_level(td: &TaskDefinition) -> Option<String> {
    if td.pid_mode.is_some() {
        return not_yet("pidMode is");
    }
    if td.ipc_mode.is_some() {
        return not_yet("ipcMode is");
    }
    if td.proxy_configuration.is_some() {
        return not_yet("proxyConfiguration (App Mesh) is");
    }
    if td.inference_accelerators.as_ref().is_some_and(|a| !a.is_empty()) {
        return not_yet("inferenceAccelerators are");
    }
    None
}

fn unsupported_volume(v: &Volume) -> Option<String> {
    let name = v.name.as_deref().unwrap_or_default();
    if v.efs_volume_configuration.is_some() {
        return not_yet(&format!("Volume {name}: EFS volumes are"));
    }
    if v.fsx_windows_file_server_volume_configuration.is_some() {
        return not_yet(&format!("Volume {name}: FSx for Windows File Server volumes are"));
    }
    if v.configured_at_launch == Some(true) {
        return not_yet(&format!("Volume {name}: volumes configured at launch are"));
    }
    if let Some(path) = v.host.as_ref().and_then(|h| h.source_path.as_deref())
        && !path.starts_with('/')
    {
        // Docker would take a relative path for the name of a volume: a different thing, silently.
        return Some(format!("Volume {name}: host sourcePath {path:?} must be an absolute path."));
    }
    if let Some(docker) = &v.docker_volume_configuration {
        if docker.driver.as_deref().is_some_and(|d| d != "local") {
            return not_yet(&format!("Volume {name}: Docker volume drivers other than local are"));
        }
        if docker.driver_opts.as_ref().is_some_and(|o| !o.is_empty())
            || docker.labels.as_ref().is_some_and(|l| !l.is_empty())
        {
            return not_yet(&format!("Volume {name}: driverOpts and labels of Docker volumes are"));
        }
        // The engine creates a missing named volume on first mount, so a shared volume behaves as with
        // `autoprovision: true` (ECS's default is false: a missing volume fails the task there). An explicit false
        // asks for that failure, which Berth does not check yet.
        if docker.autoprovision == Some(false) {
            return not_yet(&format!("Volume {name}: autoprovision false is"));
        }
    }
    None
}

fn container_level(
    c: &ContainerDefinition,
    volumes: &[Volume],
    all: &[ContainerDefinition],
    region: &str,
) -> Option<String> {
    if c.environment_files.as_ref().is_some_and(|f| !f.is_empty()) {
        return Some(ENVIRONMENT_FILES.to_string());
    }
    if c.firelens_configuration.is_some() {
        return not_yet("firelensConfiguration is");
    }
    if c.resource_requirements.as_ref().is_some_and(|r| !r.is_empty()) {
        return not_yet("resourceRequirements (GPUs, inference accelerators) are");
    }
    if c.credential_specs.as_ref().is_some_and(|s| !s.is_empty()) {
        return not_yet("credentialSpecs are");
    }
    if c.linux_parameters.as_ref().and_then(|lp| lp.devices.as_ref()).is_some_and(|d| !d.is_empty()) {
        return not_yet("linuxParameters.devices are");
    }
    if let Some(log) = &c.log_configuration {
        // The Docker log drivers pass through to the engine; awslogs is the agent's shipper; FireLens is missing.
        if log.log_driver == LogDriver::Awsfirelens {
            return not_yet(
                "The awsfirelens log driver (Berth has no FireLens yet; awslogs ships to Berth's CloudWatch Logs \
                 store, and json-file, syslog, journald, gelf, fluentd and splunk go to the Docker Engine as they \
                 are) is",
            );
        }
        if log.log_driver == LogDriver::Awslogs {
            let options = log.options.clone().unwrap_or_default();
            if let Err(why) = berth_model::awslogs::AwsLogsOptions::parse(&options, Some(region)) {
                return Some(format!("logConfiguration of the awslogs log driver: {why}."));
            }
        }
        if log.secret_options.as_ref().is_some_and(|s| !s.is_empty()) {
            return not_yet("logConfiguration.secretOptions are");
        }
    }
    for mount in c.mount_points.iter().flatten() {
        let source = mount.source_volume.as_deref().unwrap_or_default();
        if !volumes.iter().any(|v| v.name.as_deref() == Some(source)) {
            return Some(format!("mount point sourceVolume {source} names no volume of the task definition."));
        }
        if mount.container_path.as_deref().is_none_or(|p| !p.starts_with('/')) {
            return Some(format!("mount point of volume {source} needs an absolute containerPath."));
        }
    }
    for from in c.volumes_from.iter().flatten() {
        let source = from.source_container.as_deref().unwrap_or_default();
        if !all.iter().any(|o| o.name.as_deref() == Some(source)) || c.name.as_deref() == Some(source) {
            return Some(format!("volumesFrom sourceContainer {source} names no other container of the task."));
        }
    }
    for link in c.links.iter().flatten() {
        let target = link.split(':').next().unwrap_or_default();
        if !all.iter().any(|o| o.name.as_deref() == Some(target)) || c.name.as_deref() == Some(target) {
            return Some(format!("link {link} names no other container of the task."));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecs::{
        DockerVolumeConfiguration, EFSVolumeConfiguration, HostVolumeProperties, LogConfiguration, MountPoint, Secret,
    };

    fn container(name: &str) -> ContainerDefinition {
        ContainerDefinition { name: Some(name.into()), image: Some("img".into()), ..Default::default() }
    }

    fn volume(name: &str) -> Volume {
        Volume { name: Some(name.into()), ..Default::default() }
    }

    #[test]
    fn plain_definitions_and_supported_volumes_run() {
        let mut app = container("app");
        app.mount_points = Some(vec![
            MountPoint { source_volume: Some("data".into()), container_path: Some("/data".into()), read_only: None },
            MountPoint { source_volume: Some("cache".into()), container_path: Some("/cache".into()), read_only: None },
        ]);
        app.log_configuration =
            Some(LogConfiguration { log_driver: LogDriver::Syslog, options: None, secret_options: None });
        let td = TaskDefinition {
            volumes: Some(vec![
                Volume { host: Some(HostVolumeProperties { source_path: Some("/srv/data".into()) }), ..volume("data") },
                Volume {
                    docker_volume_configuration: Some(DockerVolumeConfiguration {
                        scope: None,
                        autoprovision: None,
                        driver: Some("local".into()),
                        driver_opts: None,
                        labels: None,
                    }),
                    ..volume("cache")
                },
            ]),
            ..Default::default()
        };
        assert_eq!(unsupported(&td, &[app, container("side")], "us-east-1"), None);
    }

    #[test]
    fn settings_that_need_aws_services_are_named() {
        let td = TaskDefinition::default();
        let mut c = container("app");
        c.secrets = Some(vec![Secret { name: "P".into(), value_from: "arn:aws:ssm:x".into() }]);
        // Container secrets and repositoryCredentials run (crate::task_secrets checks them); environmentFiles not.
        c.repository_credentials =
            Some(berth_model::ecs::RepositoryCredentials { credentials_parameter: "arn:aws:secretsmanager:x".into() });
        assert_eq!(unsupported(&td, &[c.clone()], "us-east-1"), None);
        c.environment_files = Some(vec![berth_model::ecs::EnvironmentFile {
            value: "arn:aws:s3:::bucket/app.env".into(),
            r#type: berth_model::ecs::EnvironmentFileType::S3,
        }]);
        let why = unsupported(&td, &[c], "us-east-1").unwrap_or_default();
        assert!(why.starts_with("Container app: environmentFiles are not supported"), "{why}");
        assert!(!why.contains("repositoryCredentials"), "{why}");
        let mut c = container("app");
        c.log_configuration =
            Some(LogConfiguration { log_driver: LogDriver::Awsfirelens, options: None, secret_options: None });
        assert!(unsupported(&td, &[c], "us-east-1").is_some_and(|m| m.contains("awsfirelens log driver")));
        let awslogs = |pairs: &[(&str, &str)]| {
            let mut c = container("app");
            c.log_configuration = Some(LogConfiguration {
                log_driver: LogDriver::Awslogs,
                options: Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                secret_options: None,
            });
            unsupported(&TaskDefinition::default(), &[c], "us-east-1")
        };
        assert_eq!(awslogs(&[("awslogs-group", "/ecs/web"), ("awslogs-region", "us-east-1")]), None);
        assert_eq!(
            awslogs(&[("awslogs-region", "us-east-1")]).as_deref(),
            Some(
                "Container app: logConfiguration of the awslogs log driver: must specify a value for log opt \
                  'awslogs-group'."
            )
        );
        assert!(
            awslogs(&[("awslogs-group", "g"), ("awslogs-region", "eu-west-1")])
                .is_some_and(|m| m.contains("not the region this Berth serves"))
        );
        let td = TaskDefinition {
            volumes: Some(vec![Volume {
                efs_volume_configuration: Some(EFSVolumeConfiguration {
                    file_system_id: "fs-1".into(),
                    ..Default::default()
                }),
                ..volume("efs")
            }]),
            ..Default::default()
        };
        assert!(unsupported(&td, &[container("app")], "us-east-1").is_some_and(|m| m.contains("EFS")));
        let td = TaskDefinition {
            volumes: Some(vec![Volume {
                host: Some(HostVolumeProperties { source_path: Some("data".into()) }),
                ..volume("rel")
            }]),
            ..Default::default()
        };
        assert!(unsupported(&td, &[container("app")], "us-east-1").is_some_and(|m| m.contains("absolute")));
    }

    #[test]
    fn dangling_references_are_refused() {
        let td = TaskDefinition::default();
        let mut c = container("app");
        c.mount_points = Some(vec![MountPoint {
            source_volume: Some("nope".into()),
            container_path: Some("/x".into()),
            read_only: None,
        }]);
        assert!(unsupported(&td, &[c], "us-east-1").is_some_and(|m| m.contains("names no volume")));
        let mut c = container("app");
        c.links = Some(vec!["db:database".into()]);
        assert!(unsupported(&td, &[c.clone()], "us-east-1").is_some_and(|m| m.contains("link db:database")));
        assert_eq!(unsupported(&td, &[c, container("db")], "us-east-1"), None);
    }
}
