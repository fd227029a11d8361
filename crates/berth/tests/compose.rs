//! `berth compose` on a real Berth and Docker: a web app and a worker built from local sources (pushed to Berth's
//! registry) and a key-value store the web app waits for until healthy; `up` brings them to RUNNING in dependency
//! order and the web port answers with the environment the file gave it, `ps` lists them, `down` removes them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use berth_testkit::{Berth, docker, free_port, http_get};
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `berth compose ARGS` in `dir` as a user runs it; (exit code, stdout, stderr).
fn compose(berth: &Berth, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = with_user_env(Command::new(env!("CARGO_BIN_EXE_berth")).arg("compose").args(args), berth)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("berth compose runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_up_ps_and_down_a_web_app_a_worker_and_a_store() {
    let (berth, client) = berth_up().await;
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let port = free_port();
    let dir = berth.data_dir.path().join("shop");
    write(&dir.join("web/Dockerfile"), &format!("FROM {image}\nENV ROLE=web\n"));
    write(&dir.join("web/.dockerignore"), "junk\n");
    write(&dir.join("web/junk/big.bin"), "left out of the context");
    write(&dir.join("worker/Dockerfile"), &format!("FROM {image}\nARG ROLE\nENV ROLE=$ROLE\n"));
    write(&dir.join("web.env"), "FROM_FILE=yes\nGREETING=overridden\n");
    write(&dir.join("db_password.txt"), "s3cret");
    // The execution role that reads the web app's secret, as a user would make it.
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let read = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameters"],"Resource":"*"}]}"#;
    let role =
        aws_ok(&berth, "iam", &["create-role", "--role-name", "composeExec", "--assume-role-policy-document", trust]);
    let role = role["Role"]["Arn"].as_str().unwrap().to_string();
    aws_ok(
        &berth,
        "iam",
        &["put-role-policy", "--role-name", "composeExec", "--policy-name", "read", "--policy-document", read],
    );
    let file = format!(
        r#"
name: shop
services:
  web:
    build: ./web
    ports: ["{port}:8080"]
    environment: [GREETING=hello]
    env_file: web.env
    depends_on:
      kv: {{condition: service_healthy}}
    deploy: {{resources: {{limits: {{memory: 64m}}}}}}
    secrets: [db_password]
    configs: [{{source: settings, target: /etc/web/settings.ini}}]
  worker:
    build: {{context: ./worker, args: {{ROLE: worker}}}}
    depends_on: [kv]
    container_name: the-worker
    deploy: {{replicas: 2, resources: {{reservations: {{memory: 32m}}}}}}
  kv:
    image: "{image}"
    command: serve
    environment: [ROLE=kv]
    healthcheck:
      test: ["CMD", "/berth-workload", "healthcheck"]
      interval: 5s
      timeout: 2s
      retries: 2
    mem_limit: 64m
    volumes: ["data:/data"]
volumes:
  data: {{}}
secrets:
  db_password: {{file: ./db_password.txt}}
configs:
  settings: {{content: "mode=compose"}}
"#
    );
    write(&dir.join("compose.yaml"), &file);

    let (code, stdout, stderr) = compose(&berth, &dir, &["up", "--timeout", "75s", "--execution-role-arn", &role]);
    assert_eq!(code, 0, "compose up failed:\n{stdout}\n{stderr}\n{}", berth.log());
    eprintln!("compose up:\n{stdout}{stderr}");
    assert!(
        stderr.contains("warning: services.worker.container_name is not supported by Berth and is ignored"),
        "{stderr}"
    );
    let kv_healthy = stdout.find("kv: running 1/1, healthy 1/1").unwrap_or_else(|| panic!("{stdout}"));
    let web_created = stdout.find("web: created shop-web").unwrap_or_else(|| panic!("{stdout}"));
    assert!(kv_healthy < web_created, "web is created only once kv is healthy:\n{stdout}");
    assert!(stdout.contains("worker: running 2/2"), "{stdout}");

    let described = client.describe_services().services("shop-web").services("shop-worker").services("shop-kv");
    let described = described.send().await.unwrap();
    for service in described.services() {
        let name = service.service_name().unwrap();
        let desired = if name == "shop-worker" { 2 } else { 1 };
        assert_eq!((service.status(), service.running_count()), (Some("ACTIVE"), desired), "{name}");
    }
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/")).unwrap();
    assert_eq!(status, 200, "{body}");
    for expected in ["\"ROLE\":\"web\"", "\"GREETING\":\"hello\"", "\"FROM_FILE\":\"yes\""] {
        assert!(body.replace(' ', "").contains(expected), "{expected} in {body}");
    }

    // The services reach each other by their compose names: `kv` is found through the project's namespace (the
    // tasks' search domain) at the kv task's own address, and answers there on its container port.
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/resolve?name=kv")).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("# kv.shop.compose.internal. via") || body.contains("# kv.shop.compose.internal via"),
        "{body}"
    );
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/fetch?url=http://kv:8080/")).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.replace(' ', "").contains("\"ROLE\":\"kv\""), "web reached kv by its name: {body}");

    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/file?path=/run/secrets/db_password")).unwrap();
    assert_eq!((status, body.trim_end()), (200, "s3cret"), "the secret is a file");
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/file?path=/etc/web/settings.ini")).unwrap();
    assert_eq!((status, body.trim_end()), (200, "mode=compose"), "the config is a file");

    // `up` again: new revisions, the web app (on a fixed host port) replaced in place.
    let (code, stdout, stderr) = compose(&berth, &dir, &["up", "--timeout", "60s", "--execution-role-arn", &role]);
    assert_eq!(code, 0, "compose up again failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("web: updated shop-web to revision 2"), "{stdout}");
    let (status, _) = http_get(&format!("http://127.0.0.1:{port}/health")).unwrap();
    assert_eq!(status, 200);

    // The web app's output reaches `compose logs` through the awslogs driver Berth gives every service.
    let (status, _) = http_get(&format!("http://127.0.0.1:{port}/stdout?line=hello-from-web")).unwrap();
    assert_eq!(status, 200);
    let logged = berth_testkit::wait_for_blocking("compose logs to show the line", Duration::from_secs(30), || {
        let (code, stdout, stderr) = compose(&berth, &dir, &["logs", "web"]);
        assert_eq!(code, 0, "{stderr}");
        stdout.contains("hello-from-web").then_some(stdout)
    });
    assert!(logged.is_ok(), "{logged:?}");

    let (code, stdout, stderr) = compose(&berth, &dir, &["ps"]);
    assert_eq!(code, 0, "{stderr}");
    eprintln!("compose ps:\n{stdout}");
    assert!(stdout.contains("HEALTHY"), "{stdout}");
    assert!(stdout.contains(&format!(":{port}->8080/tcp")), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("shop-worker")).count(), 2, "{stdout}");

    let (code, stdout, stderr) = compose(&berth, &dir, &["down", "--volumes"]);
    assert_eq!(code, 0, "compose down failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("docker volume rm shop_data"), "{stdout}");
    let after = client.describe_services().services("shop-web").services("shop-kv").send().await.unwrap();
    assert!(after.services().iter().all(|s| s.status() != Some("ACTIVE")), "{after:?}");
    let families = client.list_task_definitions().family_prefix("shop-").send().await.unwrap();
    assert!(families.task_definition_arns().is_empty(), "{families:?}");
    assert!(http_get(&format!("http://127.0.0.1:{port}/")).is_err(), "the web port is closed");
    assert!(stdout.contains("secrets.db_password: deleted compose/shop/db_password"), "{stdout}");
    assert!(stdout.contains("configs.settings: deleted /compose/shop/settings"), "{stdout}");
    assert!(!stderr.contains("not removed"), "{stderr}");
    let namespaces = aws_ok(&berth, "servicediscovery", &["list-namespaces"]);
    assert!(!namespaces.to_string().contains("shop.compose.internal"), "the namespace is gone: {namespaces}");
    let groups = aws_ok(&berth, "ec2", &["describe-security-groups"]);
    assert!(!groups.to_string().contains("shop_"), "the project's security groups are gone: {groups}");

    // A service whose task exits fails `up` with the task's stopped reason and exit code.
    write(
        &dir.join("broken.yaml"),
        &format!("services:\n  app:\n    image: \"{image}\"\n    command: [exit, \"3\"]\n    mem_limit: 32m\n"),
    );
    let (code, stdout, stderr) =
        compose(&berth, &dir, &["up", "-f", "broken.yaml", "-p", "broken", "--timeout", "40s"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("app failed to start: task ") && stderr.contains("(exit code 3)"), "{stderr}");
    let (code, _, stderr) = compose(&berth, &dir, &["down", "-f", "broken.yaml", "-p", "broken"]);
    assert_eq!(code, 0, "{stderr}");

    // Clean-up: the volume once Berth (and with it the tasks' containers) is gone, and the images pushed.
    let prefix = format!("127.0.0.1:{}/shop-", berth.port);
    drop(berth);
    let _ = docker(&["volume", "rm", "shop_data"]);
    let images = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).unwrap_or_default();
    for image in images.lines().filter(|i| i.starts_with(&prefix)) {
        let _ = docker(&["rmi", image]);
    }
}
