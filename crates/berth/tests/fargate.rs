//! The FARGATE launch type end to end, through the unchanged aws CLI: Fargate task definitions (their
//! `compatibilities` and ECS's refusals), FARGATE tasks and services on `berth up`'s local agent (which serves both
//! launch types: a Fargate reservation reduces what EC2 placement sees), a capacity provider strategy, the task's
//! cgroup holding the task size, the full pool's answer, and a pool of `--capacity fargate` agents that belongs to
//! no cluster, spread across availability zones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions, wait_for};
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const SUBNETS: &str = "awsvpcConfiguration={subnets=[subnet-0be7f00000000000a,subnet-0be7f00000000000b]}";
const CAPACITY_UNAVAILABLE: &str =
    "Capacity is unavailable at this time. Please try again later or in a different availability zone";

/// A Berth of `role` on its own VPC CIDR, and the workload image's tag.
fn start(role: &'static str) -> (VpcNetworks, Berth, String) {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().expect("the workload image builds");
    // A /16 in 10.128.0.0/10 that no other test of this binary is likely to pick.
    let (cidr, networks) = own_vpc(128, 64, 0, 1);
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role,
        extra_args: vec!["--vpc-cidr".into(), cidr],
    })
    .expect("berth starts");
    (networks, berth, image)
}

/// A Fargate task definition of the workload (`cpu`, `memory` as given), as a user writes one.
fn fargate_definition(family: &str, image: &str, cpu: &str, memory: &str) -> Value {
    json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": cpu,
        "memory": memory,
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        "containerDefinitions": [{
            "name": "web",
            "image": image,
            "essential": true,
            "portMappings": [{"containerPort": 8080}],
            "environment": [{"name": "PORT", "value": "8080"}]
        }]
    })
}

fn register(berth: &Berth, definition: &Value) -> Result<Value, String> {
    let input = definition.to_string();
    aws_json(berth, "ecs", &["register-task-definition", "--cli-input-json", &input], &[])
}

