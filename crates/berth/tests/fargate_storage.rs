//! Ephemeral storage in Fargate placement, end to end through the unchanged aws CLI (docs/COMPATIBILITY.md §44): an
//! agent serving both launch types offers 250 GiB (`--ephemeral-storage-gib`), so two FARGATE tasks of 100 GiB fit
//! and a third gets ECS's capacity answer though CPU and memory would take it; EC2 placement on the same instance
//! does not see the storage; a stopped task gives its storage back. Whether Docker enforces the size is checked
//! against the engine itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions, wait_for};
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const SUBNETS: &str = "awsvpcConfiguration={subnets=[subnet-0be7f00000000000a]}";
const CAPACITY_UNAVAILABLE: &str =
    "Capacity is unavailable at this time. Please try again later or in a different availability zone";
const QUOTA_ATTRIBUTE: &str = "berth.capability.storage-quota";

/// The instance's remaining `CPU` and `MEMORY`, and its attributes.
fn instance(berth: &Berth, arn: &str) -> (i64, i64, Vec<Value>) {
    let out = aws_ok(berth, "ecs", &["describe-container-instances", "--container-instances", arn]);
    let ci = &out["containerInstances"][0];
    let remaining = ci["remainingResources"].as_array().unwrap();
    let get = |name: &str| remaining.iter().find(|r| r["name"] == name).and_then(|r| r["integerValue"].as_i64());
    (get("CPU").unwrap(), get("MEMORY").unwrap(), ci["attributes"].as_array().unwrap().clone())
}

fn run(berth: &Berth, family: &str, count: &str, launch_type: &str) -> Value {
    let mut args = vec!["run-task", "--task-definition", family, "--count", count, "--launch-type", launch_type];
    if launch_type == "FARGATE" {
        args.extend(["--network-configuration", SUBNETS]);
    }
    aws_ok(berth, "ecs", &args)
}

fn task_arns(out: &Value) -> Vec<String> {
    out["tasks"].as_array().unwrap().iter().map(|t| t["taskArn"].as_str().unwrap().to_string()).collect()
}

