//! Secrets Manager (`secretsmanager/2017-10-17`), SSM Parameter Store (`ssm/2014-11-06`) and KMS (`kms/2014-11-01`),
//! AWS JSON 1.1, served by `berth-secrets` on one value store.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::{AwsJsonService, ResourceFacts, tags_in, tags_wanted};
use berth_secrets::Secrets;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The largest request: a 64 KiB secret, base64-encoded when binary, with its JSON around it.
const MAX_BODY: usize = 256 * 1024;

/// Which of the three APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    SecretsManager,
    Ssm,
    Kms,
}

/// One of the three APIs on a value store.
pub struct SecretsService {
    secrets: Arc<Secrets>,
    api: Api,
}

impl SecretsService {
    /// Secrets Manager on this value store.
    pub fn secrets_manager(secrets: Arc<Secrets>) -> Self {
        Self { secrets, api: Api::SecretsManager }
    }

    /// SSM (Parameter Store) on this value store.
    pub fn ssm(secrets: Arc<Secrets>) -> Self {
        Self { secrets, api: Api::Ssm }
    }

    /// KMS on this value store.
    pub fn kms(secrets: Arc<Secrets>) -> Self {
        Self { secrets, api: Api::Kms }
    }
}

impl AwsJsonService for SecretsService {
    fn target_prefix(&self) -> &'static str {
        match self.api {
            Api::SecretsManager => berth_model::secretsmanager::TARGET_PREFIX,
            Api::Ssm => berth_model::ssm::TARGET_PREFIX,
            Api::Kms => berth_model::kms::TARGET_PREFIX,
        }
    }

    fn signing_name(&self) -> &'static str {
        match self.api {
            Api::SecretsManager => berth_model::secretsmanager::SIGNING_NAME,
            Api::Ssm => berth_model::ssm::SIGNING_NAME,
            Api::Kms => berth_model::kms::SIGNING_NAME,
        }
    }

    fn max_body_bytes(&self) -> usize {
        MAX_BODY
    }

    fn resource_facts<'a>(
        &'a self,
        operation: &'a str,
        input: &'a serde_json::Value,
        arn: &'a str,
        want_tags: bool,
    ) -> BoxFuture<'a, ResourceFacts> {
        Box::pin(async move {
            let named = |member: &str| input.get(member).and_then(|v| v.as_str()).filter(|v| !v.is_empty());
            match self.api {
                // Every operation on a secret: its policy, its tags and its full ARN (one read of its record).
                Api::SecretsManager if operation != "CreateSecret" => {
                    let Some(id) = named("SecretId") else { return ResourceFacts::default() };
                    match self.secrets.secret_access(id).await {
                        Ok(Some(found)) => {
                            ResourceFacts { arn: Some(found.arn), policy: found.policy, tags: found.tags }
                        }
                        Ok(None) => ResourceFacts::default(),
                        Err(e) => {
                            tracing::warn!(secret = id, error = %e, "authorization could not read the secret");
                            ResourceFacts::default()
                        }
                    }
                }
                Api::Ssm if want_tags && arn != "*" => match self.secrets.parameter_tags(arn).await {
                    Ok(tags) => ResourceFacts { tags, ..Default::default() },
                    Err(e) => {
                        tracing::warn!(parameter = arn, error = %e, "authorization could not read the parameter");
                        ResourceFacts::default()
                    }
                },
                Api::Kms if tags_wanted(want_tags, arn) => {
                    let key = named("KeyId").unwrap_or(arn);
                    let request = serde_json::json!({"KeyId": key}).to_string();
                    let answer = self.secrets.call_kms("ListResourceTags", request.as_bytes()).await;
                    ResourceFacts { tags: tags_in(answer, "Tags", "TagKey", "TagValue"), ..Default::default() }
                }
                _ => ResourceFacts::default(),
            }
        })
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move {
            let result = match self.api {
                Api::SecretsManager => self.secrets.call_secrets_manager(operation, body).await,
                Api::Ssm => self.secrets.call_ssm(operation, body).await,
                Api::Kms => self.secrets.call_kms(operation, body).await,
            };
            result.map_err(ApiError::from)
        })
    }
}
