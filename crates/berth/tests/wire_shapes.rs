//! Every response Berth gives is checked against the botocore model's output shape: no member the model does not
//! define, every value of the model's type, every enumeration value one the model lists. The model comes from the
//! botocore package the `aws` CLI installs (`pip install awscli`); the test fails if it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Checks `value` against the shape named `shape`; collects problems with their paths.
fn check(model: &Value, shape: &str, value: &Value, path: &str, problems: &mut Vec<String>) {
    let s = &model["shapes"][shape];
    match s["type"].as_str().unwrap_or_default() {
        "structure" => {
            let Some(object) = value.as_object() else {
                return problems.push(format!("{path}: expected an object for {shape}"));
            };
            for (key, member_value) in object {
                match s["members"].get(key) {
                    Some(member) => check(
                        model,
                        member["shape"].as_str().unwrap(),
                        member_value,
                        &format!("{path}.{key}"),
                        problems,
                    ),
                    None => problems.push(format!("{path}.{key}: {shape} has no member {key}")),
                }
            }
        }
        "list" => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(model, s["member"]["shape"].as_str().unwrap(), item, &format!("{path}[{i}]"), problems);
                }
            }
            None => problems.push(format!("{path}: expected a list")),
        },
        "map" => match value.as_object() {
            Some(entries) => {
                for (k, v) in entries {
                    check(model, s["value"]["shape"].as_str().unwrap(), v, &format!("{path}.{k}"), problems);
                }
            }
            None => problems.push(format!("{path}: expected a map")),
        },
        "string" => match value.as_str() {
            Some(text) => {
                if let Some(values) = s["enum"].as_array()
                    && !values.iter().any(|v| v == text)
                {
                    problems.push(format!("{path}: {text:?} is not a {shape} value"));
                }
            }
            None => problems.push(format!("{path}: expected a string")),
        },
        "integer" | "long" => {
            if !value.is_i64() {
                problems.push(format!("{path}: expected an integer, got {value}"));
            }
        }
        "double" | "float" | "timestamp" => {
            if !value.is_number() {
                problems.push(format!("{path}: expected a number, got {value}"));
            }
        }
        "boolean" => {
            if !value.is_boolean() {
                problems.push(format!("{path}: expected a boolean"));
            }
        }
        other => problems.push(format!("{path}: unhandled shape type {other}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_matches_the_botocore_model() {
    let model = ecs_model();
    let (berth, client) = berth_up().await;
    let instance = wait_for_instances(&client, "default", 1).await.remove(0);
    let mut problems = Vec::new();
    let mut call = async |operation: &str, body: Value| -> Value {
        let (status, answer) =
            raw_request(&berth, Some(&ecs_target(operation)), body.to_string().as_bytes(), None, None, None).await;
        assert_eq!(status, 200, "{operation}: {answer}");
        let output = model["operations"][operation]["output"]["shape"].as_str().unwrap();
        check(&model, output, &answer, operation, &mut problems);
        answer
    };
    call("CreateCluster", json!({"clusterName": "shapes", "tags": [{"key": "k", "value": "v"}], "settings": [{"name": "containerInsights", "value": "enabled"}]})).await;
    call("DescribeClusters", json!({"clusters": ["default", "shapes", "missing"], "include": ["ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"]})).await;
    call("ListClusters", json!({})).await;
    call(
        "UpdateClusterSettings",
        json!({"cluster": "shapes", "settings": [{"name": "containerInsights", "value": "disabled"}]}),
    )
    .await;
    call("UpdateCluster", json!({"cluster": "shapes", "settings": []})).await;
    let td = json!({
        "family": "shapes",
        "tags": [{"key": "team", "value": "core"}],
        "containerDefinitions": [{
            "name": "app", "image": "berth-workload:latest", "memory": 64, "memoryReservation": 32, "cpu": 128,
            "portMappings": [{"containerPort": 8080}],
            "healthCheck": {"command": ["CMD", "/berth-workload", "healthcheck"], "interval": 5},
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
            "dockerLabels": {"a": "b"}
        }]
    });
    call("RegisterTaskDefinition", td.clone()).await;
    call("RegisterTaskDefinition", td).await;
    call("DescribeTaskDefinition", json!({"taskDefinition": "shapes", "include": ["TAGS"]})).await;
    call("ListTaskDefinitions", json!({"sort": "DESC"})).await;
    call("ListTaskDefinitionFamilies", json!({})).await;
    call("DeregisterTaskDefinition", json!({"taskDefinition": "shapes:1"})).await;
    call("DeleteTaskDefinitions", json!({"taskDefinitions": ["shapes:1", "shapes:2"]})).await;
    let run = call(
        "RunTask",
        json!({"taskDefinition": "shapes:2", "count": 2, "tags": [{"key": "x", "value": "y"}], "startedBy": "me"}),
    )
    .await;
    let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    call("DescribeTasks", json!({"tasks": [arn, "0123456789abcdef0123456789abcdef"], "include": ["TAGS"]})).await;
    call("ListTasks", json!({"maxResults": 1})).await;
    call("StartTask", json!({"taskDefinition": "shapes:2", "containerInstances": [instance]})).await;
    call(
        "DescribeContainerInstances",
        json!({"containerInstances": [instance], "include": ["TAGS", "CONTAINER_INSTANCE_HEALTH"]}),
    )
    .await;
    call("ListContainerInstances", json!({"status": "ACTIVE"})).await;
    call("TagResource", json!({"resourceArn": arn, "tags": [{"key": "more", "value": "tags"}]})).await;
    call("ListTagsForResource", json!({"resourceArn": arn})).await;
    call("UntagResource", json!({"resourceArn": arn, "tagKeys": ["more"]})).await;
    call("StopTask", json!({"task": arn, "reason": "shape check"})).await;
    let svc = call(
        "CreateService",
        json!({"serviceName": "shapes", "taskDefinition": "shapes:2", "desiredCount": 1, "tags": [{"key": "a", "value": "b"}],
               "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}},
               "placementConstraints": [{"type": "distinctInstance"}], "placementStrategy": [{"type": "spread", "field": "instanceId"}]}),
    )
    .await;
    assert_eq!(svc["service"]["status"], "ACTIVE");
    call("UpdateService", json!({"service": "shapes", "desiredCount": 2, "forceNewDeployment": true})).await;
    call("DescribeServices", json!({"services": ["shapes", "missing"], "include": ["TAGS"]})).await;
    call("ListServices", json!({"schedulingStrategy": "REPLICA"})).await;
    let deployments = call("ListServiceDeployments", json!({"service": "shapes"})).await;
    let sd_arn = deployments["serviceDeployments"][0]["serviceDeploymentArn"].as_str().unwrap().to_string();
    let described = call("DescribeServiceDeployments", json!({"serviceDeploymentArns": [sd_arn]})).await;
    let revision = described["serviceDeployments"][0]["targetServiceRevision"]["arn"].as_str().unwrap().to_string();
    call("DescribeServiceRevisions", json!({"serviceRevisionArns": [revision]})).await;
    call("PutAttributes", json!({"attributes": [{"name": "team", "value": "core", "targetType": "container-instance", "targetId": instance}]})).await;
    call("ListAttributes", json!({"targetType": "container-instance", "attributeName": "team"})).await;
    call("DeleteAttributes", json!({"attributes": [{"name": "team", "targetId": instance}]})).await;
    call("DeleteService", json!({"service": "shapes", "force": true})).await;
    let registered = call(
        "RegisterContainerInstance",
        json!({"cluster": "shapes", "totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024}, {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}]}),
    )
    .await;
    let external = registered["containerInstance"]["containerInstanceArn"].as_str().unwrap().to_string();
    call(
        "UpdateContainerInstancesState",
        json!({"cluster": "shapes", "containerInstances": [external], "status": "DRAINING"}),
    )
    .await;
    call("DeregisterContainerInstance", json!({"cluster": "shapes", "containerInstance": external})).await;
    call(
        "CreateCapacityProvider",
        json!({"name": "shapes-cp", "autoScalingGroupProvider": {"autoScalingGroupArn": "shapes-group"},
               "tags": [{"key": "k", "value": "v"}]}),
    )
    .await;
    call(
        "UpdateCapacityProvider",
        json!({"name": "shapes-cp", "autoScalingGroupProvider": {"managedDraining": "DISABLED"}}),
    )
    .await;
    call(
        "DescribeCapacityProviders",
        json!({"capacityProviders": ["shapes-cp", "FARGATE", "missing"], "include": ["TAGS"]}),
    )
    .await;
    call("DescribeCapacityProviders", json!({"maxResults": 1})).await;
    call(
        "PutClusterCapacityProviders",
        json!({"cluster": "shapes", "capacityProviders": ["shapes-cp"],
               "defaultCapacityProviderStrategy": [{"capacityProvider": "shapes-cp", "weight": 1, "base": 1}]}),
    )
    .await;
    call(
        "PutClusterCapacityProviders",
        json!({"cluster": "shapes", "capacityProviders": [], "defaultCapacityProviderStrategy": []}),
    )
    .await;
    call("DeleteCapacityProvider", json!({"capacityProvider": "shapes-cp"})).await;
    call("DeleteCluster", json!({"cluster": "shapes"})).await;
    assert!(problems.is_empty(), "responses that do not match the model:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_catches_unknown_members_wrong_types_and_bad_enums() {
    let model = ecs_model();
    let mut problems = Vec::new();
    let bogus = json!({"tasks": [{"lastStatus": 3, "launchType": "MOON", "madeUp": true}], "failures": "x"});
    check(&model, "DescribeTasksResponse", &bogus, "DescribeTasks", &mut problems);
    assert_eq!(problems.len(), 4, "{problems:?}");
}