/// Whether this Docker Engine caps a container's writable layer (`--storage-opt size=`), asked directly.
fn engine_enforces_size(image: &str) -> bool {
    let name = format!("berth-test-storage-probe-{}", std::process::id());
    let created =
        berth_testkit::docker(&["create", "--name", &name, "--network", "none", "--storage-opt", "size=20G", image]);
    let _ = berth_testkit::docker(&["rm", "-f", &name]);
    created.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fargate_tasks_reserve_ephemeral_storage_and_a_full_pool_answers_as_ecs() {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let started = std::time::Instant::now();
    let (cidr, _networks) = own_vpc(192, 32, 0, 1);
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--vpc-cidr".into(), cidr],
    })
    .expect("berth starts");
    let dir = berth.data_dir.path().join("dual");
    let args = [
        "--capacity",
        "ec2,fargate",
        "--ephemeral-storage-gib",
        "250",
        "--cpu-units",
        "4096",
        "--memory-mib",
        "4096",
        "--availability-zone",
        "us-east-1a",
        "--hostname",
        "dual",
        "--metrics-listen",
        "off",
    ];
    berth.start_agent(&dir, &args).expect("the agent starts");
    let client = ecs_client(&berth);
    let arn = wait_for_instances(&client, "default", 1).await.remove(0);

    // The agent says whether Docker enforces the size, and it is right about this engine.
    let (cpu, memory, attributes) = instance(&berth, &arn);
    let quota = attributes.iter().find(|a| a["name"] == QUOTA_ATTRIBUTE);
    let enforced = engine_enforces_size(&image);
    assert_eq!(quota.is_some(), enforced, "{QUOTA_ATTRIBUTE}: {quota:?}");

    let definition = json!({
        "family": "fg-disk",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "ephemeralStorage": {"sizeInGiB": 100},
        "containerDefinitions": [{"name": "web", "image": image, "essential": true}]
    });
    aws_ok(&berth, "ecs", &["register-task-definition", "--cli-input-json", &definition.to_string()]);
    let ec2 = json!({"family": "ec2-job", "containerDefinitions": [{"name": "job", "image": image, "cpu": 128, "memory": 64}]});
    aws_ok(&berth, "ecs", &["register-task-definition", "--cli-input-json", &ec2.to_string()]);

    // Two 100 GiB tasks fit in 250 GiB; the third fits CPU and memory but not the storage: ECS's capacity answer.
    let out = run(&berth, "fg-disk", "3", "FARGATE");
    let placed = task_arns(&out);
    assert_eq!(placed.len(), 2, "{out}");
    assert_eq!(out["tasks"][0]["ephemeralStorage"], json!({"sizeInGiB": 100}));
    assert_eq!(out["failures"][0]["reason"], CAPACITY_UNAVAILABLE, "{out}");
    assert!(out["failures"][0]["detail"].as_str().unwrap().contains("RESOURCE:EPHEMERAL_STORAGE"), "{out}");
    // CPU and memory are reserved as before (exactly the task size), and storage shows in no ECS resource list.
    let (cpu_now, memory_now, _) = instance(&berth, &arn);
    assert_eq!((cpu_now, memory_now), (cpu - 512, memory - 1024));
    let described = aws_ok(&berth, "ecs", &["describe-container-instances", "--container-instances", &arn]);
    let names: Vec<&str> = described["containerInstances"][0]["registeredResources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["CPU", "MEMORY", "PORTS", "PORTS_UDP"]);

    // EC2 placement on the same instance does not account storage.
    let job = run(&berth, "ec2-job", "1", "EC2");
    assert_eq!(task_arns(&job).len(), 1, "{job}");
    let job_arn = task_arns(&job).remove(0);
    assert_eq!(instance(&berth, &arn).0, cpu - 512 - 128);

    // Where Docker enforces it, each container of a FARGATE task is capped at the task's size.
    wait_for("the FARGATE tasks to run", Duration::from_secs(60), || async {
        let out = aws_ok(&berth, "ecs", &["describe-tasks", "--tasks", &placed[0], &placed[1]]);
        out["tasks"].as_array().unwrap().iter().all(|t| t["lastStatus"] == "RUNNING").then_some(())
    })
    .await
    .unwrap();
    let task_id = placed[0].rsplit('/').next().unwrap();
    let containers =
        berth_testkit::docker(&["ps", "-q", "--filter", &format!("label=com.amazonaws.ecs.task-arn={}", placed[0])])
            .unwrap();
    let container = containers.lines().next().unwrap_or_else(|| panic!("no container of task {task_id}"));
    let storage_opt =
        berth_testkit::docker(&["inspect", "--format", "{{json .HostConfig.StorageOpt}}", container]).unwrap();
    if enforced {
        assert!(storage_opt.contains("\"size\":\"100G\""), "{storage_opt}");
    } else {
        assert!(!storage_opt.contains("size"), "{storage_opt}");
    }

    // A stopped task gives its storage back: the third task fits now.
    aws_ok(&berth, "ecs", &["stop-task", "--task", &placed[0]]);
    let third = wait_for("the storage to come back", Duration::from_secs(60), || async {
        let (cpu_now, _, _) = instance(&berth, &arn);
        if cpu_now != cpu - 256 - 128 {
            return None;
        }
        let out = run(&berth, "fg-disk", "1", "FARGATE");
        (task_arns(&out).len() == 1).then_some(out)
    })
    .await
    .unwrap();
    assert_eq!(third["failures"], json!([]), "{third}");
    aws_ok(&berth, "ecs", &["stop-task", "--task", &job_arn]);
    println!("fargate_storage: {:.1} s", started.elapsed().as_secs_f64());
}
