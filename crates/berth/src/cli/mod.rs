//! Command-line arguments (clap structs only; the roles do the work).

mod capacity;
mod compose;
mod console;
mod exec;
mod host_access;
mod lint;
mod logs;
mod node_provider;
pub mod reference;
mod store;

pub use capacity::{CapacityCommand, ReclaimArgs, UsageArgs};
pub use compose::{ComposeCommand, ComposeDownArgs, ComposeFile, ComposeLogsArgs, ComposeUpArgs};
pub use console::{
    ClientArgs, CompletionsArgs, DeployArgs, DescribeArgs, DescribeKind, OutputFormat, PsArgs, ScaleArgs, StatusArgs,
    StopArgs,
};
pub use exec::ExecArgs;
pub use host_access::HostAccessArgs;
pub use lint::{LintArgs, LintFailOn, LintFormat};
pub use logs::{LogsArgs, Since};
pub use node_provider::{NodeProviderKind, NodeProviderSpec, parse_spec as parse_node_provider};
pub use store::StoreCommand;

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Berth: the ECS experience on machines you own.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
    /// How this process writes its own log on standard error: `text` (colour only on a terminal and without
    /// `NO_COLOR`) or `json` (one object per line).
    #[arg(long, global = true, value_enum, default_value = "text", env = "BERTH_LOG_FORMAT")]
    pub log_format: crate::logging::LogFormat,
    /// The same warning or error is written at most once per this many seconds, then with "(repeated K times)"
    /// (`0`: every time).
    #[arg(long, global = true, default_value_t = 60, env = "BERTH_LOG_REPEAT_SECONDS")]
    pub log_repeat_seconds: u64,
}

/// Berth's roles and commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything on this machine: the control plane and a local agent on the local Docker Engine.
    Up(Box<UpArgs>),
    /// The control plane only; agents join it with `berth agent`.
    Server(Box<ServerArgs>),
    /// A node agent that joins a control plane and runs tasks on this host's Docker Engine.
    Agent(Box<AgentArgs>),
    /// Registry administration.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Control plane administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Secrets Manager, Parameter Store and KMS administration.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// The store of the control plane's records: backups, restores and moves between SQLite and etcd.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Runs a command in a task's container (ECS Exec), with the aws CLI's environment (`AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID` ...). Exits with the command's exit code (255 when Berth could not run it).
    Exec(ExecArgs),
    /// Prints the awslogs output of a service's tasks or of one task from Berth's CloudWatch Logs store, with the aws
    /// CLI's environment, as `task-id/container | time message` lines (a colour per task on a terminal; `NO_COLOR`
    /// turns it off). Containers that do not use awslogs are named on standard error: `docker logs` on their host
    /// shows their output.
    Logs(LogsArgs),
    /// The operator's side of capacity: what AWS does to its own (`berth capacity reclaim` interrupts Fargate Spot
    /// tasks).
    #[command(subcommand)]
    Capacity(CapacityCommand),
    /// Prints what tasks used (vCPU-, GB- and ephemeral storage GB-seconds, by Fargate's metering rule) and what it
    /// costs at the server's rate card, summed by the dimensions asked for, with the aws CLI's environment.
    Usage(UsageArgs),
    /// Lints Dockerfiles: parses them as Docker does and reports unpinned base images, root users, secrets,
    /// cache-busting layer order and the rest (`--list-rules`), as text, JSON or SARIF. Exits 1 when a finding
    /// reaches `--fail-on` (errors by default), 2 when a file does not parse.
    Lint(LintArgs),
    /// Shows clusters, container instances with their free CPU and memory, and services with their running,
    /// desired and pending counts and their deployment's state (the aws CLI's environment, or what `berth up`
    /// wrote in the data dir).
    Status(StatusArgs),
    /// Lists tasks: where they run, their status, health, age and ports.
    Ps(PsArgs),
    /// Describes a task (a timeline of its lifecycle and why it stopped) or a service (deployments, events, and
    /// why a task cannot be placed, instance by instance).
    Describe(DescribeArgs),
    /// Sets a service's desired count.
    Scale(ScaleArgs),
    /// Stops a task.
    Stop(StopArgs),
    /// Deploys a new image (a new task definition revision) or task definition to a service and follows the
    /// deployment until it completes (exit 0), fails or rolls back (exit 1), or the timeout passes (exit 2).
    Deploy(DeployArgs),
    /// Prints a shell completion script (`berth completions bash > /etc/bash_completion.d/berth`).
    Completions(CompletionsArgs),
    /// Deploys a compose file as ECS task definitions and services (`up`, `down`, `ps`, `logs`), with the aws
    /// CLI's environment. Keys Berth cannot honour are named in warnings.
    #[command(subcommand)]
    Compose(ComposeCommand),
}

