//! The registry through `berth up`'s single listener: the `aws ecr` CLI (SigV4 through the front door),
//! `docker login` with `get-login-password`, `docker push`, and a task whose image is only in Berth's registry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_testkit::docker;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn aws(berth: &berth_testkit::Berth, args: &[&str]) -> serde_json::Value {
    let stdout = aws_cli(berth, args);
    serde_json::from_str(&stdout).unwrap_or(serde_json::Value::String(stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_berth_and_run_a_task_from_it() {
    let (berth, client) = berth_up().await;
    let host = format!("127.0.0.1:{}", berth.port);
    let repo = format!("e2e-{}", &berth.account_id[..6]);
    let created = aws(&berth, &["ecr", "create-repository", "--repository-name", &repo]);
    assert_eq!(created["repository"]["repositoryUri"], format!("{host}/{repo}"));

    // An image with a layer of its own, so pulling it really downloads something.
    let context = berth.data_dir.path().join("image");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("marker.txt"), format!("built for {repo}\n")).unwrap();
    std::fs::write(context.join("Dockerfile"), "FROM berth-workload:latest\nCOPY marker.txt /marker.txt\n").unwrap();
    let image = format!("{host}/{repo}:v1");
    let build = Command::new("docker")
        .args(["build", "-q", "-t", &image])
        .arg(&context)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));

    // docker login with the token from get-login-password, as ECR users do.
    let password = aws(&berth, &["ecr", "get-login-password"]);
    let password = password.as_str().unwrap().trim().to_string();
    let mut login = Command::new("docker")
        .args(["login", "--username", "AWS", "--password-stdin", &host])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(login.stdin.as_mut().unwrap(), password.as_bytes()).unwrap();
    drop(login.stdin.take());
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    docker(&["push", &image]).unwrap();
    let _ = docker(&["logout", &host]);
    // The local copy goes: the agent must pull it, with its own credentials.
    docker(&["rmi", &image]).unwrap();

    let images = aws(&berth, &["ecr", "describe-images", "--repository-name", &repo]);
    assert_eq!(images["imageDetails"][0]["imageTags"][0], "v1");

    client
        .register_task_definition()
        .family("from-registry")
        .container_definitions(workload_container("app").image(&image).build())
        .send()
        .await
        .unwrap();
    let arn =
        client.run_task().task_definition("from-registry").send().await.unwrap().tasks()[0].task_arn.clone().unwrap();
    let task = wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let digest = images["imageDetails"][0]["imageDigest"].as_str().unwrap();
    assert_eq!(task.containers()[0].image_digest.as_deref(), Some(digest));
    wait_http_ok(&format!("http://127.0.0.1:{}/health", host_port(&task))).await;
    client.stop_task().task(&arn).send().await.unwrap();
    wait_status(&client, &arn, "STOPPED", Duration::from_secs(30)).await;
    let _ = docker(&["rmi", &image]);
}
