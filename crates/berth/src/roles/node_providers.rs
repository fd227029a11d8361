//! The node providers `berth server --node-provider` configures, behind managed scaling
//! ([`berth_control::managed_scaling::nodes`]):
//! - `GROUP=local[,cpu=UNITS][,memory=MIB][,max=N]`: extra `berth agent` processes on this host, each offering
//!   the given share, started in the cluster and node group asked for, in turns across the VPC's availability
//!   zones. Together they never offer more than the host has (Docker's CPU count × 1024 units and memory less 256
//!   MiB, less what `berth up`'s own agent offers). Each keeps its identity under
//!   `<data-dir>/node-providers/GROUP/<host name>` and is started again, as the same container instance, when the
//!   server restarts; it exits when the server does (`--exit-with-parent`), leaving its containers running.
//! - `GROUP=command,path=FILE`: an operator's hook, run as `FILE launch` (adding `BERTH_NODE_COUNT` hosts that
//!   join with `BERTH_SERVER`, `BERTH_JOIN_TOKEN`, `BERTH_CLUSTER` and `--node-group BERTH_NODE_GROUP`; it may print
//!   how many it started) and `FILE remove` (the drained host `BERTH_EC2_INSTANCE_ID`, container instance
//!   `BERTH_INSTANCE_ARN`), as ECS asks an Auto Scaling group.

use crate::cli::{NodeProviderKind, NodeProviderSpec};
use anyhow::{Context, Result, anyhow};
use berth_control::managed_scaling::nodes::{NodeFuture, NodeLaunch, NodeProvider, NodeProviders, NodeRemoval};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long a `command` hook may run.
const HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// What the providers need to know of the server.
#[derive(Debug, Clone)]
pub struct ServerContext {
    /// The URL agents reach the server at.
    pub server_url: String,
    /// The join token.
    pub join_token: String,
    /// The CA certificate (PEM) agents trust for an `https://` server URL besides the system's roots (`berth up
    /// --tls`'s local CA): local agents get `--server-ca`, command hooks `BERTH_SERVER_CA`.
    pub server_ca: Option<PathBuf>,
    /// Berth's data dir.
    pub data_dir: PathBuf,
    /// The availability zones of the VPC, in order.
    pub zones: Vec<String>,
}

/// CPU units and MiB of this host not yet offered by agents this server started.
#[derive(Debug)]
pub struct HostBudget {
    left: Mutex<(i64, i64)>,
}

impl HostBudget {
    /// A budget of `cpu` units and `memory` MiB.
    pub fn new(cpu: i64, memory: i64) -> Self {
        Self { left: Mutex::new((cpu.max(0), memory.max(0))) }
    }

    fn take(&self, cpu: i64, memory: i64) -> bool {
        let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        if left.0 >= cpu && left.1 >= memory {
            left.0 -= cpu;
            left.1 -= memory;
            true
        } else {
            false
        }
    }

    fn give_back(&self, cpu: i64, memory: i64) {
        let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        left.0 += cpu;
        left.1 += memory;
    }
}

/// Builds the configured providers; local agents recorded by an earlier run are started again.
pub fn build(specs: &[NodeProviderSpec], context: &ServerContext, budget: Arc<HostBudget>) -> Result<NodeProviders> {
    let mut providers = NodeProviders::new();
    for spec in specs {
        if providers.contains_key(&spec.group) {
            return Err(anyhow!("--node-provider: node group {:?} is given twice", spec.group));
        }
        let provider: Arc<dyn NodeProvider> = match &spec.kind {
            NodeProviderKind::Local { cpu, memory, max } => {
                let local = LocalNodes::new(&spec.group, *cpu, *memory, *max, context.clone(), budget.clone())?;
                local.restore().with_context(|| format!("restarting the local agents of node group {}", spec.group))?;
                Arc::new(local)
            }
            NodeProviderKind::Command { path } => {
                Arc::new(CommandNodes { group: spec.group.clone(), path: path.clone(), context: context.clone() })
            }
        };
        tracing::info!(group = %spec.group, provider = %provider.describe(), "node provider configured");
        providers.insert(spec.group.clone(), provider);
    }
    Ok(providers)
}

