//! The day-to-day commands for people: `berth status`, `ps`, `describe`, `scale`, `stop`, `deploy` and
//! `completions`. They call Berth through the same signed ECS API as the aws CLI ([`api`], reached as
//! [`connect`] says), print tables sized to the terminal ([`term`]) or the API's JSON (`--output json`), and keep
//! the rendering pure ([`status`], [`ps`], [`describe`], [`placement`], [`follow`]) so it is unit-tested without a
//! server.

pub mod api;
pub mod connect;
pub mod deploy;
pub mod describe;
pub mod follow;
pub mod placement;
pub mod ps;
pub mod status;
pub mod term;

use crate::cli::{ClientArgs, Command, DescribeKind, OutputFormat};
use anyhow::{Context, Result};
use api::Ecs;
use berth_model::clock::{Clock, SystemClock};
use berth_model::ecs;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::ExitCode;
use term::Style;

/// Whether `command` is one of these commands.
pub fn handles(command: &Command) -> bool {
    matches!(
        command,
        Command::Status(_)
            | Command::Ps(_)
            | Command::Describe(_)
            | Command::Scale(_)
            | Command::Stop(_)
            | Command::Deploy(_)
            | Command::Completions(_)
    )
}

/// Runs one of these commands; a failure is printed as `berth <command>: error` and exits 1 (`deploy` has its own
/// codes: 1 failed or rolled back, 2 timed out).
pub async fn run(command: Command) -> ExitCode {
    let name = match &command {
        Command::Status(_) => "status",
        Command::Ps(_) => "ps",
        Command::Describe(_) => "describe",
        Command::Scale(_) => "scale",
        Command::Stop(_) => "stop",
        Command::Deploy(_) => "deploy",
        _ => "completions",
    };
    match dispatch(command).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("berth {name}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn client(args: &ClientArgs) -> Result<Ecs> {
    Ecs::new(connect::connect(args).await?)
}

fn print_json(value: &impl serde::Serialize) -> Result<u8> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(0)
}

async fn dispatch(command: Command) -> Result<u8> {
    let style = Style::detect();
    let now = SystemClock.now();
    match command {
        Command::Status(args) => {
            let api = client(&args.client).await?;
            let clusters = status::fetch(&api, args.cluster.as_deref()).await?;
            match args.output {
                OutputFormat::Json => print_json(&clusters),
                OutputFormat::Table => {
                    print!("{}", status::render(&clusters, &style));
                    Ok(0)
                }
            }
        }
        Command::Ps(args) => {
            let api = client(&args.client).await?;
            let (tasks, hosts) = ps::fetch(&api, &args.cluster, args.service.as_deref(), args.all).await?;
            match args.output {
                OutputFormat::Json => print_json(&tasks),
                OutputFormat::Table => {
                    print!("{}", ps::render(&tasks, &hosts, now, &style));
                    Ok(0)
                }
            }
        }
        Command::Describe(args) => {
            let api = client(&args.client).await?;
            match args.kind {
                DescribeKind::Task => {
                    let task = api.task(&args.cluster, &args.name).await?;
                    if args.output == OutputFormat::Json {
                        return print_json(&task);
                    }
                    let host = match &task.container_instance_arn {
                        Some(arn) => api
                            .instances(&args.cluster)
                            .await?
                            .into_iter()
                            .find(|i| i.container_instance_arn.as_deref() == Some(arn))
                            .and_then(|i| i.ec2_instance_id),
                        None => None,
                    };
                    print!("{}", describe::render_task(&task, host.as_deref(), &style));
                    Ok(0)
                }
                DescribeKind::Service => {
                    let service = api.service(&args.cluster, &args.name).await?;
                    if args.output == OutputFormat::Json {
                        return print_json(&service);
                    }
                    let placement = if describe::placement_is_failing(&service) {
                        Some(explain_placement(&api, &args.cluster, &service).await?)
                    } else {
                        None
                    };
                    print!("{}", describe::render_service(&service, placement.as_deref(), &style));
                    Ok(0)
                }
            }
        }
        Command::Scale(args) => {
            let api = client(&args.client).await?;
            let answer: ecs::UpdateServiceResponse = api
                .call(
                    "UpdateService",
                    json!({ "cluster": args.cluster, "service": args.service, "desiredCount": args.count }),
                )
                .await?;
            let service = answer.service.context("UpdateService answered no service")?;
            println!(
                "service {}: desired {} (running {}, pending {})",
                service.service_name.as_deref().unwrap_or(&args.service),
                service.desired_count,
                service.running_count,
                service.pending_count
            );
            Ok(0)
        }
        Command::Stop(args) => {
            let api = client(&args.client).await?;
            let mut body = json!({ "cluster": args.cluster, "task": args.task });
            if let (Some(reason), Some(object)) = (&args.reason, body.as_object_mut()) {
                object.insert("reason".into(), json!(reason));
            }
            let answer: ecs::StopTaskResponse = api.call("StopTask", body).await?;
            let task = answer.task.context("StopTask answered no task")?;
            println!(
                "task {}: {} (desired {})",
                term::short(task.task_arn.as_deref().unwrap_or(&args.task)),
                task.last_status.as_deref().unwrap_or("?"),
                task.desired_status.as_deref().unwrap_or("?")
            );
            Ok(0)
        }
        Command::Deploy(args) => {
            let api = client(&args.client).await?;
            deploy::run(&api, &args, style.terminal && std::io::IsTerminal::is_terminal(&std::io::stderr())).await
        }
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut command = crate::cli::Cli::command();
            clap_complete::generate(args.shell, &mut command, "berth", &mut std::io::stdout());
            Ok(0)
        }
        _ => Ok(0),
    }
}

/// Why `service`'s task cannot be placed, instance by instance ([`placement`]).
pub async fn explain_placement(api: &Ecs, cluster: &str, service: &ecs::Service) -> Result<String> {
    let name = service.task_definition.as_deref().context("the service has no task definition")?;
    let definition =
        api.task_definition(name).await?.task_definition.context("DescribeTaskDefinition answered nothing")?;
    let demand = placement::Demand::of(&definition, service.placement_constraints.as_deref().unwrap_or_default());
    let instances = api.instances(cluster).await?;
    let mut group_tasks: BTreeMap<String, usize> = BTreeMap::new();
    if demand.distinct_instance {
        let service_name = service.service_name.as_deref();
        for task in api.tasks(cluster, service_name, false).await? {
            if let Some(arn) = task.container_instance_arn {
                *group_tasks.entry(arn).or_default() += 1;
            }
        }
    }
    Ok(placement::render(&demand, &placement::explain(&demand, &instances, &group_tasks)))
}
