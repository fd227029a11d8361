//! The task metadata endpoint, version 4, as ECS's agent serves it: each container gets
//! `ECS_CONTAINER_METADATA_URI_V4`, and a GET of that URI answers the container's metadata, `${URI}/task` the
//! task's. Field names and shapes follow ECS (PascalCase, `KnownStatus`, `Limits`, `Ports` ...); fields Berth does
//! not know are left out rather than invented.
//!
//! ECS serves it on 169.254.170.2 through an iptables redirect. Berth needs no rule: the agent listens on the
//! Docker bridge's gateway address, which bridge and host mode containers reach without help, on port 51679 (the
//! port ECS's agent uses, reserved on every instance) or, when another agent on the host holds it, any free port.
//! The URI names the task id (32 random hex digits) and the container; it carries no credentials.
//! `/stats` and `/task/stats` answer the engine's stats JSON (one sample each, with `precpu_stats`);
//! `/taskWithTags` answers the task's document with `TaskTags` and `ContainerInstanceTags` (the desired state carries
//! both).

use crate::convert;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_model::agent::{TaskReport, TaskSpec};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

/// ECS's agent port for metadata and credentials, tried first.
pub const PORT: u16 = 51679;

/// What the endpoint knows of each task: the engine writes it on every change.
#[derive(Debug, Default)]
pub struct Directory {
    tasks: RwLock<HashMap<String, (TaskSpec, TaskReport)>>,
}

fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or_default()
}

impl Directory {
    /// Records a task's latest desired and observed state.
    pub fn put(&self, spec: &TaskSpec, report: &TaskReport) {
        if let Ok(mut tasks) = self.tasks.write() {
            tasks.insert(task_id(&spec.task_arn).to_string(), (spec.clone(), report.clone()));
        }
    }

    /// Forgets a task.
    pub fn remove(&self, task_arn: &str) {
        if let Ok(mut tasks) = self.tasks.write() {
            tasks.remove(task_id(task_arn));
        }
    }

    fn get(&self, id: &str) -> Option<(TaskSpec, TaskReport)> {
        self.tasks.read().ok()?.get(id).cloned()
    }
}

/// A running endpoint: where containers reach it, and what it knows.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http://<gateway>:<port>`.
    pub base: String,
    /// The tasks it answers for.
    pub directory: Arc<Directory>,
}

impl Endpoint {
    /// The `ECS_CONTAINER_METADATA_URI_V4` of one container of a task.
    pub fn container_uri(&self, task_arn: &str, container: &str) -> String {
        format!("{}/v4/{}/{}", self.base, task_id(task_arn), container)
    }
}

/// Where `/stats` comes from: one stats sample of a container by its engine id, `None` when there is none.
pub type StatsSource = Arc<dyn Fn(String) -> BoxFuture<'static, Option<Value>> + Send + Sync>;

/// Where a container's writable-layer size comes from: bytes by its engine id, `None` when unknown.
pub type SizeSource = Arc<dyn Fn(String) -> BoxFuture<'static, Option<u64>> + Send + Sync>;

/// The clock error bound under which Fargate's `ClockDrift` says SYNCHRONIZED, in milliseconds (Berth's threshold).
pub const SYNCHRONIZED_WITHIN_MS: f64 = 1000.0;

/// The host's clock against the control plane's, measured at each report (Fargate's `ClockDrift` measures against
/// Amazon Time Sync; Berth's reference clock is its server's, the one every task timestamp comes from): the report
/// answer carries the server's time, and the true offset lies within the measured one ± half the round trip.
#[derive(Debug, Default)]
pub struct ClockDrift {
    sample: RwLock<Option<ClockSample>>,
}

/// One measurement of [`ClockDrift`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockSample {
    /// The bound on the host clock's error, in milliseconds: |offset| + round trip / 2.
    pub error_bound_ms: f64,
    /// The server's time of the measurement (epoch seconds).
    pub reference: f64,
}

