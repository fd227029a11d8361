//! `berth compose down`: each service scaled to 0 and deleted (dependents first), its tasks waited for, its task
//! definitions deregistered.

use super::api::Api;
use crate::cli::ComposeDownArgs;
use anyhow::{Context, bail};
use berth_compose::translate::family;
use berth_model::clock::{Clock, SystemClock};
use serde_json::json;
use std::time::Duration;

/// Runs `berth compose down`.
pub async fn run(args: &ComposeDownArgs) -> anyhow::Result<()> {
    let project = super::load(&args.compose, false)?;
    let api = Api::new(super::cluster(&args.compose), &args.compose.client).await?;
    let deadline = SystemClock.monotonic() + args.timeout;
    let mut names = Vec::new();
    for index in project.order.iter().rev() {
        let service = &project.services[*index];
        let name = family(&project.name, &service.name);
        if let Some(described) = api.service(&name).await? {
            if described["schedulingStrategy"].as_str() != Some("DAEMON") {
                api.ecs("UpdateService", json!({"cluster": api.cluster, "service": name, "desiredCount": 0}))
                    .await
                    .with_context(|| format!("scaling {name} to 0"))?;
            }
            api.ecs("DeleteService", json!({"cluster": api.cluster, "service": name, "force": true}))
                .await
                .with_context(|| format!("deleting {name}"))?;
            println!("{}: deleted {name}", service.name);
        } else {
            println!("{}: no service {name}", service.name);
        }
        names.push((service.name.clone(), name));
    }
    for (service, name) in &names {
        loop {
            let running = api.tasks(name, "RUNNING").await.unwrap_or_default();
            if running.iter().all(|t| t["lastStatus"].as_str() == Some("STOPPED")) {
                break;
            }
            if SystemClock.monotonic() >= deadline {
                bail!("timed out after {:?} waiting for the tasks of {name} to stop", args.timeout);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let deregistered = deregister(&api, name).await?;
        println!("{service}: tasks stopped, {deregistered} task definition revision(s) deregistered");
    }
    super::secrets::remove(&api, &project).await?;
    for left in super::network::remove(&api, &project).await? {
        eprintln!("warning: not removed: {left}");
    }
    if args.volumes {
        for volume in project.volumes.values() {
            println!(
                "volume {}: not removed (Berth does not remove volumes on the hosts); on each host that ran the \
                 project: docker volume rm {}",
                volume.docker_name, volume.docker_name
            );
        }
    }
    Ok(())
}

/// Deregisters the ACTIVE revisions of the family `name` (exactly that family, not others it prefixes).
async fn deregister(api: &Api, name: &str) -> anyhow::Result<usize> {
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"familyPrefix": name, "status": "ACTIVE"});
        if let Some(token) = &token {
            body["nextToken"] = json!(token);
        }
        let page = api.ecs("ListTaskDefinitions", body).await?;
        for arn in page["taskDefinitionArns"].as_array().into_iter().flatten().filter_map(|a| a.as_str()) {
            let family = arn.rsplit('/').next().and_then(|f| f.rsplit_once(':')).map(|(f, _)| f);
            if family == Some(name) {
                arns.push(arn.to_string());
            }
        }
        token = page["nextToken"].as_str().map(String::from);
        if token.is_none() {
            break;
        }
    }
    for arn in &arns {
        api.ecs("DeregisterTaskDefinition", json!({"taskDefinition": arn}))
            .await
            .with_context(|| format!("deregistering {arn}"))?;
    }
    Ok(arns.len())
}
