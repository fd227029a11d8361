//! Task sets for the EXTERNAL deployment controller, on `berth up` with real containers, through the aws CLI as an
//! external deployment tool drives them: a service with `deploymentController` EXTERNAL, a blue task set at 100%
//! and a green one at 0% then 100%, each in its own target group; traffic split 80/20 by weights on the listener
//! (`aws elbv2 modify-listener`) and measured through Berth's load balancer; the primary task set switched; a
//! server restart that keeps every task set; blue scaled to 0, drained and deleted; ECS's errors on the way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly and time real processes

mod common;

use berth_testkit::{Berth, BerthOptions, wait_for};
use common::*;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

/// A /24 of loopback of this test's own (`--elb-address-range`; other test files use 100-249), its first load
/// balancer's address, and a port free there.
fn own_range() -> (String, SocketAddr) {
    let pid = std::process::id();
    let net = (60 + pid % 40, pid / 40 % 250 + 1);
    let address = Ipv4Addr::new(127, net.0 as u8, net.1 as u8, 1);
    let port = match TcpListener::bind((address, 80)) {
        Ok(_) => 80,
        Err(_) => TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port(),
    };
    (format!("127.{}.{}.0/24", net.0, net.1), SocketAddr::new(address.into(), port))
}

/// A listener's default action: forward to the two target groups with these weights (both stay attached to the
/// load balancer, as CreateTaskSet requires of a task set's target group).
fn weights(blue: &str, blue_weight: u32, green: &str, green_weight: u32) -> String {
    json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue, "Weight": blue_weight},
        {"TargetGroupArn": green, "Weight": green_weight}]}}])
    .to_string()
}

/// The task sets of service `web`, by id.
fn task_sets(berth: &Berth) -> Vec<Value> {
    ecs(berth, &["describe-task-sets", "--cluster", "default", "--service", "web", "--include", "TAGS"])["taskSets"]
        .as_array()
        .unwrap()
        .clone()
}

fn task_set(berth: &Berth, id: &str) -> Value {
    task_sets(berth).into_iter().find(|t| t["id"] == json!(id)).unwrap_or_else(|| panic!("task set {id} is gone"))
}

