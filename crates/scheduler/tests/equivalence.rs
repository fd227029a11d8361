//! Property test: on random clusters, demands and updates, the indexed engine ([`ClusterState`]) places
//! every task on exactly the instance the brute-force reference ([`ReferenceState`]) picks (for a leading
//! `random`: on an instance the reference finds feasible), reports the same failures and closest match, and
//! both states stay identical — so resources, ports and constraints are never violated.

// Test code: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use berth_scheduler::reference::ReferenceState;
use berth_scheduler::{
    BinpackField, ClusterState, Constraint, Instance, InstanceStatus, Resources, Strategy, TaskDemand, parse_constraint,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

const GROUPS: [&str; 4] = ["service:a", "service:b", "service:c", "family:x"];
const EXPRESSIONS: [&str; 16] = [
    "attribute:zone == a",
    "attribute:zone != b",
    "attribute:stack exists",
    "attribute:type =~ (t2|m5)\\..*",
    "attribute:type in [m5.large, c5.xlarge]",
    "runningTasksCount < 4",
    "not(task:group == service:b)",
    "task:group == service:a or attribute:zone == c",
    "agentVersion >= 1.14.0",
    "ec2InstanceId != i-3",
    "registeredAt > 2019-01-01",
    "attribute:rack !in [r1, r2]",
    "attribute:gpu exists and attribute:zone in [a, b]",
    "attribute:stack !exists or attribute:stack == prod",
    "attribute:rack >= r2 and not attribute:zone == c",
    "task:group exists",
];

fn random_instance(rng: &mut StdRng, k: usize) -> Instance {
    let cpu = *[512, 1024, 2048, 4096].choose(rng).unwrap_or(&1024);
    let memory = *[512, 1024, 2048, 4096].choose(rng).unwrap_or(&1024);
    let mut inst =
        Instance::new(format!("arn:aws:ecs:us-east-1:0:container-instance/t/{k:04}"), Resources::new(cpu, memory));
    inst.status = match rng.random_range(0..20) {
        0 => InstanceStatus::Draining,
        1 => InstanceStatus::Inactive,
        2 => InstanceStatus::Registering,
        _ => InstanceStatus::Active,
    };
    inst.agent_connected = rng.random_bool(0.9);
    inst.agent_version = ["1.50.0", "1.9.0", "1.14.5"].choose(rng).unwrap_or(&"1.0").to_string();
    inst.ec2_instance_id = format!("i-{k}");
    inst.registered_at = 1.5e9 + rng.random_range(0.0..1e8);
    if rng.random_bool(0.9) {
        inst.attributes.insert("zone".into(), Some(["a", "b", "c"].choose(rng).unwrap_or(&"a").to_string()));
    }
    inst.attributes
        .insert("type".into(), Some(["t2.small", "m5.large", "c5.xlarge"].choose(rng).unwrap_or(&"t2").to_string()));
    if rng.random_bool(0.5) {
        inst.attributes.insert("stack".into(), Some(["prod", "dev"].choose(rng).unwrap_or(&"dev").to_string()));
    }
    if rng.random_bool(0.3) {
        inst.attributes.insert("gpu".into(), None);
    }
    if rng.random_bool(0.7) {
        inst.attributes.insert("rack".into(), Some(format!("r{}", rng.random_range(0..5))));
    }
    inst.remaining = Resources::new(cpu - rng.random_range(0..=cpu / 2), memory - rng.random_range(0..=memory / 2));
    // Some instances account ephemeral storage (Fargate capacity), the others do not (EC2 capacity).
    if rng.random_bool(0.5) {
        let storage = *[40, 100, 200].choose(rng).unwrap_or(&100);
        inst.registered = inst.registered.with_ephemeral_storage(storage);
        inst.remaining = inst.remaining.with_ephemeral_storage(storage - rng.random_range(0..=storage / 2));
    }
    for p in [22u16, 80, 443, 8080] {
        if rng.random_bool(0.25) {
            inst.used_tcp_ports.insert(p);
        }
    }
    for p in [53u16, 123] {
        if rng.random_bool(0.2) {
            inst.used_udp_ports.insert(p);
        }
    }
    let mut running = rng.random_range(0..2);
    for g in GROUPS {
        if rng.random_bool(0.3) {
            let n = rng.random_range(1..4);
            inst.task_groups.insert(g.to_string(), n);
            running += n;
        }
    }
    inst.running_tasks_count = running;
    inst
}

fn random_strategy(rng: &mut StdRng) -> Strategy {
    match rng.random_range(0..9) {
        0 => Strategy::Binpack(BinpackField::Memory),
        1 => Strategy::Binpack(BinpackField::Cpu),
        2 => Strategy::Spread("instanceId".into()),
        3 => Strategy::Spread("host".into()),
        4 => Strategy::Spread("attribute:zone".into()),
        5 => Strategy::Spread("attribute:rack".into()),
        6 => Strategy::Spread("attribute:type".into()),
        7 => Strategy::Random,
        _ => Strategy::Binpack(BinpackField::Memory),
    }
}

fn random_demand(rng: &mut StdRng) -> TaskDemand {
    let mut constraints: Vec<Constraint> = Vec::new();
    if rng.random_bool(0.3) {
        constraints.push(Constraint::DistinctInstance);
    }
    for _ in 0..rng.random_range(0..3) {
        let text = EXPRESSIONS.choose(rng).unwrap_or(&EXPRESSIONS[0]);
        constraints.push(parse_constraint("memberOf", Some(text)).unwrap());
    }
    let required_attributes = match rng.random_range(0..8) {
        0 => vec!["stack".to_string()],
        1 => vec!["gpu".to_string()],
        _ => Vec::new(),
    };
    TaskDemand {
        cpu: *[0, 128, 256, 512, 1024].choose(rng).unwrap_or(&0),
        memory: *[0, 128, 256, 512, 1024, 2048].choose(rng).unwrap_or(&0),
        ephemeral_storage_gib: *[0, 0, 20, 50].choose(rng).unwrap_or(&0),
        tcp_ports: match rng.random_range(0..10) {
            0 => vec![80],
            1 => vec![8080],
            _ => Vec::new(),
        },
        udp_ports: if rng.random_bool(0.1) { vec![53] } else { Vec::new() },
        group: GROUPS.choose(rng).unwrap_or(&GROUPS[0]).to_string(),
        constraints,
        strategy: (0..rng.random_range(0..4)).map(|_| random_strategy(rng)).collect(),
        required_attributes,
    }
}

fn ranking_chain_is_empty(demand: &TaskDemand) -> bool {
    demand.strategy.first().is_none_or(|s| *s == Strategy::Random)
}

fn assert_same_state(fast: &ClusterState, reference: &ReferenceState, context: &str) {
    let fast_instances = fast.instances();
    assert_eq!(fast_instances.as_slice(), reference.instances(), "states differ after {context}");
}

fn run(seed: u64, instances: usize, ops: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let cluster: Vec<Instance> = (0..instances).map(|k| random_instance(&mut rng, k)).collect();
    let mut fast = ClusterState::new(cluster.clone());
    let mut reference = ReferenceState::new(cluster);
    let mut next_id = instances;
    let mut placed: Vec<(String, TaskDemand)> = Vec::new();
    assert_same_state(&fast, &reference, "construction");
    for op in 0..ops {
        match rng.random_range(0..20) {
            0..=11 => {
                let demand = random_demand(&mut rng);
                // Large calls exercise parking, which only sets instances aside past 16 remaining tasks.
                let count = if rng.random_bool(0.2) { rng.random_range(17..60) } else { rng.random_range(1..7) };
                let call_seed: u64 = rng.random();
                let context = format!("op {op}: placing {count} x {demand:?}");
                let got = fast.place(&demand, count, &mut StdRng::seed_from_u64(call_seed));
                if ranking_chain_is_empty(&demand) {
                    for arn in &got.placed {
                        let inst = reference.instances().iter().find(|i| &i.arn == arn).cloned();
                        let inst = inst.unwrap_or_else(|| panic!("{context}: unknown {arn}"));
                        assert_eq!(reference.first_failure(&inst, &demand), None, "{context}: infeasible {arn}");
                        reference.record_placement(arn, &demand).unwrap();
                    }
                    if got.placed.len() < count {
                        let failures = reference.failures(&demand);
                        assert_eq!(failures.len(), reference.instances().len(), "{context}: something still fits");
                        assert_eq!(got.failures, failures, "{context}");
                    } else {
                        assert!(got.failures.is_empty());
                    }
                } else {
                    let want = reference.place(&demand, count, &mut StdRng::seed_from_u64(call_seed));
                    assert_eq!(got, want, "{context}");
                }
                assert_eq!(fast.closest_match(&demand), reference.closest_match(&demand), "{context}");
                placed.extend(got.placed.into_iter().map(|arn| (arn, demand.clone())));
                assert_same_state(&fast, &reference, &context);
            }
            12..=14 if !placed.is_empty() => {
                let (arn, demand) = placed.swap_remove(rng.random_range(0..placed.len()));
                fast.release(&arn, &demand).unwrap();
                reference.release(&arn, &demand).unwrap();
                assert_same_state(&fast, &reference, &format!("op {op}: release on {arn}"));
            }
            15..=16 if !reference.instances().is_empty() => {
                let k = rng.random_range(0..reference.instances().len());
                let mut inst = reference.instances()[k].clone();
                match rng.random_range(0..5) {
                    0 => {
                        inst.status = if inst.status == InstanceStatus::Active {
                            InstanceStatus::Draining
                        } else {
                            InstanceStatus::Active
                        }
                    }
                    1 => inst.agent_connected = !inst.agent_connected,
                    2 => {
                        inst.attributes
                            .insert("zone".into(), Some(["a", "b", "c", "d"].choose(&mut rng).unwrap().to_string()));
                    }
                    3 => {
                        inst.attributes.remove("rack");
                    }
                    _ => inst.remaining.memory += 512,
                }
                fast.update_instance(inst.clone());
                reference.update_instance(inst);
                assert_same_state(&fast, &reference, &format!("op {op}: update"));
            }
            17 if !reference.instances().is_empty() => {
                let k = rng.random_range(0..reference.instances().len());
                let arn = reference.instances()[k].arn.clone();
                assert_eq!(fast.remove_instance(&arn), reference.remove_instance(&arn));
                placed.retain(|(a, _)| *a != arn);
                assert_same_state(&fast, &reference, &format!("op {op}: remove"));
            }
            _ => {
                let inst = random_instance(&mut rng, next_id);
                next_id += 1;
                fast.update_instance(inst.clone());
                reference.update_instance(inst);
                assert_same_state(&fast, &reference, &format!("op {op}: add"));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn engine_matches_reference_on_small_clusters(seed in any::<u64>(), instances in 0usize..24, ops in 1usize..40) {
        run(seed, instances, ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn engine_matches_reference_on_larger_clusters(seed in any::<u64>(), instances in 50usize..300) {
        run(seed, instances, 60);
    }
}

#[test]
fn engine_matches_reference_on_the_benchmark_workload() {
    let cluster = berth_scheduler::sim::cluster(400, 11);
    let services = berth_scheduler::sim::services(30, 12);
    let mut fast = ClusterState::new(cluster.clone());
    let mut reference = ReferenceState::new(cluster);
    let mut counts: BTreeMap<bool, usize> = BTreeMap::new();
    for (call, (s, n)) in berth_scheduler::sim::schedule(services.len(), 40, 3).enumerate() {
        let seed = call as u64;
        let got = fast.place(&services[s], n, &mut StdRng::seed_from_u64(seed));
        let want = reference.place(&services[s], n, &mut StdRng::seed_from_u64(seed));
        assert_eq!(got, want, "call {call}");
        *counts.entry(got.failures.is_empty()).or_default() += 1;
    }
    assert_same_state(&fast, &reference, "the workload");
    assert!(counts.get(&true).copied().unwrap_or(0) > 0);
}
