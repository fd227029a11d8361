//! Round trips through the unchanged aws CLI (issue 9, item 7): a described task definition, less its read-only
//! members, fed back to `aws ecs register-task-definition --cli-input-json` registers a revision equal to the
//! original (but for its ARN, revision and time) that places and runs exactly like it: the same rendered Docker
//! configuration, or the same refusal. A described service, cut to the members UpdateService takes, fed back to
//! `aws ecs update-service --cli-input-json` changes nothing: same configuration, no new deployment, the same
//! running task. Shapes: the twelve shared fixtures and the task definition and service shapes the suite uses.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::Client;
use berth_testkit::{Berth, docker};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The members DescribeTaskDefinition shows that RegisterTaskDefinition does not take.
const READ_ONLY: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// The members of UpdateService's input (botocore's `UpdateServiceRequest`) a described service can fill.
const UPDATE_SERVICE_MEMBERS: &[&str] = &[
    "desiredCount",
    "taskDefinition",
    "capacityProviderStrategy",
    "deploymentConfiguration",
    "availabilityZoneRebalancing",
    "networkConfiguration",
    "placementConstraints",
    "placementStrategy",
    "platformVersion",
    "healthCheckGracePeriodSeconds",
    "deploymentController",
    "enableExecuteCommand",
    "enableECSManagedTags",
    "loadBalancers",
    "propagateTags",
    "serviceRegistries",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
];

/// What a shape does on a default `berth up` agent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// Reaches RUNNING.
    Runs,
    /// Placement fails (host reach the default agent does not allow).
    FailsPlacement,
    /// RunTask is refused with UnsupportedFeatureException.
    Refused,
}

/// One of the shared fixtures (a copy is in crates/control/tests/fixtures), with the workload image.
fn fixture(text: &str) -> Value {
    serde_json::from_str(&text.replace("\"IMAGE\"", "\"berth-workload:latest\"").replace("ACCOUNT", "000000000000"))
        .unwrap()
}

/// The workload image has no shell: commands that need one sleep instead.
fn sleeping(mut td: Value) -> Value {
    for c in td["containerDefinitions"].as_array_mut().unwrap() {
        if c.get("command").is_some() {
            c["command"] = json!(["sleep", "600"]);
        }
    }
    td
}

/// The workload image has no shell: an init container's command exits at once instead (`sleep 1`, exit code 0),
/// so the containers depending on its SUCCESS start.
fn init_exits(mut td: Value) -> Value {
    for c in td["containerDefinitions"].as_array_mut().unwrap() {
        if c.get("command").is_some() {
            c["command"] = json!(["sleep", "1"]);
        }
    }
    td
}

/// This machine's containers may not raise `nofile` past 1024 (runc: "error setting rlimit type 7"), so a shape
/// asking for more gets 1024; and it has 2 cores, which two copies of a 1-vCPU task would hold until they stop, so
/// the task size shrinks to a quarter vCPU.
fn within_host_limits(mut td: Value) -> Value {
    if td.get("cpu").is_some() {
        td["cpu"] = json!("256");
        td["memory"] = json!("512");
    }
    for c in td["containerDefinitions"].as_array_mut().unwrap() {
        // `get_mut`: indexing would add `"ulimits": null` to a container without any.
        for u in c.get_mut("ulimits").and_then(Value::as_array_mut).into_iter().flatten() {
            if u["name"] == "nofile" {
                u["softLimit"] = json!(1024);
                u["hardLimit"] = json!(1024);
            }
        }
    }
    td
}

/// The workload image has no shell either for `CMD-SHELL` health checks: each container of a shape that has one
/// listens on its first container port (the containers of an awsvpc task share one namespace) and checks itself.
fn workload_health(mut td: Value) -> Value {
    for c in td["containerDefinitions"].as_array_mut().unwrap() {
        let port = c["portMappings"][0]["containerPort"].as_i64().unwrap_or(8080);
        let env = c["environment"].as_array().cloned().unwrap_or_default();
        let mut env: Vec<Value> = env.into_iter().filter(|e| e["name"] != "PORT").collect();
        env.push(json!({"name": "PORT", "value": port.to_string()}));
        c["environment"] = Value::Array(env);
        if c["healthCheck"]["command"][0] == "CMD-SHELL" {
            c["healthCheck"]["command"] =
                json!(["CMD", "/berth-workload", "healthcheck", format!("http://127.0.0.1:{port}/health")]);
        }
    }
    td
}

