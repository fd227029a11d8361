//! The control plane's in-memory view of the store, fed by a watch (an informer).
//!
//! Reads (Describe*, List*, placement) work from this cache and never scan the database. Writers commit to the
//! store and then [`Cache::wait_for`] the cache to reach their revision, which gives read-your-writes. The cache
//! lists `/ecs/` at revision R, then watches from R; if the watch falls too far behind it lists again.
//!
//! A record that does not decode is *quarantined*, never treated as absent: it is named in the log and listed in
//! [`State::quarantined`], its last good version (if the cache had one) stays in place, and the raw bytes stay
//! untouched in the store. Readers that would act on absence (agents' desired state, the liveness controller, the
//! service scheduler, Describe*) consult the quarantine and hold back instead.

use crate::daemons::records::{DaemonFamilyRecord, DaemonRecord, DaemonTaskDefinitionRecord, keys as daemon_keys};
use crate::live_placement::SharedCluster;
use crate::records::{
    AccountSettingRecord, CapacityProviderRecord, ClientTokenRecord, ClusterRecord, FamilyRecord, InstanceRecord,
    ServiceRecord, TaskDefinitionRecord, TaskRecord, keys,
};
use crate::stored::StoredRecord;
use berth_store::{Event, EventKind, KeyValue, ProgressRequester, SharedStore, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;
use tokio::sync::watch;

/// A record with the store revision that last wrote it (for compare-and-swap).
#[derive(Debug)]
pub struct Versioned<T> {
    /// The key's `mod_revision`.
    pub mod_revision: i64,
    /// The decoded record.
    pub record: Arc<T>,
}

impl<T> Clone for Versioned<T> {
    fn clone(&self) -> Self {
        Self { mod_revision: self.mod_revision, record: self.record.clone() }
    }
}

/// A record that does not decode, kept aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// The store key.
    pub key: String,
    /// The revision that wrote the unreadable value.
    pub mod_revision: i64,
    /// The decoder's error.
    pub error: String,
}

/// Everything the cache holds, at one store revision.
#[derive(Debug, Default)]
pub struct State {
    /// Records that do not decode, by store key.
    pub quarantined: BTreeMap<String, Quarantined>,
    /// The store revision the state reflects.
    pub revision: i64,
    /// Clusters by name.
    pub clusters: BTreeMap<String, Versioned<ClusterRecord>>,
    /// Families by name.
    pub families: BTreeMap<String, Versioned<FamilyRecord>>,
    /// Task definitions by (family, revision).
    pub task_definitions: BTreeMap<(String, i32), Versioned<TaskDefinitionRecord>>,
    /// Tasks by (cluster, id).
    pub tasks: BTreeMap<(String, String), Versioned<TaskRecord>>,
    /// Container instances by (cluster, id).
    pub instances: BTreeMap<(String, String), Versioned<InstanceRecord>>,
    /// Idempotency records by store key.
    pub tokens: BTreeMap<String, Versioned<ClientTokenRecord>>,
    /// Services by (cluster, name).
    pub services: BTreeMap<(String, String), Versioned<ServiceRecord>>,
    /// Capacity providers (node group ones) by name.
    pub capacity_providers: BTreeMap<String, Versioned<CapacityProviderRecord>>,
    /// Daemon task definition families by name.
    pub daemon_families: BTreeMap<String, Versioned<DaemonFamilyRecord>>,
    /// Daemon task definitions by (family, revision).
    pub daemon_task_definitions: BTreeMap<(String, i32), Versioned<DaemonTaskDefinitionRecord>>,
    /// Daemons by (cluster, name).
    pub daemons: BTreeMap<(String, String), Versioned<DaemonRecord>>,
    /// Explicit account settings by (setting name, principal ARN).
    pub account_settings: BTreeMap<(String, String), Versioned<AccountSettingRecord>>,
    /// Task keys by container instance id.
    pub tasks_by_instance: HashMap<String, BTreeSet<(String, String)>>,
    /// Task keys by (cluster, group).
    pub tasks_by_group: HashMap<(String, String), BTreeSet<(String, String)>>,
    /// The live placement state of each cluster with container instances (see [`crate::live_placement`]).
    pub placement: HashMap<String, SharedCluster>,
    /// The instances that route VPC traffic (ACTIVE or DRAINING, with a VPC slot and a host address), by
    /// (cluster, id): what every agent's host network is computed from ([`crate::host_routes::host_network`]),
    /// kept here so that a desired state does not walk every instance of every cluster.
    pub vpc_hosts: BTreeMap<(String, String), crate::host_routes::VpcHost>,
    /// The instances (cluster, id) touched by the events applied since the placement state was last brought up
    /// to date.
    dirty: BTreeSet<(String, String)>,
    /// Instance records written (put or deleted) in this batch of events.
    instances_written: Vec<(String, String)>,
    /// The instance records written at each revision, oldest first, for at most [`INSTANCE_WRITES_KEPT`] writes
    /// (so a controller looks at the instances that changed, not at every instance).
    pub instance_writes: VecDeque<(i64, (String, String))>,
    /// Writes at or before this revision are not all in [`State::instance_writes`] (the list started there, or
    /// older entries were dropped).
    pub instance_writes_floor: i64,
}

