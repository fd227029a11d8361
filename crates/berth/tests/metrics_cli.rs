//! CloudWatch metrics and alarms end to end: the unchanged aws CLI (botocore speaks AWS JSON 1.0 to CloudWatch)
//! against `berth server`: PutMetricData in every form, statistics, listing, alarms evaluated by the server's
//! controller, SetAlarmState, history, tags, AWS's error classes, and a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; datapoints need the real clock

mod common;

use berth_testkit::{Berth, BerthOptions};
use serde_json::{Value, json};
use std::time::Duration;

/// `berth server` evaluating alarms every second (no Docker needed).
fn server() -> Berth {
    Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--alarm-evaluation-seconds".into(), "1".into()],
    })
    .expect("berth server starts")
}

/// Runs `aws cloudwatch <args>` as a user would; `Ok(stdout as JSON)` or `Err(stderr)`.
fn ok(berth: &Berth, args: &[&str]) -> Value {
    common::aws_ok(berth, "cloudwatch", args)
}

fn err(berth: &Berth, args: &[&str]) -> String {
    common::aws_err(berth, "cloudwatch", args)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn iso(t: i64) -> String {
    // The CLI takes epoch seconds too.
    t.to_string()
}

#[test]
fn the_aws_cli_drives_cloudwatch_metrics_and_alarms() {
    let mut berth = server();
    let minute = now() / 60 * 60;
    // One value with a unit and a dimension, in the minute two minutes back.
    let t0 = (minute - 120 + 10).to_string();
    ok(
        &berth,
        &[
            "put-metric-data",
            "--namespace",
            "App",
            "--metric-name",
            "Latency",
            "--value",
            "5",
            "--unit",
            "Milliseconds",
            "--dimensions",
            "Host=a",
            "--timestamp",
            &t0,
        ],
    );
    // Values/Counts and StatisticValues in the same minute, through --metric-data.
    let data = json!([
        {"MetricName": "Latency", "Dimensions": [{"Name": "Host", "Value": "a"}], "Timestamp": minute - 110,
         "Values": [1.0, 9.0], "Counts": [2.0, 1.0], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Host", "Value": "a"}], "Timestamp": minute - 100,
         "StatisticValues": {"SampleCount": 4.0, "Sum": 20.0, "Minimum": 2.0, "Maximum": 8.0}, "Unit": "Milliseconds"}
    ])
    .to_string();
    ok(&berth, &["put-metric-data", "--namespace", "App", "--metric-data", &data]);
    let stats = ok(
        &berth,
        &[
            "get-metric-statistics",
            "--namespace",
            "App",
            "--metric-name",
            "Latency",
            "--dimensions",
            "Name=Host,Value=a",
            "--start-time",
            &iso(minute - 180),
            "--end-time",
            &iso(minute),
            "--period",
            "60",
            "--statistics",
            "SampleCount",
            "Sum",
            "Minimum",
            "Maximum",
            "Average",
        ],
    );
    let points = stats["Datapoints"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{stats}");
    // 5; 1, 1, 9; and the set (4 values, sum 20): 8 values summing 36.
    assert_eq!(points[0]["SampleCount"], json!(8.0));
    assert_eq!(points[0]["Sum"], json!(36.0));
    assert_eq!(points[0]["Minimum"], json!(1.0));
    assert_eq!(points[0]["Maximum"], json!(9.0));
    assert_eq!(points[0]["Average"], json!(4.5));
    assert_eq!(points[0]["Unit"], json!("Milliseconds"));
    assert_eq!(stats["Label"], json!("Latency"));

    let listed = ok(&berth, &["list-metrics", "--namespace", "App"]);
    assert_eq!(
        listed["Metrics"],
        json!([{"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Host", "Value": "a"}]}])
    );
    let filtered = ok(&berth, &["list-metrics", "--dimensions", "Name=Host,Value=b"]);
    assert_eq!(filtered["Metrics"], json!([]));

    // AWS's error classes, as the CLI names them.
    let e = err(&berth, &["put-metric-data", "--namespace", "AWS/ECS", "--metric-name", "x", "--value", "1"]);
    assert!(e.contains("(InvalidParameterValue)"), "{e}");
    let e = err(
        &berth,
        &[
            "put-metric-data",
            "--namespace",
            "App",
            "--metric-data",
            r#"[{"MetricName": "x", "Value": 1, "Values": [1]}]"#,
        ],
    );
    assert!(e.contains("(InvalidParameterCombination)"), "{e}");
    let e = err(
        &berth,
        &[
            "get-metric-statistics",
            "--namespace",
            "App",
            "--metric-name",
            "Latency",
            "--start-time",
            &iso(minute - 180),
            "--end-time",
            &iso(minute),
            "--period",
            "90",
            "--statistics",
            "Sum",
        ],
    );
    assert!(e.contains("(InvalidParameterValue)") && e.contains("multiple of 60"), "{e}");
    let e = err(
        &berth,
        &[
            "get-metric-statistics",
            "--namespace",
            "App",
            "--metric-name",
            "Latency",
            "--start-time",
            &iso(minute - 180),
            "--end-time",
            &iso(minute),
            "--period",
            "60",
        ],
    );
    assert!(e.contains("(InvalidParameterCombination)"), "{e}");

    // An alarm on a metric breaching in the last minutes (and in this one, should the minute turn meanwhile)
    // goes to ALARM by the server's own evaluation.
    for back in [120, 60, 0] {
        let t = (minute - back + 5).to_string();
        ok(
            &berth,
            &["put-metric-data", "--namespace", "App", "--metric-name", "Errors", "--value", "50", "--timestamp", &t],
        );
    }
    ok(
        &berth,
        &[
            "put-metric-alarm",
            "--alarm-name",
            "errors-high",
            "--namespace",
            "App",
            "--metric-name",
            "Errors",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "10",
            "--comparison-operator",
            "GreaterThanThreshold",
            "--treat-missing-data",
            "notBreaching",
            "--alarm-actions",
            "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:p",
            "--tags",
            "Key=team,Value=web",
        ],
    );
    let mut alarm = Value::Null;
    for _ in 0..60 {
        alarm = ok(&berth, &["describe-alarms", "--alarm-names", "errors-high"])["MetricAlarms"][0].clone();
        if alarm["StateValue"] == json!("ALARM") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(alarm["StateValue"], json!("ALARM"), "{alarm}");
    assert!(alarm["StateReason"].as_str().unwrap().contains("was greater than the threshold (10.0)"), "{alarm}");
    let arn = format!("arn:aws:cloudwatch:us-east-1:{}:alarm:errors-high", berth.account_id);
    assert_eq!(alarm["AlarmArn"], json!(arn));
    assert!(alarm["StateUpdatedTimestamp"].as_f64().unwrap() > minute as f64 - 120.0, "{alarm}");
    let for_metric = ok(&berth, &["describe-alarms-for-metric", "--namespace", "App", "--metric-name", "Errors"]);
    assert_eq!(for_metric["MetricAlarms"].as_array().unwrap().len(), 1);

    // SetAlarmState moves it to OK; the next evaluation (every second here) takes it back to ALARM, as on AWS.
    ok(&berth, &["set-alarm-state", "--alarm-name", "errors-high", "--state-value", "OK", "--state-reason", "manual"]);
    let mut summaries: Vec<String> = Vec::new();
    for _ in 0..60 {
        let history = ok(
            &berth,
            &["describe-alarm-history", "--alarm-name", "errors-high", "--history-item-type", "StateUpdate"],
        );
        let items = history["AlarmHistoryItems"].as_array().unwrap();
        summaries = items.iter().map(|h| h["HistorySummary"].as_str().unwrap().to_string()).collect();
        if summaries.len() >= 3 {
            assert!(items[1]["HistoryData"].as_str().unwrap().contains("manual"), "{history}");
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        summaries,
        [
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK",
            "Alarm updated from INSUFFICIENT_DATA to ALARM"
        ]
    );
    let tags = ok(&berth, &["list-tags-for-resource", "--resource-arn", &arn]);
    assert_eq!(tags["Tags"], json!([{"Key": "team", "Value": "web"}]));

    let e = err(&berth, &["set-alarm-state", "--alarm-name", "nope", "--state-value", "OK", "--state-reason", "x"]);
    assert!(e.contains("(ResourceNotFound)"), "{e}");
    let e = err(
        &berth,
        &[
            "put-metric-alarm",
            "--alarm-name",
            "bad",
            "--namespace",
            "App",
            "--metric-name",
            "Errors",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--evaluation-periods",
            "2",
            "--datapoints-to-alarm",
            "3",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanThreshold",
        ],
    );
    assert!(e.contains("(InvalidParameterValue)"), "{e}");

    // Series and alarms survive a restart.
    berth.restart().expect("berth restarts");
    let again = ok(
        &berth,
        &[
            "get-metric-statistics",
            "--namespace",
            "App",
            "--metric-name",
            "Latency",
            "--dimensions",
            "Name=Host,Value=a",
            "--start-time",
            &iso(minute - 180),
            "--end-time",
            &iso(minute),
            "--period",
            "60",
            "--statistics",
            "Sum",
        ],
    );
    assert_eq!(again["Datapoints"][0]["Sum"], json!(36.0), "{again}");
    assert_eq!(ok(&berth, &["describe-alarms"])["MetricAlarms"].as_array().unwrap().len(), 1);

    ok(&berth, &["delete-alarms", "--alarm-names", "errors-high"]);
    let e = err(&berth, &["delete-alarms", "--alarm-names", "errors-high"]);
    assert!(e.contains("(ResourceNotFound)"), "{e}");
}
