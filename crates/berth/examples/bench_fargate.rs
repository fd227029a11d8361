//! Issue 15's figure: FARGATE task start latency (RunTask to RUNNING as DescribeTasks shows it) against an
//! EC2-launch-type task on the same host, on `berth up`'s local agent (which serves both launch types).
//!
//! Both task definitions are the same workload with the same task size (256 CPU units, 512 MiB) in `awsvpc` mode
//! (Fargate's only mode), so the difference is what FARGATE adds: the pool's placement and the task-level cgroup.
//! Samples are interleaved (EC2, FARGATE, EC2, ...); each task is stopped before the next starts.
//!
//! Run: `cargo build -p berth && cargo run -p berth --example bench_fargate` (`BERTH_BIN` overrides the binary,
//! default `target/debug/berth`; `BENCH_TASKS` the samples per launch type, default 20).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly; benchmarks time real work

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, NetworkConfiguration, NetworkMode, PortMapping,
};
use berth_testkit::{Berth, BerthOptions, wait_for};
use std::time::{Duration, Instant};

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx.min(samples.len() - 1)]
}

async fn register(client: &Client, family: &str, image: &str, fargate: bool) {
    let mut req = client
        .register_task_definition()
        .family(family)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(image)
                .port_mappings(PortMapping::builder().container_port(8080).build())
                .build(),
        );
    req = if fargate {
        req.requires_compatibilities(Compatibility::Fargate)
    } else {
        req.requires_compatibilities(Compatibility::Ec2)
    };
    req.send().await.expect("register");
}

/// RunTask to RUNNING (polling DescribeTasks every 10 ms), then stops the task and waits until it is STOPPED.
async fn one(client: &Client, family: &str, launch_type: LaunchType) -> Duration {
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets("subnet-0be7f00000000000a")
                .subnets("subnet-0be7f00000000000b")
                .build()
                .unwrap(),
        )
        .build();
    let started = Instant::now();
    let out = client
        .run_task()
        .task_definition(family)
        .launch_type(launch_type)
        .network_configuration(network)
        .send()
        .await
        .expect("run-task");
    let arn = out.tasks()[0].task_arn().unwrap().to_string();
    loop {
        let task = client.describe_tasks().tasks(&arn).send().await.unwrap().tasks()[0].clone();
        match task.last_status() {
            Some("RUNNING") => break,
            Some("STOPPED") => panic!("{family} stopped: {:?}", task.stopped_reason()),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    let elapsed = started.elapsed();
    client.stop_task().task(&arn).send().await.unwrap();
    wait_for("the task to stop", Duration::from_secs(60), || async {
        let task = client.describe_tasks().tasks(&arn).send().await.ok()?.tasks()[0].clone();
        (task.last_status() == Some("STOPPED")).then_some(())
    })
    .await
    .unwrap();
    elapsed
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples: usize = std::env::var("BENCH_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let binary = std::env::var("BERTH_BIN")
        .unwrap_or_else(|_| format!("{}/target/debug/berth", berth_testkit::workspace_root().display()));
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let berth = Berth::start(BerthOptions {
        binary: binary.into(),
        role: "up",
        extra_args: vec!["--vpc-cidr".into(), "10.201.0.0/16".into()],
    })
    .expect("berth up starts");
    let client = berth_testkit::ecs_client(&berth);
    wait_for("the local agent", Duration::from_secs(30), || async {
        let out = client.list_container_instances().send().await.ok()?;
        (!out.container_instance_arns().is_empty()).then_some(())
    })
    .await
    .unwrap();
    register(&client, "bench-ec2", &image, false).await;
    register(&client, "bench-fargate", &image, true).await;
    // One of each first, unmeasured: the image, the subnet's network and the pause image are ready after it.
    one(&client, "bench-ec2", LaunchType::Ec2).await;
    one(&client, "bench-fargate", LaunchType::Fargate).await;
    let (mut ec2, mut fargate) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        ec2.push(one(&client, "bench-ec2", LaunchType::Ec2).await);
        fargate.push(one(&client, "bench-fargate", LaunchType::Fargate).await);
    }
    let (e50, e95) = (percentile(&mut ec2, 0.5), percentile(&mut ec2, 0.95));
    let (f50, f95) = (percentile(&mut fargate, 0.5), percentile(&mut fargate, 0.95));
    println!("RunTask -> RUNNING, awsvpc, 256 CPU / 512 MiB, {samples} samples each, interleaved:");
    println!("  EC2      p50 {:>7.1} ms  p95 {:>7.1} ms", e50.as_secs_f64() * 1e3, e95.as_secs_f64() * 1e3);
    println!("  FARGATE  p50 {:>7.1} ms  p95 {:>7.1} ms", f50.as_secs_f64() * 1e3, f95.as_secs_f64() * 1e3);
    println!(
        "  ratio FARGATE/EC2: p50 {:.2}x  p95 {:.2}x",
        f50.as_secs_f64() / e50.as_secs_f64(),
        f95.as_secs_f64() / e95.as_secs_f64()
    );
    drop(client);
    berth.remove_containers();
    berth.remove_networks();
}
