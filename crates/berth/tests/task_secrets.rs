//! Container `secrets` end to end: a Secrets Manager secret (whole, and one JSON key) and an SSM SecureString
//! created with the unchanged aws CLI reach a real container's environment on a real Docker Engine; DescribeTasks
//! and DescribeTaskDefinition show only `valueFrom`; a missing secret stops the task with ECS's
//! `ResourceInitializationError`; secrets without an execution role are refused as ECS refuses them; an execution
//! role without the permission, or whose trust policy does not let ECS tasks assume it, fails the task; another
//! instance's token cannot read the task's secrets; neither the server's log nor the agent's log and data dir hold a
//! value.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_testkit::Berth;
use common::{aws_err, aws_ok, describe, files_containing, wait_status};
use serde_json::{Value, json};
use std::time::Duration;

const PLAIN: &str = "stk-whole-secret-8d1f0b7e";
const PASSWORD: &str = "stk-json-password-2c9a41d3";
const TOKEN: &str = "stk-ssm-securestring-71e5a0c6";

/// Registers a one-container workload task definition with these secrets (and the execution role, if any).
fn register(berth: &Berth, family: &str, secrets: &[(&str, &str)], execution_role: Option<&str>) -> Value {
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let secrets: Vec<Value> = secrets.iter().map(|(n, v)| json!({"name": n, "valueFrom": v})).collect();
    let mut input = json!({
        "family": family,
        "containerDefinitions": [{
            "name": "app", "image": image, "memory": 64,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}],
            "environment": [{"name": "PLAIN_SECRET", "value": "from the environment, overridden"}],
            "secrets": secrets,
        }],
    });
    if let Some(role) = execution_role {
        input["executionRoleArn"] = json!(role);
    }
    aws_ok(berth, "ecs", &["register-task-definition", "--cli-input-json", &input.to_string()])
}

/// The trust policy of a task's role.
const TRUST_ECS_TASKS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
/// A policy reading every secret and parameter.
const READ_SECRETS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameters"],"Resource":"*"}]}"#;

/// Creates a role with this trust policy (and inline policy), with the aws CLI; its ARN.
fn create_execution_role(berth: &Berth, name: &str, trust: &str, policy: Option<&str>) -> String {
    let role = aws_ok(berth, "iam", &["create-role", "--role-name", name, "--assume-role-policy-document", trust]);
    if let Some(policy) = policy {
        aws_ok(
            berth,
            "iam",
            &["put-role-policy", "--role-name", name, "--policy-name", "secrets", "--policy-document", policy],
        );
    }
    role["Role"]["Arn"].as_str().expect("a role ARN").to_string()
}