/// How many instance record writes [`State::instance_writes`] keeps.
pub const INSTANCE_WRITES_KEPT: usize = 65_536;

enum Kind {
    Cluster(String),
    Family(String),
    TaskDefinition(String, i32),
    Task(String, String),
    Instance(String, String),
    Service(String, String),
    Token,
    AccountSetting(String, String),
    CapacityProvider(String),
    DaemonFamily(String),
    DaemonTaskDefinition(String, i32),
    Daemon(String, String),
}

fn classify(key: &str) -> Option<Kind> {
    if let Some(name) = key.strip_prefix(keys::CLUSTERS) {
        return Some(Kind::Cluster(name.to_string()));
    }
    if let Some(name) = key.strip_prefix(keys::FAMILIES) {
        return Some(Kind::Family(name.to_string()));
    }
    if let Some(rest) = key.strip_prefix(keys::TASK_DEFINITIONS) {
        let (family, revision) = rest.rsplit_once('/')?;
        return Some(Kind::TaskDefinition(family.to_string(), revision.parse().ok()?));
    }
    if let Some(rest) = key.strip_prefix(keys::TASKS) {
        let (cluster, id) = rest.split_once('/')?;
        return Some(Kind::Task(cluster.to_string(), id.to_string()));
    }
    if let Some(rest) = key.strip_prefix(keys::INSTANCES) {
        let (cluster, id) = rest.split_once('/')?;
        return Some(Kind::Instance(cluster.to_string(), id.to_string()));
    }
    if let Some(rest) = key.strip_prefix(keys::SERVICES) {
        let (cluster, name) = rest.split_once('/')?;
        return Some(Kind::Service(cluster.to_string(), name.to_string()));
    }
    if let Some(rest) = key.strip_prefix(keys::ACCOUNT_SETTINGS) {
        let (name, principal) = rest.split_once('/')?;
        return Some(Kind::AccountSetting(name.to_string(), principal.to_string()));
    }
    if let Some(name) = key.strip_prefix(daemon_keys::FAMILIES) {
        return Some(Kind::DaemonFamily(name.to_string()));
    }
    if let Some(rest) = key.strip_prefix(daemon_keys::TASK_DEFINITIONS) {
        let (family, revision) = rest.rsplit_once('/')?;
        return Some(Kind::DaemonTaskDefinition(family.to_string(), revision.parse().ok()?));
    }
    if let Some(rest) = key.strip_prefix(daemon_keys::DAEMONS) {
        let (cluster, name) = rest.split_once('/')?;
        return Some(Kind::Daemon(cluster.to_string(), name.to_string()));
    }
    if let Some(name) = key.strip_prefix(keys::CAPACITY_PROVIDERS) {
        return Some(Kind::CapacityProvider(name.to_string()));
    }
    if key.starts_with(keys::TOKENS) {
        return Some(Kind::Token);
    }
    None
}

