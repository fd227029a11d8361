//! The agent's Docker runtime (`berth_agent::runtime::DockerRuntime`) against the real engine, with the workload
//! image: negotiation, pulls, dynamic ports, health checks, stop timeouts, events and label filters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // timings against real processes need the real clock

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_agent::runtime::{
    ContainerRuntime, ContainerSpec, ContainerStatus, DockerRuntime, EventKind, EventStream, HealthCheck, HealthStatus,
    PortMapping, Protocol, RuntimeError, RuntimeEvent,
};
use berth_testkit::{Container, http_get, require_docker, wait_for, workload_image};
use futures::StreamExt;

const TEST_LABEL: &str = "org.berth.test";

async fn setup() -> (DockerRuntime, String) {
    require_docker();
    let image = tokio::task::spawn_blocking(workload_image).await.unwrap().unwrap();
    (DockerRuntime::connect().await.unwrap(), image)
}

/// A unique name for this process and test.
fn name(tag: &str) -> String {
    format!("berth-rt-{}-{tag}", std::process::id())
}

fn workload_spec(name: &str, image: &str) -> ContainerSpec {
    let mut spec = ContainerSpec::new(name, image);
    spec.labels = BTreeMap::from([(TEST_LABEL.to_string(), name.to_string())]);
    spec.ports = vec![PortMapping {
        container_port: 8080,
        protocol: Protocol::Tcp,
        host_port: 0,
        host_ip: Some("127.0.0.1".to_string()),
    }];
    spec
}

/// Creates and starts `spec`; the returned guard removes the container when dropped.
async fn run(rt: &DockerRuntime, spec: &ContainerSpec) -> (String, Container) {
    let id = rt.create_container(spec).await.unwrap();
    let guard = Container::adopt(id.clone());
    rt.start_container(&id).await.unwrap();
    (id, guard)
}

/// The next event of container `id` matching `want`, within `timeout`.
async fn next_event(
    events: &mut EventStream,
    id: &str,
    timeout: Duration,
    want: impl Fn(&EventKind) -> bool,
) -> RuntimeEvent {
    tokio::time::timeout(timeout, async {
        loop {
            let event = events.next().await.expect("the event stream ended").unwrap();
            if event.container_id == id && want(&event.kind) {
                return event;
            }
        }
    })
    .await
    .expect("no such event in time")
}

#[tokio::test]
async fn info_reports_the_engine_after_negotiation() {
    let (rt, _) = setup().await;
    let info = rt.info().await.unwrap();
    assert!(info.cpus >= 1 && info.memory_bytes > 0, "{info:?}");
    assert_eq!(info.os, "linux");
    assert!(!info.engine_version.is_empty() && !info.hostname.is_empty());
    // bollard speaks 1.49 unless lowered; the engine's own version is the ceiling.
    let api: Vec<u32> = info.api_version.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(api[0] == 1 && api[1] >= 24 && api[1] <= 49, "{info:?}");
}

#[tokio::test]
async fn pull_of_a_missing_image_fails_and_inspect_finds_nothing() {
    let (rt, image) = setup().await;
    let missing = "berth-no-such-image-for-tests:1";
    let started = Instant::now();
    let err = rt.pull_image(missing, None).await.unwrap_err();
    eprintln!("pull failed after {:?}: {err}", started.elapsed());
    assert!(matches!(err, RuntimeError::NotFound { .. } | RuntimeError::Engine { .. }), "{err:?}");
    assert!(err.to_string().contains(missing));
    assert_eq!(rt.inspect_image(missing).await.unwrap(), None);
    let local = rt.inspect_image(&image).await.unwrap().unwrap();
    assert!(local.id.starts_with("sha256:"));
    assert!(local.repo_tags.contains(&image), "{local:?}");
}

