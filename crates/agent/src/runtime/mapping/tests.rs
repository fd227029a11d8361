use std::collections::BTreeMap;
use std::time::Duration;

use bollard::models::{ContainerInspectResponse, ContainerSummary as DockerSummary, EventMessage};

use super::super::{
    BindMount, ExtraHost, HealthCheck, LogConfig, PortMapping, RegistryCredentials, TmpfsMount, Ulimit,
};
use super::*;

fn full_spec() -> ContainerSpec {
    ContainerSpec {
        cgroup_parent: None,
        storage_size_gib: Some(120),
        name: "ecs-web-1-app-abc".into(),
        image: "127.0.0.1:7700/web:v1".into(),
        entrypoint: Some(vec!["/berth-workload".into()]),
        command: Some(vec!["serve".into()]),
        env: vec![("PORT".into(), "8080".into()), ("EMPTY".into(), String::new()), ("EQ".into(), "a=b".into())],
        working_dir: Some("/srv".into()),
        user: Some("1000:1000".into()),
        labels: BTreeMap::from([("com.amazonaws.ecs.task-arn".into(), "arn:x".into())]),
        ports: vec![
            PortMapping { container_port: 8080, protocol: Protocol::Tcp, host_port: 0, host_ip: None },
            PortMapping {
                container_port: 8080,
                protocol: Protocol::Tcp,
                host_port: 9000,
                host_ip: Some("127.0.0.1".into()),
            },
            PortMapping { container_port: 53, protocol: Protocol::Udp, host_port: 5353, host_ip: None },
        ],
        cpu_units: 256,
        memory_limit_bytes: Some(512 << 20),
        memory_reservation_bytes: Some(128 << 20),
        max_swap_bytes: Some(0),
        swappiness: Some(10),
        ulimits: vec![Ulimit { name: "nofile".into(), soft: 1024, hard: 4096 }],
        health_check: Some(HealthCheck {
            test: vec!["CMD".into(), "/berth-workload".into(), "healthcheck".into()],
            interval: Duration::from_secs(5),
            timeout: Duration::from_millis(1500),
            retries: 2,
            start_period: Duration::from_secs(10),
        }),
        stop_signal: Some("SIGINT".into()),
        stop_timeout: Some(Duration::from_secs(45)),
        hostname: Some("web".into()),
        privileged: true,
        readonly_rootfs: true,
        extra_hosts: vec![ExtraHost { hostname: "db".into(), ip_address: "10.0.0.5".into() }],
        dns_servers: vec!["1.1.1.1".into()],
        dns_search: vec!["corp".into()],
        security_options: vec!["no-new-privileges".into()],
        init_process: true,
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["MKNOD".into()],
        tmpfs: vec![TmpfsMount {
            container_path: "/run".into(),
            size_bytes: Some(1 << 20),
            options: vec!["noexec".into()],
        }],
        shm_size_bytes: Some(64 << 20),
        sysctls: BTreeMap::from([("net.core.somaxconn".into(), "1024".into())]),
        binds: vec![
            BindMount { source: "/data".into(), target: "/var/data".into(), read_only: true },
            BindMount { source: "/logs".into(), target: "/var/log".into(), read_only: false },
        ],
        volumes_from: vec!["berth-web-1-side-abc:ro".into()],
        links: vec!["berth-web-1-db-abc:database".into()],
        log_config: LogConfig {
            driver: "json-file".into(),
            options: BTreeMap::from([("max-size".into(), "10m".into())]),
        },
        interactive: true,
        pseudo_terminal: true,
        disable_networking: false,
        ipv4_address: None,
        mac_address: None,
        network_mode: NetworkMode::Bridge,
    }
}

#[test]
fn cpu_units_become_shares_of_at_least_two() {
    assert_eq!(cpu_shares(0), 2);
    assert_eq!(cpu_shares(1), 2);
    assert_eq!(cpu_shares(2), 2);
    assert_eq!(cpu_shares(1024), 1024);
    let body = create_body(&ContainerSpec::new("a", "b"));
    assert_eq!(body.host_config.unwrap().cpu_shares, Some(2));
}

