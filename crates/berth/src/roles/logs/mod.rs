//! `berth logs`: prints the awslogs output of a service's tasks or of one task from Berth's CloudWatch Logs store,
//! through the same signed AWS APIs (ECS, CloudWatch Logs) and credentials as the aws CLI.
//!
//! The target's containers are found with DescribeServices / ListTasks / DescribeTasks and their task definitions'
//! `logConfiguration` ([`sources`]); their streams are read with FilterLogEvents, merged by time ([`read`]), and
//! printed as `task-id/container | time message` ([`print`]). With `-f` the streams are polled every second from a
//! little before the newest event printed, repeats dropped by event id, and a service's task list is read again
//! every few polls so that new tasks join. Ctrl-C ends it.

mod print;
mod read;
mod sources;

use crate::cli::LogsArgs;
use anyhow::{Context, bail};
use berth_model::clock::{Clock, SystemClock};
use print::Printer;
use read::{Query, Seen};
use sources::{Note, Resolver, Source};
use std::collections::{BTreeSet, HashSet};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// How often `-f` polls.
const POLL: Duration = Duration::from_secs(1);
/// Every how many polls `-f` reads a service's tasks again.
const RESOLVE_EVERY: u32 = 5;

/// Runs `berth logs`; a failure is printed and exits non-zero. A closed standard output (`| head`) ends it quietly.
pub async fn run(args: LogsArgs) -> ExitCode {
    report(logs(args, None).await)
}

/// `berth logs` with the SDK configuration the caller connected with (`berth compose logs`: the same connection as
/// its other commands).
pub async fn run_with(args: LogsArgs, config: aws_config::SdkConfig) -> ExitCode {
    report(logs(args, Some(config)).await)
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth logs: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Whether printing failed (standard output closed, as by `| head`), rather than reading.
fn is_output_error(error: &anyhow::Error) -> bool {
    error.chain().any(|e| e.downcast_ref::<std::io::Error>().is_some())
}

/// What is being printed and what has been said about it.
struct Session {
    logs: aws_sdk_cloudwatchlogs::Client,
    resolver: Resolver,
    sources: BTreeSet<Source>,
    noted: HashSet<String>,
    missing_groups: HashSet<String>,
}

impl Session {
    /// Reads the target's containers again: new streams join, and what cannot be read is said once. Whether a
    /// container's stream is still to be known (it has not started).
    async fn refresh(&mut self) -> anyhow::Result<bool> {
        let (sources, notes) = self.resolver.resolve().await?;
        let waiting = notes.iter().any(|n| n.key.ends_with(sources::NOT_STARTED));
        self.sources.extend(sources);
        self.note(notes);
        Ok(waiting)
    }

    fn note(&mut self, notes: Vec<Note>) {
        for note in notes {
            if self.noted.insert(note.key) {
                eprintln!("berth logs: {}", note.text);
            }
        }
    }

    /// Prints what `query` selects; with `seen`, only events not printed before.
    async fn print<W: std::io::Write>(
        &mut self,
        query: Query<'_>,
        printer: &mut Printer<W>,
        mut seen: Option<&mut Seen>,
    ) -> anyhow::Result<()> {
        let sources: Vec<Source> = self.sources.iter().cloned().collect();
        let missing = read::read_all(&self.logs, &sources, query, |source, event| {
            if let Some(seen) = seen.as_deref_mut()
                && !seen.insert(&source.group, &event)
            {
                return Ok(());
            }
            let message = event.message.as_deref().unwrap_or_default();
            printer.print(source, event.timestamp.unwrap_or_default(), message).context("writing to standard output")
        })
        .await?;
        printer.flush().context("writing to standard output")?;
        for group in missing {
            if self.missing_groups.insert(group.clone()) {
                eprintln!("berth logs: log group {group} does not exist (yet)");
            }
        }
        Ok(())
    }
}

async fn logs(args: LogsArgs, config: Option<aws_config::SdkConfig>) -> anyhow::Result<()> {
    let config = match config {
        Some(config) => config,
        None => super::aws::config().await?,
    };
    let cluster = args.cluster.as_deref().unwrap_or("default");
    let resolver = Resolver::new(aws_sdk_ecs::Client::new(&config), cluster, &args.target).await?;
    let mut session = Session {
        logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        resolver,
        sources: BTreeSet::new(),
        noted: HashSet::new(),
        missing_groups: HashSet::new(),
    };
    let waiting = session.refresh().await?;
    if session.sources.is_empty() && !(args.follow && (waiting || session.resolver.is_service())) {
        bail!("nothing to read: no container of {} logs with awslogs (yet)", args.target);
    }
    let clock = SystemClock;
    let now_millis = || (clock.now() * 1000.0) as i64;
    let start = args.since.map(|since| since.start_millis(now_millis()));
    let query = Query { start, filter: args.filter.as_deref() };
    let colour = crate::logging::colour_wanted(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR"));
    let mut printer = Printer::new(std::io::stdout(), colour);
    if !args.follow {
        return session.print(query, &mut printer, None).await;
    }
    let mut seen = Seen::default();
    let followed_from = now_millis();
    let follow = async {
        session.print(query, &mut printer, Some(&mut seen)).await?;
        seen.prune();
        let mut last_error: Option<String> = None;
        for poll in 1u32.. {
            tokio::time::sleep(POLL).await;
            if poll % RESOLVE_EVERY == 0 {
                // A passing failure (a restarting server) is tried again at the next poll.
                if let Err(error) = session.refresh().await {
                    tracing::debug!("reading the tasks again: {error:#}");
                }
            }
            let window = Query { start: Some(seen.window_start(start, followed_from)), ..query };
            match session.print(window, &mut printer, Some(&mut seen)).await {
                Ok(()) => last_error = None,
                Err(error) if is_output_error(&error) => return Err(error),
                // A passing failure (a restarting server) is said once and tried again at the next poll.
                Err(error) => {
                    let text = format!("{error:#}");
                    if last_error.as_ref() != Some(&text) {
                        eprintln!("berth logs: {text} (trying again)");
                    }
                    last_error = Some(text);
                }
            }
            seen.prune();
        }
        Ok(())
    };
    tokio::select! {
        result = follow => result,
        interrupted = tokio::signal::ctrl_c() => interrupted.context("waiting for Ctrl-C"),
    }
}
