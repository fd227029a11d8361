//! Managed scaling with a node provider, end to end: `berth server --node-provider workers=local,...` and a
//! capacity provider with managed scaling on node group `workers`. Tasks that do not fit wait in PROVISIONING;
//! the scaler starts real local agents (scale-out from zero, then by the packed shortfall), the tasks run there;
//! after a server restart the same agents come back as the same instances with their tasks still running; when
//! the tasks stop, the idle hosts are drained, stopped and deregistered (scale-in to zero).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions, wait_for_blocking};
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

fn tasks_of(berth: &Berth, status: &str) -> Vec<Value> {
    let arns = aws_ok(berth, "ecs", &["list-tasks", "--desired-status", status]);
    let arns: Vec<&str> = arns["taskArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    if arns.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["describe-tasks", "--tasks"];
    args.extend(arns);
    aws_ok(berth, "ecs", &args)["tasks"].as_array().unwrap().clone()
}

fn instances(berth: &Berth, status: &str) -> Vec<Value> {
    let arns = aws_ok(berth, "ecs", &["list-container-instances", "--status", status]);
    let arns: Vec<&str> =
        arns["containerInstanceArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    if arns.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["describe-container-instances", "--container-instances"];
    args.extend(arns);
    aws_ok(berth, "ecs", &args)["containerInstances"].as_array().unwrap().clone()
}

/// The running tasks once `count` run, as (task ARN, container instance ARN).
fn wait_running(berth: &Berth, count: usize, timeout: Duration) -> BTreeSet<(String, String)> {
    wait_for_blocking(&format!("{count} tasks RUNNING"), timeout, || {
        let running: BTreeSet<(String, String)> = tasks_of(berth, "RUNNING")
            .iter()
            .filter(|t| t["lastStatus"] == "RUNNING")
            .map(|t| {
                (t["taskArn"].as_str().unwrap().to_string(), t["containerInstanceArn"].as_str().unwrap().to_string())
            })
            .collect();
        (running.len() == count).then_some(running)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()))
}

#[test]
fn managed_scaling_starts_local_agents_for_waiting_tasks_and_removes_idle_ones() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: [
            "--node-provider",
            "workers=local,cpu=512,memory=256,max=3",
            "--managed-scaling-interval-seconds",
            "1",
            "--managed-scaling-scale-in-seconds",
            "4",
        ]
        .map(String::from)
        .to_vec(),
    })
    .expect("berth server starts");
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-capacity-provider",
            "--name",
            "workers",
            "--auto-scaling-group-provider",
            "autoScalingGroupArn=workers,managedScaling={status=ENABLED,targetCapacity=100,instanceWarmupPeriod=60},\
             managedTerminationProtection=ENABLED",
        ],
    );
    aws_ok(
        &berth,
        "ecs",
        &[
            "put-cluster-capacity-providers",
            "--cluster",
            "default",
            "--capacity-providers",
            "workers",
            "--default-capacity-provider-strategy",
            "capacityProvider=workers,weight=1",
        ],
    );
    let container = r#"[{"name":"app","image":"berth-workload:latest","memory":200,"essential":true,
        "portMappings":[{"containerPort":8080,"hostPort":0}]}]"#;
    aws_ok(&berth, "ecs", &["register-task-definition", "--family", "web", "--container-definitions", container]);

    // No host at all: the three tasks wait for capacity; one 200 MiB task fits a 256 MiB host.
    let clock = std::time::Instant::now();
    let run = aws_ok(&berth, "ecs", &["run-task", "--task-definition", "web", "--count", "3"]);
    let started = run["tasks"].as_array().unwrap();
    assert_eq!(started.len(), 3, "{run}");
    assert!(started.iter().all(|t| t["lastStatus"] == "PROVISIONING"), "{run}");
    let placed = wait_running(&berth, 3, Duration::from_secs(120));
    eprintln!("scale-out from zero: 3 tasks RUNNING on 3 new hosts after {:.1} s", clock.elapsed().as_secs_f64());
    let hosts: BTreeSet<&String> = placed.iter().map(|(_, instance)| instance).collect();
    assert_eq!(hosts.len(), 3, "one task per 256 MiB host: {placed:?}");
    let active = instances(&berth, "ACTIVE");
    assert_eq!(active.len(), 3, "the provider stops at what the tasks need: {active:#?}");
    let names: BTreeSet<&str> = active.iter().map(|i| i["ec2InstanceId"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["berth-workers-1", "berth-workers-2", "berth-workers-3"]));
    assert!(active.iter().all(|i| i["capacityProviderName"] == "workers"), "{active:#?}");
    let zones: BTreeSet<&str> = active
        .iter()
        .flat_map(|i| i["attributes"].as_array().unwrap())
        .filter(|a| a["name"] == "ecs.availability-zone")
        .map(|a| a["value"].as_str().unwrap())
        .collect();
    assert!(zones.len() >= 2, "new hosts are spread across zones: {zones:?}");

    // A server restart: the agents exit with it, come back as the same instances and keep their tasks running.
    berth.restart().expect("the server restarts");
    let after = wait_running(&berth, 3, Duration::from_secs(60));
    assert_eq!(after, placed, "the same tasks on the same instances after the restart");
    wait_for_blocking("the agents to reconnect", Duration::from_secs(60), || {
        let active = instances(&berth, "ACTIVE");
        (active.len() == 3 && active.iter().all(|i| i["agentConnected"] == true)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));

    // Idle hosts go: drained, stopped, deregistered; nothing is needed any more, so all three.
    let clock = std::time::Instant::now();
    for (task, _) in &after {
        aws_ok(&berth, "ecs", &["stop-task", "--task", task]);
    }
    wait_for_blocking("the idle hosts to be removed", Duration::from_secs(90), || {
        (instances(&berth, "ACTIVE").is_empty() && instances(&berth, "DRAINING").is_empty()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));
    eprintln!("scale-in to zero: hosts removed {:.1} s after the tasks were stopped", clock.elapsed().as_secs_f64());
    let mut args = vec!["describe-container-instances", "--container-instances"];
    args.extend(hosts.iter().map(|h| h.as_str()));
    let gone = aws_ok(&berth, "ecs", &args)["containerInstances"].as_array().unwrap().clone();
    assert_eq!(gone.len(), 3);
    assert!(gone.iter().all(|i| i["status"] == "INACTIVE" && i["agentConnected"] == false), "{gone:#?}");
    let dir = berth.data_dir.path().join("data").join("node-providers").join("workers");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "the removed agents' directories are gone: {left:?}");

    // Demand again: the provider scales out from zero once more.
    aws_ok(&berth, "ecs", &["run-task", "--task-definition", "web"]);
    wait_running(&berth, 1, Duration::from_secs(60));
    assert_eq!(instances(&berth, "ACTIVE").len(), 1);
}
