//! ECS Exec on a real Berth and Docker: `enableExecuteCommand` on tasks and services, ExecuteCommand's checks,
//! the `berth exec` client (output, standard error, standard input, exit codes), the session stream itself
//! (terminal size and resize, single-use tokens), the cluster's exec configuration, and the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::types::{
    ClusterConfiguration, ClusterField, ExecuteCommandConfiguration, ExecuteCommandLogging, ManagedAgentName,
};
use berth_model::agent::ExecFrame;
use berth_testkit::{Berth, wait_for};
use common::*;
use futures::{SinkExt, StreamExt};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// ECS's message when exec is not possible on a task.
const NOT_ENABLED: &str = "execute command was not enabled when the task was run";

/// Runs a task of `family` with exec on or off and waits until it runs; returns its ARN.
async fn run_task(client: &aws_sdk_ecs::Client, family: &str, exec: bool) -> String {
    let out = client.run_task().task_definition(family).enable_execute_command(exec).send().await.unwrap();
    let task = out.tasks.unwrap().into_iter().next().expect("a task was placed");
    assert_eq!(task.enable_execute_command, exec, "RunTask shows the setting");
    let arn = task.task_arn.unwrap();
    wait_status(client, &arn, "RUNNING", Duration::from_secs(60)).await;
    arn
}