#[test]
fn maps_a_full_spec() {
    let body = create_body(&full_spec());
    assert_eq!(body.image.as_deref(), Some("127.0.0.1:7700/web:v1"));
    assert_eq!(body.entrypoint, Some(vec!["/berth-workload".to_string()]));
    assert_eq!(body.cmd, Some(vec!["serve".to_string()]));
    assert_eq!(body.env, Some(vec!["PORT=8080".into(), "EMPTY=".into(), "EQ=a=b".into()]));
    assert_eq!(body.working_dir.as_deref(), Some("/srv"));
    assert_eq!(body.user.as_deref(), Some("1000:1000"));
    assert_eq!(body.hostname.as_deref(), Some("web"));
    assert_eq!(body.labels.unwrap()["com.amazonaws.ecs.task-arn"], "arn:x");
    assert_eq!(body.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(body.stop_timeout, Some(45));
    assert_eq!((body.open_stdin, body.tty, body.network_disabled), (Some(true), Some(true), None));
    let exposed = body.exposed_ports.unwrap();
    assert_eq!(exposed.len(), 2);
    assert!(exposed.contains_key("8080/tcp") && exposed.contains_key("53/udp"));

    let health = body.healthcheck.unwrap();
    assert_eq!(health.test.unwrap()[0], "CMD");
    assert_eq!(health.interval, Some(5_000_000_000));
    assert_eq!(health.timeout, Some(1_500_000_000));
    assert_eq!(health.retries, Some(2));
    assert_eq!(health.start_period, Some(10_000_000_000));
    assert_eq!(health.start_interval, None, "StartInterval needs API 1.44; the engine may be 1.41");

    let host = body.host_config.unwrap();
    assert_eq!(host.cpu_shares, Some(256));
    assert_eq!(host.memory, Some(512 << 20));
    assert_eq!(host.memory_reservation, Some(128 << 20));
    assert_eq!(host.memory_swap, Some(512 << 20), "maxSwap 0 means memory+swap == memory");
    assert_eq!(host.memory_swappiness, Some(10));
    let bindings = host.port_bindings.unwrap();
    let web = bindings["8080/tcp"].clone().unwrap();
    assert_eq!(web.len(), 2);
    assert_eq!((web[0].host_ip.as_deref(), web[0].host_port.as_deref()), (Some(""), Some("")));
    assert_eq!((web[1].host_ip.as_deref(), web[1].host_port.as_deref()), (Some("127.0.0.1"), Some("9000")));
    assert_eq!(bindings["53/udp"].clone().unwrap()[0].host_port.as_deref(), Some("5353"));
    assert_eq!(host.network_mode.as_deref(), Some("bridge"));
    let ulimit = &host.ulimits.unwrap()[0];
    assert_eq!((ulimit.name.as_deref(), ulimit.soft, ulimit.hard), (Some("nofile"), Some(1024), Some(4096)));
    assert_eq!((host.privileged, host.readonly_rootfs, host.init), (Some(true), Some(true), Some(true)));
    assert_eq!(host.extra_hosts, Some(vec!["db:10.0.0.5".into()]));
    assert_eq!(host.volumes_from, Some(vec!["berth-web-1-side-abc:ro".into()]));
    assert_eq!(host.links, Some(vec!["berth-web-1-db-abc:database".into()]));
    assert_eq!(host.dns, Some(vec!["1.1.1.1".into()]));
    assert_eq!(host.dns_search, Some(vec!["corp".into()]));
    assert_eq!(host.security_opt, Some(vec!["no-new-privileges".into()]));
    assert_eq!(host.cap_add, Some(vec!["NET_ADMIN".into()]));
    assert_eq!(host.cap_drop, Some(vec!["MKNOD".into()]));
    assert_eq!(host.tmpfs.unwrap()["/run"], "size=1048576,noexec");
    assert_eq!(host.shm_size, Some(64 << 20));
    assert_eq!(host.storage_opt.unwrap()["size"], "120G", "a FARGATE task's ephemeral storage, GiB");
    assert_eq!(host.sysctls.unwrap()["net.core.somaxconn"], "1024");
    assert_eq!(host.binds, Some(vec!["/data:/var/data:ro".into(), "/logs:/var/log".into()]));
    let log = host.log_config.unwrap();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    assert_eq!(log.config.unwrap()["max-size"], "10m");
}

#[test]
fn a_minimal_spec_leaves_engine_defaults_alone() {
    let body = create_body(&ContainerSpec::new("", "busybox"));
    assert_eq!(body.entrypoint, None);
    assert_eq!(body.cmd, None);
    assert_eq!(body.env, None);
    assert_eq!(body.healthcheck, None);
    assert_eq!(body.exposed_ports, None);
    let host = body.host_config.unwrap();
    assert_eq!((host.memory, host.memory_reservation, host.memory_swap), (None, None, None));
    assert_eq!((host.privileged, host.init, host.port_bindings.is_none()), (None, None, true));
    assert_eq!(host.log_config.unwrap().typ.as_deref(), Some("json-file"), "json-file unless told otherwise");
    // Serialized, unset options are absent rather than null, so an older engine sees nothing it does not know.
    let json = serde_json::to_value(create_body(&ContainerSpec::new("", "busybox"))).unwrap();
    assert!(json.get("Healthcheck").is_none() && json["HostConfig"].get("Init").is_none(), "{json}");
    assert!(json["HostConfig"].get("StorageOpt").is_none(), "{json}");
}

#[test]
fn host_and_none_modes_publish_no_ports() {
    for mode in [NetworkMode::Host, NetworkMode::None] {
        let mut spec = ContainerSpec::new("a", "b");
        spec.network_mode = mode.clone();
        spec.ports = vec![PortMapping { container_port: 80, protocol: Protocol::Tcp, host_port: 80, host_ip: None }];
        let body = create_body(&spec);
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some(mode.as_docker()));
        assert!(host.port_bindings.is_none());
        assert!(body.exposed_ports.unwrap().contains_key("80/tcp"));
    }
    assert_eq!(NetworkMode::Custom("berth-net".into()).as_docker(), "berth-net");
}

