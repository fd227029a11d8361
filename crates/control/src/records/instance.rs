//! The stored container instance (schema 2): Berth's own fields, rendered to the wire `ContainerInstance` by
//! `instances.rs` (`Control::render_instance`).
//!
//! Schema 1 wrapped the wire `ContainerInstance` under `instance`; [`upgrade_from_v1`] turns such a value into this
//! shape. Its registered resources follow from what the agent `offered`, its remaining resources and task counts
//! are computed when it is described; none of them is stored.

use super::StoredTag;
use super::upgrade::{carry, object, or, required, status};
use crate::status::{AgentUpdateStatus, InstanceStatus};
use berth_model::Timestamp;
use berth_model::agent::AgentResources;
use berth_model::ecs::{Attribute, TargetType, VersionInfo};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A container instance (a node agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    /// The instance's ARN.
    pub arn: String,
    /// The cluster's short name.
    pub cluster: String,
    /// The id (last part of the ARN).
    pub id: String,
    /// The host's name (ECS's `ec2InstanceId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_instance_id: Option<String>,
    /// Whether it takes tasks (`ACTIVE`), is draining, or was deregistered.
    pub status: InstanceStatus,
    /// Whether its agent is connected (as last recorded; the live session is checked when it is shown).
    pub agent_connected: bool,
    /// Bumped on every change a client could observe.
    pub version: i64,
    /// The agent's and Docker's versions, as the agent reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<AgentVersions>,
    /// Where an UpdateContainerAgent request is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_update_status: Option<AgentUpdateStatus>,
    /// The attributes the agent registered with (PutAttributes ones are in `custom_attributes`).
    pub attributes: Vec<AttributeRecord>,
    /// When it first registered.
    pub registered_at: Timestamp,
    /// Its tags.
    pub tags: Vec<StoredTag>,
    /// What the agent offered when it registered.
    pub offered: AgentResources,
    /// CPU units not reserved by tasks.
    pub remaining_cpu: i64,
    /// Memory (MiB) not reserved by tasks.
    pub remaining_memory: i64,
    /// Ephemeral storage (GiB) not reserved by FARGATE tasks, on an instance whose agent offered it
    /// (`offered.ephemeral_storage_gib`); absent where storage is not accounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_ephemeral_storage_gib: Option<i64>,
    /// TCP host ports taken by tasks (the host's own reserved ports are in `offered`).
    pub task_tcp_ports: BTreeSet<u16>,
    /// UDP host ports taken by tasks.
    pub task_udp_ports: BTreeSet<u16>,
    /// The instance's slot in the VPC (which `/24` of each subnet its awsvpc tasks get addresses from), taken at
    /// its first awsvpc placement and kept for its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_slot: Option<u32>,
    /// The addresses of its awsvpc tasks that have not released them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub task_addresses: BTreeSet<std::net::Ipv4Addr>,
    /// The address other hosts route its slices to, as its agent registered it (`None`: not routable; see
    /// `host_routes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_address: Option<std::net::Ipv4Addr>,
    /// SHA-256 (hex) of the agent's instance token (its current session).
    pub token_sha256: String,
    /// SHA-256 (hex) of the instance secret issued when the instance was created; re-registering as this instance
    /// requires the secret. Empty for instances created before instance secrets existed, or through the ECS API
    /// (see `Control::register_agent_checked` for how those are upgraded).
    #[serde(default)]
    pub secret_sha256: String,
    /// Attributes set with PutAttributes (kept across agent re-registrations).
    #[serde(default)]
    pub custom_attributes: BTreeMap<String, Option<String>>,
    /// Whether the instance's agent can replace itself in place (a separate `berth agent` process); an agent
    /// embedded in `berth up` cannot, nor can an instance registered through the ECS API.
    #[serde(default)]
    pub self_update: bool,
    /// The agent version an UpdateContainerAgent asked for, and why the last update failed (if it did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_update: Option<super::AgentUpdateRecord>,
    /// Whether its agent also serves Fargate capacity (`--capacity fargate`): FARGATE tasks of any cluster may be
    /// placed on it. An instance that serves only Fargate is in the hidden cluster `tasks::fargate::POOL`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fargate: bool,
    /// The node group its agent belongs to (`berth agent --node-group`), which capacity providers name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_group: Option<String>,
    /// While set, a daemon's tasks are starting on this new instance: no other task is placed on it until they
    /// run or this time passes (`daemons::gate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_gate_until: Option<Timestamp>,
    /// Why the daemon scheduler drained this instance (a daemon task stopped); it becomes ACTIVE again when its
    /// daemon tasks run. Shown as the instance's `statusReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_drain: Option<String>,
    /// Set with `daemon_drain` when the instance's node provider can replace it (ECS's daemon auto repair): no
    /// daemon task starts on it again; managed scaling launches one host in its place and removes it once only
    /// daemon tasks are left on it (`managed_scaling::replacement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_replacement: Option<DaemonReplacement>,
    /// The instance's assignment epoch: bumped each time the instance is found lost and its tasks are stopped (to
    /// be replaced elsewhere). Its agent acts on a desired state only while the server confirms that epoch (the
    /// agent protocol's `assignmentEpoch`), so an agent back from a partition starts nothing it was assigned
    /// before the loss. 0 until the first loss (and in records written before the epoch existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub assignment_epoch: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Where the replacement of an instance whose daemon task stopped stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonReplacement {
    /// The node provider was asked for the replacement host (written before it is asked, so that a restarted
    /// server does not ask twice).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub launched: bool,
}