fn shapes() -> Vec<(Value, Outcome)> {
    use Outcome::*;
    macro_rules! f {
        ($name:literal) => {
            fixture(include_str!(concat!("../../control/tests/fixtures/task-definitions/", $name, ".json")))
        };
    }
    let workload = json!({"name": "app", "image": "berth-workload:latest", "memory": 64,
        "portMappings": [{"containerPort": 8080, "hostPort": 0}]});
    let health = json!({"command": ["CMD", "/berth-workload", "healthcheck", "http://127.0.0.1:8080/health"],
        "interval": 5, "timeout": 2, "retries": 2, "startPeriod": 1});
    vec![
        (f!("ec2-bridge-dynamic-ports"), Runs),
        (f!("efs-volume"), Refused),
        (f!("env-files-and-labels"), Refused),
        // FARGATE with Secrets Manager and SSM secrets, a task role and awslogs: the test creates what it names.
        (workload_health(within_host_limits(f!("fargate-web-secrets"))), Runs),
        // FARGATE definitions run with launchType FARGATE on the local agent (it serves both launch types).
        (workload_health(within_host_limits(f!("fargate-web"))), Runs),
        (f!("firelens-style"), Refused),
        (init_exits(f!("init-container")), Runs),
        (sleeping(f!("linux-parameters")), Runs),
        (f!("multi-port-udp"), Runs),
        (within_host_limits(sleeping(f!("one-off-job"))), Runs),
        (sleeping(f!("shared-volume")), Runs),
        (workload_health(f!("sidecar-proxy")), Runs),
        // The README's web task.
        (
            json!({"family": "rt-web", "containerDefinitions": [{"name": "app", "image": "berth-workload:latest",
                "memory": 64, "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                "environment": [{"name": "FROM", "value": "aws-cli"}]}]}),
            Runs,
        ),
        // Health check, limits, labels, timeouts, restart policy, logs.
        (
            json!({"family": "rt-tuned", "containerDefinitions": [{"name": "app", "image": "berth-workload:latest",
                "cpu": 128, "memory": 96, "memoryReservation": 32, "essential": true,
                "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp", "name": "http"}],
                "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": ""}],
                "healthCheck": health, "stopTimeout": 5, "startTimeout": 60,
                "ulimits": [{"name": "nofile", "softLimit": 4096, "hardLimit": 8192}],
                "dockerLabels": {"team": "platform"},
                "restartPolicy": {"enabled": true, "ignoredExitCodes": [0], "restartAttemptPeriod": 60},
                "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m", "mode": "non-blocking"}},
                "extraHosts": [{"hostname": "db.local", "ipAddress": "10.0.0.5"}],
                "dnsSearchDomains": ["example.internal"], "workingDirectory": "/",
                "dockerSecurityOptions": ["no-new-privileges"]}]}),
            Runs,
        ),
        // Two containers: ordering, links, volumesFrom, a task-scoped and a shared Docker volume.
        (
            json!({"family": "rt-pair", "volumes": [{"name": "scratch"},
                    {"name": "rt-shared", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true,
                     "driver": "local"}}],
                "containerDefinitions": [
                    {"name": "db", "image": "berth-workload:latest", "memory": 64,
                     "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"},
                                     {"sourceVolume": "rt-shared", "containerPath": "/shared", "readOnly": true}]},
                    {"name": "app", "image": "berth-workload:latest", "memory": 64,
                     "links": ["db:database"], "volumesFrom": [{"sourceContainer": "db", "readOnly": true}],
                     "dependsOn": [{"containerName": "db", "condition": "START"}],
                     "portMappings": [{"containerPort": 8080}]}]}),
            Runs,
        ),
        // Task size, constraints and compatibilities; what ecs-deploy copies (empty strings).
        (
            json!({"family": "rt-sized", "cpu": "256", "memory": "128", "requiresCompatibilities": ["EC2"],
                "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
                "taskRoleArn": "", "executionRoleArn": "", "networkMode": "", "pidMode": "", "ipcMode": "",
                "containerDefinitions": [{"name": "app", "image": "berth-workload:latest", "hostname": "",
                    "user": "", "workingDirectory": "", "entryPoint": ["/berth-workload"], "command": ["sleep", "600"]}]}),
            Runs,
        ),
        // awslogs into Berth's log store, creating its group, in non-blocking mode.
        (
            json!({"family": "rt-awslogs", "containerDefinitions": [{"name": "app", "image": "berth-workload:latest",
                "memory": 64, "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/rt/awslogs", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "rt",
                    "awslogs-create-group": "true", "mode": "non-blocking", "max-buffer-size": "1m"}}}]}),
            Runs,
        ),
        // Secrets (a Secrets Manager JSON key and an SSM SecureString) through the execution role the test creates.
        (
            json!({"family": "rt-secrets", "executionRoleArn": "arn:aws:iam::000000000000:role/rtExecutionRole",
                "containerDefinitions": [{"name": "app", "image": "berth-workload:latest", "memory": 64,
                    "secrets": [
                        {"name": "DB_PASSWORD",
                         "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:rt/db:password::"},
                        {"name": "TOKEN", "valueFrom": "/rt/token"}]}]}),
            Runs,
        ),
        // Host reach a default agent refuses: placement fails with ATTRIBUTE, the same for the copy.
        (
            json!({"family": "rt-privileged", "containerDefinitions": [{"name": "app",
                "image": "berth-workload:latest", "memory": 64, "privileged": true}]}),
            FailsPlacement,
        ),
        (
            json!({"family": "rt-host-network", "networkMode": "host",
                "containerDefinitions": [{"name": "app", "image": "berth-workload:latest", "memory": 64,
                    "portMappings": [{"containerPort": 8080}]}]}),
            FailsPlacement,
        ),
        // A task role (created by the test in the Berth's own account: `ACCOUNT` is replaced there): its containers
        // get the role's credentials endpoint.
        (
            json!({"family": "rt-role", "taskRoleArn": "arn:aws:iam::ACCOUNT:role/rt-app",
                "containerDefinitions": [workload.clone()]}),
            Runs,
        ),
    ]
}

