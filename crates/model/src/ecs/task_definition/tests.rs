use super::*;
use serde_json::json;

fn req(value: serde_json::Value) -> RegisterTaskDefinitionRequest {
    serde_json::from_value(value).expect("test request parses")
}

fn web() -> serde_json::Value {
    json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 128}]})
}

fn message(value: serde_json::Value) -> String {
    validate_register(&req(value)).expect_err("must be rejected").message
}

#[test]
fn accepts_a_plain_definition() {
    validate_register(&req(web())).unwrap();
}

#[test]
fn rejects_bad_family() {
    let mut v = web();
    v["family"] = json!("web app");
    assert_eq!(message(v), "Family contains invalid characters.");
    let mut v = web();
    v["family"] = json!("");
    assert_eq!(message(v), "Family should not be null or empty.");
}

#[test]
fn rejects_bad_container_names_and_images() {
    let mut v = web();
    v["containerDefinitions"][0]["name"] = json!("my app");
    assert_eq!(message(v), "Container.name contains invalid characters.");
    let mut v = web();
    v["containerDefinitions"][0]["name"] = json!("");
    assert_eq!(message(v), "Container.name should not be null or empty.");
    let mut v = web();
    v["containerDefinitions"][0]["image"] = json!("");
    assert_eq!(message(v), "Container.image should not be null or empty.");
}

#[test]
fn container_count_is_bounded() {
    let mut v = web();
    v["containerDefinitions"] = json!([]);
    assert_eq!(message(v), "Container list cannot be empty.");
    let many: Vec<_> = (0..11).map(|i| json!({"name": format!("c{i}"), "image": "x", "memory": 64})).collect();
    let mut v = web();
    v["containerDefinitions"] = json!(many);
    assert!(message(v).contains("at most 10 containers"));
}

#[test]
fn names_must_be_unique() {
    let mut v = web();
    v["containerDefinitions"] = json!([
        {"name": "a", "image": "x", "memory": 64},
        {"name": "a", "image": "y", "memory": 64}
    ]);
    assert!(message(v).contains("Duplicate container name 'a'"));
}

#[test]
fn memory_rules() {
    let mut v = web();
    v["containerDefinitions"][0].as_object_mut().unwrap().remove("memory");
    assert_eq!(
        message(v.clone()),
        "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified."
    );
    v["memory"] = json!("512");
    validate_register(&req(v)).unwrap();

    let mut v = web();
    v["containerDefinitions"][0]["memoryReservation"] = json!(256);
    assert!(message(v).contains("'memoryReservation' must be less than or equal to 'memory'"));

    let mut v = web();
    v["containerDefinitions"][0]["memory"] = json!(2);
    assert!(message(v).starts_with("Invalid 'memory' setting for container 'app'."));

    let mut v = web();
    v["memory"] = json!("64");
    assert_eq!(message(v), "The 'memory' setting for container 'app' is greater than for the task.");
}

#[test]
fn task_cpu_and_memory_parse_units() {
    assert_eq!(parse_task_cpu("1024"), Some(1024));
    assert_eq!(parse_task_cpu("1 vCPU"), Some(1024));
    assert_eq!(parse_task_cpu(".5 vcpu"), Some(512));
    assert_eq!(parse_task_cpu("lots"), None);
    assert_eq!(parse_task_memory("2 GB"), Some(2048));
    assert_eq!(parse_task_memory("512"), Some(512));
    assert_eq!(parse_task_memory("-1"), None);
    let mut v = web();
    v["cpu"] = json!("fast");
    assert_eq!(message(v), "Invalid 'cpu' setting for task.");
}

#[test]
fn container_cpu_sum_is_bounded_by_task_cpu() {
    let mut v = web();
    v["cpu"] = json!("256");
    v["containerDefinitions"][0]["cpu"] = json!(512);
    assert_eq!(message(v), "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.");
}