/// `berth admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Lists the stored records that do not decode (the server quarantines them: it keeps them aside, leaves their
    /// containers running and reports them). Reads a SQLite store file directly (read-only), so it works with the
    /// server running or stopped; an etcd store is read through etcd. Exits 0 when nothing is quarantined, 3 when
    /// something is.
    Quarantine {
        /// Berth's data dir.
        #[arg(long, default_value = "./berth-data", env = "BERTH_DATA_DIR")]
        data_dir: PathBuf,
        /// The store, as given to the server (default `sqlite:<data-dir>/state.db`).
        #[arg(long, env = "BERTH_STORE", value_name = "SPEC")]
        store: Option<berth_store::StoreSpec>,
    },
}

/// `berth secrets ...`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Replaces the master key that wraps the KMS keys' material with a new random one, re-wrapping every KMS key
    /// in one transaction (values are not touched). Run it with the server stopped. The new key replaces the key
    /// file; with `BERTH_MASTER_KEY` set, the new key is written to the key file and the variable must be updated.
    RotateMasterKey {
        /// Berth's data dir.
        #[arg(long, default_value = "./berth-data", env = "BERTH_DATA_DIR")]
        data_dir: PathBuf,
        /// The master key file (default `<data-dir>/master.key`).
        #[arg(long, env = "BERTH_SECRETS_MASTER_KEY_FILE")]
        secrets_master_key_file: Option<PathBuf>,
        /// The store, as given to the server (default `sqlite:<data-dir>/state.db`).
        #[arg(long, env = "BERTH_STORE", value_name = "SPEC")]
        store: Option<berth_store::StoreSpec>,
    },
}

/// `berth registry ...`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Vulnerability advisories for scan on push.
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
}

/// `berth registry advisories ...`.
#[derive(Debug, Subcommand)]
pub enum AdvisoriesCommand {
    /// Imports OSV advisories (`*.json` files, searched recursively) into the registry's advisory database; a
    /// running server uses them from its next scan.
    Import {
        /// The directory of OSV JSON files.
        dir: PathBuf,
        /// Berth's data dir.
        #[arg(long, default_value = "./berth-data", env = "BERTH_DATA_DIR")]
        data_dir: PathBuf,
    },
}

