//! Per-placement cost at 100, 1,000 and 10,000 instances, for the engine and the brute-force reference.
//!
//! Each cluster is first filled to about half (50 tasks per instance, by the `sim` workload); one iteration
//! then places one task of an existing service (`distinctInstance`, a `memberOf` expression,
//! `binpack(memory)` then `spread(attribute:ecs.availability-zone)`) and releases it again, so the state
//! is the same for every iteration. `cargo bench -p berth-scheduler --bench placement`.

use std::hint::black_box;
use std::time::Duration;

use berth_scheduler::reference::ReferenceState;
use berth_scheduler::{ClusterState, TaskDemand, sim};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A cluster of `n` instances half filled by the simulated services, and the demand to probe with.
fn half_full(n: usize) -> (ClusterState, TaskDemand) {
    let services = sim::services(1000, 2);
    let mut state = ClusterState::new(sim::cluster(n, 1));
    let tasks_per_service = n * 50 / services.len();
    for (k, (s, count)) in sim::schedule(services.len(), tasks_per_service, 10).enumerate() {
        state.place(&services[s], count, &mut StdRng::seed_from_u64(k as u64));
    }
    (state, services[1].clone())
}

fn placement(c: &mut Criterion) {
    let mut group = c.benchmark_group("place_and_release_one_task");
    group.sample_size(20).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    for n in [100usize, 1000, 10_000] {
        let (mut state, probe) = half_full(n);
        let mut reference = ReferenceState::new(state.instances());
        group.bench_with_input(BenchmarkId::new("engine", n), &n, |b, _| {
            let mut rng = StdRng::seed_from_u64(7);
            b.iter(|| {
                let p = state.place(&probe, 1, &mut rng);
                for arn in &p.placed {
                    let _ = state.release(arn, &probe);
                }
                black_box(p)
            })
        });
        group.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
            let mut rng = StdRng::seed_from_u64(7);
            b.iter(|| {
                let p = reference.place(&probe, 1, &mut rng);
                for arn in &p.placed {
                    let _ = reference.release(arn, &probe);
                }
                black_box(p)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, placement);
criterion_main!(benches);
