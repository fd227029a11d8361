//! The `AWS/ECS` series on a real Docker Engine: a service task that reserves 1,024 CPU units and burns half a
//! core shows CPUUtilization 50 ± 10, read back with the aws CLI's `cloudwatch get-metric-statistics`; the
//! cluster's CPUReservation is what its tasks reserve of what its instance registered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; the burn is paced on the real clock

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, PortMapping};
use berth_testkit::{Berth, wait_for};
use common::{aws_cli, host_port, wait_stable};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// `2026-11-29T15:05:00Z` in epoch seconds (the aws CLI prints a datapoint's time so, or as a number, depending on
/// its `cli_timestamp_format`).
fn epoch(text: &str) -> f64 {
    let n = |r: std::ops::Range<usize>| text.get(r).and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
    let days = berth_model::clock::days_from_civil(n(0..4), n(5..7), n(8..10));
    (days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)) as f64
}

/// The datapoints of an `AWS/ECS` metric over the last ten minutes, one a minute.
fn datapoints(berth: &Berth, metric: &str, dimensions: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let dims: Vec<String> = dimensions.iter().map(|(k, v)| format!("Name={k},Value={v}")).collect();
    let (start, end) = (((now() - 600.0) as i64).to_string(), ((now() + 60.0) as i64).to_string());
    let mut args = vec![
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/ECS",
        "--metric-name",
        metric,
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--period",
        "60",
        "--statistics",
        "Average",
        "Minimum",
        "Maximum",
        "SampleCount",
        "--dimensions",
    ];
    args.extend(dims.iter().map(String::as_str));
    let out: serde_json::Value = serde_json::from_str(&aws_cli(berth, &args)).unwrap();
    let mut points = out["Datapoints"].as_array().cloned().unwrap_or_default();
    points.sort_by(|a, b| a["Timestamp"].to_string().cmp(&b["Timestamp"].to_string()));
    points
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_burning_half_its_reserved_core_shows_fifty_percent() {
    let (berth, client, _) = common::cluster_of_agents(&[], 1, &[], 4096, 4096).await;
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let container = ContainerDefinition::builder()
        .name("app")
        .image(image)
        .cpu(1024)
        .memory(256)
        .port_mappings(PortMapping::builder().container_port(8080).host_port(0).build())
        .build();
    client.register_task_definition().family("burner").container_definitions(container).send().await.unwrap();
    client.create_service().service_name("burner").task_definition("burner").desired_count(1).send().await.unwrap();
    wait_stable(&client, "default", "burner", Duration::from_secs(90)).await;
    let task_arn = client.list_tasks().service_name("burner").send().await.unwrap().task_arns.unwrap().remove(0);
    let task = common::describe(&client, &task_arn).await;
    let url = format!("http://127.0.0.1:{}/burn?cpu_ms=500", host_port(&task));
    // Half a core: 500 ms of CPU time at the start of every second (CPU time, so a busy host does not shrink it).
    let burning = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let burner = {
        let burning = burning.clone();
        std::thread::spawn(move || {
            while burning.load(std::sync::atomic::Ordering::SeqCst) {
                let next = now().floor() + 1.0;
                let _ = berth_testkit::http_get_timeout(&url, Duration::from_secs(5));
                std::thread::sleep(Duration::from_secs_f64((next - now()).max(0.0)));
            }
        })
    };
    // A minute wholly inside the burn: the first one that starts at least 12 s (a sample) after it began.
    let minute = ((now() + 12.0) / 60.0).ceil() * 60.0;
    tokio::time::sleep(Duration::from_secs_f64(minute + 60.0 + 12.0 - now())).await;
    let dims = [("ClusterName", "default"), ("ServiceName", "burner")];
    let points = datapoints(&berth, "CPUUtilization", &dims);
    burning.store(false, std::sync::atomic::Ordering::SeqCst);
    burner.join().unwrap();
    let stamp =
        |p: &serde_json::Value| p["Timestamp"].as_f64().unwrap_or_else(|| epoch(p["Timestamp"].as_str().unwrap_or("")));
    let point = points.iter().find(|p| (stamp(p) - minute).abs() < 1.0).unwrap_or_else(|| panic!("{points:?}"));
    let average = point["Average"].as_f64().unwrap();
    assert!((40.0..=60.0).contains(&average), "CPUUtilization {average} (50 ± 10): {point}");
    assert!(point["SampleCount"].as_f64().unwrap() >= 5.0, "a datapoint every 10 s: {point}");
    let memory = datapoints(&berth, "MemoryUtilization", &dims);
    let used = memory.last().and_then(|p| p["Average"].as_f64()).unwrap();
    assert!(used > 0.0 && used < 50.0, "the workload uses a little of its 256 MiB: {used}");
    let reservation = wait_for("the cluster's CPUReservation", Duration::from_secs(30), || async {
        datapoints(&berth, "CPUReservation", &[("ClusterName", "default")]).last().and_then(|p| p["Maximum"].as_f64())
    })
    .await
    .unwrap();
    assert!((reservation - 25.0).abs() < 0.01, "1,024 of 4,096 CPU units reserved: {reservation}");
}
