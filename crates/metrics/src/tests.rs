//! The service through [`Metrics::call`] on a memory store and a manual clock.

use crate::{AlarmEvent, Metrics, MetricsConfig, MetricsError};
use berth_model::clock::ManualClock;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A whole minute (2027-01-15T08:00:00Z).
const START: f64 = 1_800_000_000.0;

async fn service(dir: &std::path::Path, store: berth_store::SharedStore, clock: Arc<ManualClock>) -> Arc<Metrics> {
    let config = MetricsConfig::new(dir.to_path_buf(), "us-east-1", "123456789012");
    Metrics::open(config, store, clock).await.unwrap()
}

async fn call(m: &Metrics, op: &str, body: Value) -> Result<Value, MetricsError> {
    let out = m.call(op, body.to_string().as_bytes()).await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

async fn ok(m: &Metrics, op: &str, body: Value) -> Value {
    call(m, op, body.clone()).await.unwrap_or_else(|e| panic!("{op} {body}: {e}"))
}

async fn err(m: &Metrics, op: &str, body: Value) -> MetricsError {
    call(m, op, body.clone()).await.expect_err(&format!("{op} {body} should fail"))
}

fn setup() -> (tempfile::TempDir, berth_store::SharedStore, Arc<ManualClock>) {
    (tempfile::tempdir().unwrap(), Arc::new(berth_store::MemoryStore::new()), Arc::new(ManualClock::new(START)))
}

#[tokio::test]
async fn put_then_statistics_per_period() {
    let (dir, store, clock) = setup();
    let m = service(dir.path(), store, clock.clone()).await;
    let dims = json!([{"Name": "Host", "Value": "a"}]);
    for (i, v) in [1.0, 3.0, 5.0, 7.0].iter().enumerate() {
        let t = START + 60.0 * i as f64 + 5.0;
        ok(
            &m,
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": t, "Value": v, "Unit": "Milliseconds"}]}),
        )
        .await;
    }
    // Values/Counts and StatisticValues land in the same minutes.
    ok(&m, "PutMetricData", json!({"Namespace": "App", "MetricData": [
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": START + 10.0, "Values": [10.0, 20.0], "Counts": [1.0, 2.0]},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": START + 70.0,
         "StatisticValues": {"SampleCount": 2.0, "Sum": 4.0, "Minimum": 0.5, "Maximum": 3.5}}]}))
    .await;
    let out = ok(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": dims,
        "StartTime": START, "EndTime": START + 240.0, "Period": 120,
        "Statistics": ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]}),
    )
    .await;
    let points = out["Datapoints"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{out}");
    // Minutes 0-1: 1, 10, 20, 20, 3, and the set (2 values, sum 4): count 7, sum 58.
    assert_eq!(points[0]["Timestamp"], json!(START));
    assert_eq!(points[0]["SampleCount"], json!(7.0));
    assert_eq!(points[0]["Sum"], json!(58.0));
    assert_eq!(points[0]["Minimum"], json!(0.5));
    assert_eq!(points[0]["Maximum"], json!(20.0));
    assert_eq!(points[1]["Average"], json!(6.0));
    assert_eq!(points[1]["Unit"], json!("Milliseconds"));
    assert_eq!(out["Label"], json!("Latency"));
    // Other dimensions are another series; another unit than the series' gives nothing.
    let none = ok(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency",
        "StartTime": START, "EndTime": START + 240.0, "Period": 60, "Statistics": ["Sum"]}),
    )
    .await;
    assert_eq!(none["Datapoints"], json!([]));
    let none = ok(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": dims,
        "StartTime": START, "EndTime": START + 240.0, "Period": 60, "Statistics": ["Sum"], "Unit": "Seconds"}),
    )
    .await;
    assert_eq!(none["Datapoints"], json!([]));
}