/// What a local agent's directory records, to start it again after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LocalAgentRecord {
    cluster: String,
    hostname: String,
    zone: String,
    cpu: i64,
    memory: i64,
}

struct LocalAgent {
    record: LocalAgentRecord,
    dir: PathBuf,
    child: Child,
}

/// Extra agents on this host.
pub struct LocalNodes {
    group: String,
    cpu: i64,
    memory: i64,
    max: Option<u64>,
    context: ServerContext,
    budget: Arc<HostBudget>,
    binary: PathBuf,
    root: PathBuf,
    agents: Mutex<BTreeMap<String, LocalAgent>>,
}

impl LocalNodes {
    fn new(
        group: &str,
        cpu: i64,
        memory: i64,
        max: Option<u64>,
        context: ServerContext,
        budget: Arc<HostBudget>,
    ) -> Result<Self> {
        let binary = std::env::current_exe().context("finding berth's own binary to start agents")?;
        let root = context.data_dir.join("node-providers").join(group);
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Self {
            group: group.to_string(),
            cpu,
            memory,
            max,
            context,
            budget,
            binary,
            root,
            agents: Mutex::new(BTreeMap::new()),
        })
    }

    /// Starts again every agent an earlier run recorded (their containers were left running; the agents adopt them).
    fn restore(&self) -> Result<()> {
        let entries = std::fs::read_dir(&self.root).with_context(|| format!("reading {}", self.root.display()))?;
        for entry in entries {
            let dir = entry.context("reading the node provider's directory")?.path();
            let file = dir.join("node.json");
            let Ok(text) = std::fs::read_to_string(&file) else { continue };
            let record: LocalAgentRecord =
                serde_json::from_str(&text).with_context(|| format!("reading {}", file.display()))?;
            if !self.budget.take(record.cpu, record.memory) {
                tracing::warn!(host = %record.hostname, "not restarting a local agent: the host has no room left for it");
                continue;
            }
            self.spawn(record, dir)?;
        }
        Ok(())
    }

    fn spawn(&self, record: LocalAgentRecord, dir: PathBuf) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("agent.log"))
            .with_context(|| format!("opening {}/agent.log", dir.display()))?;
        let err = log.try_clone().context("duplicating the agent's log file")?;
        let mut command = Command::new(&self.binary);
        command.arg("agent").args(["--server", &self.context.server_url]);
        if let Some(ca) = &self.context.server_ca {
            command.arg("--server-ca").arg(ca);
        }
        let child = command
            .args(["--cluster", &record.cluster])
            .args(["--node-group", &self.group])
            .args(["--cpu-units", &record.cpu.to_string()])
            .args(["--memory-mib", &record.memory.to_string()])
            .args(["--hostname", &record.hostname])
            .args(["--availability-zone", &record.zone])
            .args(["--metrics-listen", "off"])
            .args(["--exit-with-parent", &std::process::id().to_string()])
            .arg("--data-dir")
            .arg(dir.join("agent"))
            .env("BERTH_JOIN_TOKEN", &self.context.join_token)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        tracing::info!(host = %record.hostname, cluster = %record.cluster, group = %self.group,
            "local node provider: agent started");
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        agents.insert(record.hostname.clone(), LocalAgent { record, dir, child });
        Ok(())
    }

    fn launch_one(&self, cluster: &str) -> Result<bool> {
        let (count, next) = {
            let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
            let next = (1..).find(|n| !self.root.join(self.hostname(*n)).exists()).unwrap_or(1);
            (agents.len() as u64, next)
        };
        if self.max.is_some_and(|max| count >= max) || !self.budget.take(self.cpu, self.memory) {
            return Ok(false);
        }
        let zone = self.context.zones.get((next - 1) % self.context.zones.len().max(1)).cloned().unwrap_or_default();
        let record = LocalAgentRecord {
            cluster: cluster.to_string(),
            hostname: self.hostname(next),
            zone,
            cpu: self.cpu,
            memory: self.memory,
        };
        let dir = self.root.join(&record.hostname);
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| {
                std::fs::write(dir.join("node.json"), serde_json::to_vec_pretty(&record).unwrap_or_default())
            })
            .with_context(|| format!("recording the agent in {}", dir.display()));
        if let Err(error) = written.and_then(|()| self.spawn(record, dir)) {
            self.budget.give_back(self.cpu, self.memory);
            return Err(error);
        }
        Ok(true)
    }

    fn hostname(&self, n: usize) -> String {
        format!("berth-{}-{n}", self.group)
    }
}

