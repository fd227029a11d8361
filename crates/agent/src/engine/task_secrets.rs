//! Container `secrets` at task start: the agent asks the server for the values ([`SecretsSource`], the server's
//! `POST /agent/v1/secrets`) before it pulls and creates anything, and puts each into its container's environment.
//! A value that cannot be read fails the task before its containers start, with ECS's
//! `ResourceInitializationError: unable to pull secrets or registry auth: ...` reason.
//!
//! Values live only in memory until they reach the engine's container create call: the agent writes them to no file
//! and no log line, and the desired state it receives carries only `valueFrom`.

use berth_model::agent::{TaskSecretName, TaskSecretsRequest, TaskSecretsResponse, TaskSpec};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Reads a task's secret values (the server call, with the instance token); `Err` is why it could not ask.
pub type SecretsSource = Arc<
    dyn Fn(TaskSecretsRequest) -> futures::future::BoxFuture<'static, Result<TaskSecretsResponse, String>>
        + Send
        + Sync,
>;

const PREFIX: &str =
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed";

/// The environment variables each container receives from its secrets, by container name.
#[derive(Default)]
pub struct SecretEnv(BTreeMap<String, Vec<(String, String)>>);

impl SecretEnv {
    /// Sets `container`'s secrets in `env`; a secret wins over an `environment` entry of the same name.
    pub fn inject(&self, container: &str, env: &mut Vec<(String, String)>) {
        for (name, value) in self.0.get(container).into_iter().flatten() {
            env.retain(|(k, _)| k != name);
            env.push((name.clone(), value.clone()));
        }
    }
}

/// The secrets every container of `task` lists (the server answers only when asked for exactly these).
pub fn names(task: &TaskSpec) -> Vec<TaskSecretName> {
    task.containers
        .iter()
        .flat_map(|c| {
            let container = c.definition.name.clone().unwrap_or_default();
            c.definition
                .secrets
                .iter()
                .flatten()
                .map(move |s| TaskSecretName { container_name: container.clone(), name: s.name.clone() })
        })
        .collect()
}

/// Reads the values of `task`'s secrets; `Err` is the task's stopped reason.
pub async fn fetch(source: Option<&SecretsSource>, task: &TaskSpec) -> Result<SecretEnv, String> {
    let secrets = names(task);
    if secrets.is_empty() {
        return Ok(SecretEnv::default());
    }
    let Some(source) = source else {
        return Err(format!("{PREFIX}: this agent cannot read secrets"));
    };
    let asked = secrets.len();
    let response = source(TaskSecretsRequest { task_arn: task.task_arn.clone(), secrets })
        .await
        .map_err(|why| format!("{PREFIX}: {why}"))?;
    if let Some(failure) = response.failure {
        return Err(failure);
    }
    if response.values.len() != asked {
        return Err(format!("{PREFIX}: the server answered {} of {asked} secrets", response.values.len()));
    }
    let mut env = SecretEnv::default();
    for v in response.values {
        env.0.entry(v.container_name).or_default().push((v.name, v.value));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::agent::{ContainerSpec, TaskSecretValue};
    use berth_model::ecs::{ContainerDefinition, Secret};

    fn task() -> TaskSpec {
        let container = |name: &str, secrets: &[&str]| ContainerSpec {
            container_arn: format!("arn:{name}"),
            definition: ContainerDefinition {
                name: Some(name.into()),
                secrets: Some(secrets.iter().map(|s| Secret { name: (*s).into(), value_from: "/p".into() }).collect()),
                ..Default::default()
            },
        };
        TaskSpec {
            task_arn: "arn:task".into(),
            containers: vec![container("app", &["A", "B"]), container("side", &[])],
            ..Default::default()
        }
    }

    fn answering(response: Result<TaskSecretsResponse, String>) -> SecretsSource {
        Arc::new(move |req: TaskSecretsRequest| {
            assert_eq!(req.task_arn, "arn:task");
            assert_eq!(req.secrets.len(), 2);
            let response = response.clone();
            Box::pin(async move { response })
        })
    }

    fn value(name: &str, value: &str) -> TaskSecretValue {
        TaskSecretValue { container_name: "app".into(), name: name.into(), value: value.into() }
    }

    #[tokio::test]
    async fn values_reach_their_containers_environment_and_win_over_environment() {
        let source =
            answering(Ok(TaskSecretsResponse { values: vec![value("A", "1"), value("B", "2")], failure: None }));
        let env = fetch(Some(&source), &task()).await.unwrap();
        let mut app = vec![("A".to_string(), "plain".to_string()), ("C".to_string(), "3".to_string())];
        env.inject("app", &mut app);
        assert_eq!(app, [("C", "3"), ("A", "1"), ("B", "2")].map(|(k, v)| (k.to_string(), v.to_string())));
        let mut side = vec![];
        env.inject("side", &mut side);
        assert!(side.is_empty());
    }

    #[tokio::test]
    async fn failures_are_the_tasks_stopped_reason() {
        let reason = format!("{PREFIX}: unable to retrieve secret from asm: ...");
        let source = answering(Ok(TaskSecretsResponse { values: vec![], failure: Some(reason.clone()) }));
        assert_eq!(fetch(Some(&source), &task()).await.err(), Some(reason));
        let source = answering(Err("POST /agent/v1/secrets: connection refused".into()));
        let why = fetch(Some(&source), &task()).await.err().unwrap();
        assert!(why.starts_with("ResourceInitializationError: unable to pull secrets or registry auth:"), "{why}");
        let short = answering(Ok(TaskSecretsResponse { values: vec![value("A", "1")], failure: None }));
        assert!(fetch(Some(&short), &task()).await.is_err());
        assert!(fetch(None, &task()).await.err().unwrap().contains("cannot read secrets"));
    }

    #[tokio::test]
    async fn a_task_without_secrets_asks_nothing() {
        let mut t = task();
        t.containers.truncate(0);
        let never: SecretsSource = Arc::new(|_| panic!("asked"));
        assert!(fetch(Some(&never), &t).await.is_ok());
        assert!(fetch(None, &t).await.is_ok());
    }
}
