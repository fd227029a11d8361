//! `berth compose`: deploys a compose file through Berth's signed ECS and ECR APIs (connected as `berth status`
//! is: the aws CLI's environment when an `AWS_*` variable is set, else what `berth up` wrote in its data dir). `berth_compose` reads the file and translates each service; this module makes the calls:
//! building and pushing images ([`build`]), creating services in dependency order and following them ([`up`]),
//! removing them ([`down`]), listing them ([`ps`]).

mod api;
mod build;
mod down;
mod network;
mod ps;
mod secrets;
mod state;
mod up;

use crate::cli::{ComposeCommand, ComposeFile, LogsArgs};
use anyhow::Context;
use berth_compose::Project;
use std::path::PathBuf;
use std::process::ExitCode;

/// The files `berth compose` looks for when `-f` is not given, in docker compose's order.
const DEFAULT_FILES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// Runs a `berth compose` command; a failure is printed and exits 1.
pub async fn run(command: ComposeCommand) -> ExitCode {
    let result = match command {
        ComposeCommand::Up(args) => up::run(&args).await,
        ComposeCommand::Down(args) => down::run(&args).await,
        ComposeCommand::Ps(args) => ps::run(&args).await,
        ComposeCommand::Logs(args) => return logs(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth compose: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The compose file named by `-f`, or the first default file in the current directory.
fn compose_path(args: &ComposeFile) -> anyhow::Result<PathBuf> {
    if let Some(file) = &args.file {
        return Ok(file.clone());
    }
    DEFAULT_FILES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .with_context(|| format!("no compose file: none of {} is here; name one with -f", DEFAULT_FILES.join(", ")))
}

/// Reads the project; `print_warnings` prints what Berth ignores or changes to standard error.
fn load(args: &ComposeFile, print_warnings: bool) -> anyhow::Result<Project> {
    let path = compose_path(args)?;
    let env = |name: &str| std::env::var(name).ok();
    let project = berth_compose::load(&path, args.project.as_deref(), &env)?;
    if print_warnings {
        for warning in &project.warnings {
            eprintln!("warning: {warning}");
        }
    }
    Ok(project)
}

/// The cluster the project runs in.
fn cluster(args: &ComposeFile) -> String {
    args.cluster.clone().unwrap_or_else(|| "default".into())
}

/// `berth compose logs`: `berth logs` on each service (`PROJECT-SERVICE`), concurrently.
async fn logs(args: crate::cli::ComposeLogsArgs) -> ExitCode {
    let project = match load(&args.compose, false) {
        Ok(project) => project,
        Err(error) => {
            eprintln!("berth compose: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let names: Vec<String> = match &args.service {
        Some(name) if project.service(name).is_none() => {
            eprintln!("berth compose: {name:?} is not a service of {}", project.name);
            return ExitCode::FAILURE;
        }
        Some(name) => vec![name.clone()],
        None => project.order.iter().map(|i| project.services[*i].name.clone()).collect(),
    };
    let api = match api::Api::new(cluster(&args.compose), &args.compose.client).await {
        Ok(api) => api,
        Err(error) => {
            eprintln!("berth compose: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let runs = names.iter().map(|name| {
        crate::roles::logs::run_with(
            LogsArgs {
                target: berth_compose::translate::family(&project.name, name),
                cluster: Some(cluster(&args.compose)),
                follow: args.follow,
                since: args.since,
                filter: None,
            },
            api.sdk().clone(),
        )
    });
    let codes = futures::future::join_all(runs).await;
    if codes.iter().all(|c| *c == ExitCode::SUCCESS) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
