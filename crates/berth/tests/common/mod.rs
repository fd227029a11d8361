//! Shared helpers for the end-to-end tests: a real `berth` process driven through the official AWS SDK.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test helpers fail loudly by design and sign with the real clock

use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, PortMapping, Task};
use berth_testkit::{Berth, wait_for};
use std::time::Duration;

/// Starts `berth up` and waits until its local agent has registered.
pub async fn berth_up() -> (Berth, Client) {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().expect("the workload image builds");
    assert!(!image.is_empty());
    let berth = Berth::up(env!("CARGO_BIN_EXE_berth")).expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    (berth, client)
}

/// An ECS client for a Berth, configured as a user would with the exported variables.
pub fn ecs_client(berth: &Berth) -> Client {
    berth_testkit::ecs_client(berth)
}

/// The workload's own health check: it GETs its `/health` (every 5 s, 2 s timeout, 2 retries).
pub fn workload_health_check() -> aws_sdk_ecs::types::HealthCheck {
    aws_sdk_ecs::types::HealthCheck::builder()
        .command("CMD")
        .command("/berth-workload")
        .command("healthcheck")
        .command("http://127.0.0.1:8080/health")
        .interval(5)
        .timeout(2)
        .retries(2)
        .build()
        .expect("a complete health check")
}

/// Waits until `count` container instances are registered and connected in `cluster`.
pub async fn wait_for_instances(client: &Client, cluster: &str, count: usize) -> Vec<String> {
    wait_for("container instances to register", Duration::from_secs(30), || async {
        let arns = client
            .list_container_instances()
            .cluster(cluster)
            .send()
            .await
            .ok()?
            .container_instance_arns
            .unwrap_or_default();
        (arns.len() >= count).then_some(arns)
    })
    .await
    .expect("agents register")
}

/// The workload container: the static test server, listening on 8080.
pub fn workload_container(name: &str) -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
    ContainerDefinition::builder()
        .name(name)
        .image("berth-workload:latest")
        .memory(64)
        .port_mappings(PortMapping::builder().container_port(8080).host_port(0).build())
}

/// Registers a one-container task definition of the workload; returns its ARN.
pub async fn register_workload(client: &Client, family: &str, env: &[(&str, &str)]) -> String {
    let mut container = workload_container("app");
    for (k, v) in env {
        container = container.environment(KeyValuePair::builder().name(*k).value(*v).build());
    }
    client
        .register_task_definition()
        .family(family)
        .container_definitions(container.build())
        .send()
        .await
        .expect("register the task definition")
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("an ARN")
}

/// Describes one task.
pub async fn describe(client: &Client, task_arn: &str) -> Task {
    let out = client.describe_tasks().tasks(task_arn).send().await.expect("describe the task");
    out.tasks.unwrap_or_default().into_iter().next().expect("the task exists")
}

