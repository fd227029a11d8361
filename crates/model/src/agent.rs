//! The protocol between the control plane and its node agents.
//!
//! It is Berth's own (ECS's agent protocol is private), JSON over HTTP on the API listener, under `/agent/v1/`:
//!
//! | call | what it does |
//! | --- | --- |
//! | `POST /agent/v1/register` (join token, or the instance secret to rejoin) | joins a cluster as a new container instance, or rejoins as the same one; answers an instance token |
//! | `GET /agent/v1/stream` (instance token) | a long-lived NDJSON stream of [`StreamMessage`]s: the desired state of the instance's tasks whenever it changes, and heartbeats |
//! | `POST /agent/v1/report` (instance token) | the agent's observed state of tasks ([`ReportRequest`]); also its heartbeat |
//! | `POST /agent/v1/registry-auth` (instance token) | fresh registry pull credentials ([`RegistryAuthResponse`]) |
//! | `POST /agent/v1/agent-update` (instance token) | the progress of an in-place upgrade the stream asked for ([`AgentUpdateReport`]) |
//! | `POST /agent/v1/secrets` (instance token) | the values of a task's container `secrets` and its containers' `repositoryCredentials` when the agent starts it ([`TaskSecretsRequest`], [`TaskSecretsResponse`]); only for a task placed on that instance |
//! | `POST /agent/v1/credentials` (instance token) | the task role's session credentials for a task placed on that instance ([`TaskCredentialsRequest`], [`TaskCredentialsResponse`]), at its start and again before they expire |
//!
//! # Credentials
//! - The **join token** (one per server, `<data-dir>/join-token`) only creates *new* container instances.
//! - The **instance secret** is issued once, when an instance is created; the agent keeps it in its data dir and the
//!   server keeps only its SHA-256. Rejoining as an existing instance requires it ([`RegisterRequest::instance_secret`]).
//! - The **instance token** is issued at every (re-)registration and names the instance (`cluster/id/secret`); the
//!   stream, reports and registry credentials are only ever about that instance.
//!
//! Both directions are level-triggered: the server always sends the whole desired state of an instance, and the
//! agent always reports whole task snapshots, so a lost or repeated message is harmless.
//!
//! # Versions
//! Agents and servers of neighbouring releases work together (a rolling upgrade replaces them one at a time):
//! a member added to a message is optional (a serde default) and unknown members are ignored, in both directions.
//! An agent announces the protocol version it speaks ([`RegisterRequest::protocol`], [`PROTOCOL`]; agents from
//! before it was announced speak 1), and a server refuses an agent older than [`OLDEST_PROTOCOL`] with a message
//! saying to upgrade it ([`check_protocol`]); the server answers its own version ([`RegisterResponse::protocol`]).

use crate::Timestamp;
use crate::ecs::{ContainerDefinition, NetworkBinding, NetworkMode, Volume};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of this protocol this build speaks: 2, since agents announce it (1: the agents before).
pub const PROTOCOL: u32 = 2;

/// The oldest version a server of this build serves: agents that do not announce one (version 1) still register.
pub const OLDEST_PROTOCOL: u32 = 1;

/// Checks an agent's announced protocol version (`None`: version 1) against the oldest a server serves; the
/// refusal says what to do.
pub fn check_protocol(announced: Option<u32>, oldest: u32) -> Result<(), String> {
    let version = announced.unwrap_or(1);
    if version < oldest {
        return Err(format!(
            "This agent speaks agent protocol version {version}; this server serves version {oldest} and later. \
             Upgrade the agent (replace its binary and restart it: its running containers are adopted)."
        ));
    }
    Ok(())
}

/// The header carrying the join token or the instance token: `Authorization: Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// How often the server writes a heartbeat on the desired-state stream when nothing changes.
pub const STREAM_HEARTBEAT_SECONDS: u64 = 5;

/// How long an agent waits for any message on its stream before it considers the stream dead and reconnects: two
/// missed heartbeats. A proxy that stops forwarding without closing TCP is noticed this way.
pub const STREAM_READ_DEADLINE_SECONDS: u64 = 2 * STREAM_HEARTBEAT_SECONDS;