impl NodeProvider for LocalNodes {
    fn describe(&self) -> String {
        let max = self.max.map_or_else(|| "as many as the host holds".to_string(), |m| format!("at most {m}"));
        format!("local agents of {} CPU units and {} MiB each, {max}", self.cpu, self.memory)
    }

    fn launch(&self, launch: NodeLaunch) -> NodeFuture<'_, u64> {
        Box::pin(async move {
            let mut started = 0;
            for _ in 0..launch.count {
                match self.launch_one(&launch.cluster) {
                    Ok(true) => started += 1,
                    Ok(false) => break,
                    Err(error) => return if started > 0 { Ok(started) } else { Err(format!("{error:#}")) },
                }
            }
            Ok(started)
        })
    }

    fn can_remove(&self, ec2_instance_id: &str) -> bool {
        self.agents.lock().unwrap_or_else(|p| p.into_inner()).contains_key(ec2_instance_id)
    }

    fn remove(&self, removal: NodeRemoval) -> NodeFuture<'_, ()> {
        Box::pin(async move {
            let agent = self.agents.lock().unwrap_or_else(|p| p.into_inner()).remove(&removal.ec2_instance_id);
            let Some(mut agent) = agent else {
                return Err(format!("{} is not an agent this node provider started", removal.ec2_instance_id));
            };
            // Its tasks are stopped: nothing is lost by killing it.
            if let Err(error) = agent.child.kill().await {
                tracing::warn!(%error, host = %agent.record.hostname, "the local agent had already exited");
            }
            remove_containers_of(&removal.instance_arn).await;
            if let Err(error) = std::fs::remove_dir_all(&agent.dir) {
                tracing::warn!(%error, dir = %agent.dir.display(), "cannot remove the local agent's directory");
            }
            self.budget.give_back(agent.record.cpu, agent.record.memory);
            tracing::info!(host = %agent.record.hostname, "local node provider: agent stopped");
            Ok(())
        })
    }
}

/// Removes the (stopped) containers a removed agent leaves behind: no agent is left to clean them up.
async fn remove_containers_of(instance_arn: &str) {
    use berth_agent::runtime::ContainerRuntime;
    let Ok(runtime) = berth_agent::runtime::DockerRuntime::connect().await else { return };
    let label = berth_agent::convert::LABEL_INSTANCE_ARN;
    let Ok(containers) = runtime.list_containers(label, Some(instance_arn)).await else { return };
    for container in containers {
        if let Err(error) = runtime.remove_container(&container.id).await {
            tracing::warn!(%error, id = %container.id, "cannot remove a container of a removed local agent");
        }
    }
}

/// The operator's hook.
pub struct CommandNodes {
    group: String,
    path: PathBuf,
    context: ServerContext,
}

