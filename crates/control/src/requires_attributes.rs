//! `requiresAttributes` as ECS derives it from a task definition, and the refusal of a task definition that needs
//! an ECS capability Berth's agents do not provide.
//!
//! The table, with the evidence for each row, is in docs/COMPATIBILITY.md ("requiresAttributes and
//! capabilities"). ECS lists each attribute once; its order is not meaningful (it varies between accounts), so
//! Berth lists them in the order of the table.

use berth_model::capabilities::{self as cap, docker_remote_api};
use berth_model::ecs::{
    ContainerDefinition, EFSTransitEncryption, FirelensConfigurationType, NetworkMode, TaskDefinition,
};

/// One attribute a task definition needs, and the setting that needs it (for the refusal's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The attribute's name, e.g. `ecs.capability.container-health-check`.
    pub attribute: String,
    /// The setting, e.g. `Container app: healthCheck`.
    pub setting: String,
}

/// Collects requirements, each attribute once (the first setting that needs it is the one named).
#[derive(Default)]
struct Needs(Vec<Requirement>);

impl Needs {
    fn add(&mut self, attribute: impl Into<String>, setting: impl Into<String>) {
        let attribute = attribute.into();
        if !self.0.iter().any(|r| r.attribute == attribute) {
            self.0.push(Requirement { attribute, setting: setting.into() });
        }
    }

    fn api(&mut self, minor: u32, setting: impl Into<String>) {
        self.add(docker_remote_api(minor), setting);
    }
}

/// Whether `image` is in Amazon ECR (`<account>.dkr.ecr.<region>.amazonaws.com/...`, and the China and FIPS
/// variants), which ECS pulls with ECR credentials.
pub fn is_ecr_image(image: &str) -> bool {
    let host = image.split('/').next().unwrap_or_default();
    image.contains('/')
        && host.contains(".dkr.ecr")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}

/// Whether a secret's `valueFrom` names Secrets Manager (else it is an SSM parameter, by ARN or by name).
fn is_secrets_manager(value_from: &str) -> bool {
    value_from.starts_with("arn:") && value_from.split(':').nth(2) == Some("secretsmanager")
}

fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// What ECS's `requiresAttributes` lists for a task definition with these containers.
pub fn derive(td: &TaskDefinition, containers: &[ContainerDefinition]) -> Vec<Requirement> {
    let mut needs = Needs::default();
    let execution_role = td.execution_role_arn.as_deref().is_some_and(|r| !r.is_empty());
    if td.task_role_arn.as_deref().is_some_and(|r| !r.is_empty()) {
        needs.add(cap::TASK_IAM_ROLE, "taskRoleArn (task IAM role credentials)");
    }
    if execution_role {
        needs.api(18, "executionRoleArn");
    }
    if td.network_mode == Some(NetworkMode::Awsvpc) {
        needs.add(cap::TASK_ENI, "networkMode awsvpc");
    }
    if td.pid_mode.is_some() || td.ipc_mode.is_some() {
        needs.add(cap::PID_IPC_NAMESPACE_SHARING, "pidMode or ipcMode");
    }
    if td.proxy_configuration.is_some() {
        needs.add(cap::APPMESH, "proxyConfiguration (App Mesh)");
    }
    if non_empty(&td.inference_accelerators) {
        needs.add(cap::TASK_EIA, "inferenceAccelerators");
    }
    if td.enable_fault_injection == Some(true) {
        needs.add(cap::FAULT_INJECTION, "enableFaultInjection");
    }
    for c in containers {
        container(&mut needs, c, execution_role);
    }
    for v in td.volumes.iter().flatten() {
        let name = v.name.as_deref().unwrap_or_default();
        if let Some(efs) = &v.efs_volume_configuration {
            needs.add(cap::EFS, format!("Volume {name}: efsVolumeConfiguration"));
            needs.api(25, format!("Volume {name}: efsVolumeConfiguration"));
            if efs.transit_encryption == Some(EFSTransitEncryption::Enabled) || efs.authorization_config.is_some() {
                needs.add(cap::EFS_AUTH, format!("Volume {name}: EFS transit encryption or IAM authorization"));
            }
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() {
            needs.add(cap::FSX_WINDOWS, format!("Volume {name}: fsxWindowsFileServerVolumeConfiguration"));
        }
        if let Some(docker) = &v.docker_volume_configuration {
            let driver = docker.driver.as_deref().filter(|d| !d.is_empty()).unwrap_or("local");
            let setting = format!("Volume {name}: dockerVolumeConfiguration driver {driver}");
            needs.add(format!("{}{driver}", cap::DOCKER_PLUGIN_PREFIX), setting.clone());
            needs.api(25, setting);
        }
    }
    needs.0
}

fn container(needs: &mut Needs, c: &ContainerDefinition, execution_role: bool) {
    let name = c.name.as_deref().unwrap_or_default();
    let at = |what: &str| format!("Container {name}: {what}");
    if c.image.as_deref().is_some_and(is_ecr_image) {
        needs.add(cap::ECR_AUTH, at("an image in Amazon ECR"));
        if execution_role {
            needs.add(cap::EXECUTION_ROLE_ECR_PULL, at("an image in Amazon ECR pulled with the execution role"));
        }
    }
    if c.memory_reservation.is_some() {
        needs.api(21, at("memoryReservation"));
    }
    if non_empty(&c.ulimits) {
        needs.api(18, at("ulimits"));
    }
    if c.docker_labels.as_ref().is_some_and(|l| !l.is_empty()) {
        needs.api(18, at("dockerLabels"));
    }
    if let Some(hc) = &c.health_check {
        needs.add(cap::CONTAINER_HEALTH_CHECK, at("healthCheck"));
        // Docker added the health check in API 1.24 and its start period in 1.29.
        needs.api(if hc.start_period.is_some() { 29 } else { 24 }, at("healthCheck"));
    }
    if c.linux_parameters.as_ref().and_then(|lp| lp.init_process_enabled) == Some(true) {
        needs.api(25, at("linuxParameters.initProcessEnabled"));
    }
    if non_empty(&c.depends_on) || c.start_timeout.is_some() || c.stop_timeout.is_some() {
        needs.add(cap::CONTAINER_ORDERING, at("dependsOn, startTimeout or stopTimeout"));
    }
    if c.restart_policy.as_ref().is_some_and(|p| p.enabled) {
        needs.add(cap::CONTAINER_RESTART_POLICY, at("restartPolicy"));
    }
    if c.port_mappings.iter().flatten().any(|pm| pm.container_port_range.is_some()) {
        needs.add(cap::CONTAINER_PORT_RANGE, at("portMappings containerPortRange"));
    }
    if non_empty(&c.secrets) {
        needs.api(17, at("secrets"));
    }
    for secret in c.secrets.iter().flatten() {
        if is_secrets_manager(&secret.value_from) {
            needs.add(cap::SECRETS_ASM_ENV, at("secrets from Secrets Manager"));
        } else {
            needs.add(cap::SECRETS_SSM_ENV, at("secrets from SSM Parameter Store"));
        }
    }
    if c.repository_credentials.is_some() {
        needs.add(cap::PRIVATE_REGISTRY_AUTH, at("repositoryCredentials (from Secrets Manager)"));
    }
    if c.environment_files.iter().flatten().any(|f| f.r#type.as_str() == "s3") {
        needs.add(cap::ENV_FILES_S3, at("environmentFiles (from S3)"));
    }
    if non_empty(&c.credential_specs) {
        needs.add(cap::GMSA, at("credentialSpecs"));
    }
    if let Some(firelens) = &c.firelens_configuration {
        let (attribute, kind) = match firelens.r#type {
            FirelensConfigurationType::Fluentd => (cap::FIRELENS_FLUENTD, "fluentd"),
            FirelensConfigurationType::Fluentbit => (cap::FIRELENS_FLUENTBIT, "fluentbit"),
        };
        needs.add(attribute, at(&format!("firelensConfiguration type {kind}")));
        match firelens.options.as_ref().and_then(|o| o.get("config-file-type")).map(String::as_str) {
            Some("file") => needs.add(cap::FIRELENS_CONFIG_FILE, at("firelensConfiguration config-file-type file")),
            Some("s3") => needs.add(cap::FIRELENS_CONFIG_S3, at("firelensConfiguration config-file-type s3")),
            _ => {}
        }
    }
    if let Some(log) = &c.log_configuration {
        let driver = log.log_driver.as_str();
        let setting = at(&format!("the {driver} log driver"));
        needs.add(format!("{}{driver}", cap::LOGGING_DRIVER_PREFIX), setting.clone());
        if driver == "awslogs" && execution_role {
            needs.add(cap::EXECUTION_ROLE_AWSLOGS, setting);
        }
        if let Some(options) = log.options.as_ref().filter(|o| !o.is_empty()) {
            needs.api(19, at("logConfiguration.options"));
            // Docker's non-blocking log delivery came with API 1.28.
            if options.get("mode").is_some_and(|m| m == "non-blocking") {
                needs.api(28, at("logConfiguration mode non-blocking"));
            }
        }
        for secret in log.secret_options.iter().flatten() {
            if is_secrets_manager(&secret.value_from) {
                needs.add(cap::SECRETS_ASM_LOG_DRIVER, at("logConfiguration.secretOptions from Secrets Manager"));
            } else {
                needs.add(cap::SECRETS_SSM_LOG_DRIVER, at("logConfiguration.secretOptions from SSM Parameter Store"));
            }
        }
    }
}

/// Why Berth cannot run `td` with these (overridden) containers: the first setting that requires an ECS
/// capability Berth's agents never provide. Host reach (privileged, host paths, ...) is not refused here: an agent
/// may allow it, and a task no agent allows fails placement with `ATTRIBUTE`.
pub fn unsupported(td: &TaskDefinition, containers: &[ContainerDefinition]) -> Option<String> {
    derive(td, containers).into_iter().find(|r| !cap::is_supported(&r.attribute)).map(|r| {
        format!(
            "{} needs the container instance attribute {}, which Berth's agents do not provide yet.",
            r.setting, r.attribute
        )
    })
}

#[cfg(test)]
#[path = "requires_attributes_tests.rs"]
mod tests;
