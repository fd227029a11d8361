//! The `berth` binary: `berth up` runs everything on one machine; `berth server` and `berth agent` run the halves.

mod cli;
mod logging;
mod roles;

use clap::Parser;
use cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A maintainer's tool, not a command: the options reference README.md carries (`tools/readme-options`).
    if std::env::args().nth(1).as_deref() == Some("__options-reference") {
        print!("{}", cli::reference::markdown(&<Cli as clap::CommandFactory>::command()));
        return std::process::ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    // `berth exec` shares the terminal with the command it runs, `berth logs` and the day-to-day commands print
    // data: only warnings.
    let default_level = if matches!(
        cli.command,
        Command::Exec(_) | Command::Logs(_) | Command::Capacity(_) | Command::Usage(_) | Command::Compose(_)
    ) || roles::console_cli::handles(&cli.command)
    {
        "warn"
    } else {
        "info"
    };
    logging::init(cli.log_format, default_level, std::time::Duration::from_secs(cli.log_repeat_seconds));
    if let Command::Admin(cli::AdminCommand::Quarantine { data_dir, store }) = &cli.command {
        return match roles::admin::quarantine(data_dir, store.as_ref()).await {
            Ok(0) => std::process::ExitCode::SUCCESS,
            Ok(_) => std::process::ExitCode::from(roles::admin::QUARANTINE_FOUND_EXIT),
            Err(error) => {
                eprintln!("berth: {error:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let cli = match cli.command {
        Command::Exec(args) => return roles::exec::run(args).await,
        Command::Logs(args) => return roles::logs::run(args).await,
        Command::Capacity(command) => return roles::capacity::run(command).await,
        Command::Usage(args) => return roles::capacity::usage(args).await,
        Command::Lint(args) => return roles::lint::run(args),
        Command::Compose(command) => return roles::compose::run(command).await,
        command if roles::console_cli::handles(&command) => return roles::console_cli::run(command).await,
        command => command,
    };
    let result = match cli {
        Command::Up(args) => roles::up::run(*args).await,
        Command::Server(args) => roles::server::run(*args).await,
        Command::Agent(args) => roles::agent::run(*args).await,
        Command::Registry(cli::RegistryCommand::Advisories(cli::AdvisoriesCommand::Import { dir, data_dir })) => {
            roles::registry::import_advisories(&dir, &data_dir)
        }
        Command::Secrets(cli::SecretsCommand::RotateMasterKey { data_dir, secrets_master_key_file, store }) => {
            roles::secrets::rotate_master_key(&data_dir, secrets_master_key_file, store).await
        }
        Command::Store(command) => roles::store::run(command).await,
        Command::Admin(_) | Command::Exec(_) | Command::Logs(_) | Command::Capacity(_) | Command::Usage(_) => Ok(()),
        Command::Lint(_)
        | Command::Compose(_)
        | Command::Status(_)
        | Command::Ps(_)
        | Command::Describe(_)
        | Command::Scale(_)
        | Command::Stop(_)
        | Command::Deploy(_)
        | Command::Completions(_) => Ok(()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
