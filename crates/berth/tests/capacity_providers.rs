//! Capacity providers end to end, through the unchanged aws CLI: the five operations with ECS's validation
//! (classes and messages), records that survive a restart, tags, and strategies of node group providers: each
//! task placed only on its provider's node group (`berth agent --node-group`), the split following ECS's rule
//! (base first, then by weight) over 100 placements of a service, the cluster's default strategy, and
//! `capacityProviderName` on tasks and container instances.
//!
//! The split is counted on agents that speak the real agent protocol without running containers (placement
//! decisions are the server's and are real; nothing needs to start for them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// `berth server` (no local agent) on its own data dir and account.
fn server() -> Berth {
    Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "server", extra_args: Vec::new() })
        .expect("berth server starts")
}

/// The ECS exception class and message the aws CLI printed.
fn refused(berth: &Berth, args: &[&str], class: &str, message: &str) {
    let err = aws_err(berth, "ecs", args);
    assert!(err.contains(&format!("({class})")), "aws ecs {args:?}: expected {class}, got {err}");
    assert!(err.contains(message), "aws ecs {args:?}: expected {message:?} in {err}");
}

fn provider_names(out: &Value) -> Vec<String> {
    out["capacityProviders"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_operations_validate_as_ecs_does_and_survive_a_restart() {
    let mut berth = server();
    // Every account has the Fargate providers.
    let all = aws_ok(&berth, "ecs", &["describe-capacity-providers"]);
    assert_eq!(provider_names(&all), ["FARGATE", "FARGATE_SPOT"]);
    assert_eq!(all["capacityProviders"][0]["status"], "ACTIVE");
    assert_eq!(
        all["capacityProviders"][0]["capacityProviderArn"],
        format!("{}capacity-provider/FARGATE", berth.arn_prefix())
    );

    let group = "autoScalingGroupArn=workers";
    let invalid = "The specified capacity provider name is invalid.";
    for name in ["aws-workers", "ECSworkers", "fargate2", "has.dot"] {
        refused(
            &berth,
            &["create-capacity-provider", "--name", name, "--auto-scaling-group-provider", group],
            "ClientException",
            invalid,
        );
    }
    refused(
        &berth,
        &["create-capacity-provider", "--name", "workers"],
        "InvalidParameterException",
        "autoScalingGroupProvider is required",
    );
    refused(
        &berth,
        &[
            "create-capacity-provider",
            "--name",
            "workers",
            "--auto-scaling-group-provider",
            "autoScalingGroupArn=workers,managedScaling={status=DISABLED,targetCapacity=101}",
        ],
        "InvalidParameterException",
        "targetCapacity must be between 1 and 100",
    );
    refused(
        &berth,
        &[
            "create-capacity-provider",
            "--name",
            "workers",
            "--auto-scaling-group-provider",
            "autoScalingGroupArn=workers,managedTerminationProtection=ENABLED",
        ],
        "ClientException",
        "The managed termination protection setting for the capacity provider is invalid.",
    );
    // A provider named by an Auto Scaling group ARN, with ECS's defaults filled in.
    let asg = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:57ffcb94:autoScalingGroupName/blue";
    let created = aws_ok(
        &berth,
        "ecs",
        &[
            "create-capacity-provider",
            "--name",
            "workers",
            "--auto-scaling-group-provider",
            &format!("autoScalingGroupArn={asg}"),
            "--tags",
            "key=team,value=core",
        ],
    )["capacityProvider"]
        .clone();
    assert_eq!(created["capacityProviderArn"], format!("{}capacity-provider/workers", berth.arn_prefix()));
    assert_eq!(created["status"], "ACTIVE");
    let provider = &created["autoScalingGroupProvider"];
    assert_eq!(provider["autoScalingGroupArn"], asg);
    assert_eq!(
        provider["managedScaling"],
        json!({"status": "DISABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
               "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300})
    );
    assert_eq!(provider["managedTerminationProtection"], "DISABLED");
    assert_eq!(provider["managedDraining"], "ENABLED");
    assert_eq!(created["tags"], json!([{"key": "team", "value": "core"}]));
    refused(
        &berth,
        &["create-capacity-provider", "--name", "workers", "--auto-scaling-group-provider", group],
        "ClientException",
        "The specified capacity provider already exists.",
    );
    refused(
        &berth,
        &["create-capacity-provider", "--name", "others", "--auto-scaling-group-provider", "autoScalingGroupArn=blue"],
        "ClientException",
        "is already in use by another capacity provider",
    );
    aws_ok(
        &berth,
        "ecs",
        &["create-capacity-provider", "--name", "spare", "--auto-scaling-group-provider", "autoScalingGroupArn=green"],
    );

    // Described by name or ARN (tags only when asked for), a missing one as a failure.
    let arn = created["capacityProviderArn"].as_str().unwrap();
    let described = aws_ok(
        &berth,
        "ecs",
        &["describe-capacity-providers", "--capacity-providers", arn, "ghost", "--include", "TAGS"],
    );
    assert_eq!(provider_names(&described), ["workers"]);
    assert_eq!(described["capacityProviders"][0]["tags"][0]["key"], "team");
    assert_eq!(described["failures"][0]["reason"], "MISSING");
    assert_eq!(described["failures"][0]["arn"], format!("{}capacity-provider/ghost", berth.arn_prefix()));
    let all = aws_ok(&berth, "ecs", &["describe-capacity-providers"]);
    assert_eq!(provider_names(&all), ["FARGATE", "FARGATE_SPOT", "spare", "workers"]);
    assert!(all["capacityProviders"][3].get("tags").is_none(), "tags only with --include TAGS");
    let page = aws_ok(&berth, "ecs", &["describe-capacity-providers", "--max-results", "3", "--no-paginate"]);
    assert_eq!(provider_names(&page).len(), 3);
    assert!(page["nextToken"].is_string());

    // UpdateCapacityProvider changes the managed settings named.
    let updated = aws_ok(
        &berth,
        "ecs",
        &[
            "update-capacity-provider",
            "--name",
            "workers",
            "--auto-scaling-group-provider",
            "managedDraining=DISABLED,managedScaling={status=DISABLED,targetCapacity=80,instanceWarmupPeriod=60}",
        ],
    )["capacityProvider"]
        .clone();
    assert_eq!(updated["autoScalingGroupProvider"]["managedDraining"], "DISABLED");
    assert_eq!(updated["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"], 80);
    assert_eq!(updated["updateStatus"], "UPDATE_COMPLETE");
    refused(
        &berth,
        &["update-capacity-provider", "--name", "ghost", "--auto-scaling-group-provider", "managedDraining=ENABLED"],
        "ClientException",
        "The specified capacity provider does not exist.",
    );

    // Tags on the provider's ARN.
    aws_ok(&berth, "ecs", &["tag-resource", "--resource-arn", arn, "--tags", "key=env,value=prod"]);
    let tags = aws_ok(&berth, "ecs", &["list-tags-for-resource", "--resource-arn", arn]);
    assert_eq!(tags["tags"].as_array().unwrap().len(), 2);

    // PutClusterCapacityProviders: ECS's checks, then the cluster shows them.
    aws_ok(&berth, "ecs", &["create-cluster", "--cluster-name", "cp"]);
    refused(
        &berth,
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "cp",
            "--capacity-providers",
            "ghost",
            "--default-capacity-provider-strategy",
            "[]",
        ],
        "InvalidParameterException",
        "The specified capacity provider was not found.",
    );
    refused(
        &berth,
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "cp",
            "--capacity-providers",
            "workers",
            "--default-capacity-provider-strategy",
            "capacityProvider=spare,weight=1",
        ],
        "InvalidParameterException",
        "cannot contain a capacity provider that is not associated with the cluster",
    );
    refused(
        &berth,
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "cp",
            "--capacity-providers",
            "workers",
            "FARGATE",
            "--default-capacity-provider-strategy",
            "capacityProvider=workers,weight=1",
            "capacityProvider=FARGATE,weight=1",
        ],
        "InvalidParameterException",
        "cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers",
    );
    refused(
        &berth,
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "cp",
            "--capacity-providers",
            "workers",
            "spare",
            "--default-capacity-provider-strategy",
            "capacityProvider=workers,base=1",
            "capacityProvider=spare,base=2",
        ],
        "InvalidParameterException",
        "Only one capacity provider in a strategy can have a base defined.",
    );
    refused(
        &berth,
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "nope",
            "--capacity-providers",
            "workers",
            "--default-capacity-provider-strategy",
            "[]",
        ],
        "ClusterNotFoundException",
        "Cluster not found",
    );
    let cluster = aws_ok(
        &berth,
        "ecs",
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "cp",
            "--capacity-providers",
            "workers",
            "spare",
            "FARGATE",
            "--default-capacity-provider-strategy",
            "capacityProvider=workers,weight=1,base=1",
        ],
    )["cluster"]
        .clone();
    assert_eq!(cluster["capacityProviders"], json!(["workers", "spare", "FARGATE"]));
    assert_eq!(
        cluster["defaultCapacityProviderStrategy"],
        json!([{"capacityProvider": "workers", "weight": 1, "base": 1}])
    );
    let in_cluster = aws_ok(&berth, "ecs", &["describe-capacity-providers", "--cluster", "cp"]);
    assert_eq!(provider_names(&in_cluster), ["FARGATE", "spare", "workers"]);

    // A provider a cluster names cannot be deleted; one a service's strategy uses cannot be removed.
    refused(
        &berth,
        &["delete-capacity-provider", "--capacity-provider", "workers"],
        "ResourceInUseException",
        "The capacity provider cannot be deleted because it is associated with cluster: cp.",
    );
    aws_ok(
        &berth,
        "ecs",
        &[
            "register-task-definition",
            "--family",
            "cp-app",
            "--container-definitions",
            r#"[{"name":"app","image":"berth-workload:latest","memory":8}]"#,
        ],
    );
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-service",
            "--cluster",
            "cp",
            "--service-name",
            "uses-spare",
            "--task-definition",
            "cp-app",
            "--desired-count",
            "0",
            "--capacity-provider-strategy",
            "capacityProvider=spare,weight=1",
        ],
    );
    refused(
        &berth,
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "cp",
            "--capacity-providers",
            "workers",
            "--default-capacity-provider-strategy",
            "[]",
        ],
        "ResourceInUseException",
        "The specified capacity provider is in use and cannot be removed.",
    );

    // Everything survives a restart.
    berth.restart().expect("berth restarts");
    let again = aws_ok(&berth, "ecs", &["describe-capacity-providers", "--capacity-providers", "workers"]);
    assert_eq!(again["capacityProviders"][0]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"], 80);
    let cluster = aws_ok(&berth, "ecs", &["describe-clusters", "--clusters", "cp"]);
    assert_eq!(cluster["clusters"][0]["capacityProviders"], json!(["workers", "spare", "FARGATE"]));

    // Removed from the cluster, then deleted: ECS's in-progress answer, INACTIVE afterwards.
    aws_ok(
        &berth,
        "ecs",
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "cp",
            "--capacity-providers",
            "spare",
            "--default-capacity-provider-strategy",
            "[]",
        ],
    );
    let deleted = aws_ok(&berth, "ecs", &["delete-capacity-provider", "--capacity-provider", arn]);
    assert_eq!(deleted["capacityProvider"]["status"], "ACTIVE");
    assert_eq!(deleted["capacityProvider"]["updateStatus"], "DELETE_IN_PROGRESS");
    let gone = aws_ok(&berth, "ecs", &["describe-capacity-providers", "--capacity-providers", "workers"]);
    assert_eq!(gone["capacityProviders"][0]["status"], "INACTIVE");
    assert_eq!(gone["capacityProviders"][0]["updateStatus"], "DELETE_COMPLETE");
    assert_eq!(provider_names(&aws_ok(&berth, "ecs", &["describe-capacity-providers"])).len(), 3);
    refused(
        &berth,
        &["delete-capacity-provider", "--capacity-provider", "workers"],
        "ClientException",
        "The specified capacity provider does not exist.",
    );
}

