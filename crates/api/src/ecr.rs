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

    fn resource_facts<'a>(
        &'a self,
        operation: &'a str,
        input: &'a serde_json::Value,
        _arn: &'a str,
        want_tags: bool,
    ) -> BoxFuture<'a, crate::service::ResourceFacts> {
        let policy = self.resource_policy(operation, input);
        let want_tags = want_tags || policy.as_ref().is_some_and(|p| p.document.uses_resource_tags());
        let name =
            if operation == "CreateRepository" { None } else { input.get("repositoryName").and_then(|n| n.as_str()) };
        let tags = match name {
            Some(name) if want_tags => self.registry.repository_tags(name),
            _ => Vec::new(),
        };
        Box::pin(async move { crate::service::ResourceFacts { policy, tags, ..Default::default() } })
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
                replication_source: caller.replication_source.clone(),
            };
            self.registry.ecr(operation, body, &caller).await.map_err(ApiError::from)
        })
    }
}