#[test]
fn fargate_rules() {
    let mut v = web();
    v["requiresCompatibilities"] = json!(["FARGATE"]);
    assert_eq!(message(v.clone()), "Fargate only supports network mode \u{2018}awsvpc\u{2019}.");
    assert!(!fargate_compatible(&req(v.clone())));
    v["networkMode"] = json!("awsvpc");
    assert_eq!(message(v.clone()), "Fargate requires that 'cpu' be defined at the task level.");
    v["cpu"] = json!("256");
    assert_eq!(message(v.clone()), "Fargate requires that 'memory' be defined at the task level.");
    v["memory"] = json!("4096");
    assert_eq!(message(v.clone()), "No Fargate configuration exists for given values: 256 CPU, 4096 memory");
    // ECS's string forms are normalised before the size is checked.
    v["cpu"] = json!(".25 vCPU");
    v["memory"] = json!("0.5 GB");
    validate_register(&req(v.clone())).unwrap();
    assert!(fargate_compatible(&req(v.clone())));
    assert!(is_fargate_size(8192, 20 * 1024));
    assert!(!is_fargate_size(8192, 18 * 1024));
    // Each rule, in order, on an otherwise valid definition.
    let refused = |patch: &dyn Fn(&mut serde_json::Value), expected: &str| {
        let mut w = v.clone();
        patch(&mut w);
        assert_eq!(message(w.clone()), expected);
        // Without requiring FARGATE the definition registers, but is not Fargate compatible.
        w.as_object_mut().map(|o| o.remove("requiresCompatibilities"));
        if validate_register(&req(w.clone())).is_ok() {
            assert!(!fargate_compatible(&req(w)), "{expected}");
        }
    };
    refused(
        &|w| w["pidMode"] = json!("host"),
        "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.",
    );
    refused(&|w| w["ipcMode"] = json!("host"), "Tasks using the Fargate launch type do not support ipcMode.");
    refused(
        &|w| w["ephemeralStorage"] = json!({"sizeInGiB": 20}),
        "Invalid 'ephemeralStorage' setting for task. The 'sizeInGiB' must be between 21 and 200 GiB, got 20.",
    );
    refused(
        &|w| {
            w["volumes"] = json!([{"name": "h", "host": {"sourcePath": "/var/log"}}]);
        },
        "Fargate compatible task definitions do not support sourcePath",
    );
    refused(
        &|w| w["containerDefinitions"][0]["privileged"] = json!(true),
        "Invalid 'privileged' setting for container 'app'. Fargate compatible task definitions do not support privileged containers.",
    );
    refused(
        &|w| {
            w["containerDefinitions"][0]["logConfiguration"] =
                json!({"logDriver": "awslogs", "options": {"awslogs-group": "g"}});
        },
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    );
    refused(
        &|w| w["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 80, "hostPort": 8080}]),
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    );
    let mut ok = v.clone();
    ok["ephemeralStorage"] = json!({"sizeInGiB": 200});
    ok["pidMode"] = json!("task");
    ok["volumes"] = json!([{"name": "scratch", "host": {}}]);
    ok["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 80, "hostPort": 80}]);
    validate_register(&req(ok)).unwrap();
}

#[test]
fn published_ports_are_an_awsvpc_extension_checked_at_registration() {
    let mut v = web();
    v["networkMode"] = json!("awsvpc");
    v["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 80}]);
    v["containerDefinitions"][0]["dockerLabels"] = json!({"berth.publish": "8080:80"});
    validate_register(&req(v.clone())).unwrap();
    let mut wrong = v.clone();
    wrong["containerDefinitions"][0]["dockerLabels"] = json!({"berth.publish": "8080:81"});
    assert!(message(wrong).contains("81/tcp is not in the container's portMappings"));
    let mut bridge = v.clone();
    bridge["networkMode"] = json!("bridge");
    assert!(message(bridge).contains("set hostPort in portMappings instead"));
    let mut fargate = v;
    fargate["requiresCompatibilities"] = json!(["FARGATE"]);
    fargate["cpu"] = json!("256");
    fargate["memory"] = json!("512");
    assert!(message(fargate).contains("Fargate tasks run on hosts that are not yours"));
}

#[test]
fn port_rules() {
    let mut v = web();
    v["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 70000}]);
    assert!(message(v).contains("Ports must be between 1 and 65535"));

    let mut v = web();
    v["networkMode"] = json!("awsvpc");
    v["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 80, "hostPort": 8080}]);
    assert_eq!(message(v), "When networkMode=awsvpc, the host ports and container ports in port mappings must match.");

    let mut v = web();
    v["containerDefinitions"] = json!([
        {"name": "a", "image": "x", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 8080}]},
        {"name": "b", "image": "x", "memory": 64, "portMappings": [{"containerPort": 81, "hostPort": 8080}]}
    ]);
    assert!(message(v).contains("host port 8080/tcp is used by both container 'a' and container 'b'"));

    let mut v = web();
    v["containerDefinitions"][0]["portMappings"] = json!([
        {"containerPort": 80, "hostPort": 8080, "protocol": "tcp"},
        {"containerPort": 80, "hostPort": 8080, "protocol": "udp"}
    ]);
    validate_register(&req(v)).unwrap();
}

#[test]
fn needs_an_essential_container() {
    let mut v = web();
    v["containerDefinitions"][0]["essential"] = json!(false);
    assert_eq!(message(v), "Task definition doesn't have any essential container.");
}

#[test]
fn dependency_rules() {
    let mut v = web();
    v["containerDefinitions"] = json!([
        {"name": "a", "image": "x", "memory": 64, "dependsOn": [{"containerName": "b", "condition": "SUCCESS"}]},
        {"name": "b", "image": "x", "memory": 64}
    ]);
    assert_eq!(
        message(v),
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"
    );

    let mut v = web();
    v["containerDefinitions"] = json!([
        {"name": "a", "image": "x", "memory": 64, "dependsOn": [{"containerName": "b", "condition": "START"}]},
        {"name": "b", "image": "x", "memory": 64, "dependsOn": [{"containerName": "a", "condition": "START"}]}
    ]);
    assert!(message(v).contains("form a cycle"));

    let mut v = web();
    v["containerDefinitions"][0]["dependsOn"] = json!([{"containerName": "ghost", "condition": "START"}]);
    assert!(message(v).contains("Container 'ghost' is not defined"));
}

#[test]
fn health_check_rules() {
    let mut v = web();
    v["containerDefinitions"][0]["healthCheck"] = json!({"command": ["curl", "localhost"]});
    assert!(message(v).contains("must start with \"CMD\""));
    let mut v = web();
    v["containerDefinitions"][0]["healthCheck"] = json!({"command": ["CMD", "true"], "interval": 1});
    assert!(message(v).contains("'interval' must be between 5 and 300"));
    let mut v = web();
    v["containerDefinitions"][0]["healthCheck"] =
        json!({"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 3});
    validate_register(&req(v)).unwrap();
}

#[test]
fn mount_points_need_volumes() {
    let mut v = web();
    v["containerDefinitions"][0]["mountPoints"] = json!([{"sourceVolume": "data", "containerPath": "/data"}]);
    assert!(message(v.clone()).contains("source volume 'data' is not defined"));
    v["volumes"] = json!([{"name": "data"}]);
    validate_register(&req(v.clone())).unwrap();
    v["volumes"] = json!([{"name": "data"}, {"name": "data"}]);
    assert!(message(v.clone()).contains("Duplicate volume name 'data'"));
    v["volumes"] = json!([{"name": "data"}, {"name": "no spaces"}]);
    assert!(message(v).contains("Invalid volume name 'no spaces'"));
}

#[test]
fn container_port_ranges_register_with_ecs_rules() {
    let with = |mode: &str, mappings: serde_json::Value| {
        let mut v = web();
        v["networkMode"] = json!(mode);
        v["containerDefinitions"][0]["portMappings"] = mappings;
        v
    };
    validate_register(&req(with("bridge", json!([{"containerPortRange": "8000-8010"}])))).unwrap();
    validate_register(&req(with(
        "awsvpc",
        json!([{"containerPortRange": "8000-8010"}, {"containerPortRange": "8000-8010", "protocol": "udp"},
               {"containerPort": 9000}]),
    )))
    .unwrap();
    let bad = |v| message(v);
    assert!(bad(with("host", json!([{"containerPortRange": "8000-8010"}]))).contains("bridge or awsvpc"));
    assert!(bad(with("bridge", json!([{"containerPortRange": "8010-8000"}]))).contains("first port is below"));
    assert!(bad(with("bridge", json!([{"containerPortRange": "0-10"}]))).contains("between 1 and 65535"));
    assert!(bad(with("bridge", json!([{"containerPortRange": "80"}]))).contains("\"80\""));
    assert!(
        bad(with("bridge", json!([{"containerPortRange": "8000-8010", "containerPort": 8000}])))
            .contains("either a containerPort")
    );
    assert!(
        bad(with("bridge", json!([{"containerPortRange": "8000-8010"}, {"containerPortRange": "8010-8020"}])))
            .contains("must not overlap")
    );
    assert!(
        bad(with("bridge", json!([{"containerPortRange": "8000-8010"}, {"containerPort": 8005}])))
            .contains("also in a port range")
    );
}

#[test]
fn an_empty_task_cpu_or_memory_is_absent() {
    let mut v = web();
    v["cpu"] = json!("");
    v["memory"] = json!("");
    let parsed = req(v);
    assert_eq!((parsed.cpu.as_deref(), parsed.memory.as_deref()), (None, None));
    validate_register(&parsed).unwrap();
    let mut v = web();
    v["cpu"] = json!(" ");
    assert_eq!(message(v), "Invalid 'cpu' setting for task.");
}
