//! The in-memory index of every Cloud Map record, fed by the store's watch: the API's reads and the DNS server's
//! answers come from here, never from a scan of the store per request. Names change only when a namespace or a
//! service does; an instance's registration, deregistration or health change is one map update, so the DNS server
//! sees it as soon as the watch delivers the write (milliseconds).

use crate::records::{self, InstanceRecord, NamespaceKind, NamespaceRecord, OperationRecord, ServiceRecord};
use berth_store::{Event, EventKind, KeyValue, SharedStore, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

/// The DNS names the namespaces and services define, lowercase and without the final dot.
#[derive(Debug, Default)]
pub struct DnsNames {
    /// Private DNS namespace names (zone apexes) to namespace ids.
    pub zones: HashMap<String, String>,
    /// `<service>.<namespace>` to service ids (services with DNS records).
    pub services: HashMap<String, String>,
    /// Names strictly between a zone apex and a service name (`_tcp.example.local` for `_web._tcp`): they
    /// exist, with no records (NODATA rather than NXDOMAIN).
    pub interior: HashSet<String>,
}

impl DnsNames {
    fn build(namespaces: &BTreeMap<String, NamespaceRecord>, services: &BTreeMap<String, ServiceRecord>) -> Self {
        let mut names = DnsNames::default();
        for ns in namespaces.values().filter(|n| n.kind == NamespaceKind::DnsPrivate) {
            names.zones.insert(normalize(&ns.name), ns.id.clone());
        }
        for service in services.values().filter(|s| s.dns.is_some()) {
            let Some(ns) = namespaces.get(&service.namespace_id) else { continue };
            if ns.kind != NamespaceKind::DnsPrivate {
                continue;
            }
            let zone = normalize(&ns.name);
            let fqdn = format!("{}.{zone}", normalize(&service.name));
            let mut parent = fqdn.as_str();
            while let Some((_, rest)) = parent.split_once('.') {
                if rest.len() <= zone.len() {
                    break;
                }
                names.interior.insert(rest.to_string());
                parent = rest;
            }
            names.services.insert(fqdn, service.id.clone());
        }
        names
    }

    /// The zone (namespace id and apex) a name falls in: the longest apex it ends with.
    pub fn zone_of<'a>(&'a self, name: &str) -> Option<(&'a str, &'a str)> {
        let mut candidate = name;
        loop {
            if let Some((apex, id)) = self.zones.get_key_value(candidate) {
                return Some((id.as_str(), apex.as_str()));
            }
            candidate = candidate.split_once('.')?.1;
        }
    }
}

/// A DNS name as the index keys it: lowercase, without the final dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Everything the index holds, at one revision.
#[derive(Debug, Default)]
pub struct State {
    /// The store revision applied.
    pub revision: i64,
    /// Namespaces by id.
    pub namespaces: BTreeMap<String, NamespaceRecord>,
    /// Services by id.
    pub services: BTreeMap<String, ServiceRecord>,
    /// Instances by service id, then instance id.
    pub instances: BTreeMap<String, BTreeMap<String, InstanceRecord>>,
    /// The revision of the last change to each service's instances (DiscoverInstances' InstancesRevision).
    pub instances_revision: HashMap<String, i64>,
    /// Operations by id.
    pub operations: BTreeMap<String, OperationRecord>,
    /// The DNS names.
    pub dns: DnsNames,
}

impl State {
    /// A service's instances (none if it has none).
    pub fn instances_of(&self, service_id: &str) -> impl Iterator<Item = &InstanceRecord> {
        self.instances.get(service_id).into_iter().flat_map(|m| m.values())
    }

    /// How many services a namespace holds.
    pub fn service_count(&self, namespace_id: &str) -> usize {
        self.services.values().filter(|s| s.namespace_id == namespace_id).count()
    }

