//! ECS Managed Daemons end to end, through the unchanged aws CLI (the daemon operations) and the ECS SDK (polling
//! tasks): a capacity provider on a node group of real agents, a daemon task RUNNING on each instance; a third agent
//! joining gets its daemon task before any other task (by timestamps); UpdateDaemon rolls a new revision onto every
//! instance and its deployment is SUCCESSFUL; a daemon task that is stopped drains its instance, which comes back
//! ACTIVE with a new daemon task; records survive a server restart; DeleteDaemon stops them all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DesiredStatus, Task, TaskField};
use berth_testkit::{Berth, BerthOptions, wait_for_blocking};
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const GROUP: &str = "daemon:node-agent";

/// The daemon's tasks that have not stopped, by container instance ARN.
async fn daemon_tasks(client: &Client) -> BTreeMap<String, Vec<Task>> {
    let mut out: BTreeMap<String, Vec<Task>> = BTreeMap::new();
    let arns = client
        .list_tasks()
        .cluster("default")
        .desired_status(DesiredStatus::Running)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    if arns.is_empty() {
        return out;
    }
    let tasks =
        client.describe_tasks().cluster("default").set_tasks(Some(arns)).include(TaskField::Tags).send().await.unwrap();
    for task in tasks.tasks.unwrap_or_default() {
        if task.group.as_deref() == Some(GROUP) {
            out.entry(task.container_instance_arn.clone().unwrap_or_default()).or_default().push(task);
        }
    }
    out
}

/// Waits until every instance in `instances` runs exactly one daemon task of `revision` (a daemon task definition
/// ARN), RUNNING; returns them by instance.
async fn wait_daemons_running(client: &Client, instances: &[String], revision: &str) -> BTreeMap<String, Task> {
    berth_testkit::wait_for(
        "a RUNNING daemon task of the revision on every instance",
        Duration::from_secs(60),
        || async {
            let tasks = daemon_tasks(client).await;
            let mut out = BTreeMap::new();
            for instance in instances {
                let [task] = tasks.get(instance)?.as_slice() else { return None };
                if task.last_status.as_deref() != Some("RUNNING")
                    || task.task_definition_arn.as_deref() != Some(revision)
                {
                    return None;
                }
                out.insert(instance.clone(), task.clone());
            }
            Some(out)
        },
    )
    .await
    .expect("daemon tasks run")
}

fn instance_status(berth: &Berth, instance: &str) -> Value {
    let out = aws_ok(berth, "ecs", &["describe-container-instances", "--container-instances", instance]);
    out["containerInstances"][0].clone()
}

fn deployment(berth: &Berth, arn: &str) -> Value {
    let out = aws_ok(berth, "ecs", &["describe-daemon-deployments", "--daemon-deployment-arns", arn]);
    out["daemonDeployments"][0].clone()
}

fn wait_deployment(berth: &Berth, arn: &str, status: &str) -> Value {
    wait_for_blocking(&format!("daemon deployment {status}"), Duration::from_secs(60), || {
        let d = deployment(berth, arn);
        (d["status"] == status).then_some(d)
    })
    .unwrap_or_else(|_| panic!("deployment {arn} never reached {status}: {}", deployment(berth, arn)))
}

fn start_worker(berth: &mut Berth, index: usize) {
    let dir = berth.data_dir.path().join(format!("agent-{index}"));
    let zone = format!("us-east-1{}", (b'a' + index as u8) as char);
    let host = format!("worker-{index}");
    let args = [
        "--node-group",
        "workers",
        "--availability-zone",
        &zone,
        "--hostname",
        &host,
        "--cpu-units",
        "1024",
        "--memory-mib",
        "1024",
    ];
    berth.start_agent(&dir, &args).expect("an agent starts");
}