/// Settings shared by `up` and `server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Where Berth keeps its state, credentials and join token.
    #[arg(long, default_value = "./berth-data", env = "BERTH_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The store of the control plane's records: `sqlite:PATH` (default `sqlite:<data-dir>/state.db`) or
    /// `etcd:http://HOST:PORT[,http://HOST:PORT...][?prefix=/NAME]` (options: `prefix`, `max-request-bytes`,
    /// `max-txn-ops`, `timeout-seconds`). On etcd, several servers may share the store: one leads and runs the
    /// controllers (see `--server-id`). Log segments, metric series, the master key and the credentials stay in the
    /// data dir either way; registry blobs too, unless `--registry-dir` names shared storage.
    #[arg(long, env = "BERTH_STORE", value_name = "SPEC", value_parser = parse_boxed_store)]
    pub store: Option<Box<berth_store::StoreSpec>>,
    /// This server's id among several on one etcd store (the leader key's value while it leads); default
    /// `<host name>:<listen port>`. Unused on SQLite.
    #[arg(long, env = "BERTH_SERVER_ID", value_name = "ID")]
    pub server_id: Option<String>,
    /// The leader lease's time to live on etcd, in seconds: when the leader dies, another server's controllers
    /// resume within about this long.
    #[arg(long, default_value_t = 3, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(2..=60))]
    pub leader_lease_seconds: i64,
    /// Test knob (hidden): read and write record kinds as a release whose newest schema version of each is N
    /// (`task=2`), to simulate the previous release in rolling-upgrade tests; docs/COMPATIBILITY.md §53.
    #[arg(long, hide = true, env = "BERTH_SCHEMA_CEILING", value_name = "KIND=N,...")]
    pub schema_ceiling: Option<String>,
    /// Test knob (hidden): this server's wall clock runs this many seconds ahead (negative: behind) of the host's,
    /// as a host whose NTP is off; monotonic time (timeouts, durations) is not shifted. The fault tests skew one
    /// server of several with it.
    #[arg(
        long,
        hide = true,
        env = "BERTH_CLOCK_OFFSET",
        value_name = "SECONDS",
        default_value_t = 0.0,
        allow_negative_numbers = true,
        value_parser = crate::roles::offset_clock::parse_offset
    )]
    pub clock_offset: f64,
    /// Where registry blobs are kept; default `<data-dir>/registry`. Several servers share one registry through a
    /// directory they all mount (NFS or similar) given here.
    #[arg(long, env = "BERTH_REGISTRY_DIR", value_name = "DIR")]
    pub registry_dir: Option<PathBuf>,
    /// The address the API listens on.
    #[arg(long, default_value = "127.0.0.1:7700", env = "BERTH_LISTEN")]
    pub listen: SocketAddr,
    /// The region in ARNs and signatures.
    #[arg(long, default_value = "us-east-1", env = "BERTH_REGION")]
    pub region: String,
    /// The 12-digit account id in ARNs.
    #[arg(long, default_value = "000000000000", env = "BERTH_ACCOUNT_ID")]
    pub account_id: String,
    /// Seconds of silence after which an agent shows `agentConnected: false`.
    #[arg(long, default_value_t = 10)]
    pub agent_timeout_seconds: u64,
    /// The `host:port` clients use to reach this server (repository URIs, docker login); the listen address by
    /// default.
    #[arg(long, env = "BERTH_PUBLIC_ENDPOINT")]
    pub public_endpoint: Option<String>,
    /// Seconds of silence after which an agent's instance is lost: its tasks stop and services replace them.
    #[arg(long, default_value_t = 30)]
    pub lost_instance_timeout_seconds: u64,
    /// Requests per second each access key may make to the AWS APIs (a token bucket; `0` turns it off). Over it,
    /// requests get `ThrottlingException`.
    #[arg(long, default_value_t = 200.0, env = "BERTH_API_RATE_LIMIT")]
    pub api_rate_limit: f64,
    /// How many requests an access key may make at once after a quiet period (the token bucket's size).
    #[arg(long, default_value_t = 400, env = "BERTH_API_BURST")]
    pub api_burst: u32,
    /// The most unauthenticated connections the API listener holds (also capped by the open-file limit); at the
    /// cap the oldest idle one is closed.
    #[arg(long, default_value_t = berth_listener::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Seconds a client has to send a complete request head.
    #[arg(long, default_value_t = berth_listener::DEFAULT_HEADER_TIMEOUT.as_secs())]
    pub header_timeout_seconds: u64,
    /// Seconds a connection may sit idle between requests (and an unauthenticated response may move no byte).
    #[arg(long, default_value_t = berth_listener::DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub idle_timeout_seconds: u64,
    /// ECS's "Tasks per service" quota: the largest desiredCount a service may have.
    #[arg(long, default_value_t = berth_control::DEFAULT_MAX_TASKS_PER_SERVICE)]
    pub max_tasks_per_service: u32,
    /// Seconds between two evaluations of every CloudWatch alarm (CloudWatch evaluates each minute).
    #[arg(long, default_value_t = 60.0)]
    pub alarm_evaluation_seconds: f64,
    /// Seconds between two looks at Application Auto Scaling's scheduled actions (AWS: each minute).
    #[arg(long, default_value_t = 60.0)]
    pub scaling_evaluation_seconds: f64,
    /// How many 1-minute datapoints target tracking's alarms need, `HIGH,LOW`: above the target before a scale-out
    /// and below 90% of it before a scale-in (Application Auto Scaling: 3,15). Applies to policies put afterwards.
    #[arg(long, default_value = "3,15", value_parser = parse_datapoints)]
    pub target_tracking_datapoints: berth_autoscaling::TrackingDatapoints,
    /// The IPv4 range (CIDR) each ELBv2 load balancer's own address comes from, one address per load balancer.
    #[arg(long, default_value = "127.0.1.0/24")]
    pub elb_address_range: String,
    /// The default VPC's CIDR, a /16 (AWS's default VPC: 172.31.0.0/16): awsvpc tasks get addresses in its /20
    /// subnets, a /24 of each per container instance.
    #[arg(long, default_value = berth_vpc::layout::DEFAULT_VPC_CIDR)]
    pub vpc_cidr: String,
    /// Do not run the load-balancer data plane in this process: ELBv2 load balancers are only records (their
    /// listeners serve nothing) and DescribeTargetHealth shows targets `initial`.
    #[arg(long)]
    pub no_load_balancer: bool,
    /// The most metric series the CloudWatch store keeps (PutMetricData past it gets `LimitExceeded`).
    #[arg(long, default_value_t = berth_metrics::points::Limits::default().max_series)]
    pub metrics_max_series: usize,
    /// The most series-minutes (1-minute aggregates, about 80 bytes each) the CloudWatch store keeps.
    #[arg(long, default_value_t = berth_metrics::points::Limits::default().max_buckets)]
    pub metrics_max_buckets: usize,
    /// The most percentile sketch bins (8 bytes each) the CloudWatch store keeps; past it, new minutes have no
    /// percentiles.
    #[arg(long, default_value_t = berth_metrics::points::Limits::default().max_bins)]
    pub metrics_max_bins: usize,
    /// Serve Cloud Map's private DNS namespaces on this address, UDP and TCP, forwarding every other name (default:
    /// the API's address with a free port, e.g. `127.0.0.1:5353`). Agents forward their tasks' queries to it.
    #[arg(long, env = "BERTH_DNS_LISTEN", conflicts_with = "no_dns")]
    pub dns_listen: Option<SocketAddr>,
    /// A resolver the DNS server forwards other names to (repeatable); the host's `/etc/resolv.conf` by default.
    #[arg(long, conflicts_with = "no_dns")]
    pub dns_upstream: Vec<SocketAddr>,
    /// Serve no DNS: Cloud Map's names do not resolve, and agents' tasks resolve through the host's resolvers.
    #[arg(long)]
    pub no_dns: bool,
    /// The file holding the master key of secrets and parameters (base64 of 32 bytes, mode 0600; created on first
    /// start). Default `<data-dir>/master.key`. `BERTH_MASTER_KEY` (base64), when set, is used instead. Keep a copy
    /// apart from the data dir: without it no secret can be read.
    #[arg(long, env = "BERTH_SECRETS_MASTER_KEY_FILE")]
    pub secrets_master_key_file: Option<PathBuf>,
    /// IAM's quota of managed policies attached to one role (AWS: 10 by default, raisable to 20).
    #[arg(long, default_value_t = 10)]
    pub iam_policies_per_role: usize,
    /// The shortest STS AssumeRole session in seconds. AWS's minimum is 900; lower it only for tests of expiry.
    #[arg(long, default_value_t = 900, hide = true)]
    pub iam_min_session_seconds: i64,
    /// The prices `berth usage` costs task usage at: a JSON file `{"currency", "source", "rates": {"FARGATE":
    /// {"vcpuHour", "gbHour", "storageGbHour"}, "FARGATE_SPOT": ..., "EC2": ...}}` (by capacity provider, else
    /// launch type). Default: Fargate's published us-east-1 Linux/X86 prices, Spot at 70% off, EC2 tasks at zero.
    #[arg(long, env = "BERTH_RATE_CARD")]
    pub rate_card: Option<PathBuf>,
    /// An upstream registry URL ECR pull-through cache rules may name besides the public registries ECR supports
    /// (repeatable): a host (`registry.example.com`, reached over https) or `http://host:port` (plain HTTP, a Berth
    /// extension for local registries).
    #[arg(long, value_name = "URL")]
    pub pull_through_upstream_allow: Vec<String>,
    /// A PEM file of CA certificates trusted for https pull-through upstreams besides the system's (a registry with
    /// a private CA).
    #[arg(long, value_name = "FILE")]
    pub pull_through_ca_file: Option<PathBuf>,
    /// Another Berth server that ECR replication destinations naming REGION and ACCOUNT (registry id) are copied
    /// to (repeatable): `REGION:ACCOUNT=URL`, the URL serving that server's API and `/v2/` (`http://host:port`).
    /// Each needs a key pair in --replication-credentials-file.
    #[arg(long, value_name = "REGION:ACCOUNT=URL")]
    pub replication_destination: Vec<String>,
    /// The access keys replication uses at its destinations: a file with one line per destination,
    /// `REGION:ACCOUNT ACCESS_KEY_ID SECRET_ACCESS_KEY` (`#` starts a comment). Keep it mode 0600.
    #[arg(long, value_name = "FILE", env = "BERTH_REPLICATION_CREDENTIALS_FILE")]
    pub replication_credentials_file: Option<PathBuf>,
    /// A signing profile ECR signing rules may name as `arn:aws:signer:REGION:ACCOUNT:/signing-profiles/NAME`
    /// (repeatable): `NAME=KEY.pem[,CERT.pem]`, an ECDSA P-256 private key in PKCS#8 PEM and its certificate chain
    /// (the key's certificate first). Without CERT.pem a self-signed code-signing certificate is made once and kept
    /// in `<data-dir>/registry/signing-profiles/NAME.pem`: give that file to agents' --require-signed-images.
    #[arg(long = "signing-profile", value_name = "NAME=KEY.pem[,CERT.pem]")]
    pub signing_profiles: Vec<String>,
    /// How long a tag cached through a pull-through cache rule is served before the upstream is asked again (ECR:
    /// 24 hours). Lower it only for tests.
    #[arg(long, default_value_t = 86_400, hide = true)]
    pub pull_through_recheck_seconds: u64,
    /// A node provider for managed scaling (repeatable): `GROUP=local[,cpu=UNITS][,memory=MIB][,max=N]` starts
    /// and stops extra agents on this host (each offering that share, 1024 units and 2048 MiB by default; together
    /// never more than the host has), `GROUP=command,path=FILE` runs `FILE launch` / `FILE remove` to add or remove
    /// hosts. A capacity provider whose `autoScalingGroupArn` names GROUP, with managed scaling on, is scaled by it.
    #[arg(long = "node-provider", value_name = "SPEC", value_parser = parse_node_provider)]
    pub node_providers: Vec<NodeProviderSpec>,
    /// Seconds between two looks of managed scaling at the node groups it scales. Lower it only for tests.
    #[arg(long, default_value_t = 15.0, hide = true)]
    pub managed_scaling_interval_seconds: f64,
    /// Seconds a capacity provider's reservation stays under its target before idle hosts are removed (target
    /// tracking's scale-in alarm: 15 minutes). Lower it only for tests.
    #[arg(long, default_value_t = 900, hide = true)]
    pub managed_scaling_scale_in_seconds: u64,
    /// Seconds one minute of a blue/green deployment's bake times and lifecycle hook timeouts lasts (60). Lower it
    /// only for tests.
    #[arg(long, default_value_t = 60.0, hide = true)]
    pub deployment_minute_seconds: f64,
    /// Serve the API listener over HTTPS only (every API, the registry's `/v2/`, the agent protocol) with this PEM
    /// certificate chain, the server's certificate first. Needs --tls-key.
    #[arg(long, value_name = "FILE", env = "BERTH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert. Needs --tls-cert.
    #[arg(long, value_name = "FILE", env = "BERTH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The CA that signed the listener's certificate, when Berth made it (`berth up --tls`): the agents this
    /// server starts (node providers) trust it. Not a flag.
    #[arg(skip)]
    pub local_ca: Option<PathBuf>,
    /// Replace the join token with a new one at start (and print it). Joined agents are not disturbed: they rejoin
    /// with their instance secret; only new agents need the new token.
    #[arg(long)]
    pub rotate_join_token: bool,
    /// A file holding the web console's password (its first line; keep it mode 0600). With it, the console at
    /// `/ui` also signs people in with this password, as the account's root; without it, only with an access key
    /// pair (an IAM user's or the root's).
    #[arg(long, value_name = "FILE", env = "BERTH_CONSOLE_PASSWORD_FILE")]
    pub console_password_file: Option<PathBuf>,
}

