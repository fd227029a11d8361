//! [`Discovery`]: the service, its index, and the calls the ECS service controller makes for tasks.

use crate::DiscoveryError;
use crate::index::Index;
use crate::records;
use berth_model::clock::Clock;
use berth_store::{SharedStore, Txn};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

/// The service's settings.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// The region in ARNs.
    pub region: String,
    /// The account in ARNs and `ResourceOwner`.
    pub account_id: String,
}

impl DiscoveryConfig {
    /// Settings for a region and account.
    pub fn new(region: &str, account_id: &str) -> Self {
        Self { region: region.to_string(), account_id: account_id.to_string() }
    }
}

/// What [`Discovery::registry_facts`] tells of a registry.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryFacts {
    /// The service's ARN.
    pub arn: String,
    /// The DNS record types it registers (none for an HTTP namespace's service).
    pub record_kinds: Vec<records::RecordKind>,
    /// Whether it has HealthCheckCustomConfig.
    pub custom_health: bool,
    /// Its instances: id and attributes.
    pub instances: Vec<(String, BTreeMap<String, String>)>,
    /// Its namespace's ARN.
    pub namespace_arn: String,
}

/// Cloud Map on one store: the API, the index the DNS server answers from, and the task registration calls.
pub struct Discovery {
    pub(crate) store: SharedStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: DiscoveryConfig,
    pub(crate) index: Arc<Index>,
    /// Serializes every write, so a check against the index and the write it allows are never interleaved with
    /// another write (each write waits until the index has applied it before the lock is released).
    pub(crate) writes: tokio::sync::Mutex<()>,
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Discovery {
    /// Loads the index from the store and follows its watch from there.
    pub async fn open(
        config: DiscoveryConfig,
        store: SharedStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, DiscoveryError> {
        let index = Arc::new(Index::new());
        let range = store.range(records::PREFIX).await?;
        index.reset(&range.kvs, range.revision);
        let follower = tokio::spawn({
            let index = index.clone();
            let store = store.clone();
            async move { index.follow(store, Some(range.revision)).await }
        });
        Ok(Arc::new(Self {
            store,
            clock,
            config,
            index,
            writes: tokio::sync::Mutex::new(()),
            follower: Mutex::new(Some(follower)),
        }))
    }

    /// Calls an operation with its input as JSON (the shapes of `berth_model::servicediscovery`); its output as JSON.
    pub async fn call(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, DiscoveryError> {
        crate::ops::dispatch(self, operation, input).await
    }

    /// The index (what the DNS server answers from).
    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    /// Registers (or re-registers) an ECS task in a service registry, as ECS does for a service with
    /// `serviceRegistries`: instance id = the task id, `AWS_INSTANCE_IPV4` and `AWS_INSTANCE_PORT` (when given) plus
    /// `attributes` (ECS adds `ECS_CLUSTER_NAME`, `ECS_SERVICE_NAME`, `ECS_TASK_DEFINITION_FAMILY`,
    /// `AVAILABILITY_ZONE`, `REGION`, `AWS_INIT_HEALTH_STATUS`). `registry_arn` is the Cloud Map service's ARN (or
    /// id). Returns the operation id.
    pub async fn register_task_instance(
        &self,
        registry_arn: &str,
        instance_id: &str,
        ipv4: Option<Ipv4Addr>,
        port: Option<u16>,
        attributes: BTreeMap<String, String>,
    ) -> Result<String, DiscoveryError> {
        let mut all = attributes;
        if let Some(ip) = ipv4 {
            all.insert("AWS_INSTANCE_IPV4".into(), ip.to_string());
        }
        if let Some(port) = port {
            all.insert("AWS_INSTANCE_PORT".into(), port.to_string());
        }
        crate::ops::instances::register_instance(self, registry_arn, instance_id, all, None).await
    }

    /// Deregisters an ECS task; `Ok(None)` when it was not registered (a task stopping twice is not an error).
    pub async fn deregister_task_instance(
        &self,
        registry_arn: &str,
        instance_id: &str,
    ) -> Result<Option<String>, DiscoveryError> {
        match crate::ops::instances::deregister_instance(self, registry_arn, instance_id).await {
            Ok(op) => Ok(Some(op)),
            Err(e) if e.exception == "InstanceNotFound" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets a task's custom health status (the service must have HealthCheckCustomConfig, as ECS requires for
    /// health-checked registries); takes effect in DNS at once.
    pub async fn set_health(&self, registry_arn: &str, instance_id: &str, healthy: bool) -> Result<(), DiscoveryError> {
        let health = if healthy { records::Health::Healthy } else { records::Health::Unhealthy };
        crate::ops::instances::set_custom_health(self, registry_arn, instance_id, health).await
    }

    /// What the ECS service controller needs to know of a registry (a Cloud Map service, by ARN or id): `None` when
    /// there is none.
    pub fn registry_facts(&self, registry_arn: &str) -> Option<RegistryFacts> {
        let state = self.index.read();
        let service = crate::ops::services::find(&state, registry_arn).ok()?;
        let kinds = service.dns.as_ref().map(|d| d.records.iter().map(|(k, _)| *k).collect()).unwrap_or_default();
        Some(RegistryFacts {
            arn: service.arn.clone(),
            record_kinds: kinds,
            custom_health: service.custom_health,
            instances: state.instances_of(&service.id).map(|i| (i.id.clone(), i.attributes.clone())).collect(),
            namespace_arn: state.namespaces.get(&service.namespace_id).map(|n| n.arn.clone()).unwrap_or_default(),
        })
    }

    /// The ARN of the namespace a name or ARN names (as ECS's `namespace` parameters take either); `None` when there
    /// is none. A name matches without regard to case.
    pub fn namespace_arn(&self, name_or_arn: &str) -> Option<String> {
        let state = self.index.read();
        if name_or_arn.starts_with("arn:") {
            return state.namespaces.values().find(|n| n.arn == name_or_arn).map(|n| n.arn.clone());
        }
        let mut named = state.namespaces.values().filter(|n| n.name.eq_ignore_ascii_case(name_or_arn));
        named.next().map(|n| n.arn.clone())
    }

    /// An ARN of this service's region and account.
    pub(crate) fn arn(&self, resource: &str) -> String {
        format!("arn:aws:servicediscovery:{}:{}:{resource}", self.config.region, self.config.account_id)
    }

    /// Commits a write (the caller holds [`Discovery::writes`]) and waits until the index has applied it. A
    /// conflict means another writer changed a record under this one: the caller's request fails and may be retried.
    pub(crate) async fn commit(&self, txn: Txn) -> Result<i64, DiscoveryError> {
        match records::commit(&self.store, txn).await? {
            Some(revision) => {
                self.index.wait_for(revision).await;
                Ok(revision)
            }
            None => Err(DiscoveryError::invalid("A concurrent change conflicted with this request; retry it.")),
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        if let Some(task) = self.follower.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}