/// Waits until a task is RUNNING (its description) or fails the test if it stops.
fn wait_running(berth: &Berth, cluster: &str, task_arn: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let out = aws_ok(berth, "ecs", &["describe-tasks", "--cluster", cluster, "--tasks", task_arn]);
        let task = out["tasks"][0].clone();
        match task["lastStatus"].as_str() {
            Some("RUNNING") => return task,
            Some("STOPPED") => panic!("the task stopped: {task}"),
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "the task did not reach RUNNING: {task}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The instance's remaining CPU units.
fn remaining_cpu(berth: &Berth, instance: &str) -> i64 {
    let out = aws_ok(berth, "ecs", &["describe-container-instances", "--container-instances", instance]);
    let resources = out["containerInstances"][0]["remainingResources"].as_array().unwrap().clone();
    resources.iter().find(|r| r["name"] == "CPU").and_then(|r| r["integerValue"].as_i64()).unwrap()
}

/// The task's cgroup files as the agent wrote them (cgroup v1 or v2): (memory bytes, CPU quota per 100 ms).
fn task_cgroup(task_id: &str) -> (String, String) {
    let read = |p: String| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}")).trim().to_string();
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let max = read(format!("/sys/fs/cgroup/berth/{task_id}/cpu.max"));
        (read(format!("/sys/fs/cgroup/berth/{task_id}/memory.max")), max.split(' ').next().unwrap().to_string())
    } else {
        (
            read(format!("/sys/fs/cgroup/memory/berth/{task_id}/memory.limit_in_bytes")),
            read(format!("/sys/fs/cgroup/cpu/berth/{task_id}/cpu.cfs_quota_us")),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fargate_tasks_and_a_service_run_on_the_local_agent() {
    let (_networks, berth, image) = start("up");
    let client = ecs_client(&berth);
    let instance = wait_for_instances(&client, "default", 1).await.remove(0);

    // A Fargate definition with ECS's string sizes: normalised, validated against EC2 and FARGATE.
    let registered = register(&berth, &fargate_definition("fg-web", &image, ".25 vCPU", "0.5 GB")).unwrap();
    let td = &registered["taskDefinition"];
    assert_eq!((td["cpu"].as_str(), td["memory"].as_str()), (Some("256"), Some("512")));
    assert_eq!(td["compatibilities"], json!(["EC2", "FARGATE"]));
    assert_eq!(td["requiresCompatibilities"], json!(["FARGATE"]));
    let names: Vec<&str> =
        td["requiresAttributes"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert!(names.contains(&"ecs.capability.task-eni"), "{names:?}");

    // One FARGATE task: its fields as Fargate shows them, its cgroup holding the task size.
    let before = remaining_cpu(&berth, &instance);
    let run = aws_ok(
        &berth,
        "ecs",
        &[
            "run-task",
            "--task-definition",
            "fg-web",
            "--launch-type",
            "FARGATE",
            "--platform-version",
            "LATEST",
            "--network-configuration",
            SUBNETS,
        ],
    );
    assert_eq!(run["failures"], json!([]), "{run}");
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let task = wait_running(&berth, "default", &arn);
    assert_eq!(task["launchType"], "FARGATE");
    assert_eq!(task["platformVersion"], "1.4.0");
    assert_eq!(task["platformFamily"], "Linux");
    assert_eq!(task["capacityProviderName"], "FARGATE");
    assert!(task.get("containerInstanceArn").is_none(), "{task}");
    assert_eq!((task["cpu"].as_str(), task["memory"].as_str()), (Some("256"), Some("512")));
    assert_eq!(task["ephemeralStorage"], json!({"sizeInGiB": 20}));
    assert_eq!(task["attachments"][0]["type"], "ElasticNetworkInterface");
    assert_eq!(task["attachments"][0]["status"], "ATTACHED");
    let task_id = arn.rsplit('/').next().unwrap();
    assert_eq!(task_cgroup(task_id), ((512u64 << 20).to_string(), "25000".to_string()));
    // The task metadata endpoint shows Fargate's fields: the launch type and the ephemeral storage metrics. The
    // host reaches it where the agent serves it (the log says; the task's own security group keeps the host out).
    let log = berth.log();
    let base = log
        .lines()
        .find(|l| l.contains("task metadata endpoint"))
        .and_then(|l| l.split("base=").nth(1))
        .map(|b| b.split_whitespace().next().unwrap().to_string())
        .expect("the agent logs its metadata endpoint");
    let meta: Value = serde_json::from_str(&wait_http_ok(&format!("{base}/v4/{task_id}/web/task")).await).unwrap();
    assert_eq!(meta["LaunchType"], "FARGATE", "{meta}");
    assert_eq!(meta["EphemeralStorageMetrics"]["Reserved"], 20 * 1024, "{meta}");
    assert!(meta["EphemeralStorageMetrics"]["Utilized"].as_u64().is_some(), "{meta}");
    // The same instance serves EC2 placement: the Fargate reservation is taken from what it has left.
    assert_eq!(remaining_cpu(&berth, &instance), before - 256);
    // The instance's own cluster lists it; a Fargate task's cluster is its own.
    assert!(task["clusterArn"].as_str().unwrap().ends_with(":cluster/default"));

    // A FARGATE service of two tasks.
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-service",
            "--service-name",
            "fg-svc",
            "--task-definition",
            "fg-web",
            "--desired-count",
            "2",
            "--launch-type",
            "FARGATE",
            "--network-configuration",
            SUBNETS,
        ],
    );
    let service = wait_stable(&client, "default", "fg-svc", Duration::from_secs(120)).await;
    assert_eq!(service.running_count, 2);
    assert_eq!(service.platform_version(), Some("1.4.0"));
    assert_eq!(service.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    let listed = aws_ok(&berth, "ecs", &["list-tasks", "--service-name", "fg-svc"]);
    for arn in listed["taskArns"].as_array().unwrap() {
        let t = wait_running(&berth, "default", arn.as_str().unwrap());
        assert_eq!((t["launchType"].as_str(), t["platformVersion"].as_str()), (Some("FARGATE"), Some("1.4.0")));
    }

    // A capacity provider strategy in a cluster with no container instances of its own.
    aws_ok(
        &berth,
        "ecs",
        &["create-cluster", "--cluster-name", "fg", "--capacity-providers", "FARGATE", "FARGATE_SPOT"],
    );
    let spot = aws_ok(
        &berth,
        "ecs",
        &[
            "run-task",
            "--cluster",
            "fg",
            "--task-definition",
            "fg-web",
            "--capacity-provider-strategy",
            "capacityProvider=FARGATE_SPOT,weight=1",
            "--network-configuration",
            SUBNETS,
        ],
    );
    let spot_arn = spot["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let spot_task = wait_running(&berth, "fg", &spot_arn);
    assert_eq!(
        (spot_task["capacityProviderName"].as_str(), spot_task["launchType"].as_str()),
        (Some("FARGATE_SPOT"), Some("FARGATE"))
    );
    assert!(spot_task["clusterArn"].as_str().unwrap().ends_with(":cluster/fg"));
    let fg_instances = aws_ok(&berth, "ecs", &["list-container-instances", "--cluster", "fg"]);
    assert_eq!(fg_instances["containerInstanceArns"], json!([]));

    // A task bigger than every Fargate host: ECS's capacity answer, nothing placed.
    register(&berth, &fargate_definition("fg-huge", &image, "16384", "32768")).unwrap();
    let huge = aws_ok(
        &berth,
        "ecs",
        &["run-task", "--task-definition", "fg-huge", "--launch-type", "FARGATE", "--network-configuration", SUBNETS],
    );
    assert_eq!(huge["tasks"], json!([]));
    assert_eq!(huge["failures"][0]["reason"], CAPACITY_UNAVAILABLE, "{huge}");

    // Stopping the task gives its reservation back and removes its cgroup with its containers.
    aws_ok(&berth, "ecs", &["stop-task", "--task", &arn]);
    wait_for("the reservation to come back", Duration::from_secs(60), || async {
        (remaining_cpu(&berth, &instance) == before - 3 * 256).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fargate_definitions_and_launches_are_refused_as_ecs_refuses_them() {
    let (_networks, berth, image) = start("server");
    let refused = |definition: Value, needle: &str| {
        let err = register(&berth, &definition).expect_err("refused");
        assert!(err.contains("ClientException") && err.contains(needle), "{needle}: {err}");
    };
    let base = fargate_definition("fg-bad", &image, "256", "512");
    let with = |patch: &dyn Fn(&mut Value)| {
        let mut d = base.clone();
        patch(&mut d);
        d
    };
    refused(
        with(&|d| d["networkMode"] = json!("bridge")),
        "Fargate only supports network mode \u{2018}awsvpc\u{2019}.",
    );
    refused(
        with(&|d| d.as_object_mut().unwrap().remove("cpu").map(drop).unwrap()),
        "Fargate requires that 'cpu' be defined at the task level.",
    );
    refused(
        with(&|d| d["memory"] = json!("4096")),
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory",
    );
    refused(
        with(&|d| d["pidMode"] = json!("host")),
        "do not support pidMode 'host'. The supported value for pidMode is 'task'.",
    );
    refused(with(&|d| d["ephemeralStorage"] = json!({"sizeInGiB": 201})), "between 21 and 200 GiB");
    refused(
        with(&|d| d["volumes"] = json!([{"name": "logs", "host": {"sourcePath": "/var/log"}}])),
        "Fargate compatible task definitions do not support sourcePath",
    );
    refused(
        with(&|d| d["containerDefinitions"][0]["privileged"] = json!(true)),
        "do not support privileged containers",
    );
    refused(
        with(&|d| d["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 8080, "hostPort": 80}])),
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    );
    // Without requiring FARGATE, a definition breaking Fargate's rules registers, validated against EC2 only.
    let mut ec2_only = with(&|d| d["containerDefinitions"][0]["privileged"] = json!(true));
    ec2_only["family"] = json!("ec2-only");
    ec2_only.as_object_mut().unwrap().remove("requiresCompatibilities");
    let registered = register(&berth, &ec2_only).unwrap();
    assert_eq!(registered["taskDefinition"]["compatibilities"], json!(["EC2"]));

    // Launches.
    register(&berth, &base).unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["run-task"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--network-configuration", SUBNETS]);
        aws_err(&berth, "ecs", &all)
    };
    let err = run(&["--task-definition", "ec2-only", "--launch-type", "FARGATE"]);
    assert!(
        err.contains("InvalidParameterException")
            && err.contains("Task definition does not support launch_type FARGATE."),
        "{err}"
    );
    let err = run(&["--task-definition", "fg-bad", "--launch-type", "FARGATE", "--platform-version", "1.3.0"]);
    assert!(err.contains("UnsupportedFeatureException") && err.contains("1.3.0"), "{err}");
    let err = run(&["--task-definition", "fg-bad", "--launch-type", "FARGATE", "--platform-version", "9.9.9"]);
    assert!(err.contains("PlatformUnknownException"), "{err}");
    let err = run(&["--task-definition", "fg-bad", "--capacity-provider-strategy", "capacityProvider=FARGATE"]);
    assert!(err.contains("capacity provider that is not associated with the cluster"), "{err}");
    // A node group provider the cluster does not name (capacity_providers.rs runs them).
    let err = run(&["--task-definition", "fg-bad", "--capacity-provider-strategy", "capacityProvider=my-asg"]);
    assert!(err.contains("capacity provider that is not associated with the cluster"), "{err}");
    let err = run(&[
        "--task-definition",
        "fg-bad",
        "--launch-type",
        "FARGATE",
        "--placement-strategy",
        "type=binpack,field=cpu",
    ]);
    assert!(err.contains("Placement strategies are not supported with FARGATE launch type."), "{err}");
    let err = run(&[
        "--task-definition",
        "fg-bad",
        "--launch-type",
        "EC2",
        "--capacity-provider-strategy",
        "capacityProvider=FARGATE",
    ]);
    assert!(err.contains("Specifying both a launch type and capacity provider strategy is not supported"), "{err}");
    let err = aws_err(&berth, "ecs", &["run-task", "--task-definition", "fg-bad", "--launch-type", "FARGATE"]);
    assert!(err.contains("Network Configuration must be provided when networkMode 'awsvpc' is specified."), "{err}");
    // No Fargate capacity at all (a server without agents): ECS's capacity answer, not "no container instances".
    let empty = aws_ok(
        &berth,
        "ecs",
        &["run-task", "--task-definition", "fg-bad", "--launch-type", "FARGATE", "--network-configuration", SUBNETS],
    );
    assert_eq!(empty["failures"][0]["reason"], CAPACITY_UNAVAILABLE, "{empty}");
    // A cluster's default strategy applies when a request names neither a launch type nor a strategy.
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-cluster",
            "--cluster-name",
            "dflt",
            "--capacity-providers",
            "FARGATE",
            "--default-capacity-provider-strategy",
            "capacityProvider=FARGATE,weight=1",
        ],
    );
    let by_default = aws_ok(
        &berth,
        "ecs",
        &["run-task", "--cluster", "dflt", "--task-definition", "fg-bad", "--network-configuration", SUBNETS],
    );
    assert_eq!(by_default["failures"][0]["reason"], CAPACITY_UNAVAILABLE, "{by_default}");
    let err = run(&["--cluster", "dflt", "--task-definition", "ec2-only"]);
    assert!(err.contains("Task definition does not support launch_type FARGATE."), "{err}");
    // A service says so in its events, as Fargate services do.
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-service",
            "--service-name",
            "no-capacity",
            "--task-definition",
            "fg-bad",
            "--desired-count",
            "1",
            "--launch-type",
            "FARGATE",
            "--network-configuration",
            SUBNETS,
        ],
    );
    let client = ecs_client(&berth);
    let expected = format!("(service no-capacity) was unable to place a task. Reason: {CAPACITY_UNAVAILABLE}.");
    wait_for("the capacity event", Duration::from_secs(60), || async {
        let service = describe_service(&client, "default", "no-capacity").await;
        events(&service).contains(&expected).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_fargate_agents_belongs_to_no_cluster_and_spreads_across_zones() {
    let (_networks, mut berth, image) = start("server");
    let client = ecs_client(&berth);
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let dir = berth.data_dir.path().join(format!("pool-{i}"));
        let host = format!("pool-{i}");
        let args = [
            "--capacity",
            "fargate",
            "--availability-zone",
            az,
            "--hostname",
            &host,
            "--cpu-units",
            "1024",
            "--memory-mib",
            "2048",
            "--metrics-listen",
            "off",
        ];
        berth.start_agent(&dir, &args).expect("a Fargate agent starts");
    }
    register(&berth, &fargate_definition("fg-pool", &image, "512", "1024")).unwrap();
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-service",
            "--service-name",
            "pool-svc",
            "--task-definition",
            "fg-pool",
            "--desired-count",
            "2",
            "--launch-type",
            "FARGATE",
            "--network-configuration",
            SUBNETS,
        ],
    );
    let service = wait_stable(&client, "default", "pool-svc", Duration::from_secs(120)).await;
    assert_eq!(service.running_count, 2);
    let listed = aws_ok(&berth, "ecs", &["list-tasks", "--service-name", "pool-svc"]);
    let mut zones: Vec<String> = listed["taskArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arn| {
            wait_running(&berth, "default", arn.as_str().unwrap())["availabilityZone"].as_str().unwrap().to_string()
        })
        .collect();
    zones.sort();
    assert_eq!(zones, ["us-east-1a", "us-east-1b"], "spread across availability zones");
    // The pool's instances are in no cluster.
    let instances = aws_ok(&berth, "ecs", &["list-container-instances"]);
    assert_eq!(instances["containerInstanceArns"], json!([]));
    let clusters = aws_ok(&berth, "ecs", &["list-clusters"]);
    assert!(!clusters.to_string().contains("fargate"), "{clusters}");
    // An ARM64 task on this x86 pool: the same answer, the detail saying why.
    let mut arm = fargate_definition("fg-arm", &image, "256", "512");
    arm["runtimePlatform"]["cpuArchitecture"] = json!("ARM64");
    register(&berth, &arm).unwrap();
    let arm_run = aws_ok(
        &berth,
        "ecs",
        &["run-task", "--task-definition", "fg-arm", "--launch-type", "FARGATE", "--network-configuration", SUBNETS],
    );
    assert_eq!(arm_run["failures"][0]["reason"], CAPACITY_UNAVAILABLE, "{arm_run}");
    let detail = arm_run["failures"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("cpu architecture ARM64") && detail.contains("MemberOf"), "{detail}");
    // The pool is full: a third task of the same size fits in neither zone (1024 units each, 512 taken).
    let full = aws_ok(
        &berth,
        "ecs",
        &[
            "run-task",
            "--task-definition",
            "fg-pool",
            "--count",
            "3",
            "--launch-type",
            "FARGATE",
            "--network-configuration",
            SUBNETS,
        ],
    );
    assert_eq!(full["tasks"].as_array().unwrap().len(), 2, "{full}");
    assert_eq!(full["failures"][0]["reason"], CAPACITY_UNAVAILABLE, "{full}");
    // A Fargate service takes a new platform version and count as ECS does.
    let updated = aws_ok(
        &berth,
        "ecs",
        &["update-service", "--service", "pool-svc", "--platform-version", "LATEST", "--desired-count", "1"],
    );
    assert_eq!(updated["service"]["platformVersion"], "1.4.0");
    assert_eq!(updated["service"]["desiredCount"], 1);
    let err = aws_err(&berth, "ecs", &["update-service", "--service", "pool-svc", "--platform-version", "1.2.0"]);
    assert!(err.contains("UnsupportedFeatureException"), "{err}");
}

/// Runs `berth capacity <args>` as the user `berth up` printed the export line for; (success, stdout, stderr).
fn berth_capacity(berth: &Berth, args: &[&str]) -> (bool, String, String) {
    let output =
        with_user_env(std::process::Command::new(env!("CARGO_BIN_EXE_berth")).arg("capacity").args(args), berth)
            .output()
            .expect("berth runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reclaims_fargate_spot_capacity_services_replace_the_tasks_and_usage_is_metered() {
    let (_networks, berth, image) = start("up");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    aws_ok(
        &berth,
        "ecs",
        &["create-cluster", "--cluster-name", "spot", "--capacity-providers", "FARGATE", "FARGATE_SPOT"],
    );
    // Two containers: `web` exits 42 on SIGTERM (so its exit code shows the warning reached it), `stubborn`
    // ignores SIGTERM and is killed when its 3 s stop timeout runs out.
    let mut definition = fargate_definition("spot-web", &image, "256", "512");
    definition["containerDefinitions"][0]["environment"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "SIGTERM_EXIT_CODE", "value": "42"}));
    definition["containerDefinitions"].as_array_mut().unwrap().push(json!({
        "name": "stubborn",
        "image": image,
        "essential": false,
        "stopTimeout": 3,
        "environment": [{"name": "IGNORE_SIGTERM", "value": "1"}, {"name": "PORT", "value": "8081"}]
    }));
    register(&berth, &definition).unwrap();
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-service",
            "--cluster",
            "spot",
            "--service-name",
            "spot-svc",
            "--task-definition",
            "spot-web",
            "--desired-count",
            "2",
            "--capacity-provider-strategy",
            "capacityProvider=FARGATE_SPOT,weight=1",
            "--network-configuration",
            SUBNETS,
        ],
    );
    wait_stable(&client, "spot", "spot-svc", Duration::from_secs(120)).await;
    let before = aws_ok(&berth, "ecs", &["list-tasks", "--cluster", "spot", "--service-name", "spot-svc"]);
    let before: Vec<String> =
        before["taskArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    assert_eq!(before.len(), 2);

    // Refusals: nothing named; an on-demand Fargate task; an unknown cluster.
    let (ok, _, err) = berth_capacity(&berth, &["reclaim"]);
    assert!(!ok && err.contains("Name the tasks"), "{err}");
    let demand = aws_ok(
        &berth,
        "ecs",
        &["run-task", "--task-definition", "spot-web", "--launch-type", "FARGATE", "--network-configuration", SUBNETS],
    );
    let demand_arn = demand["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let (ok, _, err) = berth_capacity(&berth, &["reclaim", &demand_arn]);
    assert!(!ok && err.contains("InvalidParameterException") && err.contains("FARGATE_SPOT"), "{err}");
    let (ok, _, err) = berth_capacity(&berth, &["reclaim", "--cluster", "nope", "--count", "1"]);
    assert!(!ok && err.contains("ClusterNotFoundException"), "{err}");

    // One task reclaimed: Fargate Spot's stop code and reason, SIGTERM at once, SIGKILL at the stop timeout.
    let (ok, out, err) = berth_capacity(&berth, &["reclaim", "--cluster", "spot", "--count", "1"]);
    assert!(ok, "{err}");
    let reclaimed: Vec<&str> = out.lines().collect();
    assert_eq!(reclaimed.len(), 1, "{out}");
    assert!(before.contains(&reclaimed[0].to_string()), "{out} not in {before:?}");
    let stopped = wait_status(&client, reclaimed[0], "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped.stop_code().map(|c| c.as_str()), Some("SpotInterruption"));
    assert_eq!(stopped.stopped_reason(), Some("Your Spot Task was interrupted."));
    let exit = |name: &str| stopped.containers().iter().find(|c| c.name() == Some(name)).and_then(|c| c.exit_code());
    assert_eq!((exit("web"), exit("stubborn")), (Some(42), Some(137)), "{stopped:?}");
    let stopping = stopped.stopping_at().unwrap().as_secs_f64();
    let execution_stopped = stopped.execution_stopped_at().unwrap().as_secs_f64();
    assert!(execution_stopped - stopping >= 2.5, "SIGKILL came {}s after SIGTERM", execution_stopped - stopping);

    // The service replaces it.
    let service = wait_stable(&client, "spot", "spot-svc", Duration::from_secs(120)).await;
    assert_eq!(service.running_count, 2);
    let after = aws_ok(&berth, "ecs", &["list-tasks", "--cluster", "spot", "--service-name", "spot-svc"]);
    let after: Vec<&str> = after["taskArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(!after.contains(&reclaimed[0]) && after.len() == 2, "{after:?}");

    // The whole host's Spot capacity taken back (by instance): both service tasks, never the on-demand one.
    let instance =
        aws_ok(&berth, "ecs", &["list-container-instances"])["containerInstanceArns"][0].as_str().unwrap().to_string();
    let (ok, out, err) = berth_capacity(&berth, &["reclaim", "--instance", &instance, "--json"]);
    assert!(ok, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let mut arns: Vec<&str> =
        json["tasks"].as_array().unwrap().iter().map(|t| t["taskArn"].as_str().unwrap()).collect();
    arns.sort();
    let mut expected = after.clone();
    expected.sort();
    assert_eq!(arns, expected);
    assert!(json["tasks"].as_array().unwrap().iter().all(|t| t["stopCode"] == "SpotInterruption"), "{json}");
    let demand_now = aws_ok(&berth, "ecs", &["describe-tasks", "--tasks", &demand_arn]);
    assert_eq!(demand_now["tasks"][0]["desiredStatus"], "RUNNING");
    wait_stable(&client, "spot", "spot-svc", Duration::from_secs(120)).await;

    // Metering: the first reclaimed task used its size from its image pull to its containers' stop, at least a
    // minute, costed at the default rate card's Spot price.
    let (ok, out, err) = berth_usage(&berth, &["--group-by", "task,capacity-provider", "--json"]);
    assert!(ok, "{err}");
    let usage: Value = serde_json::from_str(&out).unwrap();
    let group = usage["groups"].as_array().unwrap().iter().find(|g| g["keys"]["task"] == reclaimed[0]).unwrap().clone();
    assert_eq!(group["keys"]["capacity-provider"], "FARGATE_SPOT");
    let start = stopped.pull_started_at().unwrap().as_secs_f64();
    let metered = (execution_stopped - start).ceil().max(60.0);
    let vcpu_seconds = group["vcpuSeconds"].as_f64().unwrap();
    assert!((vcpu_seconds - 0.25 * metered).abs() <= 0.25, "{vcpu_seconds} vs 0.25 x {metered}");
    assert!((group["gbSeconds"].as_f64().unwrap() - 0.5 * metered).abs() <= 0.5, "{group}");
    assert_eq!(group["storageGbSeconds"].as_f64(), Some(0.0), "20 GiB are included");
    let spot_rates = &usage["rateCard"]["rates"]["FARGATE_SPOT"];
    let cost = (0.25 * spot_rates["vcpuHour"].as_f64().unwrap() + 0.5 * spot_rates["gbHour"].as_f64().unwrap())
        * vcpu_seconds
        / 0.25
        / 3600.0;
    assert!((group["cost"].as_f64().unwrap() - cost).abs() < 1e-9, "{group} vs {cost}");
    // The table: one line per capacity provider and a total.
    let (ok, table, err) = berth_usage(&berth, &["--group-by", "capacity-provider", "--since", "1h"]);
    assert!(ok, "{err}");
    assert!(table.lines().any(|l| l.starts_with("FARGATE_SPOT ")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("FARGATE ")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("TOTAL ")), "{table}");
    let (ok, _, err) = berth_usage(&berth, &["--group-by", "colour"]);
    assert!(!ok && err.contains("Cannot group usage by 'colour'"), "{err}");
}

/// Runs `berth usage <args>` as the user; (success, stdout, stderr).
fn berth_usage(berth: &Berth, args: &[&str]) -> (bool, String, String) {
    let output = with_user_env(std::process::Command::new(env!("CARGO_BIN_EXE_berth")).arg("usage").args(args), berth)
        .output()
        .expect("berth runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