#[test]
fn swap_needs_a_hard_limit() {
    let mut spec = ContainerSpec::new("a", "b");
    spec.max_swap_bytes = Some(1 << 30);
    assert_eq!(create_body(&spec).host_config.unwrap().memory_swap, None);
    spec.memory_limit_bytes = Some(1 << 30);
    assert_eq!(create_body(&spec).host_config.unwrap().memory_swap, Some(2 << 30));
}

#[test]
fn splits_image_references_for_pulls() {
    let split = |s: &str| split_image_reference(s);
    assert_eq!(split("nginx"), ("nginx".into(), "latest".into()));
    assert_eq!(split("nginx:1.25"), ("nginx".into(), "1.25".into()));
    assert_eq!(split("library/nginx:1.25-alpine"), ("library/nginx".into(), "1.25-alpine".into()));
    assert_eq!(split("127.0.0.1:7700/web"), ("127.0.0.1:7700/web".into(), "latest".into()));
    assert_eq!(split("127.0.0.1:7700/team/web:v1"), ("127.0.0.1:7700/team/web".into(), "v1".into()));
    assert_eq!(split("web@sha256:abcd"), ("web".into(), "sha256:abcd".into()));
    assert_eq!(split("localhost:5000/web:v1@sha256:ab"), ("localhost:5000/web:v1".into(), "sha256:ab".into()));
}

