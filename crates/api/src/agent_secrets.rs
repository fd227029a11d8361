//! `POST /agent/v1/secrets`: the values of a task's container `secrets` and its containers' private registry
//! credentials (`repositoryCredentials`), for the agent that starts it.
//!
//! The instance token names the asking instance; the task must be placed on it and not stopped, and the names asked
//! for must be exactly those the task's containers list (and the registry credentials those of exactly the
//! containers with `repositoryCredentials`, read with [`berth_secrets::Secrets::resolve_registry_credentials`]).
//! Each `valueFrom` is read with
//! [`berth_secrets::Secrets::resolve`] under the task's execution role ([`berth_secrets::IamExecutionRole`]: its
//! trust policy and its IAM policies).
//! A value that cannot be read answers the task's stopped reason (`ResourceInitializationError: ...`) instead of
//! values. Values go only into this response: never into a log line, an error or a record.

use crate::AppState;
use crate::agent::{bearer, json_response};
use crate::error::ApiError;
use crate::protocol::json11::{decode, encode};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use berth_control::task_secrets::{RegistrySource, SecretSource};
use berth_model::agent::{
    TaskRegistryCredentials, TaskSecretName, TaskSecretValue, TaskSecretsRequest, TaskSecretsResponse,
};
use http::{HeaderMap, StatusCode};

/// The reason a task fails when the server has no secrets store.
const NO_STORE: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource \
                        retrieval failed: this Berth server has no secrets store";

/// `POST /agent/v1/secrets` with the instance token.
pub async fn task_secrets(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let (cluster, id) = app.inner.control.authenticate_agent(bearer(&headers)?)?;
    let req: TaskSecretsRequest = decode(&body)?;
    let mut sources = app.inner.control.task_secret_sources(&cluster, &id, &req.task_arn)?;
    if req.refresh {
        // A running task's file-mode secrets, asked for again: only those.
        sources.secrets.retain(|s| berth_model::secret_files::target(&s.name).is_some());
        sources.registry.clear();
    }
    check_names(&sources.secrets, &req.secrets)?;
    check_registry(&sources.registry, &req.registry_credentials)?;
    let response = match &app.inner.task_secrets {
        None => TaskSecretsResponse { failure: Some(NO_STORE.to_string()), ..Default::default() },
        Some(store) => {
            let role: Box<dyn berth_secrets::ResolveAuthorizer> = match app.inner.credentials.iam() {
                Some(iam) => Box::new(berth_secrets::IamExecutionRole {
                    iam: iam.clone(),
                    role: sources.execution_role_arn.clone(),
                }),
                None => Box::new(berth_secrets::ExecutionRole(sources.execution_role_arn.clone())),
            };
            let mut values = Vec::with_capacity(sources.secrets.len());
            let mut registry_credentials = Vec::with_capacity(sources.registry.len());
            let mut failure = None;
            for r in &sources.registry {
                match store.resolve_registry_credentials(&r.credentials_parameter, role.as_ref()).await {
                    Ok(login) => registry_credentials.push(TaskRegistryCredentials {
                        container_name: r.container.clone(),
                        username: login.username.clone(),
                        password: login.password.expose().to_string(),
                    }),
                    Err(error) => {
                        tracing::info!(task = %req.task_arn, container = %r.container,
                            "a task's registry credentials cannot be read; the task fails to start");
                        failure = Some(error.to_string());
                        registry_credentials.clear();
                        break;
                    }
                }
            }
            for s in sources.secrets.iter().take_while(|_| failure.is_none()) {
                match store.resolve(&s.value_from, role.as_ref()).await {
                    Ok(value) => values.push(TaskSecretValue {
                        container_name: s.container.clone(),
                        name: s.name.clone(),
                        value: value.expose().to_string(),
                    }),
                    Err(error) => {
                        tracing::info!(task = %req.task_arn, container = %s.container, secret = %s.name,
                            "a task's secret cannot be read; the task fails to start");
                        failure = Some(error.to_string());
                        values.clear();
                        break;
                    }
                }
            }
            TaskSecretsResponse { values, failure, registry_credentials }
        }
    };
    announce_new_file_versions(&app, (&cluster, &id), &req, &response).await;
    Ok(json_response(encode(&response)?))
}