fn register_daemon_definition(berth: &Berth, marker: &str) -> String {
    let containers = format!(
        r#"[{{"name":"agent","image":"berth-workload:latest","memory":32,"essential":true,
            "environment":[{{"name":"REVISION","value":"{marker}"}}]}}]"#
    );
    let out = aws_ok(
        berth,
        "ecs",
        &["register-daemon-task-definition", "--family", "node-agent", "--container-definitions", &containers],
    );
    out["daemonTaskDefinitionArn"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_runs_on_every_instance_first_rolls_out_revisions_and_drains_on_failure() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let client = ecs_client(&berth);
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-capacity-provider",
            "--name",
            "workers",
            "--auto-scaling-group-provider",
            "autoScalingGroupArn=workers",
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
            "[]",
        ],
    );
    start_worker(&mut berth, 0);
    start_worker(&mut berth, 1);
    let mut instances = wait_for_instances(&client, "default", 2).await;
    instances.sort();

    // Validation with ECS's classes.
    let first = register_daemon_definition(&berth, "one");
    assert!(first.ends_with(":daemon-task-definition/node-agent:1"), "{first}");
    let described =
        aws_ok(&berth, "ecs", &["describe-daemon-task-definition", "--daemon-task-definition", "node-agent"]);
    assert_eq!(described["daemonTaskDefinition"]["status"], "ACTIVE");
    assert_eq!(described["daemonTaskDefinition"]["containerDefinitions"][0]["name"], "agent");
    let err = aws_err(
        &berth,
        "ecs",
        &[
            "create-daemon",
            "--daemon-name",
            "node-agent",
            "--daemon-task-definition-arn",
            &first,
            "--capacity-provider-arns",
            "FARGATE",
        ],
    );
    assert!(err.contains("InvalidParameterException"), "{err}");
    let missing = format!("{}daemon/default/nothing", berth.arn_prefix());
    let err = aws_err(&berth, "ecs", &["describe-daemon", "--daemon-arn", &missing]);
    assert!(err.contains("DaemonNotFoundException"), "{err}");

    // CreateDaemon: one daemon task RUNNING on each instance, and the deployment SUCCESSFUL.
    let provider_arn = format!("{}capacity-provider/workers", berth.arn_prefix());
    let created = aws_ok(
        &berth,
        "ecs",
        &[
            "create-daemon",
            "--daemon-name",
            "node-agent",
            "--daemon-task-definition-arn",
            &first,
            "--capacity-provider-arns",
            &provider_arn,
            "--client-token",
            "create-1",
            "--tags",
            "key=team,value=infra",
            "--propagate-tags",
            "DAEMON",
        ],
    );
    let daemon_arn = created["daemonArn"].as_str().unwrap().to_string();
    assert_eq!(daemon_arn, format!("{}daemon/default/node-agent", berth.arn_prefix()));
    assert_eq!(created["status"], "ACTIVE");
    let again = aws_ok(
        &berth,
        "ecs",
        &[
            "create-daemon",
            "--daemon-name",
            "node-agent",
            "--daemon-task-definition-arn",
            &first,
            "--capacity-provider-arns",
            &provider_arn,
            "--client-token",
            "create-1",
            "--tags",
            "key=team,value=infra",
            "--propagate-tags",
            "DAEMON",
        ],
    );
    assert_eq!(again["daemonArn"], created["daemonArn"], "the client token makes the retry return the same daemon");
    let tasks = wait_daemons_running(&client, &instances, &first).await;
    for task in tasks.values() {
        assert_eq!(task.capacity_provider_name.as_deref(), Some("workers"));
        assert!(task.started_by.as_deref().unwrap().starts_with("ecs-daemon/"), "{:?}", task.started_by);
        assert!(task.tags().iter().any(|t| t.key() == Some("team")), "the daemon's tags propagate");
    }
    wait_deployment(&berth, created["deploymentArn"].as_str().unwrap(), "SUCCESSFUL");
    let detail = aws_ok(&berth, "ecs", &["describe-daemon", "--daemon-arn", &daemon_arn])["daemon"].clone();
    assert_eq!(detail["currentRevisions"][0]["totalRunningCount"], 2, "{detail}");

    // The records survive a restart of the server.
    berth.restart().expect("the server restarts");
    let listed = aws_ok(&berth, "ecs", &["list-daemons", "--cluster-arn", "default"]);
    assert_eq!(listed["daemonSummariesList"][0]["daemonArn"], daemon_arn.as_str());

    // A third instance gets its daemon task before any other task: a task constrained to it is refused until the
    // daemon task runs, and is created after the daemon task started.
    let app = register_workload(&client, "app", &[]).await;
    start_worker(&mut berth, 2);
    let third = wait_for_blocking("the third instance", Duration::from_secs(30), || {
        let listed = aws_ok(&berth, "ecs", &["list-container-instances"]);
        let arns: Vec<String> = listed["containerInstanceArns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .filter(|a| !instances.contains(a))
            .collect();
        arns.into_iter().next()
    })
    .unwrap();
    let placed = wait_for_blocking("a task placed on the third instance", Duration::from_secs(60), || {
        let out = aws_ok(
            &berth,
            "ecs",
            &[
                "run-task",
                "--task-definition",
                &app,
                "--placement-constraints",
                "type=memberOf,expression=attribute:ecs.availability-zone==us-east-1c",
            ],
        );
        out["tasks"].as_array().and_then(|t| t.first()).cloned()
    })
    .unwrap();
    instances.push(third.clone());
    let tasks = wait_daemons_running(&client, &instances, &first).await;
    let daemon_started = tasks[&third].started_at.unwrap().as_secs_f64();
    let app_created = placed["createdAt"].as_f64().unwrap();
    assert!(
        daemon_started <= app_created,
        "the daemon task ran ({daemon_started}) before the other task was placed ({app_created})"
    );
    client.stop_task().cluster("default").task(placed["taskArn"].as_str().unwrap()).send().await.unwrap();

    // UpdateDaemon: the new revision runs on every instance, in batches, and the deployment is SUCCESSFUL.
    let second = register_daemon_definition(&berth, "two");
    let updated = aws_ok(
        &berth,
        "ecs",
        &[
            "update-daemon",
            "--daemon-arn",
            &daemon_arn,
            "--daemon-task-definition-arn",
            &second,
            "--capacity-provider-arns",
            "workers",
            "--deployment-configuration",
            "drainPercent=50",
        ],
    );
    let rolled = wait_deployment(&berth, updated["deploymentArn"].as_str().unwrap(), "SUCCESSFUL");
    assert_eq!(rolled["deploymentConfiguration"]["drainPercent"], 50.0);
    assert_eq!(rolled["sourceDaemonRevisions"].as_array().unwrap().len(), 1, "{rolled}");
    wait_daemons_running(&client, &instances, &second).await;
    let target = rolled["targetDaemonRevision"]["arn"].as_str().unwrap();
    let revisions = aws_ok(&berth, "ecs", &["describe-daemon-revisions", "--daemon-revision-arns", target]);
    assert_eq!(revisions["daemonRevisions"][0]["daemonTaskDefinitionArn"], second.as_str());
    let history = aws_ok(&berth, "ecs", &["list-daemon-deployments", "--daemon-arn", &daemon_arn]);
    assert_eq!(history["daemonDeployments"].as_array().unwrap().len(), 2);
    assert_eq!(history["daemonDeployments"][0]["daemonDeploymentArn"], updated["deploymentArn"], "newest first");

    // A daemon task that stops drains its instance, which gets a new daemon task and comes back ACTIVE.
    let victim = instances[0].clone();
    let before = daemon_tasks(&client).await[&victim][0].task_arn.clone().unwrap();
    client.stop_task().cluster("default").task(&before).reason("testing daemon health").send().await.unwrap();
    let drained = wait_for_blocking("the instance to drain", Duration::from_secs(30), || {
        let status = instance_status(&berth, &victim);
        (status["status"] == "DRAINING").then_some(status)
    })
    .unwrap();
    assert!(drained["statusReason"].as_str().unwrap().contains("testing daemon health"), "{drained}");
    let replaced = wait_daemons_running(&client, &instances, &second).await;
    assert_ne!(replaced[&victim].task_arn.as_deref(), Some(before.as_str()));
    wait_for_blocking("the instance to be ACTIVE again", Duration::from_secs(30), || {
        (instance_status(&berth, &victim)["status"] == "ACTIVE").then_some(())
    })
    .unwrap();

    // DeleteDaemon stops every daemon task; the daemon is then gone.
    let deleted = aws_ok(&berth, "ecs", &["delete-daemon", "--daemon-arn", &daemon_arn]);
    assert_eq!(deleted["status"], "DELETE_IN_PROGRESS");
    berth_testkit::wait_for("every daemon task to stop", Duration::from_secs(60), || async {
        daemon_tasks(&client).await.is_empty().then_some(())
    })
    .await
    .unwrap();
    wait_for_blocking("the daemon to be gone", Duration::from_secs(30), || {
        aws_json(&berth, "ecs", &["describe-daemon", "--daemon-arn", &daemon_arn], &[])
            .err()
            .filter(|e| e.contains("DaemonNotFoundException"))
    })
    .unwrap();
    let gone = aws_ok(&berth, "ecs", &["delete-daemon-task-definition", "--daemon-task-definition", "node-agent:1"]);
    assert!(gone["daemonTaskDefinitionArn"].as_str().unwrap().ends_with("node-agent:1"));
    let listed = aws_ok(&berth, "ecs", &["list-daemon-task-definitions", "--status", "ALL"]);
    assert_eq!(listed["daemonTaskDefinitions"].as_array().unwrap().len(), 2);
    berth.remove_containers();
}