#[tokio::test]
async fn put_metric_data_errors_are_aws_classes() {
    let (dir, store, clock) = setup();
    let m = service(dir.path(), store, clock).await;
    let put = |datum: Value| json!({"Namespace": "App", "MetricData": [datum]});
    let cases = [
        (json!({"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "x", "Value": 1}]}), "InvalidParameterValue"),
        (json!({"MetricData": [{"MetricName": "x", "Value": 1}]}), "MissingParameter"),
        (put(json!({"Value": 1})), "MissingParameter"),
        (put(json!({"MetricName": "x", "Value": 1, "Values": [1]})), "InvalidParameterCombination"),
        (put(json!({"MetricName": "x", "Values": [1, 2], "Counts": [1]})), "InvalidParameterCombination"),
        (put(json!({"MetricName": "x"})), "InvalidParameterCombination"),
        (put(json!({"MetricName": "x", "Value": 1, "StorageResolution": 5})), "InvalidParameterValue"),
        (put(json!({"MetricName": "x", "Value": 1, "Timestamp": START - 15.0 * 86400.0})), "InvalidParameterValue"),
        (put(json!({"MetricName": "x", "Value": 1, "Timestamp": START + 3.0 * 3600.0})), "InvalidParameterValue"),
        (put(json!({"MetricName": "x", "Value": 1, "Unit": "Parsecs"})), "InvalidParameterValue"),
        (put(json!({"MetricName": "x", "Value": 1e200})), "InvalidParameterValue"),
        (put(json!({"MetricName": "", "Value": 1})), "InvalidParameterValue"),
    ];
    for (body, code) in cases {
        let e = err(&m, "PutMetricData", body.clone()).await;
        assert_eq!(e.code, code, "{body}: {e}");
        assert_eq!(e.status, 400);
    }
    let e = err(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "x", "StartTime": START,
        "EndTime": START + 60.0, "Period": 90, "Statistics": ["Sum"]}),
    )
    .await;
    assert_eq!(e.code, "InvalidParameterValue");
    let e = err(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "x", "StartTime": START,
        "EndTime": START + 86400.0 * 2.0, "Period": 60, "Statistics": ["Sum"]}),
    )
    .await;
    assert_eq!(e.code, "InvalidParameterCombination");
    assert!(e.message.contains("2880 datapoints"), "{e}");
    let e = err(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "x", "StartTime": START,
        "EndTime": START + 60.0, "Period": 60}),
    )
    .await;
    assert_eq!(e.code, "InvalidParameterCombination");
    assert_eq!(err(&m, "PutDashboard", json!({})).await.code, "InvalidAction");
}

