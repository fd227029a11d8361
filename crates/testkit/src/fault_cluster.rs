//! A multi-host Berth as containers, for fault injection: 3 etcd members (a static cluster), 3 `berth server`s on
//! that etcd and N `berth agent`s, each a container of the node image ([`crate::node_image`]) on a private Docker
//! network of its own, at fixed addresses.
//!
//! Design:
//! - **One private network per cluster** (`bfc-<id>`, a random `10.X.Y.0/24`; a subnet another network holds is
//!   skipped). Every node has a fixed address on it (`.11-.13` etcd, `.21-.23` servers, `.31-` agents) given again
//!   when it is reconnected or restarted, so URLs never change. The host reaches every node at its address (the
//!   network's bridge is on the host), which is how the test's clients call the servers.
//! - **Agents share the host's Docker engine** through its mounted socket: their task containers are the host's
//!   containers on its default bridge. Nothing mixes up: an agent adopts only containers labelled with its own
//!   container instance ARN, and every ARN carries this cluster's own account id. A partitioned agent is cut from
//!   the servers but still sees the engine, which is the fault being tested (its containers keep running).
//! - **Faults** are Docker operations on a node's container: `kill -9` ([`FaultCluster::kill9`], the container's
//!   process is SIGKILLed and the container exits) and [`FaultCluster::restart`]; a partition
//!   ([`FaultCluster::partition`]: `docker network disconnect`; [`FaultCluster::heal`] reconnects it at its
//!   address); a real SIGSTOP/SIGCONT ([`FaultCluster::pause`], [`FaultCluster::resume`]; not `docker pause`, which
//!   freezes a cgroup); and a skewed wall clock on a server (`--clock-offset`, a hidden server flag, given at start
//!   or by [`FaultCluster::recreate_server`]).
//! - **Clean-up on drop**, also when the test panics: the node containers (labelled `org.berth.fault-cluster=<id>`),
//!   every task container whose task ARN is this cluster's account's, the network, and the nodes' data dirs (bind
//!   mounts of one host temp dir, so a restarted node keeps its data).
//!
//! Limitations: the agents run bridge-mode tasks only (no `ip`/`iptables` in the image: no DNS forwarder, no
//! awsvpc, no task role credentials). Tests need root (the agents' data dirs are written by root in containers).

use crate::node_image::{BERTH_PATH, ETCD_PATH, node_image};
use crate::{TestkitError, docker, http_get_timeout, wait_for_blocking};
use std::fmt;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The label every node container of a cluster carries, with the cluster's id.
pub const CLUSTER_LABEL: &str = "org.berth.fault-cluster";

/// The servers' API port on their addresses.
pub const API_PORT: u16 = 7700;

/// The etcd prefix the servers keep their records under.
pub const STORE_PREFIX: &str = "/fault";

/// The task label naming the container instance that runs it (what an agent adopts by).
pub const INSTANCE_LABEL: &str = "berth.container-instance-arn";

/// The task label naming the task.
pub const TASK_LABEL: &str = "com.amazonaws.ecs.task-arn";

/// The task label naming the container of the task definition.
pub const CONTAINER_NAME_LABEL: &str = "com.amazonaws.ecs.container-name";

/// A node of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    /// An etcd member (0-2).
    Etcd(usize),
    /// A `berth server` (0-2).
    Server(usize),
    /// A `berth agent` (0-N).
    Agent(usize),
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Etcd(i) => write!(f, "e{i}"),
            Node::Server(i) => write!(f, "s{i}"),
            Node::Agent(i) => write!(f, "a{i}"),
        }
    }
}

/// How a fault cluster is made.
#[derive(Debug, Clone)]
pub struct FaultClusterOptions {
    /// The `berth` binary (the test's: `env!("CARGO_BIN_EXE_berth")`).
    pub binary: PathBuf,
    /// How many agents (4 or more for the fault tests).
    pub agents: usize,
    /// Extra arguments of every server (timeouts).
    pub server_args: Vec<String>,
    /// Extra arguments of one server only: (its index, the arguments), e.g. a `--clock-offset`.
    pub server_extra: Option<(usize, Vec<String>)>,
    /// Extra arguments of every agent.
    pub agent_args: Vec<String>,
}

