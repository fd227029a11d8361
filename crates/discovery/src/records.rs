//! What Cloud Map keeps in `berth_store`, under `/discovery/`: namespaces, services, instances and operations, as
//! JSON records (schema 1). Typed here, rendered to the generated wire shapes only by the operations, so a botocore
//! model update never changes what is on disk.

use crate::DiscoveryError;
use berth_store::{SharedStore, Txn, TxnOutcome};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The root of every key.
pub const PREFIX: &str = "/discovery/";
/// The prefix of namespace records.
pub const NAMESPACES: &str = "/discovery/namespace/";
/// The prefix of service records.
pub const SERVICES: &str = "/discovery/service/";
/// The prefix of instance records.
pub const INSTANCES: &str = "/discovery/instance/";
/// The prefix of operation records.
pub const OPERATIONS: &str = "/discovery/operation/";

/// The schema version written in every record.
pub const SCHEMA: u32 = 1;

const ID: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// The key of a namespace.
pub fn namespace_key(id: &str) -> String {
    format!("{NAMESPACES}{id}")
}

/// The key of a service.
pub fn service_key(id: &str) -> String {
    format!("{SERVICES}{id}")
}

/// The prefix of a service's instances.
pub fn instances_prefix(service_id: &str) -> String {
    format!("{INSTANCES}{service_id}/")
}

/// The key of an instance (its id percent-encoded: instance ids may hold `/`, `:` and `@`).
pub fn instance_key(service_id: &str, instance_id: &str) -> String {
    format!("{}{}", instances_prefix(service_id), utf8_percent_encode(instance_id, ID))
}

/// The key of an operation.
pub fn operation_key(id: &str) -> String {
    format!("{OPERATIONS}{id}")
}

/// A namespace's kind (Berth serves private DNS and HTTP namespaces; public DNS ones are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NamespaceKind {
    /// `DNS_PRIVATE`: names answered by Berth's DNS server and by DiscoverInstances.
    DnsPrivate,
    /// `HTTP`: DiscoverInstances only.
    Http,
}

/// A namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceRecord {
    /// The record's schema version.
    pub schema: u32,
    /// `ns-` and 16 characters.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// The name as given (a domain for DNS namespaces; matched without regard to case).
    pub name: String,
    /// Its kind.
    pub kind: NamespaceKind,
    /// Description.
    pub description: Option<String>,
    /// The VPC of a private DNS namespace.
    pub vpc: Option<String>,
    /// The SOA record's TTL (DNS namespaces): also the TTL of negative answers.
    pub soa_ttl: Option<i64>,
    /// CreateDate (epoch seconds).
    pub created: f64,
    /// The CreatorRequestId of its creation.
    pub creator_request_id: Option<String>,
    /// The id of the operation that created it.
    pub operation_id: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A DNS record type a service registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordKind {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Service location (priority 1, weight 1, the port, `<instance>.<service>.<namespace>`).
    Srv,
    /// Canonical name.
    Cname,
}

impl RecordKind {
    /// The wire name (`AAAA`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Srv => "SRV",
            Self::Cname => "CNAME",
        }
    }
}

/// A service's routing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Routing {
    /// Up to eight instances per answer.
    Multivalue,
    /// One instance chosen at random per answer.
    Weighted,
}

/// The DNS side of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsSettings {
    /// The routing policy.
    pub routing: Routing,
    /// The record types with their TTLs (seconds).
    pub records: Vec<(RecordKind, i64)>,
}

impl DnsSettings {
    /// The TTL of a record type the service registers.
    pub fn ttl(&self, kind: RecordKind) -> Option<i64> {
        self.records.iter().find(|(k, _)| *k == kind).map(|(_, ttl)| *ttl)
    }
}

/// A service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// The record's schema version.
    pub schema: u32,
    /// `srv-` and 16 characters.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// The name as given.
    pub name: String,
    /// Its namespace's id.
    pub namespace_id: String,
    /// Description.
    pub description: Option<String>,
    /// DNS records registered for its instances (None: an API-only service, type HTTP).
    pub dns: Option<DnsSettings>,
    /// Whether it has HealthCheckCustomConfig (instances carry a health status set by
    /// UpdateInstanceCustomHealthStatus).
    pub custom_health: bool,
    /// CreateDate.
    pub created: f64,
    /// The CreatorRequestId of its creation.
    pub creator_request_id: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Service attributes (UpdateServiceAttributes).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// An instance's custom health status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Health {
    /// Served in DNS answers and HEALTHY discoveries.
    Healthy,
    /// Left out of answers while a healthy instance exists.
    Unhealthy,
}

