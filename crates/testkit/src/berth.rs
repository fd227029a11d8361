//! A real Berth for tests: the `berth` binary started as a child process on a free port with its own data dir and
//! its own account id, so tests can run side by side on one Docker Engine and clean up only what they made.

use crate::{TestkitError, docker, free_port, http_get_timeout, wait_for_blocking};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How a Berth process is started.
#[derive(Debug, Clone)]
pub struct BerthOptions {
    /// The `berth` binary (tests in the `berth` package pass `env!("CARGO_BIN_EXE_berth")`).
    pub binary: PathBuf,
    /// `up` (control plane and local agent) or `server`.
    pub role: &'static str,
    /// Extra arguments.
    pub extra_args: Vec<String>,
}

/// A running Berth control plane (with its local agent for `up`).
pub struct Berth {
    options: BerthOptions,
    child: Option<Child>,
    /// The data dir (kept across restarts; removed on drop).
    pub data_dir: tempfile::TempDir,
    /// The listen port.
    pub port: u16,
    /// The listen address (`127.0.0.1` unless the options give `--listen HOST:PORT`, e.g. an address another
    /// network namespace reaches).
    pub host: String,
    /// The account id in every ARN this Berth makes (unique per test).
    pub account_id: String,
    /// The root access key id.
    pub access_key_id: String,
    /// The root secret.
    pub secret_access_key: String,
    /// Extra agent processes started with [`Berth::start_agent`].
    agents: Vec<Child>,
    /// The default VPC's CIDR this Berth was given (`--vpc-cidr`): a random `10.N.0.0/16` unless the options name
    /// one, so that the awsvpc tasks of Berths side by side on one engine get disjoint Docker networks.
    pub vpc_cidr: String,
}

/// The flag giving an agent that serves Fargate its ephemeral storage capacity.
const STORAGE_FLAG: &str = "--ephemeral-storage-gib";

/// The ephemeral storage (GiB) the testkit gives an agent serving Fargate when the test names none: tests run many
/// FARGATE tasks side by side on one host, each reserving 20 GiB it never writes, so the host's free disk (the
/// default capacity) would limit them to a handful. Tests of the storage dimension name their own.
const TEST_STORAGE_GIB: u32 = 100_000;

/// Whether agent arguments make it serve Fargate (`--capacity fargate` or `ec2,fargate`).
fn serves_fargate(args: &[&str]) -> bool {
    args.windows(2).any(|w| w[0] == "--capacity" && w[1].split(',').any(|k| k.trim() == "fargate"))
}

/// A random `10.N.0.0/16` (N from 16 to 249).
fn random_vpc_cidr() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("10.{}.0.0/16", 16 + hasher.finish() % 234)
}

/// A random 12-digit account id, so that each test's ARNs and container labels are its own.
pub fn unique_account_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:012}", hasher.finish() % 1_000_000_000_000)
}

impl Berth {
    /// Starts Berth and waits until its API answers.
    pub fn start(options: BerthOptions) -> Result<Self, TestkitError> {
        let data_dir = crate::data_dir()?;
        let mut options = options;
        let given =
            options.extra_args.iter().position(|a| a == "--vpc-cidr").and_then(|i| options.extra_args.get(i + 1));
        let vpc_cidr = match given {
            Some(cidr) => cidr.clone(),
            None => {
                let cidr = random_vpc_cidr();
                options.extra_args.extend(["--vpc-cidr".to_string(), cidr.clone()]);
                cidr
            }
        };
        if options.role == "up" && !options.extra_args.iter().any(|a| a == STORAGE_FLAG) {
            options.extra_args.extend([STORAGE_FLAG.to_string(), TEST_STORAGE_GIB.to_string()]);
        }
        let listen = options
            .extra_args
            .iter()
            .position(|a| a == "--listen")
            .and_then(|i| options.extra_args.get(i + 1))
            .and_then(|l| l.parse::<std::net::SocketAddr>().ok());
        // Given in the options: that one is passed as it is, and no other.
        let (host, port) = match listen {
            Some(addr) => (addr.ip().to_string(), addr.port()),
            None => ("127.0.0.1".to_string(), free_port()),
        };
        let mut berth = Berth {
            options,
            child: None,
            data_dir,
            port,
            host,
            account_id: unique_account_id(),
            access_key_id: format!("AKIATEST{}", &unique_account_id()[..8]),
            secret_access_key: format!("secret-{}", unique_account_id()),
            agents: Vec::new(),
            vpc_cidr,
        };
        berth.spawn()?;
        Ok(berth)
    }

    /// `berth up` with default options.
    pub fn up(binary: &str) -> Result<Self, TestkitError> {
        Self::start(BerthOptions { binary: binary.into(), role: "up", extra_args: Vec::new() })
    }