/// What an event means for one cached record.
enum Change<T> {
    /// The record is now this.
    Set(Versioned<T>),
    /// The record is gone.
    Remove,
    /// The new value does not decode: keep whatever the cache had.
    Keep,
}

/// Decodes a record; a value that does not decode is quarantined (logged once per revision) and reported as
/// [`Change::Keep`].
fn change<T: StoredRecord>(
    quarantined: &mut BTreeMap<String, Quarantined>,
    kind: EventKind,
    kv: &KeyValue,
) -> Change<T> {
    if kind == EventKind::Delete {
        quarantined.remove(&kv.key);
        return Change::Remove;
    }
    match crate::stored::decode(&kv.value) {
        Ok(record) => {
            if quarantined.remove(&kv.key).is_some() {
                tracing::info!(key = %kv.key, "a quarantined record was rewritten and reads again");
            }
            Change::Set(Versioned { mod_revision: kv.mod_revision, record: Arc::new(record) })
        }
        Err(error) => {
            tracing::error!(
                key = %kv.key,
                revision = kv.mod_revision,
                %error,
                "QUARANTINED an unreadable record: it is kept aside (its bytes untouched in the store) and never \
                 treated as absent; see `berth admin quarantine`"
            );
            quarantined.insert(
                kv.key.clone(),
                Quarantined { key: kv.key.clone(), mod_revision: kv.mod_revision, error: error.to_string() },
            );
            Change::Keep
        }
    }
}

/// Checks that a stored value decodes as the record its key names (for `berth admin quarantine`, offline).
/// Keys outside the ECS records are checked as JSON.
pub fn check_record(key: &str, value: &[u8]) -> std::result::Result<(), String> {
    fn check<T: StoredRecord>(value: &[u8]) -> std::result::Result<(), String> {
        crate::stored::decode::<T>(value).map(|_| ())
    }
    match classify(key) {
        Some(Kind::Cluster(_)) => check::<ClusterRecord>(value),
        Some(Kind::Family(_)) => check::<FamilyRecord>(value),
        Some(Kind::TaskDefinition(..)) => check::<TaskDefinitionRecord>(value),
        Some(Kind::Task(..)) => check::<TaskRecord>(value),
        Some(Kind::Instance(..)) => check::<InstanceRecord>(value),
        Some(Kind::Service(..)) => check::<ServiceRecord>(value),
        Some(Kind::Token) => check::<ClientTokenRecord>(value),
        Some(Kind::AccountSetting(..)) => check::<AccountSettingRecord>(value),
        Some(Kind::CapacityProvider(_)) => check::<CapacityProviderRecord>(value),
        Some(Kind::DaemonFamily(_)) => check::<DaemonFamilyRecord>(value),
        Some(Kind::DaemonTaskDefinition(..)) => check::<DaemonTaskDefinitionRecord>(value),
        Some(Kind::Daemon(..)) => check::<DaemonRecord>(value),
        None => serde_json::from_slice::<serde_json::Value>(value).map(|_| ()).map_err(|e| e.to_string()),
    }
}

fn update<K: Ord, T: StoredRecord>(
    map: &mut BTreeMap<K, Versioned<T>>,
    quarantined: &mut BTreeMap<String, Quarantined>,
    key: K,
    kind: EventKind,
    kv: &KeyValue,
) {
    match change(quarantined, kind, kv) {
        Change::Set(v) => {
            map.insert(key, v);
        }
        Change::Remove => {
            map.remove(&key);
        }
        Change::Keep => {}
    }
}

