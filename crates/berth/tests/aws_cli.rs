//! The README's flow with the unchanged `aws` CLI (from PyPI), waiters included, using the `export` line that
//! `berth up` prints.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::*;
use std::process::Command;

/// Runs `aws <args>` with the environment from the export line; returns stdout parsed as JSON (or Null).
fn aws(env: &[(String, String)], args: &[&str]) -> serde_json::Value {
    let output = Command::new("aws")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .output()
        .expect("the aws CLI is installed (pip install awscli); these tests need it");
    assert!(
        output.status.success(),
        "aws {} failed: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

/// Parses `export A=1 B=2` into pairs.
fn parse_export(log: &str) -> Vec<(String, String)> {
    let line =
        log.lines().find(|l| l.starts_with("export AWS_ENDPOINT_URL=")).expect("berth up prints the export line");
    line.trim_start_matches("export ")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_flow_with_the_aws_cli() {
    let (berth, _client) = berth_up().await;
    // Written to a file, the log is plain text: no colour codes (they are for terminals).
    assert!(!berth.log().contains('\u{1b}'), "the log carries ANSI escape codes:\n{}", berth.log());
    let env = parse_export(&berth.log());
    assert_eq!(
        env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"]
    );
    let dir = berth.data_dir.path();
    let web = serde_json::json!({
        "family": "web",
        "containerDefinitions": [{
            "name": "app",
            "image": "berth-workload:latest",
            "memory": 64,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}],
            "environment": [{"name": "FROM", "value": "aws-cli"}]
        }]
    });
    std::fs::write(dir.join("web.json"), web.to_string()).unwrap();
    let input = format!("file://{}", dir.join("web.json").display());

    let registered = aws(&env, &["ecs", "register-task-definition", "--cli-input-json", &input]);
    assert_eq!(registered["taskDefinition"]["revision"], 1);
    let run = aws(&env, &["ecs", "run-task", "--task-definition", "web", "--count", "2"]);
    let arns: Vec<String> =
        run["tasks"].as_array().unwrap().iter().map(|t| t["taskArn"].as_str().unwrap().to_string()).collect();
    assert_eq!(arns.len(), 2, "{run}");

    let mut wait = vec!["ecs", "wait", "tasks-running", "--tasks"];
    wait.extend(arns.iter().map(String::as_str));
    aws(&env, &wait);

    let mut describe = vec!["ecs", "describe-tasks", "--tasks"];
    describe.extend(arns.iter().map(String::as_str));
    let described = aws(&env, &describe);
    for task in described["tasks"].as_array().unwrap() {
        assert_eq!(task["lastStatus"], "RUNNING");
        let port = task["containers"][0]["networkBindings"][0]["hostPort"].as_u64().unwrap();
        let body = wait_http_ok(&format!("http://127.0.0.1:{port}/")).await;
        assert!(body.contains("\"FROM\":\"aws-cli\""), "{body}");
    }

    aws(&env, &["ecs", "stop-task", "--task", &arns[0], "--reason", "done"]);
    aws(&env, &["ecs", "wait", "tasks-stopped", "--tasks", &arns[0]]);
    let stopped = aws(&env, &["ecs", "describe-tasks", "--tasks", &arns[0]]);
    assert_eq!(stopped["tasks"][0]["lastStatus"], "STOPPED");
    assert_eq!(stopped["tasks"][0]["stoppedReason"], "done");
    assert_eq!(stopped["tasks"][0]["containers"][0]["exitCode"], 0);

    let clusters = aws(&env, &["ecs", "describe-clusters", "--include", "STATISTICS", "SETTINGS"]);
    assert_eq!(clusters["clusters"][0]["runningTasksCount"], 1);
    assert!(clusters["clusters"][0]["statistics"].as_array().is_some_and(|s| !s.is_empty()));

    // The CLI's own pagination (--page-size) walks nextToken.
    let listed = aws(&env, &["ecs", "list-tasks", "--desired-status", "RUNNING", "--page-size", "1"]);
    assert_eq!(listed["taskArns"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_stable_waiter_with_the_aws_cli() {
    let (berth, _client) = berth_up().await;
    let env = parse_export(&berth.log());
    let td = serde_json::json!([{"name": "app", "image": "berth-workload:latest", "memory": 32, "portMappings": [{"containerPort": 8080}]}]);
    aws(&env, &["ecs", "register-task-definition", "--family", "svc", "--container-definitions", &td.to_string()]);
    aws(&env, &["ecs", "register-task-definition", "--family", "svc", "--container-definitions", &td.to_string()]);
    let created = aws(
        &env,
        &["ecs", "create-service", "--service-name", "svc", "--task-definition", "svc:1", "--desired-count", "2"],
    );
    assert_eq!(created["service"]["status"], "ACTIVE");
    aws(&env, &["ecs", "wait", "services-stable", "--services", "svc"]);
    aws(&env, &["ecs", "update-service", "--service", "svc", "--task-definition", "svc:2"]);
    aws(&env, &["ecs", "wait", "services-stable", "--services", "svc"]);
    let described = aws(&env, &["ecs", "describe-services", "--services", "svc"]);
    let service = &described["services"][0];
    assert_eq!(service["runningCount"], 2);
    assert!(service["taskDefinition"].as_str().unwrap().ends_with("svc:2"));
    assert_eq!(service["deployments"].as_array().unwrap().len(), 1);
    let listed = aws(&env, &["ecs", "list-services"]);
    assert_eq!(listed["serviceArns"].as_array().unwrap().len(), 1);
}
