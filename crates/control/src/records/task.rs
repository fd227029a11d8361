//! The stored task (schema 3): Berth's own fields, rendered to the wire `Task` by `tasks::render_task`.
//!
//! Schema 1 wrapped the wire `Task` under `task`; [`upgrade_from_v1`] turns such a value into schema 2. Schema 2
//! stored the container instance twice, as `instanceId` and as `containerInstanceArn`; schema 3 keeps the id only
//! and derives the ARN ([`TaskRecord::container_instance_arn`]): [`upgrade_from_v2`] drops it, [`downgrade_to_v2`]
//! writes it out again for servers of the previous release. What the
//! wire shape repeats from elsewhere is not stored: a container's name, image, CPU and memory are its definition's
//! (in `containers`), the task's CPU and memory its reservation's, its `connectivity` follows from its `lastStatus`.
//! The user's own documents (the container definitions with overrides applied, the task definition's volumes, the
//! `overrides` of the request) are kept in their wire form: they are returned as given.

use super::StoredTag;
use super::upgrade::{carry, object, or, required, status};
use crate::status::{ContainerStatus, DesiredStatus, HealthState, StopCode, TaskLaunchType, TaskStatus};
use berth_model::Timestamp;
use berth_model::agent::ContainerSpec;
use berth_model::ecs::{NetworkBinding, NetworkMode, TaskOverride, TransportProtocol, Volume};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a placed task holds on its container instance until it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// CPU units.
    pub cpu: i64,
    /// Memory in MiB.
    pub memory: i64,
    /// Static TCP host ports.
    pub tcp_ports: Vec<u16>,
    /// Static UDP host ports.
    pub udp_ports: Vec<u16>,
    /// The `awsvpc` task's address, taken from its instance's slice of the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<std::net::Ipv4Addr>,
    /// Ephemeral storage in GiB: a FARGATE task's size (20 unless its definition asks more), taken from its
    /// instance's accounted storage; 0 for EC2 tasks, whose disk ECS does not account.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ephemeral_storage_gib: i64,
}

/// Whether a stored count is 0 (left out of the record).
fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A status change of a task, with its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// The new `lastStatus`.
    pub status: TaskStatus,
    /// When it was recorded.
    pub at: Timestamp,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    /// The task's ARN (its id is the last part).
    pub arn: String,
    /// The cluster's short name.
    pub cluster: String,
    /// The cluster's ARN.
    pub cluster_arn: String,
    /// The id of the container instance it is placed on (empty while it waits for one); its ARN is derived
    /// ([`TaskRecord::container_instance_arn`]).
    pub instance_id: String,
    /// The task definition revision it runs.
    pub task_definition_arn: String,
    /// `service:<name>`, `family:<family>` or the group RunTask was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Who started it (a service deployment's id for service tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// How it was launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<TaskLaunchType>,
    /// Where it is in its lifecycle.
    pub last_status: TaskStatus,
    /// Where it should go.
    pub desired_status: DesiredStatus,
    /// Its health, from its essential containers' checks.
    pub health_status: HealthState,
    /// Why it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<StopCode>,
    /// Why it stopped, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// Whether ExecuteCommand may open sessions in it.
    pub enable_execute_command: bool,
    /// Its instance's `ecs.availability-zone` attribute when it was placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// Its instance's `ecs.cpu-architecture` attribute when it was placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    /// The request's overrides as ECS shows them (every container named), a user document in its wire form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<TaskOverride>,
    /// Its tags (the request's, propagated and managed ones).
    pub tags: Vec<StoredTag>,
    /// Bumped on every change an agent or a client could observe.
    pub version: i64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its agent took it (PENDING).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity_at: Option<Timestamp>,
    /// When its images started being pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_started_at: Option<Timestamp>,
    /// When its images were pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_stopped_at: Option<Timestamp>,
    /// When it reached RUNNING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it started stopping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_at: Option<Timestamp>,
    /// When its containers had stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_stopped_at: Option<Timestamp>,
    /// When it reached STOPPED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Timestamp>,
    /// The containers to run, with overrides applied.
    pub containers: Vec<ContainerSpec>,
    /// What the agent observed of each container, in the order of `containers`.
    pub container_states: Vec<ContainerState>,
    /// The task definition's network mode.
    pub network_mode: NetworkMode,
    /// The task definition's volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Its network interface (`awsvpc` tasks), allocated at placement; kept after it stops, as ECS shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<berth_model::agent::TaskNetwork>,
    /// What it holds on its instance.
    pub reservation: Reservation,
    /// Whether the reservation was given back (when the task stopped).
    pub released: bool,
    /// Every status change, oldest first.
    pub transitions: Vec<Transition>,
    /// When the task's scale-in protection expires (UpdateTaskProtection); `None` when it is not protected. The
    /// task is protected while the control plane's clock is before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_expires_at: Option<Timestamp>,
    /// Its place behind its service's load balancers and in its service registries (`None` for a task of a
    /// service with neither, and for every task that is not a service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<TargetsRecord>,
    /// The store cluster of its container instance when that is not `cluster`: a Fargate task placed on the
    /// Fargate pool (`tasks::fargate::POOL`) or on another cluster's instance that also serves Fargate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_cluster: Option<String>,
    /// The Fargate task's platform version (`1.4.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// The capacity provider it runs on (`FARGATE`, `FARGATE_SPOT`), for a Fargate task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_name: Option<String>,
    /// The Fargate task's ephemeral storage in GiB (20 unless its definition asks for more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_gib: Option<i32>,
    /// For a task waiting for capacity under a managed scaling provider (placed on no instance yet): the placement
    /// it still needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<WaitingPlacement>,
    /// For a daemon's task: the id of the daemon revision it runs (`daemons`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_revision: Option<String>,
}