#[test]
fn parses_timestamps() {
    assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0.0));
    assert_eq!(parse_timestamp("2000-03-01T00:00:00Z"), Some(951_868_800.0));
    assert_eq!(parse_timestamp("2024-02-29T12:34:56Z"), Some(1_709_210_096.0));
    let t = parse_timestamp("2026-11-23T11:46:30.192535526Z").unwrap();
    assert!((t - 1_795_434_390.192_535_5).abs() < 1e-6, "{t}");
    assert_eq!(parse_timestamp("2024-02-29T13:34:56+01:00"), Some(1_709_210_096.0));
    assert_eq!(parse_timestamp("2024-02-29T11:04:56-01:30"), Some(1_709_210_096.0));
    assert_eq!(parse_timestamp("0001-01-01T00:00:00Z"), None, "Go's zero time means never");
    for bad in ["", "yesterday", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01T00:00:00.Z"] {
        assert_eq!(parse_timestamp(bad), None, "{bad}");
    }
}

#[test]
fn log_entry_times_parse_to_exact_nanoseconds() {
    assert_eq!(parse_timestamp_ns("2026-11-23T11:46:30.192535526Z"), Some(1_795_434_390_192_535_526));
    assert_eq!(parse_timestamp_ns("2026-11-23T11:46:30.1Z"), Some(1_795_434_390_100_000_000), "Go trims zeros");
    assert_eq!(parse_timestamp_ns("2026-11-23T11:46:30Z"), Some(1_795_434_390_000_000_000));
    assert_eq!(parse_timestamp_ns("2026-11-23T11:46:30.000000001Z"), Some(1_795_434_390_000_000_001));
    assert_eq!(parse_timestamp_ns("no time here"), None);
}

/// Shapes as Docker 20.10 (API 1.41) returns them, trimmed to the fields read.
const INSPECT_RUNNING: &str = r#"{
  "Id": "d76279f49b3d", "Name": "/ecs-web-1", "Image": "sha256:50dc", "RestartCount": 1,
  "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false, "OOMKilled": false,
    "Dead": false, "Pid": 16311, "ExitCode": 0, "Error": "", "StartedAt": "2026-11-23T11:46:30.5Z",
    "FinishedAt": "0001-01-01T00:00:00Z",
    "Health": {"Status": "starting", "FailingStreak": 2, "Log": []}},
  "Config": {"Image": "berth-workload:latest", "Labels": {"a.b": "c"}},
  "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"},
    {"HostIp": "::", "HostPort": "32768"}], "9000/udp": null}}
}"#;

const INSPECT_EXITED: &str = r#"{
  "Id": "abc", "Name": "/x", "Image": "sha256:1",
  "State": {"Status": "exited", "Running": false, "OOMKilled": true, "Pid": 0, "ExitCode": 137,
    "Error": "", "StartedAt": "1970-01-01T00:00:10Z", "FinishedAt": "1970-01-01T00:00:12.25Z"},
  "Config": {"Image": "x"}, "NetworkSettings": {"Ports": {}}
}"#;

#[test]
fn reads_the_state_of_a_running_container() {
    let resp: ContainerInspectResponse = serde_json::from_str(INSPECT_RUNNING).unwrap();
    let s = container_state(resp);
    assert_eq!(
        (s.id.as_str(), s.name.as_str(), s.image.as_str()),
        ("d76279f49b3d", "ecs-web-1", "berth-workload:latest")
    );
    assert_eq!(s.image_id, "sha256:50dc");
    assert_eq!((s.status, s.running, s.exit_code), (ContainerStatus::Running, true, None));
    assert_eq!(s.health, Some(HealthStatus::Starting));
    assert_eq!((s.started_at, s.finished_at), (Some(1_795_434_390.5), None));
    assert_eq!((s.pid, s.restart_count, s.error), (Some(16311), 1, None));
    assert_eq!(s.labels["a.b"], "c");
    assert_eq!(
        s.ports,
        vec![
            PortBinding { container_port: 8080, protocol: Protocol::Tcp, host_ip: "0.0.0.0".into(), host_port: 32768 },
            PortBinding { container_port: 8080, protocol: Protocol::Tcp, host_ip: "::".into(), host_port: 32768 },
        ]
    );
}