/// The resources an agent offers to the scheduler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentResources {
    /// CPU units (1024 per core).
    pub cpu: i64,
    /// Memory in MiB available to tasks.
    pub memory_mib: i64,
    /// Ephemeral storage in GiB that FARGATE tasks may reserve (an agent serving Fargate: `--ephemeral-storage-gib`,
    /// else the free space of Docker's data root when the agent started); absent where it is not accounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_gib: Option<i64>,
    /// TCP host ports already taken on the host (by the agent, SSH, Docker ...).
    pub reserved_tcp_ports: Vec<u16>,
    /// UDP host ports already taken on the host.
    pub reserved_udp_ports: Vec<u16>,
}

/// An agent's version facts, shown as `versionInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentVersion {
    /// The agent's version.
    pub agent_version: String,
    /// The agent's build hash.
    pub agent_hash: String,
    /// The Docker Engine's version, `DockerVersion: 28.0.1` style.
    pub docker_version: String,
}

/// A kind of capacity an agent serves (`berth agent --capacity ec2,fargate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Capacity {
    /// Tasks of the EC2 launch type in the agent's cluster (it is one of the cluster's container instances).
    Ec2,
    /// FARGATE tasks of any cluster (it is part of the Fargate pool, which belongs to no cluster).
    Fargate,
}

impl std::str::FromStr for Capacity {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ec2" => Ok(Self::Ec2),
            "fargate" => Ok(Self::Fargate),
            other => Err(format!("unknown capacity {other:?}: use ec2, fargate or ec2,fargate")),
        }
    }
}

/// `POST /agent/v1/register`: join a cluster, or rejoin as the same container instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// The cluster to join (short name).
    pub cluster: String,
    /// The container instance ARN from an earlier registration, to rejoin as the same instance.
    pub container_instance_arn: Option<String>,
    /// The instance secret issued with that ARN; required to rejoin as an existing instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_secret: Option<String>,
    /// The host's name, shown as the instance's `ec2InstanceId`.
    pub hostname: String,
    /// What the agent offers.
    pub resources: AgentResources,
    /// Custom attributes (`--attribute k=v`) and built-ins the agent knows (`ecs.os-type` ...).
    pub attributes: BTreeMap<String, String>,
    /// Version facts.
    pub version: AgentVersion,
    /// Whether the agent can replace itself in place when asked to (UpdateContainerAgent): true for a separate
    /// `berth agent` process, false for the agent embedded in `berth up`.
    #[serde(default)]
    pub self_update: bool,
    /// What the agent serves; empty means EC2 only (agents from before Fargate capacity existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity: Vec<Capacity>,
    /// The node group the instance belongs to (`--node-group`): a capacity provider whose `autoScalingGroupArn`
    /// names the group offers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_group: Option<String>,
    /// The host's address other hosts route its awsvpc slices to (`--host-address`, else the local address the
    /// agent reaches the server from; absent when that is a loopback address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_address: Option<String>,
    /// The protocol version the agent speaks ([`PROTOCOL`]); absent from agents before it was announced
    /// (version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
}

/// The answer to a registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    /// The container instance ARN this agent now is.
    pub container_instance_arn: String,
    /// The cluster's ARN.
    pub cluster_arn: String,
    /// The bearer token for the stream and report calls.
    pub instance_token: String,
    /// How often the agent should report when nothing changes.
    pub heartbeat_seconds: u64,
    /// Credentials the agent uses to pull from Berth's own registry (never given to tasks).
    pub registry_auth: Option<RegistryAuth>,
    /// The instance secret, when this registration created the instance (or upgraded one that had none): the agent
    /// keeps it (owner-only) and presents it to rejoin. Absent on a rejoin with the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_secret: Option<String>,
    /// The protocol version the server speaks ([`PROTOCOL`]); absent from servers before it was announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
    /// Seconds of silence after which the server counts the instance lost and replaces its tasks
    /// (`--lost-instance-timeout-seconds`). The agent starts no container unless the server confirmed its
    /// assignment epoch within a safe part of this (its assignment lease). Absent from older servers: no lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_instance_seconds: Option<u64>,
}

/// The answer to `POST /agent/v1/registry-auth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryAuthResponse {
    /// Fresh credentials for Berth's registry (absent when the server has no registry).
    pub registry_auth: Option<RegistryAuth>,
}

