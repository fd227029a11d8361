//! The `berth` binary: `berth up` runs everything on one machine; `berth server` and `berth agent` run the halves.

mod cli;
mod roles;

use clap::Parser;
use cli::{Cli, Command};

/// Whether log lines may carry colour codes: only on a terminal, and never with `NO_COLOR` set to anything but the
/// empty string (no-color.org). A log written to a file or a pipe stays plain text.
fn colour_wanted(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `berth exec` shares the terminal with the command it runs, `berth logs` prints data: only warnings.
    let default_level = if matches!(
        cli.command,
        Command::Exec(_) | Command::Logs(_) | Command::Capacity(_) | Command::Usage(_) | Command::Compose(_)
    ) {
        "warn"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour_wanted(std::io::IsTerminal::is_terminal(&std::io::stderr()), std::env::var_os("NO_COLOR")))
        .init();
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
    let cli = match cli.command {
        Command::Exec(args) => return roles::exec::run(args).await,
        Command::Logs(args) => return roles::logs::run(args).await,
        Command::Capacity(command) => return roles::capacity::run(command).await,
        Command::Usage(args) => return roles::capacity::usage(args).await,
        Command::Lint(args) => return roles::lint::run(args),
        Command::Compose(command) => return roles::compose::run(command).await,
        command => Cli { command },
    };
    let result = match cli.command {
        Command::Up(args) => roles::up::run(*args).await,
        Command::Server(args) => roles::server::run(args).await,
        Command::Agent(args) => roles::agent::run(args).await,
        Command::Registry(cli::RegistryCommand::Advisories(cli::AdvisoriesCommand::Import { dir, data_dir })) => {
            roles::registry::import_advisories(&dir, &data_dir)
        }
        Command::Secrets(cli::SecretsCommand::RotateMasterKey { data_dir, secrets_master_key_file }) => {
            roles::secrets::rotate_master_key(&data_dir, secrets_master_key_file).await
        }
        Command::Admin(_) | Command::Exec(_) | Command::Logs(_) | Command::Capacity(_) | Command::Usage(_) => Ok(()),
        Command::Lint(_) | Command::Compose(_) => Ok(()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::colour_wanted;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, None));
        assert!(!colour_wanted(false, None), "a file or a pipe gets plain text");
        assert!(!colour_wanted(true, Some("1".into())));
        assert!(colour_wanted(true, Some("".into())), "an empty NO_COLOR does not count");
    }
}