impl ClockDrift {
    /// Records one exchange: the host's wall clock when the request left and when the answer came, and the server's
    /// time in the answer (all epoch seconds).
    pub fn record(&self, sent: f64, received: f64, server_time: f64) {
        let round_trip = (received - sent).max(0.0);
        let offset = server_time - (sent + received) / 2.0;
        let sample = ClockSample { error_bound_ms: (offset.abs() + round_trip / 2.0) * 1000.0, reference: server_time };
        if let Ok(mut slot) = self.sample.write() {
            *slot = Some(sample);
        }
    }

    /// The last measurement, if any.
    pub fn sample(&self) -> Option<ClockSample> {
        self.sample.read().ok().and_then(|s| *s)
    }

    /// Fargate's `ClockDrift` object, once a measurement exists.
    fn json(&self) -> Option<Value> {
        let sample = self.sample()?;
        let status = if sample.error_bound_ms <= SYNCHRONIZED_WITHIN_MS { "SYNCHRONIZED" } else { "NOT_SYNCHRONIZED" };
        Some(json!({
            "ClockErrorBound": (sample.error_bound_ms * 1000.0).round() / 1000.0,
            "ReferenceTimestamp": rfc3339(Some(sample.reference)),
            "ClockSynchronizationStatus": status,
        }))
    }
}

/// The ephemeral storage a FARGATE task without `ephemeralStorage` gets, GiB.
pub const FARGATE_DEFAULT_EPHEMERAL_GIB: i32 = 20;

#[derive(Clone)]
struct Context {
    directory: Arc<Directory>,
    availability_zone: String,
    stats: StatsSource,
    sizes: SizeSource,
    clock_drift: Arc<ClockDrift>,
}

/// Binds on `ip` (port [`PORT`], else a free one) and serves the endpoint in the background, with the timeouts
/// and connection cap of [`berth_listener::Limits::default`].
pub async fn start(
    ip: IpAddr,
    availability_zone: String,
    stats: StatsSource,
    sizes: SizeSource,
    clock_drift: Arc<ClockDrift>,
) -> std::io::Result<Endpoint> {
    let listener = match tokio::net::TcpListener::bind(SocketAddr::new(ip, PORT)).await {
        Ok(listener) => listener,
        Err(_) => tokio::net::TcpListener::bind(SocketAddr::new(ip, 0)).await?,
    };
    let addr = listener.local_addr()?;
    let directory = Arc::new(Directory::default());
    let app = router(Context { directory: directory.clone(), availability_zone, stats, sizes, clock_drift });
    let limits = berth_listener::Limits::default();
    tokio::spawn(berth_listener::serve(listener, app, limits, std::future::pending()));
    Ok(Endpoint { base: format!("http://{addr}"), directory })
}

fn router(context: Context) -> Router {
    Router::new()
        .route("/v4/{task}/{container}", get(container_metadata))
        .route("/v4/{task}/{container}/task", get(task_metadata))
        .route("/v4/{task}/{container}/stats", get(container_stats))
        .route("/v4/{task}/{container}/task/stats", get(task_stats))
        .route("/v4/{task}/{container}/taskWithTags", get(task_with_tags))
        .route("/v4/{task}/{container}/{*rest}", get(not_supported))
        .with_state(context)
}

fn not_found(message: String) -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": message }))).into_response()
}

async fn not_supported(Path((_, _, rest)): Path<(String, String, String)>) -> Response {
    not_found(format!("/{rest} of the task metadata endpoint is not supported by Berth yet."))
}

/// The task and its state, or why not (a 404's message).
fn lookup(context: &Context, task: &str, container: &str) -> Result<(TaskSpec, TaskReport), String> {
    let (spec, report) = context.directory.get(task).ok_or_else(|| format!("no task {task} here"))?;
    if !spec.containers.iter().any(|c| c.definition.name.as_deref() == Some(container)) {
        return Err(format!("task {task} has no container {container}"));
    }
    Ok((spec, report))
}

async fn container_metadata(
    State(context): State<Context>,
    Path((task, container)): Path<(String, String)>,
) -> Response {
    match lookup(&context, &task, &container) {
        Ok((spec, report)) => axum::Json(container_json(&spec, &report, &container)).into_response(),
        Err(message) => not_found(message),
    }
}

