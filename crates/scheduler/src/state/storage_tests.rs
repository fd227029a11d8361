//! The ephemeral storage dimension: FARGATE tasks reserve their size on instances that account storage; EC2 tasks
//! (no storage demand) and instances that do not account it are unaffected.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::ClusterState;
use crate::{Instance, Resources, Strategy, TaskDemand};

fn arn(name: &str) -> String {
    format!("arn:aws:ecs:us-east-1:0:container-instance/c/{name}")
}

/// An instance with plenty of CPU and memory and `gib` of ephemeral storage (`None`: not accounted).
fn inst(name: &str, gib: Option<i64>) -> Instance {
    let mut resources = Resources::new(16_384, 65_536);
    if let Some(gib) = gib {
        resources = resources.with_ephemeral_storage(gib);
    }
    Instance::new(arn(name), resources)
}

fn fargate(gib: i64) -> TaskDemand {
    TaskDemand {
        cpu: 256,
        memory: 512,
        ephemeral_storage_gib: gib,
        group: "family:web".into(),
        strategy: vec![Strategy::Spread("instanceId".into())],
        ..TaskDemand::default()
    }
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

#[test]
fn tasks_fit_until_the_storage_is_reserved_then_fail_with_the_storage_reason() {
    let mut state = ClusterState::new(vec![inst("a", Some(250))]);
    let p = state.place(&fargate(100), 3, &mut rng());
    assert_eq!(p.placed.len(), 2, "two 100 GiB tasks fit in 250 GiB: {p:?}");
    assert_eq!(p.failures.len(), 1);
    assert_eq!(p.failures[0].reason, "RESOURCE:EPHEMERAL_STORAGE");
    let now = state.instance(&arn("a")).unwrap();
    assert_eq!(now.remaining.ephemeral_storage_gib, Some(50));
    assert_eq!((now.remaining.cpu, now.remaining.memory), (16_384 - 512, 65_536 - 1024), "cpu and memory as before");
    assert_eq!(
        state.closest_match(&fargate(100)),
        Some((arn("a"), "has insufficient ephemeral storage available".to_string()))
    );
    // What is left still takes a smaller task.
    assert_eq!(state.place(&fargate(50), 1, &mut rng()).placed, [arn("a")]);
}

#[test]
fn a_stopped_task_gives_its_storage_back() {
    let mut state = ClusterState::new(vec![inst("a", Some(250))]);
    let before = state.instance(&arn("a")).unwrap();
    let placed = state.place(&fargate(100), 2, &mut rng()).placed;
    assert!(state.place(&fargate(100), 1, &mut rng()).placed.is_empty());
    state.release(&placed[0], &fargate(100)).unwrap();
    assert_eq!(state.place(&fargate(100), 1, &mut rng()).placed, [arn("a")], "fits after one stopped");
    state.release(&placed[1], &fargate(100)).unwrap();
    state.release(&arn("a"), &fargate(100)).unwrap();
    assert_eq!(state.instance(&arn("a")).unwrap(), before);
}

#[test]
fn placement_goes_where_the_storage_is() {
    let mut state = ClusterState::new(vec![inst("small", Some(30)), inst("big", Some(200))]);
    assert_eq!(state.place(&fargate(100), 1, &mut rng()).placed, [arn("big")]);
    let p = state.place(&fargate(150), 1, &mut rng());
    assert!(p.placed.is_empty());
    assert!(p.failures.iter().all(|f| f.reason == "RESOURCE:EPHEMERAL_STORAGE"), "{p:?}");
    assert_eq!(state.check(&arn("small"), &fargate(20)), Ok(None));
}

#[test]
fn tasks_without_storage_demand_ignore_it_and_unaccounted_instances_take_any() {
    // A dual instance whose storage Fargate tasks have taken (even past zero) still takes EC2 tasks.
    let mut full = inst("dual", Some(20));
    full.remaining = full.remaining.with_ephemeral_storage(-5);
    let mut state = ClusterState::new(vec![full]);
    let ec2 = TaskDemand { cpu: 128, memory: 128, group: "family:job".into(), ..TaskDemand::default() };
    assert_eq!(state.place(&ec2, 3, &mut rng()).placed.len(), 3);
    assert_eq!(state.instance(&arn("dual")).unwrap().remaining.ephemeral_storage_gib, Some(-5), "untouched");
    assert!(state.place(&fargate(20), 1, &mut rng()).placed.is_empty());
    // An instance that does not account storage (an agent from before it was measured) takes any size.
    let mut legacy = ClusterState::new(vec![inst("legacy", None)]);
    assert_eq!(legacy.place(&fargate(200), 5, &mut rng()).placed.len(), 5);
    assert_eq!(legacy.instance(&arn("legacy")).unwrap().remaining.ephemeral_storage_gib, None);
}
