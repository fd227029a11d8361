//! `berth compose up`: images built and pushed, then each service in dependency order (after its dependencies'
//! conditions hold) registered and created or updated, then followed until every service runs its desired count.

use super::api::Api;
use super::state::{Progress, summarise};
use crate::cli::ComposeUpArgs;
use anyhow::{Context, bail};
use berth_compose::translate::{Deploy, create_service, family, register_task_definition, update_service};
use berth_compose::{Condition, Project, Service};
use berth_model::clock::{Clock, SystemClock};
use std::collections::HashMap;
use std::time::Duration;

/// How often services are polled.
const POLL: Duration = Duration::from_secs(1);

/// Runs `berth compose up`.
pub async fn run(args: &ComposeUpArgs) -> anyhow::Result<()> {
    let project = super::load(&args.compose, true)?;
    let role = args.execution_role_arn.as_deref();
    super::secrets::check_role(&project, role)?;
    let api = Api::new(super::cluster(&args.compose), &args.compose.client).await?;
    // Tasks created from a second before now belong to this run (the server's clock is this machine's or close).
    let since = SystemClock.now() - 1.0;
    let deadline = SystemClock.monotonic() + args.timeout;
    let mut images = HashMap::new();
    for service in ordered(&project) {
        let image = match (&service.build, &service.image) {
            (Some(build), _) => {
                println!("{}: building {}", service.name, build.context.display());
                let image = super::build::build_and_push(&api, &project, service, build).await?;
                println!("{}: pushed {image}", service.name);
                image
            }
            (None, Some(image)) => image.clone(),
            (None, None) => bail!("services.{} has neither image nor build", service.name),
        };
        images.insert(service.name.clone(), image);
    }
    let secret_arns = super::secrets::store(&api, &project).await?;
    let network = super::network::ensure(&api, &project).await?;
    if !network.placements.is_empty() {
        println!(
            "{}: services reach each other by name in {}",
            project.name,
            berth_compose::networks::namespace(&project.name)
        );
    }
    let region = api.region();
    let mut watch =
        Watch { api: &api, project: &project, since, deadline, timeout: args.timeout, shown: HashMap::new() };
    for service in ordered(&project) {
        for dependency in &service.depends_on {
            watch.wait_for(dependency.condition, &dependency.service, &service.name).await?;
        }
        let image = images.get(&service.name).context("no image")?;
        let mut warnings = Vec::new();
        let deploy = Deploy { image, region: &region, execution_role: role, secret_arns: &secret_arns };
        let request = register_task_definition(&project, service, &deploy, &mut warnings);
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        let name = family(&project.name, &service.name);
        let registered = api
            .ecs("RegisterTaskDefinition", request)
            .await
            .with_context(|| format!("registering the task definition {name}"))?;
        let arn = registered["taskDefinition"]["taskDefinitionArn"].as_str().context("no taskDefinitionArn")?;
        let revision = registered["taskDefinition"]["revision"].as_u64().unwrap_or_default();
        let placement = network.placements.get(&service.name);
        if api.service(&name).await?.is_some() {
            api.ecs("UpdateService", update_service(&project, service, &api.cluster, arn, placement))
                .await
                .with_context(|| format!("updating the service {name}"))?;
            println!("{}: updated {name} to revision {revision}", service.name);
        } else {
            api.ecs("CreateService", create_service(&project, service, &api.cluster, arn, placement))
                .await
                .with_context(|| format!("creating the service {name}"))?;
            println!("{}: created {name} (revision {revision})", service.name);
        }
    }
    watch.until_all_ready().await?;
    println!("{}: {} services running in cluster {}", project.name, project.services.len(), api.cluster);
    Ok(())
}

/// The services in creation order.
fn ordered(project: &Project) -> impl Iterator<Item = &Service> {
    project.order.iter().map(|i| &project.services[*i])
}

/// Polls services and prints each one's line when it changes.
struct Watch<'a> {
    api: &'a Api,
    project: &'a Project,
    since: f64,
    deadline: tokio::time::Instant,
    timeout: Duration,
    shown: HashMap<String, String>,
}

impl Watch<'_> {
    /// The service's progress now, its line printed when it changed; a failed task is an error.
    async fn poll(&mut self, service: &Service) -> anyhow::Result<Progress> {
        let name = family(&self.project.name, &service.name);
        let described = self.api.service(&name).await?.with_context(|| format!("the service {name} is gone"))?;
        let mut tasks = self.api.tasks(&name, "RUNNING").await?;
        tasks.extend(self.api.tasks(&name, "STOPPED").await?);
        let progress = summarise(&described, &tasks, self.since);
        let line = progress.line(health_checked(service));
        if self.shown.get(&service.name) != Some(&line) {
            println!("{}: {line}", service.name);
            self.shown.insert(service.name.clone(), line);
        }
        Ok(progress)
    }

    fn check_deadline(&self, waiting_for: &str) -> anyhow::Result<()> {
        if SystemClock.monotonic() >= self.deadline {
            bail!("timed out after {:?} waiting for {waiting_for}", self.timeout);
        }
        Ok(())
    }

    /// Waits until `dependency` meets `condition` before `dependent` is created.
    async fn wait_for(&mut self, condition: Condition, dependency: &str, dependent: &str) -> anyhow::Result<()> {
        let service = self.project.service(dependency).context("unknown dependency")?;
        let wanted = match condition {
            Condition::Started => "running",
            Condition::Healthy => "healthy",
            Condition::CompletedSuccessfully => "completed successfully",
        };
        println!("{dependent}: waiting for {dependency} to be {wanted}");
        loop {
            let progress = self.poll(service).await?;
            if let (Some(failure), false) = (&progress.failure, condition == Condition::CompletedSuccessfully) {
                bail!("{dependency} failed to start: {failure}");
            }
            let met = match condition {
                Condition::Started => progress.ready(false),
                Condition::Healthy => progress.ready(true),
                Condition::CompletedSuccessfully => {
                    if let Some(failure) = &progress.failure {
                        bail!("{dependency} did not complete successfully: {failure}");
                    }
                    progress.completed
                }
            };
            if met {
                return Ok(());
            }
            self.check_deadline(&format!("{dependency} to be {wanted}"))?;
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until every service runs (and passes its health check for) its desired count.
    async fn until_all_ready(&mut self) -> anyhow::Result<()> {
        let services: Vec<&Service> = ordered(self.project).collect();
        loop {
            let mut waiting = Vec::new();
            for service in &services {
                let progress = self.poll(service).await?;
                if let Some(failure) = &progress.failure {
                    bail!("{} failed to start: {failure}", service.name);
                }
                // A service others wait on to complete successfully is done once it has.
                let done = progress.completed && one_shot(self.project, &service.name);
                if !done && !progress.ready(health_checked(service)) {
                    waiting.push(service.name.as_str());
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            self.check_deadline(&waiting.join(", "))?;
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Whether some service depends on `name` with `service_completed_successfully` (a one-shot job, which an ECS
/// service restarts after it exits: it counts as done once a task has exited 0).
fn one_shot(project: &Project, name: &str) -> bool {
    project
        .services
        .iter()
        .flat_map(|s| &s.depends_on)
        .any(|d| d.service == name && d.condition == Condition::CompletedSuccessfully)
}

/// Whether the service's container has a health check (then "ready" means healthy).
fn health_checked(service: &Service) -> bool {
    service.container.contains_key("healthCheck")
}
