//! `repositoryCredentials` end to end: a private registry on loopback that requires a password (Debian's
//! `docker-registry`, htpasswd auth) holds an image the local Docker Engine does not have under that name; a task
//! whose container names a Secrets Manager secret with the right `username`/`password` pulls it and runs, one whose
//! secret has a wrong password stops with `CannotPullContainerError`, one whose execution role may not read the
//! secret stops with ECS's `ResourceInitializationError`, and one without an execution role is refused at RunTask.
//! The password reaches no ECS answer, log or data dir.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; wall-clock waits

mod common;

use berth_testkit::Berth;
use common::{aws_err, aws_ok, files_containing, wait_status};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "rc-puller";
/// The registry's password; its bcrypt hash is [`HASH`] (made once with Python's `crypt`, `METHOD_BLOWFISH`).
const PASSWORD: &str = "berth-registry-pw-5b1e";
const HASH: &str = "$2b$12$Er46n9AlpAUdaSDNYNmFnO/qs/TJ/xZWQbRDRmR95Rfpy/CX1uUSq";
const WRONG: &str = "rc-wrong-password-0d4c";

/// A `docker-registry` serving on a loopback port with htpasswd auth; stopped when dropped.
struct Registry {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry() -> Registry {
    let dir = tempfile::Builder::new().prefix("berth-rc-registry-").tempdir().unwrap();
    let port = berth_testkit::free_port();
    std::fs::write(dir.path().join("htpasswd"), format!("{USER}:{HASH}\n")).unwrap();
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: \
         127.0.0.1:{port}\n  secret: berth-rc-test\nauth:\n  htpasswd:\n    realm: berth-rc\n    path: {htpasswd}\n",
        root = dir.path().join("data").display(),
        htpasswd = dir.path().join("htpasswd").display(),
    );
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("Debian's docker-registry runs (tools/test installs it)");
    let registry = Registry { child, address: format!("127.0.0.1:{port}"), _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "docker-registry did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    registry
}

/// Copies the local image `from` into the registry as `to` with skopeo (the engine never has `to`).
fn push(from: &str, to: &str) {
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", &format!("{USER}:{PASSWORD}")])
        .arg(format!("docker-daemon:{from}"))
        .arg(format!("docker://{to}"))
        .output()
        .expect("skopeo runs");
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    let _ = berth_testkit::docker::docker(&["image", "rm", to]);
}

const TRUST_ECS_TASKS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const READ_SECRETS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;

fn create_role(berth: &Berth, name: &str, policy: Option<&str>) -> String {
    let role =
        aws_ok(berth, "iam", &["create-role", "--role-name", name, "--assume-role-policy-document", TRUST_ECS_TASKS]);
    if let Some(policy) = policy {
        aws_ok(
            berth,
            "iam",
            &["put-role-policy", "--role-name", name, "--policy-name", "pull", "--policy-document", policy],
        );
    }
    role["Role"]["Arn"].as_str().unwrap().to_string()
}

fn register(berth: &Berth, family: &str, image: &str, credentials: &str, role: Option<&str>) -> Value {
    let mut input = json!({
        "family": family,
        "containerDefinitions": [{
            "name": "app", "image": image, "memory": 64,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}],
            "repositoryCredentials": {"credentialsParameter": credentials},
        }],
    });
    if let Some(role) = role {
        input["executionRoleArn"] = json!(role);
    }
    aws_ok(berth, "ecs", &["register-task-definition", "--cli-input-json", &input.to_string()])
}

