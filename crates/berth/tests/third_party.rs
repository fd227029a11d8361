//! Third-party ECS tools from PyPI against a real `berth up`, unchanged but for `AWS_ENDPOINT_URL` (issue 9):
//! fabfuel's `ecs-deploy` and Ansible's `community.aws` ECS modules, each driving a deploy (new image, new task
//! definition revision, service update), a scale, a one-off task and a rollback. The tools run as subprocesses
//! with the variables `berth up` prints and no AWS config files; every effect is checked through `aws-sdk-ecs`.
//! `tools/test` installs the tools, pinned, into `.venv` (`ECS_DEPLOY_VERSION`, `ANSIBLE_VERSION`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{Task, TaskDefinitionStatus};
use berth_testkit::{Berth, wait_for};
use common::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tool from the project's `.venv` (where `tools/test` installs it), else from `PATH`.
fn tool(name: &str) -> PathBuf {
    let venv = berth_testkit::workspace_root().join(".venv").join("bin").join(name);
    if venv.exists() { venv } else { PathBuf::from(name) }
}

/// Runs a tool as a user would after pasting `berth up`'s export line: the endpoint, the root keys and the region
/// in the environment, no AWS config or credentials files.
fn run(berth: &Berth, program: &str, args: &[&str], extra_env: &[(&str, String)]) -> Output {
    let started = Instant::now();
    let output = with_user_env(Command::new(tool(program)).args(args), berth)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is not installed ({e}); `tools/test --setup-only` installs it into .venv")
        });
    println!("{program} {} -> {} in {:.1?}", args.join(" "), output.status, started.elapsed());
    output
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `ecs <args>` (ecs-deploy's command); returns its output, asserting it succeeded.
fn ecs_deploy(berth: &Berth, args: &[&str]) -> String {
    let output = run(berth, "ecs", args, &[]);
    assert!(output.status.success(), "ecs {}: {}", args.join(" "), text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs one community.aws module ad hoc on the implicit localhost (the controller's Python, so the `.venv`'s
/// boto3) with the JSON stdout callback; returns the module's result, asserting it did not fail.
fn ansible(berth: &Berth, module: &str, args: Value) -> Value {
    let home = berth.data_dir.path().join("ansible");
    let env = [
        ("ANSIBLE_HOME", home.display().to_string()),
        ("ANSIBLE_LOCAL_TEMP", home.join("tmp").display().to_string()),
        ("ANSIBLE_STDOUT_CALLBACK", "ansible.posix.json".to_string()),
        ("ANSIBLE_LOAD_CALLBACK_PLUGINS", "1".to_string()),
        ("ANSIBLE_NOCOLOR", "1".to_string()),
        ("LC_ALL", "C.UTF-8".to_string()),
    ];
    let module = format!("community.aws.{module}");
    let args = args.to_string();
    let output = run(berth, "ansible", &["localhost", "-m", &module, "-a", &args], &env);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("ansible {module} printed no JSON report ({e}): {}", text(&output)));
    let result = report["plays"][0]["tasks"][0]["hosts"]["localhost"].clone();
    assert!(
        output.status.success() && result["failed"] != true,
        "ansible {module} {args} failed: {}",
        serde_json::to_string_pretty(&result).unwrap()
    );
    result
}

/// The service's task definition ARN once it is stable (one deployment, running == desired).
async fn stable_task_definition(client: &Client, name: &str) -> String {
    let service = wait_stable(client, "default", name, Duration::from_secs(90)).await;
    service.task_definition.expect("a service has a task definition")
}

/// The service's RUNNING tasks.
async fn running_tasks(client: &Client, service: &str) -> Vec<Task> {
    let arns = client.list_tasks().service_name(service).send().await.unwrap().task_arns.unwrap_or_default();
    if arns.is_empty() {
        return Vec::new();
    }
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap_or_default();
    tasks.into_iter().filter(|t| t.last_status.as_deref() == Some("RUNNING")).collect()
}

/// Waits until the service runs exactly `count` tasks, all of `task_definition`; returns them.
async fn wait_tasks_of(client: &Client, service: &str, task_definition: &str, count: usize) -> Vec<Task> {
    wait_for(&format!("{count} tasks of {task_definition} in {service}"), Duration::from_secs(90), || async {
        let tasks = running_tasks(client, service).await;
        (tasks.len() == count && tasks.iter().all(|t| t.task_definition_arn.as_deref() == Some(task_definition)))
            .then_some(tasks)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The image of the first container of a task definition, and its status.
async fn image_and_status(client: &Client, task_definition: &str) -> (String, TaskDefinitionStatus) {
    let td = client.describe_task_definition().task_definition(task_definition).send().await.unwrap();
    let td = td.task_definition.unwrap();
    (td.container_definitions()[0].image.clone().unwrap(), td.status.unwrap())
}

/// Waits until a task has stopped; returns it.
async fn wait_stopped(client: &Client, arn: &str) -> Task {
    wait_status(client, arn, "STOPPED", Duration::from_secs(60)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_deploy_deploys_scales_runs_a_one_off_task_and_rolls_back() {
    let (berth, client) = berth_up().await;
    let new_image = berth_testkit::workload_image().unwrap(); // berth-workload:<hash>, the same bytes as :latest
    let rev1 = register_workload(&client, "fabfuel", &[]).await;
    client.create_service().service_name("web").task_definition("fabfuel").desired_count(2).send().await.unwrap();
    assert_eq!(stable_task_definition(&client, "web").await, rev1);

    // Deploy a new image: ecs-deploy registers revision 2 from revision 1, updates the service, waits for it and
    // deregisters revision 1.
    let out = ecs_deploy(&berth, &["deploy", "default", "web", "--image", "app", &new_image, "--timeout", "120"]);
    assert!(out.contains("Deployment successful"), "{out}");
    let rev2 = rev1.replace("fabfuel:1", "fabfuel:2");
    assert_eq!(stable_task_definition(&client, "web").await, rev2);
    assert_eq!(image_and_status(&client, &rev2).await, (new_image.clone(), TaskDefinitionStatus::Active));
    assert_eq!(image_and_status(&client, &rev1).await.1, TaskDefinitionStatus::Inactive);
    wait_tasks_of(&client, "web", &rev2, 2).await;

    // Scale.
    let out = ecs_deploy(&berth, &["scale", "default", "web", "3", "--timeout", "120"]);
    assert!(out.contains("Scaling successful"), "{out}");
    assert_eq!(describe_service(&client, "default", "web").await.desired_count, 3);
    wait_tasks_of(&client, "web", &rev2, 3).await;

    // A one-off task with a command override: it runs to STOPPED with the command's exit code.
    let out = ecs_deploy(&berth, &["run", "default", "fabfuel:2", "1", "--command", "app", "exit 3"]);
    let one_off: Vec<&str> = out.lines().filter_map(|l| l.trim().strip_prefix("- ")).collect();
    assert_eq!(one_off.len(), 1, "{out}");
    let task = wait_stopped(&client, one_off[0]).await;
    assert_eq!(task.started_by.as_deref(), Some("ECS Deploy"));
    assert_eq!(task.task_definition_arn.as_deref(), Some(rev2.as_str()));
    assert_eq!(task.containers()[0].exit_code, Some(3), "{task:?}");

    // A deploy whose containers exit at once never becomes stable: with --rollback, ecs-deploy gives up after its
    // timeout, puts revision 2 back and deregisters revision 3.
    let output = run(
        &berth,
        "ecs",
        &["deploy", "default", "web", "--command", "app", "exit 1", "--timeout", "20", "--rollback"],
        &[],
    );
    assert!(!output.status.success(), "the failing deploy should fail: {}", text(&output));
    let said = text(&output);
    assert!(said.contains("Rolling back to task definition: fabfuel:2"), "{said}");
    assert!(said.contains("Rollback successful"), "{said}");
    let rev3 = rev1.replace("fabfuel:1", "fabfuel:3");
    assert_eq!(stable_task_definition(&client, "web").await, rev2);
    assert_eq!(image_and_status(&client, &rev3).await.1, TaskDefinitionStatus::Inactive);
    assert_eq!(image_and_status(&client, &rev2).await.1, TaskDefinitionStatus::Active);
    wait_tasks_of(&client, "web", &rev2, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ansible_community_aws_modules_deploy_scale_run_and_roll_back() {
    let (berth, client) = berth_up().await;
    let new_image = berth_testkit::workload_image().unwrap();

    // ecs_cluster: a cluster made and deleted by Ansible.
    let made = ansible(&berth, "ecs_cluster", json!({"name": "made-by-ansible", "state": "present"}));
    assert_eq!(made["changed"], true, "{made}");
    let clusters = client.describe_clusters().clusters("made-by-ansible").send().await.unwrap();
    assert_eq!(clusters.clusters()[0].status.as_deref(), Some("ACTIVE"));
    let again = ansible(&berth, "ecs_cluster", json!({"name": "made-by-ansible", "state": "present"}));
    assert_eq!(again["changed"], false, "a second run changes nothing: {again}");

    // ecs_taskdefinition, ecs_service: revision 1 with two tasks.
    let container = |image: &str| {
        json!([{"name": "app", "image": image, "memory": 64,
                "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
                "environment": [{"name": "IMAGE", "value": image}]}])
    };
    let td = |image: &str| json!({"family": "ansible", "state": "present", "network_mode": "bridge", "containers": container(image)});
    let rev1 = ansible(&berth, "ecs_taskdefinition", td("berth-workload:latest"));
    let rev1 = rev1["taskdefinition"]["taskDefinitionArn"].as_str().expect("the new revision's ARN").to_string();
    assert!(rev1.ends_with(":task-definition/ansible:1"), "{rev1}");
    let service = |task_definition: &str, count: u32| {
        json!({"name": "web", "cluster": "default", "state": "present", "task_definition": task_definition,
               "desired_count": count})
    };
    ansible(&berth, "ecs_service", service("ansible:1", 2));
    assert_eq!(stable_task_definition(&client, "web").await, rev1);
    wait_tasks_of(&client, "web", &rev1, 2).await;

    // Deploy a new image: a new revision, then the service updated to it.
    let rev2 = ansible(&berth, "ecs_taskdefinition", td(&new_image));
    let rev2 = rev2["taskdefinition"]["taskDefinitionArn"].as_str().unwrap().to_string();
    assert!(rev2.ends_with(":task-definition/ansible:2"), "{rev2}");
    let updated = ansible(&berth, "ecs_service", service("ansible:2", 2));
    assert_eq!(updated["changed"], true, "{updated}");
    assert_eq!(stable_task_definition(&client, "web").await, rev2);
    let tasks = wait_tasks_of(&client, "web", &rev2, 2).await;
    let body = wait_http_ok(&format!("http://127.0.0.1:{}/", host_port(&tasks[0]))).await;
    assert!(body.contains(&format!("\"IMAGE\":\"{new_image}\"")), "{body}");

    // Scale.
    ansible(&berth, "ecs_service", service("ansible:2", 3));
    assert_eq!(describe_service(&client, "default", "web").await.desired_count, 3);
    wait_tasks_of(&client, "web", &rev2, 3).await;

    // A one-off task with a command override: it runs to STOPPED with the command's exit code. ecs_task lists the
    // family's RUNNING tasks first with `family` = its task_definition, which ECS (and Berth) refuse with a revision
    // in it (ansible/ansible#32872), so it gets the family: the latest ACTIVE revision, 2.
    let ran = ansible(
        &berth,
        "ecs_task",
        json!({"operation": "run", "cluster": "default", "task_definition": "ansible", "count": 1,
               "started_by": "ansible", "overrides": {"containerOverrides": [{"name": "app", "command": ["exit", "4"]}]}}),
    );
    let arn = ran["task"][0]["taskArn"].as_str().unwrap_or_else(|| panic!("ecs_task returns the task: {ran}"));
    let task = wait_stopped(&client, arn).await;
    assert_eq!(task.started_by.as_deref(), Some("ansible"));
    assert_eq!(task.task_definition_arn.as_deref(), Some(rev2.as_str()));
    assert_eq!(task.containers()[0].exit_code, Some(4), "{task:?}");

    // Roll back: the service back on revision 1.
    let back = ansible(&berth, "ecs_service", service("ansible:1", 3));
    assert_eq!(back["changed"], true, "{back}");
    assert_eq!(stable_task_definition(&client, "web").await, rev1);
    wait_tasks_of(&client, "web", &rev1, 3).await;

    // Tear down: the service (forced, it is scaled up) and the cluster Ansible made.
    ansible(
        &berth,
        "ecs_service",
        json!({"name": "web", "cluster": "default", "state": "absent", "force_deletion": true}),
    );
    wait_for("the service to be INACTIVE", Duration::from_secs(60), || async {
        (describe_service(&client, "default", "web").await.status.as_deref() == Some("INACTIVE")).then_some(())
    })
    .await
    .unwrap();
    ansible(&berth, "ecs_cluster", json!({"name": "made-by-ansible", "state": "absent"}));
    let clusters = client.describe_clusters().clusters("made-by-ansible").send().await.unwrap();
    assert_eq!(clusters.clusters()[0].status.as_deref(), Some("INACTIVE"));
}
