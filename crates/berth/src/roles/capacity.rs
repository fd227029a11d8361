//! `berth capacity ...`: calls Berth's capacity API (`berth_api::capacity`) with the aws CLI's environment.

use crate::cli::{CapacityCommand, ReclaimArgs};
use anyhow::Context;
use std::process::ExitCode;

/// Runs a `berth capacity` command; a failure is printed and exits non-zero.
pub async fn run(command: CapacityCommand) -> ExitCode {
    let result = match command {
        CapacityCommand::Reclaim(args) => reclaim(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth capacity: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn reclaim(args: ReclaimArgs) -> anyhow::Result<()> {
    let input = berth_api::capacity::ReclaimSpotCapacityInput {
        cluster: args.cluster,
        tasks: args.tasks,
        container_instance: args.instance,
        count: args.count,
    };
    let config = super::aws::config().await;
    let target = format!("{}.{}", berth_api::capacity::TARGET_PREFIX, berth_api::capacity::RECLAIM_SPOT_CAPACITY);
    let answer = super::aws::call_json(&config, "ecs", &target, &serde_json::to_value(&input)?).await?;
    let output: berth_api::capacity::ReclaimSpotCapacityOutput =
        serde_json::from_value(answer).context("reading the server's answer")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "tasks": output.tasks }))?);
    } else if output.tasks.is_empty() {
        eprintln!("No running Fargate Spot task matched.");
    } else {
        for task in &output.tasks {
            println!("{}", task.task_arn.as_deref().unwrap_or_default());
        }
    }
    Ok(())
}