#[tokio::test]
async fn percentiles_from_values_and_sketchable_sets() {
    let (dir, store, clock) = setup();
    let m = service(dir.path(), store, clock.clone()).await;
    let values: Vec<f64> = (1..=100).map(f64::from).collect();
    ok(&m, "PutMetricData", json!({"Namespace": "App", "MetricData": [
        {"MetricName": "Latency", "Timestamp": START + 1.0, "Values": values[..50]},
        {"MetricName": "Latency", "Timestamp": START + 2.0, "Values": values[50..]},
        {"MetricName": "Latency", "Timestamp": START + 61.0, "StatisticValues": {"SampleCount": 4.0, "Sum": 40.0, "Minimum": 10.0, "Maximum": 10.0}},
        {"MetricName": "Latency", "Timestamp": START + 121.0, "StatisticValues": {"SampleCount": 2.0, "Sum": 3.0, "Minimum": 1.0, "Maximum": 2.0}}]}))
    .await;
    let out = ok(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "StartTime": START,
        "EndTime": START + 180.0, "Period": 60, "ExtendedStatistics": ["p50", "p99.5"]}),
    )
    .await;
    let points = out["Datapoints"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{out}");
    let p50 = points[0]["ExtendedStatistics"]["p50"].as_f64().unwrap();
    let p995 = points[0]["ExtendedStatistics"]["p99.5"].as_f64().unwrap();
    assert!((p50 - 50.0).abs() <= 1.0 && (p995 - 100.0).abs() <= 2.0, "{out}");
    assert!(points[0].get("Average").is_none());
    // A set of equal values has percentiles; one of different values has none.
    assert!((points[1]["ExtendedStatistics"]["p50"].as_f64().unwrap() - 10.0).abs() <= 0.2, "{out}");
    assert!(points[2].get("ExtendedStatistics").is_none(), "{out}");
    let e = err(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "StartTime": START,
        "EndTime": START + 180.0, "Period": 60, "ExtendedStatistics": ["tm99"]}),
    )
    .await;
    assert_eq!(e.code, "InvalidParameterValue");
    let e = err(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "StartTime": START,
        "EndTime": START + 180.0, "Period": 60, "Statistics": ["Sum"], "ExtendedStatistics": ["p90"]}),
    )
    .await;
    assert_eq!(e.code, "InvalidParameterCombination");
    // GetMetricData takes percentile stats; the period with no sketch gives no value.
    let out = ok(
        &m,
        "GetMetricData",
        json!({"MetricDataQueries": [{"Id": "p", "MetricStat": {"Metric": {
        "Namespace": "App", "MetricName": "Latency"}, "Period": 60, "Stat": "p90"}}],
        "StartTime": START, "EndTime": START + 180.0, "ScanBy": "TimestampAscending"}),
    )
    .await;
    let got: Vec<f64> =
        out["MetricDataResults"][0]["Values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(got.len(), 2, "{out}");
    assert!((got[0] - 90.0).abs() <= 1.8 && (got[1] - 10.0).abs() <= 0.2, "{got:?}");
    // An alarm on a percentile.
    ok(
        &m,
        "PutMetricAlarm",
        json!({"AlarmName": "p99", "Namespace": "App", "MetricName": "Latency",
        "ExtendedStatistic": "p99", "Period": 60, "EvaluationPeriods": 1, "Threshold": 95.0,
        "ComparisonOperator": "GreaterThanThreshold"}),
    )
    .await;
    clock.advance(60.0);
    m.evaluate_alarms().await.unwrap();
    let a = ok(&m, "DescribeAlarms", json!({})).await["MetricAlarms"][0].clone();
    assert_eq!((a["StateValue"].clone(), a["ExtendedStatistic"].clone()), (json!("ALARM"), json!("p99")), "{a}");
}

#[tokio::test]
async fn get_metric_data_pages_and_orders() {
    let (dir, store, clock) = setup();
    let m = service(dir.path(), store, clock.clone()).await;
    clock.advance(600.0);
    for i in 0..5 {
        m.put("AWS/ECS", "CPUUtilization", &[("ClusterName", "c")], START + 60.0 * f64::from(i), f64::from(i), None)
            .unwrap();
    }
    let query = |extra: Value| {
        let mut q = json!({"MetricDataQueries": [{"Id": "cpu", "MetricStat": {"Metric": {"Namespace": "AWS/ECS",
            "MetricName": "CPUUtilization", "Dimensions": [{"Name": "ClusterName", "Value": "c"}]}, "Period": 60,
            "Stat": "Maximum"}}], "StartTime": START, "EndTime": START + 600.0});
        for (k, v) in extra.as_object().unwrap() {
            q[k] = v.clone();
        }
        q
    };
    let out = ok(&m, "GetMetricData", query(json!({}))).await;
    assert_eq!(out["MetricDataResults"][0]["Values"], json!([4.0, 3.0, 2.0, 1.0, 0.0]), "descending by default");
    assert_eq!(out["MetricDataResults"][0]["Label"], json!("CPUUtilization"));
    let first = ok(&m, "GetMetricData", query(json!({"ScanBy": "TimestampAscending", "MaxDatapoints": 3}))).await;
    assert_eq!(first["MetricDataResults"][0]["Values"], json!([0.0, 1.0, 2.0]));
    assert_eq!(first["MetricDataResults"][0]["StatusCode"], json!("PartialData"));
    let token = first["NextToken"].as_str().unwrap().to_string();
    let second =
        ok(&m, "GetMetricData", query(json!({"ScanBy": "TimestampAscending", "MaxDatapoints": 3, "NextToken": token})))
            .await;
    assert_eq!(second["MetricDataResults"][0]["Values"], json!([3.0, 4.0]));
    assert_eq!(second["MetricDataResults"][0]["StatusCode"], json!("Complete"));
    assert!(second.get("NextToken").is_none());
    let e = err(&m, "GetMetricData", query(json!({"NextToken": "garbage"}))).await;
    assert_eq!(e.code, "InvalidNextToken");
    let e = err(
        &m,
        "GetMetricData",
        json!({"MetricDataQueries": [{"Id": "e", "Expression": "SUM(METRICS())"}],
        "StartTime": START, "EndTime": START + 60.0}),
    )
    .await;
    assert!(e.message.contains("not supported"), "{e}");
}

