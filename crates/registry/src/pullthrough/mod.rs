//! Pull-through cache: rules that map a repository prefix of this registry to an upstream registry, and the pull
//! path that fills a repository from the upstream when a pull misses ([`fetch`]).
//!
//! A rule is a JSON record under `/ecr/ptc/<prefix>` (the index ignores the kind), mirrored in memory in
//! [`Rules`] because every `/v2/` request on a missing repository asks whether a rule covers it. One process owns a
//! data directory, so writes go to the store first and then to the mirror.

pub(crate) mod fetch;
pub(crate) mod rules;
pub(crate) mod upstream;

pub use rules::{RuleRecord, UpstreamCredentials};

use berth_model::ecr::UpstreamRegistry;
use futures::future::BoxFuture;

/// Reads the Secrets Manager secret a rule's `credentialArn` names (set by the binary, backed by Berth's
/// Secrets Manager). ECR reads it with its own service-linked role, not the caller's permissions.
pub trait UpstreamSecrets: Send + Sync + 'static {
    /// The secret's current `SecretString`.
    fn read<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Result<String, SecretProblem>>;
}

/// Why a rule's secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretProblem {
    /// No such secret (ECR: `SecretNotFoundException`).
    NotFound(String),
    /// It exists but cannot be read (ECR: `UnableToAccessSecretException`).
    Unreadable(String),
}

/// The public registries ECR names for pull-through cache rules, with the URL each is reached at. Chainguard's
/// host is `cgr.dev`; Azure's is any `<name>.azurecr.io` and ECR's any `<account>.dkr.ecr.<region>.amazonaws.com`.
pub(crate) fn known_upstream(host: &str) -> Option<UpstreamRegistry> {
    Some(match host {
        "public.ecr.aws" => UpstreamRegistry::EcrPublic,
        "registry-1.docker.io" => UpstreamRegistry::DockerHub,
        "ghcr.io" => UpstreamRegistry::GithubContainerRegistry,
        "registry.gitlab.com" => UpstreamRegistry::GitlabContainerRegistry,
        "registry.k8s.io" => UpstreamRegistry::K8s,
        "quay.io" => UpstreamRegistry::Quay,
        "cgr.dev" => UpstreamRegistry::Chainguard,
        h if h.ends_with(".azurecr.io") && h.len() > ".azurecr.io".len() => UpstreamRegistry::AzureContainerRegistry,
        h if h.contains(".dkr.ecr.") && h.ends_with(".amazonaws.com") => UpstreamRegistry::Ecr,
        _ => return None,
    })
}

/// Whether ECR requires a Secrets Manager secret for this upstream.
pub(crate) fn needs_credentials(upstream: UpstreamRegistry) -> bool {
    matches!(
        upstream,
        UpstreamRegistry::DockerHub
            | UpstreamRegistry::GithubContainerRegistry
            | UpstreamRegistry::GitlabContainerRegistry
            | UpstreamRegistry::AzureContainerRegistry
            | UpstreamRegistry::Chainguard
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_upstreams_are_recognised_by_host() {
        assert_eq!(known_upstream("registry-1.docker.io"), Some(UpstreamRegistry::DockerHub));
        assert_eq!(known_upstream("x.azurecr.io"), Some(UpstreamRegistry::AzureContainerRegistry));
        assert_eq!(known_upstream(".azurecr.io"), None);
        assert_eq!(known_upstream("1.dkr.ecr.us-east-1.amazonaws.com"), Some(UpstreamRegistry::Ecr));
        assert_eq!(known_upstream("example.com"), None);
        assert!(needs_credentials(UpstreamRegistry::DockerHub));
        assert!(!needs_credentials(UpstreamRegistry::Quay));
    }
}