fn run(berth: &Berth, family: &str) -> String {
    let out = aws_ok(berth, "ecs", &["run-task", "--task-definition", family]);
    out["tasks"][0]["taskArn"].as_str().expect("a task").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_registry_image_is_pulled_with_the_secret_credentials() {
    berth_testkit::require_docker();
    let workload = berth_testkit::workload_image().expect("the workload image builds");
    let registry = start_registry();
    let (berth, client) = common::server_with_one_agent().await;

    // Two names for the workload image in the private registry, neither known to the local engine (a pull that
    // fails would otherwise fall back to a cached image).
    let good_image = format!("{}/berth-rc/app:{}", registry.address, berth.account_id);
    let wrong_image = format!("{}/berth-rc/other:{}", registry.address, berth.account_id);
    push(&workload, &good_image);
    push(&workload, &wrong_image);
    assert!(berth_testkit::docker::docker(&["image", "inspect", &good_image]).is_err(), "the engine has no copy");

    let good = json!({"username": USER, "password": PASSWORD}).to_string();
    let good = aws_ok(&berth, "secretsmanager", &["create-secret", "--name", "rc/registry", "--secret-string", &good]);
    let good_arn = good["ARN"].as_str().unwrap().to_string();
    let wrong = json!({"username": USER, "password": WRONG}).to_string();
    aws_ok(&berth, "secretsmanager", &["create-secret", "--name", "rc/wrong", "--secret-string", &wrong]);
    let role = create_role(&berth, "rcExecutionRole", Some(READ_SECRETS));
    let no_read = create_role(&berth, "rcNoRead", None);

    // Without an execution role, RunTask refuses.
    register(&berth, "rc-no-role", &good_image, &good_arn, None);
    let e = aws_err(&berth, "ecs", &["run-task", "--task-definition", "rc-no-role"]);
    assert!(
        e.contains("(ClientException)")
            && e.contains(
                "When you are specifying repositoryCredentials, you must also specify a value for 'executionRoleArn'."
            ),
        "{e}"
    );

    // The right credentials (the secret by ARN): the image is pulled and the task serves.
    let registered = register(&berth, "rc-good", &good_image, &good_arn, Some(&role));
    let attributes = registered["taskDefinition"]["requiresAttributes"].to_string();
    assert!(attributes.contains("ecs.capability.private-registry-authentication.secretsmanager"), "{attributes}");
    let task_arn = run(&berth, "rc-good");
    let task = wait_status(&client, &task_arn, "RUNNING", Duration::from_secs(90)).await;
    let body = common::wait_http_ok(&format!("http://127.0.0.1:{}/", common::host_port(&task))).await;
    assert!(body.contains("\"env\""), "{body}");
    assert!(berth_testkit::docker::docker(&["image", "inspect", &good_image]).is_ok(), "pulled under its name");

    // A wrong password (the secret by name): the pull fails, and so does the task, before any container exists.
    register(&berth, "rc-wrong", &wrong_image, "rc/wrong", Some(&role));
    let failed = run(&berth, "rc-wrong");
    let stopped = wait_status(&client, &failed, "STOPPED", Duration::from_secs(90)).await;
    let reason = stopped.stopped_reason.clone().unwrap_or_default();
    assert!(reason.starts_with("CannotPullContainerError: "), "{reason}");
    assert_eq!(stopped.stop_code.as_ref().map(|c| c.as_str()), Some("TaskFailedToStart"));
    assert!(stopped.containers().iter().all(|c| c.runtime_id.is_none()), "{stopped:?}");
    assert!(berth_testkit::docker::docker(&["image", "inspect", &wrong_image]).is_err());

    // An execution role that may not read the secret: ECS's ResourceInitializationError, nothing pulled.
    register(&berth, "rc-no-read", &wrong_image, &good_arn, Some(&no_read));
    let failed = run(&berth, "rc-no-read");
    let stopped = wait_status(&client, &failed, "STOPPED", Duration::from_secs(90)).await;
    let reason = stopped.stopped_reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: ")
            && reason.contains("is not authorized to perform: secretsmanager:GetSecretValue"),
        "{reason}"
    );

    // The APIs show the secret's ARN, never the password; no log or data dir holds it.
    let described = aws_ok(&berth, "ecs", &["describe-tasks", "--tasks", &task_arn]).to_string();
    let definition = aws_ok(&berth, "ecs", &["describe-task-definition", "--task-definition", "rc-good"]);
    assert_eq!(
        definition["taskDefinition"]["containerDefinitions"][0]["repositoryCredentials"]["credentialsParameter"],
        json!(good_arn)
    );
    for secret in [PASSWORD, WRONG] {
        assert!(!described.contains(secret) && !definition.to_string().contains(secret));
        assert!(!berth.log().contains(secret), "{secret} in the server log");
        let found = files_containing(berth.data_dir.path(), secret);
        assert!(found.is_empty(), "{secret} in {found:?}");
    }
    aws_ok(&berth, "ecs", &["stop-task", "--task", &task_arn]);
    wait_status(&client, &task_arn, "STOPPED", Duration::from_secs(60)).await;
    drop(berth);
    let _ = berth_testkit::docker::docker(&["image", "rm", &good_image]);
    drop(registry);
}