/// Parses `--store` into a box (it keeps `ServerArgs`, and so the `Command` enum, small).
fn parse_boxed_store(spec: &str) -> Result<Box<berth_store::StoreSpec>, berth_store::StoreSpecError> {
    spec.parse().map(Box::new)
}

impl ServerArgs {
    /// The store to open: `--store`, else `sqlite:<data-dir>/state.db`.
    pub fn store_spec(&self) -> berth_store::StoreSpec {
        self.store.as_deref().cloned().unwrap_or_else(|| berth_store::StoreSpec::Sqlite(self.data_dir.join("state.db")))
    }

    /// Where the DNS server listens: `--dns-listen`, else the API's address with a free port; `None` with
    /// `--no-dns`.
    pub fn dns_listen(&self) -> Option<SocketAddr> {
        if self.no_dns {
            return None;
        }
        Some(self.dns_listen.unwrap_or_else(|| SocketAddr::new(self.listen.ip(), 0)))
    }

    /// `https` when the listener serves TLS (`--tls-cert`), else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() { "https" } else { "http" }
    }

    /// The API listener's limits from these flags (body limits at their defaults).
    pub fn listener_limits(&self) -> berth_listener::Limits {
        berth_listener::Limits {
            max_connections: self.max_connections,
            header_timeout: std::time::Duration::from_secs(self.header_timeout_seconds),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_seconds),
            ..berth_listener::Limits::default()
        }
    }
}

