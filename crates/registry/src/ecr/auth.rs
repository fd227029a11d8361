//! GetAuthorizationToken: a registry token for the caller, as `base64("AWS:" + token)`.

use super::{Caller, EcrError};
use crate::Registry;
use crate::auth::encode_authorization_token;
use berth_model::ecr::{AuthorizationData, GetAuthorizationTokenRequest, GetAuthorizationTokenResponse};

pub(crate) async fn get_authorization_token(
    registry: &Registry,
    req: GetAuthorizationTokenRequest,
    caller: &Caller,
) -> Result<GetAuthorizationTokenResponse, EcrError> {
    if let Some(ids) = &req.registry_ids {
        if ids.is_empty() || ids.len() > 10 {
            return Err(super::invalid("registryIds must contain between 1 and 10 items"));
        }
        for id in ids {
            super::check_registry(registry, Some(id))?;
        }
    }
    let (token, expires_at) = registry.issue_token(caller);
    Ok(GetAuthorizationTokenResponse {
        authorization_data: Some(vec![AuthorizationData {
            authorization_token: Some(encode_authorization_token(&token)),
            expires_at: Some(berth_model::clock::to_millis(expires_at)),
            proxy_endpoint: Some(format!("{}://{}", registry.config.public_scheme, registry.config.public_endpoint)),
        }]),
    })
}
