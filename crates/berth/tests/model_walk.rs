//! The model walk: every operation of the installed ECS model (the botocore the pinned aws CLI brings) gets one
//! well-formed, signed request against a real `berth up`. Each must work, or give the one answer ECS itself gives
//! to that request here (listed below with the reason): no operation answers UnsupportedFeatureException any more
//! (issue 15's acceptance). The test prints the counts.
//!
//! Requests are built from the model: required members get values from the resources the walk created (by member
//! name), and the operations that need specific members have their request written out. Operations run in an
//! order where each finds what it needs (creates first, deletes last), on resources of their own when they destroy.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Operations whose well-formed request, sent with the root credentials in this set-up, gets an ECS exception
/// that is the right answer, and why.
const EXPECTED_ANSWERS: &[(&str, &str, &str)] = &[
    (
        "ContinueServiceDeployment",
        "InvalidParameterException",
        "the walk's service rolls: its deployments have no lifecycle hooks (blue_green.rs continues a paused one)",
    ),
    (
        "UpdateContainerAgent",
        "NoUpdateAvailableException",
        "the local agent is the server's own version: there is nothing to update to",
    ),
    (
        "ListServicesByNamespace",
        "NamespaceNotFoundException",
        "the walk creates no Cloud Map namespace (service_lb.rs lists a service by its namespace)",
    ),
    (
        "SubmitAttachmentStateChanges",
        "InvalidParameterException",
        "Berth's task attachments (awsvpc interfaces) follow their task: no agent reports one separately",
    ),
];

/// The order operations run in: creations, then reads and updates, then the destructive ones. Operations not
/// listed (new in a later model, or unsupported) run after the reads.
const FIRST: &[&str] = &[
    "PutAccountSetting",
    "PutAccountSettingDefault",
    "CreateCluster",
    "RegisterTaskDefinition",
    "RegisterContainerInstance",
    "CreateCapacityProvider",
    "PutClusterCapacityProviders",
    "RegisterDaemonTaskDefinition",
    "CreateDaemon",
    "RunTask",
    "StartTask",
    "CreateService",
    "CreateTaskSet",
    "CreateExpressGatewayService",
    "PutAttributes",
    "TagResource",
];
const LAST: &[&str] = &[
    "DeleteExpressGatewayService",
    "DeleteTaskSet",
    "UpdateService",
    "StopServiceDeployment",
    "UntagResource",
    "DeleteAttributes",
    "StopTask",
    "DeleteService",
    "DeregisterContainerInstance",
    "DeregisterTaskDefinition",
    "DeleteTaskDefinitions",
    "DeleteDaemon",
    "DeleteDaemonTaskDefinition",
    "DeleteCluster",
    "DeleteCapacityProvider",
    "DeleteAccountSetting",
];

/// What the walk created, by the names requests refer to.
#[derive(Default)]
struct Walk {
    values: BTreeMap<&'static str, String>,
}

impl Walk {
    fn get(&self, key: &str) -> String {
        self.values.get(key).cloned().unwrap_or_else(|| panic!("the walk has no {key} yet"))
    }
}