/// Registers an agent over the agent protocol in node group `group` (none: no group); returns its instance ARN
/// and token. It runs nothing: placements on it are decided and recorded, its tasks stay PROVISIONING.
async fn node(berth: &Berth, host: &str, group: Option<&str>) -> (String, String) {
    let attributes: serde_json::Map<String, Value> =
        berth_model::capabilities::supported().into_iter().map(|c| (c, json!(""))).collect();
    let mut body = json!({
        "cluster": "default", "containerInstanceArn": null, "hostname": host,
        "resources": {"cpu": 4096, "memoryMib": 4096, "reservedTcpPorts": [], "reservedUdpPorts": []},
        "attributes": attributes,
        "version": {"agentVersion": "1.0.0", "agentHash": "test", "dockerVersion": "DockerVersion: test"}
    });
    if let Some(group) = group {
        body["nodeGroup"] = json!(group);
    }
    let url = format!("{}/agent/v1/register", berth.url());
    let (status, answer) = post_bearer(&url, &berth.join_token().unwrap(), &[], &body).await;
    assert_eq!(status, 200, "{answer}");
    (
        answer["containerInstanceArn"].as_str().unwrap().to_string(),
        answer["instanceToken"].as_str().unwrap().to_string(),
    )
}

/// Keeps the agents' heartbeats going (an empty report every 2 s) while the test runs.
fn heartbeat(berth: &Berth, tokens: Vec<String>) -> tokio::task::JoinHandle<()> {
    let url = format!("{}/agent/v1/report", berth.url());
    tokio::spawn(async move {
        loop {
            for token in &tokens {
                post_bearer(&url, token, &[], &json!({"tasks": [], "appliedRevision": 0, "usage": []})).await;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
}

/// The tasks of `service` in `cluster`, described.
fn service_tasks(berth: &Berth, service: &str) -> Vec<Value> {
    let arns = aws_ok(berth, "ecs", &["list-tasks", "--service-name", service]);
    let arns: Vec<String> =
        arns["taskArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let mut args = vec!["describe-tasks", "--tasks"];
        args.extend(chunk.iter().map(String::as_str));
        out.extend(aws_ok(berth, "ecs", &args)["tasks"].as_array().unwrap().iter().cloned());
    }
    out
}

/// How many of `tasks` each capacity provider has, checking each sits on an instance of its provider's group.
fn split_of(tasks: &[Value], instances: &BTreeMap<&str, &str>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for task in tasks {
        let provider = task["capacityProviderName"].as_str().unwrap_or_else(|| panic!("no provider: {task}"));
        let instance = task["containerInstanceArn"].as_str().unwrap();
        assert_eq!(instances.get(instance).copied(), Some(provider), "a task of {provider} on {instance}");
        assert_eq!(task["launchType"], "EC2");
        *counts.entry(provider.to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_place_each_task_on_its_providers_node_group_and_split_as_ecs_does() {
    let berth = server();
    let (blue, blue_token) = node(&berth, "blue-host", Some("blue")).await;
    let (green, green_token) = node(&berth, "green-host", Some("green")).await;
    let (plain, plain_token) = node(&berth, "plain-host", None).await;
    let _beat = heartbeat(&berth, vec![blue_token, green_token, plain_token]);
    for (name, group) in [("blue-cp", "blue"), ("green-cp", "green"), ("empty-cp", "nobody")] {
        aws_ok(
            &berth,
            "ecs",
            &[
                "create-capacity-provider",
                "--name",
                name,
                "--auto-scaling-group-provider",
                &format!("autoScalingGroupArn={group}"),
            ],
        );
    }
    // An instance shows the provider of its node group.
    let described = aws_ok(&berth, "ecs", &["describe-container-instances", "--container-instances", &blue, &plain]);
    let shown: BTreeMap<String, Value> = described["containerInstances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let arn = i["containerInstanceArn"].as_str().unwrap().to_string();
            (arn, i.get("capacityProviderName").cloned().unwrap_or(Value::Null))
        })
        .collect();
    assert_eq!(shown[&blue], json!("blue-cp"));
    assert_eq!(shown[&plain], Value::Null);
    aws_ok(
        &berth,
        "ecs",
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "default",
            "--capacity-providers",
            "blue-cp",
            "green-cp",
            "empty-cp",
            "--default-capacity-provider-strategy",
            "capacityProvider=green-cp,weight=1",
        ],
    );
    aws_ok(
        &berth,
        "ecs",
        &[
            "register-task-definition",
            "--family",
            "split",
            "--container-definitions",
            r#"[{"name":"app","image":"berth-workload:latest","memory":8,"cpu":0}]"#,
        ],
    );
    let groups: BTreeMap<&str, &str> = [(blue.as_str(), "blue-cp"), (green.as_str(), "green-cp")].into();

    // RunTask with a strategy: base first, then by weight; each task on its provider's group.
    let run = aws_ok(
        &berth,
        "ecs",
        &[
            "run-task",
            "--task-definition",
            "split",
            "--count",
            "10",
            "--capacity-provider-strategy",
            "capacityProvider=blue-cp,weight=1,base=2",
            "capacityProvider=green-cp,weight=3",
        ],
    );
    let split = split_of(run["tasks"].as_array().unwrap(), &groups);
    assert_eq!(split, BTreeMap::from([("blue-cp".into(), 4), ("green-cp".into(), 6)]));

    // The cluster's default strategy when the request names neither a launch type nor a strategy.
    let run = aws_ok(&berth, "ecs", &["run-task", "--task-definition", "split", "--count", "3"]);
    assert_eq!(split_of(run["tasks"].as_array().unwrap(), &groups), BTreeMap::from([("green-cp".into(), 3)]));

    // A provider whose group has no instance: ECS's reason, nothing placed elsewhere.
    let run = aws_ok(
        &berth,
        "ecs",
        &[
            "run-task",
            "--task-definition",
            "split",
            "--capacity-provider-strategy",
            "capacityProvider=empty-cp,weight=1",
        ],
    );
    assert!(run["tasks"].as_array().unwrap().is_empty());
    assert_eq!(run["failures"][0]["reason"], "No Container Instances were found in your capacity provider");
    // launchType EC2 still places on any instance of the cluster, at once.
    let run = aws_ok(&berth, "ecs", &["run-task", "--task-definition", "split", "--launch-type", "EC2"]);
    assert!(run["tasks"][0].get("capacityProviderName").is_none());

    // A service of 100 tasks: base 10 on blue, then 1:3. ECS's rule gives blue 10 + 90/4 = 32.5.
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-service",
            "--service-name",
            "split",
            "--task-definition",
            "split",
            "--desired-count",
            "100",
            "--capacity-provider-strategy",
            "capacityProvider=blue-cp,weight=1,base=10",
            "capacityProvider=green-cp,weight=3",
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let tasks = loop {
        let tasks = service_tasks(&berth, "split");
        if tasks.len() >= 100 {
            break tasks;
        }
        assert!(std::time::Instant::now() < deadline, "the service placed {} of 100 tasks", tasks.len());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(tasks.len(), 100);
    let split = split_of(&tasks, &groups);
    let (on_blue, on_green) = (split["blue-cp"], split["green-cp"]);
    assert_eq!(on_blue + on_green, 100);
    assert!((32..=33).contains(&on_blue), "blue has {on_blue} of 100 (ECS's rule: 32.5)");
    let service = aws_ok(&berth, "ecs", &["describe-services", "--services", "split"]);
    assert!(service["services"][0].get("launchType").is_none());
    assert_eq!(service["services"][0]["capacityProviderStrategy"][0]["base"], 10);
}

/// The extremes of `AWS/ECS/ManagedScaling CapacityProviderReservation` of `provider` in cluster `default` over the
/// last ten minutes, read with the aws CLI (`None` while nothing was published).
fn reservation_range(berth: &Berth, provider: &str) -> Option<(f64, f64)> {
    let secs = |d: Duration| d.as_secs() as i64;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let (start, end) = ((secs(now) - 600).to_string(), (secs(now) + 60).to_string());
    let dimensions = [format!("Name=CapacityProviderName,Value={provider}"), "Name=ClusterName,Value=default".into()];
    let mut args = vec![
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/ECS/ManagedScaling",
        "--metric-name",
        "CapacityProviderReservation",
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--period",
        "60",
        "--statistics",
        "Minimum",
        "Maximum",
        "--dimensions",
    ];
    args.extend(dimensions.iter().map(String::as_str));
    let out: Value = serde_json::from_str(&aws_cli(berth, &args)).unwrap();
    let points = out["Datapoints"].as_array().cloned().unwrap_or_default();
    let min = points.iter().filter_map(|p| p["Minimum"].as_f64()).reduce(f64::min)?;
    let max = points.iter().filter_map(|p| p["Maximum"].as_f64()).reduce(f64::max)?;
    Some((min, max))
}

/// Polls `reservation_range` until `done` holds (the controller publishes every 15 s), for at most a minute.
fn wait_reservation(berth: &Berth, provider: &str, done: impl Fn(f64, f64) -> bool) -> (f64, f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let range = reservation_range(berth, provider);
        if let Some((min, max)) = range
            && done(min, max)
        {
            return (min, max);
        }
        assert!(std::time::Instant::now() < deadline, "CapacityProviderReservation of {provider}: {range:?}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_scaling_publishes_capacity_provider_reservation() {
    let berth = server();
    let created = aws_ok(
        &berth,
        "ecs",
        &[
            "create-capacity-provider",
            "--name",
            "scaled-cp",
            "--auto-scaling-group-provider",
            "autoScalingGroupArn=scaled,managedScaling={status=ENABLED,targetCapacity=100},managedTerminationProtection=ENABLED",
        ],
    );
    let provider = &created["capacityProvider"]["autoScalingGroupProvider"];
    assert_eq!(provider["managedScaling"]["status"], "ENABLED");
    assert_eq!(provider["managedTerminationProtection"], "ENABLED");
    aws_ok(
        &berth,
        "ecs",
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "default",
            "--capacity-providers",
            "scaled-cp",
            "--default-capacity-provider-strategy",
            "capacityProvider=scaled-cp,weight=1",
        ],
    );
    // No instance and no task: M = N = 0 is 100 (AWS-NOTES §13).
    assert_eq!(wait_reservation(&berth, "scaled-cp", |_, _| true), (100.0, 100.0));

    // Two instances of the group, one task: M = 1, N = 2, 50 %.
    let (_, a) = node(&berth, "scaled-a", Some("scaled")).await;
    let (_, b) = node(&berth, "scaled-b", Some("scaled")).await;
    let _beat = heartbeat(&berth, vec![a, b]);
    aws_ok(
        &berth,
        "ecs",
        &[
            "register-task-definition",
            "--family",
            "scaled",
            "--container-definitions",
            r#"[{"name":"app","image":"berth-workload:latest","memory":8,"cpu":0}]"#,
        ],
    );
    let run = aws_ok(&berth, "ecs", &["run-task", "--task-definition", "scaled"]);
    assert_eq!(run["tasks"].as_array().unwrap().len(), 1, "{run}");
    let (min, _) = wait_reservation(&berth, "scaled-cp", |min, _| min < 100.0);
    assert_eq!(min, 50.0);
}

/// The described task `arn`.
fn describe_task(berth: &Berth, arn: &str) -> Value {
    aws_ok(berth, "ecs", &["describe-tasks", "--tasks", arn])["tasks"][0].clone()
}

/// Waits (at most 30 s) until `done` holds for task `arn`, described.
fn wait_task(berth: &Berth, arn: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let task = describe_task(berth, arn);
        if done(&task) {
            return task;
        }
        assert!(std::time::Instant::now() < deadline, "task {arn}: {task}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_managed_scaling_tasks_wait_for_capacity_and_are_placed_when_it_comes() {
    let berth = server();
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-capacity-provider",
            "--name",
            "wait-cp",
            "--auto-scaling-group-provider",
            "autoScalingGroupArn=waitgrp,managedScaling={status=ENABLED}",
        ],
    );
    aws_ok(
        &berth,
        "ecs",
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "default",
            "--capacity-providers",
            "wait-cp",
            "--default-capacity-provider-strategy",
            "capacityProvider=wait-cp,weight=1",
        ],
    );
    // One task fills most of an instance's 4096 MiB: one per instance.
    aws_ok(
        &berth,
        "ecs",
        &[
            "register-task-definition",
            "--family",
            "big",
            "--container-definitions",
            r#"[{"name":"app","image":"berth-workload:latest","memory":3000,"cpu":0}]"#,
        ],
    );
    // No instance yet: both tasks are returned PROVISIONING, on no instance, not as failures.
    let run = aws_ok(&berth, "ecs", &["run-task", "--task-definition", "big", "--count", "2"]);
    assert_eq!(run["failures"], json!([]), "{run}");
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{run}");
    for task in tasks {
        assert_eq!(task["lastStatus"], "PROVISIONING");
        assert_eq!(task["capacityProviderName"], "wait-cp");
        assert_eq!(task["launchType"], "EC2");
        assert!(task.get("containerInstanceArn").is_none(), "{task}");
    }
    let arns: Vec<String> = tasks.iter().map(|t| t["taskArn"].as_str().unwrap().to_string()).collect();
    // Two tasks waiting, no instance: 200 (AWS-NOTES §13).
    let (_, max) = wait_reservation(&berth, "wait-cp", |_, max| max >= 200.0);
    assert_eq!(max, 200.0);

    // One instance joins: exactly one task is placed on it, the other keeps waiting.
    let (a, a_token) = node(&berth, "wait-a", Some("waitgrp")).await;
    let _beat = heartbeat(&berth, vec![a_token]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (placed, waiting) = loop {
        let described: Vec<Value> = arns.iter().map(|arn| describe_task(&berth, arn)).collect();
        let on_a: Vec<&Value> = described.iter().filter(|t| t["containerInstanceArn"] == json!(a)).collect();
        if let [one] = on_a.as_slice() {
            let other = described.iter().find(|t| t["taskArn"] != one["taskArn"]).unwrap().clone();
            break ((*one).clone(), other);
        }
        assert!(on_a.len() < 2, "two 3000 MiB tasks on one 4096 MiB instance: {described:?}");
        assert!(std::time::Instant::now() < deadline, "no task placed on the new instance: {described:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(placed["lastStatus"], "PROVISIONING");
    assert!(waiting.get("containerInstanceArn").is_none(), "{waiting}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(describe_task(&berth, waiting["taskArn"].as_str().unwrap()).get("containerInstanceArn").is_none());

    // launchType EC2 does not wait: it fails at once.
    let ec2 = aws_ok(&berth, "ecs", &["run-task", "--task-definition", "big", "--launch-type", "EC2"]);
    assert_eq!(ec2["tasks"], json!([]), "{ec2}");
    assert_eq!(ec2["failures"][0]["reason"], "RESOURCE:MEMORY", "{ec2}");

    // A second instance takes the waiting task.
    let (b, b_token) = node(&berth, "wait-b", Some("waitgrp")).await;
    let _beat_b = heartbeat(&berth, vec![b_token]);
    let waiting_arn = waiting["taskArn"].as_str().unwrap();
    let task = wait_task(&berth, waiting_arn, |t| t.get("containerInstanceArn").is_some());
    assert_eq!(task["containerInstanceArn"], json!(b));

    // Both instances are full: a service's task waits too, and the service does not replace it while it waits.
    aws_ok(
        &berth,
        "ecs",
        &["create-service", "--service-name", "waitsvc", "--task-definition", "big", "--desired-count", "1"],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let first = loop {
        let listed = service_tasks(&berth, "waitsvc");
        if let [one] = listed.as_slice() {
            break one.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the service's task: {listed:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(first.get("containerInstanceArn").is_none(), "{first}");
    std::thread::sleep(Duration::from_secs(5));
    let later = service_tasks(&berth, "waitsvc");
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0]["taskArn"], first["taskArn"], "the waiting task was replaced");
    assert_eq!(later[0]["lastStatus"], "PROVISIONING");

    // A waiting task can be stopped: STOPPED at once, never placed.
    let (c, _) = (aws_ok(&berth, "ecs", &["run-task", "--task-definition", "big"]), ());
    let third = c["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    assert!(c["tasks"][0].get("containerInstanceArn").is_none(), "{c}");
    let stopped = aws_ok(&berth, "ecs", &["stop-task", "--task", &third]);
    assert_eq!(stopped["task"]["lastStatus"], "STOPPED", "{stopped}");
}
