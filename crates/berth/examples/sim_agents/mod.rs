//! Simulated agents for benchmarks: many container instances joined through the real agent protocol
//! (`/agent/v1/register`, `/agent/v1/stream`, `/agent/v1/report`) that run nothing. Each answers its desired
//! state: a task the server wants RUNNING is reported RUNNING at once, a task it wants STOPPED is reported
//! STOPPED; heartbeats are reports without tasks.

use berth_model::agent::{
    AgentResources, AgentVersion, ContainerReport, RegisterRequest, RegisterResponse, ReportRequest, StreamMessage,
    TaskReport,
};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// What each simulated instance offers.
pub const CPU: i64 = 4096;
/// Memory (MiB) each simulated instance offers.
pub const MEMORY_MIB: i64 = 16384;

/// A fleet of simulated instances; they stop (their streams close, heartbeats end) when it drops.
pub struct SimAgents {
    handles: Vec<JoinHandle<()>>,
    /// Reports sent with task changes (not heartbeats).
    pub reports: Arc<AtomicU64>,
}

impl Drop for SimAgents {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// One instance's registration request: three availability zones, the capabilities a real agent advertises.
fn register_request(cluster: &str, n: usize) -> RegisterRequest {
    let mut attributes: BTreeMap<String, String> =
        berth_model::capabilities::supported().into_iter().map(|name| (name, String::new())).collect();
    attributes.insert("ecs.availability-zone".into(), format!("zone-{}", n % 3));
    RegisterRequest {
        cluster: cluster.into(),
        hostname: format!("sim-{n}"),
        resources: AgentResources { cpu: CPU, memory_mib: MEMORY_MIB, ..Default::default() },
        attributes,
        version: AgentVersion {
            agent_version: "sim".into(),
            agent_hash: "sim".into(),
            docker_version: "DockerVersion: none".into(),
        },
        ..Default::default()
    }
}

/// Registers `n` instances in `cluster` (at most `parallel` registrations at a time); the first `streams` of them
/// hold a desired-state stream and answer it, all heartbeat every `heartbeat`.
pub async fn start(
    url: &str,
    join_token: &str,
    cluster: &str,
    n: usize,
    streams: usize,
    heartbeat: Duration,
) -> SimAgents {
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let gate = Arc::new(Semaphore::new(32));
    let reports = Arc::new(AtomicU64::new(0));
    let mut registrations = Vec::new();
    for i in 0..n {
        let (http, gate, url, join_token) = (http.clone(), gate.clone(), url.to_string(), join_token.to_string());
        let body = serde_json::to_vec(&register_request(cluster, i)).unwrap();
        registrations.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let out: RegisterResponse = http
                .post(format!("{url}/agent/v1/register"))
                .bearer_auth(&join_token)
                .body(body)
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .json()
                .await
                .unwrap();
            // The first report marks the instance connected.
            report(&http, &url, &out.instance_token, Vec::new(), 0).await;
            out.instance_token
        }));
    }
    let mut handles = Vec::new();
    for (i, r) in registrations.into_iter().enumerate() {
        let token = r.await.unwrap();
        let (http, url, reports) = (http.clone(), url.to_string(), reports.clone());
        handles.push(tokio::spawn(async move {
            if i < streams {
                let beat = tokio::spawn(heartbeats(http.clone(), url.clone(), token.clone(), heartbeat));
                answer(&http, &url, &token, &reports).await;
                beat.abort();
            } else {
                heartbeats(http, url, token, heartbeat).await;
            }
        }));
    }
    SimAgents { handles, reports }
}

async fn report(http: &reqwest::Client, url: &str, token: &str, tasks: Vec<TaskReport>, applied_revision: i64) {
    let body = serde_json::to_vec(&ReportRequest { tasks, applied_revision, usage: Vec::new() }).unwrap();
    let _ = http.post(format!("{url}/agent/v1/report")).bearer_auth(token).body(body).send().await;
}

async fn heartbeats(http: reqwest::Client, url: String, token: String, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        report(&http, &url, &token, Vec::new(), 0).await;
    }
}

/// Follows the instance's desired-state stream (reconnecting when it breaks) and reports what it asks for.
async fn answer(http: &reqwest::Client, url: &str, token: &str, reports: &AtomicU64) {
    // What was last reported per task ARN.
    let mut reported: HashMap<String, &'static str> = HashMap::new();
    loop {
        let Ok(response) = http.get(format!("{url}/agent/v1/stream")).bearer_auth(token).send().await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let mut body = response.bytes_stream();
        let mut buffer = Vec::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let Ok(StreamMessage::Desired(desired)) = serde_json::from_slice::<StreamMessage>(&line) else {
                    continue;
                };
                let mut changed = Vec::new();
                for task in &desired.tasks {
                    let status = if task.desired_status == "STOPPED" { "STOPPED" } else { "RUNNING" };
                    if reported.get(&task.task_arn) == Some(&status) {
                        continue;
                    }
                    reported.insert(task.task_arn.clone(), status);
                    changed.push(TaskReport {
                        task_arn: task.task_arn.clone(),
                        last_status: status.into(),
                        containers: task
                            .containers
                            .iter()
                            .map(|c| ContainerReport {
                                name: c.definition.name.clone().unwrap_or_default(),
                                runtime_id: Some("simulated".into()),
                                last_status: status.into(),
                                exit_code: (status == "STOPPED").then_some(0),
                                health_status: "UNKNOWN".into(),
                                ..Default::default()
                            })
                            .collect(),
                        health_status: "UNKNOWN".into(),
                        ..Default::default()
                    });
                }
                reported.retain(|arn, _| desired.tasks.iter().any(|t| t.task_arn == *arn));
                if !changed.is_empty() {
                    reports.fetch_add(1, Ordering::Relaxed);
                    report(http, url, token, changed, desired.revision).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
