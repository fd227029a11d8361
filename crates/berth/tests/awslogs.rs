//! The `awslogs` log driver end to end: tasks on a real Docker Engine whose output the agent ships into Berth's
//! CloudWatch Logs store, read back with the official SDK. Every line counted across server and agent restarts;
//! a missing group stops the task with ECS's reason; blocking mode holds a container back while the store is
//! down and non-blocking mode drops instead.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
use berth_model::clock::Clock;
use berth_testkit::{Berth, wait_for};
use common::{describe, ecs_client, logs_client, wait_status};
use std::time::Duration;

const AGENT_ARGS: [&str; 4] = ["--cpu-units", "4096", "--memory-mib", "4096"];

/// A server and one agent (a separate process, so each can be restarted alone); the agent's data dir.
async fn server_and_agent() -> (Berth, aws_sdk_ecs::Client, std::path::PathBuf) {
    berth_testkit::require_docker();
    let mut berth = Berth::start(berth_testkit::BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let dir = berth.data_dir.path().join("agent-0");
    berth.start_agent(&dir, &AGENT_ARGS).expect("the agent starts");
    let client = ecs_client(&berth);
    common::wait_for_instances(&client, "default", 1).await;
    (berth, client, dir)
}

/// Registers a workload task definition that runs `command` with these awslogs options; runs one task of it.
async fn run_lines(client: &aws_sdk_ecs::Client, family: &str, command: &[&str], options: &[(&str, &str)]) -> String {
    let mut log = LogConfiguration::builder().log_driver(LogDriver::Awslogs);
    for (k, v) in options {
        log = log.options(*k, *v);
    }
    // This build's workload (with its `lines` mode), by its content tag rather than `latest`.
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let container = ContainerDefinition::builder()
        .name("app")
        .image(image)
        .memory(64)
        .set_command(Some(command.iter().map(|s| s.to_string()).collect()))
        .log_configuration(log.build().unwrap())
        .build();
    client.register_task_definition().family(family).container_definitions(container).send().await.unwrap();
    let run = client.run_task().task_definition(family).send().await.unwrap();
    run.tasks.unwrap_or_default().remove(0).task_arn.unwrap()
}

/// Every message of a stream, oldest first, paging with the forward token until it stops moving.
async fn messages(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, stream: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let Ok(page) = logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
        else {
            return out;
        };
        out.extend(page.events.unwrap_or_default().into_iter().filter_map(|e| e.message));
        if page.next_forward_token == token || page.next_forward_token.is_none() {
            return out;
        }
        token = page.next_forward_token;
    }
}

