//! The `berth` binary: `berth up` runs everything on one machine; `berth server` and `berth agent` run the halves.

mod cli;
mod roles;

use clap::Parser;
use cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Admin(cli::AdminCommand::Quarantine { data_dir }) = &cli.command {
        return match roles::admin::quarantine(data_dir) {
            Ok(0) => std::process::ExitCode::SUCCESS,
            Ok(_) => std::process::ExitCode::from(roles::admin::QUARANTINE_FOUND_EXIT),
            Err(error) => {
                eprintln!("berth: {error:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let result = match cli.command {
        Command::Up(args) => roles::up::run(args).await,
        Command::Server(args) => roles::server::run(args).await,
        Command::Agent(args) => roles::agent::run(args).await,
        Command::Registry(cli::RegistryCommand::Advisories(cli::AdvisoriesCommand::Import { dir, data_dir })) => {
            roles::registry::import_advisories(&dir, &data_dir)
        }
        Command::Admin(_) => Ok(()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