#[tokio::test]
async fn list_metrics_filters_and_pages() {
    let (dir, store, clock) = setup();
    let m = service(dir.path(), store, clock.clone()).await;
    for i in 0..510 {
        m.put("App", "Requests", &[("Route", &format!("r{i:03}"))], START, 1.0, None).unwrap();
    }
    m.put("Other", "Requests", &[], START, 1.0, None).unwrap();
    let all = ok(&m, "ListMetrics", json!({"Namespace": "App"})).await;
    assert_eq!(all["Metrics"].as_array().unwrap().len(), 500);
    let rest = ok(&m, "ListMetrics", json!({"Namespace": "App", "NextToken": all["NextToken"]})).await;
    assert_eq!(rest["Metrics"].as_array().unwrap().len(), 10);
    assert!(rest.get("NextToken").is_none());
    let one = ok(&m, "ListMetrics", json!({"Dimensions": [{"Name": "Route", "Value": "r007"}]})).await;
    assert_eq!(
        one["Metrics"],
        json!([{"Namespace": "App", "MetricName": "Requests",
        "Dimensions": [{"Name": "Route", "Value": "r007"}]}])
    );
    clock.advance(4.0 * 3600.0);
    m.put("Other", "Requests", &[], START + 4.0 * 3600.0, 1.0, None).unwrap();
    let recent = ok(&m, "ListMetrics", json!({"RecentlyActive": "PT3H"})).await;
    assert_eq!(recent["Metrics"].as_array().unwrap().len(), 1);
}

fn alarm(name: &str, extra: Value) -> Value {
    let mut a = json!({"AlarmName": name, "Namespace": "App", "MetricName": "Errors", "Statistic": "Sum",
        "Period": 60, "EvaluationPeriods": 2, "Threshold": 5.0, "ComparisonOperator": "GreaterThanThreshold",
        "AlarmActions": ["arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x"],
        "OKActions": ["arn:aws:sns:us-east-1:123456789012:ok"]});
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

#[tokio::test]
async fn alarms_evaluate_on_the_clock_and_fire_the_hook() {
    let (dir, store, clock) = setup();
    let m = service(dir.path(), store, clock.clone()).await;
    let events: Arc<Mutex<Vec<AlarmEvent>>> = Arc::default();
    let seen = events.clone();
    m.set_alarm_hook(Arc::new(move |e: &AlarmEvent| seen.lock().unwrap().push(e.clone())));
    ok(&m, "PutMetricAlarm", alarm("errors-high", json!({}))).await;
    let described = ok(&m, "DescribeAlarms", json!({"AlarmNames": ["errors-high"]})).await;
    let a = &described["MetricAlarms"][0];
    assert_eq!(a["StateValue"], json!("INSUFFICIENT_DATA"));
    assert_eq!(a["AlarmArn"], json!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:errors-high"));
    // Two breaching minutes.
    for i in 0..2 {
        m.put("App", "Errors", &[], START + 60.0 * f64::from(i), 10.0, None).unwrap();
    }
    clock.advance(120.0);
    m.evaluate_alarms().await.unwrap();
    let a = ok(&m, "DescribeAlarms", json!({})).await["MetricAlarms"][0].clone();
    assert_eq!(a["StateValue"], json!("ALARM"), "{a}");
    assert!(
        a["StateReason"].as_str().unwrap().starts_with("Threshold Crossed: 2 out of the last 2 datapoints [10.0"),
        "{a}"
    );
    assert_eq!(a["StateUpdatedTimestamp"], json!(START + 120.0));
    {
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].actions, vec!["arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x".to_string()]);
        assert!(!events[0].repeat);
    }
    // Still breaching a minute later: the Auto Scaling action repeats.
    m.put("App", "Errors", &[], START + 120.0, 10.0, None).unwrap();
    clock.advance(60.0);
    m.evaluate_alarms().await.unwrap();
    assert!(events.lock().unwrap()[1].repeat);
    // No data at all for two minutes: `missing` makes it INSUFFICIENT_DATA (no actions configured for it).
    clock.advance(180.0);
    m.evaluate_alarms().await.unwrap();
    let a = ok(&m, "DescribeAlarms", json!({"StateValue": "INSUFFICIENT_DATA"})).await;
    assert_eq!(a["MetricAlarms"].as_array().unwrap().len(), 1, "{a}");
    // SetAlarmState moves it and fires the OK actions; history records every change, newest first.
    ok(&m, "SetAlarmState", json!({"AlarmName": "errors-high", "StateValue": "OK", "StateReason": "testing"})).await;
    assert_eq!(
        events.lock().unwrap().last().unwrap().actions,
        vec!["arn:aws:sns:us-east-1:123456789012:ok".to_string()]
    );
    let history =
        ok(&m, "DescribeAlarmHistory", json!({"AlarmName": "errors-high", "HistoryItemType": "StateUpdate"})).await;
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["HistorySummary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "Alarm updated from INSUFFICIENT_DATA to OK",
            "Alarm updated from ALARM to INSUFFICIENT_DATA",
            "Alarm updated from INSUFFICIENT_DATA to ALARM"
        ]
    );
    // Setting the state it already has runs no action.
    let before = events.lock().unwrap().len();
    ok(&m, "SetAlarmState", json!({"AlarmName": "errors-high", "StateValue": "OK", "StateReason": "again"})).await;
    assert_eq!(events.lock().unwrap().len(), before);
    // Disabled actions fire nothing.
    ok(&m, "DisableAlarmActions", json!({"AlarmNames": ["errors-high"]})).await;
    let before = events.lock().unwrap().len();
    ok(&m, "SetAlarmState", json!({"AlarmName": "errors-high", "StateValue": "ALARM", "StateReason": "x"})).await;
    assert_eq!(events.lock().unwrap().len(), before);
}

