//! `berth logs` on a real Berth and Docker: tasks writing numbered lines through the awslogs driver, read back by
//! task id and by service name, narrowed with `--filter` and `--since`, followed with `-f` (each line once), in
//! colour only on a terminal, and refused with a clear message and a non-zero exit for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
use berth_testkit::{Berth, wait_for};
use common::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Registers `family`: the workload running `command`, logging with awslogs to `/ecs/<family>` (prefix `ecs`)
/// when `awslogs`, with Docker's default driver otherwise.
async fn register(client: &aws_sdk_ecs::Client, family: &str, command: &[&str], awslogs: bool) {
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let mut container = ContainerDefinition::builder()
        .name("app")
        .image(image)
        .memory(64)
        .set_command(Some(command.iter().map(|s| s.to_string()).collect()));
    if awslogs {
        let log = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", format!("/ecs/{family}"))
            .options("awslogs-create-group", "true")
            .options("awslogs-stream-prefix", "ecs")
            .options("awslogs-force-flush-interval-seconds", "1");
        container = container.log_configuration(log.build().unwrap());
    }
    client.register_task_definition().family(family).container_definitions(container.build()).send().await.unwrap();
}

async fn run(client: &aws_sdk_ecs::Client, family: &str) -> String {
    let out = client.run_task().task_definition(family).send().await.unwrap();
    out.tasks.unwrap().remove(0).task_arn.unwrap()
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

/// `berth logs ARGS` as a user runs it; (exit code, stdout, stderr).
fn berth_logs(berth: &Berth, args: &[&str]) -> (i32, String, String) {
    let output = with_user_env(Command::new(env!("CARGO_BIN_EXE_berth")).arg("logs").args(args), berth)
        .stdin(Stdio::null())
        .output()
        .expect("berth logs runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// A printed line split into (prefix, timestamp, message).
fn parts(line: &str) -> (&str, &str, &str) {
    let (prefix, rest) = line.split_once(" | ").unwrap_or_else(|| panic!("no ` | ` in {line:?}"));
    let (time, message) = rest.split_once(' ').unwrap_or_else(|| panic!("no time in {line:?}"));
    (prefix, time, message)
}

/// How many times each message was printed.
fn counts(stdout: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in stdout.lines() {
        *counts.entry(parts(line).2.to_string()).or_default() += 1;
    }
    counts
}

/// `line 1` .. `line <count>` and `done`, each once.
fn expected(count: usize) -> BTreeMap<String, usize> {
    (1..=count).map(|n| (format!("line {n}"), 1)).chain([("done".to_string(), 1)]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_logs_prints_a_tasks_and_a_services_lines_filtered_since_and_followed() {
    let (berth, client) = berth_up().await;

    // 300 lines at 100 a second: three batches about a second apart, then `done`.
    register(&client, "numbered", &["lines", "300", "100"], true).await;
    let task = run(&client, "numbered").await;
    wait_status(&client, &task, "STOPPED", Duration::from_secs(60)).await;
    let id = task_id(&task).to_string();
    let all = wait_for("every line in the store", Duration::from_secs(30), || async {
        let (code, stdout, _) = berth_logs(&berth, &[&id]);
        (code == 0 && stdout.lines().count() == 301).then_some(stdout)
    })
    .await
    .unwrap();
    assert_eq!(counts(&all), expected(300), "every line once");
    for line in all.lines() {
        let (prefix, time, _) = parts(line);
        assert_eq!(prefix, format!("{id}/app"), "{line}");
        assert!(time.len() == 24 && time.ends_with('Z'), "an RFC 3339 time in milliseconds: {line}");
    }
    assert!(!all.contains('\u{1b}'), "no colour off a terminal");
    let times: Vec<&str> = all.lines().map(|l| parts(l).1).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let (code, by_arn, _) = berth_logs(&berth, &[&task]);
    assert_eq!((code, by_arn), (0, all.clone()), "a task ARN works as its id does");

    // --filter narrows (a CloudWatch Logs pattern); a bad pattern is the server's InvalidParameterException.
    let (code, done, stderr) = berth_logs(&berth, &[&id, "--filter", "done"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(counts(&done), expected(0));
    let (code, some, _) = berth_logs(&berth, &[&id, "--filter", r#"?done ?"line 250""#]);
    assert_eq!(code, 0);
    assert_eq!(counts(&some).keys().collect::<Vec<_>>(), ["done", "line 250"]);
    let (code, stdout, stderr) = berth_logs(&berth, &[&id, "--filter", "{ $.level = "]);
    assert_ne!(code, 0, "a bad pattern fails");
    assert!(stderr.contains("InvalidParameterException") && stdout.is_empty(), "{stderr}");

    // --since: a duration, or an RFC 3339 time (here the third batch's), from which on events are printed.
    let (code, recent, _) = berth_logs(&berth, &[&id, "--since", "10m"]);
    assert_eq!((code, recent), (0, all.clone()));
    let third = all.lines().find(|l| parts(l).2 == "line 250").map(|l| parts(l).1.to_string()).unwrap();
    let (code, late, stderr) = berth_logs(&berth, &[&id, "--since", &third]);
    assert_eq!(code, 0, "{stderr}");
    let late = counts(&late);
    assert!(late.contains_key("line 250") && late.contains_key("line 300") && late.contains_key("done"), "{late:?}");
    assert!(!late.contains_key("line 1") && !late.contains_key("line 99"), "the first batch is older: {late:?}");
    let (code, _, stderr) = berth_logs(&berth, &[&id, "--since", "10 minutes"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("neither a duration"), "{stderr}");

    // Unknown names, and a container without awslogs.
    let (code, _, stderr) = berth_logs(&berth, &["no-such-thing"]);
    assert_ne!(code, 0);
    assert!(stderr.contains(r#"there is no service or task "no-such-thing" in cluster "default""#), "{stderr}");
    let (code, _, stderr) = berth_logs(&berth, &[&id, "--cluster", "nowhere"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("ClusterNotFoundException"), "{stderr}");
    register(&client, "plain", &["lines", "3"], false).await;
    let plain = run(&client, "plain").await;
    wait_status(&client, &plain, "STOPPED", Duration::from_secs(60)).await;
    let (code, _, stderr) = berth_logs(&berth, &[task_id(&plain)]);
    assert_ne!(code, 0, "nothing to read");
    assert!(
        stderr.contains("logs with Docker's default driver, so its output is not in Berth's log store"),
        "{stderr}"
    );
    assert!(stderr.contains("`docker logs ") && stderr.contains("nothing to read"), "{stderr}");

    // A service's tasks, each with its own prefix (lines 1 to 100 at once, then the task waits).
    register(&client, "served", &["lines", "200", "1"], true).await;
    client.create_service().service_name("served").task_definition("served").desired_count(2).send().await.unwrap();
    let stdout = wait_for("both tasks' lines", Duration::from_secs(60), || async {
        let (_, stdout, _) = berth_logs(&berth, &["served", "--filter", r#""line 100""#]);
        (stdout.lines().count() >= 2).then_some(stdout)
    })
    .await
    .unwrap();
    let tasks: std::collections::BTreeSet<&str> = stdout.lines().map(|l| parts(l).0).collect();
    assert_eq!(tasks.len(), 2, "{stdout}");
    let listed = client.list_tasks().service_name("served").send().await.unwrap().task_arns.unwrap();
    for arn in &listed {
        assert!(tasks.contains(format!("{}/app", task_id(arn)).as_str()), "{arn} in {stdout}");
    }

    // On a terminal (a pseudo-terminal from `script`), a colour per task; NO_COLOR turns it off.
    let on_tty = |no_color: &str| {
        let command = format!("{} logs served --filter '\"line 100\"'", env!("CARGO_BIN_EXE_berth"));
        let output = with_user_env(Command::new("script").args(["-qec", &command, "/dev/null"]), &berth)
            .env("NO_COLOR", no_color)
            .stdin(Stdio::null())
            .output()
            .expect("script (util-linux) runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let coloured = on_tty("");
    let codes: std::collections::BTreeSet<&str> =
        coloured.lines().filter_map(|l| l.split_once("\u{1b}[")?.1.split_once('m').map(|c| c.0)).collect();
    assert_eq!(codes.len(), 2, "one colour per task: {coloured:?}");
    assert!(!on_tty("1").contains('\u{1b}'), "NO_COLOR");

    // -f: started before the task writes, it prints each line once as it arrives, until Ctrl-C.
    register(&client, "followed", &["lines", "500", "100", "3000"], true).await;
    let followed = run(&client, "followed").await;
    wait_status(&client, &followed, "RUNNING", Duration::from_secs(60)).await;
    let mut child = with_user_env(Command::new(env!("CARGO_BIN_EXE_berth")).arg("logs"), &berth)
        .args(["-f", task_id(&followed)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>().join("\n")
    });
    wait_status(&client, &followed, "STOPPED", Duration::from_secs(60)).await;
    // Several polls after the last line was shipped, so repeats would show.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    let printed = reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "Ctrl-C ends -f cleanly: {status:?} {stderr}");
    assert_eq!(counts(&printed), expected(500), "each line once: {stderr}");
}