/// What a task waiting for capacity (managed scaling) is placed with once an instance has room: its request's
/// constraints (with its task definition's) and strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingPlacement {
    /// The placement constraints.
    #[serde(default)]
    pub constraints: Vec<berth_model::ecs::PlacementConstraint>,
    /// The placement strategy.
    #[serde(default)]
    pub strategy: Vec<berth_model::ecs::PlacementStrategy>,
    /// A service's task (services' default strategy), not RunTask's.
    #[serde(default)]
    pub service: bool,
}

/// A service task's load-balancer targets and Cloud Map registrations, as its service had them when it was placed
/// (the service scheduler registers it there while it runs, and deregisters and drains it before its agent may stop
/// it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsRecord {
    /// The service's `loadBalancers` (target group, container name, container port).
    #[serde(default)]
    pub load_balancers: Vec<berth_model::ecs::LoadBalancer>,
    /// The service's `serviceRegistries`.
    #[serde(default)]
    pub service_registries: Vec<berth_model::ecs::ServiceRegistry>,
    /// Every target of the task is healthy (set by the service scheduler; counts toward the deployment only then).
    #[serde(default)]
    pub healthy: bool,
    /// While it drains on its way out (deregistered everywhere): when the deregistration delay ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_until: Option<Timestamp>,
    /// Draining is over: its agent may stop it.
    #[serde(default)]
    pub drained: bool,
}

impl TargetsRecord {
    /// Whether its load balancers decide its health.
    pub fn load_balanced(&self) -> bool {
        !self.load_balancers.is_empty()
    }
}

/// What the agent observed of one container of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// The Docker container id, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    /// The image's digest, once pulled or found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Where it is (only moves forward).
    pub last_status: ContainerStatus,
    /// Its exit code, once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it stopped or failed to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The host ports it is bound to.
    pub network_bindings: Vec<Binding>,
    /// Its health check's verdict.
    pub health_status: HealthState,
}

/// A host port a container is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// The host address.
    #[serde(rename = "bindIP", default, skip_serializing_if = "Option::is_none")]
    pub bind_ip: Option<String>,
    /// The container's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
    /// The host's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The container's port range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port_range: Option<String>,
    /// The host's port range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port_range: Option<String>,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP.
    #[serde(rename = "tcp")]
    Tcp,
    /// UDP.
    #[serde(rename = "udp")]
    Udp,
}

impl Default for TaskRecord {
    /// An empty PROVISIONING task that should run (for building records field by field).
    fn default() -> Self {
        Self {
            arn: String::new(),
            cluster: String::new(),
            cluster_arn: String::new(),
            instance_id: String::new(),
            task_definition_arn: String::new(),
            group: None,
            started_by: None,
            launch_type: None,
            last_status: TaskStatus::Provisioning,
            desired_status: DesiredStatus::Running,
            health_status: HealthState::Unknown,
            stop_code: None,
            stopped_reason: None,
            enable_execute_command: false,
            availability_zone: None,
            cpu_architecture: None,
            overrides: None,
            tags: Vec::new(),
            version: 0,
            created_at: 0.0,
            connectivity_at: None,
            pull_started_at: None,
            pull_stopped_at: None,
            started_at: None,
            stopping_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            containers: Vec::new(),
            container_states: Vec::new(),
            network_mode: NetworkMode::Bridge,
            volumes: Vec::new(),
            network: None,
            reservation: Reservation::default(),
            released: false,
            transitions: Vec::new(),
            protection_expires_at: None,
            targets: None,
            instance_cluster: None,
            platform_version: None,
            capacity_provider_name: None,
            ephemeral_storage_gib: None,
            waiting: None,
            daemon_revision: None,
        }
    }
}

