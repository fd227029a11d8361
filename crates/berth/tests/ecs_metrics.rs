//! The `AWS/ECS` series on a real Docker Engine: a service task that reserves 1,024 CPU units and burns half a
//! core shows CPUUtilization 50 ± 10, read back with the aws CLI's `cloudwatch get-metric-statistics`; the
//! cluster's CPUReservation is what its tasks reserve of what its instance registered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; the burn is paced on the real clock

mod common;

use aws_sdk_ecs::types::{ClusterSetting, ClusterSettingName, ContainerDefinition, PortMapping};
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
    namespace_datapoints(berth, "AWS/ECS", metric, dimensions)
}

/// The datapoints of a metric of `namespace` over the last ten minutes, one a minute.
fn namespace_datapoints(
    berth: &Berth,
    namespace: &str,
    metric: &str,
    dimensions: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    let dims: Vec<String> = dimensions.iter().map(|(k, v)| format!("Name={k},Value={v}")).collect();
    let (start, end) = (((now() - 600.0) as i64).to_string(), ((now() + 60.0) as i64).to_string());
    let mut args = vec![
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        namespace,
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
    let insights = ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value("enabled").build();
    client.update_cluster_settings().cluster("default").settings(insights).send().await.unwrap();
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
    // Container Insights (on for this cluster): the same use in CPU units, per service and per task.
    let insights = namespace_datapoints(&berth, "ECS/ContainerInsights", "CpuUtilized", &dims);
    let point = insights.iter().find(|p| (stamp(p) - minute).abs() < 1.0).unwrap_or_else(|| panic!("{insights:?}"));
    let used = point["Average"].as_f64().unwrap();
    assert!((410.0..=614.0).contains(&used), "CpuUtilized {used} (512 ± 102 units): {point}");
    let task_id = task_arn.rsplit('/').next().unwrap();
    let task_dims = [("ClusterName", "default"), ("TaskDefinitionFamily", "burner"), ("TaskId", task_id)];
    let reserved = namespace_datapoints(&berth, "ECS/ContainerInsights", "CpuReserved", &task_dims);
    assert_eq!(reserved.last().and_then(|p| p["Maximum"].as_f64()), Some(1024.0), "{reserved:?}");
    let running = namespace_datapoints(&berth, "ECS/ContainerInsights", "RunningTaskCount", &dims);
    assert_eq!(running.last().and_then(|p| p["Maximum"].as_f64()), Some(1.0), "{running:?}");
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

/// The running tasks of a service, by their host port (bridge networking, dynamic host ports).
async fn task_ports(client: &aws_sdk_ecs::Client, service: &str) -> Vec<u16> {
    let arns = client.list_tasks().service_name(service).send().await.unwrap().task_arns.unwrap_or_default();
    if arns.is_empty() {
        return Vec::new();
    }
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap_or_default();
    tasks
        .iter()
        .filter(|t| t.last_status() == Some("RUNNING"))
        .filter_map(|t| t.containers().first()?.network_bindings().first()?.host_port())
        .map(|p| p as u16)
        .collect()
}

/// Load shared by a service's tasks, as a load balancer shares it: `cores` of CPU work a second in total, handed
/// out every 200 ms as `/burn?cpu_ms=` requests split evenly over the tasks running at that moment (the list is
/// refreshed every 2 s), so the total stays the same whatever the task count and each task's share shrinks as the
/// service scales out.
struct SharedLoad {
    on: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SharedLoad {
    fn start(ports: std::sync::Arc<std::sync::Mutex<Vec<u16>>>, cores: f64) -> Self {
        let on = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let running = on.clone();
        let thread = std::thread::spawn(move || {
            while running.load(std::sync::atomic::Ordering::SeqCst) {
                let next = now() + 0.2;
                let targets = ports.lock().unwrap().clone();
                if !targets.is_empty() {
                    let share = (200.0 * cores / targets.len() as f64).round() as u64;
                    let calls: Vec<_> = targets
                        .into_iter()
                        .map(|port| {
                            std::thread::spawn(move || {
                                let url = format!("http://127.0.0.1:{port}/burn?cpu_ms={share}");
                                let _ = berth_testkit::http_get_timeout(&url, Duration::from_secs(5));
                            })
                        })
                        .collect();
                    for call in calls {
                        let _ = call.join();
                    }
                }
                std::thread::sleep(Duration::from_secs_f64((next - now()).max(0.0)));
            }
        });
        Self { on, thread: Some(thread) }
    }

    fn stop(&mut self) {
        self.on.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// Service Auto Scaling end to end on real CPU use: a target tracking policy on ECSServiceAverageCPUUtilization
/// (target 50%) over a service whose tasks reserve 256 CPU units share 0.4 of a core of work, so one task runs at
/// about 160% and four at about 40%: the service scales out to a count strictly between its minimum (1) and maximum
/// (8), holds there while the load lasts, and scales back in to 1 after it stops. The alarms need one datapoint
/// each (`--target-tracking-datapoints 1,1`; AWS's 3 and 15 minutes would make this a 20-minute test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_tracking_scales_a_service_out_under_shared_load_and_back_in() {
    let server_args =
        ["--alarm-evaluation-seconds", "5", "--scaling-evaluation-seconds", "5", "--target-tracking-datapoints", "1,1"];
    let (berth, client, _) = common::cluster_of_agents(&server_args, 1, &[], 4096, 4096).await;
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let container = ContainerDefinition::builder()
        .name("app")
        .image(image)
        .cpu(256)
        .memory(64)
        .port_mappings(PortMapping::builder().container_port(8080).host_port(0).build())
        .build();
    client.register_task_definition().family("worker").container_definitions(container).send().await.unwrap();
    client.create_service().service_name("worker").task_definition("worker").desired_count(1).send().await.unwrap();
    wait_stable(&client, "default", "worker", Duration::from_secs(90)).await;
    let aas = |args: &[&str]| common::aws_ok(&berth, "application-autoscaling", args);
    let resource = "service/default/worker";
    let common_args = ["--service-namespace", "ecs", "--scalable-dimension", "ecs:service:DesiredCount"];
    let mut args = common_args.to_vec();
    args.extend(["--resource-id", resource, "--min-capacity", "1", "--max-capacity", "8"]);
    aas(&[&["register-scalable-target"], &args[..]].concat());
    let config = r#"{"TargetValue": 50.0, "PredefinedMetricSpecification":
        {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}, "ScaleOutCooldown": 60, "ScaleInCooldown": 60}"#;
    let mut args = common_args.to_vec();
    args.extend(["--resource-id", resource, "--policy-name", "cpu50", "--policy-type", "TargetTrackingScaling"]);
    args.extend(["--target-tracking-scaling-policy-configuration", config]);
    aas(&[&["put-scaling-policy"], &args[..]].concat());

    let ports = std::sync::Arc::new(std::sync::Mutex::new(task_ports(&client, "worker").await));
    let mut load = SharedLoad::start(ports.clone(), 0.4);
    let desired = || async {
        let out = client.describe_services().services("worker").send().await.unwrap();
        out.services.unwrap_or_default()[0].desired_count
    };
    let started = now();
    let (mut peak, mut scaled_out_after) = (1, None);
    // Scale-out: a full loaded minute, the alarm, then the new tasks start and share the load.
    while now() - started < 300.0 {
        *ports.lock().unwrap() = task_ports(&client, "worker").await;
        peak = peak.max(desired().await);
        if peak > 1 && scaled_out_after.is_none() {
            scaled_out_after = Some(now() - started);
            eprintln!("scale-out decision {:.0} s after the load started", now() - started);
        }
        if peak > 1 && now() - started > 180.0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let under_load = desired().await;
    load.stop();
    let activities =
        aas(&[&["describe-scaling-activities", "--service-namespace", "ecs"], &["--resource-id", resource][..]]
            .concat());
    assert!(
        peak > 1 && peak < 8 && under_load > 1 && under_load < 8,
        "0.4 core over 256-unit tasks at a 50% target settles between min and max (peak {peak}, now {under_load}): \
         {activities}"
    );
    let first = &activities["ScalingActivities"].as_array().unwrap().last().unwrap().clone();
    assert!(
        first["Cause"].as_str().unwrap().contains("AlarmHigh") && first["StatusCode"] == "Successful",
        "the scale-out came from the policy's high alarm: {first}"
    );
    // Scale-in once the load is gone.
    let stopped = now();
    let back_in = wait_for("the service scaled back in to 1", Duration::from_secs(240), || async {
        (desired().await == 1).then_some(())
    })
    .await;
    let activities =
        aas(&[&["describe-scaling-activities", "--service-namespace", "ecs"], &["--resource-id", resource][..]]
            .concat());
    assert!(back_in.is_ok(), "no scale-in after the load stopped: {activities}");
    eprintln!(
        "back to 1 task {:.0} s after the load stopped (scale-out after {scaled_out_after:?} s)",
        now() - stopped
    );
    assert!(
        activities["ScalingActivities"][0]["Cause"].as_str().unwrap().contains("AlarmLow"),
        "the scale-in came from the low alarm: {activities}"
    );
}
