//! ECS's capability attributes: the names a container instance advertises and a task definition's
//! `requiresAttributes` lists, and which of them Berth's agents provide.
//!
//! # Background
//! ECS derives `requiresAttributes` from a task definition at RegisterTaskDefinition (a health check needs
//! `ecs.capability.container-health-check`, a task role `com.amazonaws.ecs.capability.task-iam-role`, ...), and
//! places a task only on an instance whose agent advertised every one of them. The derivation lives in
//! `berth-control` (`requires_attributes`); docs/COMPATIBILITY.md has the table and its evidence.
//!
//! # Design
//! [`SUPPORTED`] is the one list of ECS capabilities Berth can honour: agents advertise exactly these (plus the
//! host-reach attributes of [`crate::host_access`], which depend on each agent's flags), and RunTask, StartTask,
//! CreateService and UpdateService refuse a task definition that requires any other ECS capability, naming the
//! setting, instead of letting it fail placement with `ATTRIBUTE`.

/// The prefix of ECS's older capability names (`com.amazonaws.ecs.capability.task-iam-role`, ...).
pub const LEGACY_PREFIX: &str = "com.amazonaws.ecs.capability.";
/// The prefix of ECS's newer capability names (`ecs.capability.container-health-check`, ...).
pub const PREFIX: &str = "ecs.capability.";

/// A task role: the agent serves the role's credentials to the task.
pub const TASK_IAM_ROLE: &str = "com.amazonaws.ecs.capability.task-iam-role";
/// Pulling from Amazon ECR with the instance's credentials.
pub const ECR_AUTH: &str = "com.amazonaws.ecs.capability.ecr-auth";
/// `awsvpc` network mode: a network interface per task.
pub const TASK_ENI: &str = "ecs.capability.task-eni";
/// The execution role's credentials for the `awslogs` log driver.
pub const EXECUTION_ROLE_AWSLOGS: &str = "ecs.capability.execution-role-awslogs";
/// The execution role's credentials for pulls from Amazon ECR.
pub const EXECUTION_ROLE_ECR_PULL: &str = "ecs.capability.execution-role-ecr-pull";
/// Container health checks (Docker's `HEALTHCHECK`).
pub const CONTAINER_HEALTH_CHECK: &str = "ecs.capability.container-health-check";
/// `dependsOn`, `startTimeout` and `stopTimeout`.
pub const CONTAINER_ORDERING: &str = "ecs.capability.container-ordering";
/// `restartPolicy`.
pub const CONTAINER_RESTART_POLICY: &str = "ecs.capability.container-restart-policy";
/// `secrets` from SSM Parameter Store as environment variables.
pub const SECRETS_SSM_ENV: &str = "ecs.capability.secrets.ssm.environment-variables";
/// `secrets` from Secrets Manager as environment variables.
pub const SECRETS_ASM_ENV: &str = "ecs.capability.secrets.asm.environment-variables";
/// `logConfiguration.secretOptions` from SSM Parameter Store.
pub const SECRETS_SSM_LOG_DRIVER: &str = "ecs.capability.secrets.ssm.bootstrap.log-driver";
/// `logConfiguration.secretOptions` from Secrets Manager.
pub const SECRETS_ASM_LOG_DRIVER: &str = "ecs.capability.secrets.asm.bootstrap.log-driver";
/// `repositoryCredentials` (private registry credentials in Secrets Manager).
pub const PRIVATE_REGISTRY_AUTH: &str = "ecs.capability.private-registry-authentication.secretsmanager";
/// `environmentFiles` from Amazon S3.
pub const ENV_FILES_S3: &str = "ecs.capability.env-files.s3";
/// EFS volumes.
pub const EFS: &str = "ecs.capability.efs";
/// EFS volumes with transit encryption or an authorization configuration.
pub const EFS_AUTH: &str = "ecs.capability.efsAuth";
/// FSx for Windows File Server volumes.
pub const FSX_WINDOWS: &str = "ecs.capability.fsxWindowsFileServer";
/// Docker volumes of a driver: this prefix and the driver's name (`ecs.capability.docker-plugin.local`).
pub const DOCKER_PLUGIN_PREFIX: &str = "ecs.capability.docker-plugin.";
/// Log drivers: this prefix and the driver's name (`com.amazonaws.ecs.capability.logging-driver.syslog`).
pub const LOGGING_DRIVER_PREFIX: &str = "com.amazonaws.ecs.capability.logging-driver.";
/// A FireLens log router of type fluentd.
pub const FIRELENS_FLUENTD: &str = "ecs.capability.firelens.fluentd";
/// A FireLens log router of type fluentbit.
pub const FIRELENS_FLUENTBIT: &str = "ecs.capability.firelens.fluentbit";
/// A FireLens configuration file in the image.
pub const FIRELENS_CONFIG_FILE: &str = "ecs.capability.firelens.options.config.file";
/// A FireLens configuration file in Amazon S3.
pub const FIRELENS_CONFIG_S3: &str = "ecs.capability.firelens.options.config.s3";
/// `pidMode` and `ipcMode`.
pub const PID_IPC_NAMESPACE_SHARING: &str = "ecs.capability.pid-ipc-namespace-sharing";
/// `proxyConfiguration` (App Mesh).
pub const APPMESH: &str = "ecs.capability.aws-appmesh";
/// `inferenceAccelerators` (Elastic Inference).
pub const TASK_EIA: &str = "ecs.capability.task-eia";
/// `credentialSpecs` (gMSA).
pub const GMSA: &str = "ecs.capability.gmsa";
/// `portMappings[].containerPortRange`.
pub const CONTAINER_PORT_RANGE: &str = "ecs.capability.network.container-port-range";
/// `enableFaultInjection`.
pub const FAULT_INJECTION: &str = "ecs.capability.fault-injection";
/// Task-level CPU and memory limits (advertised by ECS's agent; never in `requiresAttributes`).
pub const TASK_CPU_MEM_LIMIT: &str = "ecs.capability.task-cpu-mem-limit";
/// The agent's full task synchronisation (advertised by ECS's agent; never in `requiresAttributes`).
pub const FULL_SYNC: &str = "ecs.capability.full-sync";