impl State {
    /// Applies one stored change (a put or a delete of one key) to the state.
    pub(crate) fn apply(&mut self, kind: EventKind, kv: &KeyValue) {
        let Some(class) = classify(&kv.key) else { return };
        let q = &mut self.quarantined;
        match class {
            Kind::Cluster(name) => update(&mut self.clusters, q, name, kind, kv),
            Kind::Family(name) => update(&mut self.families, q, name, kind, kv),
            Kind::TaskDefinition(f, r) => update(&mut self.task_definitions, q, (f, r), kind, kv),
            Kind::Instance(c, i) => {
                self.dirty.insert((c.clone(), i.clone()));
                self.instances_written.push((c.clone(), i.clone()));
                update(&mut self.instances, q, (c, i), kind, kv)
            }
            Kind::Token => update(&mut self.tokens, q, kv.key.clone(), kind, kv),
            Kind::Service(c, n) => update(&mut self.services, q, (c, n), kind, kv),
            Kind::AccountSetting(n, p) => update(&mut self.account_settings, q, (n, p), kind, kv),
            Kind::CapacityProvider(n) => update(&mut self.capacity_providers, q, n, kind, kv),
            Kind::DaemonFamily(n) => update(&mut self.daemon_families, q, n, kind, kv),
            Kind::DaemonTaskDefinition(f, r) => update(&mut self.daemon_task_definitions, q, (f, r), kind, kv),
            Kind::Daemon(c, n) => update(&mut self.daemons, q, (c, n), kind, kv),
            Kind::Task(c, i) => {
                let key = (c, i);
                let new: Option<Versioned<TaskRecord>> = match change(q, kind, kv) {
                    Change::Set(v) => Some(v),
                    Change::Remove => None,
                    Change::Keep => return,
                };
                if let Some(old) = self.tasks.get(&key) {
                    if let Some(failure) =
                        new.as_ref().and_then(|n| crate::task_failures::newly_failed(&old.record, &n.record))
                    {
                        crate::task_failures::log(&failure);
                    }
                    self.dirty.insert(old.record.instance_key());
                    if let Some(set) = self.tasks_by_instance.get_mut(&old.record.instance_id) {
                        set.remove(&key);
                    }
                    if let Some(group) = &old.record.group
                        && let Some(set) = self.tasks_by_group.get_mut(&(old.record.cluster.clone(), group.clone()))
                    {
                        set.remove(&key);
                    }
                }
                if let Some(task) = &new {
                    self.dirty.insert(task.record.instance_key());
                    self.tasks_by_instance.entry(task.record.instance_id.clone()).or_default().insert(key.clone());
                    if let Some(group) = &task.record.group {
                        self.tasks_by_group
                            .entry((task.record.cluster.clone(), group.clone()))
                            .or_default()
                            .insert(key.clone());
                    }
                }
                upsert(&mut self.tasks, key, new);
            }
        }
    }

    /// Brings [`State::vpc_hosts`] up to date with instance `(cluster, id)`'s record.
    pub(crate) fn index_vpc_host(&mut self, cluster: &str, id: &str) {
        let key = (cluster.to_string(), id.to_string());
        match self.instances.get(&key).and_then(|v| crate::host_routes::VpcHost::of(&v.record)) {
            Some(host) => {
                self.vpc_hosts.insert(key, host);
            }
            None => {
                self.vpc_hosts.remove(&key);
            }
        }
    }

