//! The Docker token endpoint (`GET /v2/token`): Basic credentials in, the same token back as a bearer token.

use super::{error_response, json_response};
use crate::Registry;
use crate::auth::{Credentials, USER};
use crate::error::RegistryError;
use axum::extract::Request;
use axum::response::Response;
use http::{Method, StatusCode, header};
use serde_json::json;

/// Handles a token request.
pub(crate) fn handle(registry: &Registry, request: &Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return super::method_not_allowed();
    }
    match issue(registry, request) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => error_response(&e),
    }
}

fn issue(registry: &Registry, request: &Request) -> Result<Vec<u8>, RegistryError> {
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let credentials = Credentials::parse(header)?;
    let token = match &credentials {
        Credentials::Basic { user, password } if user == USER => password,
        Credentials::Basic { .. } => {
            return Err(RegistryError::Unauthorized { reason: format!("log in as user {USER}") });
        }
        Credentials::Bearer(token) => token,
        Credentials::None => return Err(RegistryError::Unauthorized { reason: "no credentials".into() }),
    };
    let now = registry.now();
    let claims = registry.auth.verify(token, now)?;
    if claims.acct != registry.config.account_id || claims.blob.is_some() {
        return Err(RegistryError::Unauthorized { reason: "the token is not for this registry".into() });
    }
    let expires_in = (claims.exp - now).max(1.0) as u64;
    let body = json!({ "token": token, "access_token": token, "expires_in": expires_in });
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}
