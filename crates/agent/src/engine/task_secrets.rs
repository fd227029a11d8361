//! Container `secrets` and `repositoryCredentials` at task start: the agent asks the server for the values
//! ([`SecretsSource`], the server's `POST /agent/v1/secrets`) before it pulls and creates anything, puts each secret
//! into its container's environment and pulls each image whose container has `repositoryCredentials` with them.
//! A value that cannot be read fails the task before its containers start, with ECS's
//! `ResourceInitializationError: unable to pull secrets or registry auth: ...` reason.
//!
//! Values live only in memory until they reach the engine's container create call (environment secrets), the
//! engine's pull (registry credentials) or a file on the host's `/dev/shm` tmpfs (Berth's file-mode secrets,
//! [`super::secret_files`]): the agent writes them to no other file, no log line and not its data dir, and the
//! desired state it receives carries only `valueFrom`.

use crate::runtime::RegistryCredentials;
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

/// The environment variables each container receives from its secrets, the files it receives from its file-mode
/// secrets (Berth's `berth:file=<path>` names) and the registry credentials its image is pulled with, by container
/// name.
#[derive(Default)]
pub struct SecretEnv {
    env: BTreeMap<String, Vec<(String, String)>>,
    files: BTreeMap<String, Vec<(String, String)>>,
    registry: BTreeMap<String, RegistryCredentials>,
}

impl SecretEnv {
    /// The credentials `container`'s image is pulled with (its `repositoryCredentials`), if it has them.
    pub fn registry(&self, container: &str) -> Option<&RegistryCredentials> {
        self.registry.get(container)
    }

    /// `container`'s file-mode secrets: (path in the container, value).
    pub fn files(&self, container: &str) -> &[(String, String)] {
        self.files.get(container).map(Vec::as_slice).unwrap_or_default()
    }

    /// Sets `container`'s secrets in `env`; a secret wins over an `environment` entry of the same name.
    pub fn inject(&self, container: &str, env: &mut Vec<(String, String)>) {
        for (name, value) in self.env.get(container).into_iter().flatten() {
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

/// The containers of `task` that have `repositoryCredentials`.
pub fn registry_containers(task: &TaskSpec) -> Vec<String> {
    task.containers
        .iter()
        .filter(|c| c.definition.repository_credentials.is_some())
        .map(|c| c.definition.name.clone().unwrap_or_default())
        .collect()
}

/// The registry an image reference names (`host[:port]` before the first `/` when it has a dot, a colon or is
/// `localhost`), Docker Hub's otherwise.
fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => host.to_string(),
        _ => "https://index.docker.io/v1/".to_string(),
    }
}

/// Reads the values of `task`'s secrets and registry credentials; `Err` is the task's stopped reason.
pub async fn fetch(source: Option<&SecretsSource>, task: &TaskSpec) -> Result<SecretEnv, String> {
    let secrets = names(task);
    let registry_credentials = registry_containers(task);
    if secrets.is_empty() && registry_credentials.is_empty() {
        return Ok(SecretEnv::default());
    }
    let Some(source) = source else {
        return Err(format!("{PREFIX}: this agent cannot read secrets"));
    };
    let (asked, asked_registry) = (secrets.len(), registry_credentials.len());
    let request = TaskSecretsRequest { task_arn: task.task_arn.clone(), secrets, registry_credentials, refresh: false };
    let response = source(request).await.map_err(|why| format!("{PREFIX}: {why}"))?;
    if let Some(failure) = response.failure {
        return Err(failure);
    }
    if response.values.len() != asked || response.registry_credentials.len() != asked_registry {
        return Err(format!(
            "{PREFIX}: the server answered {} of {asked} secrets and {} of {asked_registry} registry credentials",
            response.values.len(),
            response.registry_credentials.len()
        ));
    }
    let mut env = SecretEnv::default();
    for v in response.values {
        match berth_model::secret_files::target(&v.name) {
            Some(path) => env.files.entry(v.container_name).or_default().push((path.to_string(), v.value)),
            None => env.env.entry(v.container_name).or_default().push((v.name, v.value)),
        }
    }
    for r in response.registry_credentials {
        let image = task
            .containers
            .iter()
            .find(|c| c.definition.name.as_deref() == Some(r.container_name.as_str()))
            .and_then(|c| c.definition.image.clone())
            .unwrap_or_default();
        let credentials = RegistryCredentials {
            username: r.username,
            password: r.password,
            server_address: Some(registry_of(&image)),
        };
        env.registry.insert(r.container_name, credentials);
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
            answering(Ok(TaskSecretsResponse { values: vec![value("A", "1"), value("B", "2")], ..Default::default() }));
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
        let source = answering(Ok(TaskSecretsResponse { failure: Some(reason.clone()), ..Default::default() }));
        assert_eq!(fetch(Some(&source), &task()).await.err(), Some(reason));
        let source = answering(Err("POST /agent/v1/secrets: connection refused".into()));
        let why = fetch(Some(&source), &task()).await.err().unwrap();
        assert!(why.starts_with("ResourceInitializationError: unable to pull secrets or registry auth:"), "{why}");
        let short = answering(Ok(TaskSecretsResponse { values: vec![value("A", "1")], ..Default::default() }));
        assert!(fetch(Some(&short), &task()).await.is_err());
        assert!(fetch(None, &task()).await.err().unwrap().contains("cannot read secrets"));
    }

    #[tokio::test]
    async fn registry_credentials_are_asked_for_the_containers_that_have_them() {
        let mut t = task();
        t.containers[1].definition.image = Some("127.0.0.1:5000/team/app:1".into());
        t.containers[1].definition.repository_credentials =
            Some(berth_model::ecs::RepositoryCredentials { credentials_parameter: "reg".into() });
        let source: SecretsSource = Arc::new(|req: TaskSecretsRequest| {
            assert_eq!(req.registry_credentials, ["side"]);
            Box::pin(async move {
                Ok(TaskSecretsResponse {
                    values: vec![value("A", "1"), value("B", "2")],
                    registry_credentials: vec![berth_model::agent::TaskRegistryCredentials {
                        container_name: "side".into(),
                        username: "u".into(),
                        password: "p".into(),
                    }],
                    failure: None,
                })
            })
        });
        let env = fetch(Some(&source), &t).await.unwrap();
        let got = env.registry("side").unwrap();
        assert_eq!((got.username.as_str(), got.password.as_str()), ("u", "p"));
        assert_eq!(got.server_address.as_deref(), Some("127.0.0.1:5000"));
        assert!(env.registry("app").is_none());
        // An answer without them fails the task.
        let short =
            answering(Ok(TaskSecretsResponse { values: vec![value("A", "1"), value("B", "2")], ..Default::default() }));
        assert!(fetch(Some(&short), &t).await.is_err());
        assert_eq!(registry_of("busybox:1"), "https://index.docker.io/v1/");
        assert_eq!(registry_of("library/busybox"), "https://index.docker.io/v1/");
        assert_eq!(registry_of("registry.example/busybox"), "registry.example");
    }

    #[tokio::test]
    async fn file_mode_secrets_go_to_files_not_the_environment() {
        let source = answering(Ok(TaskSecretsResponse {
            values: vec![value("A", "1"), value("berth:file=/run/secrets/b", "2")],
            ..Default::default()
        }));
        let env = fetch(Some(&source), &task()).await.unwrap();
        let mut app = vec![];
        env.inject("app", &mut app);
        assert_eq!(app, [("A".to_string(), "1".to_string())]);
        assert_eq!(env.files("app"), [("/run/secrets/b".to_string(), "2".to_string())]);
        assert!(env.files("side").is_empty());
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
