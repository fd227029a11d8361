use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::ClusterState;
use crate::{
    BinpackField, Constraint, Failure, Instance, InstanceStatus, Resources, StateError, Strategy, TaskDemand,
    parse_constraint,
};

fn arn(name: &str) -> String {
    format!("arn:aws:ecs:us-east-1:0:container-instance/c/{name}")
}

fn inst(name: &str, cpu: i64, mem: i64) -> Instance {
    Instance::new(arn(name), Resources::new(cpu, mem))
}

fn zoned(name: &str, zone: &str) -> Instance {
    inst(name, 4096, 8192).with_attribute("zone", Some(zone))
}

fn demand(cpu: i64, mem: i64, strategy: Vec<Strategy>) -> TaskDemand {
    TaskDemand { cpu, memory: mem, group: "service:web".into(), strategy, ..TaskDemand::default() }
}

fn member_of(text: &str) -> Constraint {
    parse_constraint("memberOf", Some(text)).unwrap()
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(42)
}

fn short(arns: &[String]) -> Vec<&str> {
    arns.iter().map(|a| a.rsplit('/').next().unwrap()).collect()
}

fn tally(arns: &[String]) -> BTreeMap<&str, usize> {
    let mut out = BTreeMap::new();
    for a in short(arns) {
        *out.entry(a).or_insert(0) += 1;
    }
    out
}

const MEM: Strategy = Strategy::Binpack(BinpackField::Memory);
const CPU: Strategy = Strategy::Binpack(BinpackField::Cpu);

fn spread(field: &str) -> Strategy {
    Strategy::Spread(field.to_string())
}

#[test]
fn binpack_memory_takes_the_least_remaining_memory_that_fits() {
    let mut state = ClusterState::new(vec![inst("a", 4096, 1000), inst("b", 4096, 3000), inst("c", 4096, 500)]);
    let p = state.place(&demand(0, 800, vec![MEM]), 1, &mut rng());
    assert_eq!(short(&p.placed), ["a"]);
    // a has 200 left now: the next 800 goes to b, then b again (2200 -> 1400 -> 600).
    let p = state.place(&demand(0, 800, vec![MEM]), 3, &mut rng());
    assert_eq!(short(&p.placed), ["b", "b", "b"]);
    assert_eq!(state.instance(&arn("b")).unwrap().remaining.memory, 600);
}

#[test]
fn binpack_cpu_takes_the_least_remaining_cpu_that_fits() {
    let mut state = ClusterState::new(vec![inst("a", 1024, 9000), inst("b", 512, 9000), inst("c", 256, 9000)]);
    let p = state.place(&demand(300, 0, vec![CPU]), 2, &mut rng());
    assert_eq!(short(&p.placed), ["b", "a"]);
}

#[test]
fn binpack_skips_instances_that_lack_the_other_resource() {
    let mut state = ClusterState::new(vec![inst("small-cpu", 100, 1000), inst("fits", 4096, 2000)]);
    let p = state.place(&demand(512, 512, vec![MEM]), 1, &mut rng());
    assert_eq!(short(&p.placed), ["fits"]);
}

#[test]
fn spread_over_instances_balances_the_group() {
    let mut state = ClusterState::new(vec![inst("a", 4096, 8192), inst("b", 4096, 8192), inst("c", 4096, 8192)]);
    let p = state.place(&demand(10, 10, vec![spread("instanceId")]), 6, &mut rng());
    assert_eq!(tally(&p.placed), BTreeMap::from([("a", 2), ("b", 2), ("c", 2)]));
    let p = state.place(&demand(10, 10, vec![spread("host")]), 3, &mut rng());
    assert_eq!(tally(&p.placed), BTreeMap::from([("a", 1), ("b", 1), ("c", 1)]));
}

#[test]
fn spread_over_an_attribute_balances_buckets_and_missing_values_share_one() {
    let mut state = ClusterState::new(vec![
        zoned("a1", "a"),
        zoned("a2", "a"),
        zoned("a3", "a"),
        zoned("b1", "b"),
        inst("none1", 4096, 8192),
        inst("none2", 4096, 8192).with_attribute("zone", None),
    ]);
    let p = state.place(&demand(10, 10, vec![spread("attribute:zone")]), 9, &mut rng());
    let t = tally(&p.placed);
    let zone_a = t.get("a1").unwrap_or(&0) + t.get("a2").unwrap_or(&0) + t.get("a3").unwrap_or(&0);
    let none = t.get("none1").unwrap_or(&0) + t.get("none2").unwrap_or(&0);
    assert_eq!((zone_a, *t.get("b1").unwrap_or(&0), none), (3, 3, 3));
}

