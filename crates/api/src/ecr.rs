//! Amazon ECR, served by Berth's registry.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::AwsJsonService;
use berth_registry::Registry;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The ECR JSON API on a registry.
pub struct EcrService {
    registry: Arc<Registry>,
}

impl EcrService {
    /// ECR on this registry.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl AwsJsonService for EcrService {
    fn target_prefix(&self) -> &'static str {
        berth_model::ecr::TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "ecr"
    }

    fn max_body_bytes(&self) -> usize {
        // UploadLayerPart carries up to 20 MiB, base64-encoded.
        28 * 1024 * 1024
    }

    fn resource_policy(&self, operation: &str, input: &serde_json::Value) -> Option<berth_iam::policy::NamedPolicy> {
        // Creating a repository, and the registry-wide operations, act on no existing repository's policy; the
        // registry policy applies to every action its scope covers (REGISTRY_POLICY_SCOPE).
        let name =
            if operation == "CreateRepository" { None } else { input.get("repositoryName").and_then(|n| n.as_str()) };
        self.registry.resource_policy_for(&format!("ecr:{operation}"), name)
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move {
            let caller = berth_registry::Caller {
                access_key_id: caller.access_key_id.clone(),
                account_id: caller.account_id.clone(),
                arn: caller.arn.clone(),
            };
            self.registry.ecr(operation, body, &caller).await.map_err(ApiError::from)
        })
    }
}