#[tokio::test]
async fn alarm_errors_tags_and_delete() {
    let (dir, store, clock) = setup();
    let m = service(dir.path(), store, clock).await;
    let cases = [
        (alarm("a", json!({"ExtendedStatistic": "p99"})), "InvalidParameterCombination"),
        (
            json!({"AlarmName": "a", "Namespace": "App", "MetricName": "x", "ExtendedStatistic": "tm90", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold"}),
            "InvalidParameterValue",
        ),
        (alarm("a", json!({"Period": 45})), "InvalidParameterValue"),
        (alarm("a", json!({"DatapointsToAlarm": 3})), "InvalidParameterValue"),
        (alarm("a", json!({"TreatMissingData": "sometimes"})), "InvalidParameterValue"),
        (alarm("a", json!({"ComparisonOperator": "GreaterThanUpperThreshold"})), "InvalidParameterValue"),
        (alarm("a", json!({"AlarmActions": ["not-an-arn"]})), "InvalidParameterValue"),
        (
            json!({"AlarmName": "a", "Namespace": "App", "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1,
            "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold"}),
            "MissingParameter",
        ),
    ];
    for (body, code) in cases {
        assert_eq!(err(&m, "PutMetricAlarm", body.clone()).await.code, code, "{body}");
    }
    ok(&m, "PutMetricAlarm", alarm("a", json!({"Tags": [{"Key": "team", "Value": "web"}]}))).await;
    let arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a";
    ok(&m, "TagResource", json!({"ResourceARN": arn, "Tags": [{"Key": "env", "Value": "prod"}]})).await;
    let tags = ok(&m, "ListTagsForResource", json!({"ResourceARN": arn})).await;
    assert_eq!(tags["Tags"], json!([{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "web"}]));
    let e =
        err(&m, "ListTagsForResource", json!({"ResourceARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:zz"}))
            .await;
    assert_eq!((e.code, e.status), ("ResourceNotFoundException", 404));
    let e = err(&m, "SetAlarmState", json!({"AlarmName": "zz", "StateValue": "OK", "StateReason": "x"})).await;
    assert_eq!((e.code, e.status), ("ResourceNotFound", 404));
    let e = err(
        &m,
        "SetAlarmState",
        json!({"AlarmName": "a", "StateValue": "OK", "StateReason": "x", "StateReasonData": "{"}),
    )
    .await;
    assert_eq!(e.code, "InvalidFormat");
    assert_eq!(err(&m, "DeleteAlarms", json!({"AlarmNames": ["a", "zz"]})).await.code, "ResourceNotFound");
    let for_metric = ok(&m, "DescribeAlarmsForMetric", json!({"Namespace": "App", "MetricName": "Errors"})).await;
    assert_eq!(for_metric["MetricAlarms"].as_array().unwrap().len(), 1);
    ok(&m, "DeleteAlarms", json!({"AlarmNames": ["a"]})).await;
    assert_eq!(ok(&m, "DescribeAlarms", json!({})).await["MetricAlarms"], json!([]));
}

#[tokio::test]
async fn series_and_alarms_survive_a_restart() {
    let (dir, store, clock) = setup();
    {
        let m = service(dir.path(), store.clone(), clock.clone()).await;
        ok(&m, "PutMetricData", json!({"Namespace": "App", "MetricData": [{"MetricName": "x", "Value": 2.0}]})).await;
        ok(&m, "PutMetricAlarm", alarm("kept", json!({}))).await;
    }
    let m = service(dir.path(), store, clock).await;
    let out = ok(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "x", "StartTime": START,
        "EndTime": START + 60.0, "Period": 60, "Statistics": ["Sum"]}),
    )
    .await;
    assert_eq!(out["Datapoints"][0]["Sum"], json!(2.0));
    assert_eq!(ok(&m, "DescribeAlarms", json!({})).await["MetricAlarms"].as_array().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_controller_evaluates_every_period() {
    let (dir, store, clock) = setup();
    let mut config = MetricsConfig::new(dir.path().to_path_buf(), "us-east-1", "123456789012");
    config.evaluate_every = std::time::Duration::from_secs(60);
    let m = Metrics::open(config, store, clock.clone()).await.unwrap();
    m.spawn_background();
    ok(&m, "PutMetricAlarm", alarm("c", json!({"EvaluationPeriods": 1, "TreatMissingData": "breaching"}))).await;
    for _ in 0..30 {
        clock.advance(10.0);
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let a = ok(&m, "DescribeAlarms", json!({})).await;
    assert_eq!(a["MetricAlarms"][0]["StateValue"], json!("ALARM"), "{a}");
}

#[tokio::test]
async fn deployment_alarms_read_states_and_evaluation_ranges() {
    let (dir, store, clock) = setup();
    let m = service(dir.path(), store, clock).await;
    ok(&m, "PutMetricAlarm", alarm("short", json!({"Period": 60, "EvaluationPeriods": 2}))).await;
    ok(&m, "PutMetricAlarm", alarm("long", json!({"Period": 300, "EvaluationPeriods": 3}))).await;
    ok(&m, "SetAlarmState", json!({"AlarmName": "short", "StateValue": "ALARM", "StateReason": "test"})).await;
    let names: Vec<String> = ["short", "long", "missing"].iter().map(|s| s.to_string()).collect();
    let states = m.alarm_states(&names).await.unwrap();
    assert_eq!(
        states,
        [
            ("short".to_string(), Some(berth_model::cloudwatch::StateValue::Alarm)),
            ("long".to_string(), Some(berth_model::cloudwatch::StateValue::InsufficientData)),
            ("missing".to_string(), None)
        ]
    );
    assert_eq!(m.alarm_evaluation_seconds(&names).await.unwrap(), 900.0, "the longest range");
    assert_eq!(m.alarm_evaluation_seconds(&names[..1]).await.unwrap(), 120.0);
    assert_eq!(m.alarm_evaluation_seconds(&names[2..]).await.unwrap(), 0.0, "no alarm, no range");
    assert_eq!(m.evaluation_interval(), std::time::Duration::from_secs(60));
}