/// `berth up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The control plane's settings.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The local agent's settings.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Serve HTTPS with a certificate from a local CA Berth makes once under `<data-dir>/tls/` (`ca.pem`, `ca.key`,
    /// `server.pem`, `server.key`) for localhost, 127.0.0.1, ::1, the advertised host and this machine's host
    /// name; the server certificate is re-issued when those names change or it expires within 30 days. The local
    /// agent trusts the CA; `berth up` prints how the aws CLI and Docker trust it.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls: bool,
    /// Development mode: the local agent allows every kind of host access (privileged, host network, any host
    /// path including / and the Docker socket, added capabilities, unconfined, sysctls, devices).
    #[arg(long)]
    pub dev: bool,
}

/// How an agent describes its host.
#[derive(Debug, Args, Clone)]
pub struct NodeArgs {
    /// A custom attribute for placement constraints, `name=value` (repeatable).
    #[arg(long = "attribute", value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
    /// The `ecs.availability-zone` attribute.
    #[arg(long)]
    pub availability_zone: Option<String>,
    /// The `ecs.instance-type` attribute.
    #[arg(long)]
    pub instance_type: Option<String>,
    /// CPU units to offer (default: 1024 per core).
    #[arg(long)]
    pub cpu_units: Option<i64>,
    /// Memory in MiB to offer (default: the host's memory less the reserve).
    #[arg(long)]
    pub memory_mib: Option<i64>,
    /// Memory in MiB kept for the host.
    #[arg(long, default_value_t = 256)]
    pub reserved_memory_mib: i64,
    /// Ephemeral storage in GiB this host offers FARGATE tasks, each of which reserves its `ephemeralStorage`
    /// (20 GiB unless its definition asks more). Default: the free space of Docker's data root when the agent
    /// starts. Only agents serving Fargate account storage.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub ephemeral_storage_gib: Option<i64>,
    /// When to pull images: default, always, once or prefer-cached.
    #[arg(long, default_value = "default", env = "BERTH_IMAGE_PULL_BEHAVIOR")]
    pub image_pull_behavior: String,
    /// Seconds a container gets to stop after SIGTERM when its definition sets no stopTimeout.
    #[arg(long, default_value_t = 30)]
    pub stop_timeout_seconds: u64,
    /// Seconds stopped containers are kept before removal.
    #[arg(long, default_value_t = 3600)]
    pub cleanup_wait_seconds: u64,
    /// Seconds the containers of a failed task (it failed to start, its essential container exited, or it failed
    /// its health checks) are kept before removal.
    #[arg(long, default_value_t = 300)]
    pub failed_cleanup_wait_seconds: u64,
    /// At most this many failed tasks of one task group (a service, a family) keep their exited containers; older
    /// ones are removed at once.
    #[arg(long, default_value_t = 5)]
    pub failed_tasks_kept: usize,
    /// The name this instance is shown as (`ec2InstanceId`); the host name by default.
    #[arg(long)]
    pub hostname: Option<String>,
    /// What this host serves: `ec2` (tasks of its cluster), `fargate` (FARGATE tasks of any cluster; an agent
    /// serving only Fargate joins no cluster), or both (`ec2,fargate` or the flag twice). Default: `ec2` for
    /// `berth agent`, `ec2,fargate` for `berth up`.
    #[arg(long, value_delimiter = ',')]
    pub capacity: Vec<berth_model::agent::Capacity>,
    /// The node group this instance belongs to: a capacity provider whose `autoScalingGroupArn` is this name (or
    /// an Auto Scaling group ARN ending in `autoScalingGroupName/NAME`) places its tasks here.
    #[arg(long)]
    pub node_group: Option<String>,
    /// Run only images from Berth's registry that carry a valid signature (Notation or cosign, as Berth's signing
    /// on push makes them) by a certificate in this PEM file, or by one it issued; any other task fails to start with
    /// `CannotPullContainerError: ... is not signed by a trusted key`.
    #[arg(long, value_name = "TRUST.pem", env = "BERTH_REQUIRE_SIGNED_IMAGES")]
    pub require_signed_images: Option<PathBuf>,
    /// The address other hosts route this host's awsvpc tasks through (an address of this host they reach
    /// directly). Default: the local address the agent reaches the server from, unless it is a loopback address.
    #[arg(long, value_name = "IPV4")]
    pub host_address: Option<std::net::Ipv4Addr>,
    /// What tasks may reach on the host.
    #[command(flatten)]
    pub host_access: HostAccessArgs,
}

