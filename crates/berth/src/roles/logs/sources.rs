//! Which log streams hold a service's or a task's output. A task's containers log where their task definition's
//! `logConfiguration` says: with the awslogs driver, group `awslogs-group` and stream `awslogs-stream`, or
//! `prefix/container-name/task-id` with `awslogs-stream-prefix`, or else the container's runtime id (read with
//! [`AwsLogsOptions::stream_name`], as the agent names them). Containers with another driver are not in the store:
//! they become notes naming `docker logs` on their host.

use super::super::aws::api_error;
use anyhow::{Context, bail};
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus, LogDriver, Task};
use berth_model::awslogs::AwsLogsOptions;
use std::collections::{BTreeMap, HashMap};

/// One container's log stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// The task's id (the last part of its ARN).
    pub task_id: String,
    /// The container's name.
    pub container: String,
    /// The log group.
    pub group: String,
    /// The log stream.
    pub stream: String,
}

/// A container whose output cannot be read here (yet), and why; `key` names it so it is said once.
#[derive(Debug, Clone)]
pub struct Note {
    /// Task id, container and the kind of note.
    pub key: String,
    /// What to tell the user.
    pub text: String,
}

/// What `berth logs` was asked for.
#[derive(Debug, Clone)]
enum Target {
    /// A service's tasks, running and recently stopped (by the name DescribeServices gave).
    Service(String),
    /// One task (its ARN).
    Task(String),
}

/// Finds the streams of a target, remembering task definitions between calls (follow mode calls again to see a
/// service's new tasks).
pub struct Resolver {
    ecs: Client,
    cluster: String,
    target: Target,
    definitions: HashMap<String, Vec<ContainerDefinition>>,
}

/// The end of the key of a note on a container whose stream is not known until it starts.
pub const NOT_STARTED: &str = "not-started";

/// The ECS limit of ARNs per DescribeTasks call.
const DESCRIBE_BATCH: usize = 100;

impl Resolver {
    /// Decides whether `name` is a service or a task of `cluster` (a service first, unless it is a task ARN); an
    /// error when it is neither.
    pub async fn new(ecs: Client, cluster: &str, name: &str) -> anyhow::Result<Self> {
        let target = if name.starts_with("arn:") && name.contains(":task/") {
            Target::Task(name.to_string())
        } else if let Some(service) = find_service(&ecs, cluster, name).await? {
            Target::Service(service)
        } else if let Some(task) = describe_tasks(&ecs, cluster, &[name.to_string()]).await?.into_iter().next() {
            Target::Task(task.task_arn.unwrap_or_else(|| name.to_string()))
        } else {
            bail!("there is no service or task {name:?} in cluster {cluster:?}");
        };
        Ok(Self { ecs, cluster: cluster.to_string(), target, definitions: HashMap::new() })
    }

    /// Whether the target is a service (whose tasks come and go).
    pub fn is_service(&self) -> bool {
        matches!(self.target, Target::Service(_))
    }

    /// The streams of the target's containers now, and notes on the containers that have none.
    pub async fn resolve(&mut self) -> anyhow::Result<(Vec<Source>, Vec<Note>)> {
        let tasks = match &self.target {
            Target::Task(arn) => {
                let tasks = describe_tasks(&self.ecs, &self.cluster, std::slice::from_ref(arn)).await?;
                if tasks.is_empty() {
                    bail!("task {arn} is no longer known in cluster {:?}", self.cluster);
                }
                tasks
            }
            Target::Service(service) => {
                let mut arns = list_tasks(&self.ecs, &self.cluster, service, DesiredStatus::Running).await?;
                arns.extend(list_tasks(&self.ecs, &self.cluster, service, DesiredStatus::Stopped).await?);
                describe_tasks(&self.ecs, &self.cluster, &arns).await?
            }
        };
        let mut sources = Vec::new();
        let mut notes = Vec::new();
        for task in &tasks {
            let containers = self.definition(task).await?;
            let task_id = task.task_arn().and_then(|a| a.rsplit('/').next()).unwrap_or_default().to_string();
            for definition in &containers {
                let name = definition.name().unwrap_or_default();
                let runtime_id = task
                    .containers()
                    .iter()
                    .find(|c| c.name() == Some(name))
                    .and_then(|c| c.runtime_id())
                    .unwrap_or_default();
                match stream_of(definition, &task_id, runtime_id) {
                    Ok(Some((group, stream))) => {
                        sources.push(Source { task_id: task_id.clone(), container: name.to_string(), group, stream })
                    }
                    Ok(None) => notes.push(Note {
                        key: format!("{task_id}/{name}/{NOT_STARTED}"),
                        text: format!(
                            "{task_id}/{name}: not started yet (its awslogs stream is named after its container id)"
                        ),
                    }),
                    Err(why) => notes.push(Note {
                        key: format!("{task_id}/{name}/driver"),
                        text: self.elsewhere(task, &task_id, name, runtime_id, &why).await,
                    }),
                }
            }
        }
        sources.sort();
        sources.dedup();
        Ok((sources, notes))
    }