    /// Brings the live placement state up to date with the instances the applied events touched: each is
    /// recomputed from its record and its tasks ([`crate::placement::record_instance`]), or removed when its record
    /// is gone or `INACTIVE`. Called after each batch of events.
    pub(crate) fn refresh_placement(&mut self) -> Vec<String> {
        let dirty = std::mem::take(&mut self.dirty);
        let touched = dirty.iter().map(|(_, id)| id.clone()).collect();
        for (cluster, id) in dirty {
            self.index_vpc_host(&cluster, &id);
            let record = self.instances.get(&(cluster.clone(), id.clone()));
            let live = match (record, self.placement.get(&cluster)) {
                (_, Some(live)) => live.clone(),
                (None, None) => continue,
                (Some(_), None) => self.placement.entry(cluster.clone()).or_default().clone(),
            };
            let view = match record {
                Some(v) if v.record.status != crate::status::InstanceStatus::Inactive => {
                    Some((crate::placement::record_instance(self, &v.record), v.mod_revision, v.record.fargate))
                }
                _ => None,
            };
            {
                let mut live = crate::live_placement::lock(&live);
                match &view {
                    Some((instance, revision, _)) => live.put(instance.clone(), *revision),
                    None => live.remove(&id),
                }
            }
            // An instance of a cluster that also serves Fargate is in the Fargate pool's state too.
            if cluster != crate::tasks::fargate::POOL {
                let pool = crate::tasks::fargate::POOL;
                match view {
                    Some((instance, revision, true)) => {
                        let live = self.placement.entry(pool.to_string()).or_default().clone();
                        crate::live_placement::lock(&live).put(instance, revision);
                    }
                    _ => {
                        if let Some(live) = self.placement.get(pool) {
                            crate::live_placement::lock(live).remove(&id);
                        }
                    }
                }
            }
        }
        touched
    }

    /// Files this batch's instance writes under `revision`, keeping the last [`INSTANCE_WRITES_KEPT`].
    pub(crate) fn log_instance_writes(&mut self, revision: i64) {
        for key in std::mem::take(&mut self.instances_written) {
            self.instance_writes.push_back((revision, key));
        }
        while self.instance_writes.len() > INSTANCE_WRITES_KEPT {
            if let Some((r, _)) = self.instance_writes.pop_front() {
                self.instance_writes_floor = self.instance_writes_floor.max(r);
            }
        }
    }

    /// The instances whose records were written after revision `after` (each once), or `None` when the list does
    /// not reach back that far.
    pub fn instances_written_after(&self, after: i64) -> Option<BTreeSet<(String, String)>> {
        if after < self.instance_writes_floor {
            return None;
        }
        let start = self.instance_writes.partition_point(|(r, _)| *r <= after);
        Some(self.instance_writes.range(start..).map(|(_, key)| key.clone()).collect())
    }

    /// The live placement state of a cluster (`None` when no instance ever registered in it).
    pub fn placement_state(&self, cluster: &str) -> Option<&SharedCluster> {
        self.placement.get(cluster)
    }

    /// Whether the record under a store key is quarantined.
    pub fn is_quarantined(&self, key: &str) -> bool {
        self.quarantined.contains_key(key)
    }

    /// The quarantined records whose keys start with `prefix`.
    pub fn quarantined_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Quarantined> + 'a {
        self.quarantined.range(prefix.to_string()..).take_while(move |(k, _)| k.starts_with(prefix)).map(|(_, q)| q)
    }

    /// The ids of the tasks of a cluster whose records are quarantined (they may be on any of its instances).
    pub fn quarantined_task_ids<'a>(&'a self, cluster: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = keys::task(cluster, "");
        let len = prefix.len();
        self.quarantined
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(move |(k, _)| &k[len..])
    }

    /// Why the scheduler and the liveness controller must hold back in a cluster: the quarantined task and
    /// instance records in it (empty when nothing is quarantined there).
    pub fn cluster_hold(&self, cluster: &str) -> Vec<String> {
        let tasks = keys::task(cluster, "");
        let instances = keys::instance(cluster, "");
        self.quarantined_under(&tasks).chain(self.quarantined_under(&instances)).map(|q| q.key.clone()).collect()
    }

    /// The tasks of a task group (`service:NAME`, `family:NAME` ...) in a cluster.
    pub fn tasks_in_group<'a>(
        &'a self,
        cluster: &str,
        group: &str,
    ) -> impl Iterator<Item = &'a Versioned<TaskRecord>> + 'a {
        self.tasks_by_group
            .get(&(cluster.to_string(), group.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|key| self.tasks.get(key))
    }

    /// The tasks placed on a container instance.
    pub fn tasks_on_instance<'a>(&'a self, instance_id: &str) -> impl Iterator<Item = &'a Versioned<TaskRecord>> + 'a {
        self.tasks_by_instance.get(instance_id).into_iter().flatten().filter_map(|key| self.tasks.get(key))
    }
}

