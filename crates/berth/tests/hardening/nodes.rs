//! Node identity and the agent's credentials (issue 8, points 1, 11 and 13): a join token cannot take over an
//! existing container instance, agents rejoin as themselves with their instance secret (also after the join token
//! was rotated), an agent's calls are limited to its own instance, and a stream through a proxy that stops
//! forwarding is noticed and reopened. Real `berth server` and `berth agent` processes over TCP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

use crate::common::*;
use berth_testkit::{Berth, BerthOptions, wait_for};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn server(extra: &[&str]) -> Berth {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
    })
    .expect("berth server starts")
}

/// A `berth agent` process started by the test itself (any server URL, any join token); killed on drop.
struct Agent(Child);

impl Agent {
    fn start(server_url: &str, join_token: &str, data_dir: &Path, hostname: &str) -> Agent {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["agent", "--server", server_url, "--join-token", join_token, "--hostname", hostname])
            .args(["--cpu-units", "1024", "--memory-mib", "1024"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", std::env::var("BERTH_TEST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Agent(child)
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A registration body as an agent sends it.
fn register_body(arn: Option<&str>, secret: Option<&str>, hostname: &str) -> Value {
    let mut body = json!({
        "cluster": "default",
        "hostname": hostname,
        "resources": {"cpu": 1024, "memoryMib": 1024, "reservedTcpPorts": [], "reservedUdpPorts": []},
        "attributes": {},
        "version": {"agentVersion": "0", "agentHash": "x", "dockerVersion": "DockerVersion: 0"},
    });
    if let Some(arn) = arn {
        body["containerInstanceArn"] = json!(arn);
    }
    if let Some(secret) = secret {
        body["instanceSecret"] = json!(secret);
    }
    body
}

/// POSTs JSON to an agent endpoint with a bearer token; returns (status, body).
async fn agent_post(berth: &Berth, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", berth.url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The identity file an agent keeps in its data dir.
fn identity(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("identity-default.json")).expect("the identity file")).unwrap()
}

/// hostname (ec2InstanceId) -> (ARN, agentConnected) of the ACTIVE instances.
async fn instances(client: &aws_sdk_ecs::Client) -> std::collections::BTreeMap<String, (String, bool)> {
    let arns = client.list_container_instances().send().await.unwrap().container_instance_arns.unwrap_or_default();
    if arns.is_empty() {
        return Default::default();
    }
    let out = client.describe_container_instances().set_container_instances(Some(arns)).send().await.unwrap();
    out.container_instances()
        .iter()
        .filter(|ci| ci.status() == Some("ACTIVE"))
        .map(|ci| {
            (
                ci.ec2_instance_id().unwrap_or_default().to_string(),
                (ci.container_instance_arn().unwrap().to_string(), ci.agent_connected),
            )
        })
        .collect()
}

/// Waits until the instance of `hostname` is registered and connected; returns its ARN.
async fn wait_connected(client: &aws_sdk_ecs::Client, hostname: &str) -> String {
    wait_for(&format!("{hostname} to be connected"), Duration::from_secs(40), || async {
        instances(client).await.get(hostname).filter(|(_, connected)| *connected).map(|(arn, _)| arn.clone())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs one workload task and waits until it is RUNNING; returns its ARN.
async fn run_workload(client: &aws_sdk_ecs::Client, family: &str) -> String {
    let td = register_workload(client, family, &[("SECRET_SETTING", "not-for-strangers")]).await;
    let out = client.run_task().task_definition(&td).send().await.unwrap();
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    let arn = out.tasks()[0].task_arn().unwrap().to_string();
    wait_status(client, &arn, "RUNNING", Duration::from_secs(90)).await;
    arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_token_cannot_take_over_a_joined_instance() {
    let berth = server(&[]);
    let client = ecs_client(&berth);
    let dir = berth.data_dir.path().join("agent-a");
    let mut agent = Agent::start(&berth.url(), &berth.join_token().unwrap(), &dir, "host-a");
    let arn = wait_connected(&client, "host-a").await;
    let task = run_workload(&client, "victim").await;

    // Takeover attempts: the join token with the ARN, with a wrong secret, and a wrong secret without the token.
    let join = berth.join_token().unwrap();
    for (token, secret) in [(join.as_str(), None), (join.as_str(), Some("not-the-secret")), ("nope", Some("guess"))] {
        let (status, body) =
            agent_post(&berth, "/agent/v1/register", token, &register_body(Some(&arn), secret, "evil")).await;
        assert_eq!(status, 403, "takeover with token {token:?} and secret {secret:?}: {body}");
        assert_eq!(body["__type"], json!("AccessDeniedException"), "{body}");
        assert!(body["message"].is_string(), "{body}");
        assert!(body.get("instanceToken").is_none());
    }

    // The agent keeps its instance secret in its data dir, owner-only.
    let id = identity(&dir);
    assert_eq!(id["containerInstanceArn"], json!(arn));
    let secret = id["instanceSecret"].as_str().expect("an instance secret in the identity file").to_string();
    assert!(secret.len() >= 32, "{secret}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("identity-default.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the identity file holds a secret");
    }

    // The real agent is untouched: past the agent timeout (10 s) it is still connected, alive, in charge of its
    // task, which is still RUNNING with its container.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(agent.alive(), "the real agent keeps running");
    let now = instances(&client).await;
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(now.get("host-a"), Some(&(arn.clone(), true)), "{now:?}");
    assert_eq!(describe(&client, &task).await.last_status(), Some("RUNNING"));
    assert_eq!(containers_of(&berth, "victim").len(), 1);
    let log = std::fs::read_to_string(dir.with_extension("log")).unwrap();
    assert!(!log.contains("superseded"), "the agent was not told it was superseded:\n{log}");
    client.stop_task().task(&task).send().await.unwrap();
    wait_status(&client, &task, "STOPPED", Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_rejoin_as_themselves_and_a_rotated_join_token_leaves_them_joined() {
    // Every start rotates the join token.
    let mut berth = server(&["--rotate-join-token"]);
    let client = ecs_client(&berth);
    let first_token = berth.join_token().unwrap();
    let (dir_a, dir_b) = (berth.data_dir.path().join("agent-a"), berth.data_dir.path().join("agent-b"));
    let _a = Agent::start(&berth.url(), &first_token, &dir_a, "host-a");
    let mut b = Agent::start(&berth.url(), &first_token, &dir_b, "host-b");
    let arn_a = wait_connected(&client, "host-a").await;
    let arn_b = wait_connected(&client, "host-b").await;

    // B stops; the server restarts with a new join token; A runs on through it.
    drop(b);
    berth.restart().unwrap();
    let second_token = berth.join_token().unwrap();
    assert_ne!(first_token, second_token, "the join token was rotated");

    // B comes back with its data dir and the old (now invalid) join token: the same instance again.
    b = Agent::start(&berth.url(), &first_token, &dir_b, "host-b");
    tokio::time::sleep(Duration::from_secs(12)).await; // past the agent timeout: a silent agent would show
    assert!(b.alive());
    assert_eq!(wait_connected(&client, "host-b").await, arn_b, "B rejoined as itself");
    assert_eq!(wait_connected(&client, "host-a").await, arn_a, "A stayed joined");
    assert_eq!(instances(&client).await.len(), 2);
    let log_a = std::fs::read_to_string(dir_a.with_extension("log")).unwrap();
    assert!(!log_a.contains("superseded"), "{log_a}");

    // The old join token creates nothing new; the new one does.
    let (status, body) = agent_post(&berth, "/agent/v1/register", &first_token, &register_body(None, None, "x")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["__type"], json!("AccessDeniedException"));

    // B loses its data dir: it joins (with the new token) as a new instance.
    drop(b);
    std::fs::remove_dir_all(&dir_b).unwrap();
    let _b = Agent::start(&berth.url(), &second_token, &dir_b, "host-b2");
    let arn_b2 = wait_connected(&client, "host-b2").await;
    assert_ne!(arn_b2, arn_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reads_and_reports_only_its_own_instance() {
    let berth = server(&[]);
    let client = ecs_client(&berth);
    let dir = berth.data_dir.path().join("agent-a");
    let _agent = Agent::start(&berth.url(), &berth.join_token().unwrap(), &dir, "host-a");
    let arn_a = wait_connected(&client, "host-a").await;
    let task = run_workload(&client, "mine").await;

    // A second, legitimate instance joins (by raw protocol) with the join token.
    let (status, joined) =
        agent_post(&berth, "/agent/v1/register", &berth.join_token().unwrap(), &register_body(None, None, "host-b"))
            .await;
    assert_eq!(status, 200, "{joined}");
    let token_b = joined["instanceToken"].as_str().unwrap().to_string();
    assert_ne!(joined["containerInstanceArn"], json!(arn_a));

    // B reports A's task as stopped: nothing changes, the task is answered as unknown to B.
    let report = json!({"tasks": [{
        "taskArn": task, "lastStatus": "STOPPED", "containers": [], "healthStatus": "UNKNOWN",
        "stopCode": "EssentialContainerExited", "stoppedReason": "a stranger said so"
    }], "appliedRevision": 0});
    let (status, answer) = agent_post(&berth, "/agent/v1/report", &token_b, &report).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["unknownTaskArns"], json!([task]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let described = describe(&client, &task).await;
    assert_eq!(described.last_status(), Some("RUNNING"));
    assert_eq!(described.stopped_reason(), None);

    // B's stream carries B's desired state only: no task of A.
    let response = reqwest::Client::new()
        .get(format!("{}/agent/v1/stream", berth.url()))
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut response = response;
    let mut text = String::new();
    while !text.contains('\n') {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await.unwrap().unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], json!("desired"), "{first}");
    assert_eq!(first["tasks"], json!([]), "{first}");
    assert!(!text.contains(&task));

    // B's registry credentials come fresh from its instance token (the agent refreshes them before they expire);
    // without a valid instance token there are none.
    let (status, auth) = agent_post(&berth, "/agent/v1/registry-auth", &token_b, &json!({})).await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["registryAuth"]["ttlSeconds"], json!(12 * 3600), "{auth}");
    let password = auth["registryAuth"]["password"].as_str().unwrap().to_string();
    let v2 = reqwest::Client::new()
        .get(format!("{}/v2/", berth.url()))
        .basic_auth("AWS", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status().as_u16(), 200, "the refreshed credentials work on the registry");
    let (status, _) = agent_post(&berth, "/agent/v1/registry-auth", "default/x/y", &json!({})).await;
    assert_eq!(status, 403);

    // B's secret under A's instance id opens nothing of A.
    let id_a = arn_a.rsplit('/').next().unwrap();
    let forged = format!("default/{id_a}/{}", token_b.rsplit('/').next().unwrap());
    let response = reqwest::Client::new()
        .get(format!("{}/agent/v1/stream", berth.url()))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_ne!(response.status().as_u16(), 200, "a forged token opens no stream");
    let (status, _) = agent_post(&berth, "/agent/v1/report", &forged, &report).await;
    assert_ne!(status, 200);
    assert_eq!(describe(&client, &task).await.last_status(), Some("RUNNING"));
}

/// When a desired-state stream was requested, and on which proxied connection.
type StreamLog = Arc<Mutex<Vec<(Instant, u64)>>>;

/// A TCP proxy that can freeze: connections open at the freeze stop forwarding in both directions but stay open;
/// later connections forward normally. It notes when a desired-state stream is requested, and on which connection.
struct Proxy {
    port: u16,
    next_id: Arc<AtomicU64>,
    frozen_below: Arc<AtomicU64>,
    streams: StreamLog,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            next_id: Arc::new(AtomicU64::new(0)),
            frozen_below: Arc::new(AtomicU64::new(0)),
            streams: Arc::new(Mutex::new(Vec::new())),
        };
        let (next_id, frozen_below, streams) =
            (proxy.next_id.clone(), proxy.frozen_below.clone(), proxy.streams.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { continue };
                let id = next_id.fetch_add(1, Ordering::SeqCst);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, id, frozen_below.clone(), Some(streams.clone())));
                tokio::spawn(pump(server_read, client_write, id, frozen_below.clone(), None));
            }
        });
        proxy
    }

    /// Freezes every connection open now.
    fn freeze(&self) {
        self.frozen_below.store(self.next_id.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// When a stream was first requested on a connection opened after the freeze.
    fn stream_after_freeze(&self) -> Option<Instant> {
        let below = self.frozen_below.load(Ordering::SeqCst);
        self.streams.lock().unwrap().iter().find(|(_, id)| *id >= below).map(|(at, _)| *at)
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    id: u64,
    frozen_below: Arc<AtomicU64>,
    streams: Option<StreamLog>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if id < frozen_below.load(Ordering::SeqCst) {
            // Frozen: forward nothing, close nothing.
            let _keep = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if let Some(streams) = &streams
            && buf[..n].windows(20).any(|w| w == b"GET /agent/v1/stream")
        {
            streams.lock().unwrap().push((Instant::now(), id));
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_behind_a_proxy_that_stops_forwarding_reconnects_within_15_s() {
    let berth = server(&[]);
    let client = ecs_client(&berth);
    let proxy = Proxy::start(berth.port).await;
    let dir = berth.data_dir.path().join("agent-a");
    let mut agent =
        Agent::start(&format!("http://127.0.0.1:{}", proxy.port), &berth.join_token().unwrap(), &dir, "host-a");
    let arn = wait_connected(&client, "host-a").await;
    wait_for("the agent's stream", Duration::from_secs(20), || async {
        (!proxy.streams.lock().unwrap().is_empty()).then_some(())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let frozen_at = Instant::now();
    proxy.freeze();
    let reopened =
        wait_for("a new stream after the freeze", Duration::from_secs(30), || async { proxy.stream_after_freeze() })
            .await
            .unwrap_or_else(|e| {
                panic!("{e}; agent log:\n{}", std::fs::read_to_string(dir.with_extension("log")).unwrap())
            });
    let after = reopened.duration_since(frozen_at);
    println!("stream reopened {:.1} s after the freeze", after.as_secs_f64());
    assert!(after < Duration::from_secs(15), "reopened after {after:?}");

    // The new stream carries desired state: a task placed now runs.
    wait_connected(&client, "host-a").await;
    let task = run_workload(&client, "behind-proxy").await;
    assert_eq!(describe(&client, &task).await.container_instance_arn(), Some(arn.as_str()));
    assert!(agent.alive());
}