#[test]
fn reads_the_state_of_an_exited_container() {
    let resp: ContainerInspectResponse = serde_json::from_str(INSPECT_EXITED).unwrap();
    let s = container_state(resp);
    assert_eq!((s.status, s.running, s.exit_code, s.oom_killed), (ContainerStatus::Exited, false, Some(137), true));
    assert_eq!((s.started_at, s.finished_at, s.pid, s.health), (Some(10.0), Some(12.25), None, None));
    assert!(s.ports.is_empty() && s.labels.is_empty());
    assert_eq!(status_from_name("weird"), ContainerStatus::Unknown("weird".into()));
}

#[test]
fn reads_a_listed_container() {
    let raw = r#"{"Id": "abc", "Names": ["/ecs-web-1"], "Image": "web:v1", "State": "exited",
        "Status": "Exited (0) 2 seconds ago", "Labels": {"k": "v"}}"#;
    let s = summary(serde_json::from_str::<DockerSummary>(raw).unwrap());
    assert_eq!((s.id.as_str(), s.name.as_str(), s.image.as_str()), ("abc", "ecs-web-1", "web:v1"));
    assert_eq!((s.status, s.running, s.labels["k"].as_str()), (ContainerStatus::Exited, false, "v"));
}

fn event_json(action: &str, extra: &str) -> EventMessage {
    let raw = format!(
        r#"{{"status": "{action}", "id": "abc", "Type": "container", "Action": "{action}", "Actor": {{"ID": "abc",
        "Attributes": {{"a.b": "c", "image": "berth-workload:latest", "name": "web"{extra}}}}},
        "scope": "local", "time": 1700000000, "timeNano": 1700000000250000000}}"#
    );
    serde_json::from_str(&raw).unwrap()
}

#[test]
fn reads_events() {
    let die = event(event_json("die", r#", "exitCode": "137""#)).unwrap();
    assert_eq!(die.kind, EventKind::Die { exit_code: Some(137) });
    assert_eq!(
        (die.container_id.as_str(), die.name.as_deref(), die.image.as_deref()),
        ("abc", Some("web"), Some("berth-workload:latest"))
    );
    assert_eq!(die.labels, BTreeMap::from([("a.b".to_string(), "c".to_string())]));
    assert!((die.time - 1_700_000_000.25).abs() < 1e-6);
    let healthy = event(event_json("health_status: healthy", "")).unwrap();
    assert_eq!(healthy.kind, EventKind::Health(HealthStatus::Healthy));
    assert_eq!(
        event(event_json("health_status: unhealthy", "")).unwrap().kind,
        EventKind::Health(HealthStatus::Unhealthy)
    );
    for (action, kind) in [
        ("create", EventKind::Create),
        ("start", EventKind::Start),
        ("oom", EventKind::Oom),
        ("stop", EventKind::Stop),
        ("destroy", EventKind::Destroy),
    ] {
        assert_eq!(event(event_json(action, "")).unwrap().kind, kind);
    }
    assert!(event(event_json("exec_start: /bin/sh -c true", "")).is_none());
    assert!(event(event_json("kill", r#", "signal": "15""#)).is_none());
}

#[test]
fn credentials_debug_hides_the_password() {
    let creds = RegistryCredentials { username: "AWS".into(), password: "s3cret".into(), server_address: None };
    let shown = format!("{creds:?}");
    assert!(shown.contains("AWS") && !shown.contains("s3cret"), "{shown}");
}

#[test]
fn the_first_host_address_of_a_subnet() {
    use super::first_host_address;
    assert_eq!(first_host_address("172.17.0.0/16"), Some([172, 17, 0, 1].into()));
    assert_eq!(first_host_address("10.1.2.128/25"), Some([10, 1, 2, 129].into()));
    assert_eq!(first_host_address("10.1.2.3/24"), Some([10, 1, 2, 1].into()));
    assert_eq!(first_host_address("fd00::/64"), None);
    assert_eq!(first_host_address("10.0.0.0/31"), None);
    assert_eq!(first_host_address("garbage"), None);
}
