//! Container `secrets` (ECS's `secrets[].name` + `valueFrom`): the checks at RunTask/StartTask/CreateService/
//! UpdateService, and what the server tells an agent a task's containers may receive.
//!
//! The values themselves are never here: the task record and the desired state carry only `valueFrom`. The agent
//! asks for the values when it starts the task (`POST /agent/v1/secrets`), and the API layer resolves them with
//! `berth_secrets` after [`Control::task_secret_sources`] has checked that the task is the asking instance's.

use crate::optimistic::Attempt;
use crate::{Control, ControlError, Result};
use berth_model::ecs::{ContainerDefinition, TaskDefinition};
use berth_model::secret_files;
use berth_store::Txn;

/// ECS's refusal of container secrets without an execution role.
pub const EXECUTION_ROLE_REQUIRED: &str =
    "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.";

/// Berth's refusal of `repositoryCredentials` without an execution role, worded as ECS's refusal of secrets (ECS's
/// own text for this case is not documented; its agent reads the secret with the execution role).
pub const EXECUTION_ROLE_REQUIRED_FOR_REGISTRY: &str =
    "When you are specifying repositoryCredentials, you must also specify a value for 'executionRoleArn'.";

/// Checks the containers' `secrets` and `repositoryCredentials` as ECS does before a task starts: each secret names
/// an environment variable and a source, each `repositoryCredentials` a secret, and the task definition names the
/// execution role that reads them.
pub fn validate(definition: &TaskDefinition, containers: &[ContainerDefinition]) -> Result<()> {
    let mut any = false;
    let no_role = definition.execution_role_arn.as_deref().is_none_or(str::is_empty);
    for c in containers {
        let container = c.name.as_deref().unwrap_or_default();
        if let Some(credentials) = &c.repository_credentials {
            if credentials.credentials_parameter.trim().is_empty() {
                return Err(ControlError::client(format!(
                    "Container {container}: repositoryCredentials needs a credentialsParameter (a Secrets Manager \
                     secret's name or ARN)."
                )));
            }
            if no_role {
                return Err(ControlError::client(EXECUTION_ROLE_REQUIRED_FOR_REGISTRY));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut directories: Vec<&str> = Vec::new();
        for secret in c.secrets.iter().flatten() {
            any = true;
            if let Some(path) = secret_files::target(&secret.name) {
                // Berth's file-mode secret: a file on a read-only tmpfs instead of an environment variable.
                secret_files::check(path).map_err(|why| {
                    ControlError::client(format!("Container {container}: secret {}: {why}.", secret.name))
                })?;
                let (directory, _) = secret_files::split(path);
                if let Some(other) = directories.iter().find(|d| **d != directory && secret_files::nested(d, directory))
                {
                    return Err(ControlError::client(format!(
                        "Container {container}: secret {}: the directories of file secrets cannot contain one \
                         another ({other} and {directory}).",
                        secret.name
                    )));
                }
                directories.push(directory);
            } else if let Some(why) = bad_name(&secret.name) {
                return Err(ControlError::client(format!(
                    "Container {container}: secret name {:?} {why}.",
                    secret.name
                )));
            }
            if secret.value_from.trim().is_empty() {
                return Err(ControlError::client(format!(
                    "Container {container}: secret {} needs a valueFrom (a Secrets Manager secret ARN, or an SSM \
                     parameter name or ARN).",
                    secret.name
                )));
            }
            if !seen.insert(secret.name.as_str()) {
                return Err(ControlError::client(format!(
                    "Container {container}: secret {} is named more than once.",
                    secret.name
                )));
            }
        }
    }
    if any && no_role {
        return Err(ControlError::client(EXECUTION_ROLE_REQUIRED));
    }
    Ok(())
}

/// Why `name` cannot be an environment variable's name (Docker's rule: not empty, no `=`, no NUL).
fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty; it becomes an environment variable's name")
    } else if name.contains('=') || name.contains('\0') {
        Some("cannot be an environment variable's name (no '=' or NUL)")
    } else {
        None
    }
}

