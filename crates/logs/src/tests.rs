//! The service through [`Logs::call`] on a memory store and a manual clock.

use crate::events::EventStoreConfig;
use crate::{Logs, LogsConfig, LogsError};
use berth_model::clock::ManualClock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const START: f64 = 1_800_000_000.0;

async fn service(dir: &std::path::Path, store: berth_store::SharedStore, clock: Arc<ManualClock>) -> Arc<Logs> {
    let mut config = LogsConfig::new(dir.to_path_buf(), "us-east-1", "123456789012");
    config.events = EventStoreConfig { segment_bytes: 200, seal_idle_millis: 1000 };
    config.maintain_every = Duration::from_secs(60);
    Logs::open(config, store, clock).await.unwrap()
}

async fn call(logs: &Logs, op: &str, body: Value) -> Result<Value, LogsError> {
    let out = logs.call(op, body.to_string().as_bytes()).await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

async fn ok(logs: &Logs, op: &str, body: Value) -> Value {
    call(logs, op, body.clone()).await.unwrap_or_else(|e| panic!("{op} {body}: {e}"))
}

fn millis(clock: &ManualClock) -> i64 {
    use berth_model::clock::Clock;
    (clock.now() * 1000.0) as i64
}

async fn setup(logs: &Logs) {
    ok(logs, "CreateLogGroup", json!({"logGroupName": "g"})).await;
    ok(logs, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": "s"})).await;
}

fn messages(out: &Value) -> Vec<&str> {
    out["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect()
}

/// Lets the maintenance controller run after the manual clock moved.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn retention_hides_expired_events_at_once_and_the_background_job_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let logs = service(dir.path(), Arc::new(berth_store::MemoryStore::new()), clock.clone()).await;
    setup(&logs).await;
    let t = millis(&clock);
    let events: Vec<Value> =
        (0..5).map(|i| json!({"timestamp": t - 3 * 86_400_000 + i, "message": format!("old {i}")})).collect();
    ok(&logs, "PutLogEvents", json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events})).await;
    ok(
        &logs,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": t, "message": "new"}]}),
    )
    .await;
    let read = json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true});
    assert_eq!(messages(&ok(&logs, "GetLogEvents", read.clone()).await).len(), 6);

    ok(&logs, "PutRetentionPolicy", json!({"logGroupName": "g", "retentionInDays": 1})).await;
    assert_eq!(messages(&ok(&logs, "GetLogEvents", read.clone()).await), ["new"], "expired events are not served");
    let put = ok(&logs, "PutLogEvents", json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": t - 2 * 86_400_000, "message": "late"}]})).await;
    assert_eq!(put["rejectedLogEventsInfo"]["expiredLogEventEndIndex"], 1);

    logs.spawn_background();
    settle().await;
    clock.advance(60.0);
    settle().await;
    // The job seals, then compacts in a second step: wait (bounded) for both to show on disk.
    let sealed_text = || -> Option<String> {
        let paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
            .ok()?
            .flat_map(|d| std::fs::read_dir(d.ok()?.path()).ok())
            .flatten()
            .filter_map(|f| Some(f.ok()?.path()))
            .filter(|p| p.to_string_lossy().ends_with(".log.lz4"))
            .collect();
        let mut text = Vec::new();
        for p in &paths {
            // A file compaction removed between the listing and the read: look again.
            let file = std::fs::File::open(p).ok()?;
            std::io::Read::read_to_end(&mut lz4_flex::frame::FrameDecoder::new(file), &mut text).ok()?;
        }
        (!paths.is_empty()).then(|| String::from_utf8_lossy(&text).to_string())
    };
    let mut text = sealed_text();
    for _ in 0..100 {
        if text.as_deref().is_some_and(|t| !t.contains("old 0")) {
            break;
        }
        settle().await;
        text = sealed_text();
    }
    let text = text.expect("segments were sealed");
    assert!(!text.contains("old 0"), "compaction removed the expired events");
    assert_eq!(messages(&ok(&logs, "GetLogEvents", read).await), ["new"]);
}

#[tokio::test]
async fn groups_streams_and_events_survive_reopening_and_orphans_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
    let logs = service(dir.path(), store.clone(), clock.clone()).await;
    setup(&logs).await;
    let t = millis(&clock);
    ok(
        &logs,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": t, "message": "kept"}]}),
    )
    .await;
    std::fs::create_dir(dir.path().join("orphan")).unwrap();
    drop(logs);
    let logs = service(dir.path(), store, clock).await;
    assert!(!dir.path().join("orphan").exists());
    let read = ok(&logs, "GetLogEvents", json!({"logGroupName": "g", "logStreamName": "s"})).await;
    assert_eq!(messages(&read), ["kept"]);
}