/// `POST /agent/v1/secrets`: the values a task's containers' `secrets` name, asked for when the agent starts it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSecretsRequest {
    /// The task's ARN (placed on the asking instance).
    pub task_arn: String,
    /// The secrets asked for: exactly those the task's containers list.
    pub secrets: Vec<TaskSecretName>,
    /// The containers whose private registry credentials (`repositoryCredentials`) are asked for: exactly those that
    /// have them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry_credentials: Vec<String>,
    /// A running task's file-mode secrets asked for again (Berth's live rotation, [`crate::secret_files`]): then
    /// `secrets` are exactly the task's file-mode secrets and `registry_credentials` is empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
}

/// One container secret, by container and environment variable name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSecretName {
    /// The container's name.
    pub container_name: String,
    /// The secret's `name` (the environment variable).
    pub name: String,
}

/// The answer to `POST /agent/v1/secrets`: every value, or why the task cannot start.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSecretsResponse {
    /// The values, one per secret asked for (empty when `failure` is set).
    #[serde(default)]
    pub values: Vec<TaskSecretValue>,
    /// The task's stopped reason when a value could not be read (`ResourceInitializationError: ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The registry credentials, one per container asked for (empty when `failure` is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry_credentials: Vec<TaskRegistryCredentials>,
}

impl std::fmt::Debug for TaskSecretsResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSecretsResponse")
            .field("values", &self.values)
            .field("failure", &self.failure)
            .field("registry_credentials", &self.registry_credentials)
            .finish()
    }
}

/// A container's private registry credentials (its `repositoryCredentials` secret's `username` and `password`).
/// Its `Debug` does not show the password.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRegistryCredentials {
    /// The container's name.
    pub container_name: String,
    /// The registry user name.
    pub username: String,
    /// The registry password.
    pub password: String,
}

impl std::fmt::Debug for TaskRegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRegistryCredentials")
            .field("container_name", &self.container_name)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `POST /agent/v1/credentials`: the task role's credentials for a task placed on the asking instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentialsRequest {
    /// The task's ARN.
    pub task_arn: String,
}

/// The answer to `POST /agent/v1/credentials`: the role's session, or why the task cannot have one.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentialsResponse {
    /// The session credentials (absent when `failure` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<RoleCredentials>,
    /// The task's stopped reason when the role cannot be assumed (ECS's "unable to assume the role" wording).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl std::fmt::Debug for TaskCredentialsResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskCredentialsResponse")
            .field("credentials", &self.credentials.as_ref().map(|c| &c.access_key_id))
            .field("failure", &self.failure)
            .finish()
    }
}

/// A role's STS session credentials as the credentials endpoint hands them to a task's containers. Its `Debug`
/// shows only the key id.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleCredentials {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// The session token (`x-amz-security-token`).
    pub session_token: String,
    /// When they expire, epoch seconds.
    pub expiration: i64,
    /// When they were issued, epoch seconds (the agent refreshes them half-way to `expiration`).
    pub issued_at: i64,
    /// The role's ARN.
    pub role_arn: String,
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

/// One secret's value. Its `Debug` does not show the value.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSecretValue {
    /// The container's name.
    pub container_name: String,
    /// The secret's `name` (the environment variable).
    pub name: String,
    /// The value.
    pub value: String,
}

impl std::fmt::Debug for TaskSecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSecretValue")
            .field("container_name", &self.container_name)
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Credentials for Berth's registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryAuth {
    /// The registry host, `127.0.0.1:7700` style.
    pub server_address: String,
    /// The user name, `AWS`.
    pub username: String,
    /// The password (a registry token).
    pub password: String,
    /// How long the password is valid from when it was issued, in seconds (the agent refreshes it before then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

/// One message on the agent's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum StreamMessage {
    /// The whole desired state of the instance.
    Desired(DesiredState),
    /// Nothing changed; the server is alive.
    Heartbeat {
        /// The server's clock.
        server_time: Timestamp,
    },
    /// UpdateContainerAgent asked this agent to upgrade in place: it re-executes its binary from disk and
    /// reports its progress to `/agent/v1/agent-update`. Sent again on every new stream until the update ends.
    UpdateAgent {
        /// The version the server expects the agent to come back with.
        target_version: String,
    },
    /// A client connected to an ECS Exec session on one of the instance's containers: the agent dials
    /// [`EXEC_AGENT_PATH`]`<session id>` back with its instance token and runs the command there.
    Exec(ExecStart),
}