impl TaskRecord {
    /// The store key (cluster, id) of the container instance it is placed on.
    pub fn instance_key(&self) -> (String, String) {
        (self.instance_cluster.clone().unwrap_or_else(|| self.cluster.clone()), self.instance_id.clone())
    }

    /// The ARN of the container instance it is placed on (empty while it waits for one): its own ARN's partition,
    /// region and account with its instance's cluster and id.
    pub fn container_instance_arn(&self) -> String {
        let (cluster, id) = self.instance_key();
        instance_arn(&self.arn, &cluster, &id)
    }

    /// Whether it was launched with the FARGATE launch type.
    pub fn is_fargate(&self) -> bool {
        self.launch_type == Some(TaskLaunchType::Fargate)
    }

    /// The task's id (the last part of its ARN).
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or_default()
    }

    /// The task's `lastStatus`.
    pub fn last_status(&self) -> Option<TaskStatus> {
        Some(self.last_status)
    }

    /// The task's `desiredStatus`.
    pub fn desired_status(&self) -> Option<DesiredStatus> {
        Some(self.desired_status)
    }

    /// Sets the task's `desiredStatus`.
    pub fn set_desired_status(&mut self, status: DesiredStatus) {
        self.desired_status = status;
    }
}

impl ContainerState {
    /// A container no agent has reported on yet.
    pub fn pending() -> Self {
        Self {
            runtime_id: None,
            image_digest: None,
            last_status: ContainerStatus::Pending,
            exit_code: None,
            reason: None,
            network_bindings: Vec::new(),
            health_status: HealthState::Unknown,
        }
    }
}

impl Binding {
    /// The binding as stored, from its wire form.
    pub fn from_wire(b: &NetworkBinding) -> Self {
        Self {
            bind_ip: b.bind_ip.clone(),
            container_port: b.container_port,
            host_port: b.host_port,
            protocol: b.protocol.map(|p| match p {
                TransportProtocol::Tcp => Protocol::Tcp,
                TransportProtocol::Udp => Protocol::Udp,
            }),
            container_port_range: b.container_port_range.clone(),
            host_port_range: b.host_port_range.clone(),
        }
    }

    /// The binding's wire form.
    pub fn to_wire(&self) -> NetworkBinding {
        NetworkBinding {
            bind_ip: self.bind_ip.clone(),
            container_port: self.container_port,
            host_port: self.host_port,
            protocol: self.protocol.map(|p| match p {
                Protocol::Tcp => TransportProtocol::Tcp,
                Protocol::Udp => TransportProtocol::Udp,
            }),
            container_port_range: self.container_port_range.clone(),
            host_port_range: self.host_port_range.clone(),
        }
    }
}

/// The ARN of the container instance `cluster`/`id` of the task `task_arn` (same partition, region and account);
/// empty without an instance.
fn instance_arn(task_arn: &str, cluster: &str, id: &str) -> String {
    match task_arn.split_once(":task/") {
        Some((prefix, _)) if !id.is_empty() => format!("{prefix}:container-instance/{cluster}/{id}"),
        _ => String::new(),
    }
}

/// Turns a schema-2 task value into schema 3: `containerInstanceArn` is dropped (it is derived from the task's
/// ARN, its instance's cluster and `instanceId`, which is what every writer of schema 2 stored in it).
pub(crate) fn upgrade_from_v2(value: Value) -> Result<Value, String> {
    let mut task = object(value, "a schema-2 task record")?;
    task.remove("containerInstanceArn");
    Ok(Value::Object(task))
}

/// Turns a schema-3 task value into schema 2, for servers of the previous release: `containerInstanceArn` is
/// written out again.
pub(crate) fn downgrade_to_v2(value: Value) -> Result<Value, String> {
    const WHAT: &str = "a schema-3 task record";
    let mut task = object(value, WHAT)?;
    let text = |task: &Map<String, Value>, member: &str| task.get(member).and_then(Value::as_str).map(str::to_string);
    let arn = text(&task, "arn").ok_or_else(|| format!("{WHAT} has no `arn`"))?;
    let cluster = text(&task, "instanceCluster")
        .or_else(|| text(&task, "cluster"))
        .ok_or_else(|| format!("{WHAT} has no `cluster`"))?;
    let id = text(&task, "instanceId").unwrap_or_default();
    task.insert("containerInstanceArn".into(), instance_arn(&arn, &cluster, &id).into());
    Ok(Value::Object(task))
}