/// The versions an agent reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentVersions {
    /// The agent's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// The agent's build hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_hash: Option<String>,
    /// Docker's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
}

/// An attribute of a container instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeRecord {
    /// Its name.
    pub name: String,
    /// Its value (absent for a bare capability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The kind of resource it is on, as ECS writes it (`container-instance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    /// The resource it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

impl Default for InstanceRecord {
    /// An ACTIVE instance with nothing offered and nothing known (for building records field by field).
    fn default() -> Self {
        Self {
            arn: String::new(),
            cluster: String::new(),
            id: String::new(),
            ec2_instance_id: None,
            status: InstanceStatus::Active,
            agent_connected: false,
            version: 0,
            version_info: None,
            agent_update_status: None,
            attributes: Vec::new(),
            registered_at: 0.0,
            tags: Vec::new(),
            offered: AgentResources::default(),
            remaining_cpu: 0,
            remaining_memory: 0,
            remaining_ephemeral_storage_gib: None,
            task_tcp_ports: BTreeSet::new(),
            task_udp_ports: BTreeSet::new(),
            network_slot: None,
            task_addresses: BTreeSet::new(),
            host_address: None,
            token_sha256: String::new(),
            secret_sha256: String::new(),
            custom_attributes: BTreeMap::new(),
            self_update: false,
            agent_update: None,
            fargate: false,
            node_group: None,
            daemon_gate_until: None,
            daemon_drain: None,
            daemon_replacement: None,
            assignment_epoch: 0,
        }
    }
}

impl InstanceRecord {
    /// The container instance's `status`.
    pub fn status(&self) -> Option<InstanceStatus> {
        Some(self.status)
    }

    /// Sets the container instance's `status`.
    pub fn set_status(&mut self, status: InstanceStatus) {
        self.status = status;
    }

    /// The value of one of the agent's attributes (`None` when absent or bare).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.name == name).and_then(|a| a.value.as_deref())
    }
}

impl AgentVersions {
    /// The versions as stored, from their wire form.
    pub fn from_wire(v: &VersionInfo) -> Self {
        Self {
            agent_version: v.agent_version.clone(),
            agent_hash: v.agent_hash.clone(),
            docker_version: v.docker_version.clone(),
        }
    }

    /// The versions' wire form.
    pub fn to_wire(&self) -> VersionInfo {
        VersionInfo {
            agent_version: self.agent_version.clone(),
            agent_hash: self.agent_hash.clone(),
            docker_version: self.docker_version.clone(),
        }
    }
}

impl AttributeRecord {
    /// The attribute as stored, from its wire form.
    pub fn from_wire(a: &Attribute) -> Self {
        Self {
            name: a.name.clone(),
            value: a.value.clone(),
            target_type: a.target_type.map(|t| t.as_str().to_string()),
            target_id: a.target_id.clone(),
        }
    }

    /// The attribute's wire form.
    pub fn to_wire(&self) -> Attribute {
        Attribute {
            name: self.name.clone(),
            value: self.value.clone(),
            target_type: self.target_type.as_deref().and_then(TargetType::parse),
            target_id: self.target_id.clone(),
        }
    }
}