fn upsert<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: Option<V>) {
    match value {
        Some(value) => {
            map.insert(key, value);
        }
        None => {
            map.remove(&key);
        }
    }
}

thread_local! {
    /// How many read guards of a cache this thread holds (see [`Cache::read`]).
    static READ_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A read lock on the cache's [`State`] (dereferences to it).
pub struct ReadGuard<'a> {
    guard: RwLockReadGuard<'a, State>,
}

impl std::ops::Deref for ReadGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        READ_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// The cache: a [`State`] behind a lock, and the revision it has reached.
pub struct Cache {
    state: RwLock<State>,
    revision: watch::Sender<i64>,
    /// Per container instance id with a subscriber: the last revision that touched the instance (its record or
    /// one of its tasks), so that an agent's stream wakes for its own instance, not for every write.
    instances: Mutex<HashMap<String, watch::Sender<i64>>>,
    /// The store revision the cache is known to be current through: its own revision, or past it when the watch
    /// reported that no change under the ECS prefix lies between (writes under other prefixes move the store's
    /// revision too). Linearizable reads wait on it ([`Cache::catch_up_to`]).
    current_through: watch::Sender<i64>,
    /// Asks the current watch for such a report.
    progress: Mutex<ProgressRequester>,
}

impl Cache {
    /// Lists the store, then follows it in a background task until the store closes.
    pub async fn start(store: SharedStore) -> Result<Arc<Self>, StoreError> {
        let (revision, _) = watch::channel(0);
        let (current_through, _) = watch::channel(0);
        let cache = Arc::new(Self {
            state: RwLock::new(State::default()),
            revision,
            instances: Mutex::default(),
            current_through,
            progress: Mutex::default(),
        });
        let after = cache.relist(&store).await?;
        let runner = cache.clone();
        tokio::spawn(async move { runner.follow(store, after).await });
        Ok(cache)
    }

    async fn relist(&self, store: &SharedStore) -> Result<i64, StoreError> {
        let range = store.range(keys::ECS).await?;
        let mut state = State { revision: range.revision, instance_writes_floor: range.revision, ..State::default() };
        for kv in &range.kvs {
            state.apply(EventKind::Put, kv);
        }
        state.instances_written.clear();
        state.refresh_placement();
        *self.write() = state;
        self.revision.send_replace(range.revision);
        self.note_current_through(range.revision);
        self.notify(None, range.revision);
        Ok(range.revision)
    }

    async fn follow(self: Arc<Self>, store: SharedStore, mut after: i64) {
        loop {
            let mut watch = match store.watch(keys::ECS, after) {
                Ok(watch) => watch,
                Err(error) => {
                    tracing::warn!(%error, "cache watch failed to start; re-listing");
                    after = self.relist_with_retry(&store).await;
                    continue;
                }
            };
            *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = watch.progress_requester();
            loop {
                match watch.next().await {
                    // A progress report: no ECS change lies between the cache's revision and this one.
                    Ok((revision, events)) if events.is_empty() => self.note_current_through(revision),
                    Ok((revision, events)) => self.apply(revision, &events),
                    Err(StoreError::Closed) => return,
                    Err(error) => {
                        tracing::warn!(%error, "cache watch broke; re-listing");
                        after = self.relist_with_retry(&store).await;
                        break;
                    }
                }
            }
        }
    }