/// Members of the schema-1 wire `Task` that carry over to schema 2 under the same name when present.
const CARRIED: [&str; 15] = [
    "group",
    "startedBy",
    "stoppedReason",
    "availabilityZone",
    "overrides",
    "connectivityAt",
    "pullStartedAt",
    "pullStoppedAt",
    "startedAt",
    "stoppingAt",
    "executionStoppedAt",
    "stoppedAt",
    "launchType",
    "stopCode",
    "healthStatus",
];

/// Turns a schema-1 task value (the wire `Task` under `task`, beside Berth's own members) into schema 2.
pub(crate) fn upgrade_from_v1(value: Value) -> Result<Value, String> {
    const WHAT: &str = "a schema-1 task record";
    let mut outer = object(value, WHAT)?;
    outer.remove("schema");
    let mut task = object(required(&mut outer, "task", WHAT)?, WHAT)?;
    // Berth's own members (cluster, instanceId, containers, networkMode, volumes, reservation, released,
    // transitions, protectionExpiresAt) keep their names and shapes.
    let mut v2 = outer;
    v2.insert("arn".into(), required(&mut task, "taskArn", WHAT)?);
    for member in ["clusterArn", "containerInstanceArn", "taskDefinitionArn", "createdAt"] {
        v2.insert(member.into(), required(&mut task, member, WHAT)?);
    }
    let last = required(&mut task, "lastStatus", WHAT)?;
    v2.insert("lastStatus".into(), status(last, "lastStatus", |s| TaskStatus::parse(s).is_some(), WHAT)?);
    let desired = required(&mut task, "desiredStatus", WHAT)?;
    v2.insert("desiredStatus".into(), status(desired, "desiredStatus", |s| DesiredStatus::parse(s).is_some(), WHAT)?);
    for member in CARRIED {
        carry(&mut task, member, &mut v2, member);
    }
    v2.entry("healthStatus").or_insert_with(|| HealthState::Unknown.as_str().into());
    v2.insert("enableExecuteCommand".into(), or(&mut task, "enableExecuteCommand", Value::Bool(false)));
    v2.insert("version".into(), or(&mut task, "version", Value::from(0)));
    v2.insert("tags".into(), or(&mut task, "tags", Value::Array(Vec::new())));
    let architecture = task
        .get("attributes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a.get("name").and_then(Value::as_str) == Some("ecs.cpu-architecture"))
        .and_then(|a| a.get("value"))
        .filter(|v| !v.is_null())
        .cloned();
    if let Some(architecture) = architecture {
        v2.insert("cpuArchitecture".into(), architecture);
    }
    let states = match task.remove("containers") {
        Some(Value::Array(containers)) => {
            containers.into_iter().map(container_state_from_v1).collect::<Result<Vec<_>, _>>()?
        }
        _ => Vec::new(),
    };
    v2.insert("containerStates".into(), Value::Array(states));
    Ok(Value::Object(v2))
}

/// A schema-1 wire `Container` as a schema-2 [`ContainerState`] (its name, image, CPU and memory are its
/// definition's, in the record's `containers`).
fn container_state_from_v1(container: Value) -> Result<Value, String> {
    const WHAT: &str = "a container of a schema-1 task record";
    let mut container = object(container, WHAT)?;
    let mut state = Map::new();
    for member in ["runtimeId", "imageDigest", "exitCode", "reason"] {
        carry(&mut container, member, &mut state, member);
    }
    // Schema 1 kept any text an agent sent; anything but RUNNING or STOPPED ranked as PENDING.
    let last = container.remove("lastStatus");
    let last =
        last.as_ref().and_then(Value::as_str).and_then(ContainerStatus::parse).unwrap_or(ContainerStatus::Pending);
    state.insert("lastStatus".into(), last.as_str().into());
    state.insert("networkBindings".into(), or(&mut container, "networkBindings", Value::Array(Vec::new())));
    let health = or(&mut container, "healthStatus", HealthState::Unknown.as_str().into());
    state.insert("healthStatus".into(), status(health, "healthStatus", |s| HealthState::parse(s).is_some(), WHAT)?);
    Ok(Value::Object(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v1() -> Value {
        json!({
            "schema": 1,
            "cluster": "default",
            "containers": [{"containerArn": "arn:c", "definition": {"name": "app", "cpu": 128}}],
            "instanceId": "i1",
            "networkMode": "bridge",
            "released": false,
            "reservation": {"cpu": 128, "memory": 64, "tcpPorts": [], "udpPorts": []},
            "task": {
                "attachments": [],
                "attributes": [{"name": "ecs.cpu-architecture", "value": "arm64"}],
                "clusterArn": "arn:cluster",
                "connectivity": "CONNECTED",
                "connectivityAt": 2.0,
                "containerInstanceArn": "arn:ci",
                "containers": [{
                    "containerArn": "arn:c",
                    "cpu": "128",
                    "exitCode": 3,
                    "healthStatus": "UNHEALTHY",
                    "lastStatus": "STOPPED",
                    "name": "app",
                    "networkBindings": [{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 32768, "protocol": "tcp"}],
                    "networkInterfaces": []
                }],
                "cpu": "128",
                "createdAt": 1.0,
                "desiredStatus": "STOPPED",
                "enableExecuteCommand": true,
                "group": "service:web",
                "lastStatus": "STOPPED",
                "launchType": "EC2",
                "memory": "64",
                "startedBy": "ecs-svc/1",
                "stopCode": "EssentialContainerExited",
                "stoppedAt": 9.0,
                "stoppedReason": "Essential container in task exited",
                "tags": [{"key": "team", "value": "web"}],
                "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/default/abc",
                "taskDefinitionArn": "arn:td:1",
                "version": 7
            },
            "transitions": [{"at": 1.0, "status": "PROVISIONING"}]
        })
    }

    #[test]
    fn a_v1_value_becomes_a_v2_record_with_the_same_facts() {
        let record: TaskRecord = serde_json::from_value(upgrade_from_v1(v1()).unwrap()).unwrap();
        assert_eq!(record.id(), "abc");
        assert_eq!((record.last_status, record.desired_status), (TaskStatus::Stopped, DesiredStatus::Stopped));
        assert_eq!(record.stop_code, Some(StopCode::EssentialContainerExited));
        assert_eq!(record.launch_type, Some(TaskLaunchType::Ec2));
        assert_eq!(record.health_status, HealthState::Unknown, "absent in v1: UNKNOWN");
        assert_eq!(record.cpu_architecture.as_deref(), Some("arm64"));
        assert_eq!((record.version, record.created_at, record.stopped_at), (7, 1.0, Some(9.0)));
        assert!(record.enable_execute_command);
        assert_eq!(record.tags, vec![StoredTag { key: "team".into(), value: Some("web".into()) }]);
        assert_eq!(record.container_states.len(), 1);
        let c = &record.container_states[0];
        assert_eq!(
            (c.last_status, c.exit_code, c.health_status),
            (ContainerStatus::Stopped, Some(3), HealthState::Unhealthy)
        );
        assert_eq!(c.network_bindings[0].host_port, Some(32768));
        assert_eq!(c.network_bindings[0].protocol, Some(Protocol::Tcp));
        assert_eq!(record.transitions[0].status, TaskStatus::Provisioning);
        assert_eq!(record.containers[0].container_arn, "arn:c");
    }

    #[test]
    fn the_instance_arn_is_derived_as_schema_2_stored_it_and_written_back_for_schema_2() {
        let v2 = upgrade_from_v1(v1()).unwrap();
        let mut record: TaskRecord = serde_json::from_value(upgrade_from_v2(v2).unwrap()).unwrap();
        assert_eq!(record.container_instance_arn(), "arn:aws:ecs:us-east-1:000000000000:container-instance/default/i1");
        record.instance_cluster = Some("fargate".into());
        assert_eq!(record.container_instance_arn(), "arn:aws:ecs:us-east-1:000000000000:container-instance/fargate/i1");
        let back = downgrade_to_v2(serde_json::to_value(&record).unwrap()).unwrap();
        assert_eq!(back["containerInstanceArn"], "arn:aws:ecs:us-east-1:000000000000:container-instance/fargate/i1");
        assert!(upgrade_from_v2(back).unwrap().get("containerInstanceArn").is_none());
        record.instance_id.clear();
        assert_eq!(record.container_instance_arn(), "", "a task waiting for an instance has none");
        assert_eq!(downgrade_to_v2(serde_json::to_value(&record).unwrap()).unwrap()["containerInstanceArn"], "");
        assert!(downgrade_to_v2(json!({"cluster": "c"})).unwrap_err().contains("arn"));
    }

    #[test]
    fn a_v1_value_missing_what_every_task_had_is_refused() {
        let mut value = v1();
        value["task"].as_object_mut().unwrap().remove("taskArn");
        assert!(upgrade_from_v1(value).unwrap_err().contains("taskArn"));
        let mut value = v1();
        value["task"]["lastStatus"] = "SLEEPING".into();
        assert!(upgrade_from_v1(value).unwrap_err().contains("lastStatus"));
        assert!(upgrade_from_v1(json!("task")).is_err());
    }
}
