//! CloudWatch Logs end to end: the unchanged aws CLI against `berth server`: groups, streams, writing, reading
//! (forward and backward tokens), filter patterns, retention, tags, metric filters, refusals, a restart, deletes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; event timestamps need the real clock

mod common;

use berth_testkit::{Berth, BerthOptions};
use serde_json::{Value, json};

/// `berth server` (no Docker needed).
fn server() -> Berth {
    Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "server", extra_args: Vec::new() })
        .expect("berth server starts")
}

/// Runs `aws logs <args>` as a user would, with extra environment variables; `Ok(stdout as JSON)` or `Err(stderr)`.
fn logs_with(berth: &Berth, env: &[(&str, &str)], args: &[&str]) -> Result<Value, String> {
    common::aws_json(berth, "logs", args, env)
}

fn ok(berth: &Berth, args: &[&str]) -> Value {
    common::aws_ok(berth, "logs", args)
}

fn err(berth: &Berth, args: &[&str]) -> String {
    common::aws_err(berth, "logs", args)
}

fn messages(out: &Value) -> Vec<String> {
    out["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_string()).collect()
}

/// FilterLogEvents over the whole group with a pattern; the messages (the CLI follows nextToken).
fn filter(berth: &Berth, group: &str, pattern: &str) -> Vec<String> {
    messages(&ok(berth, &["filter-log-events", "--log-group-name", group, "--filter-pattern", pattern]))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn the_aws_cli_drives_cloudwatch_logs() {
    let mut berth = server();
    let group = "/berth/app";
    ok(&berth, &["create-log-group", "--log-group-name", group, "--tags", "team=core"]);
    assert!(err(&berth, &["create-log-group", "--log-group-name", group]).contains("ResourceAlreadyExistsException"));
    assert!(err(&berth, &["create-log-group", "--log-group-name", "bad name"]).contains("InvalidParameterException"));
    for stream in ["web/1", "web/2"] {
        ok(&berth, &["create-log-stream", "--log-group-name", group, "--log-stream-name", stream]);
    }

    // Write: web/1 gets five events, web/2 two later ones.
    let t = now_millis() - 60_000;
    let lines = [
        r#"{"level": "error", "ms": 250}"#,
        r#"{"level": "error", "ms": 50}"#,
        "WARN disk almost full",
        "INFO request served",
        "127.0.0.1 GET /index.html 404 512",
    ];
    let events: Vec<Value> =
        lines.iter().enumerate().map(|(i, m)| json!({"timestamp": t + i as i64, "message": m})).collect();
    let file = berth.data_dir.path().join("events.json");
    std::fs::write(&file, serde_json::to_string(&events).unwrap()).unwrap();
    let input = format!("file://{}", file.display());
    let put = ok(
        &berth,
        &["put-log-events", "--log-group-name", group, "--log-stream-name", "web/1", "--log-events", &input],
    );
    assert!(put.get("rejectedLogEventsInfo").is_none(), "{put}");
    let later =
        json!([{"timestamp": t + 100, "message": "ERROR from web/2"}, {"timestamp": t + 101, "message": "bye"}]);
    std::fs::write(&file, later.to_string()).unwrap();
    ok(&berth, &["put-log-events", "--log-group-name", group, "--log-stream-name", "web/2", "--log-events", &input]);
    // Too old and too new events are reported, the rest stored.
    let mixed = json!([
        {"timestamp": t - 20 * 86_400_000, "message": "ancient"},
        {"timestamp": t + 200, "message": "fine"},
        {"timestamp": t + 5 * 3_600_000, "message": "future"}
    ]);
    std::fs::write(&file, mixed.to_string()).unwrap();
    let put = ok(
        &berth,
        &["put-log-events", "--log-group-name", group, "--log-stream-name", "web/2", "--log-events", &input],
    );
    assert_eq!(put["rejectedLogEventsInfo"], json!({"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 2}));
    assert!(
        err(
            &berth,
            &["put-log-events", "--log-group-name", group, "--log-stream-name", "nope", "--log-events", &input]
        )
        .contains("ResourceNotFoundException")
    );

    // Read one stream forward in pages, then backward.
    let first = ok(
        &berth,
        &[
            "get-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            "web/1",
            "--start-from-head",
            "--limit",
            "2",
        ],
    );
    assert_eq!(messages(&first), &lines[..2]);
    let forward = first["nextForwardToken"].as_str().unwrap();
    assert!(forward.starts_with("f/"));
    let second = ok(
        &berth,
        &[
            "get-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            "web/1",
            "--limit",
            "2",
            "--next-token",
            forward,
        ],
    );
    assert_eq!(messages(&second), &lines[2..4]);
    let backward = second["nextBackwardToken"].as_str().unwrap();
    assert!(backward.starts_with("b/"));
    let back = ok(
        &berth,
        &[
            "get-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            "web/1",
            "--limit",
            "1",
            "--next-token",
            backward,
        ],
    );
    assert_eq!(messages(&back), &lines[1..2]);
    let tail = ok(&berth, &["get-log-events", "--log-group-name", group, "--log-stream-name", "web/1", "--limit", "1"]);
    assert_eq!(messages(&tail), &lines[4..5], "without startFromHead the newest events come back");

    // Filter across streams with each pattern form.
    assert_eq!(filter(&berth, group, r#"{ $.level = "error" && $.ms > 100 }"#), [lines[0]]);
    assert_eq!(filter(&berth, group, "?WARN ?ERROR"), ["WARN disk almost full", "ERROR from web/2"]);
    assert_eq!(filter(&berth, group, "\"request served\""), ["INFO request served"]);
    assert_eq!(filter(&berth, group, "[ip, method, path, status = 4*, bytes > 100]"), [lines[4]]);
    assert_eq!(filter(&berth, group, "ERROR -web").len(), 0);
    assert_eq!(filter(&berth, group, "").len(), 8);
    let paged = ok(
        &berth,
        &["filter-log-events", "--log-group-name", group, "--log-stream-names", "web/2", "--max-items", "1"],
    );
    assert_eq!(messages(&paged), ["ERROR from web/2"]);
    assert!(
        err(&berth, &["filter-log-events", "--log-group-name", group, "--filter-pattern", "{ $.ms > }"])
            .contains("InvalidParameterException")
    );

    // Describe streams by last event time, newest first; groups with their figures.
    let streams =
        ok(&berth, &["describe-log-streams", "--log-group-name", group, "--order-by", "LastEventTime", "--descending"]);
    let names: Vec<&str> =
        streams["logStreams"].as_array().unwrap().iter().map(|s| s["logStreamName"].as_str().unwrap()).collect();
    assert_eq!(names, ["web/2", "web/1"]);
    assert_eq!(streams["logStreams"][1]["firstEventTimestamp"], t);
    assert!(
        err(
            &berth,
            &[
                "describe-log-streams",
                "--log-group-name",
                group,
                "--order-by",
                "LastEventTime",
                "--log-stream-name-prefix",
                "web"
            ]
        )
        .contains("InvalidParameterException")
    );

    // Retention, tags, metric filters.
    ok(&berth, &["put-retention-policy", "--log-group-name", group, "--retention-in-days", "7"]);
    assert!(
        err(&berth, &["put-retention-policy", "--log-group-name", group, "--retention-in-days", "8"])
            .contains("InvalidParameterException")
    );
    let arn = format!("arn:aws:logs:us-east-1:{}:log-group:{group}", berth.account_id);
    ok(&berth, &["tag-resource", "--resource-arn", &arn, "--tags", "env=test"]);
    ok(&berth, &["untag-resource", "--resource-arn", &arn, "--tag-keys", "team"]);
    assert_eq!(ok(&berth, &["list-tags-for-resource", "--resource-arn", &arn])["tags"], json!({"env": "test"}));
    ok(
        &berth,
        &[
            "put-metric-filter",
            "--log-group-name",
            group,
            "--filter-name",
            "slow",
            "--filter-pattern",
            "{ $.ms > 100 }",
            "--metric-transformations",
            "metricName=Slow,metricNamespace=App,metricValue=$.ms",
        ],
    );
    let filters = ok(&berth, &["describe-metric-filters", "--log-group-name", group]);
    assert_eq!(filters["metricFilters"][0]["filterName"], "slow");
    // The filter feeds a CloudWatch series from the events written after it: 250 and 150 match, 50 does not.
    let slow = now_millis();
    let timed = json!([
        {"timestamp": slow, "message": "{\"ms\": 250}"},
        {"timestamp": slow + 1, "message": "{\"ms\": 50}"},
        {"timestamp": slow + 2, "message": "{\"ms\": 150}"}
    ]);
    std::fs::write(&file, timed.to_string()).unwrap();
    ok(&berth, &["put-log-events", "--log-group-name", group, "--log-stream-name", "web/2", "--log-events", &input]);
    let (from, to) = ((slow / 1000 - 600).to_string(), (slow / 1000 + 120).to_string());
    let stats = common::aws_ok(
        &berth,
        "cloudwatch",
        &[
            "get-metric-statistics",
            "--namespace",
            "App",
            "--metric-name",
            "Slow",
            "--start-time",
            &from,
            "--end-time",
            &to,
            "--period",
            "3600",
            "--statistics",
            "Sum",
            "SampleCount",
        ],
    );
    let point = &stats["Datapoints"][0];
    assert_eq!((point["Sum"].as_f64(), point["SampleCount"].as_f64()), (Some(400.0), Some(2.0)), "{stats}");
    let tested =
        ok(&berth, &["test-metric-filter", "--filter-pattern", "[a, b = 2]", "--log-event-messages", "1 2", "1 3"]);
    assert_eq!(tested["matches"].as_array().unwrap().len(), 1);
    let groups = ok(&berth, &["describe-log-groups", "--log-group-name-prefix", "/berth"]);
    let described = &groups["logGroups"][0];
    assert_eq!((described["logGroupName"].as_str(), described["retentionInDays"].as_i64()), (Some(group), Some(7)));
    assert_eq!(described["metricFilterCount"], 1);
    assert!(described["storedBytes"].as_i64().unwrap() > 0);
    assert_eq!(described["arn"], format!("{arn}:*"));

    // Operations Berth does not serve say so.
    let refused = err(
        &berth,
        &[
            "start-query",
            "--log-group-name",
            group,
            "--start-time",
            "0",
            "--end-time",
            "1",
            "--query-string",
            "fields @message",
        ],
    );
    assert!(refused.contains("Logs Insights is not supported by Berth"), "{refused}");
    // StartLiveTail goes to `stream-<host>` unless host prefix injection is off (docs/COMPATIBILITY.md §16).
    let tail = logs_with(
        &berth,
        &[("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")],
        &["start-live-tail", "--log-group-identifiers", &arn],
    )
    .expect_err("StartLiveTail is refused");
    assert!(tail.contains("InvalidOperationException") && tail.contains("FilterLogEvents"), "{tail}");

    // Everything survives a restart.
    berth.restart().expect("berth restarts");
    let again =
        ok(&berth, &["get-log-events", "--log-group-name", group, "--log-stream-name", "web/1", "--start-from-head"]);
    assert_eq!(messages(&again), lines);
    assert_eq!(ok(&berth, &["list-tags-log-group", "--log-group-name", group])["tags"], json!({"env": "test"}));

    // Deletes.
    ok(&berth, &["delete-log-stream", "--log-group-name", group, "--log-stream-name", "web/1"]);
    assert!(
        err(&berth, &["get-log-events", "--log-group-name", group, "--log-stream-name", "web/1"])
            .contains("ResourceNotFoundException")
    );
    assert_eq!(filter(&berth, group, "").len(), 6, "the deleted stream's events are gone (web/2 keeps its 6)");
    ok(&berth, &["delete-log-group", "--log-group-name", group]);
    assert_eq!(ok(&berth, &["describe-log-groups"])["logGroups"], json!([]));
    assert!(err(&berth, &["delete-log-group", "--log-group-name", group]).contains("ResourceNotFoundException"));
}
