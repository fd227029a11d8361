//! `berth deploy`: registers a revision of the service's current task definition with one container's image
//! replaced (or takes the task definition given), points the service at it with UpdateService, and follows the
//! deployment ([`super::follow`]) until it completes (exit 0), fails or is rolled back (exit 1), or the timeout
//! passes (exit 2; the deployment goes on). A task that cannot be placed meanwhile is explained instance by
//! instance.

use super::api::Ecs;
use super::follow::{Follow, Outcome};
use crate::cli::DeployArgs;
use anyhow::{Context, Result, bail};
use berth_model::clock::{Clock, SystemClock};
use berth_model::ecs;
use serde_json::json;
use std::time::Duration;

/// How often the deployment is looked at.
const POLL: Duration = Duration::from_secs(2);

/// Exit code when the deployment failed or was rolled back.
pub const EXIT_FAILED: u8 = 1;
/// Exit code when the timeout passed first.
pub const EXIT_TIMEOUT: u8 = 2;

/// A RegisterTaskDefinition request for `current` with `image` in the container named `container` (or its only
/// container), keeping everything else, tags included.
pub fn revision_request(
    current: &ecs::TaskDefinition,
    tags: Option<Vec<ecs::Tag>>,
    image: &str,
    container: Option<&str>,
) -> Result<ecs::RegisterTaskDefinitionRequest> {
    let mut containers = current.container_definitions.clone().unwrap_or_default();
    let names: Vec<&str> = containers.iter().filter_map(|c| c.name.as_deref()).collect();
    let index = match container {
        Some(name) => containers
            .iter()
            .position(|c| c.name.as_deref() == Some(name))
            .with_context(|| format!("the task definition has no container {name:?} (it has {})", names.join(", ")))?,
        None if containers.len() == 1 => 0,
        None => bail!("the task definition has several containers ({}): name one with --container", names.join(", ")),
    };
    if let Some(c) = containers.get_mut(index) {
        c.image = Some(image.to_string());
    }
    Ok(ecs::RegisterTaskDefinitionRequest {
        family: current.family.clone().context("the task definition has no family")?,
        task_role_arn: current.task_role_arn.clone(),
        execution_role_arn: current.execution_role_arn.clone(),
        network_mode: current.network_mode,
        container_definitions: containers,
        volumes: current.volumes.clone(),
        placement_constraints: current.placement_constraints.clone(),
        requires_compatibilities: current.requires_compatibilities.clone(),
        cpu: current.cpu.clone(),
        memory: current.memory.clone(),
        tags: tags.filter(|t| !t.is_empty()),
        pid_mode: current.pid_mode,
        ipc_mode: current.ipc_mode,
        proxy_configuration: current.proxy_configuration.clone(),
        inference_accelerators: current.inference_accelerators.clone(),
        ephemeral_storage: current.ephemeral_storage.clone(),
        runtime_platform: current.runtime_platform.clone(),
        enable_fault_injection: current.enable_fault_injection,
        trusted_execution_configuration: current.trusted_execution_configuration.clone(),
    })
}

/// Where lines go: above a spinner on a terminal, else plain lines on standard output.
struct Reporter {
    bar: Option<indicatif::ProgressBar>,
}