    fn put(&mut self, kv: &KeyValue) -> Result<bool, serde_json::Error> {
        let key = kv.key.as_str();
        if key.starts_with(records::NAMESPACES) {
            let ns: NamespaceRecord = serde_json::from_slice(&kv.value)?;
            self.namespaces.insert(ns.id.clone(), ns);
            return Ok(true);
        }
        if key.starts_with(records::SERVICES) {
            let service: ServiceRecord = serde_json::from_slice(&kv.value)?;
            self.instances_revision.entry(service.id.clone()).or_insert(kv.mod_revision);
            self.services.insert(service.id.clone(), service);
            return Ok(true);
        }
        if key.starts_with(records::INSTANCES) {
            let instance: InstanceRecord = serde_json::from_slice(&kv.value)?;
            let revision = self.instances_revision.entry(instance.service_id.clone()).or_default();
            *revision = (*revision).max(kv.mod_revision);
            self.instances.entry(instance.service_id.clone()).or_default().insert(instance.id.clone(), instance);
            return Ok(false);
        }
        if key.starts_with(records::OPERATIONS) {
            let op: OperationRecord = serde_json::from_slice(&kv.value)?;
            self.operations.insert(op.id.clone(), op);
        }
        Ok(false)
    }

    fn delete(&mut self, key: &str, revision: i64) -> bool {
        if let Some(id) = key.strip_prefix(records::NAMESPACES) {
            return self.namespaces.remove(id).is_some();
        }
        if let Some(id) = key.strip_prefix(records::SERVICES) {
            self.instances_revision.remove(id);
            return self.services.remove(id).is_some();
        }
        if let Some(rest) = key.strip_prefix(records::INSTANCES) {
            if let Some((service, encoded)) = rest.split_once('/') {
                let id = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
                if let Some(map) = self.instances.get_mut(service) {
                    map.remove(id.as_ref());
                    if map.is_empty() {
                        self.instances.remove(service);
                    }
                }
                if self.services.contains_key(service) {
                    self.instances_revision.insert(service.to_string(), revision);
                }
            }
            return false;
        }
        if let Some(id) = key.strip_prefix(records::OPERATIONS) {
            self.operations.remove(id);
        }
        false
    }
}

/// The index: the state behind a lock, and the revision it has applied as a watch.
pub struct Index {
    state: RwLock<State>,
    applied: tokio::sync::watch::Sender<i64>,
}

impl Default for Index {
    fn default() -> Self {
        Self::new()
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self { state: RwLock::new(State::default()), applied: tokio::sync::watch::Sender::new(0) }
    }

    /// Reads the state.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the state with a listing at `revision`.
    pub fn reset(&self, kvs: &[KeyValue], revision: i64) {
        let mut state = State { revision, ..State::default() };
        for kv in kvs {
            if let Err(error) = state.put(kv) {
                tracing::warn!(key = %kv.key, %error, "servicediscovery: unreadable record left out");
            }
        }
        state.dns = DnsNames::build(&state.namespaces, &state.services);
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = state;
        self.applied.send_replace(revision);
    }