/// One secret a container of a task receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// The container's name.
    pub container: String,
    /// The environment variable's name.
    pub name: String,
    /// Where the value is (`valueFrom`).
    pub value_from: String,
}

/// A container's private registry credentials secret (`repositoryCredentials.credentialsParameter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySource {
    /// The container's name.
    pub container: String,
    /// The secret's name or ARN.
    pub credentials_parameter: String,
}

/// A task's secrets as the server resolves them for its agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSecretSources {
    /// The task definition's execution role, the identity that reads the values.
    pub execution_role_arn: Option<String>,
    /// Every container's secrets, in task definition order.
    pub secrets: Vec<SecretSource>,
    /// Every container's registry credentials, in task definition order.
    pub registry: Vec<RegistrySource>,
}

impl Control {
    /// Adds `message` to the events of the service `task_arn` (placed on the asking instance, not stopped) belongs
    /// to; nothing for a task outside a service.
    pub async fn task_service_event(
        &self,
        cluster: &str,
        instance_id: &str,
        task_arn: &str,
        message: &str,
    ) -> Result<()> {
        self.write("recording a service event of a task", |state, now| {
            let record = crate::agent_task_access::running_task_of_instance(state, cluster, instance_id, task_arn)?;
            let Some(service) = record.group.as_deref().and_then(|g| g.strip_prefix("service:")) else {
                return Ok(Attempt::Done(()));
            };
            let Some(v) = state.services.get(&(record.cluster.clone(), service.to_string())) else {
                return Ok(Attempt::Done(()));
            };
            let mut service = (*v.record).clone();
            self.service_env(now).push_event(&mut service, message.to_string());
            let key = crate::records::keys::service(&record.cluster, &service.name);
            let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, crate::encode(&service)?);
            Ok(Attempt::Commit(txn, ()))
        })
        .await
    }

    /// The secrets of `task_arn` for the agent of `instance_id` (authenticated by the caller): refused unless the
    /// task is placed on that instance and not stopped.
    pub fn task_secret_sources(&self, cluster: &str, instance_id: &str, task_arn: &str) -> Result<TaskSecretSources> {
        let state = self.cache.read();
        let record = crate::agent_task_access::running_task_of_instance(&state, cluster, instance_id, task_arn)?;
        let execution_role_arn = match crate::daemons::task_definitions::definition_of_task(&state, record) {
            Some(daemon) => daemon.definition.execution_role_arn.clone(),
            None => crate::agent_task_access::definition_of(&state, record)
                .and_then(|d| d.task_definition.execution_role_arn.clone()),
        }
        .filter(|r| !r.is_empty());
        let secrets = record
            .containers
            .iter()
            .flat_map(|c| {
                let container = c.definition.name.clone().unwrap_or_default();
                c.definition.secrets.iter().flatten().map(move |s| SecretSource {
                    container: container.clone(),
                    name: s.name.clone(),
                    value_from: s.value_from.clone(),
                })
            })
            .collect();
        let registry = record
            .containers
            .iter()
            .filter_map(|c| {
                let credentials = c.definition.repository_credentials.as_ref()?;
                Some(RegistrySource {
                    container: c.definition.name.clone().unwrap_or_default(),
                    credentials_parameter: credentials.credentials_parameter.clone(),
                })
            })
            .collect();
        Ok(TaskSecretSources { execution_role_arn, secrets, registry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EcsException;
    use berth_model::ecs::Secret;

    fn container(secrets: &[(&str, &str)]) -> ContainerDefinition {
        ContainerDefinition {
            name: Some("app".into()),
            secrets: Some(secrets.iter().map(|(n, v)| Secret { name: (*n).into(), value_from: (*v).into() }).collect()),
            ..Default::default()
        }
    }

    fn refusal(result: Result<()>) -> String {
        match result {
            Err(ControlError::Ecs { exception: EcsException::ClientException, message, .. }) => message,
            other => panic!("expected a ClientException, got {other:?}"),
        }
    }

    #[test]
    fn secrets_with_an_execution_role_pass() {
        let td = TaskDefinition { execution_role_arn: Some("arn:aws:iam::1:role/exec".into()), ..Default::default() };
        validate(&td, &[container(&[("DB", "/app/db"), ("KEY", "arn:aws:secretsmanager:r:1:secret:k")])]).unwrap();
        // No secrets: no role needed.
        validate(&TaskDefinition::default(), &[container(&[])]).unwrap();
    }

    #[test]
    fn secrets_need_an_execution_role_as_ecs_words_it() {
        for role in [None, Some(String::new())] {
            let td = TaskDefinition { execution_role_arn: role, ..Default::default() };
            assert_eq!(refusal(validate(&td, &[container(&[("DB", "/app/db")])])), EXECUTION_ROLE_REQUIRED);
        }
    }

    #[test]
    fn bad_names_and_sources_are_refused() {
        let td = TaskDefinition { execution_role_arn: Some("arn:aws:iam::1:role/exec".into()), ..Default::default() };
        assert!(refusal(validate(&td, &[container(&[("", "/x")])])).contains("is empty"));
        assert!(refusal(validate(&td, &[container(&[("A=B", "/x")])])).contains("'='"));
        assert!(refusal(validate(&td, &[container(&[("A", " ")])])).contains("needs a valueFrom"));
        assert!(refusal(validate(&td, &[container(&[("A", "/x"), ("A", "/y")])])).contains("more than once"));
    }

    #[test]
    fn repository_credentials_need_a_secret_and_an_execution_role() {
        let mut c = container(&[]);
        c.repository_credentials = Some(berth_model::ecs::RepositoryCredentials {
            credentials_parameter: "arn:aws:secretsmanager:us-east-1:1:secret:reg".into(),
        });
        assert_eq!(refusal(validate(&TaskDefinition::default(), &[c.clone()])), EXECUTION_ROLE_REQUIRED_FOR_REGISTRY);
        let td = TaskDefinition { execution_role_arn: Some("arn:aws:iam::1:role/exec".into()), ..Default::default() };
        validate(&td, &[c.clone()]).unwrap();
        c.repository_credentials =
            Some(berth_model::ecs::RepositoryCredentials { credentials_parameter: String::new() });
        assert!(refusal(validate(&td, &[c])).contains("needs a credentialsParameter"));
    }

    #[test]
    fn file_secrets_need_a_clean_path_in_directories_that_do_not_overlap() {
        let td = TaskDefinition { execution_role_arn: Some("arn:aws:iam::1:role/exec".into()), ..Default::default() };
        let ok = [("berth:file=/run/secrets/db", "/p"), ("berth:file=/run/secrets/api", "/q"), ("ENV", "/r")];
        validate(&td, &[container(&ok)]).unwrap();
        validate(&td, &[container(&[("berth:file=/etc/app/key", "/p"), ("berth:file=/run/x/y", "/q")])]).unwrap();
        assert!(refusal(validate(&td, &[container(&[("berth:file=run/db", "/p")])])).contains("must be absolute"));
        assert!(refusal(validate(&td, &[container(&[("berth:file=/db", "/p")])])).contains("other than '/'"));
        let nested = [("berth:file=/run/secrets/db", "/p"), ("berth:file=/run/secrets/sub/key", "/q")];
        assert!(refusal(validate(&td, &[container(&nested)])).contains("cannot contain one another"));
        // Still a secret: it needs the execution role.
        let e = refusal(validate(&TaskDefinition::default(), &[container(&ok[..1])]));
        assert_eq!(e, EXECUTION_ROLE_REQUIRED);
    }
}