/// A request for `operation` written out, where the model's required members are not enough or the operation
/// must act on a resource of its own.
fn written_request(operation: &str, w: &Walk) -> Option<Value> {
    let task = || w.get("task");
    let instance = || w.get("instance");
    Some(match operation {
        "PutAccountSetting" | "PutAccountSettingDefault" => json!({"name": "containerInsights", "value": "enabled"}),
        "DeleteAccountSetting" => json!({"name": "containerInsights"}),
        "ListAccountSettings" => json!({}),
        "UpdateClusterSettings" => {
            json!({"cluster": "default", "settings": [{"name": "containerInsights", "value": "enabled"}]})
        }
        "CreateCluster" => json!({"clusterName": "walk-doomed"}),
        "DeleteCluster" => json!({"cluster": "walk-doomed"}),
        "RegisterTaskDefinition" => json!({"family": "walk-extra", "containerDefinitions": [
            {"name": "app", "image": "berth-workload:latest", "memory": 32}]}),
        "DeregisterTaskDefinition" => json!({"taskDefinition": "walk-extra:1"}),
        "DeleteTaskDefinitions" => json!({"taskDefinitions": ["walk-extra:1"]}),
        "RegisterContainerInstance" => json!({"cluster": "default", "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 512}]}),
        "DeregisterContainerInstance" => {
            json!({"cluster": "default", "containerInstance": w.get("extra-instance"), "force": true})
        }
        "UpdateContainerInstancesState" => {
            json!({"cluster": "default", "containerInstances": [w.get("extra-instance")], "status": "ACTIVE"})
        }
        "UpdateContainerAgent" => json!({"cluster": "default", "containerInstance": instance()}),
        "RunTask" => json!({"cluster": "default", "taskDefinition": "walk-td", "count": 1}),
        "StartTask" => json!({"cluster": "default", "taskDefinition": "walk-td", "containerInstances": [instance()]}),
        "StopTask" => json!({"cluster": "default", "task": w.get("started-task"), "reason": "model walk"}),
        "CreateService" => {
            json!({"cluster": "default", "serviceName": "walk-doomed", "taskDefinition": "walk-td", "desiredCount": 0})
        }
        "DeleteService" => json!({"cluster": "default", "service": "walk-doomed", "force": true}),
        // Task sets belong to the walk's service with the EXTERNAL deployment controller.
        "CreateTaskSet" => json!({"cluster": "default", "service": "walk-ext", "taskDefinition": "walk-td",
            "scale": {"value": 0, "unit": "PERCENT"}, "externalId": "walk"}),
        "DescribeTaskSets" => json!({"cluster": "default", "service": "walk-ext", "include": ["TAGS"]}),
        "UpdateTaskSet" => json!({"cluster": "default", "service": "walk-ext", "taskSet": w.get("task-set"),
            "scale": {"value": 0, "unit": "PERCENT"}}),
        "UpdateServicePrimaryTaskSet" => {
            json!({"cluster": "default", "service": "walk-ext", "primaryTaskSet": w.get("task-set")})
        }
        "DeleteTaskSet" => {
            json!({"cluster": "default", "service": "walk-ext", "taskSet": w.get("task-set"), "force": true})
        }
        // A deployment to an image that does not exist stays in progress, so StopServiceDeployment has one to stop.
        "UpdateService" => json!({"cluster": "default", "service": "walk-svc", "taskDefinition": "walk-broken"}),
        "PutAttributes" | "DeleteAttributes" => json!({"cluster": "default", "attributes": [
            {"name": "walk.attribute", "value": "yes", "targetType": "container-instance", "targetId": instance()}]}),
        "ListAttributes" => json!({"cluster": "default", "targetType": "container-instance"}),
        "CreateCapacityProvider" => {
            json!({"name": "walk-cp", "autoScalingGroupProvider": {"autoScalingGroupArn": "walk-group"}})
        }
        "UpdateCapacityProvider" => {
            json!({"name": "walk-cp", "autoScalingGroupProvider": {"managedDraining": "DISABLED"}})
        }
        "DeleteCapacityProvider" => json!({"capacityProvider": "walk-cp"}),
        "DescribeCapacityProviders" => json!({"capacityProviders": ["walk-cp", "FARGATE"]}),
        // The walk's daemon runs on the walk's provider in the walk's own cluster (which has no instances).
        "RegisterDaemonTaskDefinition" => json!({"family": "walk-daemon", "containerDefinitions": [
            {"name": "agent", "image": "berth-workload:latest", "memory": 32}]}),
        "DescribeDaemonTaskDefinition" => json!({"daemonTaskDefinition": "walk-daemon"}),
        "DeleteDaemonTaskDefinition" => json!({"daemonTaskDefinition": "walk-daemon:1"}),
        "ListDaemonTaskDefinitions" => json!({"familyPrefix": "walk"}),
        "CreateDaemon" => json!({"daemonName": "walk-daemon", "clusterArn": "walk-doomed",
            "daemonTaskDefinitionArn": w.get("daemon-td"), "capacityProviderArns": ["walk-cp"]}),
        "UpdateDaemon" => json!({"daemonArn": w.get("daemon"), "daemonTaskDefinitionArn": w.get("daemon-td"),
            "capacityProviderArns": ["walk-cp"], "deploymentConfiguration": {"drainPercent": 50.0}}),
        "DescribeDaemon" | "DeleteDaemon" | "ListDaemonDeployments" => json!({"daemonArn": w.get("daemon")}),
        "ListDaemons" => json!({"clusterArn": "walk-doomed"}),
        "DescribeDaemonDeployments" => json!({"daemonDeploymentArns": [w.get("daemon-deployment")]}),
        "DescribeDaemonRevisions" => json!({"daemonRevisionArns": [w.get("daemon-revision")]}),
        // The walk's provider joins a cluster of its own, which DeleteCluster deletes before DeleteCapacityProvider.
        "PutClusterCapacityProviders" => json!({"cluster": "walk-doomed", "capacityProviders": ["walk-cp"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "walk-cp", "weight": 1}]}),
        "TagResource" => json!({"resourceArn": w.get("cluster-arn"), "tags": [{"key": "walk", "value": "yes"}]}),
        "UntagResource" => json!({"resourceArn": w.get("cluster-arn"), "tagKeys": ["walk"]}),
        "UpdateTaskProtection" => json!({"cluster": "default", "tasks": [w.get("service-task")],
            "protectionEnabled": true, "expiresInMinutes": 5}),
        "GetTaskProtection" => json!({"cluster": "default", "tasks": [w.get("service-task")]}),
        "ExecuteCommand" => json!({"cluster": "default", "task": task(), "container": "app",
            "command": "/berth-workload version", "interactive": true}),
        "DescribeServiceDeployments" => json!({"serviceDeploymentArns": [w.get("service-deployment")]}),
        "StopServiceDeployment" => json!({"serviceDeploymentArn": w.get("new-service-deployment")}),
        "ContinueServiceDeployment" => {
            json!({"serviceDeploymentArn": w.get("service-deployment"), "hookId": "ecs-pause-none"})
        }
        "DescribeServiceRevisions" => json!({"serviceRevisionArns": [w.get("service-revision")]}),
        // The Submit* operations come from an agent, about a task on its own instance.
        "SubmitTaskStateChange" => json!({"cluster": "default", "task": w.get("agent-task"), "status": "RUNNING"}),
        "SubmitContainerStateChange" => json!({"cluster": "default", "task": w.get("agent-task"),
            "containerName": "app", "status": "RUNNING", "runtimeId": "walk-container"}),
        "SubmitAttachmentStateChanges" => json!({"cluster": "default", "attachments": [
            {"attachmentArn": format!("{}-attachment", w.get("agent-task")), "status": "ATTACHED"}]}),
        _ => return None,
    })
}

/// A value for a required member the walk knows by name, else one built from the member's shape.
fn value_for(model: &Value, member: &str, shape: &str, w: &Walk) -> Value {
    let known = match member {
        "cluster" => Some(json!("default")),
        "clusters" => Some(json!(["default"])),
        "service" => Some(json!("walk-svc")),
        "services" => Some(json!(["walk-svc"])),
        "task" => Some(json!(w.get("task"))),
        "tasks" => Some(json!([w.get("task")])),
        "taskDefinition" => Some(json!("walk-td")),
        "family" | "familyPrefix" => Some(json!("walk-td")),
        "containerInstance" => Some(json!(w.get("instance"))),
        "containerInstances" => Some(json!([w.get("instance")])),
        "resourceArn" => Some(json!(w.get("cluster-arn"))),
        "serviceArn" => Some(json!(w.get("express-service"))),
        _ => None,
    };
    known.unwrap_or_else(|| value_of_shape(model, shape, w, 0))
}

/// The smallest value of a shape: its required members filled, the first enum value, 1, false.
fn value_of_shape(model: &Value, shape: &str, w: &Walk, depth: usize) -> Value {
    let s = &model["shapes"][shape];
    match s["type"].as_str().unwrap_or_default() {
        "structure" => {
            let mut object = serde_json::Map::new();
            if depth < 4 {
                for name in s["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let member_shape = s["members"][name]["shape"].as_str().unwrap_or_default();
                    object.insert(name.to_string(), value_for(model, name, member_shape, w));
                }
            }
            Value::Object(object)
        }
        "list" => json!([value_of_shape(model, s["member"]["shape"].as_str().unwrap_or_default(), w, depth + 1)]),
        "map" => json!({}),
        "string" => match s["enum"].as_array().and_then(|e| e.first()) {
            Some(first) => first.clone(),
            None => json!("walk"),
        },
        "integer" | "long" => json!(1),
        "boolean" => json!(false),
        "timestamp" | "double" | "float" => json!(1),
        other => panic!("shape {shape} has a type the walk cannot fill: {other}"),
    }
}

fn request_for(model: &Value, operation: &str, w: &Walk) -> Value {
    written_request(operation, w).unwrap_or_else(|| {
        let input = model["operations"][operation]["input"]["shape"].as_str();
        input.map(|shape| value_of_shape(model, shape, w, 0)).unwrap_or_else(|| json!({}))
    })
}

async fn call(berth: &berth_testkit::Berth, operation: &str, body: &Value, w: &Walk) -> (u16, Value) {
    if operation.starts_with("Submit") {
        return agent_call(berth, &w.get("agent-token"), operation, body.clone()).await;
    }
    let bytes = serde_json::to_vec(body).unwrap();
    raw_request(berth, Some(&ecs_target(operation)), &bytes, None, None, None).await
}

async fn must(berth: &berth_testkit::Berth, operation: &str, body: Value) -> Value {
    let (status, answer) = call(berth, operation, &body, &Walk::default()).await;
    assert_eq!(status, 200, "{operation} {body}: {answer}");
    answer
}

/// Records what later requests refer to from an answer.
fn remember(operation: &str, answer: &Value, w: &mut Walk) {
    match operation {
        "RegisterContainerInstance" => {
            let arn = answer["containerInstance"]["containerInstanceArn"].as_str().unwrap();
            w.values.insert("extra-instance", arn.to_string());
        }
        "StartTask" => {
            let arn = answer["tasks"][0]["taskArn"].as_str().unwrap();
            w.values.insert("started-task", arn.to_string());
        }
        "CreateTaskSet" => {
            let id = answer["taskSet"]["id"].as_str().unwrap();
            w.values.insert("task-set", id.to_string());
        }
        "CreateExpressGatewayService" => {
            let arn = answer["service"]["serviceArn"].as_str().unwrap();
            w.values.insert("express-service", arn.to_string());
        }
        "RegisterDaemonTaskDefinition" => {
            w.values.insert("daemon-td", answer["daemonTaskDefinitionArn"].as_str().unwrap().to_string());
        }
        "CreateDaemon" => {
            w.values.insert("daemon", answer["daemonArn"].as_str().unwrap().to_string());
            w.values.insert("daemon-deployment", answer["deploymentArn"].as_str().unwrap().to_string());
        }
        "DescribeDaemon" => {
            let revision = answer["daemon"]["currentRevisions"][0]["arn"].as_str().unwrap();
            w.values.insert("daemon-revision", revision.to_string());
        }
        _ => {}
    }
}

/// Creates what the requests refer to, in cluster `default` (where `berth up`'s local agent is): two task
/// definitions (one whose image does not exist), a RUNNING task with ECS Exec enabled, and a stable service.
async fn setup(berth: &berth_testkit::Berth, client: &aws_sdk_ecs::Client) -> Walk {
    let mut w = Walk::default();
    let instances = wait_for_instances(client, "default", 1).await;
    w.values.insert("instance", instances[0].clone());
    let cluster = must(berth, "DescribeClusters", json!({"clusters": ["default"]})).await;
    w.values.insert("cluster-arn", cluster["clusters"][0]["clusterArn"].as_str().unwrap().to_string());
    for (family, image) in [("walk-td", "berth-workload:latest"), ("walk-broken", "berth-test/does-not-exist:nope")] {
        must(
            berth,
            "RegisterTaskDefinition",
            json!({"family": family, "containerDefinitions": [
                {"name": "app", "image": image, "memory": 32, "essential": true}]}),
        )
        .await;
    }
    let run = must(
        berth,
        "RunTask",
        json!({"cluster": "default", "taskDefinition": "walk-td", "count": 1, "enableExecuteCommand": true}),
    )
    .await;
    let task = run["tasks"][0]["taskArn"].as_str().unwrap_or_else(|| panic!("RunTask placed a task: {run}"));
    wait_status(client, task, "RUNNING", Duration::from_secs(60)).await;
    w.values.insert("task", task.to_string());
    must(
        berth,
        "CreateService",
        json!({"cluster": "default", "serviceName": "walk-svc", "taskDefinition": "walk-td", "desiredCount": 1}),
    )
    .await;
    let service = wait_stable(client, "default", "walk-svc", Duration::from_secs(60)).await;
    must(
        berth,
        "CreateService",
        json!({"cluster": "default", "serviceName": "walk-ext", "desiredCount": 0,
            "deploymentController": {"type": "EXTERNAL"}}),
    )
    .await;
    let deployment = service.deployments()[0].clone();
    let sd = newest_service_deployment(berth).await;
    w.values.insert("service-deployment", sd.clone());
    let described = must(berth, "DescribeServiceDeployments", json!({"serviceDeploymentArns": [sd]})).await;
    let revision = described["serviceDeployments"][0]["targetServiceRevision"]["arn"].as_str().unwrap().to_string();
    w.values.insert("service-revision", revision);
    let service_tasks =
        must(berth, "ListTasks", json!({"cluster": "default", "serviceName": "walk-svc"})).await["taskArns"].clone();
    w.values.insert("service-task", service_tasks[0].as_str().unwrap().to_string());
    assert!(deployment.id.is_some());
    // An agent of its own (registered through the agent protocol, running nothing) with a task started on it, for
    // the Submit* operations agents make.
    let base = format!("{}/agent/v1/", berth.url());
    let (agent_instance, token) =
        register_pretend_agent(&base, &berth.join_token().unwrap(), "walk-agent", "1.0.0", false).await;
    let started = must(
        berth,
        "StartTask",
        json!({"cluster": "default", "taskDefinition": "walk-td", "containerInstances": [agent_instance]}),
    )
    .await;
    w.values.insert("agent-task", started["tasks"][0]["taskArn"].as_str().unwrap().to_string());
    w.values.insert("agent-token", token);
    w
}

/// The ARN of service `walk-svc`'s newest service deployment.
async fn newest_service_deployment(berth: &berth_testkit::Berth) -> String {
    let list = must(berth, "ListServiceDeployments", json!({"cluster": "default", "service": "walk-svc"})).await;
    list["serviceDeployments"][0]["serviceDeploymentArn"].as_str().unwrap().to_string()
}

/// Every operation of the model: works, gives its listed answer, or names an open capability.
#[tokio::test(flavor = "multi_thread")]
async fn every_operation_of_the_installed_model_works_or_gives_ecss_answer() {
    let model = ecs_model();
    let (berth, client) = berth_up().await;
    let mut w = setup(&berth, &client).await;

    let mut operations: Vec<String> = model["operations"].as_object().unwrap().keys().cloned().collect();
    let rank = |op: &str| match (FIRST.iter().position(|o| *o == op), LAST.iter().position(|o| *o == op)) {
        (Some(i), _) => i,
        (_, Some(i)) => 1000 + i,
        _ => 500,
    };
    operations.sort_by_key(|op| (rank(op), op.clone()));

    let (mut works, mut answered, mut wrong) = (Vec::new(), Vec::new(), Vec::new());
    for op in &operations {
        let body = request_for(&model, op, &w);
        let (status, answer) = call(&berth, op, &body, &w).await;
        let kind = answer["__type"].as_str().unwrap_or_default().rsplit('#').next().unwrap_or_default().to_string();
        let message = answer["message"].as_str().unwrap_or_default().to_string();
        if status == 200 {
            remember(op, &answer, &mut w);
            works.push(op.clone());
            if op == "UpdateService" {
                // The deployment to the broken image stays in progress: StopServiceDeployment stops it.
                w.values.insert("new-service-deployment", newest_service_deployment(&berth).await);
            }
        } else if let Some((_, _, why)) = EXPECTED_ANSWERS.iter().find(|(o, e, _)| o == op && *e == kind) {
            answered.push(format!("{op}: {kind} ({why})"));
        } else {
            wrong.push(format!("{op} {body} -> {status} {kind}: {message}"));
        }
    }
    let total = operations.len();
    println!("model walk: {total} operations in the installed model");
    println!("  {} work", works.len());
    println!("  {} give the answer ECS gives here:", answered.len());
    for a in &answered {
        println!("    {a}");
    }
    assert!(wrong.is_empty(), "{} operations answered wrongly:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!(works.len() + answered.len(), total);
    drop(berth);
}