    /// The container definitions of a task's task definition (described once per revision).
    async fn definition(&mut self, task: &Task) -> anyhow::Result<Vec<ContainerDefinition>> {
        let arn = task.task_definition_arn().context("a task without a task definition ARN")?.to_string();
        if let Some(containers) = self.definitions.get(&arn) {
            return Ok(containers.clone());
        }
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .map_err(|e| api_error("DescribeTaskDefinition", e))?;
        let containers = out.task_definition.map(|d| d.container_definitions.unwrap_or_default()).unwrap_or_default();
        self.definitions.insert(arn, containers.clone());
        Ok(containers)
    }

    /// The note for a container whose output is not in the log store (`why`): where `docker logs` would find it.
    async fn elsewhere(&self, task: &Task, task_id: &str, name: &str, runtime_id: &str, why: &str) -> String {
        let host = match task.container_instance_arn() {
            Some(arn) => self
                .ecs
                .describe_container_instances()
                .cluster(&self.cluster)
                .container_instances(arn)
                .send()
                .await
                .ok()
                .and_then(|o| o.container_instances?.into_iter().next()?.ec2_instance_id)
                .unwrap_or_else(|| "its host".to_string()),
            None => "its host".to_string(),
        };
        let container = if runtime_id.is_empty() { "<container id>" } else { runtime_id };
        format!(
            "{task_id}/{name} {why}, so its output is not in Berth's log store; \
             `docker logs {container}` on {host} shows it"
        )
    }
}

/// A container's `(group, stream)`: `Ok(None)` when the stream is named after a container id not known yet,
/// `Err(why)` when the container does not log with awslogs (or its options do not read).
fn stream_of(
    definition: &ContainerDefinition,
    task_id: &str,
    runtime_id: &str,
) -> Result<Option<(String, String)>, String> {
    let Some(config) = definition.log_configuration() else {
        return Err("logs with Docker's default driver".to_string());
    };
    if config.log_driver() != &LogDriver::Awslogs {
        return Err(format!("logs with the {} driver", config.log_driver().as_str()));
    }
    let options: BTreeMap<String, String> =
        config.options().map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let options =
        AwsLogsOptions::parse(&options, None).map_err(|e| format!("has awslogs options Berth cannot read ({e})"))?;
    if options.stream.is_none() && options.stream_prefix.is_none() && runtime_id.is_empty() {
        return Ok(None);
    }
    let stream = options.stream_name(definition.name().unwrap_or_default(), task_id, runtime_id);
    Ok(Some((options.group, stream)))
}

/// The service's name when `name` (a name or an ARN) is an active or draining service of the cluster.
async fn find_service(ecs: &Client, cluster: &str, name: &str) -> anyhow::Result<Option<String>> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .map_err(|e| api_error("DescribeServices", e))?;
    Ok(out
        .services
        .unwrap_or_default()
        .into_iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .and_then(|s| s.service_name))
}

/// A service's tasks with this desired status, following the pages.
async fn list_tasks(ecs: &Client, cluster: &str, service: &str, status: DesiredStatus) -> anyhow::Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let out = ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(status.clone())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| api_error("ListTasks", e))?;
        arns.extend(out.task_arns.unwrap_or_default());
        token = out.next_token;
        if token.is_none() {
            return Ok(arns);
        }
    }
}

/// Describes tasks (ids or ARNs) in batches; unknown ones are left out.
async fn describe_tasks(ecs: &Client, cluster: &str, tasks: &[String]) -> anyhow::Result<Vec<Task>> {
    let mut out = Vec::new();
    for batch in tasks.chunks(DESCRIBE_BATCH) {
        let described = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| api_error("DescribeTasks", e))?;
        out.extend(described.tasks.unwrap_or_default());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::LogConfiguration;

    fn container(driver: Option<LogDriver>, options: &[(&str, &str)]) -> ContainerDefinition {
        let mut builder = ContainerDefinition::builder().name("app");
        if let Some(driver) = driver {
            let mut log = LogConfiguration::builder().log_driver(driver);
            for (k, v) in options {
                log = log.options(*k, *v);
            }
            builder = builder.log_configuration(log.build().unwrap());
        }
        builder.build()
    }

    #[test]
    fn awslogs_streams_are_named_as_the_agent_names_them() {
        let prefixed =
            container(Some(LogDriver::Awslogs), &[("awslogs-group", "/g"), ("awslogs-stream-prefix", "ecs")]);
        assert_eq!(stream_of(&prefixed, "t1", "c1"), Ok(Some(("/g".into(), "ecs/app/t1".into()))));
        let bare = container(Some(LogDriver::Awslogs), &[("awslogs-group", "/g")]);
        assert_eq!(stream_of(&bare, "t1", "c1"), Ok(Some(("/g".into(), "c1".into()))));
        assert_eq!(stream_of(&bare, "t1", ""), Ok(None), "no container id yet");
        let named = container(Some(LogDriver::Awslogs), &[("awslogs-group", "/g"), ("awslogs-stream", "s")]);
        assert_eq!(stream_of(&named, "t1", ""), Ok(Some(("/g".into(), "s".into()))));
    }

    #[test]
    fn other_drivers_are_named() {
        assert_eq!(stream_of(&container(None, &[]), "t", "c"), Err("logs with Docker's default driver".into()));
        assert_eq!(
            stream_of(&container(Some(LogDriver::JsonFile), &[]), "t", "c"),
            Err("logs with the json-file driver".into())
        );
        let broken = stream_of(&container(Some(LogDriver::Awslogs), &[]), "t", "c").unwrap_err();
        assert!(broken.contains("awslogs-group"), "{broken}");
    }
}
