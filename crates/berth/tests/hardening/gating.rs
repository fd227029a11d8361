//! Safe host defaults: privileged containers, host bind mounts, the host network, added capabilities and
//! unconfined security options need an agent that allows each (`--allow-*`, or `berth up --dev`). A default
//! agent advertises none of their capability attributes, so such a task fails placement with `ATTRIBUTE` naming
//! the attribute (RunTask, StartTask, services); an agent with the flag runs it, and Docker shows the container
//! really got it. Hardening (dropped capabilities, read-only root, user) is never gated.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common::*;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{
    ContainerDefinition, HostVolumeProperties, KernelCapabilities, LinuxParameters, MountPoint, NetworkMode, Volume,
};
use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use std::time::Duration;

const PRIVILEGED: &str = "com.amazonaws.ecs.capability.privileged-container";
const HOST_NETWORK: &str = "berth.capability.host-network";
const HOST_PATH: &str = "berth.capability.host-path";
const CAP_NET_ADMIN: &str = "berth.capability.cap-add.NET_ADMIN";
const UNCONFINED: &str = "berth.capability.unconfined";

/// A container of the workload image that only sleeps (no port, so the host network is no bother).
fn sleeper() -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
    ContainerDefinition::builder().name("app").image("berth-workload:latest").memory(64).command("sleep").command("600")
}

/// One gated task definition: its family, the attribute it needs, and the `docker inspect` format and the value
/// that shows a container really got it.
struct Gated {
    family: &'static str,
    attribute: &'static str,
    inspect: &'static str,
    shows: &'static str,
}

const GATED: [Gated; 5] = [
    Gated { family: "priv", attribute: PRIVILEGED, inspect: "{{json .HostConfig.Privileged}}", shows: "true" },
    Gated {
        family: "sock",
        attribute: HOST_PATH,
        inspect: "{{json .HostConfig.Binds}}",
        shows: "/var/run/docker.sock:/var/run/docker.sock",
    },
    Gated {
        family: "hostnet",
        attribute: HOST_NETWORK,
        inspect: "{{json .HostConfig.NetworkMode}}",
        shows: "\"host\"",
    },
    Gated { family: "capadd", attribute: CAP_NET_ADMIN, inspect: "{{json .HostConfig.CapAdd}}", shows: "NET_ADMIN" },
    Gated {
        family: "seccomp",
        attribute: UNCONFINED,
        inspect: "{{json .HostConfig.SecurityOpt}}",
        shows: "seccomp=unconfined",
    },
];

fn definition(client: &Client, family: &str) -> RegisterTaskDefinitionFluentBuilder {
    let req = client.register_task_definition().family(family);
    match family {
        "priv" => req.container_definitions(sleeper().privileged(true).build()),
        "sock" => req
            .volumes(
                Volume::builder()
                    .name("sock")
                    .host(HostVolumeProperties::builder().source_path("/var/run/docker.sock").build())
                    .build(),
            )
            .container_definitions(
                sleeper()
                    .mount_points(
                        MountPoint::builder().source_volume("sock").container_path("/var/run/docker.sock").build(),
                    )
                    .build(),
            ),
        "hostnet" => req.network_mode(NetworkMode::Host).container_definitions(sleeper().build()),
        "capadd" => req.container_definitions(
            sleeper()
                .linux_parameters(
                    LinuxParameters::builder()
                        .capabilities(KernelCapabilities::builder().add("NET_ADMIN").build())
                        .build(),
                )
                .build(),
        ),
        "seccomp" => req.container_definitions(sleeper().docker_security_options("seccomp=unconfined").build()),
        _ => req.container_definitions(sleeper().build()),
    }
}

async fn register_all(client: &Client) {
    for g in &GATED {
        let td = definition(client, g.family).send().await.unwrap().task_definition.unwrap();
        let required: Vec<&str> = td.requires_attributes().iter().map(|a| a.name()).collect();
        assert!(required.contains(&g.attribute), "{}: requiresAttributes {required:?}", g.family);
    }
}

async fn up(extra: &[&str]) -> (Berth, Client) {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let args = extra.iter().map(|s| s.to_string()).collect();
    let berth = Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "up", extra_args: args })
        .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    (berth, client)
}

