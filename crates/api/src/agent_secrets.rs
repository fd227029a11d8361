//! `POST /agent/v1/secrets`: the values of a task's container `secrets`, for the agent that starts it.
//!
//! The instance token names the asking instance; the task must be placed on it and not stopped, and the names asked
//! for must be exactly those the task's containers list. Each `valueFrom` is read with
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
use berth_control::task_secrets::SecretSource;
use berth_model::agent::{TaskSecretName, TaskSecretValue, TaskSecretsRequest, TaskSecretsResponse};
use http::{HeaderMap, StatusCode};

/// The reason a task fails when the server has no secrets store.
const NO_STORE: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource \
                        retrieval failed: this Berth server has no secrets store";

/// `POST /agent/v1/secrets` with the instance token.
pub async fn task_secrets(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let (cluster, id) = app.inner.control.authenticate_agent(bearer(&headers)?)?;
    let req: TaskSecretsRequest = decode(&body)?;
    let sources = app.inner.control.task_secret_sources(&cluster, &id, &req.task_arn)?;
    check_names(&sources.secrets, &req.secrets)?;
    let response = match &app.inner.task_secrets {
        None => TaskSecretsResponse { values: Vec::new(), failure: Some(NO_STORE.to_string()) },
        Some(store) => {
            let role: Box<dyn berth_secrets::ResolveAuthorizer> = match app.inner.credentials.iam() {
                Some(iam) => Box::new(berth_secrets::IamExecutionRole {
                    iam: iam.clone(),
                    role: sources.execution_role_arn.clone(),
                }),
                None => Box::new(berth_secrets::ExecutionRole(sources.execution_role_arn.clone())),
            };
            let mut values = Vec::with_capacity(sources.secrets.len());
            let mut failure = None;
            for s in &sources.secrets {
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
            TaskSecretsResponse { values, failure }
        }
    };
    Ok(json_response(encode(&response)?))
}

/// The agent must ask for exactly the secrets the task's containers list (no more, no fewer, none twice).
fn check_names(sources: &[SecretSource], asked: &[TaskSecretName]) -> Result<(), ApiError> {
    let mut listed: Vec<(&str, &str)> = sources.iter().map(|s| (s.container.as_str(), s.name.as_str())).collect();
    let mut asked: Vec<(&str, &str)> = asked.iter().map(|s| (s.container_name.as_str(), s.name.as_str())).collect();
    listed.sort_unstable();
    asked.sort_unstable();
    if listed == asked {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "ClientException",
        "The secrets asked for are not those the task's container definitions list.",
    ))
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