/// A running fault cluster; everything it made is removed on drop.
pub struct FaultCluster {
    /// The cluster's id (in container and network names).
    pub id: String,
    /// The Docker network.
    pub network: String,
    /// The first three octets of the network's `/24`.
    subnet: [u8; 3],
    /// The node image.
    pub image: String,
    options: FaultClusterOptions,
    /// The account id of every ARN (unique per cluster).
    pub account_id: String,
    /// The root access key id.
    pub access_key_id: String,
    /// The root secret.
    pub secret_access_key: String,
    /// The join token the agents use.
    pub join_token: String,
    master_key: String,
    /// The nodes' data dirs (bind-mounted), `<dir>/<node>`.
    dir: tempfile::TempDir,
}

impl FaultCluster {
    /// Builds the node image, makes the network and starts etcd, the servers (waiting for their `/healthz`) and
    /// the agents (not waiting for them to register).
    pub fn start(options: FaultClusterOptions) -> Result<Self, TestkitError> {
        crate::require_docker();
        let image = node_image(&options.binary)?;
        let dir = tempfile::Builder::new()
            .prefix("berth-fault-")
            .tempdir()
            .map_err(|e| TestkitError::io("create the cluster's dir", &e))?;
        let random = random_bytes::<16>()?;
        let id = format!("bfc{}", hex::encode(&random[..3]));
        let network = format!("{id}-net");
        let subnet = create_network(&network, &id, random[3])?;
        let account_id = crate::berth::unique_account_id();
        let cluster = FaultCluster {
            access_key_id: format!("AKIAFAULT{}", hex::encode(&random[4..8]).to_uppercase()),
            secret_access_key: format!("secret-{}", hex::encode(&random[8..16])),
            join_token: hex::encode(random_bytes::<24>()?),
            master_key: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, random_bytes::<32>()?),
            id,
            network,
            subnet,
            image,
            options,
            account_id,
            dir,
        };
        for i in 0..3 {
            cluster.run(Node::Etcd(i))?;
        }
        for i in 0..3 {
            cluster.wait_healthy(Node::Etcd(i), Duration::from_secs(60))?;
        }
        // One after the other, as operators add servers: the first one sets the store up.
        for i in 0..3 {
            cluster.run(Node::Server(i))?;
            cluster.wait_healthy(Node::Server(i), Duration::from_secs(60))?;
        }
        for i in 0..cluster.options.agents {
            cluster.run(Node::Agent(i))?;
        }
        Ok(cluster)
    }

    /// A node's address on the network.
    pub fn ip(&self, node: Node) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        let last = match node {
            Node::Etcd(i) => 11 + i,
            Node::Server(i) => 21 + i,
            Node::Agent(i) => 31 + i,
        };
        Ipv4Addr::new(a, b, c, u8::try_from(last).unwrap_or(u8::MAX))
    }

    /// A node's container name.
    pub fn container(&self, node: Node) -> String {
        format!("{}-{node}", self.id)
    }

    /// Every node.
    pub fn nodes(&self) -> Vec<Node> {
        (0..3)
            .map(Node::Etcd)
            .chain((0..3).map(Node::Server))
            .chain((0..self.options.agents).map(Node::Agent))
            .collect()
    }

    /// A server's API URL (`http://<address>:7700`).
    pub fn server_url(&self, server: usize) -> String {
        format!("http://{}:{API_PORT}", self.ip(Node::Server(server)))
    }

    /// The etcd client URLs, comma-separated (`http://<address>:2379,...`).
    pub fn etcd_urls(&self) -> String {
        (0..3).map(|i| format!("http://{}:2379", self.ip(Node::Etcd(i)))).collect::<Vec<_>>().join(",")
    }

    /// The servers' store spec (`etcd:<urls>?prefix=/fault`).
    pub fn store_spec(&self) -> String {
        format!("etcd:{}?prefix={STORE_PREFIX}", self.etcd_urls())
    }

    /// The server id of a server (`s0`...; the leader key's value while it leads).
    pub fn server_id(server: usize) -> String {
        format!("s{server}")
    }

    /// The ARN prefix of this cluster's account (`arn:aws:ecs:us-east-1:<account>:`).
    pub fn arn_prefix(&self) -> String {
        format!("arn:aws:ecs:us-east-1:{}:", self.account_id)
    }

    /// An ECS client (the official SDK) for one server: root credentials, no SDK retries (each call is one
    /// attempt, which the fault tests record), and `timeout` for the whole call.
    pub fn ecs_client(&self, server: usize, timeout: Duration) -> aws_sdk_ecs::Client {
        let creds = aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "fault-cluster",
        );
        let timeouts = aws_sdk_ecs::config::timeout::TimeoutConfig::builder()
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .operation_timeout(timeout)
            .build();
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(self.server_url(server))
            .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
            .timeout_config(timeouts)
            .build();
        aws_sdk_ecs::Client::from_conf(config)
    }

    /// A server's `/metrics` text (`None` when it does not answer within 2 s).
    pub fn metrics(&self, server: usize) -> Option<String> {
        let url = format!("{}/metrics", self.server_url(server));
        http_get_timeout(&url, Duration::from_secs(2)).ok().filter(|(status, _)| *status == 200).map(|(_, body)| body)
    }

    /// A node's log so far (`docker logs`, standard output and error).
    pub fn logs(&self, node: Node) -> String {
        let output = std::process::Command::new("docker").args(["logs", &self.container(node)]).output();
        match output {
            Ok(o) => format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
            Err(e) => format!("(docker logs failed: {e})"),
        }
    }

    /// Whether a node's container is running (and not paused by SIGSTOP: that still counts as running).
    pub fn is_running(&self, node: Node) -> bool {
        docker(&["inspect", "--format", "{{.State.Running}}", &self.container(node)]).is_ok_and(|s| s == "true")
    }

    /// `kill -9` of a node's process: the container exits at once (its data dir stays).
    pub fn kill9(&self, node: Node) -> Result<(), TestkitError> {
        docker(&["kill", "--signal", "KILL", &self.container(node)]).map(drop)?;
        wait_for_blocking(&format!("{node} to exit"), Duration::from_secs(10), || {
            (!self.is_running(node)).then_some(())
        })
    }

    /// Starts a node's container again (after [`FaultCluster::kill9`]), at its address, on its data; waits for a
    /// server's `/healthz` (an etcd member's `/health`).
    pub fn restart(&self, node: Node) -> Result<(), TestkitError> {
        docker(&["start", &self.container(node)])?;
        self.wait_healthy(node, Duration::from_secs(60))
    }

    /// Cuts a node off the network (`docker network disconnect`): it reaches nothing and nothing reaches it (its
    /// process keeps running; an agent still sees the Docker engine).
    pub fn partition(&self, node: Node) -> Result<(), TestkitError> {
        docker(&["network", "disconnect", "--force", &self.network, &self.container(node)]).map(drop)
    }

    /// Connects a partitioned node again, at its own address.
    pub fn heal(&self, node: Node) -> Result<(), TestkitError> {
        let ip = self.ip(node).to_string();
        docker(&["network", "connect", "--ip", &ip, &self.network, &self.container(node)]).map(drop)
    }

    /// Sends a node's process SIGSTOP (a real stop of the process, unlike `docker pause`).
    pub fn pause(&self, node: Node) -> Result<(), TestkitError> {
        docker(&["kill", "--signal", "STOP", &self.container(node)]).map(drop)
    }

    /// Sends a node's process SIGCONT.
    pub fn resume(&self, node: Node) -> Result<(), TestkitError> {
        docker(&["kill", "--signal", "CONT", &self.container(node)]).map(drop)
    }

    /// Replaces a server's container by one with `extra` arguments added (e.g. `--clock-offset 30`), on the same
    /// data dir and address; the old process is killed (`kill -9`). Waits for its `/healthz`.
    pub fn recreate_server(&mut self, server: usize, extra: Vec<String>) -> Result<(), TestkitError> {
        let node = Node::Server(server);
        docker(&["rm", "--force", &self.container(node)])?;
        self.options.server_extra = Some((server, extra));
        self.run(node)?;
        self.wait_healthy(node, Duration::from_secs(60))
    }

    /// The running task containers of this cluster's account on the host's engine: (container id, task ARN,
    /// container name, instance ARN). With `all`, exited ones too.
    pub fn task_containers(&self, all: bool) -> Result<Vec<TaskContainer>, TestkitError> {
        let format = format!(
            "{{{{.ID}}}}\t{{{{.Label \"{TASK_LABEL}\"}}}}\t{{{{.Label \"{CONTAINER_NAME_LABEL}\"}}}}\t\
             {{{{.Label \"{INSTANCE_LABEL}\"}}}}\t{{{{.State}}}}"
        );
        let mut args = vec!["ps", "--no-trunc", "--filter", "label=com.amazonaws.ecs.task-arn", "--format", &format];
        if all {
            args.push("-a");
        }
        let listing = docker(&args)?;
        let prefix = self.arn_prefix();
        Ok(listing
            .lines()
            .filter_map(|line| {
                let mut f = line.split('\t');
                let c = TaskContainer {
                    id: f.next()?.to_string(),
                    task_arn: f.next()?.to_string(),
                    name: f.next()?.to_string(),
                    instance_arn: f.next()?.to_string(),
                    state: f.next()?.to_string(),
                };
                c.task_arn.starts_with(&prefix).then_some(c)
            })
            .collect())
    }

    /// Removes every task container of this cluster's account.
    pub fn remove_task_containers(&self) {
        let Ok(containers) = self.task_containers(true) else { return };
        if containers.is_empty() {
            return;
        }
        let mut args = vec!["rm", "--force"];
        args.extend(containers.iter().map(|c| c.id.as_str()));
        let _ = docker(&args);
    }

    /// Where a node's data dir is on the host.
    pub fn data_dir(&self, node: Node) -> PathBuf {
        self.dir.path().join(node.to_string())
    }

    /// Waits until a server answers `/healthz` (an etcd member `/health`).
    fn wait_healthy(&self, node: Node, within: Duration) -> Result<(), TestkitError> {
        let url = match node {
            Node::Server(i) => format!("{}/healthz", self.server_url(i)),
            Node::Etcd(_) => format!("http://{}:2379/health", self.ip(node)),
            Node::Agent(_) => return Ok(()),
        };
        wait_for_blocking(&format!("{node} to answer {url}"), within, || {
            http_get_timeout(&url, Duration::from_millis(500)).ok().filter(|(status, _)| *status == 200)
        })
        .map(drop)
        .map_err(|e| TestkitError::Io { context: format!("{e}; log:\n{}", self.logs(node)), message: String::new() })
    }

    /// `docker run -d` of a node's container.
    fn run(&self, node: Node) -> Result<(), TestkitError> {
        let data = self.data_dir(node);
        std::fs::create_dir_all(&data).map_err(|e| TestkitError::io(format!("create {}", data.display()), &e))?;
        let name = self.container(node);
        let ip = self.ip(node).to_string();
        let label = format!("{CLUSTER_LABEL}={}", self.id);
        let mut args: Vec<String> = [
            "run",
            "--detach",
            "--name",
            &name,
            "--hostname",
            &name,
            "--network",
            &self.network,
            "--ip",
            &ip,
            "--label",
            &label,
            "--env",
            "RUST_LOG=info",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let command: Vec<String> = match node {
            Node::Etcd(i) => {
                args.extend(["--volume".into(), format!("{}:/etcd", data.display())]);
                let cluster = (0..3)
                    .map(|j| format!("e{j}=http://{}:2380", self.ip(Node::Etcd(j))))
                    .collect::<Vec<_>>()
                    .join(",");
                vec![
                    ETCD_PATH.into(),
                    format!("--name=e{i}"),
                    "--data-dir=/etcd/data".into(),
                    "--listen-client-urls=http://0.0.0.0:2379".into(),
                    format!("--advertise-client-urls=http://{ip}:2379"),
                    "--listen-peer-urls=http://0.0.0.0:2380".into(),
                    format!("--initial-advertise-peer-urls=http://{ip}:2380"),
                    format!("--initial-cluster={cluster}"),
                    format!("--initial-cluster-token={}", self.id),
                    "--initial-cluster-state=new".into(),
                    "--logger=zap".into(),
                    "--log-outputs=stderr".into(),
                    "--log-level=warn".into(),
                ]
            }
            Node::Server(i) => {
                write_private(&data.join("join-token"), &self.join_token)?;
                args.extend([
                    "--volume".into(),
                    format!("{}:/data", data.display()),
                    "--env".into(),
                    format!("BERTH_ROOT_ACCESS_KEY_ID={}", self.access_key_id),
                    "--env".into(),
                    format!("BERTH_ROOT_SECRET_ACCESS_KEY={}", self.secret_access_key),
                    "--env".into(),
                    format!("BERTH_MASTER_KEY={}", self.master_key),
                ]);
                let mut command: Vec<String> = [
                    BERTH_PATH,
                    "server",
                    "--data-dir",
                    "/data",
                    "--listen",
                    &format!("0.0.0.0:{API_PORT}"),
                    "--public-endpoint",
                    &format!("{ip}:{API_PORT}"),
                    "--account-id",
                    &self.account_id,
                    "--store",
                    &self.store_spec(),
                    "--server-id",
                    &Self::server_id(i),
                    "--no-load-balancer",
                    "--no-dns",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                command.extend(self.options.server_args.iter().cloned());
                if let Some((_, extra)) = self.options.server_extra.as_ref().filter(|(s, _)| *s == i) {
                    command.extend(extra.iter().cloned());
                }
                command
            }
            Node::Agent(i) => {
                let socket = crate::docker::docker_host();
                let socket = socket.strip_prefix("unix://").unwrap_or("/var/run/docker.sock").to_string();
                args.extend([
                    "--volume".into(),
                    format!("{}:/agent", data.display()),
                    "--volume".into(),
                    format!("{socket}:/var/run/docker.sock"),
                ]);
                // Each agent starts with another server first, so their streams spread over the servers.
                let servers: Vec<String> = (0..3).map(|k| self.server_url((i + k) % 3)).collect();
                let mut command: Vec<String> = [
                    BERTH_PATH,
                    "agent",
                    "--server",
                    &servers.join(","),
                    "--join-token",
                    &self.join_token,
                    "--data-dir",
                    "/agent",
                    "--hostname",
                    &name,
                    "--cpu-units",
                    "4096",
                    "--memory-mib",
                    "4096",
                    "--image-pull-behavior",
                    "prefer-cached",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                command.extend(self.options.agent_args.iter().cloned());
                command
            }
        };
        args.push(self.image.clone());
        args.extend(command);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs).map(drop)
    }
}

/// A task container on the host's engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContainer {
    /// The container id.
    pub id: String,
    /// The task's ARN.
    pub task_arn: String,
    /// The container's name in the task definition.
    pub name: String,
    /// The ARN of the container instance whose agent started it.
    pub instance_arn: String,
    /// Docker's state (`running`, `exited`...).
    pub state: String,
}

