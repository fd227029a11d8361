//! `POST /agent/v1/credentials`: a task role's session credentials, for the agent that serves them to the task's
//! containers (at the task's start, and again before they expire).
//!
//! The instance token names the asking instance; the task must be placed on it and not stopped
//! ([`berth_control::Control::task_role_source`]). The role's trust policy must let `ecs-tasks.amazonaws.com` assume
//! it, else the answer is the task's stopped reason in ECS's "unable to assume the role" wording. The session is an
//! ordinary STS session ([`berth_iam::Iam::issue_service_session`]), named after the task id as ECS names it, so
//! every Berth API accepts it and evaluates the role's policies. It lasts the role's `MaxSessionDuration` (1 hour
//! by default), at most [`MAX_SESSION_SECONDS`] (6 hours, what ECS hands out); the agent refreshes it half-way.

use crate::AppState;
use crate::agent::{bearer, json_response};
use crate::error::ApiError;
use crate::protocol::json11::{decode, encode};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use berth_iam::ServiceSessionError;
use berth_model::agent::{RoleCredentials, TaskCredentialsRequest, TaskCredentialsResponse};
use http::HeaderMap;

/// The longest task role session the server issues (ECS's task credentials last about 6 hours).
pub const MAX_SESSION_SECONDS: i64 = 6 * 3600;

/// The service principal task roles trust.
const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";

/// ECS's stopped reason for a task role it cannot assume.
fn cannot_assume(role: &str) -> String {
    format!(
        "ResourceInitializationError: ECS was unable to assume the role '{role}' that was provided for this task. \
         Please verify that the role being passed has the proper trust relationship and permissions and that your \
         IAM user has permissions to pass this role."
    )
}

/// `POST /agent/v1/credentials` with the instance token.
pub async fn task_credentials(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (cluster, id) = app.inner.control.authenticate_agent(bearer(&headers)?)?;
    let req: TaskCredentialsRequest = decode(&body)?;
    let source = app.inner.control.task_role_source(&cluster, &id, &req.task_arn)?;
    let response = match app.inner.credentials.iam() {
        None => TaskCredentialsResponse {
            credentials: None,
            failure: Some(format!("{} (this Berth server has no IAM)", cannot_assume(&source.role_arn))),
        },
        Some(iam) => {
            match iam.issue_service_session(&source.role_arn, ECS_TASKS, &source.task_id, MAX_SESSION_SECONDS).await {
                Ok(session) => TaskCredentialsResponse {
                    credentials: Some(RoleCredentials {
                        access_key_id: session.access_key_id,
                        secret_access_key: session.secret_access_key,
                        session_token: session.session_token,
                        expiration: session.expiration,
                        issued_at: session.issued_at,
                        role_arn: source.role_arn.clone(),
                    }),
                    failure: None,
                },
                Err(ServiceSessionError::NotTrusted(why)) => {
                    tracing::info!(task = %req.task_arn, role = %source.role_arn, %why,
                        "a task's role cannot be assumed by ECS tasks");
                    TaskCredentialsResponse { credentials: None, failure: Some(cannot_assume(&source.role_arn)) }
                }
                Err(ServiceSessionError::Iam(error)) => {
                    return Err(ApiError::internal(&format!("issuing a task role session: {error}")));
                }
            }
        }
    };
    Ok(json_response(encode(&response)?))
}