/// `com.amazonaws.ecs.capability.docker-remote-api.1.<minor>`.
pub fn docker_remote_api(minor: u32) -> String {
    format!("{LEGACY_PREFIX}docker-remote-api.1.{minor}")
}

/// The Docker Remote API versions ECS's agent reports (1.17 to 1.32 but 1.26, 1.27 and 1.31: ECS's agent stopped
/// reporting those, and ECS never requires them). Berth's agents need Docker Engine API 1.39 or later, so they
/// support every one.
pub const DOCKER_API_MINORS: &[u32] = &[17, 18, 19, 20, 21, 22, 23, 24, 25, 28, 29, 30, 32];

/// The log drivers Berth's agents run: Docker's own pass to the engine as they are; `awslogs` is the agent's
/// shipper into Berth's CloudWatch Logs store (`awsfirelens` needs FireLens, which Berth does not have yet).
pub const LOGGING_DRIVERS: &[&str] =
    &["json-file", "syslog", "journald", "gelf", "fluentd", "splunk", "none", "awslogs"];

/// The Docker volume drivers Berth's agents run.
pub const VOLUME_DRIVERS: &[&str] = &["local"];

/// ECS capabilities Berth's agents provide without a setting of their own. With
/// [`EXECUTION_ROLE_AWSLOGS`] the agent ships awslogs lines with its own instance token whatever the execution role
/// (Berth evaluates no IAM policies yet, so the role grants nothing and denies nothing). With [`SECRETS_SSM_ENV`]
/// and [`SECRETS_ASM_ENV`] the agent asks the server for a task's secret values when it starts the task. With
/// [`TASK_ENI`] the agent runs `awsvpc` tasks in their own network namespace on the VPC's Docker networks. With
/// [`TASK_IAM_ROLE`] the agent serves each task its role's session credentials at 169.254.170.2. With
/// [`PRIVATE_REGISTRY_AUTH`] the agent asks the server for a container's `repositoryCredentials` (read with the
/// execution role) and pulls with them.
const SUPPORTED_NAMES: &[&str] = &[
    CONTAINER_HEALTH_CHECK,
    CONTAINER_ORDERING,
    CONTAINER_RESTART_POLICY,
    TASK_CPU_MEM_LIMIT,
    FULL_SYNC,
    EXECUTION_ROLE_AWSLOGS,
    SECRETS_SSM_ENV,
    SECRETS_ASM_ENV,
    TASK_ENI,
    TASK_IAM_ROLE,
    PRIVATE_REGISTRY_AUTH,
];

/// Every ECS capability attribute Berth's agents advertise (host reach aside: see [`crate::host_access`]).
pub fn supported() -> Vec<String> {
    let mut out: Vec<String> = DOCKER_API_MINORS.iter().map(|m| docker_remote_api(*m)).collect();
    out.extend(LOGGING_DRIVERS.iter().map(|d| format!("{LOGGING_DRIVER_PREFIX}{d}")));
    out.extend(VOLUME_DRIVERS.iter().map(|d| format!("{DOCKER_PLUGIN_PREFIX}{d}")));
    out.extend(SUPPORTED_NAMES.iter().map(|n| (*n).to_string()));
    out
}

/// Whether Berth's agents provide the ECS capability `name`.
pub fn is_supported(name: &str) -> bool {
    if let Some(minor) = name.strip_prefix(LEGACY_PREFIX).and_then(|r| r.strip_prefix("docker-remote-api.1.")) {
        return minor.parse::<u32>().is_ok_and(|m| DOCKER_API_MINORS.contains(&m));
    }
    if let Some(driver) = name.strip_prefix(LOGGING_DRIVER_PREFIX) {
        return LOGGING_DRIVERS.contains(&driver);
    }
    if let Some(driver) = name.strip_prefix(DOCKER_PLUGIN_PREFIX) {
        return VOLUME_DRIVERS.contains(&driver);
    }
    SUPPORTED_NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_lists_exactly_what_is_supported() {
        let all = supported();
        assert!(all.iter().all(|a| is_supported(a)), "{all:?}");
        for name in [
            "com.amazonaws.ecs.capability.docker-remote-api.1.28",
            "com.amazonaws.ecs.capability.logging-driver.syslog",
            "com.amazonaws.ecs.capability.logging-driver.awslogs",
            EXECUTION_ROLE_AWSLOGS,
            "ecs.capability.docker-plugin.local",
            CONTAINER_HEALTH_CHECK,
            SECRETS_SSM_ENV,
            SECRETS_ASM_ENV,
            TASK_ENI,
            TASK_IAM_ROLE,
        ] {
            assert!(all.iter().any(|a| a == name), "{name}");
        }
        for name in [
            "com.amazonaws.ecs.capability.logging-driver.awsfirelens",
            "com.amazonaws.ecs.capability.docker-remote-api.1.26",
            "ecs.capability.docker-plugin.rexray",
            EFS,
            SECRETS_SSM_LOG_DRIVER,
        ] {
            assert!(!is_supported(name), "{name}");
        }
    }
}