impl Drop for FaultCluster {
    fn drop(&mut self) {
        let filter = format!("label={CLUSTER_LABEL}={}", self.id);
        if let Ok(ids) = docker(&["ps", "-aq", "--filter", &filter]) {
            let ids: Vec<&str> = ids.lines().collect();
            if !ids.is_empty() {
                // A SIGSTOPped process must run again to die.
                for id in &ids {
                    let _ = docker(&["kill", "--signal", "CONT", id]);
                }
                let mut args = vec!["rm", "--force", "--volumes"];
                args.extend(ids);
                let _ = docker(&args);
            }
        }
        self.remove_task_containers();
        let _ = docker(&["network", "rm", &self.network]);
    }
}

/// Creates the network on a random free `10.X.Y.0/24` (X from 200 to 249); returns the subnet's octets.
fn create_network(name: &str, id: &str, seed: u8) -> Result<[u8; 3], TestkitError> {
    let label = format!("{CLUSTER_LABEL}={id}");
    let mut last = None;
    for attempt in 0..20u8 {
        let random = random_bytes::<2>()?;
        let subnet = [10, 200 + (seed.wrapping_add(random[0]).wrapping_add(attempt)) % 50, random[1]];
        let cidr = format!("{}.{}.{}.0/24", subnet[0], subnet[1], subnet[2]);
        let gateway = format!("{}.{}.{}.1", subnet[0], subnet[1], subnet[2]);
        match docker(&[
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            &cidr,
            "--gateway",
            &gateway,
            "--label",
            &label,
            name,
        ]) {
            Ok(_) => return Ok(subnet),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| TestkitError::Io { context: "create the network".into(), message: "no subnet".into() }))
}

/// `N` bytes from the kernel's random source.
fn random_bytes<const N: usize>() -> Result<[u8; N], TestkitError> {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| TestkitError::io("read /dev/urandom", &e))?;
    Ok(bytes)
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), TestkitError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| TestkitError::io(format!("write {}", path.display()), &e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| TestkitError::io(format!("chmod {}", path.display()), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_named_for_their_role() {
        assert_eq!(Node::Etcd(2).to_string(), "e2");
        assert_eq!(Node::Server(0).to_string(), "s0");
        assert_eq!(Node::Agent(3).to_string(), "a3");
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<16>().unwrap(), random_bytes::<16>().unwrap());
    }
}