/// `berth agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The control plane's URL, or the URLs of its servers separated by commas (several servers on one etcd
    /// store): the agent talks to one and moves to the next when it does not answer.
    #[arg(long, env = "BERTH_SERVER", value_name = "URL[,URL...]")]
    pub server: String,
    /// A PEM file of CA certificates the agent trusts for an `https://` server besides the system's roots (e.g.
    /// the `ca.pem` of `berth up --tls`). The agent never skips verification and never falls back to plain HTTP.
    #[arg(long, value_name = "FILE", env = "BERTH_SERVER_CA")]
    pub server_ca: Option<PathBuf>,
    /// The join token the server printed (or keeps in `<data-dir>/join-token`).
    #[arg(long, env = "BERTH_JOIN_TOKEN")]
    pub join_token: String,
    /// The cluster to join.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Where the agent keeps its identity.
    #[arg(long, default_value = "./berth-agent", env = "BERTH_AGENT_DATA_DIR")]
    pub data_dir: PathBuf,
    /// How the host is described.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Where the agent serves `GET /metrics` (Prometheus text format) and `GET /healthz`; `off` serves nothing.
    /// A port already in use is logged and skipped (several agents on one host).
    #[arg(long, default_value = "127.0.0.1:51678", env = "BERTH_AGENT_METRICS_LISTEN")]
    pub metrics_listen: String,
    /// Exit when the process with this id is no longer the agent's parent (set by the server for the agents its
    /// `local` node provider starts, so they stop with it; their containers keep running).
    #[arg(long, hide = true)]
    pub exit_with_parent: Option<u32>,
    /// TEST ONLY: report this agent version instead of the real one, until the agent updates itself (the flag is
    /// dropped when it re-executes). Lets tests exercise UpdateContainerAgent with a single binary.
    #[arg(long = TEST_AGENT_VERSION_FLAG, hide = true)]
    pub test_report_agent_version: Option<String>,
    /// Simulated container instances instead of a real agent.
    #[command(flatten)]
    pub simulate: SimulateArgs,
}