/// Checks that `got` holds `line 1` to `line <count>` and `done` once each, and each of stdout's lines (the
/// workload writes every tenth line to stderr) and stderr's in the order written. (Docker stamps stdout and
/// stderr separately, so CloudWatch Logs' time order may interleave the two streams a little differently.)
fn assert_every_line_once(got: &[String], count: usize, what: &str) {
    let numbers: Vec<usize> = got.iter().filter_map(|l| l.strip_prefix("line ").and_then(|n| n.parse().ok())).collect();
    let unique: std::collections::BTreeSet<usize> = numbers.iter().copied().collect();
    let missing = (1..=count).filter(|n| !unique.contains(n)).count();
    if missing > 0 {
        let gaps: Vec<usize> = (1..=count).filter(|n| !unique.contains(n)).take(20).collect();
        eprintln!("{what}: {missing} lines missing, the first: {gaps:?}");
    }
    assert_eq!(
        (got.len(), unique.len(), missing, got.iter().filter(|l| *l == "done").count()),
        (count + 1, count, 0, 1),
        "{what}: every line exactly once (lines, distinct, missing, done)"
    );
    for stderr in [false, true] {
        let stream: Vec<usize> = numbers.iter().copied().filter(|n| (n % 10 == 0) == stderr).collect();
        assert!(stream.windows(2).all(|w| w[0] < w[1]), "{what}: lines in order within a stream");
    }
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

/// Whether the container runs, by `docker inspect` bounded in time: Docker 20.10 holds every inspect of a
/// container whose process exited while an attached reader (blocking mode's pace) is not reading, until it reads,
/// so a hung inspect means the container was not held back and exited.
fn running(container: &str) -> String {
    let out = std::process::Command::new("timeout")
        .args(["20", "docker", "inspect", "-f", "{{.State.Running}}", container])
        .output()
        .expect("docker inspect runs");
    assert!(out.status.success(), "docker inspect {container} failed or hung (the container exited unread?): {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker_log_lines(container: &str) -> usize {
    let out = std::process::Command::new("docker").args(["logs", container]).output().expect("docker logs runs");
    String::from_utf8_lossy(&out.stdout).lines().count() + String::from_utf8_lossy(&out.stderr).lines().count()
}

async fn runtime_id(client: &aws_sdk_ecs::Client, task_arn: &str) -> String {
    let task = describe(client, task_arn).await;
    task.containers.unwrap_or_default().remove(0).runtime_id.expect("the container's id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_once_across_two_server_restarts_and_an_agent_restart() {
    let (mut berth, client, agent_dir) = server_and_agent().await;
    let logs = logs_client(&berth);
    let count = 100_000;
    let options = [
        ("awslogs-group", "/ecs/lines"),
        ("awslogs-create-group", "true"),
        ("awslogs-region", "us-east-1"),
        ("awslogs-stream-prefix", "ecs"),
        ("mode", "blocking"),
        ("awslogs-force-flush-interval-seconds", "1"),
    ];
    let count_text = count.to_string();
    let task = run_lines(&client, "lines", &["lines", count_text.as_str(), "12500"], &options).await;
    wait_status(&client, &task, "RUNNING", Duration::from_secs(60)).await;
    let stream = format!("ecs/app/{}", task_id(&task));
    // The lines take 8 s to write; the server goes down twice and the agent once while they do.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    berth.restart().expect("the server restarts");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    berth.kill_agent(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    berth.start_agent(&agent_dir, &AGENT_ARGS).expect("the agent starts again");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    berth.restart().expect("the server restarts again");
    let stopped = wait_status(&client, &task, "STOPPED", Duration::from_secs(90)).await;
    assert_eq!(stopped.containers.unwrap()[0].exit_code, Some(0));
    let got = wait_for("every line in the store", Duration::from_secs(60), || async {
        let got = messages(&logs, "/ecs/lines", &stream).await;
        (got.len() > count).then_some(got)
    })
    .await
    .unwrap();
    assert_every_line_once(&got, count, "across the restarts");
    let container = runtime_id(&client, &task).await;
    assert_eq!(docker_log_lines(&container), count + 1, "docker logs keeps working");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_log_group_stops_the_task_with_ecs_reason() {
    let (_berth, client, _) = server_and_agent().await;
    let options = [("awslogs-group", "/ecs/missing"), ("awslogs-stream-prefix", "ecs")];
    let task = run_lines(&client, "nogroup", &["lines", "1"], &options).await;
    let stopped = wait_status(&client, &task, "STOPPED", Duration::from_secs(60)).await;
    let reason = stopped.containers.unwrap()[0].reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with(
            "CannotStartContainerError: failed to initialize logging driver: failed to create Cloudwatch log \
             stream: ResourceNotFoundException: The specified log group does not exist."
        ),
        "{reason}"
    );
    assert_eq!(stopped.stop_code.map(|c| c.as_str().to_string()).as_deref(), Some("TaskFailedToStart"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_mode_holds_the_container_and_non_blocking_mode_drops_while_the_store_is_down() {
    let (mut berth, client, _) = server_and_agent().await;
    let logs = logs_client(&berth);
    // About 10 MB: several times what blocking mode lets through undelivered (256 KiB, and the engine's and the
    // shim's buffers), far more than non-blocking mode's buffer, yet shipped within a minute or two by a debug
    // build on a loaded 2-core machine.
    let count = 800_000;
    let common = [("awslogs-group", "/ecs/modes"), ("awslogs-create-group", "true"), ("awslogs-stream-prefix", "ecs")];
    let with = |mode: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        common.iter().chain(mode).copied().collect()
    };
    // Both start writing 10 s after they start, when the server is down (checked below).
    let count_text = count.to_string();
    let command = ["lines", count_text.as_str(), "0", "10000"];
    let blocking = run_lines(&client, "blocking", &command, &with(&[("mode", "blocking")])).await;
    let dropping =
        run_lines(&client, "dropping", &command, &with(&[("mode", "non-blocking"), ("max-buffer-size", "64k")])).await;
    wait_status(&client, &blocking, "RUNNING", Duration::from_secs(60)).await;
    wait_status(&client, &dropping, "RUNNING", Duration::from_secs(60)).await;
    let (blocking_id, dropping_id) = (runtime_id(&client, &blocking).await, runtime_id(&client, &dropping).await);
    berth.kill();
    let before = (docker_log_lines(&blocking_id), docker_log_lines(&dropping_id));
    assert_eq!(before, (0, 0), "the test's premise: neither container wrote a line before the server went down");
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert_eq!(running(&dropping_id), "false", "non-blocking: the container wrote everything and exited");
    assert_eq!(running(&blocking_id), "true", "blocking: the container waits for the store");
    let written = docker_log_lines(&blocking_id);
    eprintln!("blocking mode held the container after {written} of {count} lines");
    assert!(written < count / 2, "blocking: the container was held back after {written} lines");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(docker_log_lines(&blocking_id), written, "and it stays held while the store is down");
    berth.restart().expect("the server comes back");
    let client = ecs_client(&berth);
    let clock = berth_model::clock::SystemClock;
    let restarted = clock.monotonic();
    wait_status(&client, &blocking, "STOPPED", Duration::from_secs(240)).await;
    eprintln!(
        "the blocking task wrote and shipped the rest in {:?} after the restart",
        clock.monotonic().saturating_duration_since(restarted)
    );
    let stream = format!("ecs/app/{}", task_id(&blocking));
    let reading = clock.monotonic();
    let got = wait_for("the blocking task's lines", Duration::from_secs(120), || async {
        let got = messages(&logs, "/ecs/modes", &stream).await;
        (got.len() > count).then_some(got)
    })
    .await;
    let got = match got {
        Ok(got) => got,
        Err(_) => messages(&logs, "/ecs/modes", &stream).await,
    };
    eprintln!(
        "read the blocking task's {} events back in {:?}",
        got.len(),
        clock.monotonic().saturating_duration_since(reading)
    );
    if got.len() <= count {
        eprintln!("the engine kept {} lines of the blocking task", docker_log_lines(&blocking_id));
    }
    assert_every_line_once(&got, count, "blocking mode");
    let stream = format!("ecs/app/{}", task_id(&dropping));
    let got = wait_for("the non-blocking task's last line", Duration::from_secs(60), || async {
        let got = messages(&logs, "/ecs/modes", &stream).await;
        (got.last().map(String::as_str) == Some("done")).then_some(got)
    })
    .await
    .unwrap();
    eprintln!("non-blocking mode kept {} of {count} lines", got.len());
    assert!(got.len() < count / 10, "non-blocking mode dropped lines while the store was down: kept {}", got.len());
}

/// `/metrics` on both roles after a task shipped its lines: the agent counts the events it shipped and its reports,
/// the server counts the PutLogEvents calls it served and shows the task, the connected agent and the store's size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_roles_count_the_shipping_on_their_metrics_endpoints() {
    berth_testkit::require_docker();
    let mut berth = Berth::start(berth_testkit::BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = AGENT_ARGS.to_vec();
    args.extend(["--metrics-listen", listen.as_str()]);
    berth.start_agent(&berth.data_dir.path().join("agent-0"), &args).expect("the agent starts");
    let client = ecs_client(&berth);
    common::wait_for_instances(&client, "default", 1).await;
    let options =
        [("awslogs-group", "/ecs/counted"), ("awslogs-create-group", "true"), ("awslogs-region", "us-east-1")];
    let task = run_lines(&client, "counted", &["lines", "1000"], &options).await;
    wait_status(&client, &task, "STOPPED", Duration::from_secs(60)).await;
    let agent_url = format!("http://{listen}/metrics");
    let shipped = wait_for("the agent counted every line shipped", Duration::from_secs(30), || async {
        let (_, text) = berth_testkit::http_get(&agent_url).ok()?;
        let shipped = common::prometheus_value(&text, "berth_agent_log_events_shipped_total", &[])?;
        (shipped >= 1000.0).then_some((shipped, text))
    })
    .await;
    let (shipped, _) = shipped.unwrap();
    // A scrape counts its own request after answering: the next one shows it.
    let (_, agent) = berth_testkit::http_get(&agent_url).unwrap();
    assert!(shipped <= 1001.0, "each line once (and the workload's last line): {shipped}");
    assert!(common::prometheus_value(&agent, "berth_agent_reports_total", &[("outcome", "ok")]).unwrap() >= 1.0);
    assert!(common::prometheus_value(&agent, "berth_http_requests_total", &[("listener", "agent")]).is_some());

    let (status, server) = berth_testkit::http_get(&format!("{}/metrics", berth.url())).unwrap();
    assert_eq!(status, 200, "{server}");
    let puts = [("api", "logs"), ("operation", "PutLogEvents"), ("outcome", "ok")];
    assert!(common::prometheus_value(&server, "berth_api_requests_total", &puts).unwrap() >= 1.0, "{server}");
    let runs = [("api", "ecs"), ("operation", "RunTask"), ("outcome", "ok")];
    assert_eq!(common::prometheus_value(&server, "berth_api_requests_total", &runs), Some(1.0), "{server}");
    assert_eq!(common::prometheus_value(&server, "berth_tasks", &[("last_status", "STOPPED")]), Some(1.0));
    assert_eq!(common::prometheus_value(&server, "berth_agents_connected", &[]), Some(1.0));
    assert!(common::prometheus_value(&server, "berth_store_bytes", &[]).unwrap() > 0.0);
    assert!(
        common::prometheus_value(&server, "berth_api_request_duration_seconds_count", &[("api", "ecs")]).unwrap()
            >= 1.0,
        "{server}"
    );
}
