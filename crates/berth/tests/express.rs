//! ECS Express Mode services end to end, through the unchanged aws CLI on `berth up`: an image and a port become a
//! FARGATE service behind a load balancer of its own, with a target group health-checked on the given path and
//! target tracking between the task counts given; the URL CreateExpressGatewayService returns answers; an update
//! rolls a new revision out behind the same URL; delete removes the service, the load balancer and the scaling.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions, http_get_timeout, wait_for_blocking};
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

fn running_tasks(berth: &Berth, service: &str) -> Vec<Value> {
    let arns = aws_ok(berth, "ecs", &["list-tasks", "--service-name", service, "--desired-status", "RUNNING"]);
    let arns: Vec<&str> = arns["taskArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    if arns.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["describe-tasks", "--tasks"];
    args.extend(arns);
    let tasks = aws_ok(berth, "ecs", &args)["tasks"].as_array().unwrap().clone();
    tasks.into_iter().filter(|t| t["lastStatus"] == "RUNNING").collect()
}

/// What the workload answers at `url` (its environment as JSON), once it answers 200.
fn answers(url: &str) -> Option<Value> {
    match http_get_timeout(url, Duration::from_secs(2)) {
        Ok((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

#[test]
fn an_image_and_a_port_become_a_load_balanced_scaled_service_whose_url_answers() {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let (cidr, _networks) = own_vpc(192, 32, 0, 1);
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--vpc-cidr".into(), cidr],
    })
    .expect("berth up starts");
    let role = |name: &str| format!("arn:aws:iam::{}:role/{name}", berth.account_id);

    // ECS's checks first: the required members.
    let err = aws_err(
        &berth,
        "ecs",
        &[
            "create-express-gateway-service",
            "--execution-role-arn",
            &role("exec"),
            "--infrastructure-role-arn",
            &role("infra"),
            "--primary-container",
            "image=",
        ],
    );
    assert!(err.contains("InvalidParameterException") && err.contains("image"), "{err}");

    let container = format!("image={image},containerPort=8080");
    let created = aws_json(
        &berth,
        "ecs",
        &[
            "create-express-gateway-service",
            "--service-name",
            "shop",
            "--execution-role-arn",
            &role("exec"),
            "--infrastructure-role-arn",
            &role("infra"),
            "--primary-container",
            &container,
            "--health-check-path",
            "/health",
            "--scaling-target",
            "minTaskCount=2,maxTaskCount=4,autoScalingMetric=AVERAGE_MEMORY,autoScalingTargetValue=70",
            "--tags",
            "key=team,value=web",
        ],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));
    let service = &created["service"];
    let arn = service["serviceArn"].as_str().unwrap().to_string();
    assert_eq!(arn, format!("{}service/default/shop", berth.arn_prefix()));
    assert_eq!(service["status"]["statusCode"], "ACTIVE", "{created}");
    let config = &service["activeConfigurations"][0];
    assert_eq!(config["cpu"], "256", "the model's default: {config}");
    assert_eq!(config["memory"], "512");
    assert_eq!(config["primaryContainer"]["containerPort"], 8080);
    let url = config["ingressPaths"][0]["endpoint"].as_str().unwrap().to_string();
    assert_eq!(config["ingressPaths"][0]["accessType"], "PUBLIC");

    // An ordinary FARGATE service with two tasks behind the URL.
    let ecs_service = &aws_ok(&berth, "ecs", &["describe-services", "--services", "shop"])["services"][0];
    assert_eq!(ecs_service["launchType"], "FARGATE", "{ecs_service}");
    assert_eq!(ecs_service["desiredCount"], 2);
    let target_group = ecs_service["loadBalancers"][0]["targetGroupArn"].as_str().unwrap().to_string();
    let hosts = wait_for_blocking("the URL to answer from both tasks", Duration::from_secs(120), || {
        let tasks = running_tasks(&berth, "shop");
        let seen: BTreeSet<String> = (0..12).filter_map(|_| answers(&url)).map(|v| v["hostname"].to_string()).collect();
        (tasks.len() == 2 && seen.len() == 2).then_some(seen)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));
    assert_eq!(hosts.len(), 2);
    let health = aws_ok(&berth, "elbv2", &["describe-target-groups", "--target-group-arns", &target_group]);
    assert_eq!(health["TargetGroups"][0]["HealthCheckPath"], "/health");
    assert_eq!(health["TargetGroups"][0]["TargetType"], "ip");

    // Target tracking between the counts given.
    let targets =
        aws_ok(&berth, "application-autoscaling", &["describe-scalable-targets", "--service-namespace", "ecs"]);
    let target = &targets["ScalableTargets"][0];
    assert_eq!(target["ResourceId"], "service/default/shop", "{targets}");
    assert_eq!((target["MinCapacity"].as_i64(), target["MaxCapacity"].as_i64()), (Some(2), Some(4)));
    let policies =
        aws_ok(&berth, "application-autoscaling", &["describe-scaling-policies", "--service-namespace", "ecs"]);
    let tracking = &policies["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(tracking["TargetValue"], 70.0, "{policies}");
    assert_eq!(tracking["PredefinedMetricSpecification"]["PredefinedMetricType"], "ECSServiceAverageMemoryUtilization");

    // Describe, with tags on request.
    let described =
        aws_ok(&berth, "ecs", &["describe-express-gateway-service", "--service-arn", &arn, "--include", "TAGS"]);
    assert_eq!(described["service"]["tags"][0]["key"], "team", "{described}");

    // An update: a new revision rolls out behind the same URL.
    let new_container = format!("image={image},containerPort=8080,environment=[{{name=RELEASE,value=two}}]");
    let updated = aws_ok(
        &berth,
        "ecs",
        &["update-express-gateway-service", "--service-arn", &arn, "--primary-container", &new_container],
    );
    let target = &updated["service"]["targetConfiguration"];
    assert_eq!(target["primaryContainer"]["environment"][0]["value"], "two", "{updated}");
    assert_eq!(target["ingressPaths"][0]["endpoint"], url.as_str(), "the same URL: {updated}");
    let ecs_service = &aws_ok(&berth, "ecs", &["describe-services", "--services", "shop"])["services"][0];
    assert!(ecs_service["taskDefinition"].as_str().unwrap().ends_with("task-definition/shop:2"), "{ecs_service}");
    wait_for_blocking("the new revision to answer", Duration::from_secs(120), || {
        let all: Vec<Value> = (0..8).filter_map(|_| answers(&url)).collect();
        (all.len() == 8 && all.iter().all(|v| v["env"]["RELEASE"] == "two")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));

    // Delete: the service goes, and so do the load balancer and the scaling.
    let deleted = aws_ok(&berth, "ecs", &["delete-express-gateway-service", "--service-arn", &arn]);
    assert_eq!(deleted["service"]["status"]["statusCode"], "INACTIVE", "{deleted}");
    let lbs = aws_ok(&berth, "elbv2", &["describe-load-balancers"]);
    assert_eq!(lbs["LoadBalancers"], Value::Array(Vec::new()), "{lbs}");
    let targets =
        aws_ok(&berth, "application-autoscaling", &["describe-scalable-targets", "--service-namespace", "ecs"]);
    assert_eq!(targets["ScalableTargets"], Value::Array(Vec::new()), "{targets}");
    let gone = aws_ok(&berth, "ecs", &["describe-services", "--services", "shop"]);
    assert_ne!(gone["services"][0]["status"], "ACTIVE", "{gone}");
    let err = aws_err(&berth, "ecs", &["update-express-gateway-service", "--service-arn", &arn, "--cpu", "512"]);
    assert!(err.contains("ServiceNotActiveException"), "{err}");
}
