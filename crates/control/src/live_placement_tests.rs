//! The live placement state against a fresh build from the records.

use super::*;
use crate::cache::State;
use crate::records::{AttributeRecord, InstanceRecord, Reservation, TaskRecord, keys};
use crate::status::{InstanceStatus, TaskStatus};
use berth_model::agent::AgentResources;
use berth_model::ecs::Attribute;
use berth_store::{EventKind, KeyValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CLUSTERS: [&str; 2] = ["a", "b"];

fn arn(cluster: &str, id: &str) -> String {
    format!("arn:aws:ecs:us-east-1:000000000000:container-instance/{cluster}/{id}")
}

/// Instance `n` lives in cluster a (n < 4) or b.
fn instance_key(n: usize) -> (String, String) {
    (CLUSTERS[usize::from(n >= 4)].to_string(), format!("i{n}"))
}

fn instance(n: usize, rng: &mut StdRng) -> InstanceRecord {
    let (cluster, id) = instance_key(n);
    let status = ["ACTIVE", "ACTIVE", "ACTIVE", "DRAINING", "INACTIVE", "REGISTERING"][rng.random_range(0..6)];
    let zone = ["z1", "z2"][rng.random_range(0..2)];
    let mut attributes =
        vec![Attribute { name: "ecs.availability-zone".into(), value: Some(zone.into()), ..Default::default() }];
    if rng.random_bool(0.3) {
        attributes.push(Attribute { name: HOST_PATH.into(), value: Some("/data".into()), ..Default::default() });
    }
    // Half the instances account ephemeral storage, as instances serving Fargate do.
    let storage = rng.random_bool(0.5);
    InstanceRecord {
        arn: arn(&cluster, &id),
        status: InstanceStatus::parse(status).unwrap(),
        agent_connected: rng.random_bool(0.8),
        attributes: attributes.iter().map(AttributeRecord::from_wire).collect(),
        registered_at: f64::from(rng.random_range(0..100u32)),
        cluster,
        id,
        offered: AgentResources {
            cpu: 4096,
            memory_mib: 8192,
            reserved_tcp_ports: vec![22],
            reserved_udp_ports: vec![],
            ephemeral_storage_gib: storage.then_some(200),
        },
        remaining_cpu: rng.random_range(0..4096),
        remaining_memory: rng.random_range(0..8192),
        remaining_ephemeral_storage_gib: storage.then(|| rng.random_range(0..=200)),
        task_tcp_ports: (0..rng.random_range(0..3)).map(|_| rng.random_range(8000..8004)).collect(),
        ..Default::default()
    }
}

fn task(id: &str, instance: usize, rng: &mut StdRng) -> TaskRecord {
    let (cluster, instance_id) = instance_key(instance);
    let status = [TaskStatus::Provisioning, TaskStatus::Running, TaskStatus::Stopped][rng.random_range(0..3)];
    let group = [Some("service:web"), Some("family:job"), None][rng.random_range(0..3)];
    TaskRecord {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:task/{cluster}/{id}"),
        last_status: status,
        group: group.map(str::to_string),
        cluster,
        instance_id,
        reservation: Reservation::default(),
        released: status == TaskStatus::Stopped,
        ..Default::default()
    }
}

fn kv(key: String, value: Vec<u8>, revision: i64) -> KeyValue {
    KeyValue { key, value, create_revision: revision, mod_revision: revision }
}

/// What placement saw before the live state: a state built from every non-`INACTIVE` record of the cluster.
fn fresh(state: &State, cluster: &str) -> Vec<Instance> {
    let instances = state
        .instances
        .iter()
        .filter(|((c, _), v)| c == cluster && v.record.status != InstanceStatus::Inactive)
        .map(|(_, v)| crate::placement::record_instance(state, &v.record))
        .collect();
    ClusterState::new(instances).instances()
}

fn live(state: &State, cluster: &str) -> Vec<Instance> {
    state.placement.get(cluster).map(|l| l.instances()).unwrap_or_default()
}

fn random_event(state: &State, revision: i64, rng: &mut StdRng) -> (EventKind, KeyValue) {
    let n = rng.random_range(0..8);
    match rng.random_range(0..10) {
        0..=2 => {
            let record = instance(n, rng);
            let key = keys::instance(&record.cluster, &record.id);
            (EventKind::Put, kv(key, crate::stored::encode(&record).unwrap(), revision))
        }
        3 => {
            let (cluster, id) = instance_key(n);
            (EventKind::Delete, kv(keys::instance(&cluster, &id), Vec::new(), revision))
        }
        4..=8 => {
            let id = format!("t{}", rng.random_range(0..30));
            // A task keeps its instance once placed.
            let on = state
                .tasks
                .iter()
                .find(|((_, t), _)| *t == id)
                .and_then(|(_, v)| v.record.instance_id.strip_prefix('i').and_then(|s| s.parse().ok()))
                .unwrap_or(n);
            let record = task(&id, on, rng);
            let key = keys::task(&record.cluster, &id);
            (EventKind::Put, kv(key, crate::stored::encode(&record).unwrap(), revision))
        }
        _ => {
            let Some(((cluster, id), _)) = state.tasks.iter().nth(rng.random_range(0..state.tasks.len().max(1))) else {
                return random_event(state, revision, rng);
            };
            (EventKind::Delete, kv(keys::task(cluster, id), Vec::new(), revision))
        }
    }
}

#[test]
fn random_event_sequences_keep_the_live_state_equal_to_a_fresh_build() {
    for seed in 0..40 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut state = State::default();
        let mut revision = 0;
        for step in 0..200 {
            revision += 1;
            for _ in 0..rng.random_range(1..5) {
                let (kind, kv) = random_event(&state, revision, &mut rng);
                state.apply(kind, &kv);
            }
            state.refresh_placement();
            for cluster in CLUSTERS {
                assert_eq!(
                    live(&state, cluster),
                    fresh(&state, cluster),
                    "seed {seed}, step {step}, cluster {cluster}"
                );
            }
        }
    }
}

