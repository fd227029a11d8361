//! The service in process on a memory store and a manual clock: the JSON operations, the view, the change
//! notification, draining, the health source, and a reopen.

use crate::{Elb, ElbConfig, InstanceDirectory, Probe, TargetHealthSource};
use berth_model::clock::{Clock, ManualClock};
use serde_json::{Value, json};
use std::sync::Arc;

const START: f64 = 1_800_000_000.0;

struct World {
    store: berth_store::SharedStore,
    clock: Arc<ManualClock>,
    elb: Arc<Elb>,
}

async fn world() -> World {
    let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
    let clock = Arc::new(ManualClock::new(START));
    let elb = Elb::open(ElbConfig::new("us-east-1", "000000000000"), store.clone(), clock.clone()).await.unwrap();
    World { store, clock, elb }
}

async fn call(elb: &Elb, op: &str, input: Value) -> Result<Value, crate::ElbError> {
    let out = elb.call(op, input.to_string().as_bytes()).await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

async fn ok(elb: &Elb, op: &str, input: Value) -> Value {
    call(elb, op, input).await.unwrap_or_else(|e| panic!("{op}: {e}"))
}

async fn code(elb: &Elb, op: &str, input: Value) -> &'static str {
    call(elb, op, input).await.expect_err(op).code
}