/// `berth agent --simulate N`: simulated container instances instead of a real agent.
#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Join N simulated container instances from this process instead of running a real agent: each registers,
    /// holds its desired-state stream, heartbeats and reports its tasks PENDING, RUNNING and STOPPED like a real
    /// agent, but runs nothing (no Docker needed). For scale tests and benchmarks; the instances carry the
    /// attribute `berth.simulated=true` and the agent version `simulated`. SIGUSR1 silences `--simulate-lose` of
    /// them (those running the most service tasks), as if their hosts lost power.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub simulate: Option<u32>,
    /// With `--simulate`: milliseconds from a task's arrival (reported PENDING) to its RUNNING report.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub simulate_start_ms: u64,
    /// With `--simulate`: milliseconds from the server's stop (reported STOPPING) to the STOPPED report.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub simulate_stop_ms: u64,
    /// With `--simulate`: seconds between heartbeats (default: the interval the server gives, 3 s).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub simulate_heartbeat_seconds: Option<u64>,
    /// With `--simulate`: how many instances each SIGUSR1 silences.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub simulate_lose: usize,
}

/// The test-only flag that makes an agent report an older version (see [`AgentArgs::test_report_agent_version`]).
pub const TEST_AGENT_VERSION_FLAG: &str = "test-report-agent-version";

fn parse_datapoints(text: &str) -> Result<berth_autoscaling::TrackingDatapoints, String> {
    let parse = |n: &str| n.trim().parse::<u32>().ok().filter(|n| (1..=1440).contains(n));
    match text.split_once(',') {
        Some((high, low)) => match (parse(high), parse(low)) {
            (Some(high), Some(low)) => Ok(berth_autoscaling::TrackingDatapoints { high, low }),
            _ => Err(format!("{text:?}: each count must be 1 to 1440")),
        },
        None => Err(format!("{text:?} is not HIGH,LOW (e.g. 3,15)")),
    }
}

fn parse_attribute(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("attribute {text:?} is not name=value"))?;
    if name.is_empty() || name.len() > 128 {
        return Err(format!("attribute name {name:?} must have 1 to 128 characters"));
    }
    Ok((name.to_string(), value.to_string()))
}