/// Records the file-mode values delivered; a new value reaching a running task (`refresh`) becomes an event of its
/// service. A failure to record the event is logged: the file is replaced all the same.
async fn announce_new_file_versions(
    app: &AppState,
    (cluster, instance): (&str, &str),
    req: &TaskSecretsRequest,
    response: &TaskSecretsResponse,
) {
    for v in &response.values {
        let Some(path) = berth_model::secret_files::target(&v.name) else { continue };
        let now = app.inner.control.clock().now();
        if !app.inner.secret_files.changed(&req.task_arn, &v.container_name, &v.name, &v.value, now) || !req.refresh {
            continue;
        }
        let task_id = req.task_arn.rsplit('/').next().unwrap_or_default();
        let message = format!(
            "(task {task_id}) delivered a new version of the secret file {path} to container {}.",
            v.container_name
        );
        if let Err(error) = app.inner.control.task_service_event(cluster, instance, &req.task_arn, &message).await {
            tracing::warn!(task = %req.task_arn, %error, "cannot record a secret file rotation as a service event");
        }
    }
}

/// The agent must ask for exactly the secrets the task's containers list (no more, no fewer, none twice).
fn check_names(sources: &[SecretSource], asked: &[TaskSecretName]) -> Result<(), ApiError> {
    same_items(
        sources.iter().map(|s| (s.container.as_str(), s.name.as_str())),
        asked.iter().map(|s| (s.container_name.as_str(), s.name.as_str())),
        "The secrets asked for are not those the task's container definitions list.",
    )
}

/// The agent must ask for the registry credentials of exactly the containers that have `repositoryCredentials`.
fn check_registry(sources: &[RegistrySource], asked: &[String]) -> Result<(), ApiError> {
    same_items(
        sources.iter().map(|s| s.container.as_str()),
        asked.iter().map(String::as_str),
        "The registry credentials asked for are not those the task's container definitions list.",
    )
}

/// Whether two lists hold the same items, counting repeats; a `ClientException` with `message` when not.
fn same_items<T: Ord>(
    listed: impl Iterator<Item = T>,
    asked: impl Iterator<Item = T>,
    message: &str,
) -> Result<(), ApiError> {
    let mut listed: Vec<T> = listed.collect();
    let mut asked: Vec<T> = asked.collect();
    listed.sort_unstable();
    asked.sort_unstable();
    if listed == asked {
        return Ok(());
    }
    Err(ApiError::new(StatusCode::BAD_REQUEST, "ClientException", message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(container: &str, name: &str) -> SecretSource {
        SecretSource { container: container.into(), name: name.into(), value_from: "/p".into() }
    }

    fn asked(container: &str, name: &str) -> TaskSecretName {
        TaskSecretName { container_name: container.into(), name: name.into() }
    }

    #[test]
    fn registry_credentials_asked_for_must_be_exactly_those_listed() {
        let listed = [RegistrySource { container: "app".into(), credentials_parameter: "reg".into() }];
        assert!(check_registry(&listed, &["app".into()]).is_ok());
        assert!(check_registry(&[], &[]).is_ok());
        for bad in [vec![], vec!["side".to_string()], vec!["app".into(), "app".into()]] {
            assert!(check_registry(&listed, &bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_names_asked_for_must_be_exactly_those_listed() {
        let listed = [source("app", "A"), source("app", "B"), source("side", "A")];
        assert!(check_names(&listed, &[asked("side", "A"), asked("app", "B"), asked("app", "A")]).is_ok());
        assert!(check_names(&[], &[]).is_ok());
        for bad in [
            vec![asked("app", "A"), asked("app", "B")],
            vec![asked("app", "A"), asked("app", "B"), asked("side", "A"), asked("side", "B")],
            vec![asked("app", "A"), asked("app", "A"), asked("side", "A")],
            vec![asked("side", "A"), asked("side", "B"), asked("app", "A")],
        ] {
            assert!(check_names(&listed, &bad).is_err(), "{bad:?}");
        }
    }
}