/// The path (before the session id) an agent dials back for an exec session: a WebSocket upgrade with the
/// instance token, carrying [`ExecFrame`]s.
pub const EXEC_AGENT_PATH: &str = "/agent/v1/exec/";

/// An exec session the agent should start (see [`StreamMessage::Exec`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecStart {
    /// The session id (the last part of the dial-back path).
    pub session_id: String,
    /// The task's ARN.
    pub task_arn: String,
    /// The container's name in the task definition.
    pub container_name: String,
    /// The command and its arguments, already split into words.
    pub command: Vec<String>,
    /// Whether to allocate a terminal (stdout and stderr then arrive merged, as [`ExecFrame::Stdout`]).
    pub tty: bool,
    /// The terminal's initial size (rows, columns), when `tty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<(u16, u16)>,
}

/// One frame of an exec session's stream: a binary WebSocket message whose first byte is the kind. Berth's own
/// framing (not SSM's data channel). The client sends `Stdin`, `StdinEof` and `Resize`; the agent sends `Stdout`,
/// `Stderr`, then `Exit` (or `Error`) last. The server relays frames between the two and drops frames sent the
/// wrong way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecFrame {
    /// Bytes for the command's standard input (kind 0).
    Stdin(Vec<u8>),
    /// Bytes the command wrote to standard output, or to the terminal (kind 1).
    Stdout(Vec<u8>),
    /// Bytes the command wrote to standard error, without a terminal (kind 2).
    Stderr(Vec<u8>),
    /// The client's terminal size changed (kind 3; rows, then columns, big-endian u16).
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// The client's standard input ended (kind 4).
    StdinEof,
    /// The command exited with this code (kind 5; big-endian i32). The last frame of a session.
    Exit(i32),
    /// The session failed before or while running the command (kind 6; UTF-8 text). The last frame of a session.
    Error(String),
}

/// Why bytes are not an [`ExecFrame`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an exec frame: {0}")]
pub struct ExecFrameError(pub &'static str);

impl ExecFrame {
    /// The frame as one binary message.
    pub fn encode(&self) -> Vec<u8> {
        let with = |kind: u8, body: &[u8]| {
            let mut out = Vec::with_capacity(1 + body.len());
            out.push(kind);
            out.extend_from_slice(body);
            out
        };
        match self {
            ExecFrame::Stdin(b) => with(0, b),
            ExecFrame::Stdout(b) => with(1, b),
            ExecFrame::Stderr(b) => with(2, b),
            ExecFrame::Resize { rows, cols } => {
                let mut body = rows.to_be_bytes().to_vec();
                body.extend_from_slice(&cols.to_be_bytes());
                with(3, &body)
            }
            ExecFrame::StdinEof => vec![4],
            ExecFrame::Exit(code) => with(5, &code.to_be_bytes()),
            ExecFrame::Error(text) => with(6, text.as_bytes()),
        }
    }

    /// Reads one binary message.
    pub fn decode(bytes: &[u8]) -> Result<Self, ExecFrameError> {
        let (&kind, body) = bytes.split_first().ok_or(ExecFrameError("empty message"))?;
        Ok(match kind {
            0 => ExecFrame::Stdin(body.to_vec()),
            1 => ExecFrame::Stdout(body.to_vec()),
            2 => ExecFrame::Stderr(body.to_vec()),
            3 => match body {
                [r0, r1, c0, c1] => {
                    ExecFrame::Resize { rows: u16::from_be_bytes([*r0, *r1]), cols: u16::from_be_bytes([*c0, *c1]) }
                }
                _ => return Err(ExecFrameError("a resize frame carries 4 bytes")),
            },
            4 if body.is_empty() => ExecFrame::StdinEof,
            5 => match <[u8; 4]>::try_from(body) {
                Ok(code) => ExecFrame::Exit(i32::from_be_bytes(code)),
                Err(_) => return Err(ExecFrameError("an exit frame carries 4 bytes")),
            },
            6 => ExecFrame::Error(String::from_utf8_lossy(body).into_owned()),
            _ => return Err(ExecFrameError("unknown frame kind")),
        })
    }

    /// Whether a client may send this frame (the server drops other kinds from clients).
    pub fn from_client(&self) -> bool {
        matches!(self, ExecFrame::Stdin(_) | ExecFrame::StdinEof | ExecFrame::Resize { .. })
    }
}

/// `POST /agent/v1/agent-update`: how an in-place upgrade goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentUpdateReport {
    /// `STAGING`, `STAGED`, `UPDATING` or `FAILED` (ECS's `agentUpdateStatus` values; `UPDATED` is decided by the
    /// server when the agent registers again with the target version).
    pub status: String,
    /// Why the update failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Everything the server wants running (or stopped) on one container instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredState {
    /// The store revision this state was computed at; it only grows.
    pub revision: i64,
    /// The tasks assigned to the instance that are not yet STOPPED. Containers of any other task are stopped,
    /// except those of the tasks in `keep`.
    pub tasks: Vec<TaskSpec>,
    /// Task ARNs whose records the server cannot read (quarantined): their containers, wherever they run, are left
    /// exactly as they are until the record is repaired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<String>,
    /// How this host reaches the awsvpc tasks of the other hosts (absent from servers that do not say; the agent
    /// then leaves its routes as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<HostNetwork>,
    /// The server's DNS server (`ip:port`, UDP and TCP), which the agent's DNS forwarder sends its tasks' queries
    /// to; an unspecified address (`0.0.0.0:port`) means the address the agent reaches the server at. Absent when
    /// the server serves no DNS (`--no-dns`): the forwarder then uses the host's resolvers alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_server: Option<String>,
    /// The instance's assignment epoch when this state was computed: bumped each time the server found the
    /// instance lost and stopped its tasks. Absent from older servers (and 0 until the first loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_epoch: Option<u64>,
}