/// Waits until a task reaches `status`, returning it.
pub async fn wait_status(client: &Client, task_arn: &str, status: &str, timeout: Duration) -> Task {
    wait_for(&format!("task {task_arn} to be {status}"), timeout, || async {
        let task = client.describe_tasks().tasks(task_arn).send().await.ok()?.tasks?.into_iter().next()?;
        (task.last_status.as_deref() == Some(status)).then_some(task)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The host port the first container of a task is bound to.
pub fn host_port(task: &Task) -> u16 {
    task.containers()[0].network_bindings()[0].host_port.expect("a host port") as u16
}

/// Asserts an SDK call failed with `code` and a message containing `needle`.
pub fn assert_error<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
    code: &str,
    needle: &str,
) {
    let error = result.expect_err(&format!("expected {code}"));
    assert_eq!(error.code(), Some(code), "wrong code for {error:?}");
    let message = error.message().unwrap_or_default();
    assert!(message.contains(needle), "message {message:?} should contain {needle:?}");
}

/// Sends a raw AWS JSON 1.1 request signed with `aws-sigv4` (as the SDKs sign), with control over the secret,
/// the clock and the headers; returns (status, parsed body).
pub async fn raw_request(
    berth: &Berth,
    target: Option<&str>,
    body: &[u8],
    secret: Option<&str>,
    access_key: Option<&str>,
    time: Option<std::time::SystemTime>,
) -> (u16, serde_json::Value) {
    signed_request(berth, "ecs", target, body, secret, access_key, time).await
}

/// [`raw_request`] signed for the service `signing_name` (`ecs`, `ecr` ...).
pub async fn signed_request(
    berth: &Berth,
    signing_name: &str,
    target: Option<&str>,
    body: &[u8],
    secret: Option<&str>,
    access_key: Option<&str>,
    time: Option<std::time::SystemTime>,
) -> (u16, serde_json::Value) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let url = format!("{}/", berth.url());
    let host = format!("127.0.0.1:{}", berth.port);
    let mut headers: Vec<(String, String)> =
        vec![("host".into(), host), ("content-type".into(), "application/x-amz-json-1.1".into())];
    if let Some(target) = target {
        headers.push(("x-amz-target".into(), target.into()));
    }
    let identity = aws_credential_types::Credentials::new(
        access_key.unwrap_or(&berth.access_key_id),
        secret.unwrap_or(&berth.secret_access_key),
        None,
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(signing_name)
        .time(time.unwrap_or_else(std::time::SystemTime::now))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method("POST").uri(&url);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    send(&url, req.headers(), body.to_vec()).await
}

/// Sends a POST with exactly these headers and body.
pub async fn send(url: &str, headers: &http::HeaderMap, body: Vec<u8>) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut req = client.post(url).body(body);
    for (k, v) in headers {
        if k != "host" {
            req = req.header(k.as_str(), v.to_str().unwrap());
        }
    }
    let response = req.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// The ECS target of an operation.
pub fn ecs_target(operation: &str) -> String {
    format!("AmazonEC2ContainerServiceV20141113.{operation}")
}

/// Waits until `GET url` answers 200 (a RUNNING container may take a moment to listen); returns the body.
pub async fn wait_http_ok(url: &str) -> String {
    wait_for(&format!("{url} to answer 200"), Duration::from_secs(20), || async {
        berth_testkit::http_get(url).ok().filter(|(status, _)| *status == 200).map(|(_, body)| body)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Describes one service.
pub async fn describe_service(client: &Client, cluster: &str, name: &str) -> aws_sdk_ecs::types::Service {
    let out = client.describe_services().cluster(cluster).services(name).send().await.expect("describe the service");
    out.services.unwrap_or_default().into_iter().next().expect("the service exists")
}

/// Waits as the `services-stable` waiter does: one deployment and runningCount == desiredCount.
pub async fn wait_stable(client: &Client, cluster: &str, name: &str, timeout: Duration) -> aws_sdk_ecs::types::Service {
    wait_for(&format!("service {name} to be stable"), timeout, || async {
        let s = client
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await
            .ok()?
            .services?
            .into_iter()
            .next()?;
        (s.deployments().len() == 1 && s.running_count == s.desired_count).then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The service's event messages, newest first.
pub fn events(service: &aws_sdk_ecs::types::Service) -> Vec<String> {
    service.events().iter().filter_map(|e| e.message.clone()).collect()
}

/// The ids of the running Docker containers whose task belongs to this Berth and whose group is `group`.
pub fn containers_of(berth: &Berth, family: &str) -> Vec<String> {
    let listing = berth_testkit::docker(&[
        "ps",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-definition-family={family}"),
        "--format",
        "{{.ID}} {{.Label \"com.amazonaws.ecs.task-arn\"}}",
    ])
    .unwrap_or_default();
    listing
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, arn)| arn.starts_with(&berth.arn_prefix()))
        .map(|(id, _)| id.to_string())
        .collect()
}

/// Starts `berth server` with extra arguments and `agents` agents, each in its own availability zone
/// (`us-east-1a`, `-1b`, ...) with `--attribute` pairs from `attributes[i]` and virtual sizes.
pub async fn cluster_of_agents(
    server_args: &[&str],
    agents: usize,
    attributes: &[&[&str]],
    cpu: i64,
    memory: i64,
) -> (Berth, Client, Vec<String>) {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let mut berth = Berth::start(berth_testkit::BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: server_args.iter().map(|s| s.to_string()).collect(),
    })
    .expect("berth server starts");
    let client = ecs_client(&berth);
    for i in 0..agents {
        let dir = berth.data_dir.path().join(format!("agent-{i}"));
        let az = format!("us-east-1{}", (b'a' + i as u8) as char);
        let host = format!("host-{i}");
        let cpu = cpu.to_string();
        let memory = memory.to_string();
        let mut args =
            vec!["--availability-zone", &az, "--hostname", &host, "--cpu-units", &cpu, "--memory-mib", &memory];
        for a in attributes.get(i).copied().unwrap_or_default() {
            args.push("--attribute");
            args.push(a);
        }
        berth.start_agent(&dir, &args).expect("an agent starts");
    }
    let instances = wait_for_instances(&client, "default", agents).await;
    (berth, client, instances)
}

/// A CloudWatch Logs client (the official SDK) for this Berth, with its root keys.
pub fn logs_client(berth: &Berth) -> aws_sdk_cloudwatchlogs::Client {
    use aws_sdk_cloudwatchlogs::{Client, Config, config};
    let creds =
        aws_credential_types::Credentials::new(&berth.access_key_id, &berth.secret_access_key, None, None, "test");
    let config = Config::builder()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(berth.url())
        .build();
    Client::from_conf(config)
}

/// Sets what a user has after pasting `berth up`'s export line on `command`: the endpoint, the root keys and the
/// region in the environment, and no AWS config or credentials files.
pub fn with_user_env<'c>(command: &'c mut std::process::Command, berth: &Berth) -> &'c mut std::process::Command {
    command
        .env("AWS_ENDPOINT_URL", berth.url())
        .env("AWS_ACCESS_KEY_ID", &berth.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &berth.secret_access_key)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

/// Runs the aws CLI against a Berth as a user would (its exported variables, no config files), asserts it
/// succeeded and returns its standard output.
pub fn aws_cli(berth: &Berth, args: &[&str]) -> String {
    let output = with_user_env(std::process::Command::new("aws").args(args), berth)
        .output()
        .expect("the aws CLI is installed (tools/test installs it)");
    assert!(output.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `aws <service> <args>` as a user would (see [`with_user_env`]; no pager), with extra environment
/// variables; `Ok(stdout as JSON)` (null when it printed nothing) or `Err(stderr)`.
pub fn aws_json(
    berth: &Berth,
    service: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<serde_json::Value, String> {
    let output = with_user_env(std::process::Command::new("aws").arg(service).args(args), berth)
        .env("AWS_PAGER", "")
        .envs(env.iter().copied())
        .output()
        .expect("the aws CLI is installed (tools/test installs it)");
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// [`aws_json`] that must succeed: its output.
pub fn aws_ok(berth: &Berth, service: &str, args: &[&str]) -> serde_json::Value {
    aws_json(berth, service, args, &[]).unwrap_or_else(|e| panic!("aws {service} {args:?}: {e}"))
}

/// [`aws_json`] that must fail: its standard error.
pub fn aws_err(berth: &Berth, service: &str, args: &[&str]) -> String {
    match aws_json(berth, service, args, &[]) {
        Ok(out) => panic!("aws {service} {args:?} should fail, got {out}"),
        Err(stderr) => stderr,
    }
}

/// The running containers of this Berth's tasks (any family), as (container id, task ARN).
pub fn running_task_containers(berth: &Berth) -> Vec<(String, String)> {
    let listing = berth_testkit::docker(&[
        "ps",
        "--filter",
        "label=com.amazonaws.ecs.task-arn",
        "--format",
        "{{.ID}} {{.Label \"com.amazonaws.ecs.task-arn\"}}",
    ])
    .expect("docker ps");
    let prefix = berth.arn_prefix();
    listing
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, arn)| arn.starts_with(&prefix))
        .map(|(id, arn)| (id.to_string(), arn.to_string()))
        .collect()
}

/// The ECS model (`service-2.json`) of the botocore package the pinned aws CLI installs (`tools/test` puts it on
/// PATH); panics if it is missing.
pub fn ecs_model() -> serde_json::Value {
    botocore_model("ecs/2014-11-13")
}

/// The model (`service-2.json`) of a service (`ecr/2015-09-21`) in the botocore package the pinned aws CLI
/// installs; panics if it is missing.
pub fn botocore_model(service_and_version: &str) -> serde_json::Value {
    use std::io::Read;
    let out = std::process::Command::new("python3")
        .args(["-c", "import botocore, os; print(os.path.dirname(botocore.__file__))"])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "botocore is installed (tools/test installs the pinned aws CLI): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let path = format!("{root}/data/{service_and_version}/service-2.json.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// POSTs JSON to a URL with a bearer token; returns (status, body).
pub async fn post_bearer(
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().post(url).bearer_auth(token).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = req.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Registers a pretend agent through an agent protocol base URL; returns (instance ARN, instance token).
pub async fn register_pretend_agent(
    base: &str,
    join_token: &str,
    host: &str,
    version: &str,
    self_update: bool,
) -> (String, String) {
    let attributes: serde_json::Map<String, serde_json::Value> =
        berth_model::capabilities::supported().into_iter().map(|c| (c, serde_json::json!(""))).collect();
    let body = serde_json::json!({
        "cluster": "default", "containerInstanceArn": null, "hostname": host,
        "resources": {"cpu": 1024, "memoryMib": 1024, "reservedTcpPorts": [], "reservedUdpPorts": []},
        "attributes": attributes, "selfUpdate": self_update,
        "version": {"agentVersion": version, "agentHash": "test", "dockerVersion": "DockerVersion: test"}
    });
    let (status, answer) = post_bearer(&format!("{base}register"), join_token, &[], &body).await;
    assert_eq!(status, 200, "{answer}");
    (
        answer["containerInstanceArn"].as_str().unwrap().to_string(),
        answer["instanceToken"].as_str().unwrap().to_string(),
    )
}

/// An ECS call authenticated by an agent's instance token, as a Berth agent makes it.
pub async fn agent_call(
    berth: &Berth,
    token: &str,
    operation: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let target = ecs_target(operation);
    let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.1")];
    post_bearer(&format!("{}/", berth.url()), token, &headers, &body).await
}

/// The sum of a Prometheus text exposition's samples of `name` whose labels include every `labels` pair (`None`
/// when there is no such sample).
pub fn prometheus_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name || !labels.iter().all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\""))) {
            continue;
        }
        *found.get_or_insert(0.0) += value.parse::<f64>().ok()?;
    }
    found
}

/// A test's own default VPC: `10.N.0.0/16` with `N` picked at random in `base..base + span`, in lane `lane` of
/// `lanes` (`N ≡ base + lane` modulo `lanes`), so that tests of one binary running at once given different lanes
/// never share a CIDR; and the guard that removes its Docker networks when dropped.
pub fn own_vpc(base: u8, span: u8, lane: u8, lanes: u8) -> (String, VpcNetworks) {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let n = base + (h.finish() % u64::from(span / lanes)) as u8 * lanes + lane % lanes;
    (format!("10.{n}.0.0/16"), VpcNetworks(n))
}

/// Removes the Docker networks of a test VPC `10.N.0.0/16` (after its Berth and containers are gone).
pub struct VpcNetworks(pub u8);

impl Drop for VpcNetworks {
    fn drop(&mut self) {
        let docker = berth_testkit::docker;
        let Ok(names) = docker(&["network", "ls", "--filter", "label=berth.vpc-slice", "--format", "{{.Name}}"]) else {
            return;
        };
        for name in names.lines().filter(|n| n.starts_with(&format!("berth-10-{}-", self.0))) {
            let _ = docker(&["network", "rm", name]);
        }
    }
}

/// Every file under `dir` (recursively) whose bytes contain `needle` (a secret that must not be written anywhere).
pub fn files_containing(dir: &std::path::Path, needle: impl AsRef<[u8]>) -> Vec<String> {
    let needle = needle.as_ref();
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Ok(bytes) = std::fs::read(&path)
            && !needle.is_empty()
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// A `berth server` with one agent (4 vCPU, 4 GiB) joined to cluster `default`, and an ECS client for it.
pub async fn server_with_one_agent() -> (Berth, Client) {
    let mut berth = Berth::start(berth_testkit::BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let agent_dir = berth.data_dir.path().join("agent-0");
    berth.start_agent(&agent_dir, &["--cpu-units", "4096", "--memory-mib", "4096"]).expect("the agent starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    (berth, client)
}

/// `sha256:<hex>` of `data`, as OCI digests are written.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)))
}

/// Runs skopeo; its standard output, or its standard error when it fails.
pub fn skopeo(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("skopeo").args(args).output().expect("skopeo is installed");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Writes an OCI image layout with one image (one uncompressed layer holding `marker`) at `dir`, tagged `v1`.
pub fn oci_layout(dir: &std::path::Path, marker: &str) {
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("marker.txt"), marker).unwrap();
    let tar = dir.join("layer.tar");
    let status =
        std::process::Command::new("tar").arg("-cf").arg(&tar).arg("-C").arg(&context).arg(".").status().unwrap();
    assert!(status.success());
    let layer = std::fs::read(&tar).unwrap();
    let layer_digest = sha256(&layer);
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}]}))
    .unwrap();
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for blob in [&layer, &config, &manifest] {
        std::fs::write(blobs.join(sha256(blob).trim_start_matches("sha256:")), blob).unwrap();
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(&manifest), "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A JSON value that must be a string, as a `String` (the aws CLI's answers).
pub fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}

/// `aws ecs ARGS` that must succeed: its JSON output.
pub fn ecs(berth: &Berth, args: &[&str]) -> serde_json::Value {
    aws_ok(berth, "ecs", args)
}

/// `aws elbv2 ARGS` that must succeed: its JSON output.
pub fn elb(berth: &Berth, args: &[&str]) -> serde_json::Value {
    aws_ok(berth, "elbv2", args)
}

/// An `instance` target group in the default VPC for the workload's 8080: health checks on `/health` every 5 s
/// (2 s timeout, healthy after 2, unhealthy after 2), a 2 s deregistration delay.
pub fn fast_target_group(berth: &Berth, name: &str) -> String {
    let tg = elb(
        berth,
        &[
            "create-target-group",
            "--name",
            name,
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            "vpc-0be7f000000000001",
            "--target-type",
            "instance",
            "--health-check-path",
            "/health",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
            "--unhealthy-threshold-count",
            "2",
        ],
    );
    let arn = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
    let attributes = "Key=deregistration_delay.timeout_seconds,Value=2";
    elb(berth, &["modify-target-group-attributes", "--target-group-arn", &arn, "--attributes", attributes]);
    arn
}

/// Watches the instance records of `store` for `within` from now, after `resume` ran (it resumes a deposed
/// leader), and fails if any is written disconnected (what a deposed leader's stale liveness would write: its
/// fenced writes must never reach the store).
#[allow(dead_code)] // not every test binary that includes common uses it
pub async fn assert_no_instance_written_disconnected(
    store: &impl berth_store::Store,
    resume: impl FnOnce(),
    within: Duration,
) {
    let from = store.revision();
    let mut watch = store.watch("/ecs/instances/", from).unwrap();
    resume();
    let until = std::time::Instant::now() + within;
    while let Ok(Ok((revision, events))) =
        tokio::time::timeout(until.saturating_duration_since(std::time::Instant::now()), watch.next()).await
    {
        for event in events {
            let value: serde_json::Value = serde_json::from_slice(&event.kv.value).unwrap_or_default();
            assert_ne!(
                value["agentConnected"],
                serde_json::Value::Bool(false),
                "revision {revision}: an instance was written disconnected after the deposed leader resumed"
            );
        }
    }
}
