//! The fault environment (issue 17 item 3): 3 etcd members, 3 servers and 4 agents as containers of the project's
//! own binary on a private Docker network ([`berth_testkit::FaultCluster`]), with faults injected while three
//! clients (the official SDK, one per server, moving to the next server on failure) call RunTask, StopTask,
//! DescribeTasks, UpdateService and DescribeServices throughout.
//!
//! The agents share the host's Docker engine through its mounted socket: each adopts only the containers labelled
//! with its own container instance ARN, so several agents on one engine never take each other's containers. The
//! workload is bridge-mode tasks of the static workload image (the agents' image has no `ip`/`iptables`).
//!
//! Faults, each followed by its heal and a check: (a) `kill -9` of the leader server and its restart; (b) a
//! partition of one agent for longer than the lost-instance timeout: its tasks are replaced elsewhere while it is
//! away, its containers keep running on the host meanwhile, and within 30 s of its return they are stopped; (c) a
//! partition of a follower server, then of the leader; (d) a partition of an etcd member; (e) SIGSTOP of the leader
//! until another leads, then SIGCONT: it steps down and nothing it writes reaches the store; (f) `kill -9` of an
//! agent and its restart: it adopts the same containers, none started twice; (g) one server restarted with its
//! wall clock 30 s ahead (`--clock-offset 30`) and made the leader.
//!
//! The check after each heal (writes paused): every service runs its desired count, every running container of
//! this cluster on the host belongs to exactly one task that is not STOPPED and every RUNNING task has its
//! container, and no task's container was created twice. At the end the API history (every call the clients made,
//! and the set-up's CreateService and RunTask calls) is checked linearizable with `berth-lincheck`'s ECS models and
//! saved as JSON in a temp dir; phase timings are printed.
//!
//! Heavy (about 5-8 minutes): `tools/test --heavy` runs it; CI does not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;
#[path = "fault_cluster/history.rs"]
mod history;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus, NetworkMode};
use berth_store::{EtcdConfig, EtcdStore, Store};
use berth_testkit::fault_cluster::TaskContainer;
use berth_testkit::{FaultCluster, FaultClusterOptions, Node};
use common::{assert_no_instance_written_disconnected, prometheus_value};
use history::{Call, History, Reply, ServiceRead, TaskRead, Token, counts, new_history, split, task_status};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Server timeouts, short so the faults play out in seconds.
const AGENT_TIMEOUT: u64 = 6;
const LOST_TIMEOUT: u64 = 12;
/// Each API call's deadline (past it, the outcome is unknown).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The services and their desired counts (the clients move `alpha` between 4 and 5).
const SERVICES: [(&str, i32); 2] = [("alpha", 4), ("beta", 6)];
const AGENTS: usize = 4;

/// The cluster, the clients and the history, shared by the phases.
struct World {
    cluster: FaultCluster,
    history: Arc<History>,
    /// Write lock held while a check runs: the clients' writes wait for it.
    writes: Arc<RwLock<()>>,
    etcd: EtcdStore,
    /// The servers' clients for checks (longer deadline, still no retries).
    checkers: Vec<Client>,
    phases: Vec<(String, Duration)>,
}

impl World {
    /// A client of a server that answers (the servers in turn, `prefer` first).
    async fn any_client(&self, prefer: usize) -> &Client {
        for k in 0..3 {
            let i = (prefer + k) % 3;
            if self.checkers[i].list_clusters().send().await.is_ok() {
                return &self.checkers[i];
            }
        }
        panic!("no server answers");
    }

    /// The leader key's value (a server id), if any.
    async fn leader(&self) -> Option<usize> {
        let kv = self.etcd.get(berth_store::leader::LEADER_KEY).await.ok()??;
        String::from_utf8_lossy(&kv.value).strip_prefix('s')?.parse().ok()
    }

