//! `berth exec`: run a command in a task's container through ECS Exec.

use clap::Args;

/// `berth exec TASK [--cluster C] [--container C] [-t|-T] -- COMMAND...`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The task (id or ARN).
    pub task: String,
    /// The task's cluster (default: `default`).
    #[arg(long)]
    pub cluster: Option<String>,
    /// The container to run the command in (required when the task has more than one).
    #[arg(long)]
    pub container: Option<String>,
    /// Accepted for docker habits: standard input is always forwarded (ECS Exec sessions are interactive).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Run the command in a terminal (default: when standard input is a terminal).
    #[arg(short = 't', long, conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never allocate a terminal (standard output and standard error then stay apart).
    #[arg(short = 'T', long)]
    pub no_tty: bool,
    /// The command and its arguments (after `--`).
    #[arg(required = true, last = true)]
    pub command: Vec<String>,
}