/// Runs the aws CLI (see common::aws_cli) and parses its JSON output.
fn cli(berth: &Berth, args: &[&str]) -> Value {
    serde_json::from_str(&aws_cli(berth, args)).expect("the aws CLI prints JSON")
}

/// Writes `value` into the Berth's data directory and returns its `file://` URL for `--cli-input-json`.
fn input_file(berth: &Berth, name: &str, value: &Value) -> String {
    let path = berth.data_dir.path().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    format!("file://{}", path.display())
}

fn without(mut v: Value, keys: &[&str]) -> Value {
    let map = v.as_object_mut().unwrap();
    for k in keys {
        map.remove(*k);
    }
    v
}

fn describe_td(berth: &Berth, arn: &str) -> Value {
    cli(berth, &["ecs", "describe-task-definition", "--task-definition", arn])["taskDefinition"].clone()
}

/// What RunTask does with a revision: the task ARN, or the failure reason, or the refusal.
enum Run {
    Task(String),
    Failure(String),
    Refused(String),
}

async fn run(client: &Client, arn: &str) -> Run {
    // An awsvpc task definition runs in the default VPC's subnets, as a user would give them.
    let described = client.describe_task_definition().task_definition(arn).send().await.unwrap();
    let awsvpc =
        described.task_definition().and_then(|t| t.network_mode()) == Some(&aws_sdk_ecs::types::NetworkMode::Awsvpc);
    // A definition that requires FARGATE runs as a user runs it: with the FARGATE launch type.
    let fargate = described
        .task_definition()
        .is_some_and(|t| t.requires_compatibilities().contains(&aws_sdk_ecs::types::Compatibility::Fargate));
    let launch_type = fargate.then_some(aws_sdk_ecs::types::LaunchType::Fargate);
    let network = awsvpc.then(|| {
        let vpc = aws_sdk_ecs::types::AwsVpcConfiguration::builder()
            .subnets("subnet-0be7f00000000000a")
            .subnets("subnet-0be7f00000000000b")
            .build()
            .unwrap();
        aws_sdk_ecs::types::NetworkConfiguration::builder().awsvpc_configuration(vpc).build()
    });
    match client
        .run_task()
        .task_definition(arn)
        .set_launch_type(launch_type)
        .set_network_configuration(network)
        .send()
        .await
    {
        Ok(out) => match out.failures().first() {
            Some(f) => Run::Failure(format!("{} {}", f.reason().unwrap_or_default(), f.detail().unwrap_or_default())),
            None => Run::Task(out.tasks()[0].task_arn().unwrap().to_string()),
        },
        Err(e) => {
            let e = e.into_service_error();
            use aws_sdk_ecs::error::ProvideErrorMetadata;
            let message = e.message().unwrap_or_default().to_string();
            // Refused at the call: a setting Berth cannot run yet, or (ECS's own answer) a FARGATE-only definition
            // run with the default EC2 launch type.
            let launch_type = e.code() == Some("InvalidParameterException") && message.contains("launch_type EC2");
            assert!(e.code() == Some("UnsupportedFeatureException") || launch_type, "{e:?}");
            Run::Refused(message)
        }
    }
}