/// `berth exec` as a user runs it, with the aws CLI's environment; returns (exit code, stdout, stderr).
fn berth_exec(berth: &Berth, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = with_user_env(Command::new(env!("CARGO_BIN_EXE_berth")).arg("exec").args(args), berth)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth exec starts");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// The log without terminal colour codes (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_exec_runs_commands_with_their_output_input_and_exit_code() {
    let (berth, client) = berth_up().await;
    register_workload(&client, "shell", &[]).await;
    let task = run_task(&client, "shell", true).await;

    // ECS shows the exec agent on each container of a task run with exec enabled.
    let described = describe(&client, &task).await;
    assert!(described.enable_execute_command);
    let agents = described.containers()[0].managed_agents();
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert_eq!(agents[0].name, Some(ManagedAgentName::ExecuteCommandAgent));
    assert_eq!(agents[0].last_status.as_deref(), Some("RUNNING"));

    // Output, standard error kept apart (no terminal: stdin is a pipe), arguments with spaces, and a non-zero exit.
    let started = Instant::now();
    let (code, stdout, stderr) =
        berth_exec(&berth, &[&task, "--", "/berth-workload", "exec-probe", "print", "3", "hello", "two words"], b"");
    let first = started.elapsed();
    assert_eq!(code, 3, "stdout {stdout:?} stderr {stderr:?}");
    assert_eq!(stdout, "args: hello two words\n");
    assert!(stderr.contains("stderr line"), "{stderr:?}");
    let (code, stdout, _) = berth_exec(&berth, &[&task, "--", "/berth-workload", "exec-probe", "print", "0"], b"");
    assert_eq!((code, stdout.as_str()), (0, "args: \n"));

    // Standard input reaches the command, and its end too.
    let (code, stdout, stderr) = berth_exec(
        &berth,
        &["--container", "app", &task, "--", "/berth-workload", "exec-probe", "cat"],
        b"line one\nline two\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "line one\nline two\n<eof>\n");

    // In a terminal (a pseudo-terminal from `script`): raw mode, the window's size, and SIGWINCH forwarded as a
    // resize (the window changes 3 s in, while the probe waits for it).
    let command = format!(
        "stty rows 33 cols 99; (sleep 3; stty rows 44 cols 111 </dev/tty) & {} exec -t {task} -- \
         /berth-workload exec-probe winsize 44x111",
        env!("CARGO_BIN_EXE_berth")
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("AWS_ENDPOINT_URL", berth.url())
        .env("AWS_ACCESS_KEY_ID", &berth.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &berth.secret_access_key)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown} {}", String::from_utf8_lossy(&output.stderr));
    assert!(shown.contains("tty=true size=33x99") && shown.contains("tty=true size=44x111"), "{shown:?}");

    // A command that cannot start: Berth's own failure code, and the engine's reason.
    let (code, _, stderr) = berth_exec(&berth, &[&task, "--", "/no/such/binary"], b"");
    assert!(code != 0, "{stderr}");

    // Exec refused: Berth's failure code and ECS's message.
    let other = run_task(&client, "shell", false).await;
    let (code, _, stderr) = berth_exec(&berth, &[&other, "--", "/berth-workload", "exec-probe", "print", "0"], b"");
    assert_eq!(code, 255);
    assert!(stderr.contains("InvalidParameterException") && stderr.contains(NOT_ENABLED), "{stderr}");
    let described = describe(&client, &other).await;
    assert!(!described.enable_execute_command);
    assert!(described.containers()[0].managed_agents().is_empty());

    // The audit trail: who ran what where, and how it ended.
    let log = strip_ansi(&berth.log());
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("berth::exec::audit")).collect();
    let issued = lines.iter().filter(|l| l.contains("exec session issued")).count();
    assert!(issued >= 4, "{lines:#?}");
    let closed = lines
        .iter()
        .find(|l| l.contains("exec session closed") && l.contains("exit_code=3"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(closed.contains(&berth.access_key_id) && closed.contains(&task), "{closed}");
    assert!(closed.contains("exec-probe print 3 hello 'two words'"), "{closed}");
    println!("first berth exec round trip: {first:?}");
}

/// Calls ExecuteCommand and returns (stream URL, token).
async fn session(client: &aws_sdk_ecs::Client, task: &str, container: &str, command: &str) -> (String, String) {
    let out = client
        .execute_command()
        .task(task)
        .container(container)
        .command(command)
        .interactive(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.container_name.as_deref(), Some(container));
    assert_eq!(out.task_arn.as_deref(), Some(task));
    assert!(out.interactive);
    assert!(out.container_arn.is_some() && out.cluster_arn.is_some());
    let session = out.session.unwrap();
    assert!(session.session_id.is_some());
    (session.stream_url.unwrap(), session.token_value.unwrap())
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a session's stream; `Err(status)` when refused.
async fn open(url: &str, token: &str) -> Result<Socket, u16> {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("connecting to {url}: {other}"),
    }
}

/// Reads frames until the output contains `needle`; returns the output so far.
async fn read_until(socket: &mut Socket, output: &mut String, needle: &str) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !output.contains(needle) {
            match socket.next().await {
                Some(Ok(Message::Binary(b))) => match ExecFrame::decode(&b).unwrap() {
                    ExecFrame::Stdout(data) => output.push_str(&String::from_utf8_lossy(&data)),
                    other => panic!("unexpected frame {other:?} after {output:?}"),
                },
                Some(Ok(_)) => {}
                other => panic!("the stream ended ({other:?}) after {output:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {output:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_need_their_single_use_token_and_see_terminal_resizes() {
    let (berth, client) = berth_up().await;
    client
        .register_task_definition()
        .family("pair")
        .container_definitions(workload_container("a").build())
        .container_definitions(workload_container("b").build())
        .send()
        .await
        .unwrap();
    let task = run_task(&client, "pair", true).await;
    let described = describe(&client, &task).await;
    assert!(described.containers().iter().all(|c| c.managed_agents().len() == 1));
    // StartTask takes the setting too.
    let started = client
        .start_task()
        .task_definition("pair")
        .container_instances(described.container_instance_arn().unwrap())
        .enable_execute_command(true)
        .send()
        .await
        .unwrap();
    assert!(started.tasks()[0].enable_execute_command);
    let started = started.tasks()[0].task_arn().unwrap().to_string();
    assert!(wait_status(&client, &started, "RUNNING", Duration::from_secs(60)).await.enable_execute_command);

    // ECS's checks and exception classes.
    let exec = || client.execute_command().task(&task).command("/berth-workload exec-probe print 0").interactive(true);
    assert_error(exec().send().await, "InvalidParameterException", "more than one container");
    assert_error(exec().container("c").send().await, "InvalidParameterException", "does not exist");
    assert_error(exec().container("a").interactive(false).send().await, "InvalidParameterException", "Interactive");
    assert_error(exec().container("a").cluster("nope").send().await, "ClusterNotFoundException", "Cluster not found.");
    assert_error(
        client.execute_command().task("0123456789abcdef").command("x").interactive(true).send().await,
        "InvalidParameterException",
        "could not be found",
    );
    assert_error(
        exec().container("a").command("echo 'unterminated").send().await,
        "InvalidParameterException",
        "quote",
    );

    // A terminal of the size asked for, resized on request; then the exit code.
    let (url, token) = session(&client, &task, "b", "/berth-workload exec-probe winsize 40x120").await;
    assert!(url.starts_with(&format!("ws://127.0.0.1:{}/exec/v1/sessions/", berth.url().rsplit(':').next().unwrap())));
    assert_eq!(open(&url, "0".repeat(64).as_str()).await.err(), Some(403), "a wrong token is refused");
    // The session token does not open the agent's end.
    let session_id = url.rsplit('/').nth(1).unwrap();
    let agent_end = format!("{}/agent/v1/exec/{session_id}", berth.url().replace("http://", "ws://"));
    let refused = open(&agent_end, &token).await.expect_err("refused");
    assert!((400..500).contains(&refused), "{refused}");
    let started = Instant::now();
    let mut socket = open(&format!("{url}?tty=true&rows=30&cols=100"), &token).await.expect("the right token works");
    let mut output = String::new();
    read_until(&mut socket, &mut output, "size=30x100").await;
    let connected = started.elapsed();
    assert!(output.contains("tty=true"), "{output:?}");
    socket.send(Message::Binary(ExecFrame::Resize { rows: 40, cols: 120 }.encode().into())).await.unwrap();
    read_until(&mut socket, &mut output, "size=40x120").await;
    let exit = loop {
        match socket.next().await {
            Some(Ok(Message::Binary(b))) => match ExecFrame::decode(&b).unwrap() {
                ExecFrame::Exit(code) => break code,
                ExecFrame::Stdout(_) => {}
                other => panic!("unexpected {other:?}"),
            },
            Some(Ok(_)) => {}
            other => panic!("no exit frame: {other:?}"),
        }
    };
    assert_eq!(exit, 0);
    println!("session connect to first output: {connected:?}");
    assert_eq!(open(&url, &token).await.err(), Some(403), "a token is single use");

    // An unused token expires with its session's 60 s; one unknown session id is refused like a bad token.
    let bogus = url.replace("/sessions/", "/sessions/x");
    assert_eq!(open(&bogus, &token).await.err(), Some(403));

    // The cluster's exec configuration: NONE and DEFAULT are accepted, log shipping and KMS refused.
    let config = |logging| {
        ClusterConfiguration::builder()
            .execute_command_configuration(ExecuteCommandConfiguration::builder().logging(logging).build())
            .build()
    };
    client
        .update_cluster()
        .cluster("default")
        .configuration(config(ExecuteCommandLogging::Default))
        .send()
        .await
        .unwrap();
    let cluster = client
        .describe_clusters()
        .clusters("default")
        .include(ClusterField::Configurations)
        .send()
        .await
        .unwrap()
        .clusters
        .unwrap()
        .remove(0);
    let logging = cluster.configuration.and_then(|c| c.execute_command_configuration).and_then(|e| e.logging);
    assert_eq!(logging, Some(ExecuteCommandLogging::Default));
    assert_error(
        client.update_cluster().cluster("default").configuration(config(ExecuteCommandLogging::Override)).send().await,
        "UnsupportedFeatureException",
        "OVERRIDE",
    );
    assert_error(
        client
            .create_cluster()
            .cluster_name("kms")
            .configuration(
                ClusterConfiguration::builder()
                    .execute_command_configuration(ExecuteCommandConfiguration::builder().kms_key_id("k").build())
                    .build(),
            )
            .send()
            .await,
        "UnsupportedFeatureException",
        "kmsKeyId",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_tasks_follow_the_services_exec_setting() {
    let (berth, client) = berth_up().await;
    register_workload(&client, "svc", &[]).await;
    let created = client
        .create_service()
        .service_name("svc")
        .task_definition("svc")
        .desired_count(1)
        .enable_execute_command(true)
        .send()
        .await
        .unwrap();
    assert!(created.service.unwrap().enable_execute_command);
    wait_stable(&client, "default", "svc", Duration::from_secs(60)).await;
    let tasks = client.list_tasks().service_name("svc").send().await.unwrap().task_arns.unwrap();
    let first = describe(&client, &tasks[0]).await;
    assert!(first.enable_execute_command, "a service's task inherits its setting");
    let (code, stdout, stderr) =
        berth_exec(&berth, &[&tasks[0], "--", "/berth-workload", "exec-probe", "print", "7", "svc"], b"");
    assert_eq!((code, stdout.as_str()), (7, "args: svc\n"), "{stderr}");

    // UpdateService changes it for tasks started afterwards; the running task keeps its own.
    let updated = client.update_service().service("svc").enable_execute_command(false).send().await.unwrap();
    assert!(!updated.service.unwrap().enable_execute_command);
    assert!(describe(&client, &tasks[0]).await.enable_execute_command);
    client.update_service().service("svc").force_new_deployment(true).send().await.unwrap();
    let replacement = wait_for("a task started after the update", Duration::from_secs(60), || async {
        let arns = client.list_tasks().service_name("svc").send().await.ok()?.task_arns?;
        let arn = arns.into_iter().find(|a| *a != tasks[0])?;
        let task = describe(&client, &arn).await;
        (task.last_status.as_deref() == Some("RUNNING")).then_some(task)
    })
    .await
    .unwrap();
    assert!(!replacement.enable_execute_command);
    assert!(replacement.containers()[0].managed_agents().is_empty());
    let (code, _, stderr) = berth_exec(
        &berth,
        &[replacement.task_arn().unwrap(), "--", "/berth-workload", "exec-probe", "print", "0"],
        b"",
    );
    assert_eq!(code, 255);
    assert!(stderr.contains(NOT_ENABLED), "{stderr}");
}