#[test]
fn spread_counts_only_tasks_of_the_same_group() {
    let mut busy = zoned("a1", "a");
    busy.task_groups.insert("service:other".into(), 5);
    let mut state = ClusterState::new(vec![busy, zoned("b1", "b")]);
    let mut web = zoned("b2", "b");
    web.task_groups.insert("service:web".into(), 1);
    state.update_instance(web);
    let p = state.place(&demand(10, 10, vec![spread("attribute:zone")]), 1, &mut rng());
    assert_eq!(short(&p.placed), ["a1"], "zone a has no web task yet, whatever else runs there");
}

#[test]
fn chained_binpack_then_spread_breaks_memory_ties_by_zone() {
    let mut state = ClusterState::new(vec![zoned("a1", "a"), zoned("a2", "a"), zoned("b1", "b"), zoned("b2", "b")]);
    let d = demand(10, 4096, vec![MEM, spread("attribute:zone")]);
    // Binpack fills the first instance (8192 -> 4096 -> 0); the next memory tie (all at 8192) goes to the
    // zone without web tasks.
    let p = state.place(&d, 4, &mut rng());
    assert_eq!(p.placed[0], p.placed[1]);
    assert_eq!(p.placed[2], p.placed[3]);
    let zone = |a: &String| short(std::slice::from_ref(a))[0].chars().next();
    assert_ne!(zone(&p.placed[0]), zone(&p.placed[2]));
}

#[test]
fn chained_spread_then_binpack_packs_within_the_emptiest_zone() {
    let mut state = ClusterState::new(vec![
        zoned("a1", "a"),
        inst("a2", 4096, 1000).with_attribute("zone", Some("a")),
        zoned("b1", "b"),
    ]);
    let d = demand(10, 500, vec![spread("attribute:zone"), MEM]);
    let p = state.place(&d, 4, &mut rng());
    assert_eq!(short(&p.placed), ["a2", "b1", "a2", "b1"]);
}

#[test]
fn chained_spread_over_zones_then_instances_is_the_service_default() {
    let mut state = ClusterState::new(
        (0..6).map(|k| zoned(&format!("{}{k}", ["a", "b", "c"][k % 3]), ["a", "b", "c"][k % 3])).collect(),
    );
    let p = state.place(&demand(10, 10, crate::default_service_strategy()), 12, &mut rng());
    assert!(tally(&p.placed).values().all(|&n| n == 2), "{:?}", tally(&p.placed));
}

#[test]
fn binpack_then_spread_over_instances_scans_the_tie() {
    let mut busy = inst("busy", 4096, 4096);
    busy.task_groups.insert("service:web".into(), 1);
    let mut state = ClusterState::new(vec![busy, inst("idle", 4096, 4096), inst("big", 4096, 9000)]);
    let p = state.place(&demand(10, 100, vec![MEM, spread("instanceId")]), 1, &mut rng());
    assert_eq!(short(&p.placed), ["idle"]);
}

