//! ELBv2 end to end: the unchanged aws CLI (`aws elbv2`, AWS query protocol, XML answers) against `berth
//! server`. A load balancer, target groups, a listener and rules, attributes, tags, targets and their health,
//! ELBv2's errors for bad input, and a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{elb, s};

use berth_testkit::{Berth, BerthOptions};
use serde_json::Value;

const VPC: &str = "vpc-0be7f000000000001";

/// The API alone (`--no-load-balancer`): target health stays the records' own (`initial` until probed), and the
/// listeners bind nothing. `elb_traffic.rs` runs the data plane.
fn server() -> Berth {
    Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--no-load-balancer".into()],
    })
    .expect("berth server starts")
}

/// Runs a command that must fail with ELBv2's error `code`; its standard error.
fn elb_err(berth: &Berth, args: &[&str], code: &str) -> String {
    let e = common::aws_err(berth, "elbv2", args);
    assert!(e.contains(&format!("({code})")), "aws elbv2 {args:?}: expected {code}, got {e}");
    e
}

fn create_tg(berth: &Berth, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["create-target-group", "--name", name, "--protocol", "HTTP", "--port", "8080", "--vpc-id", VPC];
    args.extend_from_slice(extra);
    s(&elb(berth, &args)["TargetGroups"][0]["TargetGroupArn"])
}

