use super::*;
use crate::expr::parse_expression;
use crate::{Instance, Resources};

fn instance() -> Instance {
    let mut i = Instance::new("arn:aws:ecs:us-east-1:0:container-instance/c/abc", Resources::new(2048, 4096))
        .with_attribute("ecs.instance-type", Some("t2.small"))
        .with_attribute("ecs.availability-zone", Some("us-east-1a"))
        .with_attribute("stack", Some("prod"))
        .with_attribute("size", Some("10"))
        .with_attribute("marker", None);
    i.agent_version = "1.14.5".into();
    i.ec2_instance_id = "i-abcd1234".into();
    i.registered_at = 1_529_360_908.5; // 2018-06-18T22:28:28.5Z
    i.running_tasks_count = 2;
    i.task_groups.insert("service:production".into(), 2);
    i.task_groups.insert("family:gone".into(), 0);
    i
}

fn holds(text: &str) -> bool {
    parse_expression(text).unwrap_or_else(|e| panic!("{e}")).matches(&instance())
}

fn check(cases: &[(&str, bool)]) {
    for (text, want) in cases {
        assert_eq!(holds(text), *want, "{text}");
    }
}

#[test]
fn attributes() {
    check(&[
        ("attribute:ecs.instance-type == t2.small", true),
        ("attribute:ecs.instance-type equals t2.medium", false),
        ("attribute:ecs.instance-type != t2.medium", true),
        ("attribute:ecs.instance-type =~ t2.*", true),
        ("attribute:ecs.instance-type =~ t2", false),
        ("attribute:ecs.instance-type !~ g2.*", true),
        ("attribute:ecs.instance-type in [t2.small, t2.medium]", true),
        ("attribute:ecs.instance-type !in [t2.small, t2.medium]", false),
        ("attribute:ecs.instance-type not_in [m5.large]", true),
        ("attribute:size > 9", true),
        ("attribute:size >= 10", true),
        ("attribute:size < 9", false),
        ("attribute:size <= 10.0", true),
        ("attribute:size == 10.0", false),
        ("attribute:stack exists", true),
        ("attribute:stack !exists", false),
        ("attribute:marker exists", true),
        ("attribute:marker == x", false),
        ("attribute:marker != x", false),
    ]);
}

#[test]
fn missing_attributes_fail_every_value_operator() {
    check(&[
        ("attribute:nope == x", false),
        ("attribute:nope != x", false),
        ("attribute:nope in [x]", false),
        ("attribute:nope !in [x]", false),
        ("attribute:nope =~ .*", false),
        ("attribute:nope !~ x", false),
        ("attribute:nope > 1", false),
        ("attribute:nope exists", false),
        ("attribute:nope !exists", true),
        ("not attribute:nope == x", true),
    ]);
}

#[test]
fn agent_fields() {
    check(&[
        ("agentConnected == true", true),
        ("agentConnected == TRUE", true),
        ("agentConnected != true", false),
        ("agentConnected in [false]", false),
        ("agentConnected !in [false]", true),
        ("agentConnected =~ t.*", true),
        ("agentConnected !~ t.*", false),
        ("agentVersion == 1.14.5", true),
        ("agentVersion < 1.14.10", true),
        ("agentVersion > 1.9", true),
        ("agentVersion >= 1.14.5", true),
        ("agentVersion <= 1.14.4", false),
        ("agentVersion != 1.14.5", false),
    ]);
}

#[test]
fn instance_identity_and_time() {
    check(&[
        ("ec2InstanceId == i-abcd1234", true),
        ("ec2InstanceId != i-abcd1234", false),
        ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", true),
        ("ec2InstanceId !in ['i-wxyx7890']", true),
        ("ec2InstanceId =~ i-[a-f0-9]+", true),
        ("ec2InstanceId !~ i-.*", false),
        ("registeredAt == 2018-06-18", true),
        ("registeredAt > 2018-06-17", true),
        ("registeredAt < 2018-06-19", true),
        ("registeredAt > 2018-06-18", false),
        ("registeredAt >= 2018-06-18", true),
        ("registeredAt <= 2018-06-17", false),
        ("registeredAt != 2018-06-18", false),
        ("registeredAt == 2018-06-18T22:28:28Z", true),
        ("registeredAt == 2018-06-18T22:28:28+00:00", true),
        ("registeredAt == 2018-06-18T22:28:28", true),
        ("registeredAt < 2018-06-18T22:28:29Z", true),
        ("registeredAt > 2018-06-18T22:28:27Z", true),
        ("registeredAt > 2018-06-18T22:28:28Z", false),
    ]);
}

