//! Berth's wire types.
//!
//! # Background
//! Berth speaks AWS's own protocols, so its request and response types must match the AWS service models member for
//! member. The `ecs`, `ecr`, `logs`, `cloudwatch`, `autoscaling` (Application Auto Scaling), `elbv2`,
//! `servicediscovery` (Cloud Map), `secretsmanager`, `ssm` (Parameter Store), `kms` and `acm` modules are generated from
//! botocore's JSON models by `tools/gen-model/gen.py`
//! (rerun it to follow a newer model); everything else here is hand-written: ARNs, identifiers, the clock, the
//! ECS validation rules the models do not state, and the protocol between the control plane and its agents.
//!
//! # Design
//! This crate does no I/O. Optional members are `Option<_>` and skipped when absent; timestamps are epoch seconds
//! (`f64`), as AWS JSON 1.1 puts them on the wire.
//!
//! # Limitations
//! Exceptions are not generated: the API crate owns the mapping of errors to `__type` and status codes.

pub mod acm;
pub mod agent;
pub mod arn;
pub mod autoscaling;
pub mod awslogs;
mod blob;
pub mod capabilities;
pub mod cidr;
pub mod clock;
pub mod cloudwatch;
pub mod ecr;
pub mod ecs;
pub mod elbv2;
pub mod host_access;
pub mod iam;
pub mod ids;
pub mod input;
pub mod kms;
pub mod logs;
pub mod published_ports;
pub mod schema;
pub mod secret_files;
pub mod secretsmanager;
pub mod servicediscovery;
pub mod ssm;
pub mod sts;
pub mod wildcard;
pub mod words;

pub use blob::Blob;

/// Deserializes an optional member where an empty string means absent (`"networkMode": ""` as deploy tools send
/// it); any other value must be one the type accepts. Used by the generated shapes for the members the generator
/// lists in `EMPTY_IS_ABSENT`.
pub fn empty_is_absent<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::Deserialize;
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    match value {
        None => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => serde_json::from_value(v).map(Some).map_err(serde::de::Error::custom),
    }
}

/// An AWS JSON 1.1 timestamp: seconds since the Unix epoch, with fractions.
pub type Timestamp = f64;

#[cfg(test)]
mod tests {
    use crate::ecs::{NetworkMode, RegisterTaskDefinitionRequest};

    fn parse(extra: &str) -> Result<RegisterTaskDefinitionRequest, serde_json::Error> {
        serde_json::from_str(&format!(r#"{{"family": "f", "containerDefinitions": [] {extra}}}"#))
    }

    #[test]
    fn an_empty_network_pid_or_ipc_mode_is_absent() {
        let req = parse(r#", "networkMode": "", "pidMode": "", "ipcMode": """#).unwrap();
        assert_eq!((req.network_mode, req.pid_mode, req.ipc_mode), (None, None, None));
        assert_eq!(parse(r#", "networkMode": "host""#).unwrap().network_mode, Some(NetworkMode::Host));
        assert_eq!(parse(r#", "networkMode": null"#).unwrap().network_mode, None);
        assert_eq!(parse("").unwrap().network_mode, None);
        let error = parse(r#", "networkMode": "bogus""#).unwrap_err().to_string();
        assert!(error.contains("unknown variant `bogus`"), "{error}");
    }

    #[test]
    fn empty_optional_strings_of_run_start_and_service_requests_are_absent() {
        use crate::ecs::{CreateServiceRequest, RunTaskRequest, StartTaskRequest, UpdateServiceRequest};
        let run: RunTaskRequest = serde_json::from_str(
            r#"{"taskDefinition": "web", "group": "", "startedBy": "", "platformVersion": "", "referenceId": "",
                "clientToken": ""}"#,
        )
        .unwrap();
        assert_eq!(
            (run.group, run.started_by, run.platform_version, run.reference_id, run.client_token),
            (None, None, None, None, None)
        );
        let run: RunTaskRequest =
            serde_json::from_str(r#"{"taskDefinition": "web", "group": "g", "startedBy": "me"}"#).unwrap();
        assert_eq!((run.group.as_deref(), run.started_by.as_deref()), (Some("g"), Some("me")));
        let start: StartTaskRequest = serde_json::from_str(
            r#"{"taskDefinition": "web", "containerInstances": ["i"], "group": "", "startedBy": "", "referenceId": ""}"#,
        )
        .unwrap();
        assert_eq!((start.group, start.started_by, start.reference_id), (None, None, None));
        let create: CreateServiceRequest =
            serde_json::from_str(r#"{"serviceName": "s", "platformVersion": "", "role": "", "clientToken": ""}"#)
                .unwrap();
        assert_eq!((create.platform_version, create.role, create.client_token), (None, None, None));
        let update: UpdateServiceRequest = serde_json::from_str(r#"{"service": "s", "platformVersion": ""}"#).unwrap();
        assert_eq!(update.platform_version, None);
    }

    #[test]
    fn empty_optional_enums_of_run_start_and_service_requests_are_absent_and_others_still_checked() {
        use crate::ecs::{
            CreateServiceRequest, LaunchType, PropagateTags, RunTaskRequest, SchedulingStrategy, StartTaskRequest,
            UpdateServiceRequest,
        };
        let run: RunTaskRequest =
            serde_json::from_str(r#"{"taskDefinition": "web", "launchType": "", "propagateTags": ""}"#).unwrap();
        assert_eq!((run.launch_type, run.propagate_tags), (None, None));
        let run: RunTaskRequest = serde_json::from_str(
            r#"{"taskDefinition": "web", "launchType": "EC2", "propagateTags": "TASK_DEFINITION"}"#,
        )
        .unwrap();
        assert_eq!((run.launch_type, run.propagate_tags), (Some(LaunchType::Ec2), Some(PropagateTags::TaskDefinition)));
        let error = serde_json::from_str::<RunTaskRequest>(r#"{"taskDefinition": "web", "launchType": "EC3"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown variant `EC3`"), "{error}");
        let start: StartTaskRequest =
            serde_json::from_str(r#"{"taskDefinition": "web", "containerInstances": ["i"], "propagateTags": ""}"#)
                .unwrap();
        assert_eq!(start.propagate_tags, None);
        let create: CreateServiceRequest = serde_json::from_str(
            r#"{"serviceName": "s", "launchType": "", "propagateTags": "", "schedulingStrategy": ""}"#,
        )
        .unwrap();
        assert_eq!((create.launch_type, create.propagate_tags, create.scheduling_strategy), (None, None, None));
        let create: CreateServiceRequest =
            serde_json::from_str(r#"{"serviceName": "s", "schedulingStrategy": "DAEMON"}"#).unwrap();
        assert_eq!(create.scheduling_strategy, Some(SchedulingStrategy::Daemon));
        let update: UpdateServiceRequest = serde_json::from_str(r#"{"service": "s", "propagateTags": ""}"#).unwrap();
        assert_eq!(update.propagate_tags, None);
    }
}