/// The VPC as one host sees it: the VPC's CIDR and a route to each other host's slices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostNetwork {
    /// The VPC's CIDR (`--vpc-cidr`): traffic inside it is routed, never masqueraded.
    pub vpc_cidr: String,
    /// One route per slice of each other registered host that holds a VPC slot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<HostRoute>,
}

/// A route to another host's slice of a subnet.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRoute {
    /// The slice (`a.b.c.0/24`).
    pub destination: String,
    /// The host holding it (its registered host address).
    pub gateway: String,
}

/// A task as the agent needs to run it, with overrides already applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// The task's ARN.
    pub task_arn: String,
    /// The task's cluster ARN.
    pub cluster_arn: String,
    /// The task definition's ARN.
    pub task_definition_arn: String,
    /// The task definition family.
    pub family: String,
    /// The task definition revision.
    pub revision: i32,
    /// `RUNNING` or `STOPPED`.
    pub desired_status: String,
    /// The network mode (`bridge` when the task definition names none).
    pub network_mode: NetworkMode,
    /// Task-level CPU units, if set.
    pub cpu: Option<i32>,
    /// Task-level memory in MiB, if set.
    pub memory: Option<i32>,
    /// The containers, in task definition order.
    pub containers: Vec<ContainerSpec>,
    /// Why the task is being stopped, when it is.
    pub stopped_reason: Option<String>,
    /// The `stopCode` the server chose, when it stopped the task.
    pub stop_code: Option<String>,
    /// The task's `startedBy`.
    pub started_by: Option<String>,
    /// The task's group.
    pub group: Option<String>,
    /// The task definition's `volumes`, which the containers' `mountPoints` name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// The task's network interface (`awsvpc` tasks only): the agent runs a pause container holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<TaskNetwork>,
    /// The task's role (`taskRoleArn`, the override's if set): the agent asks for its credentials at the start
    /// and serves them to the containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// The task's tags (the metadata endpoint's `/taskWithTags`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Its container instance's tags (the metadata endpoint's `/taskWithTags`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instance_tags: BTreeMap<String, String>,
    /// The task's launch type (`FARGATE` tasks get a task-level cgroup holding `cpu` and `memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// The task's ephemeral storage in GiB, as its definition asked (a FARGATE task without one has Fargate's 20);
    /// the metadata endpoint's `EphemeralStorageMetrics.Reserved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_gib: Option<i32>,
}

