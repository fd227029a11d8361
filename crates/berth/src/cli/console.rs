//! The day-to-day client commands (`berth status`, `ps`, `describe`, `scale`, `stop`, `deploy`, `completions`):
//! clap structs only; the work is in `roles::console_cli`.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Where a client command finds Berth when the aws CLI's environment does not say.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Berth's data dir: when no `AWS_*` variable or profile is set, the credentials and the endpoint `berth up`
    /// wrote there are used.
    #[arg(long, default_value = "./berth-data", env = "BERTH_DATA_DIR")]
    pub data_dir: PathBuf,
}

/// How a read command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Tables sized to the terminal.
    #[default]
    Table,
    /// The API's own JSON shapes, for scripts.
    Json,
}

/// `berth status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this cluster (all by default).
    #[arg(long)]
    pub cluster: Option<String>,
    /// How to print.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Where Berth is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth ps [SERVICE]`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Only this service's tasks.
    pub service: Option<String>,
    /// The cluster.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Stopped tasks too (ECS keeps them for a while).
    #[arg(long, short = 'a')]
    pub all: bool,
    /// How to print.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Where Berth is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth describe task|service`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// What to describe.
    #[arg(value_enum)]
    pub kind: DescribeKind,
    /// The task's id or ARN, or the service's name or ARN.
    pub name: String,
    /// The cluster.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// How to print.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Where Berth is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// What `berth describe` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DescribeKind {
    /// A task's timeline: created, pulled, started, stopping, stopped, why, and its containers' exit codes.
    Task,
    /// A service: its deployments, its events oldest first, and why a task cannot be placed when it cannot.
    Service,
}

/// `berth scale SERVICE N`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The service.
    pub service: String,
    /// Its new desired count.
    pub count: u32,
    /// The cluster.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Where Berth is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth stop TASK`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// The task id or ARN.
    pub task: String,
    /// The stopped reason to record.
    #[arg(long)]
    pub reason: Option<String>,
    /// The cluster.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Where Berth is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth deploy SERVICE --image IMAGE | --task-definition TD`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["image", "task_definition"])))]
pub struct DeployArgs {
    /// The service.
    pub service: String,
    /// The new image: a revision of the service's current task definition is registered with it.
    #[arg(long)]
    pub image: Option<String>,
    /// The container whose image `--image` replaces (needed when the task definition has several).
    #[arg(long, requires = "image")]
    pub container: Option<String>,
    /// A task definition (family, family:revision or ARN) to deploy as it is.
    #[arg(long, conflicts_with = "image")]
    pub task_definition: Option<String>,
    /// Seconds to follow the deployment before giving up (exit 2); the deployment itself goes on.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// The cluster.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Where Berth is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}