/// Waits until the task is RUNNING, or STOPPED because this host's engine cannot start it: a sandboxed engine
/// whose capability bounding set is short cannot start privileged containers ("unable to apply caps"), which is
/// the engine's limit, not Berth's refusal. Either way the container was created as asked, and `docker inspect`
/// shows it (the agent keeps stopped containers for `--cleanup-wait-seconds`).
async fn wait_created(client: &Client, arn: &str) {
    let task = wait_for(&format!("task {arn} to start"), Duration::from_secs(90), || async {
        let t = describe(client, arn).await;
        matches!(t.last_status(), Some("RUNNING" | "STOPPED")).then_some(t)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    if task.last_status() == Some("STOPPED") {
        let reason = task.stopped_reason().unwrap_or_default();
        assert!(
            reason.starts_with("CannotStartContainerError") && reason.contains("unable to apply caps"),
            "{arn} stopped: {reason}"
        );
        eprintln!("note: this engine cannot start {arn} ({reason}); checking the created container");
    }
}

fn container_name(family: &str, task_arn: &str) -> String {
    format!("berth-{family}-1-app-{}", task_arn.rsplit('/').next().unwrap())
}

async fn service_event_naming(client: &Client, service: &str, attribute: &str) -> String {
    wait_for(&format!("a service event of {service} naming {attribute}"), Duration::from_secs(30), || async {
        let s = describe_service(client, "default", service).await;
        events(&s)
            .into_iter()
            .find(|m| m.contains("is missing an attribute required by your task") && m.contains(attribute))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_agent_refuses_host_reach_with_attribute_failures_and_service_events() {
    let (berth, client) = up(&[]).await;
    let instance = wait_for_instances(&client, "default", 1).await.remove(0);
    let described = client.describe_container_instances().container_instances(&instance).send().await.unwrap();
    let advertised: Vec<String> =
        described.container_instances()[0].attributes().iter().map(|a| a.name().to_string()).collect();
    assert!(advertised.iter().all(|a| a != PRIVILEGED && !a.starts_with("berth.capability.")), "{advertised:?}");
    register_all(&client).await;

    for g in &GATED {
        let run = client.run_task().task_definition(g.family).send().await.unwrap();
        assert!(run.tasks().is_empty(), "{} was placed on a default agent", g.family);
        let failure = &run.failures()[0];
        assert_eq!(failure.reason(), Some("ATTRIBUTE"), "{}", g.family);
        assert_eq!(failure.arn(), Some(instance.as_str()));
        let detail = failure.detail().unwrap_or_default();
        assert!(detail.contains(g.attribute), "{}: detail {detail:?}", g.family);
    }
    // StartTask on the instance itself, and RunTask with overrides, are refused the same way.
    let start = client.start_task().task_definition("priv").container_instances(&instance).send().await.unwrap();
    assert!(start.tasks().is_empty());
    assert!(start.failures()[0].detail().unwrap_or_default().contains(PRIVILEGED));
    let overridden = client
        .run_task()
        .task_definition("sock")
        .overrides(
            aws_sdk_ecs::types::TaskOverride::builder()
                .container_overrides(
                    aws_sdk_ecs::types::ContainerOverride::builder().name("app").command("sleep").command("1").build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(overridden.failures()[0].reason(), Some("ATTRIBUTE"));

    // CreateService of a gated task, and UpdateService to one: each gets a service event naming the attribute.
    client.create_service().service_name("priv").task_definition("priv").desired_count(1).send().await.unwrap();
    let event = service_event_naming(&client, "priv", PRIVILEGED).await;
    assert!(event.contains("was unable to place a task"), "{event}");
    client.register_task_definition().family("plain").container_definitions(sleeper().build()).send().await.unwrap();
    client.create_service().service_name("later").task_definition("plain").desired_count(0).send().await.unwrap();
    client.update_service().service("later").task_definition("sock").desired_count(1).send().await.unwrap();
    service_event_naming(&client, "later", HOST_PATH).await;
    assert!(containers_of(&berth, "priv").is_empty() && containers_of(&berth, "sock").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_allow_flag_runs_its_task_and_the_container_really_gets_it() {
    let (_berth, client) = up(&[
        "--allow-privileged",
        "--allow-host-path",
        "/var/run/docker.sock",
        "--allow-host-network",
        "--allow-capability",
        "NET_ADMIN",
        "--allow-unconfined",
    ])
    .await;
    register_all(&client).await;
    let mut arns = Vec::new();
    for g in &GATED {
        let run = client.run_task().task_definition(g.family).send().await.unwrap();
        assert!(run.failures().is_empty(), "{}: {:?}", g.family, run.failures());
        arns.push(run.tasks()[0].task_arn().unwrap().to_string());
    }
    for (g, arn) in GATED.iter().zip(&arns) {
        wait_created(&client, arn).await;
        let out = docker(&["inspect", "--format", g.inspect, &container_name(g.family, arn)]).unwrap();
        assert!(out.contains(g.shows), "{}: docker inspect {} = {out}", g.family, g.inspect);
    }
    // Only what was allowed: `/` is not under the allowed socket path.
    let root = client
        .register_task_definition()
        .family("root")
        .volumes(Volume::builder().name("r").host(HostVolumeProperties::builder().source_path("/").build()).build())
        .container_definitions(
            sleeper().mount_points(MountPoint::builder().source_volume("r").container_path("/host").build()).build(),
        )
        .send()
        .await
        .unwrap();
    assert!(root.task_definition().is_some());
    let run = client.run_task().task_definition("root").send().await.unwrap();
    assert_eq!(run.failures()[0].reason(), Some("ATTRIBUTE"));
    assert!(run.failures()[0].detail().unwrap_or_default().contains(HOST_PATH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_up_dev_allows_every_kind_on_the_local_agent() {
    let (_berth, client) = up(&["--dev"]).await;
    register_all(&client).await;
    let run = client.run_task().task_definition("priv").send().await.unwrap();
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    wait_created(&client, &arn).await;
    let out =
        docker(&["inspect", "--format", "{{json .HostConfig.Privileged}}", &container_name("priv", &arn)]).unwrap();
    assert_eq!(out.trim(), "true");
    for g in &GATED[1..] {
        let run = client.run_task().task_definition(g.family).send().await.unwrap();
        assert!(run.failures().is_empty(), "{}: {:?}", g.family, run.failures());
    }
}

/// The shared task definition fixtures (`../shared/fixtures/task-definitions` beside the repository, or
/// `BERTH_FIXTURES`), IMAGE replaced by the workload image; the repository's own copy of linux-parameters.json
/// when that directory is absent.
fn fixtures() -> Vec<(String, serde_json::Value)> {
    let dir = std::env::var_os("BERTH_FIXTURES").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/task-definitions")
    });
    let parse = |text: &str| serde_json::from_str(&text.replace("\"IMAGE\"", "\"berth-workload:latest\"")).unwrap();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("{} is absent: only the repository's copy of linux-parameters.json is checked", dir.display());
        return vec![("linux-parameters.json".into(), parse(include_str!("fixtures/linux-parameters.json")))];
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.file_name().unwrap().to_string_lossy().into_owned(), parse(&text)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_registers_and_linux_parameters_runs_on_a_default_agent() {
    let (berth, client) = up(&[]).await;
    let fixtures = fixtures();
    assert!(fixtures.iter().any(|(n, _)| n == "linux-parameters.json"));
    for (name, body) in &fixtures {
        let (status, out) = raw_request(
            &berth,
            Some(&ecs_target("RegisterTaskDefinition")),
            body.to_string().as_bytes(),
            None,
            None,
            None,
        )
        .await;
        // ECS itself refuses a FARGATE definition that uses awslogs without an execution role, at registration
        // and with this ClientException (the shared one-off-job.json is one: COMPATIBILITY §29): refused clearly
        // at the call, as on ECS.
        let ecs_refuses = out["__type"] == "ClientException"
            && out["message"]
                == "Fargate requires task definition to have execution role ARN to support log driver awslogs.";
        if status == 400 && ecs_refuses {
            eprintln!("{name}: refused at registration as ECS refuses it: {out}");
            continue;
        }
        assert_eq!(status, 200, "{name}: {out}");
        let gated: Vec<&str> = out["taskDefinition"]["requiresAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["name"].as_str())
            .filter(|a| *a == PRIVILEGED || a.starts_with("berth.capability."))
            .collect();
        assert!(gated.is_empty(), "{name} needs {gated:?}: it would need an agent flag or --dev");
    }
    // The hardened worker (drop ALL, read-only root, user 65534, tmpfs, init) runs on the default agent; the
    // workload image has no shell, so its command sleeps instead.
    let (_, mut hardened) = fixtures.into_iter().find(|(n, _)| n == "linux-parameters.json").unwrap();
    hardened["family"] = "hardened-worker-e2e".into();
    hardened["containerDefinitions"][0]["command"] = serde_json::json!(["sleep", "600"]);
    let (status, out) = raw_request(
        &berth,
        Some(&ecs_target("RegisterTaskDefinition")),
        hardened.to_string().as_bytes(),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let run = client.run_task().task_definition("hardened-worker-e2e").send().await.unwrap();
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    wait_status(&client, &arn, "RUNNING", Duration::from_secs(90)).await;
    let name = format!("berth-hardened-worker-e2e-1-worker-{}", arn.rsplit('/').next().unwrap());
    let out =
        docker(&["inspect", "--format", "{{json .HostConfig.CapDrop}} {{json .HostConfig.ReadonlyRootfs}}", &name])
            .unwrap();
    assert!(out.contains("ALL") && out.contains("true"), "{out}");
}