/// The Docker configuration of a running task's containers, by container name, with what names the task itself
/// (its id, ARN, revision) taken out.
fn rendered(task_arn: &str, family: &str, revision: i64) -> BTreeMap<String, Value> {
    let ids = docker(&["ps", "-a", "--filter", &format!("label=com.amazonaws.ecs.task-arn={task_arn}"), "-q"]).unwrap();
    let task_id = task_arn.rsplit('/').next().unwrap();
    let mut out = BTreeMap::new();
    for id in ids.split_whitespace() {
        let inspect: Value = serde_json::from_str(&docker(&["inspect", id]).unwrap()).unwrap();
        let c = &inspect[0];
        if c["Config"]["Labels"].get("berth.pause").is_some() {
            continue; // an awsvpc task's pause container: the agent's, not the task definition's
        }
        let mut config = c["Config"].clone();
        let host = c["HostConfig"].clone();
        let labels = config["Labels"].as_object_mut().unwrap();
        labels.remove("com.amazonaws.ecs.task-definition-version");
        let name = labels["com.amazonaws.ecs.container-name"].as_str().unwrap().to_string();
        let picked = json!({
            "Image": config["Image"], "Cmd": config["Cmd"], "Entrypoint": config["Entrypoint"],
            "Env": config["Env"], "User": config["User"], "WorkingDir": config["WorkingDir"],
            "Labels": config["Labels"], "ExposedPorts": config["ExposedPorts"], "Healthcheck": config["Healthcheck"],
            "Memory": host["Memory"], "MemoryReservation": host["MemoryReservation"], "CpuShares": host["CpuShares"],
            "NanoCpus": host["NanoCpus"], "Ulimits": host["Ulimits"], "CapAdd": host["CapAdd"],
            "CapDrop": host["CapDrop"], "Init": host["Init"], "ReadonlyRootfs": host["ReadonlyRootfs"],
            "Tmpfs": host["Tmpfs"], "ShmSize": host["ShmSize"], "LogConfig": host["LogConfig"],
            "ExtraHosts": host["ExtraHosts"], "Dns": host["Dns"], "DnsSearch": host["DnsSearch"],
            "SecurityOpt": host["SecurityOpt"], "Privileged": host["Privileged"], "NetworkMode": host["NetworkMode"],
            "Binds": host["Binds"], "Mounts": host["Mounts"], "Links": host["Links"], "VolumesFrom": host["VolumesFrom"],
            "PortBindings": host["PortBindings"], "RestartPolicy": host["RestartPolicy"],
        });
        let mut picked = picked;
        if picked["NetworkMode"].as_str().is_some_and(|m| m.starts_with("container:")) {
            // An awsvpc task's containers join its pause container, which Docker records by id.
            picked["NetworkMode"] = json!("container:<pause>");
        }
        // Container names and task volumes carry the task id; names also carry the revision. A task role's
        // credentials id is random per task.
        if let Some(env) = picked["Env"].as_array_mut() {
            for e in env.iter_mut() {
                if e.as_str().is_some_and(|v| v.starts_with("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=")) {
                    *e = json!("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=<id>");
                }
            }
        }
        let text = picked
            .to_string()
            .replace(task_id, "<task>")
            .replace(&format!("berth-{family}-{revision}-"), &format!("berth-{family}-<rev>-"));
        out.insert(name, serde_json::from_str(&text).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn described_task_definitions_register_again_and_run_the_same() {
    let (berth, client) = berth_up().await;
    let mut ran = 0;
    let mut volumes = Vec::new();
    // What the secrets shape reads, and the execution role it reads them with.
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let read = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameters"],"Resource":"*"}]}"#;
    aws_cli(&berth, &["iam", "create-role", "--role-name", "rtExecutionRole", "--assume-role-policy-document", trust]);
    aws_cli(
        &berth,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "rtExecutionRole",
            "--policy-name",
            "read",
            "--policy-document",
            read,
        ],
    );
    aws_cli(
        &berth,
        &["secretsmanager", "create-secret", "--name", "rt/db", "--secret-string", r#"{"password":"rt-pw"}"#],
    );
    aws_cli(&berth, &["ssm", "put-parameter", "--name", "/rt/token", "--type", "SecureString", "--value", "rt-token"]);
    // What fargate-web-secrets names: its two roles, a secret whose name ends like a suffix (so the ARN the
    // fixture writes is that secret's partial ARN), two parameters and its log group.
    for role in ["billingExecutionRole", "billingTaskRole"] {
        aws_cli(&berth, &["iam", "create-role", "--role-name", role, "--assume-role-policy-document", trust]);
    }
    aws_cli(
        &berth,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "billingExecutionRole",
            "--policy-name",
            "read",
            "--policy-document",
            read,
        ],
    );
    let db = r#"{"username":"billing","password":"rt-billing-pw"}"#;
    aws_cli(&berth, &["secretsmanager", "create-secret", "--name", "billing/db-AbCdEf", "--secret-string", db]);
    for (name, kind) in [("/billing/stripe-key", "SecureString"), ("/billing/feature-flags", "String")] {
        aws_cli(&berth, &["ssm", "put-parameter", "--name", name, "--type", kind, "--value", "rt-value"]);
    }
    aws_cli(&berth, &["logs", "create-log-group", "--log-group-name", "/ecs/billing-api"]);
    let runnable = shapes().iter().filter(|(_, o)| *o == Outcome::Runs).count();
    assert!(runnable >= 16, "the runnable shapes are still there: {runnable}");
    cli(&berth, &["iam", "create-role", "--role-name", "rt-app", "--assume-role-policy-document", trust]);
    for (shape, outcome) in shapes() {
        // The shapes name the account 000000000000 (or ACCOUNT in a role); each test Berth has its own.
        let shape: Value = serde_json::from_str(
            &shape
                .to_string()
                .replace("000000000000", &berth.account_id)
                .replace(":ACCOUNT:", &format!(":{}:", berth.account_id)),
        )
        .unwrap();
        let family = shape["family"].as_str().unwrap().to_string();
        let registered =
            cli(&berth, &["ecs", "register-task-definition", "--cli-input-json", &input_file(&berth, &family, &shape)]);
        let first_arn = registered["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string();
        let original = describe_td(&berth, &first_arn);
        let copy = without(original.clone(), READ_ONLY);
        let again = cli(
            &berth,
            &[
                "ecs",
                "register-task-definition",
                "--cli-input-json",
                &input_file(&berth, &format!("{family}-copy"), &copy),
            ],
        );
        let second_arn = again["taskDefinition"]["taskDefinitionArn"].as_str().unwrap().to_string();
        assert_eq!(again["taskDefinition"]["revision"], original["revision"].as_i64().unwrap() + 1, "{family}");
        let copied = describe_td(&berth, &second_arn);
        let volatile = ["taskDefinitionArn", "revision", "registeredAt"];
        assert_eq!(
            without(copied.clone(), &volatile),
            without(original.clone(), &volatile),
            "{family}: the copy's description differs from the original's"
        );

        match (run(&client, &first_arn).await, run(&client, &second_arn).await, outcome) {
            (Run::Task(a), Run::Task(b), Outcome::Runs) => {
                for arn in [&a, &b] {
                    let task = berth_testkit::wait_for(
                        &format!("{family}: {arn} to run"),
                        Duration::from_secs(90),
                        || async {
                            let task = describe(&client, arn).await;
                            matches!(task.last_status(), Some("RUNNING" | "STOPPED")).then_some(task)
                        },
                    )
                    .await
                    .unwrap();
                    assert_eq!(task.last_status(), Some("RUNNING"), "{family}: {:?}", task.stopped_reason());
                }
                let revision = original["revision"].as_i64().unwrap();
                let (ra, rb) = (rendered(&a, &family, revision), rendered(&b, &family, revision + 1));
                assert_eq!(ra.len(), original["containerDefinitions"].as_array().unwrap().len(), "{family}: {ra:#?}");
                assert_eq!(ra, rb, "{family}: the copy runs with a different Docker configuration");
                for arn in [a, b] {
                    client.stop_task().task(&arn).send().await.unwrap();
                    volumes.extend(docker_volumes(&original, &arn));
                }
                ran += 1;
            }
            (Run::Failure(a), Run::Failure(b), Outcome::FailsPlacement) => {
                assert!(a.starts_with("ATTRIBUTE"), "{family}: {a}");
                assert_eq!(a, b, "{family}");
            }
            (Run::Refused(a), Run::Refused(b), Outcome::Refused) => {
                assert_eq!(a, b, "{family}");
                // The shared fixture's repositoryCredentials run; only its environmentFiles are refused.
                if family == "legacy-admin" {
                    assert!(a.contains("environmentFiles") && !a.contains("repositoryCredentials"), "{a}");
                }
            }
            (Run::Task(a), _, _) | (_, Run::Task(a), _) => {
                panic!("{family}: expected {outcome:?}, a task ran ({a})")
            }
            (Run::Failure(a), _, _) | (_, Run::Failure(a), _) => panic!("{family}: expected {outcome:?}, got {a}"),
            (Run::Refused(a), _, _) => panic!("{family}: expected {outcome:?}, refused: {a}"),
        }
    }
    assert_eq!(ran, runnable, "every runnable shape ran twice");
    // The containers go with the Berth; their Docker volumes outlive it (the agent removes a task's volumes only
    // after its cleanup wait), so remove the ones this test made.
    drop(client);
    drop(berth);
    volumes.sort();
    volumes.dedup();
    for name in volumes {
        let _ = docker(&["volume", "rm", &name]);
    }
}

/// The Docker volumes a task of `definition` uses: `berth-<task id>-<name>` for task volumes, the name for shared
/// ones (host volumes are not Docker volumes).
fn docker_volumes(definition: &Value, task_arn: &str) -> Vec<String> {
    let task_id = task_arn.rsplit('/').next().unwrap();
    let mut out = Vec::new();
    for v in definition["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap();
        if v.get("host").is_some_and(|h| h.get("sourcePath").is_some()) {
            continue;
        }
        if v["dockerVolumeConfiguration"]["scope"] == "shared" {
            out.push(name.to_string());
        } else {
            out.push(format!("berth-{task_id}-{name}"));
        }
    }
    out
}

/// A described service, cut to UpdateService's members, as a deploy tool would send it back.
fn update_input(described: &Value) -> Value {
    let mut input = serde_json::Map::new();
    input.insert("cluster".into(), described["clusterArn"].clone());
    input.insert("service".into(), described["serviceName"].clone());
    for member in UPDATE_SERVICE_MEMBERS {
        if let Some(v) = described.get(*member) {
            input.insert((*member).to_string(), v.clone());
        }
    }
    Value::Object(input)
}

/// The members of a described service that configure it (what UpdateService could change).
fn configuration(service: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for member in UPDATE_SERVICE_MEMBERS.iter().chain(&["schedulingStrategy", "launchType", "status"]) {
        out.insert((*member).to_string(), service.get(*member).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn described_services_fed_to_update_service_change_nothing() {
    let (berth, client) = berth_up().await;
    let web = json!({"family": "rt-svc-web", "containerDefinitions": [{"name": "app",
        "image": "berth-workload:latest", "memory": 64, "portMappings": [{"containerPort": 8080, "hostPort": 0}],
        "healthCheck": {"command": ["CMD", "/berth-workload", "healthcheck", "http://127.0.0.1:8080/health"],
            "interval": 5, "timeout": 2, "retries": 2}}]});
    cli(&berth, &["ecs", "register-task-definition", "--cli-input-json", &input_file(&berth, "rt-svc-web", &web)]);
    let services = [
        json!({"serviceName": "rt-minimal", "taskDefinition": "rt-svc-web", "desiredCount": 1}),
        json!({"cluster": "default", "serviceName": "rt-tuned", "taskDefinition": "rt-svc-web:1", "desiredCount": 1,
            "launchType": "EC2", "schedulingStrategy": "REPLICA",
            "deploymentConfiguration": {"maximumPercent": 150, "minimumHealthyPercent": 50,
                "deploymentCircuitBreaker": {"enable": true, "rollback": true}},
            "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                                  {"type": "binpack", "field": "memory"}],
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
            "healthCheckGracePeriodSeconds": 10, "enableECSManagedTags": true, "propagateTags": "SERVICE",
            "deploymentController": {"type": "ECS"}, "enableExecuteCommand": false,
            "tags": [{"key": "team", "value": "platform"}]}),
    ];
    for shape in services {
        service_round_trip(&berth, &client, &shape).await;
    }
}

/// Creates the service `shape` describes, waits for it to be stable, feeds its description back to UpdateService
/// and checks that nothing changed: the configuration, the deployments, the running task.
async fn service_round_trip(berth: &Berth, client: &aws_sdk_ecs::Client, shape: &Value) {
    let name = shape["serviceName"].as_str().unwrap().to_string();
    cli(berth, &["ecs", "create-service", "--cli-input-json", &input_file(berth, &name, shape)]);
    wait_stable(client, "default", &name, Duration::from_secs(120)).await;
    let tasks_before = client.list_tasks().service_name(&name).send().await.unwrap().task_arns().to_vec();
    let before = cli(berth, &["ecs", "describe-services", "--services", &name])["services"][0].clone();
    let input = update_input(&before);
    let updated = cli(
        berth,
        &["ecs", "update-service", "--cli-input-json", &input_file(berth, &format!("{name}-update"), &input)],
    );
    assert_eq!(configuration(&updated["service"]), configuration(&before), "{name}: UpdateService's answer");
    let after = cli(berth, &["ecs", "describe-services", "--services", &name])["services"][0].clone();
    assert_eq!(configuration(&after), configuration(&before), "{name}: the service changed");
    let ids = |s: &Value| -> Vec<Value> {
        s["deployments"].as_array().unwrap().iter().map(|d| d["id"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&after), ids(&before), "{name}: the round trip started a deployment");
    assert_eq!(after["runningCount"], json!(1), "{name}");
    let tasks_after = client.list_tasks().service_name(&name).send().await.unwrap().task_arns().to_vec();
    assert_eq!(tasks_after, tasks_before, "{name}: the running task was replaced");
}

/// A /24 of loopback of this test's own for its load balancers (`--elb-address-range`), and the first address.
fn own_elb_range() -> (String, std::net::Ipv4Addr) {
    let pid = std::process::id();
    let net = (100 + pid % 50, pid / 50 % 250 + 1);
    (format!("127.{}.{}.0/24", net.0, net.1), std::net::Ipv4Addr::new(127, net.0 as u8, net.1 as u8, 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn described_services_behind_a_load_balancer_in_cloud_map_daemon_and_exec_fed_back_change_nothing() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let (range, address) = own_elb_range();
    let dns_port = berth_testkit::free_port();
    let berth = Berth::start(berth_testkit::BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--elb-address-range".into(), range, "--dns-listen".into(), format!("127.0.0.1:{dns_port}")],
    })
    .expect("berth up starts");
    let client = berth_testkit::ecs_client(&berth);
    common::wait_for_instances(&client, "default", 1).await;
    let web = json!({"family": "rt-svc-wired", "containerDefinitions": [{"name": "app",
        "image": "berth-workload:latest", "memory": 64, "portMappings": [{"containerPort": 8080, "hostPort": 0}]}]});
    cli(&berth, &["ecs", "register-task-definition", "--cli-input-json", &input_file(&berth, "rt-svc-wired", &web)]);

    // A target group behind a load balancer's listener, and a Cloud Map service with SRV records.
    let vpc = cli(&berth, &["elbv2", "describe-load-balancers"]); // the ELB API answers before anything exists
    assert!(vpc["LoadBalancers"].as_array().is_some_and(|l| l.is_empty()), "{vpc}");
    let vpc_id = cli(&berth, &["ec2", "describe-vpcs"])["Vpcs"][0]["VpcId"].as_str().unwrap().to_string();
    let tg = cli(
        &berth,
        &[
            "elbv2",
            "create-target-group",
            "--name",
            "rt-tg",
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            &vpc_id,
            "--health-check-path",
            "/health",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
        ],
    )["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string();
    let lb = cli(&berth, &["elbv2", "create-load-balancer", "--name", "rt-lb"])["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let port = std::net::TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port().to_string();
    cli(
        &berth,
        &[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb,
            "--protocol",
            "HTTP",
            "--port",
            &port,
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
    );
    let op = cli(&berth, &["servicediscovery", "create-private-dns-namespace", "--name", "rt.local", "--vpc", &vpc_id]);
    let op = cli(&berth, &["servicediscovery", "get-operation", "--operation-id", op["OperationId"].as_str().unwrap()]);
    let ns = op["Operation"]["Targets"]["NAMESPACE"].as_str().unwrap().to_string();
    let srv = json!({"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "SRV", "TTL": 0}]}).to_string();
    let registry = cli(
        &berth,
        &["servicediscovery", "create-service", "--name", "rt", "--namespace-id", &ns, "--dns-config", &srv],
    );
    let registry = registry["Service"]["Arn"].as_str().unwrap().to_string();

    let services = [
        json!({"serviceName": "rt-lb", "taskDefinition": "rt-svc-wired", "desiredCount": 1,
            "loadBalancers": [{"targetGroupArn": tg, "containerName": "app", "containerPort": 8080}],
            "healthCheckGracePeriodSeconds": 30,
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100}}),
        json!({"serviceName": "rt-registry", "taskDefinition": "rt-svc-wired", "desiredCount": 1,
            "serviceRegistries": [{"registryArn": registry, "containerName": "app", "containerPort": 8080}]}),
        json!({"serviceName": "rt-exec", "taskDefinition": "rt-svc-wired", "desiredCount": 1,
            "enableExecuteCommand": true}),
        json!({"serviceName": "rt-daemon", "taskDefinition": "rt-svc-wired", "schedulingStrategy": "DAEMON"}),
    ];
    for shape in services {
        service_round_trip(&berth, &client, &shape).await;
    }
}