    /// Applies one committed transaction's events.
    pub fn apply(&self, revision: i64, events: &[Event]) {
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            let mut names_changed = false;
            for event in events {
                match event.kind {
                    EventKind::Put => match state.put(&event.kv) {
                        Ok(changed) => names_changed |= changed,
                        Err(error) => {
                            tracing::warn!(key = %event.kv.key, %error, "servicediscovery: unreadable record left out")
                        }
                    },
                    EventKind::Delete => names_changed |= state.delete(&event.kv.key, revision),
                }
            }
            if names_changed {
                state.dns = DnsNames::build(&state.namespaces, &state.services);
            }
            state.revision = state.revision.max(revision);
        }
        self.applied.send_replace(revision);
    }

    /// Waits until the index has applied `revision` (bounded: a stuck watch must not hang requests forever).
    pub async fn wait_for(&self, revision: i64) {
        let mut rx = self.applied.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|r| *r >= revision)).await;
    }

    /// Lists the records and follows the store from there, re-listing when the watch is compacted. Returns when
    /// the store closes.
    pub async fn follow(&self, store: SharedStore, mut listed: Option<i64>) {
        loop {
            let from = match listed.take() {
                Some(revision) => revision,
                None => match store.range(records::PREFIX).await {
                    Ok(range) => {
                        self.reset(&range.kvs, range.revision);
                        range.revision
                    }
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "servicediscovery index: listing failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            let mut watch = match store.watch(records::PREFIX, from) {
                Ok(w) => w,
                Err(StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "servicediscovery index: watch failed; re-listing");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            loop {
                match watch.next().await {
                    Ok((revision, events)) => self.apply(revision, &events),
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        tracing::info!(error = %e, "servicediscovery index: watch interrupted; re-listing");
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{DnsSettings, RecordKind, Routing, SCHEMA};

    fn ns(id: &str, name: &str, kind: NamespaceKind) -> NamespaceRecord {
        NamespaceRecord {
            schema: SCHEMA,
            id: id.into(),
            arn: format!("arn:{id}"),
            name: name.into(),
            kind,
            description: None,
            vpc: None,
            soa_ttl: Some(15),
            created: 0.0,
            creator_request_id: None,
            operation_id: "op".into(),
            tags: BTreeMap::new(),
        }
    }

    fn service(id: &str, name: &str, ns: &str, dns: bool) -> ServiceRecord {
        ServiceRecord {
            schema: SCHEMA,
            id: id.into(),
            arn: format!("arn:{id}"),
            name: name.into(),
            namespace_id: ns.into(),
            description: None,
            dns: dns.then(|| DnsSettings { routing: Routing::Multivalue, records: vec![(RecordKind::A, 10)] }),
            custom_health: false,
            created: 0.0,
            creator_request_id: None,
            tags: BTreeMap::new(),
            attributes: BTreeMap::new(),
        }
    }

    fn kv(key: String, value: Vec<u8>, revision: i64) -> KeyValue {
        KeyValue { key, value, create_revision: revision, mod_revision: revision }
    }

    #[test]
    fn names_come_from_dns_namespaces_and_their_dns_services_only() {
        let mut namespaces = BTreeMap::new();
        namespaces.insert("ns-a".into(), ns("ns-a", "Corp.Local.", NamespaceKind::DnsPrivate));
        namespaces.insert("ns-h".into(), ns("ns-h", "api", NamespaceKind::Http));
        let mut services = BTreeMap::new();
        services.insert("srv-1".into(), service("srv-1", "_Web._tcp", "ns-a", true));
        services.insert("srv-2".into(), service("srv-2", "backend", "ns-a", false));
        services.insert("srv-3".into(), service("srv-3", "x", "ns-h", true));
        let names = DnsNames::build(&namespaces, &services);
        assert_eq!(names.zones.keys().collect::<Vec<_>>(), vec!["corp.local"]);
        assert_eq!(names.services.get("_web._tcp.corp.local").map(String::as_str), Some("srv-1"));
        assert_eq!(names.services.len(), 1, "API-only services and HTTP namespaces have no names");
        assert!(names.interior.contains("_tcp.corp.local"));
        assert!(!names.interior.contains("corp.local"));
        assert_eq!(names.zone_of("a.b.corp.local"), Some(("ns-a", "corp.local")));
        assert_eq!(names.zone_of("corp.local"), Some(("ns-a", "corp.local")));
        assert_eq!(names.zone_of("example.com"), None);
    }

    #[test]
    fn watch_events_update_instances_and_their_revision() {
        let index = Index::new();
        let ns = ns("ns-a", "corp.local", NamespaceKind::DnsPrivate);
        let srv = service("srv-1", "web", "ns-a", true);
        index.reset(
            &[
                kv(records::namespace_key("ns-a"), serde_json::to_vec(&ns).unwrap(), 2),
                kv(records::service_key("srv-1"), serde_json::to_vec(&srv).unwrap(), 3),
                kv(records::namespace_key("ns-bad"), b"{not json".to_vec(), 3),
            ],
            3,
        );
        assert_eq!(index.read().dns.services.get("web.corp.local").map(String::as_str), Some("srv-1"));
        let instance = InstanceRecord {
            schema: SCHEMA,
            service_id: "srv-1".into(),
            id: "a/b".into(),
            attributes: BTreeMap::new(),
            health: None,
            creator_request_id: None,
            operation_id: "op".into(),
            created: 0.0,
        };
        let key = records::instance_key("srv-1", "a/b");
        index.apply(
            5,
            &[Event { kind: EventKind::Put, kv: kv(key.clone(), serde_json::to_vec(&instance).unwrap(), 5) }],
        );
        assert_eq!(index.read().instances_of("srv-1").count(), 1);
        assert_eq!(index.read().instances_revision.get("srv-1"), Some(&5));
        index.apply(7, &[Event { kind: EventKind::Delete, kv: kv(key, Vec::new(), 7) }]);
        assert_eq!(index.read().instances_of("srv-1").count(), 0);
        assert_eq!(index.read().instances_revision.get("srv-1"), Some(&7));
        index.apply(8, &[Event { kind: EventKind::Delete, kv: kv(records::service_key("srv-1"), Vec::new(), 8) }]);
        assert!(index.read().dns.services.is_empty(), "a deleted service's name goes at once");
    }
}
