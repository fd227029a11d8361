//! CloudWatch Logs through the official Rust SDK (`aws-sdk-cloudwatchlogs`), unchanged but for the endpoint: typed
//! errors and paginators; and the write path an agent's log shipper takes with its instance token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; event timestamps need the real clock

mod common;

use aws_sdk_cloudwatchlogs::types::{InputLogEvent, OrderBy};

use berth_testkit::{Berth, BerthOptions};

fn server() -> Berth {
    Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "server", extra_args: Vec::new() })
        .expect("berth server starts")
}

fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_writes_reads_and_pages() {
    let berth = server();
    let logs = common::logs_client(&berth);
    logs.create_log_group().log_group_name("sdk").send().await.unwrap();
    let missing = logs.create_log_stream().log_group_name("nope").log_stream_name("s").send().await.unwrap_err();
    assert!(missing.into_service_error().is_resource_not_found_exception());
    for s in ["a", "b"] {
        logs.create_log_stream().log_group_name("sdk").log_stream_name(s).send().await.unwrap();
    }
    let t = now_millis() - 10_000;
    for (i, s) in ["a", "b"].iter().enumerate() {
        let events: Vec<InputLogEvent> = (0..150)
            .map(|n| {
                let ms = if n % 10 == 0 { 500 } else { 5 };
                InputLogEvent::builder()
                    .timestamp(t + n * 2 + i as i64)
                    .message(format!(r#"{{"n": {n}, "stream": "{s}", "ms": {ms}}}"#))
                    .build()
                    .unwrap()
            })
            .collect();
        let put = logs
            .put_log_events()
            .log_group_name("sdk")
            .log_stream_name(*s)
            .set_log_events(Some(events))
            .send()
            .await
            .unwrap();
        assert!(put.rejected_log_events_info().is_none());
    }

    // FilterLogEvents pages of 7 across both streams, through the SDK's paginator, in time order.
    let pages: Vec<_> = logs
        .filter_log_events()
        .log_group_name("sdk")
        .filter_pattern("{ $.ms > 100 }")
        .limit(7)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let events: Vec<_> = pages.into_iter().flat_map(|p| p.unwrap().events.unwrap_or_default()).collect();
    assert_eq!(events.len(), 30);
    assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    assert_eq!(events[0].log_stream_name(), Some("a"));
    assert_eq!(events[1].log_stream_name(), Some("b"));

    // GetLogEvents from the head until the forward token stops moving.
    let mut token = None;
    let mut seen = 0;
    loop {
        let out = logs
            .get_log_events()
            .log_group_name("sdk")
            .log_stream_name("a")
            .start_from_head(true)
            .limit(40)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        seen += out.events().len();
        if out.next_forward_token == token {
            break;
        }
        token = out.next_forward_token;
    }
    assert_eq!(seen, 150);

    let streams = logs
        .describe_log_streams()
        .log_group_name("sdk")
        .order_by(OrderBy::LastEventTime)
        .descending(true)
        .send()
        .await
        .unwrap();
    assert_eq!(streams.log_streams()[0].log_stream_name(), Some("b"));
}

/// A Logs call authenticated by an agent's instance token, as the agent's log shipper makes it.
async fn agent_logs_call(
    berth: &Berth,
    token: &str,
    operation: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let target = format!("Logs_20140328.{operation}");
    let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.1")];
    common::post_bearer(&format!("{}/", berth.url()), token, &headers, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_token_may_create_streams_and_write_but_nothing_else() {
    let berth = server();
    let base = format!("{}/agent/v1/", berth.url());
    let (_, token) =
        common::register_pretend_agent(&base, &berth.join_token().unwrap(), "shipper", "1.0.0", false).await;
    for (op, body) in [
        ("CreateLogGroup", serde_json::json!({"logGroupName": "/ecs/web"})),
        ("CreateLogStream", serde_json::json!({"logGroupName": "/ecs/web", "logStreamName": "web/app/1"})),
        (
            "PutLogEvents",
            serde_json::json!({"logGroupName": "/ecs/web", "logStreamName": "web/app/1", "berthBatchId": "t1-1",
                "logEvents": [{"timestamp": now_millis(), "message": "hello from a container"}]}),
        ),
    ] {
        let (status, answer) = agent_logs_call(&berth, &token, op, body).await;
        assert_eq!(status, 200, "{op}: {answer}");
    }
    let (status, answer) =
        agent_logs_call(&berth, &token, "DeleteLogGroup", serde_json::json!({"logGroupName": "/ecs/web"})).await;
    assert_eq!((status, answer["__type"].as_str()), (403, Some("AccessDeniedException")), "{answer}");
    let read = common::logs_client(&berth)
        .get_log_events()
        .log_group_name("/ecs/web")
        .log_stream_name("web/app/1")
        .send()
        .await
        .unwrap();
    assert_eq!(read.events()[0].message(), Some("hello from a container"));
}
