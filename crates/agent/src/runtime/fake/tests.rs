use std::time::Duration;

use futures::StreamExt;

use super::super::{HealthCheck, PortMapping, Protocol};
use super::*;

const IMAGE: &str = "berth-workload:latest";

fn web_spec(name: &str) -> ContainerSpec {
    let mut spec = ContainerSpec::new(name, IMAGE);
    spec.labels.insert("berth.task".into(), "t1".into());
    spec.ports = vec![
        PortMapping { container_port: 8080, protocol: Protocol::Tcp, host_port: 0, host_ip: None },
        PortMapping {
            container_port: 9090,
            protocol: Protocol::Udp,
            host_port: 9090,
            host_ip: Some("127.0.0.1".into()),
        },
    ];
    spec.health_check = Some(HealthCheck { test: vec!["CMD".into(), "true".into()], ..Default::default() });
    spec
}

async fn started(rt: &FakeRuntime, name: &str) -> String {
    let id = rt.create_container(&web_spec(name)).await.unwrap();
    rt.start_container(&id).await.unwrap();
    id
}

#[tokio::test]
async fn pull_then_inspect_image_and_pull_failures() {
    let rt = FakeRuntime::new();
    assert_eq!(rt.inspect_image("berth-workload").await.unwrap(), None);
    rt.pull_image("berth-workload", None).await.unwrap();
    let image = rt.inspect_image(IMAGE).await.unwrap().unwrap();
    assert!(image.id.starts_with("sha256:"));
    assert_eq!(image.repo_tags, vec![IMAGE.to_string()]);

    let missing =
        RuntimeError::NotFound { call: "pull_image", target: "nope".into(), message: "manifest unknown".into() };
    rt.fail_pull("nope:1", missing.clone());
    assert_eq!(rt.pull_image("nope:1", None).await.unwrap_err(), missing);
    rt.allow_pull("nope:1");
    let creds = RegistryCredentials { username: "u".into(), password: "p".into(), server_address: None };
    rt.pull_image("nope:1", Some(&creds)).await.unwrap();
    assert_eq!(rt.calls().last(), Some(&Call::Pull { image: "nope:1".into(), with_auth: true }));
}

#[tokio::test]
async fn create_needs_the_image_and_a_free_name() {
    let rt = FakeRuntime::new();
    let err = rt.create_container(&web_spec("web")).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    rt.add_image(IMAGE);
    let id = rt.create_container(&web_spec("web")).await.unwrap();
    assert_eq!(id.len(), 64);
    assert!(rt.create_container(&web_spec("web")).await.unwrap_err().is_conflict());
    assert_eq!(rt.spec(&id), Some(web_spec("web")));
    assert_eq!(rt.id_of("web"), Some(id.clone()));
    let state = rt.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!((state.status, state.running, state.health), (ContainerStatus::Created, false, None));
    assert!(state.image_id.starts_with("sha256:"));
}

