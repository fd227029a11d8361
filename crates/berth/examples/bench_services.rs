//! Issue 3's end-to-end benchmarks on one host, through the AWS SDK against `berth up` (release build):
//!
//! (b) a service scaled from 0 to 100 tasks until steady; the time from a container's death (`docker kill`) to its
//!     replacement RUNNING, over 20 kills; (c) a rolling deployment of 20 tasks (100% / 200%), total time.
//!
//! Run: `cargo build --release -p berth && cargo run --release -p berth --example bench_services`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly; benchmarks time real work

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair};
use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn client(berth: &Berth) -> Client {
    berth_testkit::ecs_client(berth)
}

async fn stable(ecs: &Client, name: &str, desired: i32, td_suffix: &str) {
    loop {
        let s = ecs.describe_services().services(name).send().await.unwrap().services.unwrap().remove(0);
        if s.deployments().len() == 1
            && s.running_count == desired
            && s.desired_count == desired
            && s.task_definition().is_some_and(|t| t.ends_with(td_suffix))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn running_tasks(ecs: &Client, name: &str) -> BTreeSet<String> {
    let arns = ecs.list_tasks().service_name(name).send().await.unwrap().task_arns().to_vec();
    if arns.is_empty() {
        return BTreeSet::new();
    }
    let out = ecs.describe_tasks().set_tasks(Some(arns)).send().await.unwrap();
    out.tasks()
        .iter()
        .filter(|t| t.last_status.as_deref() == Some("RUNNING"))
        .filter_map(|t| t.task_arn.clone())
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().unwrap();
    let binary = std::env::var("BERTH_BIN")
        .unwrap_or_else(|_| format!("{}/target/release/berth", berth_testkit::workspace_root().display()));
    let berth = Berth::start(BerthOptions { binary: binary.into(), role: "up", extra_args: vec![] }).unwrap();
    let ecs = client(&berth);
    wait_for("the agent", Duration::from_secs(30), || async {
        (ecs.list_container_instances().send().await.ok()?.container_instance_arns().len() == 1).then_some(())
    })
    .await
    .unwrap();
    let def = |v: &str| {
        ContainerDefinition::builder()
            .name("app")
            .image(&image)
            .memory(8)
            .environment(KeyValuePair::builder().name("V").value(v).build())
            .build()
    };
    ecs.register_task_definition().family("b").container_definitions(def("1")).send().await.unwrap();
    ecs.register_task_definition().family("b").container_definitions(def("2")).send().await.unwrap();

    // (b) 0 -> 100.
    ecs.create_service().service_name("b").task_definition("b:1").desired_count(0).send().await.unwrap();
    stable(&ecs, "b", 0, "b:1").await;
    let start = Instant::now();
    ecs.update_service().service("b").desired_count(100).send().await.unwrap();
    stable(&ecs, "b", 100, "b:1").await;
    let scale = start.elapsed();
    println!(
        "## Service scaled from 0 to 100 tasks on one host, until steady\n{} ({:.1} tasks/s)",
        ms(scale),
        100.0 / scale.as_secs_f64()
    );

    // (b) death -> replacement RUNNING, 20 times, on a 10-task service.
    ecs.update_service().service("b").desired_count(10).send().await.unwrap();
    stable(&ecs, "b", 10, "b:1").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut samples = Vec::new();
    for _ in 0..20 {
        let before = running_tasks(&ecs, "b").await;
        let victim = before.iter().next().unwrap().clone();
        let container =
            docker(&["ps", "-q", "--filter", &format!("label=com.amazonaws.ecs.task-arn={victim}")]).unwrap();
        let start = Instant::now();
        docker(&["kill", container.trim()]).unwrap();
        loop {
            let now = running_tasks(&ecs, "b").await;
            if !now.contains(&victim) && now.len() == 10 && now.difference(&before).count() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        samples.push(start.elapsed());
    }
    println!("kills in order: {:?}", samples.iter().map(|d| d.as_millis()).collect::<Vec<_>>());
    samples.sort();
    println!(
        "\n## Container death -> replacement RUNNING (20 kills, 10-task service)\np50 {} p95 {} max {}",
        ms(samples[samples.len() / 2]),
        ms(samples[(samples.len() * 95) / 100 - 1]),
        ms(*samples.last().unwrap())
    );

    // (c) rolling deployment of 20 tasks.
    ecs.update_service().service("b").desired_count(20).send().await.unwrap();
    stable(&ecs, "b", 20, "b:1").await;
    let start = Instant::now();
    ecs.update_service().service("b").task_definition("b:2").send().await.unwrap();
    stable(&ecs, "b", 20, "b:2").await;
    println!(
        "\n## Rolling deployment of 20 tasks (100% / 200%), until the new revision is steady\n{}",
        ms(start.elapsed())
    );
}