    /// The API's base URL (`https://` when the options ask for TLS: `--tls` or `--tls-cert`).
    pub fn url(&self) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// Whether the listener serves HTTPS (`--tls` or `--tls-cert` among the options).
    pub fn tls(&self) -> bool {
        self.options.extra_args.iter().any(|a| a == "--tls" || a == "--tls-cert")
    }

    /// The cluster ARN prefix of this Berth's account.
    pub fn arn_prefix(&self) -> String {
        format!("arn:aws:ecs:us-east-1:{}:", self.account_id)
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("berth.log")
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) -> Result<(), TestkitError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| TestkitError::io("open the berth log", &e))?;
        let log_err = log.try_clone().map_err(|e| TestkitError::io("clone the berth log", &e))?;
        let mut command = Command::new(&self.options.binary);
        command.arg(self.options.role).arg("--data-dir").arg(self.data_dir.path().join("data"));
        if !self.options.extra_args.iter().any(|a| a == "--listen") {
            command.arg("--listen").arg(format!("127.0.0.1:{}", self.port));
        }
        let child = command
            .arg("--account-id")
            .arg(&self.account_id)
            .args(&self.options.extra_args)
            .env("BERTH_ROOT_ACCESS_KEY_ID", &self.access_key_id)
            .env("BERTH_ROOT_SECRET_ACCESS_KEY", &self.secret_access_key)
            .env("RUST_LOG", std::env::var("BERTH_TEST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| TestkitError::io(format!("start {}", self.options.binary.display()), &e))?;
        self.child = Some(child);
        // Over TLS the plain-HTTP probe is answered 400 "This port serves HTTPS": the listener is serving.
        let url = format!("http://{}:{}/healthz", self.host, self.port);
        let tls = self.tls();
        wait_for_blocking("berth to answer /healthz", Duration::from_secs(30), || {
            http_get_timeout(&url, Duration::from_millis(500))
                .ok()
                .filter(|(status, body)| *status == 200 || (tls && *status == 400 && body.contains("serves HTTPS")))
        })
        .map_err(|e| TestkitError::Io { context: format!("{e}; log:\n{}", self.log()), message: String::new() })?;
        Ok(())
    }

    /// The pid of the Berth process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The join token agents use.
    pub fn join_token(&self) -> Result<String, TestkitError> {
        let path = self.data_dir.path().join("data").join("join-token");
        std::fs::read_to_string(&path)
            .map(|t| t.trim().to_string())
            .map_err(|e| TestkitError::io("read the join token", &e))
    }

    /// Kills the process at once (`kill -9`); its containers keep running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process with SIGINT (Ctrl-C) and waits for it to exit.
    pub fn interrupt(&mut self) -> Result<std::process::ExitStatus, TestkitError> {
        let Some(mut child) = self.child.take() else {
            return Err(TestkitError::Io { context: "interrupt berth".into(), message: "not running".into() });
        };
        let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
        wait_for_blocking("berth to exit after SIGINT", Duration::from_secs(15), || child.try_wait().ok().flatten())
    }

    /// Starts the process again on the same data dir and port.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.kill();
        self.spawn()
    }

    /// Stops the process with SIGINT, drops `flag` and the value after it from its arguments, and starts it again
    /// on the same data dir and port: a server restarted as another release (the flag made it the older one).
    pub fn restart_without(&mut self, flag: &str) -> Result<(), TestkitError> {
        self.interrupt()?;
        if let Some(i) = self.options.extra_args.iter().position(|a| a == flag) {
            let end = (i + 2).min(self.options.extra_args.len());
            self.options.extra_args.drain(i..end);
        }
        self.spawn()
    }

    /// Starts another server of the same control plane: `berth server` with `extra_args` (which name the shared
    /// store: `--store etcd:...`), this one's account, root keys and VPC, its own port and data dir, and this one's
    /// join token and secrets master key copied into it (what every server of one control plane shares).
    pub fn start_peer(&self, extra_args: Vec<String>) -> Result<Berth, TestkitError> {
        let data_dir = crate::data_dir()?;
        let data = data_dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(|e| TestkitError::io("create the peer's data dir", &e))?;
        for file in ["join-token", "master.key"] {
            let from = self.data_dir.path().join("data").join(file);
            if from.exists() {
                std::fs::copy(&from, data.join(file)).map_err(|e| TestkitError::io(format!("copy {file}"), &e))?;
            }
        }
        let mut extra_args = extra_args;
        extra_args.extend(["--vpc-cidr".to_string(), self.vpc_cidr.clone()]);
        let mut peer = Berth {
            options: BerthOptions { binary: self.options.binary.clone(), role: "server", extra_args },
            child: None,
            data_dir,
            port: free_port(),
            host: "127.0.0.1".into(),
            account_id: self.account_id.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            agents: Vec::new(),
            vpc_cidr: self.vpc_cidr.clone(),
        };
        peer.spawn()?;
        Ok(peer)
    }

    /// Sends the Berth process a signal by name (`STOP`, `CONT`, ...).
    pub fn signal(&self, name: &str) -> Result<(), TestkitError> {
        let pid = self
            .pid()
            .ok_or_else(|| TestkitError::Io { context: "signal berth".into(), message: "not running".into() })?;
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .map_err(|e| TestkitError::io("run kill", &e))?;
        if !status.success() {
            return Err(TestkitError::Io { context: format!("kill -{name} {pid}"), message: status.to_string() });
        }
        Ok(())
    }

    /// Starts a separate `berth agent` joining this server (or the servers its own `--server` argument names),
    /// with extra arguments; returns its index.
    pub fn start_agent(&mut self, data_dir: &Path, extra_args: &[&str]) -> Result<usize, TestkitError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))
            .map_err(|e| TestkitError::io("open the agent log", &e))?;
        let log_err = log.try_clone().map_err(|e| TestkitError::io("clone the agent log", &e))?;
        let own_server = (!extra_args.contains(&"--server")).then(|| ["--server".to_string(), self.url()]);
        let child = Command::new(&self.options.binary)
            .arg("agent")
            .args(own_server.into_iter().flatten())
            .arg("--join-token")
            .arg(self.join_token()?)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra_args)
            .args(
                (serves_fargate(extra_args) && !extra_args.contains(&STORAGE_FLAG))
                    .then(|| [STORAGE_FLAG.to_string(), TEST_STORAGE_GIB.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .env("RUST_LOG", std::env::var("BERTH_TEST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| TestkitError::io("start berth agent", &e))?;
        self.agents.push(child);
        Ok(self.agents.len() - 1)
    }

    /// The pid of an agent started with [`Berth::start_agent`].
    pub fn agent_pid(&self, index: usize) -> Option<u32> {
        self.agents.get(index).map(Child::id)
    }

    /// Kills an agent started with [`Berth::start_agent`].
    pub fn kill_agent(&mut self, index: usize) {
        if let Some(child) = self.agents.get_mut(index) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Removes the Docker networks of this Berth's VPC (`berth-<slice>`, once their containers are gone).
    pub fn remove_networks(&self) {
        let Some(prefix) = self.vpc_cidr.split('/').next().map(|a| a.split('.').take(2).collect::<Vec<_>>().join("-"))
        else {
            return;
        };
        let Ok(names) = docker(&["network", "ls", "--filter", "label=berth.vpc-slice", "--format", "{{.Name}}"]) else {
            return;
        };
        for name in names.lines().filter(|n| n.starts_with(&format!("berth-{prefix}-"))) {
            let _ = docker(&["network", "rm", name]);
        }
        // The agent was killed with its tasks running: their security group rules stay behind (only where the
        // tests run as root, as the agent does).
        let address_prefix = format!("-d {}.", prefix.replace('-', "."));
        let Ok(listing) = std::process::Command::new("iptables").args(["-w", "5", "-S", "BERTH-SG"]).output() else {
            return;
        };
        for line in String::from_utf8_lossy(&listing.stdout).lines().filter(|l| l.contains(&address_prefix)) {
            let Some(rule) = line.strip_prefix("-A ") else { continue };
            let mut delete = vec!["-w", "5", "-D"];
            delete.extend(rule.split_whitespace());
            let _ = std::process::Command::new("iptables").args(&delete).output();
            if let Some(chain) = rule.rsplit(' ').next() {
                for op in ["-F", "-X"] {
                    let _ = std::process::Command::new("iptables").args(["-w", "5", op, chain]).output();
                }
            }
        }
    }

    /// Removes every container whose task belongs to this Berth's account.
    pub fn remove_containers(&self) {
        let Ok(listing) = docker(&[
            "ps",
            "-a",
            "--filter",
            "label=com.amazonaws.ecs.task-arn",
            "--format",
            "{{.ID}} {{.Label \"com.amazonaws.ecs.task-arn\"}}",
        ]) else {
            return;
        };
        let prefix = format!("arn:aws:ecs:us-east-1:{}:", self.account_id);
        let ids: Vec<&str> = listing
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter(|(_, arn)| arn.starts_with(&prefix))
            .map(|(id, _)| id)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = docker(&args);
        }
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        self.kill();
        for agent in &mut self.agents {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        self.remove_containers();
        self.remove_networks();
    }
}
