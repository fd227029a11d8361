//! `berth compose`: compose files deployed as ECS task definitions and services.

use super::logs::{Since, parse_since};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `berth compose ...`.
#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Builds and pushes `build:` images, registers a task definition `PROJECT-SERVICE` per service and creates (or
    /// updates) an ECS service of that name, in dependency order, waiting for each dependency's condition; shows
    /// progress until every service runs its desired count. Exits 1 when a service fails to start or the timeout
    /// passes.
    Up(ComposeUpArgs),
    /// Scales the project's services to 0, deletes them and deregisters their task definitions.
    Down(ComposeDownArgs),
    /// Lists the project's services and their tasks: status, health and ports.
    Ps(ComposeFile),
    /// Prints the awslogs output of the project's services (all, or one).
    Logs(ComposeLogsArgs),
}

/// The compose file, the project and the cluster.
#[derive(Debug, Args, Clone)]
pub struct ComposeFile {
    /// The compose file (default: compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml here).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The project's name (default: `name:` in the file, else the file's directory name).
    #[arg(short = 'p', long = "project-name", value_name = "PROJECT")]
    pub project: Option<String>,
    /// The cluster (default: `default`).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Where Berth is: the aws CLI's environment, else what `berth up` wrote in its data dir.
    #[command(flatten)]
    pub client: super::ClientArgs,
}

/// `berth compose up`.
#[derive(Debug, Args)]
pub struct ComposeUpArgs {
    /// The file, project and cluster.
    #[command(flatten)]
    pub compose: ComposeFile,
    /// How long to wait for the services (and each dependency's condition) in all: `90s`, `5m`.
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// The task execution role of every task definition (needed when services read `secrets`: it reads them).
    #[arg(long, value_name = "ARN")]
    pub execution_role_arn: Option<String>,
}

/// `berth compose down`.
#[derive(Debug, Args)]
pub struct ComposeDownArgs {
    /// The file, project and cluster.
    #[command(flatten)]
    pub compose: ComposeFile,
    /// Also say which named volumes would be removed (Berth does not remove volumes on the hosts).
    #[arg(long)]
    pub volumes: bool,
    /// How long to wait for the tasks to stop: `90s`, `5m`.
    #[arg(long, default_value = "2m", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
}

/// `berth compose logs [SERVICE]`.
#[derive(Debug, Args)]
pub struct ComposeLogsArgs {
    /// The file, project and cluster.
    #[command(flatten)]
    pub compose: ComposeFile,
    /// One compose service (default: all of them).
    pub service: Option<String>,
    /// Keep printing new events until Ctrl-C (no `-f`: in `berth compose`, `-f` names the file).
    #[arg(long)]
    pub follow: bool,
    /// Only events from this long ago (`10m`) or since this RFC 3339 time.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
}

/// Reads `--timeout` as a compose duration (`90s`, `1m30s`, `5m`).
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    berth_compose::duration::parse_millis(text).map(std::time::Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::{CommandFactory, Parser};

    #[test]
    fn compose_arguments_parse() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["berth", "compose", "up", "-f", "x.yml", "-p", "shop", "--timeout", "1m30s"]);
        let Ok(Cli { command: Command::Compose(super::ComposeCommand::Up(up)), .. }) = cli else { panic!("{cli:?}") };
        assert_eq!(up.compose.file.as_deref(), Some(std::path::Path::new("x.yml")));
        assert_eq!(up.compose.project.as_deref(), Some("shop"));
        assert_eq!(up.timeout, std::time::Duration::from_secs(90));
        assert!(Cli::try_parse_from(["berth", "compose", "up", "--timeout", "soon"]).is_err());
        let logs = Cli::try_parse_from(["berth", "compose", "logs", "web", "--follow", "--since", "5m"]);
        assert!(matches!(logs, Ok(Cli { command: Command::Compose(super::ComposeCommand::Logs(_)), .. })), "{logs:?}");
        let ps = Cli::try_parse_from(["berth", "compose", "ps", "--data-dir", "/srv/berth"]);
        let Ok(Cli { command: Command::Compose(super::ComposeCommand::Ps(ps)), .. }) = ps else { panic!("{ps:?}") };
        assert_eq!(ps.client.data_dir, std::path::Path::new("/srv/berth"), "compose connects as berth status does");
    }

    #[test]
    fn the_dns_server_is_on_by_default_on_the_apis_address() {
        let server = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["berth", "server"], args].concat());
            let Ok(Cli { command: Command::Server(server), .. }) = cli else { panic!("{cli:?}") };
            server.dns_listen()
        };
        assert_eq!(server(&["--listen", "10.0.0.5:7700"]), Some("10.0.0.5:0".parse().unwrap()));
        assert_eq!(server(&["--dns-listen", "127.0.0.1:5353"]), Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(server(&["--no-dns"]), None);
        assert!(Cli::try_parse_from(["berth", "server", "--no-dns", "--dns-listen", "127.0.0.1:53"]).is_err());
    }
}