fn demand(cpu: i64) -> TaskDemand {
    TaskDemand { cpu, memory: 128, group: "family:job".into(), ..TaskDemand::default() }
}

/// A cluster `a` with two ACTIVE connected instances and nothing placed.
fn two_instances() -> State {
    let mut rng = StdRng::seed_from_u64(7);
    let mut state = State::default();
    for n in 0..2 {
        let mut record = instance(n, &mut rng);
        record.status = InstanceStatus::Active;
        record.agent_connected = true;
        (record.remaining_cpu, record.remaining_memory) = (4096, 8192);
        let key = keys::instance(&record.cluster, &record.id);
        state.apply(EventKind::Put, &kv(key, crate::stored::encode(&record).unwrap(), 1));
    }
    state.refresh_placement();
    state
}

/// Writes what a committed placement of [`demand`] writes: the instance record with less CPU and memory, and the
/// task (with `cpu` 0: an unrelated write to the instance, and a task).
fn commit(state: &mut State, arn: &str, cpu: i64, revision: i64) {
    let memory = if cpu == 0 { 0 } else { 128 };
    let id = arn.rsplit('/').next().unwrap().to_string();
    let mut record = (*state.instances[&("a".to_string(), id.clone())].record).clone();
    record.remaining_cpu -= cpu;
    record.remaining_memory -= memory;
    let mut rng = StdRng::seed_from_u64(revision as u64);
    let mut t = task(&format!("t{revision}"), id[1..].parse().unwrap(), &mut rng);
    t.last_status = TaskStatus::Provisioning;
    t.group = Some("family:job".into());
    state.apply(EventKind::Put, &kv(keys::instance("a", &id), crate::stored::encode(&record).unwrap(), revision));
    state.apply(EventKind::Put, &kv(keys::task("a", &t.task_id()), crate::stored::encode(&t).unwrap(), revision));
}

trait TaskId {
    fn task_id(&self) -> String;
}

impl TaskId for TaskRecord {
    fn task_id(&self) -> String {
        self.id().to_string()
    }
}

#[test]
fn a_placement_in_flight_is_held_until_its_write_is_seen_or_given_back() {
    let mut state = two_instances();
    let shared = state.placement["a"].clone();
    let all = |_: &str| true;
    // Given back when dropped (a conflict, an error, a cancelled request).
    let (outcome, ticket) = lock(&shared).place(&shared, &demand(1000), 1, &HostNeeds::default(), &all);
    assert_eq!(outcome.placed.len(), 1);
    assert_ne!(live(&state, "a"), fresh(&state, "a"));
    drop(ticket);
    assert_eq!(live(&state, "a"), fresh(&state, "a"));
    // Committed, and the cache sees the write after the ticket learns its revision.
    let (outcome, ticket) = lock(&shared).place(&shared, &demand(1000), 1, &HostNeeds::default(), &all);
    ticket.committed(2);
    let held = live(&state, "a");
    commit(&mut state, &outcome.placed[0], 1000, 2);
    state.refresh_placement();
    assert_eq!(live(&state, "a"), fresh(&state, "a"));
    assert_eq!(live(&state, "a"), held);
    // Committed, and the cache saw the write before the ticket learnt its revision.
    let (outcome, ticket) = lock(&shared).place(&shared, &demand(1000), 1, &HostNeeds::default(), &all);
    commit(&mut state, &outcome.placed[0], 1000, 3);
    state.refresh_placement();
    assert_ne!(live(&state, "a"), fresh(&state, "a"), "counted twice until the ticket settles");
    ticket.committed(3);
    assert_eq!(live(&state, "a"), fresh(&state, "a"));
    // A write to the instance older than the placement keeps it held.
    let (outcome, ticket) = lock(&shared).place(&shared, &demand(1000), 1, &HostNeeds::default(), &all);
    ticket.committed(5);
    commit(&mut state, &outcome.placed[0], 0, 4);
    state.refresh_placement();
    let placed = lock(&shared).instance(&outcome.placed[0]).unwrap();
    let recorded = fresh(&state, "a").into_iter().find(|i| i.arn == outcome.placed[0]).unwrap();
    assert_eq!(placed.remaining.cpu, recorded.remaining.cpu - 1000);
}