/// The network interface of an `awsvpc` task, as the control plane allocated it at placement. The agent creates
/// the subnet's Docker network for its slice (if missing) and a pause container at `address` on it; the task's
/// containers join the pause container's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskNetwork {
    /// `eni-...`.
    pub interface_id: String,
    /// The attachment's id (a UUID), as DescribeTasks shows it.
    pub attachment_id: String,
    /// The subnet.
    pub subnet_id: String,
    /// The subnet's CIDR (the whole subnet, on every host).
    pub subnet_cidr: String,
    /// This host's slice of the subnet (the Docker network's subnet).
    pub slice_cidr: String,
    /// The slice's gateway (the Docker bridge's address on this host).
    pub gateway: String,
    /// The task's IPv4 address, inside the slice.
    pub address: String,
    /// The interface's MAC address.
    pub mac_address: String,
    /// The interface's private DNS name (`ip-a-b-c-d.ec2.internal`).
    pub private_dns_name: String,
    /// The security groups (`sg-...`).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// What the security groups let in, resolved to addresses (enforced by the agent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRule>,
    /// What the security groups let out, resolved to addresses (each rule's `sources` are its destinations);
    /// `None` when they let everything out (the default egress rule), so that nothing is filtered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<IngressRule>>,
}

/// One ingress permission of a task's security groups, with source groups resolved to the addresses of the
/// interfaces in them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    /// The first port (`None`: all ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<u16>,
    /// The last port (`None`: all ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<u16>,
    /// The sources allowed: IPv4 networks (`a.b.c.d/n`; a single address is `/32`).
    pub sources: Vec<String>,
}

/// A container of a [`TaskSpec`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    /// The container's ARN.
    pub container_arn: String,
    /// The container definition, with the task's overrides applied.
    pub definition: ContainerDefinition,
}

/// `POST /agent/v1/report`: what the agent observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRequest {
    /// Snapshots of tasks that changed since the last acknowledged report (may be empty: a heartbeat).
    pub tasks: Vec<TaskReport>,
    /// The highest desired-state revision the agent has applied.
    pub applied_revision: i64,
    /// What the instance's running tasks used, sampled since the last report (empty on most reports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<TaskUsage>,
}

/// What a running task used over the agent's last sampling interval (every 10 s), from Docker's stats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskUsage {
    /// The task's ARN.
    pub task_arn: String,
    /// CPU used, in ECS CPU units (1,024 a core), averaged over the interval, summed over the task's containers.
    pub cpu_units: f64,
    /// Memory used (without the page cache), in MiB, summed over the task's containers.
    pub memory_mib: f64,
    /// When it was sampled (epoch seconds).
    pub sampled_at: f64,
}

/// The answer to a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportResponse {
    /// Task ARNs the server did not know (the agent should stop and forget them).
    pub unknown_task_arns: Vec<String>,
    /// The server's clock when it answered (the agent measures its own clock's drift against it; absent from
    /// servers older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<Timestamp>,
    /// The instance's assignment epoch as the server has it now. An agent whose desired state is of an older
    /// epoch was found lost while away: it must not start anything until a desired state of this epoch arrives.
    /// Absent from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_epoch: Option<u64>,
}

/// The observed state of one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskReport {
    /// The task's ARN.
    pub task_arn: String,
    /// The task's observed status: `PENDING`, `ACTIVATING`, `RUNNING`, `DEACTIVATING`, `STOPPING`, `DEPROVISIONING`
    /// or `STOPPED`.
    pub last_status: String,
    /// Per-container observations.
    pub containers: Vec<ContainerReport>,
    /// When the first image pull began.
    pub pull_started_at: Option<Timestamp>,
    /// When the last image pull ended.
    pub pull_stopped_at: Option<Timestamp>,
    /// When the task's containers were all started.
    pub started_at: Option<Timestamp>,
    /// When the agent began stopping the task.
    pub stopping_at: Option<Timestamp>,
    /// When the last container stopped.
    pub execution_stopped_at: Option<Timestamp>,
    /// Set when the agent itself decided to stop the task (`EssentialContainerExited`, `TaskFailedToStart`).
    pub stop_code: Option<String>,
    /// Why the agent stopped the task.
    pub stopped_reason: Option<String>,
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    pub health_status: String,
}