#[test]
fn load_balancers_listeners_rules_and_targets_with_elbv2_errors_survive_a_restart() {
    let mut berth = server();
    let lb = elb(&berth, &["create-load-balancer", "--name", "web", "--tags", "Key=team,Value=core"]);
    let lb = &lb["LoadBalancers"][0];
    let lb_arn = s(&lb["LoadBalancerArn"]);
    assert!(lb_arn.contains(":loadbalancer/app/web/"), "{lb}");
    assert_eq!(lb["State"]["Code"], "active");
    assert_eq!(lb["Type"], "application");
    assert_eq!(lb["VpcId"], VPC);
    assert!(s(&lb["DNSName"]).ends_with(".us-east-1.elb.berth.internal"), "{lb}");
    assert_eq!(lb["AvailabilityZones"].as_array().unwrap().len(), 2, "{lb}");
    assert!(lb["CreatedTime"].as_str().unwrap().starts_with("20"), "{lb}");

    // Target groups: defaults, health check settings, attributes.
    let tg = create_tg(
        &berth,
        "app",
        &["--target-type", "ip", "--health-check-path", "/health", "--matcher", "HttpCode=200-299"],
    );
    let other = create_tg(&berth, "spare", &["--target-type", "ip"]);
    let described = elb(&berth, &["describe-target-groups", "--names", "app"]);
    let g = &described["TargetGroups"][0];
    assert_eq!((g["HealthCheckPath"].as_str(), g["Matcher"]["HttpCode"].as_str()), (Some("/health"), Some("200-299")));
    assert_eq!((g["HealthCheckIntervalSeconds"].as_i64(), g["HealthyThresholdCount"].as_i64()), (Some(30), Some(5)));
    assert_eq!(g["LoadBalancerArns"], Value::Array(vec![]));
    let attrs = elb(
        &berth,
        &[
            "modify-target-group-attributes",
            "--target-group-arn",
            &tg,
            "--attributes",
            "Key=deregistration_delay.timeout_seconds,Value=600",
            "Key=load_balancing.algorithm.type,Value=least_outstanding_requests",
        ],
    );
    let value_of = |attrs: &Value, key: &str| {
        attrs["Attributes"].as_array().unwrap().iter().find(|a| a["Key"] == key).map(|a| s(&a["Value"]))
    };
    assert_eq!(value_of(&attrs, "deregistration_delay.timeout_seconds").as_deref(), Some("600"));
    assert_eq!(value_of(&attrs, "stickiness.enabled").as_deref(), Some("false"));

    // A listener forwarding to `app`, rules in both condition forms, a weighted forward.
    let listener = elb(
        &berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
    );
    let listener_arn = s(&listener["Listeners"][0]["ListenerArn"]);
    assert_eq!(listener["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"].as_str(), Some(tg.as_str()));
    let rule = elb(
        &berth,
        &[
            "create-rule",
            "--listener-arn",
            &listener_arn,
            "--priority",
            "10",
            "--conditions",
            "Field=path-pattern,Values=/api/*",
            "--actions",
            &format!(
                r#"[{{"Type":"forward","ForwardConfig":{{"TargetGroups":[{{"TargetGroupArn":"{tg}","Weight":3}},{{"TargetGroupArn":"{other}","Weight":1}}],"TargetGroupStickinessConfig":{{"Enabled":true,"DurationSeconds":60}}}}}}]"#
            ),
        ],
    );
    let rule_arn = s(&rule["Rules"][0]["RuleArn"]);
    let weights: Vec<i64> = rule["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Weight"].as_i64().unwrap())
        .collect();
    assert_eq!(weights, vec![3, 1]);
    let header = r#"[{"Field":"http-header","HttpHeaderConfig":{"HttpHeaderName":"X-Env","Values":["blue"]}},{"Field":"host-header","HostHeaderConfig":{"Values":["*.example.com"]}}]"#;
    let fixed = r#"[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"503","ContentType":"text/plain","MessageBody":"down"}}]"#;
    let rule2 = elb(
        &berth,
        &[
            "create-rule",
            "--listener-arn",
            &listener_arn,
            "--priority",
            "20",
            "--conditions",
            header,
            "--actions",
            fixed,
        ],
    );
    let rule2_arn = s(&rule2["Rules"][0]["RuleArn"]);
    let rules = elb(&berth, &["describe-rules", "--listener-arn", &listener_arn]);
    let priorities: Vec<String> = rules["Rules"].as_array().unwrap().iter().map(|r| s(&r["Priority"])).collect();
    assert_eq!(priorities, vec!["10", "20", "default"]);
    assert_eq!(rules["Rules"][2]["IsDefault"], true);
    assert_eq!(rules["Rules"][0]["Conditions"][0]["Values"][0], "/api/*");
    assert_eq!(rules["Rules"][1]["Conditions"][1]["HostHeaderConfig"]["Values"][0], "*.example.com");
    elb(
        &berth,
        &[
            "set-rule-priorities",
            "--rule-priorities",
            &format!("RuleArn={rule_arn},Priority=20"),
            &format!("RuleArn={rule2_arn},Priority=10"),
        ],
    );
    let g = elb(&berth, &["describe-target-groups", "--load-balancer-arn", &lb_arn]);
    assert_eq!(g["TargetGroups"].as_array().unwrap().len(), 2, "{g}");

    // Load balancer attributes and tags.
    let attrs = elb(
        &berth,
        &[
            "modify-load-balancer-attributes",
            "--load-balancer-arn",
            &lb_arn,
            "--attributes",
            "Key=idle_timeout.timeout_seconds,Value=120",
        ],
    );
    assert_eq!(value_of(&attrs, "idle_timeout.timeout_seconds").as_deref(), Some("120"));
    assert_eq!(value_of(&attrs, "routing.http2.enabled").as_deref(), Some("true"));
    elb(&berth, &["add-tags", "--resource-arns", &tg, &listener_arn, "--tags", "Key=env,Value=prod"]);
    elb(&berth, &["remove-tags", "--resource-arns", &lb_arn, "--tag-keys", "team"]);
    let tags = elb(&berth, &["describe-tags", "--resource-arns", &lb_arn, &tg, &listener_arn]);
    let counts: Vec<usize> =
        tags["TagDescriptions"].as_array().unwrap().iter().map(|d| d["Tags"].as_array().unwrap().len()).collect();
    assert_eq!(counts, vec![0, 1, 1], "{tags}");

    // Targets and their health: registered behind a listener, they are initial until the data plane probes them.
    elb(
        &berth,
        &[
            "register-targets",
            "--target-group-arn",
            &tg,
            "--targets",
            "Id=172.17.0.2",
            "Id=172.17.0.3,Port=9000",
            "Id=127.0.0.1,AvailabilityZone=all",
        ],
    );
    let health = elb(&berth, &["describe-target-health", "--target-group-arn", &tg]);
    let states: Vec<(String, String)> = health["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (s(&d["TargetHealth"]["State"]), s(&d["TargetHealth"]["Reason"])))
        .collect();
    assert_eq!(states.len(), 3, "{health}");
    assert!(states.iter().all(|(st, r)| st == "initial" && r == "Elb.RegistrationInProgress"), "{health}");
    elb(&berth, &["deregister-targets", "--target-group-arn", &tg, "--targets", "Id=172.17.0.2"]);
    let one = elb(
        &berth,
        &["describe-target-health", "--target-group-arn", &tg, "--targets", "Id=172.17.0.2", "Id=172.17.0.50"],
    );
    assert_eq!(one["TargetHealthDescriptions"][0]["TargetHealth"]["State"], "draining", "{one}");
    assert_eq!(one["TargetHealthDescriptions"][1]["TargetHealth"]["Reason"], "Target.NotRegistered", "{one}");
    let unused = create_tg(&berth, "idle", &["--target-type", "ip"]);
    elb(&berth, &["register-targets", "--target-group-arn", &unused, "--targets", "Id=172.17.0.9"]);
    let idle = elb(&berth, &["describe-target-health", "--target-group-arn", &unused]);
    assert_eq!(idle["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"], "Target.NotInUse", "{idle}");

    // Bad input, each with ELBv2's error.
    elb_err(&berth, &["create-load-balancer", "--name", "web", "--scheme", "internal"], "DuplicateLoadBalancerName");
    elb_err(&berth, &["create-load-balancer", "--name", "nlb", "--type", "network"], "OperationNotPermitted");
    elb_err(
        &berth,
        &["create-target-group", "--name", "app", "--protocol", "HTTP", "--port", "81", "--vpc-id", VPC],
        "DuplicateTargetGroupName",
    );
    let e = elb_err(
        &berth,
        &[
            "create-target-group",
            "--name",
            "hc",
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--vpc-id",
            VPC,
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "10",
        ],
        "ValidationError",
    );
    assert!(e.contains("Health check interval must be greater than the timeout."), "{e}");
    elb_err(
        &berth,
        &["modify-target-group", "--target-group-arn", &tg, "--healthy-threshold-count", "11"],
        "ValidationError",
    );
    // The same ARN with another last digit (never the same one: an id ending in 0 gets a 1).
    let last = if tg.ends_with('0') { '1' } else { '0' };
    let missing_tg = format!("{}{last}", &tg[..tg.len() - 1]);
    elb_err(&berth, &["describe-target-health", "--target-group-arn", &missing_tg], "TargetGroupNotFound");
    elb_err(
        &berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
        "DuplicateListener",
    );
    elb_err(
        &berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={missing_tg}"),
        ],
        "TargetGroupNotFound",
    );
    elb_err(
        &berth,
        &[
            "create-rule",
            "--listener-arn",
            &listener_arn,
            "--priority",
            "10",
            "--conditions",
            "Field=path-pattern,Values=/x",
            "--actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
        "PriorityInUse",
    );
    elb_err(&berth, &["delete-target-group", "--target-group-arn", &tg], "ResourceInUse");
    elb_err(
        &berth,
        &["modify-load-balancer-attributes", "--load-balancer-arn", &lb_arn, "--attributes", "Key=nope,Value=1"],
        "ValidationError",
    );
    elb_err(&berth, &["register-targets", "--target-group-arn", &tg, "--targets", "Id=8.8.8.8"], "InvalidTarget");
    elb_err(&berth, &["describe-listeners"], "ValidationError");
    elb_err(&berth, &["describe-ssl-policies", "--names", "Nope"], "SSLPolicyNotFound");
    elb_err(&berth, &["describe-trust-stores"], "OperationNotPermitted");

    // A restart keeps everything.
    berth.restart().expect("berth restarts");
    let after = elb(&berth, &["describe-load-balancers", "--names", "web"]);
    assert_eq!(s(&after["LoadBalancers"][0]["LoadBalancerArn"]), lb_arn);
    let rules = elb(&berth, &["describe-rules", "--listener-arn", &listener_arn]);
    assert_eq!(s(&rules["Rules"][0]["RuleArn"]), rule2_arn, "priorities survive");
    let health = elb(&berth, &["describe-target-health", "--target-group-arn", &tg]);
    assert_eq!(health["TargetHealthDescriptions"].as_array().unwrap().len(), 3, "{health}");
    let attrs = elb(&berth, &["describe-load-balancer-attributes", "--load-balancer-arn", &lb_arn]);
    assert_eq!(value_of(&attrs, "idle_timeout.timeout_seconds").as_deref(), Some("120"));

    // Deleting the load balancer takes its listener and rules, and frees the target groups.
    elb(&berth, &["delete-load-balancer", "--load-balancer-arn", &lb_arn]);
    elb_err(&berth, &["describe-listeners", "--listener-arns", &listener_arn], "ListenerNotFound");
    elb(&berth, &["delete-target-group", "--target-group-arn", &tg]);
    let left = elb(&berth, &["describe-load-balancers"]);
    assert_eq!(left["LoadBalancers"], Value::Array(vec![]), "{left}");
}