/// Turns a schema-1 container instance value (the wire `ContainerInstance` under `instance`, beside Berth's own
/// members) into schema 2.
pub(crate) fn upgrade_from_v1(value: Value) -> Result<Value, String> {
    const WHAT: &str = "a schema-1 container instance record";
    let mut v2: Map<String, Value> = object(value, WHAT)?;
    v2.remove("schema");
    let mut instance = object(required(&mut v2, "instance", WHAT)?, WHAT)?;
    v2.insert("arn".into(), required(&mut instance, "containerInstanceArn", WHAT)?);
    let text = required(&mut instance, "status", WHAT)?;
    v2.insert("status".into(), status(text, "status", |s| InstanceStatus::parse(s).is_some(), WHAT)?);
    for member in ["ec2InstanceId", "versionInfo", "agentUpdateStatus"] {
        carry(&mut instance, member, &mut v2, member);
    }
    v2.insert("agentConnected".into(), or(&mut instance, "agentConnected", Value::Bool(false)));
    v2.insert("version".into(), or(&mut instance, "version", Value::from(0)));
    v2.insert("attributes".into(), or(&mut instance, "attributes", Value::Array(Vec::new())));
    v2.insert("registeredAt".into(), required(&mut instance, "registeredAt", WHAT)?);
    v2.insert("tags".into(), or(&mut instance, "tags", Value::Array(Vec::new())));
    Ok(Value::Object(v2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v1() -> Value {
        json!({
            "schema": 1,
            "cluster": "default",
            "customAttributes": {"color": "blue"},
            "id": "abc",
            "instance": {
                "agentConnected": true,
                "agentUpdateStatus": "STAGED",
                "attachments": [],
                "attributes": [{"name": "ecs.cpu-architecture", "value": "arm64"}, {"name": "ecs.capability.x"}],
                "containerInstanceArn": "arn:aws:ecs:us-east-1:000000000000:container-instance/default/abc",
                "ec2InstanceId": "host-a",
                "pendingTasksCount": 2,
                "registeredAt": 5.0,
                "registeredResources": [],
                "runningTasksCount": 3,
                "status": "DRAINING",
                "tags": [{"key": "k", "value": "v"}],
                "version": 4,
                "versionInfo": {"agentHash": "h", "agentVersion": "1.2.3", "dockerVersion": "27"}
            },
            "offered": {"cpu": 4096, "memoryMib": 4096, "reservedTcpPorts": [22], "reservedUdpPorts": []},
            "remainingCpu": 3968,
            "remainingMemory": 4032,
            "selfUpdate": true,
            "taskTcpPorts": [8080],
            "taskUdpPorts": [],
            "tokenSha256": "t"
        })
    }

    #[test]
    fn a_v1_value_becomes_a_v2_record_with_the_same_facts() {
        let record: InstanceRecord = serde_json::from_value(upgrade_from_v1(v1()).unwrap()).unwrap();
        assert_eq!(record.arn, "arn:aws:ecs:us-east-1:000000000000:container-instance/default/abc");
        assert_eq!((record.status, record.agent_connected, record.version), (InstanceStatus::Draining, true, 4));
        assert_eq!(record.agent_update_status, Some(AgentUpdateStatus::Staged));
        assert_eq!(record.attribute("ecs.cpu-architecture"), Some("arm64"));
        assert_eq!(record.attributes.len(), 2);
        assert_eq!(record.version_info.unwrap().agent_version.as_deref(), Some("1.2.3"));
        assert_eq!((record.registered_at, record.ec2_instance_id.as_deref()), (5.0, Some("host-a")));
        assert_eq!(record.tags[0].key, "k");
        assert_eq!(record.custom_attributes["color"].as_deref(), Some("blue"));
        assert_eq!((record.remaining_cpu, record.task_tcp_ports.len(), record.self_update), (3968, 1, true));
        assert_eq!(record.secret_sha256, "", "absent in the oldest records");
    }

    #[test]
    fn a_v1_value_missing_what_every_instance_had_is_refused() {
        let mut value = v1();
        value["instance"].as_object_mut().unwrap().remove("registeredAt");
        assert!(upgrade_from_v1(value).unwrap_err().contains("registeredAt"));
        let mut value = v1();
        value["instance"]["status"] = "LOST".into();
        assert!(upgrade_from_v1(value).unwrap_err().contains("status"));
    }
}
