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
    let config = super::aws::config().await?;
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

/// `berth usage`: asks the server for the usage in the window and prints it as a table (or JSON).
pub async fn usage(args: crate::cli::UsageArgs) -> ExitCode {
    match print_usage(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth usage: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn print_usage(args: crate::cli::UsageArgs) -> anyhow::Result<()> {
    use berth_model::clock::{Clock, SystemClock};
    let now_millis = (SystemClock.now() * 1000.0) as i64;
    let at = |since: crate::cli::Since| since.start_millis(now_millis) as f64 / 1000.0;
    let input = berth_api::capacity::GetUsageInput {
        since: args.since.map(at),
        until: args.until.map(at),
        group_by: args.group_by.iter().map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).collect(),
    };
    let config = super::aws::config().await?;
    let target = format!("{}.{}", berth_api::capacity::TARGET_PREFIX, berth_api::capacity::GET_USAGE);
    let answer = super::aws::call_json(&config, "ecs", &target, &serde_json::to_value(&input)?).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let output: berth_api::capacity::GetUsageOutput =
        serde_json::from_value(answer).context("reading the server's answer")?;
    print!("{}", usage_table(&input.group_by, &output));
    Ok(())
}

/// The usage as an aligned text table: one column per dimension, then tasks, vCPU-hours, GB-hours, storage
/// GB-hours and cost, and a total line when there are several groups.
fn usage_table(dimensions: &[String], output: &berth_api::capacity::GetUsageOutput) -> String {
    let currency = &output.rate_card.currency;
    let mut header: Vec<String> = dimensions.iter().map(|d| d.to_uppercase()).collect();
    header.extend(
        ["TASKS", "VCPU-HOURS", "GB-HOURS", "STORAGE-GB-HOURS", &format!("COST ({currency})")].map(String::from),
    );
    let row = |keys: Vec<String>, g: &berth_control::metering::UsageGroup| {
        let mut cells = keys;
        cells.push(g.tasks.to_string());
        cells.push(format!("{:.4}", g.vcpu_seconds / 3600.0));
        cells.push(format!("{:.4}", g.gb_seconds / 3600.0));
        cells.push(format!("{:.4}", g.storage_gb_seconds / 3600.0));
        cells.push(format!("{:.6}", g.cost));
        cells
    };
    let mut rows = vec![header];
    let mut total = berth_control::metering::UsageGroup::default();
    for group in &output.groups {
        rows.push(row(dimensions.iter().map(|d| group.keys.get(d).cloned().unwrap_or_default()).collect(), group));
        total.tasks += group.tasks;
        total.vcpu_seconds += group.vcpu_seconds;
        total.gb_seconds += group.gb_seconds;
        total.storage_gb_seconds += group.storage_gb_seconds;
        total.cost += group.cost;
    }
    if output.groups.len() != 1 {
        let mut keys = vec![String::new(); dimensions.len()];
        if let Some(first) = keys.first_mut() {
            *first = "TOTAL".into();
        }
        rows.push(row(keys, &total));
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text.push_str(&format!("Prices: {}\n", output.rate_card.source));
    text
}