fn run(berth: &Berth, family: &str) -> String {
    let out = aws_ok(berth, "ecs", &["run-task", "--task-definition", family]);
    out["tasks"][0]["taskArn"].as_str().expect("a task").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_the_containers_environment_and_nowhere_else() {
    berth_testkit::require_docker();
    let (berth, client) = common::server_with_one_agent().await;
    // The execution role: trusted by ECS tasks, allowed to read the secrets.
    let role = create_execution_role(&berth, "ecsTaskExecutionRole", TRUST_ECS_TASKS, Some(READ_SECRETS));

    let plain = aws_ok(&berth, "secretsmanager", &["create-secret", "--name", "stk/plain", "--secret-string", PLAIN]);
    let plain_arn = plain["ARN"].as_str().unwrap().to_string();
    let db = json!({"user": "admin", "password": PASSWORD}).to_string();
    let db = aws_ok(&berth, "secretsmanager", &["create-secret", "--name", "stk/db", "--secret-string", &db]);
    // The ARN without its random suffix, with the json-key selector, as ECS accepts it.
    let db_arn = db["ARN"].as_str().unwrap();
    let db_partial = &db_arn[..db_arn.len() - 7];
    aws_ok(&berth, "ssm", &["put-parameter", "--name", "/stk/token", "--type", "SecureString", "--value", TOKEN]);

    // ECS refuses secrets without an execution role.
    register(&berth, "stk-no-role", &[("A", "/stk/token")], None);
    let e = aws_err(&berth, "ecs", &["run-task", "--task-definition", "stk-no-role"]);
    assert!(
        e.contains("(ClientException)")
            && e.contains(
                "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."
            ),
        "{e}"
    );

    let secrets = [
        ("PLAIN_SECRET", plain_arn.clone()),
        ("DB_PASSWORD", format!("{db_partial}:password::")),
        ("API_TOKEN", "/stk/token".to_string()),
    ];
    let secrets: Vec<(&str, &str)> = secrets.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let registered = register(&berth, "stk-secrets", &secrets, Some(&role));
    let attributes = registered["taskDefinition"]["requiresAttributes"].to_string();
    for attribute in
        ["ecs.capability.secrets.asm.environment-variables", "ecs.capability.secrets.ssm.environment-variables"]
    {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    let task_arn = run(&berth, "stk-secrets");
    let task = wait_status(&client, &task_arn, "RUNNING", Duration::from_secs(90)).await;
    let port = common::host_port(&task);
    let body = common::wait_http_ok(&format!("http://127.0.0.1:{port}/")).await;
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["env"]["PLAIN_SECRET"], PLAIN, "{body}");
    assert_eq!(me["env"]["DB_PASSWORD"], PASSWORD, "{body}");
    assert_eq!(me["env"]["API_TOKEN"], TOKEN, "{body}");

    // The APIs show where the values come from, never the values.
    let described = aws_ok(&berth, "ecs", &["describe-tasks", "--tasks", &task_arn]).to_string();
    let definition = aws_ok(&berth, "ecs", &["describe-task-definition", "--task-definition", "stk-secrets"]);
    assert_eq!(definition["taskDefinition"]["containerDefinitions"][0]["secrets"][2]["valueFrom"], "/stk/token");
    for value in [PLAIN, PASSWORD, TOKEN] {
        assert!(!described.contains(value) && !definition.to_string().contains(value), "{value} in an ECS answer");
    }

    // A secret that does not exist stops its task before it starts, as ECS words it.
    let missing = format!("arn:aws:secretsmanager:us-east-1:{}:secret:stk/missing-AbCdEf", berth.account_id);
    register(&berth, "stk-missing", &[("GONE", &missing)], Some(&role));
    let failed = run(&berth, "stk-missing");
    let stopped = wait_status(&client, &failed, "STOPPED", Duration::from_secs(60)).await;
    let reason = stopped.stopped_reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: ")
            && reason.contains("ResourceNotFoundException"),
        "{reason}"
    );
    assert_eq!(stopped.stop_code.as_ref().map(|c| c.as_str()), Some("TaskFailedToStart"));
    assert!(stopped.containers().iter().all(|c| c.runtime_id.is_none()), "no container was created: {stopped:?}");

    // The execution role decides: one whose policies do not allow the read fails the task with IAM's denial, one
    // whose trust policy does not let ECS tasks assume it with ECS's "unable to assume the role".
    let no_read = create_execution_role(&berth, "stkNoRead", TRUST_ECS_TASKS, None);
    let untrusted = create_execution_role(
        &berth,
        "stkUntrusted",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        Some(READ_SECRETS),
    );
    for (family, role, expected) in [
        ("stk-no-read", &no_read, "is not authorized to perform: ssm:GetParameters on resource: "),
        ("stk-untrusted", &untrusted, "ECS was unable to assume the role"),
    ] {
        register(&berth, family, &[("A", "/stk/token")], Some(role));
        let failed = run(&berth, family);
        let stopped = wait_status(&client, &failed, "STOPPED", Duration::from_secs(60)).await;
        let reason = stopped.stopped_reason.clone().unwrap_or_default();
        assert!(
            reason.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: ")
                && reason.contains(expected),
            "{family}: {reason}"
        );
        assert!(!reason.contains(TOKEN));
    }

    // Another instance's token cannot read the running task's secrets; the real agent's task is still RUNNING.
    let base = format!("{}/agent/v1/", berth.url());
    let (_, other) =
        common::register_pretend_agent(&base, &berth.join_token().unwrap(), "stk-other", "1.0.0", false).await;
    let ask = json!({"taskArn": task_arn, "secrets": [
        {"containerName": "app", "name": "PLAIN_SECRET"},
        {"containerName": "app", "name": "DB_PASSWORD"},
        {"containerName": "app", "name": "API_TOKEN"},
    ]});
    let (status, answer) = common::post_bearer(&format!("{base}secrets"), &other, &[], &ask).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.to_string().contains("not placed on this container instance"), "{answer}");
    let (status, answer) = common::post_bearer(&format!("{base}secrets"), "not-a-token", &[], &ask).await;
    assert_eq!(status, 403, "{answer}");
    // Asking for fewer names than the task lists is refused too (with the pretend agent's token it is not even
    // looked at: the task is not its).
    let (status, answer) = common::post_bearer(
        &format!("{base}secrets"),
        &other,
        &[],
        &json!({"taskArn": task_arn, "secrets": [{"containerName": "app", "name": "API_TOKEN"}]}),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    for value in [PLAIN, PASSWORD, TOKEN] {
        assert!(!answer.to_string().contains(value));
    }
    assert_eq!(describe(&client, &task_arn).await.last_status.as_deref(), Some("RUNNING"));

    // No value in the server's log and data dir, nor in the agent's log and data dir.
    for value in [PLAIN, PASSWORD, TOKEN] {
        assert!(!berth.log().contains(value), "{value} in the server log");
        let found = files_containing(berth.data_dir.path(), value);
        assert!(found.is_empty(), "{value} in {found:?}");
    }
    aws_ok(&berth, "ecs", &["stop-task", "--task", &task_arn]);
}