/// A load balancer `web`, a target group `app` (ip, port 8080) and an HTTP listener on 80 forwarding to it.
async fn basic(elb: &Elb) -> (String, String, String) {
    let lb = ok(elb, "CreateLoadBalancer", json!({"Name": "web"})).await;
    let lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap().to_string();
    let tg = ok(
        elb,
        "CreateTargetGroup",
        json!({"Name": "app", "Protocol": "HTTP", "Port": 8080, "VpcId": crate::config::VPC_ID, "TargetType": "ip"}),
    )
    .await;
    let tg_arn = tg["TargetGroups"][0]["TargetGroupArn"].as_str().unwrap().to_string();
    let l = ok(
        elb,
        "CreateListener",
        json!({"LoadBalancerArn": lb_arn, "Protocol": "HTTP", "Port": 80,
               "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg_arn}]}),
    )
    .await;
    let listener = l["Listeners"][0]["ListenerArn"].as_str().unwrap().to_string();
    (lb_arn, tg_arn, listener)
}

#[tokio::test]
async fn load_balancers_have_aws_shapes_and_their_own_addresses() {
    let w = world().await;
    let a = ok(&w.elb, "CreateLoadBalancer", json!({"Name": "a", "Tags": [{"Key": "team", "Value": "x"}]})).await;
    let lb = &a["LoadBalancers"][0];
    let arn = lb["LoadBalancerArn"].as_str().unwrap();
    assert!(arn.starts_with("arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/a/"), "{arn}");
    assert_eq!(arn.rsplit('/').next().unwrap().len(), 16);
    let dns = lb["DNSName"].as_str().unwrap();
    assert!(dns.starts_with("a-") && dns.ends_with(".us-east-1.elb.berth.internal"), "{dns}");
    assert_eq!(dns.split('.').next().unwrap().len(), 2 + 10);
    assert_eq!(lb["State"]["Code"], "active");
    assert_eq!(lb["Scheme"], "internet-facing");
    assert_eq!(lb["AvailabilityZones"].as_array().unwrap().len(), 2);
    // Idempotent for the same settings; a different scheme is a duplicate.
    let again = ok(&w.elb, "CreateLoadBalancer", json!({"Name": "a"})).await;
    assert_eq!(again["LoadBalancers"][0]["LoadBalancerArn"], lb["LoadBalancerArn"]);
    assert_eq!(
        code(&w.elb, "CreateLoadBalancer", json!({"Name": "a", "Scheme": "internal"})).await,
        "DuplicateLoadBalancerName"
    );
    let b = ok(&w.elb, "CreateLoadBalancer", json!({"Name": "b", "Scheme": "internal"})).await;
    assert!(b["LoadBalancers"][0]["DNSName"].as_str().unwrap().starts_with("internal-b-"));
    let view = w.elb.view();
    let addresses: Vec<String> = view.load_balancers.iter().map(|l| l.address.to_string()).collect();
    assert_eq!(addresses, vec!["127.0.1.1", "127.0.1.2"]);
    assert_eq!(
        code(&w.elb, "CreateLoadBalancer", json!({"Name": "n", "Type": "network"})).await,
        "OperationNotPermitted"
    );
    assert_eq!(code(&w.elb, "CreateLoadBalancer", json!({"Name": "bad_name"})).await, "ValidationError");
    assert_eq!(
        code(
            &w.elb,
            "CreateLoadBalancer",
            json!({"Name": "s", "Subnets": ["subnet-nope", "subnet-0be7f00000000000a"]})
        )
        .await,
        "SubnetNotFound"
    );
    assert_eq!(
        code(&w.elb, "CreateLoadBalancer", json!({"Name": "s", "Subnets": ["subnet-0be7f00000000000a"]})).await,
        "ValidationError"
    );
    let page = ok(&w.elb, "DescribeLoadBalancers", json!({"PageSize": 1})).await;
    assert_eq!(page["LoadBalancers"][0]["LoadBalancerName"], "a");
    let next = ok(&w.elb, "DescribeLoadBalancers", json!({"PageSize": 1, "Marker": page["NextMarker"]})).await;
    assert_eq!(next["LoadBalancers"][0]["LoadBalancerName"], "b");
    assert!(next.get("NextMarker").is_none());
    assert_eq!(code(&w.elb, "DescribeLoadBalancers", json!({"Names": ["zzz"]})).await, "LoadBalancerNotFound");
    // Deletion protection, then delete (twice: the second succeeds as on AWS).
    let attrs =
        json!({"LoadBalancerArn": arn, "Attributes": [{"Key": "deletion_protection.enabled", "Value": "true"}]});
    ok(&w.elb, "ModifyLoadBalancerAttributes", attrs).await;
    assert_eq!(code(&w.elb, "DeleteLoadBalancer", json!({"LoadBalancerArn": arn})).await, "OperationNotPermitted");
    let attrs =
        json!({"LoadBalancerArn": arn, "Attributes": [{"Key": "deletion_protection.enabled", "Value": "false"}]});
    ok(&w.elb, "ModifyLoadBalancerAttributes", attrs).await;
    ok(&w.elb, "DeleteLoadBalancer", json!({"LoadBalancerArn": arn})).await;
    ok(&w.elb, "DeleteLoadBalancer", json!({"LoadBalancerArn": arn})).await;
    // The freed address is given to the next one.
    ok(&w.elb, "CreateLoadBalancer", json!({"Name": "c"})).await;
    assert!(w.elb.view().load_balancers.iter().any(|l| l.name == "c" && l.address.to_string() == "127.0.1.1"));
}

#[tokio::test]
async fn listeners_rules_and_priorities() {
    let w = world().await;
    let (lb, tg, listener) = basic(&w.elb).await;
    let dup = json!({"LoadBalancerArn": lb, "Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]});
    assert_eq!(code(&w.elb, "CreateListener", dup).await, "DuplicateListener");
    let https = json!({"LoadBalancerArn": lb, "Protocol": "HTTPS", "Port": 443, "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]});
    assert_eq!(code(&w.elb, "CreateListener", https).await, "UnsupportedProtocol");
    let rule = |p: i32, path: &str| {
        json!({"ListenerArn": listener, "Priority": p,
               "Conditions": [{"Field": "path-pattern", "Values": [path]}],
               "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}]})
    };
    let r10 = ok(&w.elb, "CreateRule", rule(10, "/a/*")).await["Rules"][0]["RuleArn"].as_str().unwrap().to_string();
    let r20 = ok(&w.elb, "CreateRule", rule(20, "/b/*")).await["Rules"][0]["RuleArn"].as_str().unwrap().to_string();
    assert!(r10.contains(":listener-rule/app/web/"));
    assert_eq!(code(&w.elb, "CreateRule", rule(10, "/c")).await, "PriorityInUse");
    let rules = ok(&w.elb, "DescribeRules", json!({"ListenerArn": listener})).await;
    let priorities: Vec<&str> =
        rules["Rules"].as_array().unwrap().iter().map(|r| r["Priority"].as_str().unwrap()).collect();
    assert_eq!(priorities, vec!["10", "20", "default"]);
    assert_eq!(rules["Rules"][2]["IsDefault"], true);
    assert_eq!(rules["Rules"][0]["Conditions"][0]["PathPatternConfig"]["Values"][0], "/a/*");
    let default_arn = rules["Rules"][2]["RuleArn"].as_str().unwrap().to_string();
    assert_eq!(code(&w.elb, "DeleteRule", json!({"RuleArn": default_arn})).await, "OperationNotPermitted");
    // Swapping two priorities at once is fine; a clash is PriorityInUse.
    let swap = json!({"RulePriorities": [{"RuleArn": r10, "Priority": 20}, {"RuleArn": r20, "Priority": 10}]});
    ok(&w.elb, "SetRulePriorities", swap).await;
    let clash = json!({"RulePriorities": [{"RuleArn": r10, "Priority": 10}]});
    assert_eq!(code(&w.elb, "SetRulePriorities", clash).await, "PriorityInUse");
    let view = w.elb.view();
    let rules = &view.load_balancers[0].listeners[0].rules;
    assert_eq!((rules[0].arn.as_str(), rules[0].priority), (r20.as_str(), Some(10)));
    assert_eq!(rules[2].priority, None);
    // The target group is in use: it cannot be deleted, and it names its load balancer.
    assert_eq!(code(&w.elb, "DeleteTargetGroup", json!({"TargetGroupArn": tg})).await, "ResourceInUse");
    let tgs = ok(&w.elb, "DescribeTargetGroups", json!({"LoadBalancerArn": lb})).await;
    assert_eq!(tgs["TargetGroups"][0]["LoadBalancerArns"][0], lb.as_str());
    // A second load balancer cannot use the same group.
    let other =
        ok(&w.elb, "CreateLoadBalancer", json!({"Name": "other"})).await["LoadBalancers"][0]["LoadBalancerArn"].clone();
    let shared = json!({"LoadBalancerArn": other, "Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]});
    assert_eq!(code(&w.elb, "CreateListener", shared).await, "TargetGroupAssociationLimit");
    // Deleting the load balancer takes its listener and rules; then the group can go.
    ok(&w.elb, "DeleteLoadBalancer", json!({"LoadBalancerArn": lb})).await;
    assert_eq!(code(&w.elb, "DescribeListeners", json!({"ListenerArns": [listener]})).await, "ListenerNotFound");
    assert_eq!(code(&w.elb, "DescribeRules", json!({"RuleArns": [r10]})).await, "RuleNotFound");
    ok(&w.elb, "DeleteTargetGroup", json!({"TargetGroupArn": tg})).await;
    assert_eq!(code(&w.elb, "DeleteTargetGroup", json!({"TargetGroupArn": tg})).await, "TargetGroupNotFound");
}

struct Probes;

impl TargetHealthSource for Probes {
    fn probe(&self, _tg: &str, id: &str, _port: u16) -> Option<Probe> {
        match id {
            "172.17.0.2" => Some(Probe::Healthy),
            "172.17.0.3" => Some(Probe::ResponseCodeMismatch(500)),
            _ => None,
        }
    }
}

fn states(v: &Value) -> Vec<(String, String, String)> {
    v["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["Target"]["Id"].as_str().unwrap().to_string(),
                d["TargetHealth"]["State"].as_str().unwrap().to_string(),
                d["TargetHealth"]["Reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn targets_health_and_draining() {
    let w = world().await;
    let tg = ok(
        &w.elb,
        "CreateTargetGroup",
        json!({"Name": "solo", "Protocol": "HTTP", "Port": 80, "VpcId": crate::config::VPC_ID, "TargetType": "ip"}),
    )
    .await;
    let solo = tg["TargetGroups"][0]["TargetGroupArn"].as_str().unwrap().to_string();
    ok(&w.elb, "RegisterTargets", json!({"TargetGroupArn": solo, "Targets": [{"Id": "172.17.0.9"}]})).await;
    let h = ok(&w.elb, "DescribeTargetHealth", json!({"TargetGroupArn": solo})).await;
    assert_eq!(states(&h), vec![("172.17.0.9".into(), "unused".into(), "Target.NotInUse".into())]);

    let (_, tg, _) = basic(&w.elb).await;
    let mut generation = w.elb.subscribe();
    let before = *generation.borrow_and_update();
    let targets = json!({"TargetGroupArn": tg, "Targets": [{"Id": "172.17.0.2"}, {"Id": "172.17.0.3", "Port": 9000}, {"Id": "127.0.0.1", "AvailabilityZone": "all"}]});
    ok(&w.elb, "RegisterTargets", targets).await;
    assert!(generation.has_changed().unwrap());
    assert!(*generation.borrow_and_update() > before);
    let h = ok(&w.elb, "DescribeTargetHealth", json!({"TargetGroupArn": tg})).await;
    assert!(states(&h).iter().all(|(_, s, r)| s == "initial" && r == "Elb.RegistrationInProgress"), "{h}");
    w.elb.set_health_source(Arc::new(Probes));
    let h = ok(&w.elb, "DescribeTargetHealth", json!({"TargetGroupArn": tg})).await;
    assert_eq!(
        states(&h),
        vec![
            ("172.17.0.2".into(), "healthy".into(), String::new()),
            ("172.17.0.3".into(), "unhealthy".into(), "Target.ResponseCodeMismatch".into()),
            ("127.0.0.1".into(), "initial".into(), "Elb.RegistrationInProgress".into()),
        ]
    );
    assert_eq!(
        h["TargetHealthDescriptions"][1]["TargetHealth"]["Description"],
        "Health checks failed with these codes: [500]"
    );
    assert_eq!(h["TargetHealthDescriptions"][1]["HealthCheckPort"], "9000");
    // Bad targets.
    let outside = json!({"TargetGroupArn": tg, "Targets": [{"Id": "8.8.8.8"}]});
    assert_eq!(code(&w.elb, "RegisterTargets", outside).await, "InvalidTarget");
    let public_all = json!({"TargetGroupArn": tg, "Targets": [{"Id": "8.8.8.8", "AvailabilityZone": "all"}]});
    assert_eq!(code(&w.elb, "RegisterTargets", public_all).await, "InvalidTarget");
    let not_ip = json!({"TargetGroupArn": tg, "Targets": [{"Id": "i-0123"}]});
    assert_eq!(code(&w.elb, "RegisterTargets", not_ip).await, "InvalidTarget");
    // Draining for the deregistration delay, then gone.
    let delay =
        json!({"TargetGroupArn": tg, "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "10"}]});
    ok(&w.elb, "ModifyTargetGroupAttributes", delay).await;
    ok(&w.elb, "DeregisterTargets", json!({"TargetGroupArn": tg, "Targets": [{"Id": "172.17.0.2"}]})).await;
    let asked = json!({"TargetGroupArn": tg, "Targets": [{"Id": "172.17.0.2"}, {"Id": "172.17.0.99"}]});
    let h = ok(&w.elb, "DescribeTargetHealth", asked.clone()).await;
    assert_eq!(
        states(&h),
        vec![
            ("172.17.0.2".into(), "draining".into(), "Target.DeregistrationInProgress".into()),
            ("172.17.0.99".into(), "unused".into(), "Target.NotRegistered".into()),
        ]
    );
    let draining =
        w.elb.view().target_group(&tg).unwrap().targets.iter().find(|t| t.id == "172.17.0.2").unwrap().draining_until;
    assert_eq!(draining, Some(START + 10.0));
    w.clock.advance(11.0);
    let h = ok(&w.elb, "DescribeTargetHealth", asked).await;
    assert_eq!(states(&h)[0].2, "Target.NotRegistered");
    assert_eq!(w.elb.view().target_group(&tg).unwrap().targets.len(), 2);
    // Library calls, as the ECS service controller makes them.
    w.elb.register_targets(&tg, &[("172.17.0.5".into(), Some(8081))]).await.unwrap();
    assert!(w.elb.view().target_group(&tg).unwrap().targets.iter().any(|t| t.id == "172.17.0.5" && t.port == 8081));
    let now = w.clock.now();
    w.elb.deregister_targets(&tg, &[("172.17.0.5".into(), Some(8081))]).await.unwrap();
    let t = w.elb.view().target_group(&tg).unwrap().targets.iter().find(|t| t.id == "172.17.0.5").cloned().unwrap();
    assert_eq!(t.draining_until, Some(now + 10.0));
}

struct Hosts;

impl InstanceDirectory for Hosts {
    fn is_instance(&self, id: &str) -> bool {
        id == "host-a"
    }
}

#[tokio::test]
async fn instance_targets_are_container_instances() {
    let w = world().await;
    w.elb.set_instance_directory(Arc::new(Hosts));
    let tg = ok(
        &w.elb,
        "CreateTargetGroup",
        json!({"Name": "inst", "Protocol": "HTTP", "Port": 80, "VpcId": crate::config::VPC_ID}),
    )
    .await;
    let arn = tg["TargetGroups"][0]["TargetGroupArn"].as_str().unwrap().to_string();
    assert_eq!(tg["TargetGroups"][0]["TargetType"], "instance");
    ok(&w.elb, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": [{"Id": "host-a", "Port": 32768}]})).await;
    assert_eq!(
        code(&w.elb, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": [{"Id": "i-nope"}]})).await,
        "InvalidTarget"
    );
    assert_eq!(
        code(&w.elb, "CreateTargetGroup", json!({"Name": "l", "TargetType": "lambda"})).await,
        "OperationNotPermitted"
    );
    let bad_hc = json!({"Name": "hc", "Protocol": "HTTP", "Port": 80, "VpcId": crate::config::VPC_ID,
                        "HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 6});
    let e = call(&w.elb, "CreateTargetGroup", bad_hc).await.unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        ("ValidationError", "Health check interval must be greater than the timeout.")
    );
    assert_eq!(
        code(&w.elb, "CreateTargetGroup", json!({"Name": "v", "Protocol": "HTTP", "Port": 80, "VpcId": "vpc-1"})).await,
        "ValidationError"
    );
    assert_eq!(
        code(
            &w.elb,
            "CreateTargetGroup",
            json!({"Name": "inst", "Protocol": "HTTP", "Port": 81, "VpcId": crate::config::VPC_ID})
        )
        .await,
        "DuplicateTargetGroupName"
    );
}

#[tokio::test]
async fn tags_and_a_reopen() {
    let w = world().await;
    let (lb, tg, listener) = basic(&w.elb).await;
    let rules = ok(&w.elb, "DescribeRules", json!({"ListenerArn": listener})).await;
    let default_rule = rules["Rules"][0]["RuleArn"].as_str().unwrap().to_string();
    let all = json!([lb, tg, listener, default_rule]);
    ok(
        &w.elb,
        "AddTags",
        json!({"ResourceArns": all, "Tags": [{"Key": "env", "Value": "prod"}, {"Key": "x", "Value": "1"}]}),
    )
    .await;
    ok(&w.elb, "RemoveTags", json!({"ResourceArns": [lb], "TagKeys": ["x"]})).await;
    let tags = ok(&w.elb, "DescribeTags", json!({"ResourceArns": all})).await;
    let counts: Vec<usize> =
        tags["TagDescriptions"].as_array().unwrap().iter().map(|d| d["Tags"].as_array().unwrap().len()).collect();
    assert_eq!(counts, vec![1, 2, 2, 2]);
    let reserved = json!({"ResourceArns": [lb], "Tags": [{"Key": "aws:x", "Value": "1"}]});
    assert_eq!(code(&w.elb, "AddTags", reserved).await, "ValidationError");
    let missing = json!({"ResourceArns": [format!("{lb}0")], "Tags": [{"Key": "a"}]});
    assert_eq!(code(&w.elb, "AddTags", missing).await, "LoadBalancerNotFound");
    ok(&w.elb, "RegisterTargets", json!({"TargetGroupArn": tg, "Targets": [{"Id": "172.17.0.2"}]})).await;
    let before = w.elb.view();
    let reopened =
        Elb::open(ElbConfig::new("us-east-1", "000000000000"), w.store.clone(), w.clock.clone()).await.unwrap();
    let after = reopened.view();
    assert_eq!(
        (after.load_balancers.clone(), after.target_groups.clone()),
        (before.load_balancers.clone(), before.target_groups.clone())
    );
    let tags = ok(&reopened, "DescribeTags", json!({"ResourceArns": [default_rule]})).await;
    assert_eq!(tags["TagDescriptions"][0]["Tags"][0]["Key"], "env");
    assert_eq!(code(&w.elb, "SetSubnets", json!({"LoadBalancerArn": lb})).await, "OperationNotPermitted");
}

#[tokio::test]
async fn a_second_server_on_the_same_store_follows_through_the_watch() {
    let w = world().await;
    let other = Elb::open(ElbConfig::new("us-east-1", "000000000000"), w.store.clone(), w.clock.clone()).await.unwrap();
    other.spawn_watch();
    let mut changes = other.subscribe();
    changes.borrow_and_update();
    let (lb, ..) = basic(&w.elb).await;
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while other.view().load_balancers.is_empty() || other.view().target_groups.is_empty() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the other server sees the change");
    assert_eq!(other.view().load_balancers[0].arn, lb);
    assert_eq!(other.view().load_balancers[0].listeners.len(), 1);
    // Its own writes are not reloaded as foreign ones, and the first server does not see them without a watch.
    let before = *other.subscribe().borrow();
    ok(&other, "CreateLoadBalancer", json!({"Name": "second"})).await;
    assert_eq!(*other.subscribe().borrow(), before + 1);
    assert_eq!(w.elb.view().load_balancers.len(), 1);
}

struct Catalog;

impl crate::CertificateCatalog for Catalog {
    fn exists(&self, arn: &str) -> bool {
        arn.ends_with("/known") || arn.ends_with("/other")
    }
}

#[tokio::test]
async fn https_listeners_certificates_and_ssl_policies() {
    let w = world().await;
    w.elb.set_certificate_catalog(Arc::new(Catalog));
    let (lb, tg, http) = basic(&w.elb).await;
    let cert = "arn:aws:acm:us-east-1:000000000000:certificate/known";
    let fwd = json!([{"Type": "forward", "TargetGroupArn": tg}]);
    let https = |extra: Value| {
        let mut v = json!({"LoadBalancerArn": lb, "Protocol": "HTTPS", "Port": 443, "DefaultActions": fwd});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    assert_eq!(code(&w.elb, "CreateListener", https(json!({}))).await, "ValidationError");
    let missing = json!({"Certificates": [{"CertificateArn": "arn:aws:acm:us-east-1:000000000000:certificate/nope"}]});
    assert_eq!(code(&w.elb, "CreateListener", https(missing)).await, "CertificateNotFound");
    let bad_policy = json!({"Certificates": [{"CertificateArn": cert}], "SslPolicy": "Nope"});
    assert_eq!(code(&w.elb, "CreateListener", https(bad_policy)).await, "SSLPolicyNotFound");
    let tls13 = json!({"Certificates": [{"CertificateArn": cert}], "SslPolicy": "ELBSecurityPolicy-TLS13-1-3-2021-06"});
    assert_eq!(code(&w.elb, "CreateListener", https(tls13)).await, "OperationNotPermitted");
    let l = ok(&w.elb, "CreateListener", https(json!({"Certificates": [{"CertificateArn": cert}]}))).await;
    let l = &l["Listeners"][0];
    assert_eq!(l["Protocol"], "HTTPS");
    assert_eq!(l["SslPolicy"], "ELBSecurityPolicy-2016-08");
    assert_eq!(l["Certificates"][0]["CertificateArn"], cert);
    let arn = l["ListenerArn"].as_str().unwrap().to_string();
    assert_eq!(w.elb.certificate_users(cert), vec![lb.clone()]);
    let view = w.elb.view();
    let lv = view.load_balancers[0].listeners.iter().find(|x| x.arn == arn).unwrap();
    assert_eq!(lv.certificate_arn.as_deref(), Some(cert));

    let d = ok(&w.elb, "DescribeListenerCertificates", json!({"ListenerArn": arn})).await;
    assert_eq!(d["Certificates"], json!([{"CertificateArn": cert, "IsDefault": true}]));
    let other = "arn:aws:acm:us-east-1:000000000000:certificate/other";
    let add = json!({"ListenerArn": arn, "Certificates": [{"CertificateArn": other}]});
    assert_eq!(code(&w.elb, "AddListenerCertificates", add).await, "OperationNotPermitted");
    let remove = json!({"ListenerArn": arn, "Certificates": [{"CertificateArn": cert}]});
    assert_eq!(code(&w.elb, "RemoveListenerCertificates", remove).await, "OperationNotPermitted");

    // ModifyListener moves the default certificate and the policy; to HTTP drops both.
    let m = ok(
        &w.elb,
        "ModifyListener",
        json!({"ListenerArn": arn, "Certificates": [{"CertificateArn": other}], "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}),
    )
    .await;
    assert_eq!(m["Listeners"][0]["Certificates"][0]["CertificateArn"], other);
    assert_eq!(m["Listeners"][0]["SslPolicy"], "ELBSecurityPolicy-TLS13-1-2-2021-06");
    assert!(w.elb.certificate_users(cert).is_empty());
    let m = ok(&w.elb, "ModifyListener", json!({"ListenerArn": arn, "Protocol": "HTTP"})).await;
    assert!(m["Listeners"][0].get("Certificates").is_none());
    assert_eq!(
        code(&w.elb, "ModifyListener", json!({"ListenerArn": http, "Protocol": "HTTPS"})).await,
        "ValidationError"
    );
    let with_cert = json!({"ListenerArn": http, "Certificates": [{"CertificateArn": cert}]});
    assert_eq!(code(&w.elb, "ModifyListener", with_cert).await, "ValidationError");

    let p = ok(&w.elb, "DescribeSSLPolicies", json!({"Names": ["ELBSecurityPolicy-2016-08"]})).await;
    assert_eq!(p["SslPolicies"][0]["SslProtocols"], json!(["TLSv1", "TLSv1.1", "TLSv1.2"]));
    let all = ok(&w.elb, "DescribeSSLPolicies", json!({})).await;
    assert!(all["SslPolicies"].as_array().unwrap().len() >= 8);
}