impl Reporter {
    fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self { bar }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    fn status(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs `berth deploy`; the exit code.
pub async fn run(api: &Ecs, args: &DeployArgs, terminal: bool) -> Result<u8> {
    let cluster = args.cluster.as_str();
    let before = api.service(cluster, &args.service).await?;
    let target = match (&args.image, &args.task_definition) {
        (Some(image), _) => {
            let current_name = before.task_definition.clone().context("the service has no task definition")?;
            let current = api.task_definition(&current_name).await?;
            let definition = current.task_definition.context("DescribeTaskDefinition answered no task definition")?;
            let request = revision_request(&definition, current.tags, image, args.container.as_deref())?;
            let registered: ecs::RegisterTaskDefinitionResponse =
                api.call("RegisterTaskDefinition", serde_json::to_value(&request)?).await?;
            let arn = registered
                .task_definition
                .and_then(|t| t.task_definition_arn)
                .context("RegisterTaskDefinition answered no ARN")?;
            println!("registered {} with image {image}", super::term::revision(&arn));
            arn
        }
        (None, Some(name)) => api
            .task_definition(name)
            .await?
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .with_context(|| format!("no task definition {name:?}"))?,
        (None, None) => bail!("give --image or --task-definition"),
    };
    let _: ecs::UpdateServiceResponse = api
        .call("UpdateService", json!({ "cluster": cluster, "service": args.service, "taskDefinition": target }))
        .await?;
    println!("updated service {} to {}", args.service, super::term::revision(&target));
    follow(api, args, &target, &before, terminal).await
}

/// Follows the deployment of `target` until it ends or the timeout passes.
async fn follow(api: &Ecs, args: &DeployArgs, target: &str, before: &ecs::Service, terminal: bool) -> Result<u8> {
    let cluster = args.cluster.as_str();
    let deadline = SystemClock.monotonic() + Duration::from_secs(args.timeout);
    let mut follow = Follow::new(target, before);
    let reporter = Reporter::new(terminal);
    let mut explained = false;
    loop {
        let service = api.service(cluster, &args.service).await?;
        let healthy = match follow.deployment_id() {
            Some(id) => healthy_tasks(api, cluster, id).await?,
            None => 0,
        };
        let seen = follow.observe(&service, healthy);
        for line in &seen.lines {
            reporter.line(line);
        }
        if let Some(progress) = seen.lines.iter().rev().find(|l| l.contains(" running, ")) {
            reporter.status(progress);
        }
        if seen.placement_failed && !explained {
            explained = true;
            match super::explain_placement(api, cluster, &service).await {
                Ok(text) => reporter.line(text.trim_end()),
                Err(error) => reporter.line(&format!("(cannot explain the placement failure: {error:#})")),
            }
        }
        match seen.outcome {
            Some(Outcome::Completed) => {
                reporter.finish();
                println!("deployment completed");
                return Ok(0);
            }
            Some(Outcome::Failed(reason)) => {
                reporter.finish();
                println!("deployment failed: {reason}");
                return Ok(EXIT_FAILED);
            }
            Some(Outcome::Replaced(why)) => {
                reporter.finish();
                println!("deployment replaced: {why}");
                return Ok(EXIT_FAILED);
            }
            None => {}
        }
        if SystemClock.monotonic() >= deadline {
            reporter.finish();
            println!(
                "timed out after {}s; the deployment goes on (berth describe service {})",
                args.timeout, args.service
            );
            return Ok(EXIT_TIMEOUT);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How many running tasks the deployment `id` started pass their health checks.
async fn healthy_tasks(api: &Ecs, cluster: &str, id: &str) -> Result<usize> {
    let answer: ecs::ListTasksResponse = api.call("ListTasks", json!({ "cluster": cluster, "startedBy": id })).await?;
    let tasks = api.describe_tasks(cluster, &answer.task_arns.unwrap_or_default()).await?;
    Ok(tasks
        .iter()
        .filter(|t| t.last_status.as_deref() == Some("RUNNING") && t.health_status == Some(ecs::HealthStatus::Healthy))
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(containers: &[&str]) -> ecs::TaskDefinition {
        ecs::TaskDefinition {
            family: Some("web".into()),
            revision: 4,
            task_definition_arn: Some("arn:aws:ecs:us-east-1:0:task-definition/web:4".into()),
            cpu: Some("256".into()),
            container_definitions: Some(
                containers
                    .iter()
                    .map(|n| ecs::ContainerDefinition {
                        name: Some(n.to_string()),
                        image: Some("old:1".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn the_named_or_only_container_gets_the_image_and_the_rest_is_kept() {
        let tags = Some(vec![ecs::Tag { key: Some("team".into()), value: Some("a".into()) }]);
        let request = revision_request(&definition(&["app"]), tags.clone(), "new:2", None).expect("one container");
        assert_eq!(request.family, "web");
        assert_eq!(request.cpu.as_deref(), Some("256"));
        assert_eq!(request.tags, tags);
        assert_eq!(request.container_definitions[0].image.as_deref(), Some("new:2"));
        let two = definition(&["app", "sidecar"]);
        let error = revision_request(&two, None, "new:2", None).expect_err("ambiguous");
        assert!(error.to_string().contains("several containers (app, sidecar)"), "{error}");
        let request = revision_request(&two, Some(Vec::new()), "new:2", Some("sidecar")).expect("named");
        let images: Vec<_> = request.container_definitions.iter().map(|c| c.image.as_deref()).collect();
        assert_eq!(images, [Some("old:1"), Some("new:2")]);
        assert_eq!(request.tags, None, "no empty tag list");
        let error = revision_request(&two, None, "x", Some("nope")).expect_err("unknown");
        assert!(error.to_string().contains("no container \"nope\""), "{error}");
    }
}