#[tokio::test]
async fn a_batch_id_makes_a_retried_put_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let logs = service(dir.path(), Arc::new(berth_store::MemoryStore::new()), clock.clone()).await;
    setup(&logs).await;
    let t = millis(&clock);
    let body = json!({"logGroupName": "g", "logStreamName": "s", "berthBatchId": "b1", "logEvents": [{"timestamp": t, "message": "once"}]});
    ok(&logs, "PutLogEvents", body.clone()).await;
    ok(&logs, "PutLogEvents", body).await;
    let input = vec![berth_model::logs::InputLogEvent { timestamp: t, message: "once".into() }];
    let outcome = logs.append("g", "s", input, Some("b1".into())).await.unwrap();
    assert!(outcome.duplicate);
    let read = ok(&logs, "GetLogEvents", json!({"logGroupName": "g", "logStreamName": "s"})).await;
    assert_eq!(messages(&read), ["once"]);
}

#[tokio::test]
async fn describe_log_streams_pages_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let logs = service(dir.path(), Arc::new(berth_store::MemoryStore::new()), clock.clone()).await;
    ok(&logs, "CreateLogGroup", json!({"logGroupName": "g"})).await;
    for name in ["c", "a", "b"] {
        ok(&logs, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": name})).await;
    }
    let t = millis(&clock);
    for (i, name) in ["b", "c", "a"].iter().enumerate() {
        let events = json!([{"timestamp": t + i as i64, "message": "m"}]);
        ok(&logs, "PutLogEvents", json!({"logGroupName": "g", "logStreamName": name, "logEvents": events})).await;
    }
    let names = |out: &Value| -> Vec<String> {
        out["logStreams"].as_array().unwrap().iter().map(|s| s["logStreamName"].as_str().unwrap().to_string()).collect()
    };
    let page = ok(&logs, "DescribeLogStreams", json!({"logGroupName": "g", "limit": 2})).await;
    assert_eq!(names(&page), ["a", "b"]);
    let token = page["nextToken"].as_str().unwrap();
    let rest = ok(&logs, "DescribeLogStreams", json!({"logGroupName": "g", "limit": 2, "nextToken": token})).await;
    assert_eq!(names(&rest), ["c"]);
    assert!(rest.get("nextToken").is_none());
    let by_time = ok(&logs, "DescribeLogStreams", json!({"logGroupName": "g", "orderBy": "LastEventTime"})).await;
    assert_eq!(names(&by_time), ["b", "c", "a"]);
    let err = call(&logs, "DescribeLogStreams", json!({"logGroupName": "g", "limit": 51})).await.unwrap_err();
    assert_eq!(err.exception, "InvalidParameterException");
}

#[tokio::test]
async fn errors_name_the_aws_exceptions_and_unserved_operations() {
    let dir = tempfile::tempdir().unwrap();
    let logs = service(dir.path(), Arc::new(berth_store::MemoryStore::new()), Arc::new(ManualClock::new(START))).await;
    let e = call(&logs, "CreateLogStream", json!({"logGroupName": "none", "logStreamName": "s"})).await.unwrap_err();
    assert_eq!(e.exception, "ResourceNotFoundException");
    let e = call(&logs, "CreateLogGroup", json!({})).await.unwrap_err();
    assert_eq!(e.exception, "InvalidParameterException");
    let e = call(&logs, "CreateLogGroup", json!({"logGroupName": 5})).await.unwrap_err();
    assert_eq!(e.exception, "SerializationException");
    let e = call(&logs, "StartQuery", json!({})).await.unwrap_err();
    assert_eq!(e.exception, "InvalidOperationException");
    assert!(e.message.contains("Logs Insights is not supported by Berth"), "{}", e.message);
    let e = call(&logs, "StartLiveTail", json!({})).await.unwrap_err();
    assert!(e.message.contains("FilterLogEvents"), "{}", e.message);
    let e = call(&logs, "CreateExportTask", json!({})).await.unwrap_err();
    assert!(e.message.starts_with("CreateExportTask"), "{}", e.message);
    let e = call(&logs, "Nonsense", json!({})).await.unwrap_err();
    assert_eq!(e.exception, "UnknownOperationException");
}

#[tokio::test]
async fn deletion_protection_refuses_delete_log_group_until_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let logs = service(dir.path(), Arc::new(berth_store::MemoryStore::new()), Arc::new(ManualClock::new(START))).await;
    ok(&logs, "CreateLogGroup", json!({"logGroupName": "g", "deletionProtectionEnabled": true})).await;
    let e = call(&logs, "DeleteLogGroup", json!({"logGroupName": "g"})).await.unwrap_err();
    assert_eq!(e.exception, "OperationAbortedException");
    let arn = "arn:aws:logs:us-east-1:123456789012:log-group:g";
    ok(&logs, "PutLogGroupDeletionProtection", json!({"logGroupIdentifier": arn, "deletionProtectionEnabled": false}))
        .await;
    ok(&logs, "DeleteLogGroup", json!({"logGroupName": "g"})).await;
}