/// Waits until task set `id` is STEADY_STATE with `count` running tasks.
async fn wait_steady(berth: &Berth, id: &str, count: u64) -> Value {
    wait_for(&format!("task set {id} steady with {count} tasks"), Duration::from_secs(90), || async {
        let ts = task_set(berth, id);
        (ts["stabilityStatus"] == json!("STEADY_STATE") && ts["runningCount"] == json!(count)).then_some(ts)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", task_set(berth, id)))
}

/// The healthy targets of a target group.
fn healthy_targets(berth: &Berth, tg: &str) -> usize {
    let out = elb(berth, &["describe-target-health", "--target-group-arn", tg]);
    out["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["TargetHealth"]["State"] == "healthy")
        .count()
}

/// The RUNNING tasks of service `web` started by task set `id`.
async fn tasks_of(client: &aws_sdk_ecs::Client, id: &str) -> Vec<aws_sdk_ecs::types::Task> {
    let arns = client.list_tasks().service_name("web").send().await.unwrap().task_arns.unwrap_or_default();
    if arns.is_empty() {
        return Vec::new();
    }
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks.unwrap_or_default();
    tasks
        .into_iter()
        .filter(|t| t.started_by.as_deref() == Some(id) && t.last_status.as_deref() == Some("RUNNING"))
        .collect()
}

/// `n` requests through the load balancer, each on a new connection; how many answered with each `V`.
fn split(front: SocketAddr, n: usize) -> (usize, usize) {
    let (mut v1, mut v2) = (0, 0);
    for _ in 0..n {
        let (status, body) = berth_testkit::http_get_timeout(&format!("http://{front}/"), Duration::from_secs(5))
            .expect("the load balancer answers");
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        match v["env"]["V"].as_str() {
            Some("1") => v1 += 1,
            Some("2") => v2 += 1,
            other => panic!("an answer from neither task set: {other:?}"),
        }
    }
    (v1, v2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_controller_drives_blue_and_green_task_sets_behind_weighted_target_groups() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let (range, front) = own_range();
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--elb-address-range".into(), range],
    })
    .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    let blue_td = register_workload(&client, "web", &[("V", "1")]).await;
    let green_td = register_workload(&client, "web", &[("V", "2")]).await;
    let tg_blue = fast_target_group(&berth, "blue");
    let tg_green = fast_target_group(&berth, "green");
    let lb = elb(&berth, &["create-load-balancer", "--name", "front"]);
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    let listener = elb(
        &berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &front.port().to_string(),
            "--default-actions",
            &weights(&tg_blue, 100, &tg_green, 0),
        ],
    );
    let listener_arn = s(&listener["Listeners"][0]["ListenerArn"]);

    // ECS's rules for the EXTERNAL controller, and CODE_DEPLOY refused.
    let e = aws_err(
        &berth,
        "ecs",
        &["create-task-set", "--cluster", "default", "--service", "web", "--task-definition", &blue_td],
    );
    assert!(e.contains("ServiceNotFoundException"), "{e}");
    let create = ["create-service", "--service-name", "web", "--desired-count", "4"];
    let e = aws_err(
        &berth,
        "ecs",
        &[&create[..], &["--deployment-controller", "type=EXTERNAL", "--task-definition", &blue_td]].concat(),
    );
    assert!(e.contains("InvalidParameterException") && e.contains("CreateTaskSet"), "{e}");
    let e = aws_err(&berth, "ecs", &[&create[..], &["--deployment-controller", "type=CODE_DEPLOY"]].concat());
    assert!(e.contains("UnsupportedFeatureException") && e.contains("CodeDeploy"), "{e}");
    let created = ecs(&berth, &[&create[..], &["--deployment-controller", "type=EXTERNAL"]].concat());
    assert_eq!(created["service"]["deploymentController"]["type"], "EXTERNAL", "{created}");
    assert_eq!(created["service"]["taskSets"], json!([]), "{created}");
    assert_eq!(created["service"]["deployments"], json!([]), "{created}");

    // Blue at 100% in its target group, the primary task set.
    let blue = ecs(
        &berth,
        &[
            "create-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--task-definition",
            &blue_td,
            "--load-balancers",
            &format!("targetGroupArn={tg_blue},containerName=app,containerPort=8080"),
            "--scale",
            "value=100,unit=PERCENT",
            "--external-id",
            "blue",
            "--tags",
            "key=color,value=blue",
        ],
    )["taskSet"]
        .clone();
    let blue_id = s(&blue["id"]);
    assert!(blue_id.starts_with("ecs-svc/") && blue_id[8..].chars().all(|c| c.is_ascii_digit()), "{blue}");
    assert_eq!(
        blue["taskSetArn"],
        json!(format!("{}/{blue_id}", s(&blue["serviceArn"]).replace(":service/default/web", ":task-set/default/web"))),
        "{blue}"
    );
    assert_eq!(blue["status"], "ACTIVE", "{blue}");
    assert_eq!(blue["computedDesiredCount"], 4, "{blue}");
    assert_eq!(blue["scale"], json!({"value": 100.0, "unit": "PERCENT"}), "{blue}");
    assert_eq!(blue["launchType"], "EC2", "{blue}");
    let primary = ecs(
        &berth,
        &[
            "update-service-primary-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--primary-task-set",
            &blue_id,
        ],
    );
    assert_eq!(primary["taskSet"]["status"], "PRIMARY", "{primary}");

    // Green at 0%: no task; its computed count rounds up from the scale.
    let green = ecs(
        &berth,
        &[
            "create-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--task-definition",
            &green_td,
            "--load-balancers",
            &format!("targetGroupArn={tg_green},containerName=app,containerPort=8080"),
            "--scale",
            "value=0,unit=PERCENT",
        ],
    )["taskSet"]
        .clone();
    let green_id = s(&green["id"]);
    assert_eq!(green["computedDesiredCount"], 0, "{green}");
    let e = aws_err(
        &berth,
        "ecs",
        &[
            "update-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--task-set",
            &green_id,
            "--scale",
            "value=150,unit=PERCENT",
        ],
    );
    assert!(e.contains("InvalidParameterException") && e.contains("between 0 and 100"), "{e}");
    let e = aws_err(
        &berth,
        "ecs",
        &[
            "update-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--task-set",
            "ecs-svc/1",
            "--scale",
            "value=1,unit=PERCENT",
        ],
    );
    assert!(e.contains("TaskSetNotFoundException"), "{e}");
    let scaled = ecs(
        &berth,
        &[
            "update-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--task-set",
            &green_id,
            "--scale",
            "value=30,unit=PERCENT",
        ],
    );
    assert_eq!(scaled["taskSet"]["computedDesiredCount"], 2, "ceil(4 x 30%): {scaled}");

    // Both run real tasks, started by their task set, registered in their own target group.
    let blue_now = wait_steady(&berth, &blue_id, 4).await;
    assert_eq!(blue_now["tags"], json!([{"key": "color", "value": "blue"}]), "{blue_now}");
    let blue_arn = s(&blue["taskSetArn"]);
    ecs(&berth, &["tag-resource", "--resource-arn", &blue_arn, "--tags", "key=stage,value=prod"]);
    let tags = ecs(&berth, &["list-tags-for-resource", "--resource-arn", &blue_arn]);
    assert_eq!(tags["tags"], json!([{"key": "color", "value": "blue"}, {"key": "stage", "value": "prod"}]), "{tags}");
    wait_steady(&berth, &green_id, 2).await;
    assert_eq!(tasks_of(&client, &blue_id).await.len(), 4);
    let green_tasks = tasks_of(&client, &green_id).await;
    assert_eq!(green_tasks.len(), 2);
    assert!(green_tasks.iter().all(|t| t.task_definition_arn.as_deref() == Some(green_td.as_str())));
    assert_eq!(healthy_targets(&berth, &tg_blue), 4);
    assert_eq!(healthy_targets(&berth, &tg_green), 2);

    // The external controller weighs the target groups 80/20 on the listener: traffic follows.
    elb(
        &berth,
        &[
            "modify-listener",
            "--listener-arn",
            &listener_arn,
            "--default-actions",
            &weights(&tg_blue, 80, &tg_green, 20),
        ],
    );
    // The change reaches the data plane within a debounce (0.2 s); then the load balancer spreads requests over the
    // groups by weight, within a request or two of each share.
    std::thread::sleep(Duration::from_secs(1));
    let (v1, v2) = split(front, 600);
    let green_share = v2 as f64 * 100.0 / (v1 + v2) as f64;
    println!("weights 80/20 over {} requests: blue {v1}, green {v2} ({green_share:.1}% green)", v1 + v2);
    assert!((green_share - 20.0).abs() <= 5.0, "green got {green_share:.1}% of 600 requests, not 20 +- 5");

    // Green becomes primary at 100%; the service shows it, with the task sets in place of deployments.
    ecs(
        &berth,
        &[
            "update-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--task-set",
            &green_id,
            "--scale",
            "value=100,unit=PERCENT",
        ],
    );
    let switched = ecs(
        &berth,
        &[
            "update-service-primary-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--primary-task-set",
            &green_id,
        ],
    );
    assert_eq!(switched["taskSet"]["status"], "PRIMARY", "{switched}");
    wait_steady(&berth, &green_id, 4).await;
    let service = ecs(&berth, &["describe-services", "--services", "web"])["services"][0].clone();
    assert_eq!(service["taskDefinition"], json!(green_td), "{service}");
    assert_eq!(service["deployments"], json!([]), "{service}");
    assert_eq!(service["desiredCount"], 4, "{service}");
    assert_eq!(service["runningCount"], 8, "{service}");
    let statuses: Vec<(String, String)> =
        service["taskSets"].as_array().unwrap().iter().map(|t| (s(&t["id"]), s(&t["status"]))).collect();
    assert_eq!(statuses, vec![(blue_id.clone(), "ACTIVE".into()), (green_id.clone(), "PRIMARY".into())]);

    // A server restart keeps the task sets, their tasks and their registrations.
    let before: Vec<Value> = task_sets(&berth);
    berth.restart().expect("berth restarts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    let after = task_sets(&berth);
    let keep = |v: &[Value]| -> Vec<(Value, Value, Value, Value, Value)> {
        v.iter()
            .map(|t| {
                (
                    t["id"].clone(),
                    t["status"].clone(),
                    t["scale"].clone(),
                    t["taskDefinition"].clone(),
                    t["createdAt"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(keep(&after), keep(&before));
    wait_steady(&berth, &blue_id, 4).await;
    wait_steady(&berth, &green_id, 4).await;

    // Blue cannot go while it runs; scaled to 0 it drains out of its target group, then deleting it removes it.
    let e = aws_err(
        &berth,
        "ecs",
        &["delete-task-set", "--cluster", "default", "--service", "web", "--task-set", &blue_id],
    );
    assert!(e.contains("InvalidParameterException") && e.contains("scaled above 0"), "{e}");
    elb(
        &berth,
        &[
            "modify-listener",
            "--listener-arn",
            &listener_arn,
            "--default-actions",
            &weights(&tg_blue, 0, &tg_green, 100),
        ],
    );
    ecs(
        &berth,
        &[
            "update-task-set",
            "--cluster",
            "default",
            "--service",
            "web",
            "--task-set",
            &blue_id,
            "--scale",
            "value=0,unit=PERCENT",
        ],
    );
    wait_steady(&berth, &blue_id, 0).await;
    wait_for("blue's targets gone", Duration::from_secs(30), || async {
        (healthy_targets(&berth, &tg_blue) == 0).then_some(())
    })
    .await
    .unwrap();
    let deleted = ecs(&berth, &["delete-task-set", "--cluster", "default", "--service", "web", "--task-set", &blue_id]);
    assert_eq!(deleted["taskSet"]["status"], "DRAINING", "{deleted}");
    wait_for("blue deleted", Duration::from_secs(30), || async {
        let out =
            ecs(&berth, &["describe-task-sets", "--cluster", "default", "--service", "web", "--task-sets", &blue_id]);
        (out["taskSets"] == json!([]) && out["failures"][0]["reason"] == "MISSING").then_some(())
    })
    .await
    .unwrap();
    let (v1, v2) = split(front, 20);
    assert_eq!((v1, v2), (0, 20), "only green answers");

    // The service goes only with its task sets, or with force.
    let e = aws_err(&berth, "ecs", &["delete-service", "--service", "web"]);
    assert!(e.contains("InvalidParameterException"), "{e}");
    let gone = ecs(&berth, &["delete-service", "--service", "web", "--force"]);
    assert_eq!(gone["service"]["status"], "DRAINING", "{gone}");
    assert_eq!(gone["service"]["taskSets"][0]["status"], "DRAINING", "{gone}");
    wait_for("the service INACTIVE", Duration::from_secs(60), || async {
        let service = describe_service(&client, "default", "web").await;
        (service.status.as_deref() == Some("INACTIVE")).then_some(())
    })
    .await
    .unwrap();
    assert!(tasks_of(&client, &green_id).await.is_empty());
}
