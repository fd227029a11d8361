//! A rolling upgrade across a store schema change (issue 17 item 5): two `berth server` processes on a real etcd
//! start as the previous release (the hidden knob `--schema-ceiling task=2`: they read and write task records as a
//! release whose newest task schema is 2 would), one agent holds both, and a service's tasks and a standalone task
//! run in real containers. Then, one server at a time, each is stopped and started as the new release (task schema
//! 3), and last the agent is restarted (its upgrade: it adopts its containers). Throughout, every task keeps running
//! (same task ARNs, same container ids, none stopped), the service holds its count, both servers answer Describe*
//! for everything, and what the new server writes while an old one is live is written at schema 2 (the old one reads
//! it); once no old server is left, task records are written at schema 3 (observed raw in etcd).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::Client;
use berth_store::testing::EtcdProcess;
use berth_store::{EtcdConfig, EtcdStore, Store};
use berth_testkit::{Berth, BerthOptions};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PREFIX: &str = "/upgrade";
/// The knob that makes a server the previous release.
const CEILING: &str = "--schema-ceiling";

fn server_args(spec: &str, id: &str) -> Vec<String> {
    ["--store", spec, "--server-id", id, "--no-load-balancer", "--leader-lease-seconds", "3", CEILING, "task=2"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The schema version of every task record in etcd, by task id.
async fn task_schemas(etcd: &EtcdStore) -> BTreeMap<String, u64> {
    let range = etcd.range("/ecs/tasks/").await.unwrap();
    range
        .kvs
        .iter()
        .map(|kv| {
            let value: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
            (kv.key.rsplit('/').next().unwrap().to_string(), value["schema"].as_u64().unwrap_or(1))
        })
        .collect()
}

/// The running containers of this control plane's tasks, task ARN to container id.
fn containers(server: &Berth) -> BTreeMap<String, String> {
    running_task_containers(server).into_iter().map(|(id, arn)| (arn, id)).collect()
}

/// Checks what must hold at every step: each task of `tasks` runs in the same container, both servers describe
/// every one RUNNING, the service `web` is steady at `desired`, no task of this control plane ever stopped, and
/// neither server quarantined a record.
async fn check_everything_runs(
    step: &str,
    servers: [(&Berth, &Client); 2],
    tasks: &BTreeMap<String, String>,
    desired: i32,
) {
    let now = containers(servers[0].0);
    for (arn, id) in tasks {
        assert_eq!(now.get(arn), Some(id), "{step}: task {arn} no longer runs in its container {id}: {now:?}");
    }
    let arns: Vec<String> = tasks.keys().cloned().collect();
    for (server, client) in servers {
        let described = client.describe_tasks().set_tasks(Some(arns.clone())).send().await.unwrap();
        assert!(
            described.failures().is_empty(),
            "{step}: {} does not describe every task: {described:?}",
            server.url()
        );
        for task in described.tasks() {
            assert_eq!(task.last_status(), Some("RUNNING"), "{step}: {} sees {task:?}", server.url());
        }
        let service = wait_stable(client, "default", "web", Duration::from_secs(60)).await;
        assert_eq!((service.desired_count, service.running_count), (desired, desired), "{step}: {service:?}");
        let stopped = client.list_tasks().desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped).send().await;
        assert!(stopped.unwrap().task_arns().is_empty(), "{step}: a task was stopped ({})", server.url());
        assert!(
            !server.log().contains("QUARANTINED"),
            "{step}: {} quarantined a record:\n{}",
            server.url(),
            server.log()
        );
    }
    println!("{step}: {} tasks run in their containers; web steady at {desired}", tasks.len());
}

/// Waits until a server's log, after its first `since` bytes, says it writes task records at `version`; that line.
async fn wait_writes(server: &Berth, since: usize, version: u32) -> String {
    let words = format!("writing task records at schema version {version}");
    berth_testkit::wait_for(
        &format!("{} to write task schema {version}", server.url()),
        Duration::from_secs(20),
        || {
            let log = server.log();
            let line = log.get(since..).unwrap_or_default().lines().find(|l| l.contains(&words)).map(str::to_string);
            async move { line }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", server.log()))
}

/// RunTask of the `solo` family through `client`; the task's ARN once it runs.
async fn run_solo(client: &Client) -> String {
    let out = client.run_task().task_definition("solo").send().await.unwrap();
    assert!(out.failures().is_empty(), "{out:?}");
    let arn = out.tasks()[0].task_arn().unwrap().to_string();
    wait_status(client, &arn, "RUNNING", Duration::from_secs(60)).await;
    arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_across_a_task_schema_change_keeps_every_task_running() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let etcd_process = EtcdProcess::start().unwrap_or_else(|e| panic!("{e}"));
    let spec = format!("etcd:{}?prefix={PREFIX}", etcd_process.url());
    let mut a = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: server_args(&spec, "a"),
    })
    .expect("server a starts as the previous release");
    let mut b = a.start_peer(server_args(&spec, "b")).expect("server b starts as the previous release");
    let etcd = EtcdStore::connect(EtcdConfig::parse(&format!("{}?prefix={PREFIX}", etcd_process.url())).unwrap())
        .await
        .unwrap();
    let agent_dir = a.data_dir.path().join("agent");
    let agent_args = ["--server".to_string(), format!("{},{}", a.url(), b.url())];
    let agent_args: Vec<&str> =
        agent_args.iter().map(String::as_str).chain(["--cpu-units", "4096", "--memory-mib", "4096"]).collect();
    let agent = a.start_agent(&agent_dir, &agent_args).expect("the agent starts");
    let (client_a, client_b) = (ecs_client(&a), ecs_client(&b));
    wait_for_instances(&client_a, "default", 1).await;

    // A service of 3 tasks and a standalone task, all under the previous release.
    for family in ["web", "solo"] {
        client_a
            .register_task_definition()
            .family(family)
            .container_definitions(workload_container("app").memory(16).build())
            .send()
            .await
            .unwrap();
    }
    client_a.create_service().service_name("web").task_definition("web").desired_count(3).send().await.unwrap();
    wait_stable(&client_a, "default", "web", Duration::from_secs(90)).await;
    run_solo(&client_b).await;
    let mut tasks = containers(&a);
    assert_eq!(tasks.len(), 4, "three service tasks and one standalone task run: {tasks:?}");
    let schemas = task_schemas(&etcd).await;
    assert!(schemas.values().all(|v| *v == 2), "the previous release writes tasks at schema 2: {schemas:?}");
    check_everything_runs("both servers old", [(&a, &client_a), (&b, &client_b)], &tasks, 3).await;

    // Watch the first four containers every 200 ms through the whole upgrade: none may stop, even briefly.
    let done = Arc::new(AtomicBool::new(false));
    let vanished = Arc::new(Mutex::new(BTreeSet::new()));
    let watcher = {
        let (done, vanished, first) = (done.clone(), vanished.clone(), tasks.clone());
        let prefix = a.arn_prefix();
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let listing = berth_testkit::docker(&[
                    "ps",
                    "--filter",
                    "label=com.amazonaws.ecs.task-arn",
                    "--format",
                    "{{.ID}} {{.Label \"com.amazonaws.ecs.task-arn\"}}",
                ]);
                if let Ok(listing) = listing {
                    let running: BTreeSet<(&str, &str)> = listing
                        .lines()
                        .filter_map(|l| l.split_once(' '))
                        .filter(|(_, arn)| arn.starts_with(&prefix))
                        .collect();
                    for (arn, id) in &first {
                        if !running.contains(&(id.as_str(), arn.as_str())) {
                            vanished.lock().unwrap().insert(arn.clone());
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    // 1. Server a becomes the new release while b is still the previous one: a writes tasks at schema 2.
    let since = a.log().len();
    a.restart_without(CEILING).expect("server a restarts as the new release");
    let line = wait_writes(&a, since, 2).await;
    assert!(line.contains("held_by=b"), "b holds the new server's task writes back: {line}");
    println!("server a, new, while b is old: {line}");
    let by_new = run_solo(&client_a).await;
    let id = by_new.rsplit('/').next().unwrap().to_string();
    assert_eq!(task_schemas(&etcd).await[&id], 2, "the new server wrote the task at the version b reads");
    client_b.update_service().service("web").desired_count(4).send().await.expect("UpdateService on the old server");
    wait_stable(&client_a, "default", "web", Duration::from_secs(60)).await;
    tasks = containers(&a);
    assert_eq!(tasks.len(), 6, "{tasks:?}");
    let schemas = task_schemas(&etcd).await;
    assert!(schemas.values().all(|v| *v == 2), "while b is old every task record is at schema 2: {schemas:?}");
    check_everything_runs("a new, b old", [(&a, &client_a), (&b, &client_b)], &tasks, 4).await;

    // 2. Server b becomes the new release: with no old server left, tasks are written at schema 3.
    let (since_a, since_b) = (a.log().len(), b.log().len());
    b.restart_without(CEILING).expect("server b restarts as the new release");
    println!("server a once b stopped: {}", wait_writes(&a, since_a, 3).await);
    wait_writes(&b, since_b, 3).await;
    let after = run_solo(&client_b).await;
    let id = after.rsplit('/').next().unwrap().to_string();
    let schemas = task_schemas(&etcd).await;
    assert_eq!(schemas[&id], 3, "with every server new, tasks are written at schema 3: {schemas:?}");
    println!("task record schema versions in etcd after both servers upgraded: {schemas:?}");
    client_a.update_service().service("web").desired_count(5).send().await.expect("UpdateService on a new server");
    wait_stable(&client_b, "default", "web", Duration::from_secs(60)).await;
    tasks = containers(&a);
    assert_eq!(tasks.len(), 8, "{tasks:?}");
    check_everything_runs("both servers new", [(&a, &client_a), (&b, &client_b)], &tasks, 5).await;

    // 3. The agent's upgrade: it restarts and adopts its containers.
    let agent_log = agent_dir.with_extension("log");
    let since = std::fs::read_to_string(&agent_log).unwrap_or_default().len();
    a.kill_agent(agent);
    let restarted = a.start_agent(&agent_dir, &agent_args).expect("the agent starts again");
    berth_testkit::wait_for("the agent to register again", Duration::from_secs(60), || async {
        let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
        log.get(since..).unwrap_or_default().contains("registered with the control plane").then_some(())
    })
    .await
    .unwrap();
    let instances = client_a.list_container_instances().send().await.unwrap();
    assert_eq!(instances.container_instance_arns().len(), 1, "the agent rejoined as the same instance");
    tokio::time::sleep(Duration::from_secs(5)).await;
    check_everything_runs("agent restarted", [(&a, &client_a), (&b, &client_b)], &tasks, 5).await;
    let described = client_b
        .describe_container_instances()
        .container_instances(&instances.container_instance_arns()[0])
        .send()
        .await
        .unwrap();
    assert!(described.container_instances()[0].agent_connected, "the agent is connected after its restart");

    done.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    let vanished = vanished.lock().unwrap().clone();
    assert!(vanished.is_empty(), "containers stopped during the upgrade: {vanished:?}");
    let _ = restarted;
    a.remove_containers();
}