#[test]
fn a_ticket_dropped_under_the_lock_is_settled_by_the_next_lock() {
    let state = two_instances();
    let shared = state.placement["a"].clone();
    let all = |_: &str| true;
    drop(lock(&shared).place(&shared, &demand(1000), 1, &HostNeeds::default(), &all));
    assert_eq!(live(&state, "a"), fresh(&state, "a"));
}

#[test]
fn a_silent_agent_is_skipped_then_restored_when_it_speaks() {
    let state = two_instances();
    let shared = state.placement["a"].clone();
    let silent = arn("a", "i0");
    let only_i1 = |id: &str| id != "i0";
    for _ in 0..20 {
        let (outcome, _ticket) = lock(&shared).place(&shared, &demand(1), 1, &HostNeeds::default(), &only_i1);
        assert_eq!(outcome.placed, vec![arn("a", "i1")]);
    }
    assert!(!lock(&shared).instance(&silent).unwrap().agent_connected);
    let all = |_: &str| true;
    let (_outcome, _ticket) = lock(&shared).place(&shared, &demand(1), 1, &HostNeeds::default(), &all);
    assert!(lock(&shared).instance(&silent).unwrap().agent_connected);
}

#[test]
fn failures_name_a_silent_agent_as_agent() {
    let state = two_instances();
    let shared = state.placement["a"].clone();
    let none = |_: &str| false;
    let (outcome, _ticket) = lock(&shared).place(&shared, &demand(100_000), 1, &HostNeeds::default(), &none);
    assert!(outcome.placed.is_empty());
    assert_eq!(outcome.failures.len(), 2);
    assert!(outcome.failures.iter().all(|f| f.reason == "AGENT"), "{:?}", outcome.failures);
}

#[test]
fn host_paths_are_gated_for_the_call_only() {
    let state = two_instances();
    let shared = state.placement["a"].clone();
    let before = live(&state, "a");
    let with_paths: Vec<String> =
        before.iter().filter(|i| i.attributes.contains_key(HOST_PATH)).map(|i| i.arn.clone()).collect();
    let mut needs = HostNeeds::default();
    needs.host_paths.insert("/elsewhere".into());
    let mut d = demand(1);
    d.required_attributes = vec![HOST_PATH.into()];
    let all = |_: &str| true;
    let (outcome, ticket) = lock(&shared).place(&shared, &d, 1, &needs, &all);
    assert!(outcome.placed.is_empty(), "no instance allows /elsewhere");
    drop(ticket);
    assert_eq!(live(&state, "a"), before, "gated attributes are restored ({with_paths:?})");
}

#[tokio::test]
async fn an_instance_subscriber_wakes_for_its_own_instance_only() {
    let store: berth_store::SharedStore = std::sync::Arc::new(berth_store::MemoryStore::new());
    let cache = crate::cache::Cache::start(store.clone()).await.unwrap();
    let mut rx = cache.subscribe_instance("i1");
    let mut rng = StdRng::seed_from_u64(1);
    let write = |record: TaskRecord| {
        let store = store.clone();
        async move {
            let key = keys::task(&record.cluster, &record.task_id());
            let txn = berth_store::Txn::new().put(key, crate::stored::encode(&record).unwrap());
            match store.txn(txn).await.unwrap() {
                berth_store::TxnOutcome::Committed { revision } => revision,
                other => panic!("{other:?}"),
            }
        }
    };
    let other = write(task("t1", 2, &mut rng)).await;
    cache.wait_for(other).await;
    assert!(!rx.has_changed().unwrap(), "a task on another instance does not wake i1's stream");
    let own = write(task("t2", 1, &mut rng)).await;
    cache.wait_for(own).await;
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), own);
}

#[test]
fn the_cache_logs_which_instance_records_each_revision_wrote() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut state = State::default();
    let mut put_instance = |state: &mut State, n: usize, revision: i64| {
        let record = instance(n, &mut rng);
        let key = keys::instance(&record.cluster, &record.id);
        state.apply(EventKind::Put, &kv(key, crate::stored::encode(&record).unwrap(), revision));
        state.log_instance_writes(revision);
    };
    put_instance(&mut state, 0, 1);
    let t = task("t1", 0, &mut StdRng::seed_from_u64(4));
    state.apply(EventKind::Put, &kv(keys::task("a", "t1"), crate::stored::encode(&t).unwrap(), 2));
    state.log_instance_writes(2);
    put_instance(&mut state, 5, 3);
    let keys_after = |after| state.instances_written_after(after).unwrap().into_iter().collect::<Vec<_>>();
    assert_eq!(keys_after(0), vec![instance_key(0), instance_key(5)]);
    assert_eq!(keys_after(1), vec![instance_key(5)], "a task write is not an instance write");
    assert!(keys_after(3).is_empty());
    state.instance_writes_floor = 2;
    assert_eq!(state.instances_written_after(1), None, "older than the log: the caller must look at every instance");
}