#[test]
fn random_reaches_every_feasible_instance_about_evenly() {
    let names: Vec<String> = (0..5).map(|k| format!("i{k}")).collect();
    let mut state = ClusterState::new(names.iter().map(|n| inst(n, 1 << 20, 1 << 20)).collect());
    state.update_instance(inst("full", 0, 0));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut r = rng();
    for _ in 0..2000 {
        let p = state.place(&demand(1, 1, vec![Strategy::Random]), 1, &mut r);
        *seen.entry(p.placed[0].clone()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.values().all(|&n| (300..500).contains(&n)), "{seen:?}");
    let p = state.place(&demand(1, 1, Vec::new()), 3, &mut r);
    assert_eq!(p.placed.len(), 3, "an empty strategy means random");
}

#[test]
fn random_after_a_strategy_only_breaks_its_ties() {
    let mut state = ClusterState::new(vec![inst("a", 4096, 1000), inst("b", 4096, 3000)]);
    let p = state.place(&demand(0, 100, vec![MEM, Strategy::Random, CPU]), 1, &mut rng());
    assert_eq!(short(&p.placed), ["a"]);
}

#[test]
fn distinct_instance_places_one_task_per_instance_then_fails() {
    let mut state = ClusterState::new(vec![inst("a", 4096, 8192), inst("b", 4096, 8192)]);
    let mut d = demand(10, 10, vec![MEM]);
    d.constraints = vec![Constraint::DistinctInstance];
    let p = state.place(&d, 3, &mut rng());
    assert_eq!(tally(&p.placed), BTreeMap::from([("a", 1), ("b", 1)]));
    assert_eq!(p.failures.len(), 2);
    assert!(p.failures.iter().all(|f| f.reason == "ATTRIBUTE"
        && f.detail.as_deref() == Some("DistinctInstance placement constraint unsatisfied.")));
    // Another group is not affected, and every instance is usable again after the call.
    let mut other = d.clone();
    other.group = "service:api".into();
    assert_eq!(state.place(&other, 2, &mut rng()).placed.len(), 2);
}

#[test]
fn member_of_restricts_instances_and_sees_earlier_placements() {
    let mut state = ClusterState::new(vec![
        inst("t2", 4096, 8192).with_attribute("type", Some("t2.small")),
        inst("m5", 4096, 8192).with_attribute("type", Some("m5.large")),
    ]);
    let mut d = demand(10, 10, vec![spread("instanceId")]);
    d.constraints = vec![member_of("attribute:type =~ t2.*")];
    let p = state.place(&d, 3, &mut rng());
    assert_eq!(short(&p.placed), ["t2", "t2", "t2"]);
    d.constraints = vec![member_of("runningTasksCount < 4")];
    let p = state.place(&d, 10, &mut rng());
    assert_eq!(p.placed.len(), 5, "t2 runs 3 tasks, so it takes 1 more; m5 takes 4");
    let mut db = demand(10, 10, vec![MEM]);
    db.group = "service:db".into();
    db.constraints = vec![member_of("task:group == service:web and attribute:type == m5.large")];
    assert_eq!(short(&state.place(&db, 1, &mut rng()).placed), ["m5"]);
}

#[test]
fn required_attributes_are_checked_per_class() {
    let mut state =
        ClusterState::new(vec![inst("plain", 4096, 8192), inst("gpu", 4096, 8192).with_attribute("gpu", None)]);
    let mut d = demand(10, 10, vec![MEM]);
    d.required_attributes = vec!["gpu".into()];
    assert_eq!(short(&state.place(&d, 2, &mut rng()).placed), ["gpu", "gpu"]);
}

#[test]
fn every_failure_reason_in_check_order() {
    let mut draining = inst("draining", 4096, 8192);
    draining.status = InstanceStatus::Draining;
    let mut inactive = inst("inactive", 4096, 8192);
    inactive.status = InstanceStatus::Inactive;
    let mut agent = inst("agent", 0, 0);
    agent.agent_connected = false;
    let mut ports = inst("ports", 4096, 8192).with_attribute("need", None);
    ports.used_tcp_ports.insert(80);
    let mut udp = inst("udp", 4096, 8192).with_attribute("need", None);
    udp.used_udp_ports.insert(53);
    let mut distinct = inst("distinct", 4096, 8192).with_attribute("need", None);
    distinct.task_groups.insert("service:web".into(), 1);
    let member = inst("member", 4096, 8192).with_attribute("need", None).with_attribute("zone", Some("b"));
    let mut state = ClusterState::new(vec![
        draining,
        inactive,
        agent,
        inst("missing", 4096, 8192),
        inst("cpu", 10, 8192).with_attribute("need", None),
        inst("memory", 4096, 10).with_attribute("need", None),
        ports,
        udp,
        distinct,
        member,
    ]);
    let mut d = demand(100, 100, vec![MEM]);
    d.tcp_ports = vec![80];
    d.udp_ports = vec![53];
    d.required_attributes = vec!["need".into()];
    d.constraints = vec![Constraint::DistinctInstance, member_of("attribute:zone == a")];
    let p = state.place(&d, 1, &mut rng());
    assert!(p.placed.is_empty());
    let got: Vec<(&str, &str, Option<&str>)> = p
        .failures
        .iter()
        .map(|f: &Failure| {
            (f.arn.as_deref().unwrap().rsplit('/').next().unwrap(), f.reason.as_str(), f.detail.as_deref())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("agent", "AGENT", None),
            ("cpu", "RESOURCE:CPU", None),
            ("distinct", "ATTRIBUTE", Some("DistinctInstance placement constraint unsatisfied.")),
            ("draining", "DRAINING", None),
            ("inactive", "INACTIVE", None),
            ("member", "ATTRIBUTE", Some("MemberOf placement constraint unsatisfied.")),
            ("memory", "RESOURCE:MEMORY", None),
            ("missing", "ATTRIBUTE", Some("The container instance is missing an attribute required by the task.")),
            ("ports", "RESOURCE:PORTS", None),
            ("udp", "RESOURCE:PORTS_UDP", None),
        ]
    );
    let (closest, why) = state.closest_match(&d).unwrap();
    assert_eq!(
        (closest.as_str(), why.as_str()),
        (arn("member").as_str(), "encountered error \"MemberOf placement constraint unsatisfied.\"")
    );
}

#[test]
fn closest_match_names_the_instance_with_the_most_of_what_is_lacking() {
    let mut state = ClusterState::new(vec![inst("a", 4096, 300), inst("b", 4096, 900), inst("c", 10, 100_000)]);
    let d = demand(100, 1000, vec![MEM]);
    assert_eq!(state.closest_match(&d), Some((arn("b"), "has insufficient memory available".to_string())));
    let d = demand(8000, 10, vec![MEM]);
    assert_eq!(state.closest_match(&d), Some((arn("a"), "has insufficient CPU units available".to_string())));
    assert_eq!(state.closest_match(&demand(1, 1, vec![])), None, "something fits");
    let mut ports = demand(1, 1, vec![]);
    ports.tcp_ports = vec![22];
    for name in ["a", "b", "c"] {
        let mut i = state.instance(&arn(name)).unwrap();
        i.used_tcp_ports.insert(22);
        state.update_instance(i);
    }
    assert_eq!(state.closest_match(&ports).unwrap().1, "is already using a port required by your task");
    let mut gone = state.instance(&arn("a")).unwrap();
    gone.agent_connected = false;
    state.update_instance(gone);
    let mut d = demand(1, 1, vec![]);
    d.required_attributes = vec!["x".into()];
    assert_eq!(state.closest_match(&d).unwrap().1, "is missing an attribute required by your task");
    let empty = ClusterState::new(Vec::new());
    assert_eq!(empty.closest_match(&d), None);
}

#[test]
fn release_gives_everything_back() {
    let mut state = ClusterState::new(vec![zoned("a", "a")]);
    let mut d = demand(100, 200, vec![spread("attribute:zone")]);
    d.tcp_ports = vec![8080];
    let before = state.instance(&arn("a")).unwrap();
    let p = state.place(&d, 1, &mut rng());
    let during = state.instance(&arn("a")).unwrap();
    assert_eq!(during.remaining, Resources::new(3996, 7992));
    assert!(during.used_tcp_ports.contains(&8080));
    assert_eq!(during.running_tasks_count, 1);
    assert_eq!(during.task_groups.get("service:web"), Some(&1));
    assert_eq!(state.place(&d, 1, &mut rng()).failures[0].reason, "RESOURCE:PORTS");
    state.release(&p.placed[0], &d).unwrap();
    assert_eq!(state.instance(&arn("a")).unwrap(), before);
    assert_eq!(state.release("arn:nope", &d), Err(StateError::UnknownInstance { arn: "arn:nope".into() }));
}

#[test]
fn updates_and_removals_take_effect() {
    let mut state = ClusterState::new(vec![inst("a", 4096, 8192), inst("b", 4096, 1024)]);
    let d = demand(10, 10, vec![MEM]);
    assert_eq!(short(&state.place(&d, 1, &mut rng()).placed), ["b"]);
    let mut b = state.instance(&arn("b")).unwrap();
    b.status = InstanceStatus::Draining;
    state.update_instance(b.clone());
    assert_eq!(short(&state.place(&d, 1, &mut rng()).placed), ["a"]);
    b.status = InstanceStatus::Active;
    b.agent_connected = false;
    state.update_instance(b.clone());
    assert_eq!(short(&state.place(&d, 1, &mut rng()).placed), ["a"]);
    b.agent_connected = true;
    state.update_instance(b);
    assert_eq!(short(&state.place(&d, 1, &mut rng()).placed), ["b"]);
    assert_eq!(state.remove_instance(&arn("b")).map(|i| i.arn), Some(arn("b")));
    assert_eq!(state.remove_instance(&arn("b")), None);
    assert_eq!(state.len(), 1);
    assert_eq!(short(&state.place(&d, 1, &mut rng()).placed), ["a"]);
    state.update_instance(inst("c", 4096, 64));
    assert_eq!(short(&state.place(&d, 1, &mut rng()).placed), ["c"]);
    assert!(!state.is_empty());
}

#[test]
fn attribute_changes_move_instances_between_classes() {
    let mut state = ClusterState::new(vec![zoned("x", "a"), zoned("y", "b")]);
    let mut d = demand(10, 10, vec![MEM]);
    d.constraints = vec![member_of("attribute:zone == b")];
    assert_eq!(short(&state.place(&d, 1, &mut rng()).placed), ["y"]);
    let mut x = state.instance(&arn("x")).unwrap();
    x.attributes.insert("zone".into(), Some("b".into()));
    state.update_instance(x);
    let mut y = state.instance(&arn("y")).unwrap();
    y.attributes.insert("zone".into(), Some("a".into()));
    state.update_instance(y);
    assert_eq!(short(&state.place(&d, 2, &mut rng()).placed), ["x", "x"]);
}

#[test]
fn agent_version_expressions_split_classes() {
    let mut old = inst("old", 4096, 8192);
    old.agent_version = "1.9.0".into();
    let mut new = inst("new", 4096, 8192);
    new.agent_version = "1.14.5".into();
    let mut state = ClusterState::new(vec![old, new]);
    let mut d = demand(10, 10, vec![]);
    d.constraints = vec![member_of("agentVersion >= 1.10")];
    assert_eq!(short(&state.place(&d, 3, &mut rng()).placed), ["new", "new", "new"]);
}

#[test]
fn zero_count_and_empty_clusters() {
    let mut state = ClusterState::new(Vec::new());
    let p = state.place(&demand(1, 1, vec![]), 3, &mut rng());
    assert!(p.placed.is_empty() && p.failures.is_empty());
    let mut state = ClusterState::new(vec![inst("a", 1, 1)]);
    assert_eq!(state.place(&demand(1, 1, vec![]), 0, &mut rng()), crate::Placement::default());
}

#[test]
fn reserve_then_release_leaves_the_instance_as_it_was() {
    let mut state = ClusterState::new(vec![inst("a", 1024, 2048)]);
    let before = state.instance(&arn("a")).unwrap();
    let mut d = demand(256, 512, vec![]);
    d.tcp_ports = vec![8080];
    state.reserve(&arn("a"), &d).unwrap();
    let held = state.instance(&arn("a")).unwrap();
    assert_eq!((held.remaining, held.running_tasks_count), (Resources::new(768, 1536), 1));
    assert!(held.used_tcp_ports.contains(&8080));
    assert_eq!(held.task_groups.get("service:web"), Some(&1));
    state.release(&arn("a"), &d).unwrap();
    assert_eq!(state.instance(&arn("a")).unwrap(), before);
    assert_eq!(state.reserve(&arn("ghost"), &d), Err(StateError::UnknownInstance { arn: arn("ghost") }));
}

#[test]
fn check_agrees_with_place_on_one_instance() {
    let mut state = ClusterState::new(vec![inst("a", 1024, 2048), inst("b", 128, 2048)]);
    let mut d = demand(512, 512, vec![]);
    d.constraints = vec![Constraint::DistinctInstance];
    assert_eq!(state.check(&arn("a"), &d), Ok(None));
    assert_eq!(state.check(&arn("b"), &d), Ok(Some(crate::FailureReason::Cpu)));
    state.reserve(&arn("a"), &d).unwrap();
    assert_eq!(state.check(&arn("a"), &d), Ok(Some(crate::FailureReason::DistinctInstance)));
    d.constraints = vec![member_of("runningTasksCount == 0")];
    assert_eq!(state.check(&arn("a"), &d), Ok(Some(crate::FailureReason::MemberOf)));
    assert!(state.check(&arn("ghost"), &d).is_err());
}