    /// Waits until a server other than `not` leads; returns it.
    async fn new_leader(&self, not: Option<usize>, within: Duration) -> usize {
        let started = Instant::now();
        loop {
            if let Some(id) = self.leader().await.filter(|id| Some(*id) != not) {
                return id;
            }
            assert!(started.elapsed() < within, "no server took over from {not:?} within {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The container instance ARN of each agent (by its host name, the container's name).
    async fn instance_arns(&self) -> BTreeMap<usize, String> {
        let client = self.any_client(0).await;
        let arns = client.list_container_instances().send().await.unwrap().container_instance_arns.unwrap_or_default();
        let described = client.describe_container_instances().set_container_instances(Some(arns)).send().await.unwrap();
        let mut by_agent = BTreeMap::new();
        for instance in described.container_instances() {
            let name = instance.ec2_instance_id().unwrap_or_default();
            if let Some(i) = (0..AGENTS).find(|i| self.cluster.container(Node::Agent(*i)) == name) {
                by_agent.insert(i, instance.container_instance_arn().unwrap_or_default().to_string());
            }
        }
        by_agent
    }

    /// Records how long a phase took and prints it.
    fn phase(&mut self, name: &str, started: Instant) {
        let took = started.elapsed();
        println!("phase {name}: {took:.1?}");
        self.phases.push((name.to_string(), took));
    }
}

/// What a check found wrong (empty: all holds).
async fn violations(world: &World) -> Vec<String> {
    let mut found = Vec::new();
    let client = world.any_client(0).await;
    let Ok(services) = client.describe_services().services("alpha").services("beta").send().await else {
        return vec!["DescribeServices failed".into()];
    };
    for s in services.services() {
        if s.running_count != s.desired_count || s.pending_count != 0 || s.deployments().len() != 1 {
            found.push(format!(
                "service {}: desired {} running {} pending {} deployments {}",
                s.service_name().unwrap_or_default(),
                s.desired_count,
                s.running_count,
                s.pending_count,
                s.deployments().len()
            ));
        }
    }
    // Every task the servers want running, described.
    let mut tasks = BTreeMap::new();
    let Ok(listed) = client.list_tasks().desired_status(DesiredStatus::Running).max_results(100).send().await else {
        return vec!["ListTasks failed".into()];
    };
    let arns = listed.task_arns().to_vec();
    for chunk in arns.chunks(100) {
        let Ok(d) = client.describe_tasks().set_tasks(Some(chunk.to_vec())).send().await else {
            return vec!["DescribeTasks failed".into()];
        };
        for t in d.tasks() {
            tasks.insert(t.task_arn().unwrap_or_default().to_string(), t.clone());
        }
    }
    for (group, desired) in SERVICES {
        let running = tasks
            .values()
            .filter(|t| t.group() == Some(format!("service:{group}").as_str()) && t.last_status() == Some("RUNNING"))
            .count();
        let want = services
            .services()
            .iter()
            .find(|s| s.service_name() == Some(group))
            .map(|s| s.desired_count as usize)
            .unwrap_or(desired as usize);
        if running != want {
            found.push(format!("service {group}: {running} RUNNING tasks, desired {want}"));
        }
    }
    for t in tasks.values().filter(|t| t.last_status() != Some("RUNNING")) {
        found.push(format!("task {} is {:?}", t.task_arn().unwrap_or_default(), t.last_status()));
    }
    let Ok(all) = world.cluster.task_containers(true) else { return vec!["docker ps failed".into()] };
    let running: Vec<&TaskContainer> = all.iter().filter(|c| c.state == "running").collect();
    // Every running container belongs to a task the servers want running (a stopped task's container goes).
    for c in &running {
        if !tasks.contains_key(&c.task_arn) {
            found.push(format!("container {} runs for task {} that is not running", &c.id[..12], c.task_arn));
        }
    }
    // Every RUNNING task has its container running.
    for arn in tasks.keys() {
        let n = running.iter().filter(|c| &c.task_arn == arn).count();
        if n != 1 {
            found.push(format!("task {arn} has {n} running containers"));
        }
    }
    found.extend(duplicates(&all));
    found
}

/// A task whose container was created more than once (never retried in place: a second container is a second
/// start of the same task).
fn duplicates(all: &[TaskContainer]) -> Vec<String> {
    let mut per: HashMap<(&str, &str), usize> = HashMap::new();
    for c in all {
        *per.entry((c.task_arn.as_str(), c.name.as_str())).or_default() += 1;
    }
    per.into_iter().filter(|(_, n)| *n > 1).map(|((arn, name), n)| format!("{arn}/{name}: {n} containers")).collect()
}

/// Pauses the clients' writes, waits until every invariant holds (at most `within`), and resumes them.
async fn check(world: &mut World, name: &str, within: Duration) {
    let started = Instant::now();
    let quiet = world.writes.clone();
    let guard = quiet.write().await;
    let mut last = Vec::new();
    while started.elapsed() < within {
        last = violations(world).await;
        if last.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(last.is_empty(), "after {name}, not converged within {within:?}: {last:#?}");
    println!("check after {name}: converged in {:.1?}", started.elapsed());
    drop(guard);
}

/// Ends a recorded call with its reply (`Ok`), or with its error (`Err(moved)`: whether the client should move to the
/// next server, as for no answer or a 5xx).
fn finish<T, E: ProvideErrorMetadata + std::fmt::Debug>(
    history: &History,
    token: Token,
    result: Result<T, SdkError<E, aws_sdk_ecs::config::http::HttpResponse>>,
    reply: impl FnOnce(&T) -> Reply,
) -> Result<T, bool> {
    match split(result) {
        Ok(value) => {
            history.end(token, reply(&value));
            Ok(value)
        }
        Err((status, _)) => {
            history.end_error(token, status);
            Err(!matches!(status, Some(400..=499)))
        }
    }
}

/// A task's statuses in a DescribeTasks answer.
fn task_read(t: &aws_sdk_ecs::types::Task) -> TaskRead {
    TaskRead {
        task: t.task_arn().unwrap_or_default().to_string(),
        status: task_status(t.desired_status().unwrap_or_default(), t.last_status().unwrap_or_default()),
    }
}

/// One client: calls its server, moving to the next when a call gets no answer or a 5xx.
async fn client_loop(
    me: u64,
    clients: Vec<Client>,
    history: Arc<History>,
    writes: Arc<RwLock<()>>,
    done: Arc<AtomicBool>,
) {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut server = me as usize % clients.len();
    let mut mine: Vec<String> = Vec::new();
    let cluster = || "default".to_string();
    while !done.load(Ordering::SeqCst) {
        let client = &clients[server];
        let roll = rng.random_range(0..10);
        let outcome: Result<(), bool> = match roll {
            // RunTask of a standalone task (each client keeps at most two).
            0 | 1 if mine.len() < 2 => {
                let _w = writes.read().await;
                let token = history.begin(me, Call::RunTask { cluster: cluster() });
                let result = client.run_task().task_definition("solo").send().await;
                finish(&history, token, result, |out| {
                    Reply::Started(out.tasks().iter().filter_map(|t| t.task_arn().map(str::to_string)).collect())
                })
                .map(|out| mine.extend(out.tasks().iter().filter_map(|t| t.task_arn().map(str::to_string))))
            }
            // StopTask of one of its own.
            2 if !mine.is_empty() => {
                let _w = writes.read().await;
                let arn = mine.remove(0);
                let token = history.begin(me, Call::StopTask { cluster: cluster(), task: arn.clone() });
                let result = client.stop_task().task(&arn).reason("fault test").send().await;
                finish(&history, token, result, |_| Reply::Done).map(drop).inspect_err(|moved| {
                    if *moved {
                        mine.push(arn);
                    }
                })
            }
            // UpdateService: alpha between 4 and 5, beta stays at 6.
            3 => {
                let _w = writes.read().await;
                let (name, count) = if rng.random_bool(0.5) { ("alpha", rng.random_range(4..=5)) } else { ("beta", 6) };
                let call = Call::UpdateService {
                    cluster: cluster(),
                    service: name.to_string(),
                    desired_count: Some(count as u32),
                };
                let token = history.begin(me, call);
                let result = client.update_service().service(name).desired_count(count).send().await;
                finish(&history, token, result, |_| Reply::Done).map(drop)
            }
            // DescribeServices.
            4 | 5 => {
                let names = ["alpha", "beta"];
                let call = Call::DescribeServices {
                    cluster: cluster(),
                    services: names.iter().map(|s| s.to_string()).collect(),
                };
                let token = history.begin(me, call);
                let result = client.describe_services().services(names[0]).services(names[1]).send().await;
                finish(&history, token, result, |out| {
                    Reply::Services(
                        names
                            .iter()
                            .map(|name| ServiceRead {
                                service: name.to_string(),
                                desired_count: out
                                    .services()
                                    .iter()
                                    .find(|s| s.service_name() == Some(*name))
                                    .map(|s| s.desired_count as u32),
                            })
                            .collect(),
                    )
                })
                .map(drop)
            }
            // DescribeTasks of its own tasks (when it has some).
            _ if !mine.is_empty() => {
                let asked = mine.clone();
                let token = history.begin(me, Call::DescribeTasks { cluster: cluster(), tasks: asked.clone() });
                let result = client.describe_tasks().set_tasks(Some(asked.clone())).send().await;
                finish(&history, token, result, |out| {
                    Reply::Tasks(
                        asked
                            .iter()
                            .map(|arn| {
                                out.tasks()
                                    .iter()
                                    .find(|t| t.task_arn() == Some(arn.as_str()))
                                    .map(task_read)
                                    .unwrap_or(TaskRead { task: arn.clone(), status: None })
                            })
                            .collect(),
                    )
                })
                .map(|out| {
                    // A task that stopped (by the service scheduler, its instance lost) leaves the pool.
                    let stopped: BTreeSet<&str> = out
                        .tasks()
                        .iter()
                        .filter(|t| t.last_status() == Some("STOPPED"))
                        .filter_map(|t| t.task_arn())
                        .collect();
                    mine.retain(|a| !stopped.contains(a.as_str()));
                })
            }
            _ => Ok(()),
        };
        if outcome == Err(true) {
            server = (server + 1) % clients.len();
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..300))).await;
    }
}

/// The fenced-write counter and the leader gauge of a server (`None` when it does not answer).
fn leader_metrics(cluster: &FaultCluster, server: usize) -> Option<(Option<f64>, f64)> {
    let text = cluster.metrics(server)?;
    Some((
        prometheus_value(&text, "berth_leader", &[]),
        prometheus_value(&text, "berth_leader_fenced_writes_total", &[]).unwrap_or(0.0),
    ))
}

/// The other two servers.
fn others(of: usize) -> (usize, usize) {
    ((of + 1) % 3, (of + 2) % 3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: tools/test --heavy (3 etcd, 3 servers, 4 agents as containers; 7 faults, several minutes)"]
async fn faults_heal_and_the_cluster_holds() {
    berth_testkit::require_docker();
    let total = Instant::now();
    berth_testkit::workload_image().expect("the workload image builds");
    let started = Instant::now();
    let cluster = FaultCluster::start(FaultClusterOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        agents: AGENTS,
        server_args: [
            "--leader-lease-seconds",
            "3",
            "--agent-timeout-seconds",
            &AGENT_TIMEOUT.to_string(),
            "--lost-instance-timeout-seconds",
            &LOST_TIMEOUT.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        server_extra: None,
        agent_args: ["--stop-timeout-seconds", "2"].iter().map(|s| s.to_string()).collect(),
    })
    .expect("the fault cluster starts");
    let etcd = EtcdStore::connect(EtcdConfig::parse(&format!("{}?prefix=/fault", cluster.etcd_urls())).unwrap())
        .await
        .unwrap();
    let checkers = (0..3).map(|i| cluster.ecs_client(i, Duration::from_secs(10))).collect();
    let out_dir = tempfile::Builder::new().prefix("berth-fault-history-").tempdir().unwrap().keep();
    let mut world = World {
        cluster,
        history: Arc::new(new_history()),
        writes: Arc::new(RwLock::new(())),
        etcd,
        checkers,
        phases: Vec::new(),
    };
    world.phase("start (image, 3 etcd, 3 servers, 4 agents)", started);
    let save = SaveOnDrop(world.history.clone(), out_dir.join("history.json"));

    // The workload: two services and standalone tasks of a bridge-mode definition.
    let started = Instant::now();
    let client = world.any_client(0).await.clone();
    berth_testkit::wait_for("4 connected agents", Duration::from_secs(60), || async {
        let arns = client.list_container_instances().send().await.ok()?.container_instance_arns.unwrap_or_default();
        let d = client.describe_container_instances().set_container_instances(Some(arns)).send().await.ok()?;
        (d.container_instances().iter().filter(|c| c.agent_connected).count() == AGENTS).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}; a0's log:\n{}", world.cluster.logs(Node::Agent(0))));
    for family in ["svc", "solo"] {
        client
            .register_task_definition()
            .family(family)
            .network_mode(NetworkMode::Bridge)
            .container_definitions(
                ContainerDefinition::builder().name("app").image("berth-workload:latest").memory(16).build(),
            )
            .send()
            .await
            .unwrap();
    }
    // Recorded too (client 9), so the checker knows each service's first desired count and these tasks.
    let history = world.history.clone();
    for (name, count) in SERVICES {
        let call = Call::CreateService { cluster: "default".into(), service: name.into(), desired_count: count as u32 };
        let token = history.begin(9, call);
        client.create_service().service_name(name).task_definition("svc").desired_count(count).send().await.unwrap();
        history.end(token, Reply::Done);
    }
    for _ in 0..3 {
        let token = history.begin(9, Call::RunTask { cluster: "default".into() });
        let out = client.run_task().task_definition("solo").send().await.unwrap();
        history
            .end(token, Reply::Started(out.tasks().iter().filter_map(|t| t.task_arn().map(str::to_string)).collect()));
    }
    check(&mut world, "the workload's start", Duration::from_secs(90)).await;
    world.phase("workload", started);

    let done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for me in 0..3u64 {
        let per_server: Vec<Client> = (0..3).map(|i| world.cluster.ecs_client(i, CALL_TIMEOUT)).collect();
        clients.push(tokio::spawn(client_loop(
            me,
            per_server,
            world.history.clone(),
            world.writes.clone(),
            done.clone(),
        )));
    }
    let converge = Duration::from_secs(90);

    // (a) kill -9 of the leader, then its restart.
    let started = Instant::now();
    let leader = world.new_leader(None, Duration::from_secs(10)).await;
    world.cluster.kill9(Node::Server(leader)).unwrap();
    let next = world.new_leader(Some(leader), Duration::from_secs(15)).await;
    println!("(a) kill -9 of s{leader}: s{next} leads after {:.1?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.cluster.restart(Node::Server(leader)).unwrap();
    check(&mut world, "(a) kill -9 of the leader", converge).await;
    world.phase("(a) kill -9 leader", started);

    // (b) one agent partitioned past the lost-instance timeout. The clients' writes pause while the agent's
    // containers are listed and it is cut off, so none of them is stopping then.
    let started = Instant::now();
    let quiet = world.writes.clone();
    let guard = quiet.write().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let instances = world.instance_arns().await;
    let victim = (0..AGENTS)
        .max_by_key(|i| {
            let arn = &instances[i];
            world.cluster.task_containers(false).unwrap().iter().filter(|c| &c.instance_arn == arn).count()
        })
        .unwrap();
    let victim_arn = instances[&victim].clone();
    let on_victim: Vec<TaskContainer> =
        world.cluster.task_containers(false).unwrap().into_iter().filter(|c| c.instance_arn == victim_arn).collect();
    let stale: BTreeSet<String> = on_victim.iter().map(|c| c.id.clone()).collect();
    let stale_tasks: BTreeSet<String> = on_victim.into_iter().map(|c| c.task_arn).collect();
    assert!(!stale.is_empty(), "the agent to partition runs tasks");
    world.cluster.partition(Node::Agent(victim)).unwrap();
    let cut = Instant::now();
    drop(guard);
    // Its tasks are stopped by the servers and replaced on the other agents while it is away; its containers
    // keep running meanwhile (nobody tells them).
    berth_testkit::wait_for(
        "the partitioned agent's tasks to be stopped",
        Duration::from_secs(LOST_TIMEOUT + 30),
        || async {
            let client = world.any_client(0).await;
            let arns: Vec<String> = stale_tasks.iter().cloned().collect();
            let d = client.describe_tasks().set_tasks(Some(arns)).send().await.ok()?;
            d.tasks().iter().all(|t| t.last_status() == Some("STOPPED")).then_some(())
        },
    )
    .await
    .unwrap();
    let lost_after = cut.elapsed();
    let services_back = async {
        loop {
            let client = world.any_client(0).await;
            if let Ok(d) = client.describe_services().services("alpha").services("beta").send().await
                && d.services().iter().all(|s| s.running_count == s.desired_count && s.pending_count == 0)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), services_back).await.expect("the services recover without the agent");
    let still: usize = world.cluster.task_containers(false).unwrap().iter().filter(|c| stale.contains(&c.id)).count();
    println!(
        "(b) a{victim} partitioned: its tasks STOPPED after {lost_after:.1?}, the services back at their counts after \
         {:.1?}; {still} of its {} containers still run on the host",
        cut.elapsed(),
        stale.len()
    );
    assert_eq!(still, stale.len(), "a partitioned agent's containers keep running while it is away");
    world.cluster.heal(Node::Agent(victim)).unwrap();
    let healed = Instant::now();
    berth_testkit::wait_for("the returned agent's stale containers to stop", Duration::from_secs(30), || async {
        let running = world.cluster.task_containers(false).ok()?;
        (!running.iter().any(|c| stale.contains(&c.id))).then_some(())
    })
    .await
    .unwrap();
    println!(
        "(b) a{victim} back: its {} stale containers stopped {:.1?} after its return",
        stale.len(),
        healed.elapsed()
    );
    check(&mut world, "(b) an agent partitioned past the lost-instance timeout", converge).await;
    world.phase("(b) agent partition", started);

    // (c) a follower server partitioned, then the leader.
    let started = Instant::now();
    let leader = world.new_leader(None, Duration::from_secs(10)).await;
    let follower = others(leader).0;
    world.cluster.partition(Node::Server(follower)).unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    world.cluster.heal(Node::Server(follower)).unwrap();
    check(&mut world, "(c) a follower server partitioned", converge).await;
    let leader = world.new_leader(None, Duration::from_secs(10)).await;
    world.cluster.partition(Node::Server(leader)).unwrap();
    let next = world.new_leader(Some(leader), Duration::from_secs(15)).await;
    println!("(c) s{leader} partitioned: s{next} leads");
    tokio::time::sleep(Duration::from_secs(5)).await;
    world.cluster.heal(Node::Server(leader)).unwrap();
    check(&mut world, "(c) the leader server partitioned", converge).await;
    world.phase("(c) server partitions", started);

    // (d) an etcd member partitioned.
    let started = Instant::now();
    world.cluster.partition(Node::Etcd(0)).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    world.cluster.heal(Node::Etcd(0)).unwrap();
    check(&mut world, "(d) an etcd member partitioned", converge).await;
    world.phase("(d) etcd partition", started);

    // (e) SIGSTOP of the leader until another leads, then SIGCONT: it steps down and nothing it writes lands.
    let started = Instant::now();
    let paused = world.new_leader(None, Duration::from_secs(10)).await;
    let fenced_before = leader_metrics(&world.cluster, paused).map(|(_, f)| f).unwrap_or(0.0);
    world.cluster.pause(Node::Server(paused)).unwrap();
    let stopped = Instant::now();
    let next = world.new_leader(Some(paused), Duration::from_secs(10)).await;
    println!("(e) SIGSTOP of s{paused}: s{next} leads after {:.1?}", stopped.elapsed());
    // Long enough that the paused server's agent liveness would find every agent silent.
    tokio::time::sleep(Duration::from_secs(AGENT_TIMEOUT + 6).saturating_sub(stopped.elapsed())).await;
    world.leader().await;
    assert_no_instance_written_disconnected(
        &world.etcd,
        || world.cluster.resume(Node::Server(paused)).unwrap(),
        Duration::from_secs(4),
    )
    .await;
    let (gauge, fenced_after) = leader_metrics(&world.cluster, paused).expect("the resumed server answers /metrics");
    assert_eq!(gauge, Some(0.0), "the resumed server does not lead");
    assert!(world.cluster.logs(Node::Server(paused)).contains("lost its leadership"), "it says it stepped down");
    assert_eq!(world.leader().await, Some(next), "the new leader still leads");
    println!("(e) s{paused} resumed: {} controller writes refused by the fence", fenced_after - fenced_before);
    check(&mut world, "(e) SIGSTOP of the leader", converge).await;
    world.phase("(e) SIGSTOP leader", started);

    // (f) kill -9 of an agent and its restart: it adopts the same containers.
    let started = Instant::now();
    let agent = (victim + 1) % AGENTS;
    let arn = world.instance_arns().await[&agent].clone();
    let before: BTreeMap<String, String> = world
        .cluster
        .task_containers(false)
        .unwrap()
        .into_iter()
        .filter(|c| c.instance_arn == arn)
        .map(|c| (c.task_arn, c.id))
        .collect();
    world.cluster.kill9(Node::Agent(agent)).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.cluster.restart(Node::Agent(agent)).unwrap();
    check(&mut world, "(f) kill -9 of an agent", converge).await;
    let after: BTreeMap<String, String> = world
        .cluster
        .task_containers(false)
        .unwrap()
        .into_iter()
        .filter(|c| c.instance_arn == arn)
        .map(|c| (c.task_arn, c.id))
        .collect();
    for (task, id) in &before {
        if let Some(now) = after.get(task) {
            assert_eq!(now, id, "task {task}: its container was replaced, not adopted");
        }
    }
    let kept = before.keys().filter(|t| after.contains_key(*t)).count();
    println!("(f) a{agent} killed and restarted: {kept} of its {} containers adopted as they were", before.len());
    world.phase("(f) kill -9 agent", started);

    // (g) a server with its wall clock 30 s ahead, made the leader.
    let started = Instant::now();
    let leader = world.new_leader(None, Duration::from_secs(10)).await;
    let (skewed, bystander) = others(leader);
    world.cluster.recreate_server(skewed, vec!["--clock-offset".into(), "30".into()]).unwrap();
    check(&mut world, "(g) a server restarted 30 s ahead", converge).await;
    // The bystander stopped and the leader killed: only the skewed server can take over.
    world.cluster.pause(Node::Server(bystander)).unwrap();
    world.cluster.kill9(Node::Server(leader)).unwrap();
    let next = world.new_leader(Some(leader), Duration::from_secs(15)).await;
    world.cluster.resume(Node::Server(bystander)).unwrap();
    world.cluster.restart(Node::Server(leader)).unwrap();
    assert_eq!(next, skewed, "the skewed server leads");
    let lost_before = lost_instance_stops(&world).await;
    tokio::time::sleep(Duration::from_secs(LOST_TIMEOUT + 8)).await;
    let lost = lost_instance_stops(&world).await.difference(&lost_before).count();
    println!("(g) s{skewed} leads 30 s ahead: {lost} tasks stopped as on a lost instance while it led");
    check(&mut world, "(g) a leader 30 s ahead", converge).await;
    world.phase("(g) clock skew", started);

    done.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    drop(save);
    let checked = Instant::now();
    let report = berth_lincheck::ecs::check(&berth_lincheck::Checker::new(), &world.history.history())
        .expect("the history's times are consistent");
    println!("linearizability check: {:.1?}", checked.elapsed());
    for r in &report.reports {
        println!(
            "  {}: {} keys, {} operations, {} steps, {} anomalies, {} undecided",
            r.model,
            r.partitions,
            r.operations,
            r.steps,
            r.anomalies.len(),
            r.undecided.len()
        );
    }
    assert!(report.is_linearizable(), "the API history is not linearizable:\n{report}");
    for (name, took) in &world.phases {
        println!("  {name}: {took:.1?}");
    }
    println!("total: {:.1?}", total.elapsed());
    assert_eq!(lost, 0, "a server 30 s ahead that leads must not find agents heard by the others silent");
}

/// The tasks stopped because their container instance was lost.
async fn lost_instance_stops(world: &World) -> BTreeSet<String> {
    let client = world.any_client(0).await;
    let mut arns = Vec::new();
    let mut pages = client.list_tasks().desired_status(DesiredStatus::Stopped).into_paginator().send();
    while let Some(page) = pages.next().await {
        arns.extend(page.unwrap().task_arns().iter().cloned());
    }
    let mut lost = BTreeSet::new();
    for chunk in arns.chunks(100) {
        let d = client.describe_tasks().set_tasks(Some(chunk.to_vec())).send().await.unwrap();
        lost.extend(
            d.tasks()
                .iter()
                .filter(|t| t.stopped_reason().is_some_and(|r| r.contains("was lost")))
                .filter_map(|t| t.task_arn().map(str::to_string)),
        );
    }
    lost
}

/// Saves the history when dropped, also when a phase fails.
struct SaveOnDrop(Arc<History>, std::path::PathBuf);

impl Drop for SaveOnDrop {
    fn drop(&mut self) {
        let (kept, returned, pending) = counts(&self.0);
        match self.0.history().save(&self.1) {
            Ok(()) => println!(
                "history: {kept} operations ({returned} returned, {pending} pending); saved to {}",
                self.1.display()
            ),
            Err(e) => println!("cannot save the history to {}: {e}", self.1.display()),
        }
    }
}