#[tokio::test]
async fn start_assigns_ports_health_and_times() {
    let rt = FakeRuntime::new();
    rt.add_image(IMAGE);
    rt.set_now(100.0);
    let a = started(&rt, "a").await;
    let b = started(&rt, "b").await;
    let sa = rt.inspect_container(&a).await.unwrap().unwrap();
    let sb = rt.inspect_container(&b).await.unwrap().unwrap();
    assert_eq!((sa.status.clone(), sa.running, sa.started_at), (ContainerStatus::Running, true, Some(100.0)));
    assert_eq!(sa.health, Some(HealthStatus::Starting));
    assert_eq!(sa.ports[0].host_port, FIRST_DYNAMIC_PORT);
    assert_eq!(sb.ports[0].host_port, FIRST_DYNAMIC_PORT + 1);
    assert_eq!((sa.ports[1].host_port, sa.ports[1].host_ip.as_str()), (9090, "127.0.0.1"));
    assert_ne!(sa.pid, sb.pid);
    // Starting again is a no-op, as Docker's 304.
    rt.start_container(&a).await.unwrap();
    assert_eq!(rt.inspect_container(&a).await.unwrap().unwrap().ports, sa.ports);
    assert!(rt.start_container("missing").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn stop_exits_zero_or_137_when_sigterm_is_ignored() {
    let rt = FakeRuntime::new();
    rt.add_image(IMAGE);
    let polite = started(&rt, "polite").await;
    let stubborn = started(&rt, "stubborn").await;
    rt.ignore_sigterm(&stubborn, true).unwrap();
    rt.advance(Duration::from_secs(5));
    rt.stop_container(&polite, Duration::from_secs(30)).await.unwrap();
    rt.stop_container(&stubborn, Duration::from_secs(2)).await.unwrap();
    let p = rt.inspect_container(&polite).await.unwrap().unwrap();
    let s = rt.inspect_container(&stubborn).await.unwrap().unwrap();
    assert_eq!((p.status, p.exit_code, p.finished_at), (ContainerStatus::Exited, Some(0), Some(DEFAULT_NOW + 5.0)));
    assert_eq!(s.exit_code, Some(SIGKILL_EXIT_CODE));
    // Stopping a stopped container succeeds and changes nothing.
    rt.stop_container(&polite, Duration::from_secs(1)).await.unwrap();
    assert_eq!(rt.inspect_container(&polite).await.unwrap().unwrap().exit_code, Some(0));
    assert!(rt.calls().contains(&Call::Stop { id: stubborn, timeout: Duration::from_secs(2) }));
}

#[tokio::test]
async fn events_follow_the_lifecycle() {
    let rt = FakeRuntime::new();
    rt.add_image(IMAGE);
    let mut events = rt.events().await.unwrap();
    let id = started(&rt, "web").await;
    rt.set_health(&id, HealthStatus::Healthy).unwrap();
    rt.set_health(&id, HealthStatus::Healthy).unwrap(); // unchanged: no event
    rt.oom_kill(&id).unwrap();
    rt.remove_container(&id).await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..6 {
        let event = events.next().await.unwrap().unwrap();
        assert_eq!(event.container_id, id);
        assert_eq!(event.labels["berth.task"], "t1");
        assert_eq!(event.name.as_deref(), Some("web"));
        kinds.push(event.kind);
    }
    assert_eq!(
        kinds,
        vec![
            EventKind::Create,
            EventKind::Start,
            EventKind::Health(HealthStatus::Healthy),
            EventKind::Oom,
            EventKind::Die { exit_code: Some(137) },
            EventKind::Destroy,
        ]
    );
    assert_eq!(rt.inspect_container(&id).await.unwrap(), None);
    assert!(rt.remove_container(&id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn exit_sets_the_code_and_a_restart_clears_it() {
    let rt = FakeRuntime::new();
    rt.add_image(IMAGE);
    let id = started(&rt, "web").await;
    rt.exit(&id, 3).unwrap();
    let s = rt.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!((s.running, s.exit_code, s.pid, s.oom_killed), (false, Some(3), None, false));
    rt.start_container(&id).await.unwrap();
    let s = rt.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!((s.running, s.exit_code), (true, None));
}

#[tokio::test]
async fn list_filters_by_label_in_any_state() {
    let rt = FakeRuntime::new();
    rt.add_image(IMAGE);
    let a = started(&rt, "a").await;
    let b = rt.create_container(&web_spec("b")).await.unwrap();
    let mut other = ContainerSpec::new("c", IMAGE);
    other.labels.insert("berth.task".into(), "t2".into());
    rt.create_container(&other).await.unwrap();
    rt.create_container(&ContainerSpec::new("unlabelled", IMAGE)).await.unwrap();
    rt.exit(&a, 0).unwrap();

    let all = rt.list_containers("berth.task", None).await.unwrap();
    assert_eq!(all.len(), 3);
    let t1 = rt.list_containers("berth.task", Some("t1")).await.unwrap();
    let ids: Vec<&str> = t1.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str()]);
    assert!(t1.iter().all(|s| !s.running));
    assert!(rt.list_containers("nope", None).await.unwrap().is_empty());
}

#[tokio::test]
async fn injected_failures_hit_the_next_calls_only() {
    let rt = FakeRuntime::new();
    rt.add_image(IMAGE);
    let boom =
        RuntimeError::Engine { call: "start_container", target: "x".into(), status: Some(500), message: "boom".into() };
    rt.fail_next(Op::Start, boom.clone());
    rt.fail_next(Op::Info, RuntimeError::Unavailable { call: "info", target: "engine".into(), message: "down".into() });
    let id = rt.create_container(&web_spec("web")).await.unwrap();
    assert_eq!(rt.start_container(&id).await.unwrap_err(), boom);
    rt.start_container(&id).await.unwrap();
    assert!(rt.info().await.is_err());
    assert_eq!(rt.info().await.unwrap().cpus, 4);
    assert_eq!(
        rt.calls(),
        vec![Call::Create { name: "web".into() }, Call::Start { id: id.clone() }, Call::Start { id }]
    );
}

#[tokio::test]
async fn external_removal_is_seen_as_gone() {
    let rt = FakeRuntime::new();
    rt.add_image(IMAGE);
    let id = started(&rt, "web").await;
    rt.remove_externally(&id).unwrap();
    assert_eq!(rt.inspect_container(&id).await.unwrap(), None);
    assert!(rt.container_ids().is_empty());
    assert!(rt.exit(&id, 1).unwrap_err().is_not_found());
}

#[test]
fn references_default_to_latest() {
    assert_eq!(normalize_reference("web"), "web:latest");
    assert_eq!(normalize_reference("web:v1"), "web:v1");
    assert_eq!(normalize_reference("127.0.0.1:7700/web"), "127.0.0.1:7700/web:latest");
    assert_eq!(normalize_reference("web@sha256:ab"), "web@sha256:ab");
}