/// The observed state of one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    /// The container's name in the task definition.
    pub name: String,
    /// The Docker container id, once created.
    pub runtime_id: Option<String>,
    /// `PENDING`, `RUNNING` or `STOPPED`.
    pub last_status: String,
    /// The exit code, once stopped.
    pub exit_code: Option<i32>,
    /// Why the container stopped or failed to start.
    pub reason: Option<String>,
    /// The host ports the container is bound to.
    pub network_bindings: Vec<NetworkBinding>,
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    pub health_status: String,
    /// The image's digest, once pulled or found.
    pub image_digest: Option<String>,
    /// How many times the container was restarted in place under its restart policy.
    pub restart_count: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_and_servers_of_neighbouring_releases_understand_each_other() {
        // An agent from before the version was announced (no `protocol`) registers as version 1.
        let old: RegisterRequest = serde_json::from_str(
            r#"{"cluster":"default","containerInstanceArn":null,"hostname":"h","resources":{"cpu":1,"memoryMib":1,
                "reservedTcpPorts":[],"reservedUdpPorts":[]},"attributes":{},"version":{"agentVersion":"",
                "agentHash":"","dockerVersion":""}}"#,
        )
        .unwrap();
        assert_eq!(old.protocol, None);
        assert_eq!(check_protocol(old.protocol, OLDEST_PROTOCOL), Ok(()));
        // A newer agent's members this build does not know are ignored; so are a newer server's.
        let mut newer =
            serde_json::to_value(RegisterRequest { protocol: Some(PROTOCOL + 1), ..Default::default() }).unwrap();
        newer["somethingNew"] = serde_json::json!({"x": 1});
        let read: RegisterRequest = serde_json::from_value(newer).unwrap();
        assert_eq!(read.protocol, Some(PROTOCOL + 1));
        let answer: RegisterResponse = serde_json::from_str(
            r#"{"containerInstanceArn":"a","clusterArn":"c","instanceToken":"t","heartbeatSeconds":5,
                "registryAuth":null,"protocol":9,"somethingNew":true}"#,
        )
        .unwrap();
        assert_eq!(answer.protocol, Some(9));
        // A server that stops serving version 1 refuses such an agent, saying what to do.
        let refusal = check_protocol(None, 2).unwrap_err();
        assert!(refusal.contains("version 1") && refusal.contains("Upgrade the agent"), "{refusal}");
        assert_eq!(check_protocol(Some(PROTOCOL), PROTOCOL), Ok(()));
    }

    #[test]
    fn stream_messages_are_tagged() {
        let msg = StreamMessage::Heartbeat { server_time: 1.5 };
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(text, r#"{"type":"heartbeat","serverTime":1.5}"#);
        let desired = StreamMessage::Desired(DesiredState { revision: 7, ..Default::default() });
        let back: StreamMessage = serde_json::from_str(&serde_json::to_string(&desired).unwrap()).unwrap();
        assert_eq!(back, desired);
        let exec = StreamMessage::Exec(ExecStart { session_id: "s".into(), tty: true, ..Default::default() });
        let text = serde_json::to_string(&exec).unwrap();
        assert!(text.starts_with(r#"{"type":"exec","sessionId":"s""#), "{text}");
        assert_eq!(serde_json::from_str::<StreamMessage>(&text).unwrap(), exec);
    }

    #[test]
    fn exec_frames_round_trip_and_refuse_garbage() {
        let frames = [
            ExecFrame::Stdin(b"in".to_vec()),
            ExecFrame::Stdout(b"out".to_vec()),
            ExecFrame::Stderr(Vec::new()),
            ExecFrame::Resize { rows: 40, cols: 120 },
            ExecFrame::StdinEof,
            ExecFrame::Exit(-3),
            ExecFrame::Error("no such container".into()),
        ];
        for frame in frames {
            assert_eq!(ExecFrame::decode(&frame.encode()).unwrap(), frame);
        }
        assert_eq!(ExecFrame::Resize { rows: 1, cols: 2 }.encode(), vec![3, 0, 1, 0, 2]);
        for bad in [&[][..], &[3, 1], &[5, 0, 0], &[9], &[4, 0]] {
            assert!(ExecFrame::decode(bad).is_err(), "{bad:?}");
        }
        assert!(ExecFrame::Stdin(vec![]).from_client() && !ExecFrame::Exit(0).from_client());
        assert!(!ExecFrame::Stdout(vec![]).from_client());
    }
}
