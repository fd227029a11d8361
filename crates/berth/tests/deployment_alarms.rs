//! Deployment alarms end to end with the unchanged aws CLI against `berth up` (real Docker): a CloudWatch alarm on a
//! custom metric watches a service's deployments; revision 2 goes out, the alarm goes to ALARM, and the deployment
//! fails and rolls back to revision 1 (docs/COMPATIBILITY.md §38).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; polls need the real clock

mod common;

use common::ecs;

use berth_testkit::{Berth, BerthOptions};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ALARM: &str = "deploy-errors";

/// Polls `check` every 300 ms until it answers, for at most `limit`.
fn poll<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(out) = check() {
            return out;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn service(berth: &Berth) -> Value {
    ecs(berth, &["describe-services", "--services", "web"])["services"][0].clone()
}

/// The service deployment `arn` as DescribeServiceDeployments answers it.
fn service_deployment(berth: &Berth, arn: &str) -> Value {
    ecs(berth, &["describe-service-deployments", "--service-deployment-arns", arn])["serviceDeployments"][0].clone()
}

/// The newest service deployment's ARN.
fn newest_deployment(berth: &Berth) -> String {
    let list = ecs(berth, &["list-service-deployments", "--service", "web"]);
    list["serviceDeployments"][0]["serviceDeploymentArn"].as_str().unwrap().to_string()
}

/// Registers revision `n` of family `alarmed`: the workload with its health check (so that a deployment takes a few
/// seconds to settle).
fn register(berth: &Berth, n: u32) -> String {
    let containers = json!([{
        "name": "app",
        "image": "berth-workload:latest",
        "memory": 64,
        "portMappings": [{"containerPort": 8080, "hostPort": 0}],
        "environment": [{"name": "REVISION", "value": n.to_string()}],
        "healthCheck": {
            "command": ["CMD", "/berth-workload", "healthcheck", "http://127.0.0.1:8080/health"],
            "interval": 5, "timeout": 2, "retries": 2
        }
    }]);
    let out = ecs(
        berth,
        &["register-task-definition", "--family", "alarmed", "--container-definitions", &containers.to_string()],
    );
    out["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string()
}

#[test]
fn an_alarm_in_alarm_fails_the_deployment_and_rolls_it_back() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    // Alarms evaluated every second: CloudWatch's minute is a second here, so the bake time of a 60 s × 5 alarm is 5 s
    // (long enough for the test to see revision 2 watched before it could complete, on a loaded machine too).
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--alarm-evaluation-seconds".into(), "1".into()],
    })
    .expect("berth up starts");
    poll("the local agent", Duration::from_secs(30), || {
        let out = ecs(&berth, &["list-container-instances"]);
        (!out["containerInstanceArns"].as_array()?.is_empty()).then_some(())
    });

    // An alarm on a custom metric with no data: it keeps whatever state it is set to.
    common::aws_ok(
        &berth,
        "cloudwatch",
        &[
            "put-metric-alarm",
            "--alarm-name",
            ALARM,
            "--namespace",
            "App",
            "--metric-name",
            "Errors",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--evaluation-periods",
            "5",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
            "--treat-missing-data",
            "ignore",
        ],
    );
    let one = register(&berth, 1);
    let two = register(&berth, 2);

    // Enabled alarms need names.
    let refused = common::aws_err(
        &berth,
        "ecs",
        &[
            "create-service",
            "--service-name",
            "web",
            "--task-definition",
            &one,
            "--desired-count",
            "1",
            "--deployment-configuration",
            r#"{"alarms":{"alarmNames":[],"enable":true,"rollback":true}}"#,
        ],
    );
    assert!(refused.contains("InvalidParameterException") && refused.contains("alarmNames"), "{refused}");

    let alarms = json!({"alarms": {"alarmNames": [ALARM], "enable": true, "rollback": true}}).to_string();
    ecs(
        &berth,
        &[
            "create-service",
            "--service-name",
            "web",
            "--task-definition",
            &one,
            "--desired-count",
            "1",
            "--deployment-configuration",
            &alarms,
        ],
    );
    // Revision 1 completes; its alarms watched it to the end.
    let first = newest_deployment(&berth);
    poll("revision 1 to complete", Duration::from_secs(60), || {
        let d = service_deployment(&berth, &first);
        (d["status"] == "SUCCESSFUL" && d["alarms"]["status"] == "MONITORING_COMPLETE").then_some(())
    });

    // Revision 2 goes out; once its alarms are watched, the alarm goes off.
    ecs(&berth, &["update-service", "--service", "web", "--task-definition", &two]);
    let second = newest_deployment(&berth);
    assert_ne!(second, first);
    poll("revision 2's alarms to be watched", Duration::from_secs(30), || {
        let d = service_deployment(&berth, &second);
        (d["alarms"]["status"] == "MONITORING").then_some(())
    });
    assert_eq!(service_deployment(&berth, &second)["status"], "IN_PROGRESS");
    common::aws_ok(
        &berth,
        "cloudwatch",
        &["set-alarm-state", "--alarm-name", ALARM, "--state-value", "ALARM", "--state-reason", "errors after deploy"],
    );

    // The deployment failed and rolled back; the rollback, started with the alarm already in ALARM, completes.
    let rolled_back = poll("the rollback to succeed", Duration::from_secs(90), || {
        let d = service_deployment(&berth, &second);
        (d["status"] == "ROLLBACK_SUCCESSFUL").then_some(d)
    });
    assert_eq!(rolled_back["alarms"]["status"], "TRIGGERED", "{rolled_back}");
    assert_eq!(rolled_back["alarms"]["alarmNames"], json!([ALARM]));
    assert_eq!(rolled_back["alarms"]["triggeredAlarmNames"], json!([ALARM]));
    assert!(rolled_back["rollback"]["reason"].as_str().unwrap().contains(ALARM), "{rolled_back}");

    let web = poll("the service to settle on revision 1", Duration::from_secs(30), || {
        let s = service(&berth);
        (s["deployments"].as_array()?.len() == 1 && s["runningCount"] == 1).then_some(s)
    });
    assert_eq!(web["taskDefinition"], one.as_str());
    assert_eq!(web["deployments"][0]["rolloutState"], "COMPLETED");
    let events: Vec<&str> = web["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    let failed = format!("deployment failed: alarm(s) {ALARM} in ALARM state.");
    assert!(events.iter().any(|e| e.ends_with(&failed)), "{events:?}");
    assert!(events.iter().any(|e| e.contains("rolling back to deployment")), "{events:?}");
    let tasks = ecs(&berth, &["list-tasks", "--service-name", "web", "--desired-status", "RUNNING"]);
    let arns: Vec<&str> = tasks["taskArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let mut describe = vec!["describe-tasks", "--tasks"];
    describe.extend(arns.iter().copied());
    let described = ecs(&berth, &describe);
    let running: Vec<&str> =
        described["tasks"].as_array().unwrap().iter().map(|t| t["taskDefinitionArn"].as_str().unwrap()).collect();
    assert_eq!(running, [one.as_str()], "the tasks are back on revision 1");
}