    async fn relist_with_retry(&self, store: &SharedStore) -> i64 {
        loop {
            match self.relist(store).await {
                Ok(revision) => return revision,
                Err(error) => {
                    tracing::error!(%error, "cache re-list failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    fn apply(&self, revision: i64, events: &[Event]) {
        let (touched, quarantine_changed) = {
            let mut state = self.write();
            let quarantined = |state: &State| state.quarantined.keys().cloned().collect::<Vec<_>>();
            let before = quarantined(&state);
            for event in events {
                state.apply(event.kind, &event.kv);
            }
            let touched = state.refresh_placement();
            state.log_instance_writes(revision);
            state.revision = revision;
            (touched, quarantined(&state) != before)
        };
        self.revision.send_replace(revision);
        self.note_current_through(revision);
        // Desired states list the cluster's quarantined tasks (`keep`): a change there concerns every instance.
        self.notify(if quarantine_changed { None } else { Some(&touched) }, revision);
    }

    /// Wakes the subscribers of the touched instances (`None`: of every instance).
    fn notify(&self, touched: Option<&[String]>, revision: i64) {
        let mut instances = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        match touched {
            Some(ids) => {
                for id in ids {
                    if let Some(sender) = instances.get(id) {
                        if sender.receiver_count() == 0 {
                            instances.remove(id);
                        } else {
                            sender.send_replace(revision);
                        }
                    }
                }
            }
            None => {
                instances.retain(|_, sender| sender.receiver_count() > 0);
                for sender in instances.values() {
                    sender.send_replace(revision);
                }
            }
        }
    }

    /// A receiver that changes whenever an event touches the container instance `id` (its record, one of its
    /// tasks) or the quarantine; for its agent's desired-state stream.
    pub fn subscribe_instance(&self, id: &str) -> watch::Receiver<i64> {
        let mut instances = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        instances.entry(id.to_string()).or_insert_with(|| watch::channel(self.revision()).0).subscribe()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A read lock on the state. Hold it briefly: the watch cannot apply changes meanwhile. Never take it twice on
    /// one thread: a writer queued between the two would wait for the first guard, and the second read for the
    /// writer (debug builds, and so the tests, panic when it happens; pass the `State` you hold instead).
    pub fn read(&self) -> ReadGuard<'_> {
        let held = READ_DEPTH.with(|d| d.get());
        debug_assert!(held == 0, "the cache's read lock was taken again by a thread that holds it");
        READ_DEPTH.with(|d| d.set(held + 1));
        ReadGuard { guard: self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner()) }
    }

    /// The revision the cache has reached.
    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// Waits until the cache reflects `revision` (a write's commit revision).
    pub async fn wait_for(&self, revision: i64) {
        let mut rx = self.revision.subscribe();
        // The sender lives as long as the cache, so this only ends when the revision is reached.
        let _ = rx.wait_for(|r| *r >= revision).await;
    }

    /// Waits (at most `limit`) until the cache holds every change the store committed up to `revision`, asking the
    /// watch for a progress report when the cache's own revision is short of it (the writes in between may all be
    /// under other prefixes); whether it got there.
    pub async fn catch_up_to(&self, revision: i64, limit: Duration) -> bool {
        let mut rx = self.current_through.subscribe();
        if *rx.borrow_and_update() >= revision {
            return true;
        }
        self.progress.lock().unwrap_or_else(|p| p.into_inner()).request();
        tokio::time::timeout(limit, rx.wait_for(|r| *r >= revision)).await.is_ok_and(|r| r.is_ok())
    }

    fn note_current_through(&self, revision: i64) {
        self.current_through.send_if_modified(|through| {
            let moved = revision > *through;
            *through = (*through).max(revision);
            moved
        });
    }

    /// A receiver that changes whenever the cache advances; for the agent streams.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.revision.subscribe()
    }
}
