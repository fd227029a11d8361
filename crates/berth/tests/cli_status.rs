//! The day-to-day commands on a real `berth up` and Docker: `berth status` right after `berth up` from its data dir
//! alone (no AWS_* variables), `berth ps`, `describe task|service` (with the per-instance explanation of a task
//! that cannot be placed), `scale`, `stop`, `deploy` to a good image (exit 0) and to one whose container exits
//! (exit 1, the circuit breaker's verdict), `--output json`, colour only on a terminal and never with NO_COLOR,
//! and the server's own log: no ANSI escapes in a file, a repeated warning written once per window with its count,
//! and a task failure logged once with its reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration};
use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `berth ARGS` as a user runs it with the aws CLI's variables; (exit code, stdout, stderr).
fn cli(berth: &Berth, args: &[&str]) -> (i32, String, String) {
    output(with_user_env(&mut Command::new(env!("CARGO_BIN_EXE_berth")), berth).args(args))
}

/// `berth ARGS` with no AWS_* variable and no aws config: only the data dir `berth up` wrote.
fn berth_from_data_dir(berth: &Berth, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("BERTH_DATA_DIR", berth.data_dir.path().join("data"))
        .args(args);
    output(&mut command)
}

fn output(command: &mut Command) -> (i32, String, String) {
    let out = command.stdin(Stdio::null()).output().expect("berth runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// `berth ARGS` on a pseudo-terminal (util-linux `script`), with `NO_COLOR` set or not; what it printed.
fn berth_on_terminal(berth: &Berth, args: &[&str], no_color: bool) -> String {
    let line = std::iter::once(env!("CARGO_BIN_EXE_berth")).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    let mut command = Command::new("script");
    command.args(["-qec", &line, "/dev/null"]).env("COLUMNS", "200");
    if no_color {
        command.env("NO_COLOR", "1");
    } else {
        command.env_remove("NO_COLOR");
    }
    let (code, stdout, stderr) = output(with_user_env(&mut command, berth));
    assert_eq!(code, 0, "script (util-linux) runs berth on a terminal: {stdout}{stderr}");
    stdout
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

/// An image whose container exits with 3 at once: the workload image with another entrypoint.
fn exiting_image() -> String {
    let base = berth_testkit::workload_image().unwrap();
    let tag = format!("berth-cli-exits:{}", std::process::id());
    let name = format!("berth-cli-exits-{}", std::process::id());
    docker(&["create", "--name", &name, &base]).unwrap();
    let committed = docker(&["commit", "--change", r#"ENTRYPOINT ["/berth-workload", "exit", "3"]"#, &name, &tag]);
    docker(&["rm", "-f", &name]).unwrap();
    committed.unwrap();
    tag
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_to_day_commands_show_and_change_a_running_service() {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().unwrap();
    // No series fit in the metric store: the AWS/ECS datapoints fail every 10 s, the same warning each time.
    let options = BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: ["--metrics-max-series", "0", "--log-repeat-seconds", "15"].map(String::from).to_vec(),
    };
    let berth = Berth::start(options).expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    // The testkit gives the root keys in BERTH_ROOT_*; `berth up` without them writes this file itself.
    let creds = serde_json::json!({ "accessKeyId": berth.access_key_id, "secretAccessKey": berth.secret_access_key });
    std::fs::write(berth.data_dir.path().join("data/credentials.json"), creds.to_string()).unwrap();

    register_workload(&client, "web", &[]).await;
    client
        .create_service()
        .service_name("web")
        .task_definition("web")
        .desired_count(1)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(0)
                .maximum_percent(200)
                .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_stable(&client, "default", "web", Duration::from_secs(60)).await;

    // status from the data dir alone, as right after `berth up` in the same directory.
    let (code, status, stderr) = berth_from_data_dir(&berth, &["status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(status.contains("Cluster default (ACTIVE)"), "{status}");
    let web = status.lines().find(|l| l.trim_start().starts_with("web ")).unwrap_or_else(|| panic!("{status}"));
    let cells: Vec<&str> = web.split_whitespace().collect();
    assert_eq!(cells[..6], ["web", "ACTIVE", "1", "1", "0", "web:1"], "{web}");
    assert!(web.contains("COMPLETED") || web.contains("IN_PROGRESS"), "the rollout state: {web}");
    assert!(status.contains("connected") && status.contains("FREE"), "{status}");
    let (code, _, stderr) = berth_from_data_dir(&berth, &["status", "--data-dir", "/nonexistent"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no endpoint"), "{stderr}");

    // --output json: the API's shapes.
    let (code, json, stderr) = cli(&berth, &["status", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["cluster"]["clusterName"], "default");
    assert_eq!(json[0]["services"][0]["serviceName"], "web");
    assert_eq!(json[0]["services"][0]["runningCount"], 1);

    // ps and describe task.
    let (code, ps, stderr) = cli(&berth, &["ps", "web"]);
    assert_eq!(code, 0, "{stderr}");
    let row = ps.lines().find(|l| l.contains("service:web")).unwrap_or_else(|| panic!("{ps}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..4], ["service:web", "web:1", "RUNNING"], "{row}");
    assert!(row.contains("->8080/tcp"), "{row}");
    let first = cells[0].to_string();
    let (code, described, stderr) = cli(&berth, &["describe", "task", &first]);
    assert_eq!(code, 0, "{stderr}");
    assert!(described.contains(&format!("Task {first} (web:1, service:web)")), "{described}");
    for moment in ["created", "image pull started", "started (containers running)"] {
        assert!(described.contains(moment), "{moment}: {described}");
    }

    // Colour on a terminal only, and never with NO_COLOR.
    let coloured = berth_on_terminal(&berth, &["ps"], false);
    assert!(coloured.contains("\u{1b}["), "colours on a terminal: {coloured:?}");
    let plain = berth_on_terminal(&berth, &["ps"], true);
    assert!(plain.contains("service:web") && !plain.contains('\u{1b}'), "NO_COLOR: {plain:?}");
    assert!(!ps.contains('\u{1b}'), "no colour into a pipe");

    // scale, then deploy a new image (a new revision): exit 0 once COMPLETED.
    let (code, out, stderr) = cli(&berth, &["scale", "web", "2"]);
    assert_eq!((code, out.trim()), (0, "service web: desired 2 (running 1, pending 0)"), "{stderr}");
    wait_stable(&client, "default", "web", Duration::from_secs(60)).await;
    let (code, out, stderr) = cli(&berth, &["deploy", "web", "--image", &image, "--timeout", "60"]);
    assert_eq!(code, 0, "{out}{stderr}");
    for line in [
        "registered web:2",
        "updated service web to web:2",
        "deployment ",
        "2/2 running",
        "older deployments drained",
        "deployment completed",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }

    // A deployment whose container exits: the circuit breaker fails it and rolls back; exit 1.
    let exiting = exiting_image();
    let (code, out, stderr) = cli(&berth, &["deploy", "web", "--image", &exiting, "--timeout", "60"]);
    let _ = docker(&["rmi", "-f", &exiting]);
    assert_eq!(code, 1, "{out}{stderr}");
    assert!(out.contains("registered web:3"), "{out}");
    assert!(out.contains("deployment failed: ") || out.contains("deployment replaced: "), "{out}");
    assert!(out.contains("event: "), "service events as they come: {out}");

    // A stopped task's reasons, and stop.
    let (code, stopped, _) = cli(&berth, &["ps", "--all", "-o", "json"]);
    assert_eq!(code, 0);
    let stopped: serde_json::Value = serde_json::from_str(&stopped).unwrap();
    let failed = stopped
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["stopCode"] == "EssentialContainerExited" && t["taskDefinitionArn"].as_str().unwrap().ends_with("web:3")
        })
        .unwrap_or_else(|| panic!("a failed web:3 task: {stopped}"));
    let failed_id = task_id(failed["taskArn"].as_str().unwrap()).to_string();
    let (code, described, _) = cli(&berth, &["describe", "task", &failed_id]);
    assert_eq!(code, 0);
    assert!(described.contains("stop code: EssentialContainerExited"), "{described}");
    let app = described.lines().find(|l| l.trim_start().starts_with("app ")).unwrap_or_else(|| panic!("{described}"));
    assert_eq!(app.split_whitespace().nth(2), Some("3"), "the exit code: {app}");
    let (code, running, _) = cli(&berth, &["ps", "web", "-o", "json"]);
    assert_eq!(code, 0);
    let running: serde_json::Value = serde_json::from_str(&running).unwrap();
    let running =
        running.as_array().unwrap().iter().find(|t| t["lastStatus"] == "RUNNING" && t["desiredStatus"] == "RUNNING");
    let first = task_id(running.unwrap_or_else(|| panic!("a running task")).get("taskArn").unwrap().as_str().unwrap())
        .to_string();
    let (code, out, stderr) = cli(&berth, &["stop", &first, "--reason", "from the test"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains(&format!("task {first}: ")) && out.contains("(desired STOPPED)"), "{out}");
    let task = describe(&client, &first).await;
    assert_eq!(task.stopped_reason(), Some("from the test"));

    // A task that cannot be placed: explained per instance.
    client
        .register_task_definition()
        .family("huge")
        .container_definitions(workload_container("app").memory(4_000_000).build())
        .send()
        .await
        .unwrap();
    client.create_service().service_name("huge").task_definition("huge").desired_count(1).send().await.unwrap();
    let explained = wait_for("the placement failure", Duration::from_secs(30), || async {
        let (code, out, _) = cli(&berth, &["describe", "service", "huge"]);
        (code == 0 && out.contains("Why a task of huge:1")).then_some(out)
    })
    .await
    .unwrap();
    assert!(explained.contains("was unable to place a task"), "{explained}");
    assert!(explained.contains("MEMORY: needs 4000000 MiB"), "{explained}");

    // Bad input is refused clearly.
    let (code, _, stderr) = cli(&berth, &["describe", "service", "nope"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("MISSING") || stderr.contains("nope"), "{stderr}");
    let (code, _, stderr) = cli(&berth, &["deploy", "web"]);
    assert_eq!(code, 2, "clap's usage error: {stderr}");
    let (code, completions, _) = cli(&berth, &["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(completions.contains("deploy") && completions.contains("--task-definition"), "bash completions");

    // The server's own log: plain text, the repeated warning with its count, each task failure once.
    let log = wait_for("a repeated warning with its count", Duration::from_secs(30), || async {
        let log = berth.log();
        log.lines().any(|l| l.contains("cannot record an AWS/ECS datapoint") && l.contains("(repeated ")).then_some(log)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", berth.log()));
    assert!(!log.contains('\u{1b}'), "no ANSI escapes in a log file");
    let failures: Vec<&str> =
        log.lines().filter(|l| l.contains("task failed") && l.contains("stop_code=EssentialContainerExited")).collect();
    assert!(!failures.is_empty(), "task failures are logged: {log}");
    for line in &failures {
        assert!(line.contains("cluster=default") && line.contains("reason="), "{line}");
    }
    let once = failures.iter().filter(|l| l.contains(&format!("task={failed_id}"))).count();
    assert_eq!(once, 1, "each failed task once: {failures:?}");
}