#[test]
fn running_tasks_count() {
    check(&[
        ("runningTasksCount == 2", true),
        ("runningTasksCount != 2", false),
        ("runningTasksCount > 1", true),
        ("runningTasksCount >= 3", false),
        ("runningTasksCount < 3", true),
        ("runningTasksCount <= 1", false),
    ]);
}

#[test]
fn task_groups() {
    check(&[
        ("task:group == service:production", true),
        ("task:group == database", false),
        ("not(task:group == database)", true),
        ("task:group != database", true),
        ("task:group != service:production", false),
        ("task:group == family:gone", false),
        ("task:group in [database, service:production]", true),
        ("task:group !in [service:production]", false),
        ("task:group =~ service:.*", true),
        ("task:group !~ service:.*", false),
        ("task:group exists", true),
        ("task:group !exists", false),
    ]);
    let mut empty = instance();
    empty.task_groups.clear();
    assert!(parse_expression("task:group !exists").unwrap().matches(&empty));
    assert!(!parse_expression("task:group != database").unwrap().matches(&empty));
}

#[test]
fn boolean_combinations() {
    check(&[
        ("attribute:stack == prod and runningTasksCount == 2", true),
        ("attribute:stack == prod and runningTasksCount == 3", false),
        ("attribute:stack == dev or runningTasksCount == 2", true),
        ("attribute:stack == dev || runningTasksCount == 3", false),
        ("!(attribute:stack == dev)", true),
        ("attribute:stack == dev or attribute:stack == prod and runningTasksCount == 2", true),
        ("(attribute:stack == dev or attribute:stack == prod) and runningTasksCount == 3", false),
    ]);
}

/// A view that knows only attributes.
struct AttributesOnly(Instance);

impl Facts for AttributesOnly {
    fn attribute(&self, name: &str) -> AttrFact<'_> {
        AttrFact::of(self.0.attributes.get(name))
    }
    fn agent_connected(&self) -> Option<bool> {
        None
    }
    fn agent_version(&self) -> Option<&str> {
        None
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        None
    }
    fn registered_at(&self) -> Option<f64> {
        None
    }
    fn running_tasks_count(&self) -> Option<u32> {
        None
    }
    fn any_group(&self, _: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        None
    }
}

#[test]
fn three_valued_logic() {
    let view = AttributesOnly(instance());
    let e = |s: &str| eval(&parse_expression(s).unwrap(), &view);
    assert_eq!(e("attribute:stack == prod"), Tri::True);
    assert_eq!(e("runningTasksCount > 1"), Tri::Unknown);
    assert_eq!(e("not runningTasksCount > 1"), Tri::Unknown);
    assert_eq!(e("attribute:stack == dev and runningTasksCount > 1"), Tri::False);
    assert_eq!(e("runningTasksCount > 1 and attribute:stack == dev"), Tri::False);
    assert_eq!(e("runningTasksCount > 1 and attribute:stack == prod"), Tri::Unknown);
    assert_eq!(e("attribute:stack == prod or task:group exists"), Tri::True);
    assert_eq!(e("task:group exists or attribute:stack == prod"), Tri::True);
    assert_eq!(e("task:group exists or attribute:stack == dev"), Tri::Unknown);
    assert_eq!(e("agentVersion > 1 or ec2InstanceId == x or registeredAt > 2018-01-01"), Tri::Unknown);
    assert_eq!(e("agentConnected == true"), Tri::Unknown);
}
