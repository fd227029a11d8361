//! Berth's file-mode secrets end to end (docs/COMPATIBILITY.md): a service task whose container secrets are named
//! `berth:file=<path>` (passed through the unchanged aws CLI) reads them as files on a read-only tmpfs mount, not in
//! its environment nor in `docker inspect`; a new Secrets Manager version (PutSecretValue) and an SSM overwrite
//! (PutParameter --overwrite) reach the files within 10 s while the task keeps running, unrestarted, and the service
//! records an event for each; the files go with the task.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; wall-clock waits

mod common;

use berth_testkit::docker;
use common::{aws_err, aws_ok, describe, wait_status};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DB_V1: &str = "sf-db-password-v1-3e8a";
const DB_V2: &str = "sf-db-password-v2-91c0";
const TOKEN_V1: &str = "sf-token-v1-57bd";
const TOKEN_V2: &str = "sf-token-v2-0f42";
const ENV_VALUE: &str = "sf-env-value-c4d2";

const TRUST_ECS_TASKS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const READ_SECRETS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameters"],"Resource":"*"}]}"#;

/// GETs `url` (no retries): status and body.
async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// Waits until the container serves `expected` at `path`; how long that took.
async fn wait_file(port: u16, path: &str, expected: &str, within: Duration) -> Duration {
    let url = format!("http://127.0.0.1:{port}/file?path={path}");
    let start = Instant::now();
    loop {
        let (status, body) = get(&url).await;
        if status == 200 && body.strip_suffix('\n').unwrap_or(&body) == expected {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{path} still answers {status} {body:?} after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_secrets_rotate_live_without_restarting_the_task() {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let (berth, client) = common::server_with_one_agent().await;

    let role = aws_ok(
        &berth,
        "iam",
        &["create-role", "--role-name", "sfExecution", "--assume-role-policy-document", TRUST_ECS_TASKS],
    )["Role"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    aws_ok(
        &berth,
        "iam",
        &["put-role-policy", "--role-name", "sfExecution", "--policy-name", "read", "--policy-document", READ_SECRETS],
    );
    let db = aws_ok(&berth, "secretsmanager", &["create-secret", "--name", "sf/db", "--secret-string", DB_V1]);
    let db_arn = db["ARN"].as_str().unwrap().to_string();
    aws_ok(&berth, "ssm", &["put-parameter", "--name", "/sf/token", "--type", "SecureString", "--value", TOKEN_V1]);
    aws_ok(&berth, "ssm", &["put-parameter", "--name", "/sf/env", "--type", "SecureString", "--value", ENV_VALUE]);

    // A path Berth cannot mount is refused at the call, naming it.
    let bad = json!({"family": "sf-bad", "executionRoleArn": role, "containerDefinitions": [{
        "name": "app", "image": image, "memory": 64,
        "secrets": [{"name": "berth:file=/db", "valueFrom": "/sf/token"}]}]});
    aws_ok(&berth, "ecs", &["register-task-definition", "--cli-input-json", &bad.to_string()]);
    let e = aws_err(&berth, "ecs", &["run-task", "--task-definition", "sf-bad"]);
    assert!(e.contains("(ClientException)") && e.contains("berth:file=/db"), "{e}");

    let input = json!({"family": "sf-web", "executionRoleArn": role, "containerDefinitions": [{
    "name": "app", "image": image, "memory": 64,
    "portMappings": [{"containerPort": 8080, "hostPort": 0}],
    "secrets": [
        {"name": "berth:file=/run/secrets/db", "valueFrom": db_arn},
        {"name": "berth:file=/run/secrets/token", "valueFrom": "/sf/token"},
        {"name": "ENV_SECRET", "valueFrom": "/sf/env"},
    ]}]});
    aws_ok(&berth, "ecs", &["register-task-definition", "--cli-input-json", &input.to_string()]);
    aws_ok(
        &berth,
        "ecs",
        &["create-service", "--service-name", "sf-web", "--task-definition", "sf-web", "--desired-count", "1"],
    );
    let task_arn = berth_testkit::wait_for("the service's task", Duration::from_secs(90), || async {
        let listed = aws_ok(&berth, "ecs", &["list-tasks", "--service-name", "sf-web"]);
        listed["taskArns"][0].as_str().map(str::to_string)
    })
    .await
    .unwrap();
    let task = wait_status(&client, &task_arn, "RUNNING", Duration::from_secs(90)).await;
    let port = common::host_port(&task);
    let started_at = task.started_at;
    common::wait_http_ok(&format!("http://127.0.0.1:{port}/")).await;

    // The files hold the values; the environment only the ordinary secret.
    wait_file(port, "/run/secrets/db", DB_V1, Duration::from_secs(5)).await;
    wait_file(port, "/run/secrets/token", TOKEN_V1, Duration::from_secs(5)).await;
    let me: Value = serde_json::from_str(&get(&format!("http://127.0.0.1:{port}/")).await.1).unwrap();
    assert_eq!(me["env"]["ENV_SECRET"], ENV_VALUE);
    let env = me["env"].to_string();
    assert!(!env.contains(DB_V1) && !env.contains(TOKEN_V1) && !env.contains("berth:file"), "{env}");

    // docker inspect shows a read-only mount of a tmpfs directory, never a value.
    let ids = docker(&["ps", "-q", "--filter", &format!("label=com.amazonaws.ecs.task-arn={task_arn}")]).unwrap();
    let container = ids.split_whitespace().next().expect("the task's container").to_string();
    let inspect = docker(&["inspect", &container]).unwrap();
    for value in [DB_V1, TOKEN_V1] {
        assert!(!inspect.contains(value), "{value} in docker inspect");
    }
    let inspected: Value = serde_json::from_str(&inspect).unwrap();
    let mount = inspected[0]["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/run/secrets")
        .cloned()
        .expect("a mount at /run/secrets");
    assert_eq!(mount["RW"], false, "{mount}");
    let source = mount["Source"].as_str().unwrap().to_string();
    assert!(source.starts_with("/dev/shm/"), "{source}");

    // New versions reach the files within 10 s, and the service says so.
    aws_ok(&berth, "secretsmanager", &["put-secret-value", "--secret-id", "sf/db", "--secret-string", DB_V2]);
    let took = wait_file(port, "/run/secrets/db", DB_V2, Duration::from_secs(10)).await;
    eprintln!("Secrets Manager rotation reached the file in {took:?}");
    aws_ok(
        &berth,
        "ssm",
        &["put-parameter", "--name", "/sf/token", "--type", "SecureString", "--value", TOKEN_V2, "--overwrite"],
    );
    let took = wait_file(port, "/run/secrets/token", TOKEN_V2, Duration::from_secs(10)).await;
    eprintln!("SSM rotation reached the file in {took:?}");
    let events = berth_testkit::wait_for("the rotation events", Duration::from_secs(10), || async {
        let described = aws_ok(&berth, "ecs", &["describe-services", "--services", "sf-web"]);
        let events = described["services"][0]["events"].to_string();
        (events.contains("/run/secrets/db") && events.contains("/run/secrets/token")).then_some(events)
    })
    .await
    .unwrap();
    let task_id = task_arn.rsplit('/').next().unwrap();
    assert!(
        events.contains(&format!(
            "(service sf-web) (task {task_id}) delivered a new version of the secret file /run/secrets/db to container app."
        )),
        "{events}"
    );
    for value in [DB_V1, DB_V2, TOKEN_V1, TOKEN_V2] {
        assert!(!events.contains(value));
    }

    // Never restarted: the same container, the same start, still RUNNING.
    let now = describe(&client, &task_arn).await;
    assert_eq!(now.last_status.as_deref(), Some("RUNNING"));
    assert_eq!(now.started_at, started_at);
    let inspect =
        docker(&["inspect", "--format", "{{.Id}} {{.RestartCount}} {{.State.StartedAt}}", &container]).unwrap();
    assert!(inspect.starts_with(&container) && inspect.contains(" 0 "), "{inspect}");
    let inspect = docker(&["inspect", &container]).unwrap();
    for value in [DB_V2, TOKEN_V2] {
        assert!(!inspect.contains(value), "{value} in docker inspect");
    }
    // The values are in no log and no data dir (the files live on /dev/shm, outside them).
    for value in [DB_V1, DB_V2, TOKEN_V1, TOKEN_V2] {
        assert!(!berth.log().contains(value), "{value} in the server log");
    }

    // The files go with the task.
    aws_ok(&berth, "ecs", &["update-service", "--service", "sf-web", "--desired-count", "0"]);
    wait_status(&client, &task_arn, "STOPPED", Duration::from_secs(60)).await;
    let task_dir = std::path::Path::new(&source).ancestors().nth(2).unwrap().to_path_buf();
    berth_testkit::wait_for("the task's secret files to go", Duration::from_secs(30), || async {
        (!task_dir.exists()).then_some(())
    })
    .await
    .unwrap();
    if let Some(root) = task_dir.parent() {
        let _ = std::fs::remove_dir(root);
    }
}