impl CommandNodes {
    async fn run(&self, verb: &str, env: &[(&str, String)]) -> std::result::Result<String, String> {
        let mut command = Command::new(&self.path);
        command
            .arg(verb)
            .env("BERTH_NODE_GROUP", &self.group)
            .env("BERTH_SERVER", &self.context.server_url)
            .env("BERTH_JOIN_TOKEN", &self.context.join_token)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(ca) = &self.context.server_ca {
            command.env("BERTH_SERVER_CA", ca);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let run = tokio::time::timeout(HOOK_TIMEOUT, command.output());
        let output = match run.await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => return Err(format!("running {} {verb}: {error}", self.path.display())),
            Err(_) => {
                return Err(format!("{} {verb} ran longer than {} s", self.path.display(), HOOK_TIMEOUT.as_secs()));
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("{} {verb} failed ({}): {}", self.path.display(), output.status, stderr.trim()));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

impl NodeProvider for CommandNodes {
    fn describe(&self) -> String {
        format!("the command {}", self.path.display())
    }

    fn launch(&self, launch: NodeLaunch) -> NodeFuture<'_, u64> {
        Box::pin(async move {
            let env = [("BERTH_CLUSTER", launch.cluster.clone()), ("BERTH_NODE_COUNT", launch.count.to_string())];
            let out = self.run("launch", &env).await?;
            let started = out.lines().last().and_then(|l| l.trim().parse::<u64>().ok()).unwrap_or(launch.count);
            Ok(started.min(launch.count))
        })
    }

    fn can_remove(&self, _ec2_instance_id: &str) -> bool {
        true
    }

    fn remove(&self, removal: NodeRemoval) -> NodeFuture<'_, ()> {
        Box::pin(async move {
            let env = [
                ("BERTH_CLUSTER", removal.cluster.clone()),
                ("BERTH_INSTANCE_ARN", removal.instance_arn.clone()),
                ("BERTH_EC2_INSTANCE_ID", removal.ec2_instance_id.clone()),
            ];
            self.run("remove", &env).await.map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_never_goes_below_zero() {
        let budget = HostBudget::new(2048, 1000);
        assert!(budget.take(1024, 500));
        assert!(budget.take(1024, 500));
        assert!(!budget.take(1, 0));
        budget.give_back(1024, 500);
        assert!(budget.take(1024, 500));
    }

    #[tokio::test]
    async fn a_command_provider_runs_its_hook_with_the_request_in_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        let hook = dir.path().join("hook");
        let script = format!(
            "#!/bin/sh\necho \"$1 $BERTH_NODE_GROUP $BERTH_CLUSTER $BERTH_NODE_COUNT $BERTH_EC2_INSTANCE_ID $BERTH_SERVER\" >> {}\n\
             [ \"$1\" = launch ] && echo 2\n[ \"$BERTH_EC2_INSTANCE_ID\" = stuck ] && echo busy >&2 && exit 3\nexit 0\n",
            calls.display()
        );
        std::fs::write(&hook, script).unwrap();
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let context = ServerContext {
            server_url: "http://127.0.0.1:7700".into(),
            join_token: "t".into(),
            server_ca: None,
            data_dir: dir.path().into(),
            zones: vec!["us-east-1a".into()],
        };
        let provider = CommandNodes { group: "gpu".into(), path: hook, context };
        let launch = NodeLaunch { cluster: "prod".into(), group: "gpu".into(), count: 5 };
        assert_eq!(provider.launch(launch).await, Ok(2), "the hook said it started two");
        let removal = |id: &str| NodeRemoval {
            cluster: "prod".into(),
            group: "gpu".into(),
            instance_arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/prod/{id}"),
            ec2_instance_id: id.into(),
        };
        assert_eq!(provider.remove(removal("host-7")).await, Ok(()));
        let failed = provider.remove(removal("stuck")).await.unwrap_err();
        assert!(failed.contains("busy"), "{failed}");
        let log = std::fs::read_to_string(&calls).unwrap();
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            [
                "launch gpu prod 5  http://127.0.0.1:7700",
                "remove gpu prod  host-7 http://127.0.0.1:7700",
                "remove gpu prod  stuck http://127.0.0.1:7700"
            ]
        );
    }
}
