//! Application Auto Scaling end to end: the unchanged aws CLI against `berth server` (no Docker: services with no
//! container instances still have a desired count). Scalable targets, policies and their alarms, scheduled
//! actions, AWS's errors, a step policy fired by its alarm, a scheduled action at its time, target tracking driven
//! by PutMetricData, and a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; datapoints need the real clock

mod common;

use berth_testkit::{Berth, BerthOptions};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// `berth server` evaluating alarms and scheduled actions every second.
fn server() -> Berth {
    Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec![
            "--alarm-evaluation-seconds".into(),
            "1".into(),
            "--scaling-evaluation-seconds".into(),
            "1".into(),
        ],
    })
    .expect("berth server starts")
}

/// Runs `aws <service> <args>` as a user would; `Ok(stdout as JSON)` or `Err(stderr)`.
fn aws(berth: &Berth, service: &str, args: &[&str]) -> Result<Value, String> {
    common::aws_json(berth, service, args, &[])
}

fn aas(berth: &Berth, args: &[&str]) -> Value {
    common::aws_ok(berth, "application-autoscaling", args)
}

fn aas_err(berth: &Berth, args: &[&str]) -> String {
    common::aws_err(berth, "application-autoscaling", args)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A cluster, a task definition and a service `web` of desired count 1 in it.
fn service(berth: &Berth, cluster: &str) -> String {
    aws(berth, "ecs", &["create-cluster", "--cluster-name", cluster]).unwrap();
    let containers = json!([{"name": "app", "image": "busybox", "memory": 64, "command": ["sleep", "3600"]}]);
    aws(
        berth,
        "ecs",
        &["register-task-definition", "--family", "web", "--container-definitions", &containers.to_string()],
    )
    .unwrap();
    aws(
        berth,
        "ecs",
        &[
            "create-service",
            "--cluster",
            cluster,
            "--service-name",
            "web",
            "--task-definition",
            "web",
            "--desired-count",
            "1",
        ],
    )
    .unwrap();
    format!("service/{cluster}/web")
}

fn desired(berth: &Berth, cluster: &str) -> i64 {
    let out = aws(berth, "ecs", &["describe-services", "--cluster", cluster, "--services", "web"]).unwrap();
    out["services"][0]["desiredCount"].as_i64().unwrap()
}

fn wait_desired(berth: &Berth, cluster: &str, want: i64, timeout: Duration) {
    let start = Instant::now();
    loop {
        let got = desired(berth, cluster);
        if got == want {
            return;
        }
        assert!(start.elapsed() < timeout, "desired count stayed {got}, wanted {want}; server log:\n{}", berth.log());
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn register(berth: &Berth, resource: &str, min: i32, max: i32) -> Value {
    aas(
        berth,
        &[
            "register-scalable-target",
            "--service-namespace",
            "ecs",
            "--scalable-dimension",
            "ecs:service:DesiredCount",
            "--resource-id",
            resource,
            "--min-capacity",
            &min.to_string(),
            "--max-capacity",
            &max.to_string(),
        ],
    )
}

fn activities(berth: &Berth, resource: &str) -> Vec<Value> {
    let out = aas(berth, &["describe-scaling-activities", "--service-namespace", "ecs", "--resource-id", resource]);
    out["ScalingActivities"].as_array().unwrap().clone()
}

const DIM: [&str; 2] = ["--scalable-dimension", "ecs:service:DesiredCount"];

#[test]
fn scalable_targets_policies_and_schedules_with_aws_errors_survive_a_restart() {
    let mut berth = server();
    let resource = service(&berth, "c1");
    // Bad inputs, each with AWS's error.
    let e = aas_err(
        &berth,
        &[
            "register-scalable-target",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            "service/c1/nope",
            "--min-capacity",
            "1",
            "--max-capacity",
            "2",
        ],
    );
    assert!(e.contains("ValidationException") && e.contains("ECS service doesn't exist: service/c1/nope"), "{e}");
    let e = aas_err(
        &berth,
        &[
            "register-scalable-target",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--min-capacity",
            "5",
            "--max-capacity",
            "2",
        ],
    );
    assert!(
        e.contains("ValidationException") && e.contains("Minimum capacity cannot be greater than maximum capacity"),
        "{e}"
    );
    let e = aas_err(
        &berth,
        &[
            "register-scalable-target",
            "--service-namespace",
            "dynamodb",
            "--scalable-dimension",
            "dynamodb:table:ReadCapacityUnits",
            "--resource-id",
            "table/t",
            "--min-capacity",
            "1",
            "--max-capacity",
            "2",
        ],
    );
    assert!(e.contains("ValidationException") && e.contains("dynamodb is not supported"), "{e}");
    let step = json!({"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]});
    let e = aas_err(
        &berth,
        &[
            "put-scaling-policy",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--policy-name",
            "up",
            "--policy-type",
            "StepScaling",
            "--step-scaling-policy-configuration",
            &step.to_string(),
        ],
    );
    assert!(e.contains("ObjectNotFoundException") && e.contains("No scalable target registered for service namespace: ecs, resource ID: service/c1/web, scalable dimension: ecs:service:DesiredCount"), "{e}");

    // Registering with a minimum above the desired count raises it, as an activity.
    let arn = register(&berth, &resource, 2, 10)["ScalableTargetARN"].as_str().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:application-autoscaling:us-east-1:"), "{arn}");
    wait_desired(&berth, "c1", 2, Duration::from_secs(10));
    let acts = activities(&berth, &resource);
    assert_eq!(acts[0]["Description"], "Setting desired count to 2.");
    assert_eq!(acts[0]["Cause"], "minimum capacity was set to 2");
    assert_eq!(acts[0]["StatusCode"], "Successful");
    // An update of the bounds and of the suspended state only.
    aas(
        &berth,
        &[
            "register-scalable-target",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--min-capacity",
            "1",
            "--suspended-state",
            "DynamicScalingInSuspended=true",
        ],
    );
    let targets =
        aas(&berth, &["describe-scalable-targets", "--service-namespace", "ecs", "--resource-ids", &resource]);
    let t = &targets["ScalableTargets"][0];
    assert_eq!((t["MinCapacity"].as_i64(), t["MaxCapacity"].as_i64()), (Some(1), Some(10)), "{targets}");
    assert_eq!(t["SuspendedState"]["DynamicScalingInSuspended"], true);
    assert_eq!(t["SuspendedState"]["DynamicScalingOutSuspended"], false);
    assert_eq!(t["ScalableTargetARN"], arn.as_str());
    // Tags on the target (Terraform reads them back).
    aas(&berth, &["tag-resource", "--resource-arn", &arn, "--tags", "team=web,env=prod"]);
    aas(&berth, &["untag-resource", "--resource-arn", &arn, "--tag-keys", "env"]);
    let tags = aas(&berth, &["list-tags-for-resource", "--resource-arn", &arn]);
    assert_eq!(tags["Tags"], json!({"team": "web"}));
    let missing = format!("{}0", arn);
    let e = aas_err(&berth, &["list-tags-for-resource", "--resource-arn", &missing]);
    assert!(e.contains("ResourceNotFoundException"), "{e}");

    // Policies: an ALB request-count policy needs a well-formed ResourceLabel; a customized metric creates two alarms.
    let alb = json!({"TargetValue": 100, "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": "x"}});
    let e = aas_err(
        &berth,
        &[
            "put-scaling-policy",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--policy-name",
            "alb",
            "--policy-type",
            "TargetTrackingScaling",
            "--target-tracking-scaling-policy-configuration",
            &alb.to_string(),
        ],
    );
    assert!(e.contains("ValidationException") && e.contains("Invalid ResourceLabel x"), "{e}");
    let tt = json!({"TargetValue": 50, "CustomizedMetricSpecification": {"MetricName": "Load", "Namespace": "App",
        "Dimensions": [{"Name": "Service", "Value": "web"}], "Statistic": "Average"}});
    let put = aas(
        &berth,
        &[
            "put-scaling-policy",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--policy-name",
            "track",
            "--policy-type",
            "TargetTrackingScaling",
            "--target-tracking-scaling-policy-configuration",
            &tt.to_string(),
        ],
    );
    let policy_arn = put["PolicyARN"].as_str().unwrap();
    assert!(
        policy_arn.contains(":scalingPolicy:") && policy_arn.ends_with(":resource/ecs/service/c1/web:policyName/track"),
        "{put}"
    );
    let names: Vec<&str> = put["Alarms"].as_array().unwrap().iter().map(|a| a["AlarmName"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{put}");
    assert!(names[0].starts_with("TargetTracking-service/c1/web-AlarmHigh-"), "{names:?}");
    assert!(names[1].starts_with("TargetTracking-service/c1/web-AlarmLow-"), "{names:?}");
    let alarms = aws(&berth, "cloudwatch", &["describe-alarms", "--alarm-names", names[0], names[1]]).unwrap();
    let alarms = alarms["MetricAlarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 2);
    let high = alarms.iter().find(|a| a["AlarmName"] == names[0]).unwrap();
    assert_eq!(high["Threshold"], json!(50.0));
    assert_eq!(high["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(high["AlarmActions"][0], policy_arn);
    let low = alarms.iter().find(|a| a["AlarmName"] == names[1]).unwrap();
    assert_eq!(low["Threshold"], json!(45.0));
    assert_eq!(low["EvaluationPeriods"], json!(15));
    let policies =
        aas(&berth, &["describe-scaling-policies", "--service-namespace", "ecs", "--resource-id", &resource]);
    let p = &policies["ScalingPolicies"][0];
    assert_eq!(p["PolicyType"], "TargetTrackingScaling");
    assert_eq!(p["TargetTrackingScalingPolicyConfiguration"]["ScaleOutCooldown"], json!(300));

    // Scheduled actions: bad expressions are refused; a cron in a time zone is kept.
    for bad in ["cron(0 9 * * * *)", "rate(0 minutes)", "at(2026-13-01T00:00:00)", "every day"] {
        let e = aas_err(
            &berth,
            &[
                "put-scheduled-action",
                "--service-namespace",
                "ecs",
                DIM[0],
                DIM[1],
                "--resource-id",
                &resource,
                "--scheduled-action-name",
                "bad",
                "--schedule",
                bad,
                "--scalable-target-action",
                "MinCapacity=1,MaxCapacity=2",
            ],
        );
        assert!(e.contains("ValidationException") && e.contains("Unsupported schedule format"), "{bad}: {e}");
    }
    let e = aas_err(
        &berth,
        &[
            "put-scheduled-action",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--scheduled-action-name",
            "bad",
            "--schedule",
            "cron(0 9 ? * MON-FRI *)",
            "--scalable-target-action",
            "MinCapacity=5,MaxCapacity=2",
        ],
    );
    assert!(e.contains("Minimum capacity cannot be greater than maximum capacity"), "{e}");
    aas(
        &berth,
        &[
            "put-scheduled-action",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--scheduled-action-name",
            "mornings",
            "--schedule",
            "cron(0 9 ? * MON-FRI *)",
            "--timezone",
            "Europe/Paris",
            "--scalable-target-action",
            "MinCapacity=3,MaxCapacity=8",
        ],
    );

    // Everything survives a restart.
    berth.restart().expect("berth restarts");
    let targets = aas(&berth, &["describe-scalable-targets", "--service-namespace", "ecs"]);
    assert_eq!(targets["ScalableTargets"].as_array().unwrap().len(), 1, "{targets}");
    let actions =
        aas(&berth, &["describe-scheduled-actions", "--service-namespace", "ecs", "--resource-id", &resource]);
    let a = &actions["ScheduledActions"][0];
    assert_eq!(a["Schedule"], "cron(0 9 ? * MON-FRI *)");
    assert_eq!(a["Timezone"], "Europe/Paris");
    assert_eq!(a["ScalableTargetAction"]["MinCapacity"], json!(3));
    let policies = aas(&berth, &["describe-scaling-policies", "--service-namespace", "ecs", "--policy-names", "track"]);
    assert_eq!(policies["ScalingPolicies"].as_array().unwrap().len(), 1);

    // Deleting the policy deletes its alarms; deregistering removes the rest.
    aas(
        &berth,
        &[
            "delete-scaling-policy",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--policy-name",
            "track",
        ],
    );
    let alarms = aws(&berth, "cloudwatch", &["describe-alarms", "--alarm-names", names[0], names[1]]).unwrap();
    assert_eq!(alarms["MetricAlarms"].as_array().unwrap().len(), 0, "{alarms}");
    let e = aas_err(
        &berth,
        &[
            "delete-scaling-policy",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--policy-name",
            "track",
        ],
    );
    assert!(e.contains("ObjectNotFoundException"), "{e}");
    aas(
        &berth,
        &[
            "delete-scheduled-action",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--scheduled-action-name",
            "mornings",
        ],
    );
    aas(
        &berth,
        &["deregister-scalable-target", "--service-namespace", "ecs", DIM[0], DIM[1], "--resource-id", &resource],
    );
    let targets = aas(&berth, &["describe-scalable-targets", "--service-namespace", "ecs"]);
    assert_eq!(targets["ScalableTargets"].as_array().unwrap().len(), 0, "{targets}");
    let e = aas_err(
        &berth,
        &["deregister-scalable-target", "--service-namespace", "ecs", DIM[0], DIM[1], "--resource-id", &resource],
    );
    assert!(e.contains("ObjectNotFoundException"), "{e}");
}

#[test]
fn a_step_policy_fires_from_its_alarm_and_a_scheduled_action_changes_bounds_at_its_time() {
    let berth = server();
    let resource = service(&berth, "c2");
    register(&berth, &resource, 1, 5);
    let step = json!({"AdjustmentType": "ChangeInCapacity", "Cooldown": 300,
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 2}]});
    let put = aas(
        &berth,
        &[
            "put-scaling-policy",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--policy-name",
            "step-up",
            "--policy-type",
            "StepScaling",
            "--step-scaling-policy-configuration",
            &step.to_string(),
        ],
    );
    let policy_arn = put["PolicyARN"].as_str().unwrap().to_string();
    aws(
        &berth,
        "cloudwatch",
        &[
            "put-metric-alarm",
            "--alarm-name",
            "queue-high",
            "--namespace",
            "App",
            "--metric-name",
            "Depth",
            "--statistic",
            "Average",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "10",
            "--comparison-operator",
            "GreaterThanThreshold",
            "--alarm-actions",
            &policy_arn,
        ],
    )
    .unwrap();
    aws(
        &berth,
        "cloudwatch",
        &["set-alarm-state", "--alarm-name", "queue-high", "--state-value", "ALARM", "--state-reason", "test"],
    )
    .unwrap();
    wait_desired(&berth, "c2", 3, Duration::from_secs(15));
    // The cooldown holds it there although the action repeats.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(desired(&berth, "c2"), 3);
    let acts = activities(&berth, &resource);
    let fired = acts.iter().find(|a| a["Description"] == "Setting desired count to 3.").expect("an activity");
    assert_eq!(fired["Cause"], "monitor alarm queue-high in state ALARM triggered policy step-up");
    assert_eq!(fired["StatusMessage"], "Successfully set desired count to 3. Change successfully fulfilled by ecs.");

    // A one-time action a few seconds ahead raises the bounds, and the desired count with them.
    let at = now() + 6;
    let stamp = Command::new("date").args(["-u", "-d", &format!("@{at}"), "+%Y-%m-%dT%H:%M:%S"]).output().unwrap();
    let stamp = String::from_utf8(stamp.stdout).unwrap();
    aas(
        &berth,
        &[
            "put-scheduled-action",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--scheduled-action-name",
            "peak",
            "--schedule",
            &format!("at({})", stamp.trim()),
            "--scalable-target-action",
            "MinCapacity=4,MaxCapacity=6",
        ],
    );
    let targets = aas(&berth, &["describe-scalable-targets", "--service-namespace", "ecs"]);
    assert_eq!(targets["ScalableTargets"][0]["MinCapacity"], json!(1), "not before its time");
    wait_desired(&berth, "c2", 4, Duration::from_secs(20));
    let targets = aas(&berth, &["describe-scalable-targets", "--service-namespace", "ecs"]);
    assert_eq!(targets["ScalableTargets"][0]["MinCapacity"], json!(4));
    assert_eq!(targets["ScalableTargets"][0]["MaxCapacity"], json!(6));
    assert!(now() >= at, "the action ran at its time, not before");
    let acts = activities(&berth, &resource);
    assert!(acts.iter().any(|a| a["Cause"] == "scheduled action name peak was triggered"), "{acts:?}");
}

#[test]
fn target_tracking_follows_a_customized_metric_out_and_back_in() {
    let berth = server();
    let resource = service(&berth, "c3");
    register(&berth, &resource, 1, 10);
    let tt = json!({"TargetValue": 50, "ScaleOutCooldown": 300, "ScaleInCooldown": 0,
        "CustomizedMetricSpecification": {"MetricName": "Load", "Namespace": "App",
        "Dimensions": [{"Name": "Service", "Value": "web"}], "Statistic": "Average"}});
    let put = aas(
        &berth,
        &[
            "put-scaling-policy",
            "--service-namespace",
            "ecs",
            DIM[0],
            DIM[1],
            "--resource-id",
            &resource,
            "--policy-name",
            "load",
            "--policy-type",
            "TargetTrackingScaling",
            "--target-tracking-scaling-policy-configuration",
            &tt.to_string(),
        ],
    );
    let high = put["Alarms"][0]["AlarmName"].as_str().unwrap().to_string();
    // Load three times the target over the last minutes: one task should become three.
    let minute = now() / 60 * 60;
    let data: Vec<Value> = (-5..=2)
        .map(|m| {
            json!({"MetricName": "Load", "Dimensions": [{"Name": "Service", "Value": "web"}],
                        "Timestamp": minute + m * 60 + 1, "Value": 150.0})
        })
        .collect();
    aws(&berth, "cloudwatch", &["put-metric-data", "--namespace", "App", "--metric-data", &json!(data).to_string()])
        .unwrap();
    wait_desired(&berth, "c3", 3, Duration::from_secs(20));
    // The alarm repeats its action every second, but the scale-out cooldown counts what was added: no more.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(desired(&berth, "c3"), 3, "strictly between min 1 and max 10");
    let acts = activities(&berth, &resource);
    let out = &acts[0];
    assert_eq!(out["Description"], "Setting desired count to 3.");
    assert_eq!(out["Cause"], format!("monitor alarm {high} in state ALARM triggered policy load"));

    // The load drops far below the target for the last 15 minutes: back in, by smaller steps (one a minute, on each
    // new datapoint), to the minimum.
    let data: Vec<Value> = (-16..=2)
        .map(|m| {
            json!({"MetricName": "Load", "Dimensions": [{"Name": "Service", "Value": "web"}],
                        "Timestamp": minute + m * 60 + 2,
                        "StatisticValues": {"SampleCount": 100000.0, "Sum": 100000.0, "Minimum": 1.0, "Maximum": 1.0}})
        })
        .collect();
    for chunk in data.chunks(10) {
        aws(
            &berth,
            "cloudwatch",
            &["put-metric-data", "--namespace", "App", "--metric-data", &json!(chunk).to_string()],
        )
        .unwrap();
    }
    // One step per datapoint: the second waits for the next minute's (at most a minute later).
    wait_desired(&berth, "c3", 1, Duration::from_secs(90));
    let acts = activities(&berth, &resource);
    let descriptions: Vec<&str> = acts.iter().map(|a| a["Description"].as_str().unwrap()).collect();
    assert_eq!(
        descriptions[..3],
        ["Setting desired count to 1.", "Setting desired count to 2.", "Setting desired count to 3."],
        "{acts:?}"
    );
    assert!(acts[0]["Cause"].as_str().unwrap().contains("-AlarmLow-"), "{acts:?}");
}
