//! Synthetic clusters and workloads for benchmarks and tests (pure and seeded, so runs are comparable).
//!
//! The cluster mixes five EC2 instance types (x86 and Graviton, compute-, memory- and general-purpose)
//! over three Availability Zones, with the built-in attributes ECS sets and the agent's reserved ports.
//! The workload is a set of services, each a task group with `distinctInstance`, a `memberOf` expression
//! (four shapes: equality, `in` list, regex with `not`, `or` of two attributes), some with a static host
//! port, and the strategy `binpack(memory)` then `spread(attribute:ecs.availability-zone)`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::constraint::{Constraint, parse_constraint};
use crate::model::{Instance, Resources, TaskDemand};
use crate::strategy::{BinpackField, Strategy};

/// `(instance type, CPU units, memory MiB available to tasks, architecture, weight)`.
pub const INSTANCE_TYPES: [(&str, i64, i64, &str, u32); 5] = [
    ("m5.2xlarge", 8192, 31_744, "x86_64", 3),
    ("m5.4xlarge", 16_384, 63_488, "x86_64", 3),
    ("c5.4xlarge", 16_384, 30_720, "x86_64", 2),
    ("r5.2xlarge", 8192, 63_488, "x86_64", 2),
    ("m6g.4xlarge", 16_384, 63_488, "arm64", 2),
];

/// The Availability Zones instances are spread over.
pub const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

/// Task sizes `(CPU units, memory MiB)` services draw from.
pub const TASK_SIZES: [(i64, i64); 6] = [(32, 128), (32, 256), (64, 128), (64, 256), (128, 256), (128, 512)];

/// The `memberOf` expressions services cycle through.
pub const EXPRESSIONS: [&str; 4] = [
    "attribute:ecs.cpu-architecture == x86_64",
    "attribute:ecs.instance-type in [m5.2xlarge, m5.4xlarge, r5.2xlarge, m6g.4xlarge]",
    "attribute:ecs.os-type == linux and not(attribute:ecs.instance-type =~ c5\\..*)",
    "attribute:ecs.availability-zone != us-east-1c or attribute:ecs.cpu-architecture == arm64",
];

/// A container instance ARN for index `k`.
pub fn instance_arn(k: usize) -> String {
    format!("arn:aws:ecs:us-east-1:000000000000:container-instance/bench/{k:032x}")
}

/// `n` container instances of mixed types, round-robin over the zones, seeded.
pub fn cluster(n: usize, seed: u64) -> Vec<Instance> {
    let mut rng = StdRng::seed_from_u64(seed);
    let total_weight: u32 = INSTANCE_TYPES.iter().map(|t| t.4).sum();
    (0..n)
        .map(|k| {
            let mut pick = rng.random_range(0..total_weight);
            let mut chosen = INSTANCE_TYPES[0];
            for t in INSTANCE_TYPES {
                if pick < t.4 {
                    chosen = t;
                    break;
                }
                pick -= t.4;
            }
            let (itype, cpu, memory, arch, _) = chosen;
            let mut inst = Instance::new(instance_arn(k), Resources::new(cpu, memory))
                .with_attribute("ecs.availability-zone", Some(ZONES[k % ZONES.len()]))
                .with_attribute("ecs.instance-type", Some(itype))
                .with_attribute("ecs.os-type", Some("linux"))
                .with_attribute("ecs.cpu-architecture", Some(arch))
                .with_attribute("ecs.ami-id", Some(if arch == "arm64" { "ami-0arm64" } else { "ami-0x86" }))
                .with_attribute("ecs.capability.docker-remote-api.1.44", None);
            inst.agent_version = "1.89.0".to_string();
            inst.ec2_instance_id = format!("host-{k:05}");
            inst.registered_at = 1_700_000_000.0 + k as f64;
            inst.used_tcp_ports = [22, 2375, 2376, 51678, 51679].into_iter().collect();
            inst
        })
        .collect()
}

/// The placement constraints of service `s`.
pub fn service_constraints(s: usize) -> Vec<Constraint> {
    let mut out = vec![Constraint::DistinctInstance];
    if let Ok(c) = parse_constraint("memberOf", Some(EXPRESSIONS[s % EXPRESSIONS.len()])) {
        out.push(c);
    }
    out
}

/// `count` services (task demands), seeded: sizes from [`TASK_SIZES`], one in ten with a static TCP host
/// port (from a pool of twenty, so services sharing a port cannot share an instance), [`service_constraints`], and
/// `binpack(memory)` then `spread(attribute:ecs.availability-zone)`.
pub fn services(count: usize, seed: u64) -> Vec<TaskDemand> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|s| {
            let (cpu, memory) = TASK_SIZES[rng.random_range(0..TASK_SIZES.len())];
            let tcp_ports = if s % 10 == 3 { vec![8000 + (s / 10 % 20) as u16] } else { Vec::new() };
            TaskDemand {
                cpu,
                memory,
                ephemeral_storage_gib: 0,
                tcp_ports,
                udp_ports: Vec::new(),
                group: format!("service:svc-{s:04}"),
                constraints: service_constraints(s),
                strategy: vec![
                    Strategy::Binpack(BinpackField::Memory),
                    Strategy::Spread("attribute:ecs.availability-zone".to_string()),
                ],
                required_attributes: vec!["ecs.capability.docker-remote-api.1.44".to_string()],
            }
        })
        .collect()
}

/// The order a workload places tasks in: rounds, each placing `batch` tasks of every service in turn
/// (as a service scheduler reconciling many services does), `tasks_per_service` tasks per service in all.
/// Yields `(service index, tasks in this call)`.
pub fn schedule(services: usize, tasks_per_service: usize, batch: usize) -> impl Iterator<Item = (usize, usize)> {
    let batch = batch.max(1);
    let rounds = tasks_per_service.div_ceil(batch);
    (0..rounds).flat_map(move |round| {
        let n = batch.min(tasks_per_service - round * batch);
        (0..services).map(move |s| (s, n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_seeded_and_mixed() {
        let a = cluster(300, 1);
        assert_eq!(a, cluster(300, 1));
        assert_eq!(a.len(), 300);
        let types: std::collections::BTreeSet<_> =
            a.iter().filter_map(|i| i.attributes.get("ecs.instance-type").cloned().flatten()).collect();
        assert_eq!(types.len(), INSTANCE_TYPES.len());
        assert!(a.iter().all(|i| i.is_schedulable() && i.used_tcp_ports.contains(&22)));
    }

    #[test]
    fn services_parse_their_expressions() {
        let s = services(8, 2);
        assert!(s.iter().all(|d| d.constraints.len() == 2));
        assert_eq!(s[3].tcp_ports, vec![8000]);
        assert!(s[0].tcp_ports.is_empty());
    }

    #[test]
    fn schedules_every_task_in_rounds() {
        let calls: Vec<_> = schedule(3, 5, 2).collect();
        assert_eq!(calls.iter().map(|c| c.1).sum::<usize>(), 15);
        assert_eq!(calls[0], (0, 2));
        assert_eq!(calls[3], (0, 2));
        assert_eq!(calls[8], (2, 1));
    }
}