/// A registered instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// The record's schema version.
    pub schema: u32,
    /// Its service's id.
    pub service_id: String,
    /// The instance id as given (ECS: the task id).
    pub id: String,
    /// Attributes (`AWS_INSTANCE_IPV4`, `AWS_INSTANCE_PORT`, custom ones).
    pub attributes: BTreeMap<String, String>,
    /// Its custom health status (None: the service has no custom health check; shown as UNKNOWN).
    pub health: Option<Health>,
    /// The CreatorRequestId of its last registration.
    pub creator_request_id: Option<String>,
    /// The id of the operation that last registered it.
    pub operation_id: String,
    /// When it was registered.
    pub created: f64,
}

/// An operation's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationKind {
    /// CreatePrivateDnsNamespace, CreateHttpNamespace.
    CreateNamespace,
    /// DeleteNamespace.
    DeleteNamespace,
    /// UpdatePrivateDnsNamespace, UpdateHttpNamespace.
    UpdateNamespace,
    /// UpdateService.
    UpdateService,
    /// RegisterInstance.
    RegisterInstance,
    /// DeregisterInstance.
    DeregisterInstance,
}

impl OperationKind {
    /// The wire name (`CREATE_NAMESPACE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateNamespace => "CREATE_NAMESPACE",
            Self::DeleteNamespace => "DELETE_NAMESPACE",
            Self::UpdateNamespace => "UPDATE_NAMESPACE",
            Self::UpdateService => "UPDATE_SERVICE",
            Self::RegisterInstance => "REGISTER_INSTANCE",
            Self::DeregisterInstance => "DEREGISTER_INSTANCE",
        }
    }
}

/// An asynchronous operation. Berth applies each change in the call that asks for it, so every operation is
/// recorded as SUCCESS when the call answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// The record's schema version.
    pub schema: u32,
    /// The operation id.
    pub id: String,
    /// Its type.
    pub kind: OperationKind,
    /// Its targets: `NAMESPACE`, `SERVICE`, `INSTANCE` to ids.
    pub targets: BTreeMap<String, String>,
    /// CreateDate.
    pub created: f64,
    /// UpdateDate.
    pub updated: f64,
}

/// Reads one record and its revision straight from the store.
pub async fn get<T: serde::de::DeserializeOwned>(
    store: &SharedStore,
    key: &str,
) -> Result<Option<(T, i64)>, DiscoveryError> {
    match store.get(key).await? {
        Some(kv) => Ok(Some((serde_json::from_slice(&kv.value)?, kv.mod_revision))),
        None => Ok(None),
    }
}

/// Commits a transaction; `Some(revision)` when committed, `None` on a conflict.
pub async fn commit(store: &SharedStore, txn: Txn) -> Result<Option<i64>, DiscoveryError> {
    Ok(match store.txn(txn).await? {
        TxnOutcome::Committed { revision } => Some(revision),
        TxnOutcome::Conflict { .. } => None,
    })
}

/// Serializes a record.
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, DiscoveryError> {
    Ok(serde_json::to_vec(record)?)
}

/// A random id of `len` lowercase letters and digits.
pub fn random_id(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

/// A new operation id, shaped as Cloud Map's (32 characters, a dash, 8 more).
pub fn operation_id() -> String {
    format!("{}-{}", random_id(32), random_id(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_instance_ids_and_group_by_service() {
        assert_eq!(instance_key("srv-1", "a/b:c@d"), "/discovery/instance/srv-1/a%2Fb%3Ac%40d");
        assert!(instance_key("srv-1", "x").starts_with(&instances_prefix("srv-1")));
        assert_eq!(namespace_key("ns-1"), "/discovery/namespace/ns-1");
    }

    #[test]
    fn ids_have_cloud_maps_shape() {
        let id = operation_id();
        let (left, right) = id.split_once('-').unwrap();
        assert_eq!((left.len(), right.len()), (32, 8));
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn records_read_back_with_wire_words() {
        let s = DnsSettings { routing: Routing::Multivalue, records: vec![(RecordKind::Srv, 10)] };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"routing":"MULTIVALUE","records":[["SRV",10]]}"#);
        assert_eq!(s.ttl(RecordKind::Srv), Some(10));
        assert_eq!(s.ttl(RecordKind::A), None);
    }
}