#[tokio::test]
async fn create_start_publishes_a_dynamic_port_that_answers() {
    let (rt, image) = setup().await;
    let name = name("web");
    let mut spec = workload_spec(&name, &image);
    spec.env = vec![("GREETING".to_string(), "hello from berth".to_string())];
    spec.cpu_units = 128;
    spec.memory_limit_bytes = Some(64 << 20);
    let started = Instant::now();
    let (id, _guard) = run(&rt, &spec).await;
    eprintln!("create+start took {:?}", started.elapsed());

    let state = rt.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!(
        (state.status.clone(), state.running, state.name.as_str()),
        (ContainerStatus::Running, true, name.as_str())
    );
    assert_eq!(state.labels[TEST_LABEL], name);
    assert!(state.started_at.unwrap() > 1.6e9 && state.pid.is_some() && state.health.is_none(), "{state:?}");
    let binding = state.ports.iter().find(|p| p.container_port == 8080).expect("8080 published");
    assert_eq!((binding.host_ip.as_str(), binding.protocol), ("127.0.0.1", Protocol::Tcp));
    assert_ne!(binding.host_port, 0);

    let url = format!("http://127.0.0.1:{}/", binding.host_port);
    let (status, body) = wait_for("the workload to answer", Duration::from_secs(20), || {
        let url = url.clone();
        async move { tokio::task::spawn_blocking(move || http_get(&url).ok()).await.ok().flatten() }
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"GREETING\":\"hello from berth\""), "{body}");

    rt.remove_container(&id).await.unwrap();
    assert_eq!(rt.inspect_container(&id).await.unwrap(), None);
    assert!(rt.remove_container(&id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn health_check_turns_healthy_then_unhealthy() {
    let (rt, image) = setup().await;
    let mut events = rt.events().await.unwrap();
    let mut spec = workload_spec(&name("health"), &image);
    spec.health_check = Some(HealthCheck {
        test: ["CMD", "/berth-workload", "healthcheck", "http://127.0.0.1:8080/health"].map(String::from).to_vec(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        retries: 1,
        start_period: Duration::ZERO,
    });
    let (id, _guard) = run(&rt, &spec).await;
    let first = rt.inspect_container(&id).await.unwrap().unwrap().health;
    assert!(matches!(first, Some(HealthStatus::Starting | HealthStatus::Healthy)), "{first:?}");
    let healthy =
        next_event(&mut events, &id, Duration::from_secs(20), |k| *k == EventKind::Health(HealthStatus::Healthy));
    let healthy = healthy.await;
    assert_eq!(healthy.labels[TEST_LABEL], spec.name);
    assert_eq!(rt.inspect_container(&id).await.unwrap().unwrap().health, Some(HealthStatus::Healthy));

    let port = rt.inspect_container(&id).await.unwrap().unwrap().ports[0].host_port;
    tokio::task::spawn_blocking(move || http_get(&format!("http://127.0.0.1:{port}/sick")).unwrap()).await.unwrap();
    next_event(&mut events, &id, Duration::from_secs(20), |k| *k == EventKind::Health(HealthStatus::Unhealthy)).await;
    assert_eq!(rt.inspect_container(&id).await.unwrap().unwrap().health, Some(HealthStatus::Unhealthy));
}

#[tokio::test]
async fn stop_kills_after_the_timeout_when_sigterm_is_ignored() {
    let (rt, image) = setup().await;
    let mut events = rt.events().await.unwrap();
    let mut stubborn = workload_spec(&name("stubborn"), &image);
    stubborn.env = vec![("IGNORE_SIGTERM".to_string(), "1".to_string())];
    let polite = workload_spec(&name("polite"), &image);
    let (stubborn_id, _g1) = run(&rt, &stubborn).await;
    let (polite_id, _g2) = run(&rt, &polite).await;
    // Give both a moment to install their signal handlers.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    rt.stop_container(&polite_id, Duration::from_secs(10)).await.unwrap();
    let polite_took = started.elapsed();
    let started = Instant::now();
    rt.stop_container(&stubborn_id, Duration::from_secs(2)).await.unwrap();
    let stubborn_took = started.elapsed();
    eprintln!("stop: polite {polite_took:?}, stubborn {stubborn_took:?}");
    assert!(polite_took < Duration::from_secs(5), "{polite_took:?}");
    assert!(
        stubborn_took >= Duration::from_millis(1900) && stubborn_took < Duration::from_secs(10),
        "{stubborn_took:?}"
    );

    let p = rt.inspect_container(&polite_id).await.unwrap().unwrap();
    let s = rt.inspect_container(&stubborn_id).await.unwrap().unwrap();
    assert_eq!((p.status, p.exit_code, p.running), (ContainerStatus::Exited, Some(0), false));
    assert_eq!((s.exit_code, s.oom_killed), (Some(137), false));
    assert!(s.finished_at.unwrap() >= s.started_at.unwrap() + 1.9, "{s:?}");
    let die = next_event(&mut events, &stubborn_id, Duration::from_secs(10), |k| matches!(k, EventKind::Die { .. }));
    assert_eq!(die.await.kind, EventKind::Die { exit_code: Some(137) });
    // Stopping a stopped container succeeds.
    rt.stop_container(&stubborn_id, Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn events_report_exit_codes_and_list_filters_by_label() {
    let (rt, image) = setup().await;
    let mut events = rt.events().await.unwrap();
    let run_label = name("list");
    let mut exits = ContainerSpec::new(name("exit3"), &image);
    exits.command = Some(vec!["exit".to_string(), "3".to_string()]);
    exits.labels = BTreeMap::from([(run_label.clone(), "a".to_string())]);
    let (exit_id, _g1) = run(&rt, &exits).await;
    let mut idle = ContainerSpec::new(name("created"), &image);
    idle.labels = BTreeMap::from([(run_label.clone(), "b".to_string())]);
    let idle_id = rt.create_container(&idle).await.unwrap();
    let _g2 = Container::adopt(idle_id.clone());

    let start = next_event(&mut events, &exit_id, Duration::from_secs(10), |k| *k == EventKind::Start).await;
    assert_eq!(start.name.as_deref(), Some(exits.name.as_str()));
    let die = next_event(&mut events, &exit_id, Duration::from_secs(10), |k| matches!(k, EventKind::Die { .. })).await;
    assert_eq!(die.kind, EventKind::Die { exit_code: Some(3) });
    assert_eq!(die.labels[&run_label], "a");
    assert!(die.time > 1.6e9);
    assert_eq!(rt.inspect_container(&exit_id).await.unwrap().unwrap().exit_code, Some(3));

    let both = rt.list_containers(&run_label, None).await.unwrap();
    assert_eq!(both.len(), 2, "{both:?}");
    let a = rt.list_containers(&run_label, Some("a")).await.unwrap();
    assert_eq!((a.len(), a[0].id.as_str(), a[0].running), (1, exit_id.as_str(), false));
    let b = rt.list_containers(&run_label, Some("b")).await.unwrap();
    assert_eq!(
        (b[0].id.as_str(), b[0].status.clone(), b[0].name.as_str()),
        (idle_id.as_str(), ContainerStatus::Created, idle.name.as_str())
    );
    assert!(rt.list_containers(&run_label, Some("c")).await.unwrap().is_empty());
}

#[tokio::test]
async fn conflicts_and_missing_things_are_told_apart() {
    let (rt, image) = setup().await;
    let spec = ContainerSpec::new(name("dup"), &image);
    let id = rt.create_container(&spec).await.unwrap();
    let _guard = Container::adopt(id.clone());
    let dup = rt.create_container(&spec).await.unwrap_err();
    assert!(dup.is_conflict(), "{dup:?}");
    let no_image = rt.create_container(&ContainerSpec::new(name("noimg"), "berth-no-such-image-for-tests:1")).await;
    assert!(no_image.unwrap_err().is_not_found());
    assert_eq!(rt.inspect_container("berth-no-such-container").await.unwrap(), None);
    assert!(rt.start_container("berth-no-such-container").await.unwrap_err().is_not_found());
    assert!(rt.stop_container("berth-no-such-container", Duration::from_secs(1)).await.unwrap_err().is_not_found());
    // Starting twice is fine (the engine answers 304).
    rt.start_container(&id).await.unwrap();
    rt.start_container(&id).await.unwrap();
}

#[tokio::test]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let (rt, image) = setup().await;
    let mut events = rt.events().await.unwrap();
    let mut spec = workload_spec(&name("oom"), &image);
    spec.memory_limit_bytes = Some(32 << 20);
    spec.max_swap_bytes = Some(0);
    let (id, _guard) = run(&rt, &spec).await;
    let port = rt.inspect_container(&id).await.unwrap().unwrap().ports[0].host_port;
    let url = format!("http://127.0.0.1:{port}/health");
    wait_for("the workload to answer", Duration::from_secs(20), || {
        let url = url.clone();
        async move { tokio::task::spawn_blocking(move || http_get(&url).ok()).await.ok().flatten() }
    })
    .await
    .unwrap();
    // The allocation kills the process before it can answer.
    let alloc = tokio::task::spawn_blocking(move || http_get(&format!("http://127.0.0.1:{port}/alloc?mb=64"))).await;
    assert!(alloc.unwrap().is_err(), "a 64 MiB allocation should not survive a 32 MiB limit");
    // Both `oom` and `die` arrive; their order is the engine's business.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = next_event(&mut events, &id, Duration::from_secs(10), |k| {
            matches!(k, EventKind::Oom | EventKind::Die { .. })
        });
        seen.push(event.await.kind);
    }
    assert!(seen.contains(&EventKind::Oom), "{seen:?}");
    assert!(seen.contains(&EventKind::Die { exit_code: Some(137) }), "{seen:?}");
    let state = rt.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!((state.oom_killed, state.exit_code, state.running), (true, Some(137), false));
}