async fn task_metadata(State(context): State<Context>, Path((task, container)): Path<(String, String)>) -> Response {
    match lookup(&context, &task, &container) {
        Ok((spec, report)) => {
            let mut out = task_json(&spec, &report, &context.availability_zone);
            add_fargate_fields(&context, &spec, &report, &mut out).await;
            axum::Json(out).into_response()
        }
        Err(message) => not_found(message),
    }
}

/// Fargate's task-level extras: `EphemeralStorageMetrics` (`Reserved`, the task's ephemeral storage, and
/// `Utilized`, what its containers wrote to their writable layers, in MiB) and `ClockDrift` (once the agent has
/// measured its clock, [`ClockDrift`]). Nothing for other launch types.
async fn add_fargate_fields(context: &Context, spec: &TaskSpec, report: &TaskReport, out: &mut Value) {
    if spec.launch_type.as_deref() != Some("FARGATE") {
        return;
    }
    let ids: Vec<String> = report.containers.iter().filter_map(|c| c.runtime_id.clone()).collect();
    let sizes = futures::future::join_all(ids.into_iter().map(|id| (context.sizes)(id))).await;
    out["EphemeralStorageMetrics"] = ephemeral_storage_metrics(spec, &sizes);
    if let Some(drift) = context.clock_drift.json() {
        out["ClockDrift"] = drift;
    }
}

/// `EphemeralStorageMetrics` from the containers' writable-layer sizes in bytes.
fn ephemeral_storage_metrics(spec: &TaskSpec, sizes: &[Option<u64>]) -> Value {
    let used: u64 = sizes.iter().flatten().sum();
    let reserved = i64::from(spec.ephemeral_storage_gib.unwrap_or(FARGATE_DEFAULT_EPHEMERAL_GIB)) * 1024;
    json!({ "Utilized": used.div_ceil(1024 * 1024), "Reserved": reserved })
}

async fn task_with_tags(State(context): State<Context>, Path((task, container)): Path<(String, String)>) -> Response {
    match lookup(&context, &task, &container) {
        Ok((spec, report)) => {
            let mut out = task_json(&spec, &report, &context.availability_zone);
            add_fargate_fields(&context, &spec, &report, &mut out).await;
            out["TaskTags"] = json!(spec.tags);
            out["ContainerInstanceTags"] = json!(spec.instance_tags);
            axum::Json(out).into_response()
        }
        Err(message) => not_found(message),
    }
}

fn runtime_id(report: &TaskReport, container: &str) -> Option<String> {
    report.containers.iter().find(|c| c.name == container)?.runtime_id.clone()
}

async fn container_stats(State(context): State<Context>, Path((task, container)): Path<(String, String)>) -> Response {
    let report = match lookup(&context, &task, &container) {
        Ok((_, report)) => report,
        Err(message) => return not_found(message),
    };
    let Some(id) = runtime_id(&report, &container) else {
        return not_found(format!("container {container} has not been created yet"));
    };
    match (context.stats)(id).await {
        Some(stats) => axum::Json(stats).into_response(),
        None => not_found(format!("no stats for container {container}")),
    }
}

async fn task_stats(State(context): State<Context>, Path((task, container)): Path<(String, String)>) -> Response {
    let report = match lookup(&context, &task, &container) {
        Ok((_, report)) => report,
        Err(message) => return not_found(message),
    };
    let ids: Vec<String> = report.containers.iter().filter_map(|c| c.runtime_id.clone()).collect();
    let samples = futures::future::join_all(ids.iter().map(|id| (context.stats)(id.clone()))).await;
    let out: serde_json::Map<String, Value> =
        ids.into_iter().zip(samples).map(|(id, s)| (id, s.unwrap_or(Value::Null))).collect();
    axum::Json(Value::Object(out)).into_response()
}

/// ECS's timestamps in the metadata endpoint are RFC 3339 strings.
fn rfc3339(ts: Option<f64>) -> Option<String> {
    let ts = ts?;
    let secs = ts.floor() as i64;
    let nanos = ((ts - ts.floor()) * 1e9).round().min(999_999_999.0) as u32;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = berth_model::clock::civil_from_days(days);
    Some(format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem % 3600 / 60, rem % 60))
}

