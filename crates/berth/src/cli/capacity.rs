//! `berth capacity ...`: the operator's side of Berth's capacity (what AWS does to its own capacity).

use clap::{Args, Subcommand};

/// `berth capacity ...`.
#[derive(Debug, Subcommand)]
pub enum CapacityCommand {
    /// Interrupts Fargate Spot tasks as AWS does when it takes its spare capacity back: each task gets stop code
    /// `SpotInterruption` and reason "Your Spot Task was interrupted.", its containers SIGTERM at once (Fargate
    /// Spot's two-minute warning) and SIGKILL when their stop timeout runs out; services replace them. Calls the
    /// server with the aws CLI's environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID` ...); needs
    /// `berth:ReclaimSpotCapacity` (the root credentials have it). Prints the interrupted tasks' ARNs.
    Reclaim(ReclaimArgs),
}

/// `berth capacity reclaim [--cluster C] [--instance ID] [--count N] [TASK...]`.
#[derive(Debug, Args)]
pub struct ReclaimArgs {
    /// These Fargate Spot tasks (ARNs, or ids with `--cluster`).
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Only tasks of this cluster (every cluster by default).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only tasks on this container instance (id or ARN): the host whose capacity is taken back.
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
    /// At most this many tasks, the longest running first.
    #[arg(long)]
    pub count: Option<usize>,
    /// Print the interrupted tasks as JSON (DescribeTasks' shape) instead of their ARNs.
    #[arg(long)]
    pub json: bool,
}

/// `berth usage [--since T] [--until T] [--group-by DIM,...] [--json]`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Usage from this long ago (`30m`, `2h`, `7d`) or this RFC 3339 time; everything kept by default.
    #[arg(long, value_parser = super::logs::parse_since)]
    pub since: Option<super::logs::Since>,
    /// Usage until this long ago or this RFC 3339 time; now by default.
    #[arg(long, value_parser = super::logs::parse_since)]
    pub until: Option<super::logs::Since>,
    /// Sum by these, comma-separated or repeated: `cluster`, `service`, `family`, `capacity-provider`,
    /// `launch-type`, `task`, `tag:KEY`. One total by default.
    #[arg(long, value_delimiter = ',')]
    pub group_by: Vec<String>,
    /// Print the server's answer as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}
