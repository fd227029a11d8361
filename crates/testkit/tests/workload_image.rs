//! The workload image against the real Docker Engine: it builds, serves `/` and `/health`, flips health, exits with
//! a chosen code, and stops promptly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // timings against real processes need the real clock

use std::time::{Duration, Instant};

use berth_testkit::{Container, docker, http_get, require_docker, wait_for_blocking, workload_image};

#[test]
fn workload_image_serves_and_exits_with_codes() {
    require_docker();
    let image = workload_image().unwrap();
    assert!(image.starts_with("berth-workload:"), "{image}");
    // Memoized: the second call is free and identical.
    assert_eq!(workload_image().unwrap(), image);
    let latest = docker(&["image", "inspect", "--format", "{{.Id}}", "berth-workload:latest"]).unwrap();
    assert_eq!(latest, docker(&["image", "inspect", "--format", "{{.Id}}", &image]).unwrap());

    let c = Container::run(&[
        "-p",
        "127.0.0.1:0:8080",
        "-e",
        "GREETING=hello \"world\"",
        "--label",
        "berth.test=1",
        &image,
    ])
    .unwrap();
    let port = c.host_port("8080/tcp").unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let (status, body) =
        wait_for_blocking("the workload to answer", Duration::from_secs(20), || http_get(&format!("{base}/")).ok())
            .unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["env"]["GREETING"], "hello \"world\"");
    assert_eq!(doc["pid"], 1);
    assert_eq!(doc["args"][0], "/berth-workload");
    assert_eq!(doc["hostname"].as_str().unwrap().len(), 12);

    assert_eq!(http_get(&format!("{base}/health")).unwrap(), (200, "ok\n".to_string()));
    assert_eq!(http_get(&format!("{base}/sick")).unwrap().0, 200);
    assert_eq!(http_get(&format!("{base}/health")).unwrap().0, 503);
    assert_eq!(http_get(&format!("{base}/stdout?line=hello+logs")).unwrap().0, 200);

    // SIGTERM is handled even as PID 1: `docker stop` returns long before its 10 s timeout, with exit code 0.
    let started = Instant::now();
    docker(&["stop", "-t", "10", &c.id]).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "stop took {:?}", started.elapsed());
    assert_eq!(c.inspect("{{.State.ExitCode}}").unwrap(), "0");
    let logs = c.logs().unwrap();
    assert!(logs.contains("hello logs"), "{logs}");
    assert!(logs.contains("received SIGTERM"), "{logs}");
}

#[test]
fn workload_exit_subcommand_sets_the_exit_code() {
    require_docker();
    let image = workload_image().unwrap();
    let name = format!("berth-testkit-exit-{}", std::process::id());
    let _guard = Container::adopt(name.clone());
    let status = std::process::Command::new("docker").args(["run", "--name", &name, &image, "exit", "3"]).status();
    assert_eq!(status.unwrap().code(), Some(3));
    let c = Container::adopt(name);
    assert_eq!(c.inspect("{{.State.ExitCode}}").unwrap(), "3");
}

#[test]
fn workload_exit_endpoint_and_healthcheck_subcommand() {
    require_docker();
    let image = workload_image().unwrap();
    let c = Container::run(&["-p", "127.0.0.1:0:8080", &image]).unwrap();
    let port = c.host_port("8080/tcp").unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_for_blocking("the workload to answer", Duration::from_secs(20), || http_get(&format!("{base}/health")).ok())
        .unwrap();
    // The healthcheck subcommand runs inside the container (no shell there), as a task's healthCheck would.
    let ok = std::process::Command::new("docker")
        .args(["exec", &c.id, "/berth-workload", "healthcheck", "http://127.0.0.1:8080/health"])
        .status()
        .unwrap();
    assert!(ok.success());
    http_get(&format!("{base}/sick")).unwrap();
    let sick = std::process::Command::new("docker").args(["exec", &c.id, "/berth-workload", "healthcheck"]).status();
    assert_eq!(sick.unwrap().code(), Some(1));

    assert_eq!(http_get(&format!("{base}/exit?code=42")).unwrap().0, 200);
    let code = wait_for_blocking("the container to exit", Duration::from_secs(20), || {
        let running = c.inspect("{{.State.Running}}").ok()?;
        (running == "false").then(|| c.inspect("{{.State.ExitCode}}").ok()).flatten()
    })
    .unwrap();
    assert_eq!(code, "42");
}