/// A container's network as ECS's endpoint shows it: the mode, and for an awsvpc task its interface.
fn network_json(spec: &TaskSpec) -> Value {
    let Some(network) = &spec.network else { return json!({ "NetworkMode": spec.network_mode.as_str() }) };
    let prefix = network.slice_cidr.rsplit('/').next().unwrap_or("24");
    json!({
        "NetworkMode": "awsvpc",
        "IPv4Addresses": [network.address],
        "AttachmentIndex": 0,
        "MACAddress": network.mac_address,
        "IPv4SubnetCIDRBlock": network.subnet_cidr,
        "PrivateDNSName": network.private_dns_name,
        "SubnetGatewayIpv4Address": format!("{}/{prefix}", network.gateway),
    })
}

/// A container's ports: the host bindings Docker made, or for an awsvpc task its port mappings (on the task's
/// own address, host port = container port).
fn ports_json(
    spec: &TaskSpec,
    def: Option<&berth_model::ecs::ContainerDefinition>,
    observed: Option<&berth_model::agent::ContainerReport>,
) -> Vec<Value> {
    if let Some(network) = &spec.network {
        return def
            .and_then(|d| d.port_mappings.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|pm| {
                let port = pm.container_port?;
                Some(json!({
                    "ContainerPort": port,
                    "Protocol": pm.protocol.map(|p| p.as_str()).unwrap_or("tcp"),
                    "HostPort": port,
                    "HostIp": network.address,
                }))
            })
            .collect();
    }
    observed
        .map(|c| {
            c.network_bindings
                .iter()
                .map(|b| {
                    json!({
                        "ContainerPort": b.container_port,
                        "Protocol": b.protocol.map(|p| p.as_str()).unwrap_or("tcp"),
                        "HostPort": b.host_port,
                        "HostIp": b.bind_ip,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The metadata of one container.
pub fn container_json(spec: &TaskSpec, report: &TaskReport, name: &str) -> Value {
    let def = spec.containers.iter().find(|c| c.definition.name.as_deref() == Some(name));
    let observed = report.containers.iter().find(|c| c.name == name);
    let mut labels = def.and_then(|c| c.definition.docker_labels.clone()).unwrap_or_default();
    labels.extend(convert::task_labels(spec, name));
    let mut out = json!({
        "Name": name,
        "DockerName": convert::container_name(spec, name),
        "Image": def.and_then(|c| c.definition.image.clone()).unwrap_or_default(),
        "Labels": labels,
        "DesiredStatus": if spec.desired_status == "STOPPED" { "STOPPED" } else { "RUNNING" },
        "KnownStatus": observed.map(|c| c.last_status.as_str()).unwrap_or("PENDING"),
        "Limits": {
            "CPU": def.map(|c| c.definition.cpu).unwrap_or(0),
            "Memory": def.and_then(|c| c.definition.memory).unwrap_or(0),
        },
        "Type": "NORMAL",
        "ContainerARN": def.map(|c| c.container_arn.clone()).unwrap_or_default(),
        "Networks": [network_json(spec)],
        "Ports": ports_json(spec, def.map(|c| &c.definition), observed),
        "RestartCount": observed.map(|c| c.restart_count).unwrap_or(0),
    });
    if let Some(c) = observed {
        if let Some(id) = &c.runtime_id {
            out["DockerId"] = json!(id);
        }
        if let Some(digest) = &c.image_digest {
            out["ImageID"] = json!(digest);
        }
        if let Some(code) = c.exit_code {
            out["ExitCode"] = json!(code);
        }
        if c.health_status != "UNKNOWN" && !c.health_status.is_empty() {
            out["Health"] = json!({ "status": c.health_status });
        }
    }
    out
}

/// The metadata of a task, with its containers.
pub fn task_json(spec: &TaskSpec, report: &TaskReport, availability_zone: &str) -> Value {
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .filter_map(|c| c.definition.name.as_deref())
        .map(|name| container_json(spec, report, name))
        .collect();
    let mut out = json!({
        "Cluster": spec.cluster_arn,
        "TaskARN": spec.task_arn,
        "Family": spec.family,
        "Revision": spec.revision.to_string(),
        "DesiredStatus": if spec.desired_status == "STOPPED" { "STOPPED" } else { "RUNNING" },
        "KnownStatus": report.last_status,
        "Containers": containers,
        "AvailabilityZone": availability_zone,
        "LaunchType": spec.launch_type.as_deref().unwrap_or("EC2"),
    });
    let mut limits = serde_json::Map::new();
    if let Some(cpu) = spec.cpu {
        limits.insert("CPU".into(), json!(f64::from(cpu) / 1024.0));
    }
    if let Some(memory) = spec.memory {
        limits.insert("Memory".into(), json!(memory));
    }
    if !limits.is_empty() {
        out["Limits"] = Value::Object(limits);
    }
    for (key, value) in [
        ("PullStartedAt", report.pull_started_at),
        ("PullStoppedAt", report.pull_stopped_at),
        ("ExecutionStoppedAt", report.execution_stopped_at),
    ] {
        if let Some(text) = rfc3339(value) {
            out[key] = json!(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::agent::{ContainerReport, ContainerSpec};
    use berth_model::ecs::{ContainerDefinition, NetworkBinding};

    fn spec() -> TaskSpec {
        TaskSpec {
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/default".into(),
            family: "web".into(),
            revision: 4,
            desired_status: "RUNNING".into(),
            cpu: Some(512),
            tags: [("team".to_string(), "a".to_string())].into(),
            instance_tags: [("rack".to_string(), "7".to_string())].into(),
            containers: vec![ContainerSpec {
                container_arn: "arn:container".into(),
                definition: ContainerDefinition {
                    name: Some("app".into()),
                    image: Some("img:1".into()),
                    cpu: 256,
                    memory: Some(64),
                    ..Default::default()
                },
            }],
            ..Default::default()
        }
    }

    fn report() -> TaskReport {
        TaskReport {
            task_arn: spec().task_arn,
            last_status: "RUNNING".into(),
            pull_started_at: Some(1_700_000_000.5),
            containers: vec![ContainerReport {
                name: "app".into(),
                runtime_id: Some("abc123".into()),
                last_status: "RUNNING".into(),
                network_bindings: vec![NetworkBinding {
                    container_port: Some(8080),
                    host_port: Some(32768),
                    bind_ip: Some("0.0.0.0".into()),
                    ..Default::default()
                }],
                health_status: "HEALTHY".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn task_and_container_documents_use_ecs_names() {
        let task = task_json(&spec(), &report(), "us-east-1a");
        assert_eq!(task["TaskARN"], spec().task_arn);
        assert_eq!(task["Revision"], "4");
        assert_eq!(task["KnownStatus"], "RUNNING");
        assert_eq!(task["Limits"]["CPU"], 0.5);
        assert_eq!(task["PullStartedAt"], "2023-11-14T22:13:20.500000000Z");
        let app = &task["Containers"][0];
        assert_eq!(app["DockerId"], "abc123");
        assert_eq!(app["DockerName"], "berth-web-4-app-0123456789abcdef0123456789abcdef");
        assert_eq!(app["Limits"]["Memory"], 64);
        assert_eq!(app["Ports"][0]["HostPort"], 32768);
        assert_eq!(app["Health"]["status"], "HEALTHY");
        assert_eq!(app["Labels"][convert::LABEL_TASK_ARN], spec().task_arn);
        assert_eq!(task["LaunchType"], "EC2");
        let fargate = TaskSpec { launch_type: Some("FARGATE".into()), ..spec() };
        assert_eq!(task_json(&fargate, &report(), "us-east-1a")["LaunchType"], "FARGATE");
        let metrics = ephemeral_storage_metrics(&fargate, &[Some(5 * 1024 * 1024 + 1), None, Some(1024)]);
        assert_eq!(
            metrics,
            json!({ "Utilized": 6, "Reserved": 20 * 1024 }),
            "bytes rounded up to MiB; Fargate's 20 GiB"
        );
        let bigger = TaskSpec { ephemeral_storage_gib: Some(50), ..fargate };
        assert_eq!(ephemeral_storage_metrics(&bigger, &[])["Reserved"], 50 * 1024);
    }

    #[tokio::test]
    async fn serves_known_tasks_and_says_what_it_does_not_serve() {
        let stats: StatsSource = Arc::new(|id: String| {
            Box::pin(async move { (id == "abc123").then(|| json!({ "id": id, "memory_stats": {} })) })
        });
        let sizes: SizeSource =
            Arc::new(|id: String| Box::pin(async move { (id == "abc123").then_some(3 * 1024 * 1024) }));
        let drift = Arc::new(ClockDrift::default());
        let endpoint =
            start(IpAddr::from([127, 0, 0, 1]), "us-east-1a".into(), stats, sizes, drift.clone()).await.unwrap();
        endpoint.directory.put(&spec(), &report());
        let uri = endpoint.container_uri(&spec().task_arn, "app");
        let get = |url: String| async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        };
        let (status, body) = get(uri.clone()).await;
        assert_eq!((status, body["Name"].as_str()), (200, Some("app")));
        let (status, body) = get(format!("{uri}/task")).await;
        assert_eq!((status, body["Family"].as_str()), (200, Some("web")));
        let (status, body) = get(format!("{uri}/stats")).await;
        assert_eq!((status, body["id"].as_str()), (200, Some("abc123")));
        let (status, body) = get(format!("{uri}/task/stats")).await;
        assert_eq!((status, body["abc123"]["id"].as_str()), (200, Some("abc123")));
        // A FARGATE task shows the agent's last clock measurement; others do not.
        drift.record(100.0, 100.01, 100.02);
        let (_, ec2) = get(format!("{uri}/task")).await;
        assert!(ec2.get("ClockDrift").is_none(), "only FARGATE tasks show the clock: {ec2}");
        endpoint.directory.put(&TaskSpec { launch_type: Some("FARGATE".into()), ..spec() }, &report());
        let (_, fargate) = get(format!("{uri}/task")).await;
        assert_eq!(fargate["ClockDrift"]["ClockSynchronizationStatus"], "SYNCHRONIZED", "{fargate}");
        assert!(fargate["ClockDrift"]["ClockErrorBound"].as_f64().is_some(), "{fargate}");
        endpoint.directory.put(&spec(), &report());
        let (status, body) = get(format!("{uri}/taskWithTags")).await;
        assert_eq!((status, body["Family"].as_str()), (200, Some("web")));
        assert_eq!(body["TaskTags"], json!({"team": "a"}));
        assert_eq!(body["ContainerInstanceTags"], json!({"rack": "7"}));
        let (status, body) = get(format!("{uri}/other")).await;
        assert_eq!(status, 404);
        assert!(body["error"].as_str().unwrap().contains("not supported by Berth yet"));
        let (status, _) = get(endpoint.container_uri(&spec().task_arn, "ghost")).await;
        assert_eq!(status, 404);
        endpoint.directory.remove(&spec().task_arn);
        assert_eq!(get(uri).await.0, 404);
    }

    #[test]
    fn clock_drift_is_the_offset_plus_half_the_round_trip_against_the_server() {
        let drift = ClockDrift::default();
        assert_eq!(drift.json(), None, "nothing before the first measurement");
        // Sent at 100.0, answered at 100.010 by a server whose clock read 100.025: the host is 20 ms behind, give or
        // take 5 ms.
        drift.record(100.0, 100.010, 100.025);
        let sample = drift.sample().unwrap();
        assert!((sample.error_bound_ms - 25.0).abs() < 1e-6, "{sample:?}");
        let json = drift.json().unwrap();
        assert_eq!(json["ClockSynchronizationStatus"], "SYNCHRONIZED");
        assert_eq!(json["ReferenceTimestamp"], rfc3339(Some(100.025)).unwrap());
        drift.record(100.0, 100.002, 98.0);
        let json = drift.json().unwrap();
        assert_eq!(json["ClockSynchronizationStatus"], "NOT_SYNCHRONIZED", "2 s off: {json}");
        assert!((json["ClockErrorBound"].as_f64().unwrap() - 2002.0).abs() < 0.01, "{json}");
    }
}
