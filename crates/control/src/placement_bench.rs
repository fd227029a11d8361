//! Benchmark support (not an API): what one placement costs on a cluster of `n` instances, the way placement
//! worked before the live state (rebuilding the scheduler's view from every instance record on every call)
//! against placing on the live state. Used by `crates/berth/examples/bench_placement.rs`.

// A benchmark measures elapsed time on purpose; no controller uses this module.
#![allow(clippy::disallowed_methods)]

use crate::cache::State;
use crate::live_placement::lock;
use crate::records::{AttributeRecord, InstanceRecord, Reservation, TaskRecord, keys};
use crate::status::{InstanceStatus, TaskStatus};
use berth_model::agent::AgentResources;
use berth_model::ecs::Attribute;
use berth_model::host_access::HostNeeds;
use berth_scheduler::{ClusterState, TaskDemand};
use berth_store::{EventKind, KeyValue};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Per-call latencies of both paths, sorted.
#[derive(Debug, Clone)]
pub struct PlacementCost {
    /// Rebuilding the view from the records, then placing one task (the path before the live state).
    pub rebuild: Vec<Duration>,
    /// Placing one task on the live state (and giving it back).
    pub live: Vec<Duration>,
    /// Building the live state from the records once (what the cache does when it lists the store).
    pub initial_build: Duration,
}

/// A cache state holding `n` ACTIVE instances of cluster `bench` in three zones, each with the capability
/// attributes an agent advertises and `tasks_per_instance` running tasks.
pub fn synthetic_state(n: usize, tasks_per_instance: usize) -> State {
    let mut state = State::default();
    let capabilities = berth_model::capabilities::supported();
    let mut revision = 0;
    let mut put = |state: &mut State, key: String, value: Vec<u8>| {
        revision += 1;
        let kv = KeyValue { key, value, create_revision: revision, mod_revision: revision };
        state.apply(EventKind::Put, &kv);
    };
    for i in 0..n {
        let id = format!("{i:032x}");
        let mut attributes: Vec<Attribute> =
            capabilities.iter().map(|name| Attribute { name: name.clone(), ..Default::default() }).collect();
        attributes.push(Attribute {
            name: "ecs.availability-zone".into(),
            value: Some(format!("zone-{}", i % 3)),
            ..Default::default()
        });
        let record = InstanceRecord {
            arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/bench/{id}"),
            status: InstanceStatus::Active,
            agent_connected: true,
            attributes: attributes.iter().map(AttributeRecord::from_wire).collect(),
            ec2_instance_id: Some(format!("sim-{i}")),
            cluster: "bench".into(),
            id: id.clone(),
            offered: AgentResources { cpu: 4096, memory_mib: 16384, ..Default::default() },
            remaining_cpu: 4096 - 16 * tasks_per_instance as i64,
            remaining_memory: 16384 - 32 * tasks_per_instance as i64,
            ..Default::default()
        };
        put(&mut state, keys::instance("bench", &id), crate::stored::encode(&record).unwrap_or_default());
        for t in 0..tasks_per_instance {
            let task_id = format!("{i:016x}{t:016x}");
            let task = TaskRecord {
                arn: format!("arn:aws:ecs:us-east-1:000000000000:task/bench/{task_id}"),
                last_status: TaskStatus::Running,
                group: Some("family:bench".into()),
                cluster: "bench".into(),
                instance_id: id.clone(),
                reservation: Reservation { cpu: 16, memory: 32, ..Default::default() },
                ..Default::default()
            };
            put(&mut state, keys::task("bench", &task_id), crate::stored::encode(&task).unwrap_or_default());
        }
    }
    state
}

/// RunTask's demand for the benchmark's task: 16 CPU units, 32 MiB, the default (random) strategy.
pub fn bench_demand() -> TaskDemand {
    TaskDemand {
        cpu: 16,
        memory: 32,
        group: "family:bench".into(),
        strategy: berth_scheduler::default_run_task_strategy(),
        required_attributes: vec!["com.amazonaws.ecs.capability.docker-remote-api.1.18".into()],
        ..TaskDemand::default()
    }
}

/// Measures `samples` placements of one task both ways on a [`synthetic_state`] of `n` instances.
pub fn measure(n: usize, samples: usize) -> PlacementCost {
    let mut state = synthetic_state(n, 2);
    let started = Instant::now();
    state.refresh_placement();
    let initial_build = started.elapsed();
    let demand = bench_demand();
    let needs = HostNeeds::default();
    let mut rng = rand::rng();
    let mut rebuild = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        // As `run_scheduler` did: the cluster's records, their scheduler views and attributes, a fresh state.
        let candidates: Vec<_> = state
            .instances
            .range(("bench".to_string(), String::new())..)
            .take_while(|((c, _), _)| c == "bench")
            .filter(|(_, v)| v.record.status != InstanceStatus::Inactive)
            .map(|(_, v)| v.clone())
            .collect();
        let instances: Vec<_> = candidates
            .iter()
            .map(|v| {
                let mut instance = crate::placement::record_instance(&state, &v.record);
                crate::placement::gate_host_paths(&mut instance, &needs);
                instance
            })
            .collect();
        let attributes: BTreeMap<_, _> = instances.iter().map(|i| (i.arn.clone(), i.attributes.clone())).collect();
        let mut cluster = ClusterState::new(instances);
        let placement = cluster.place(&demand, 1, &mut rng);
        rebuild.push(started.elapsed());
        assert_eq!(placement.placed.len(), 1, "{attributes:?}", attributes = attributes.len());
    }
    let shared = state.placement["bench"].clone();
    let all = |_: &str| true;
    // The first placement builds the classes and indexes the demand needs (once per state, not per call).
    let warm_up = lock(&shared).place(&shared, &demand, 1, &needs, &all);
    drop(warm_up); // its ticket gives the reservation back (after the lock above was released)
    let mut live = Vec::with_capacity(samples);
    for _ in 0..samples * 10 {
        let started = Instant::now();
        let (outcome, ticket) = lock(&shared).place(&shared, &demand, 1, &needs, &all);
        drop(ticket);
        live.push(started.elapsed());
        assert_eq!(outcome.placed.len(), 1);
    }
    rebuild.sort();
    live.sort();
    PlacementCost { rebuild, live, initial_build }
}
