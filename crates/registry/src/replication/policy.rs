//! ECR's cross-account rule for replication: a destination registry in another account must allow the source
//! account `ecr:ReplicateImage` and `ecr:CreateRepository` on its repositories in its registry policy. The source
//! reads the destination's registry policy (GetRegistryPolicy with the destination's key) and evaluates it with
//! IAM's evaluator for the source account's root principal.

use super::Destination;
use super::client::DestinationClient;
use berth_iam::policy::evaluate::{NamedPolicy, Request, RequestPrincipal, evaluate};
use berth_iam::policy::{Context, PolicyDocument, PolicyKind};
use std::sync::Arc;

/// The actions the destination's registry policy must allow the source account.
pub const REPLICATION_ACTIONS: [&str; 2] = ["ecr:ReplicateImage", "ecr:CreateRepository"];

/// Why the destination's registry policy text does not let `source_account` replicate repository `repo` into
/// `destination` (`None`: it does).
pub fn policy_refusal(text: &str, destination: &Destination, source_account: &str, repo: &str) -> Option<String> {
    let document = match PolicyDocument::parse(text, PolicyKind::Resource) {
        Ok(document) => document,
        Err(e) => return Some(format!("the destination's registry policy does not parse: {e}")),
    };
    let policy = NamedPolicy {
        name: Arc::from(format!("registry policy of {}", destination.registry_id)),
        document: Arc::new(document),
    };
    let principal = RequestPrincipal {
        arn: format!("arn:aws:iam::{source_account}:root"),
        account: source_account.to_string(),
        ..Default::default()
    };
    let resource = format!("arn:aws:ecr:{}:{}:repository/{repo}", destination.region, destination.registry_id);
    let context = Context::new();
    REPLICATION_ACTIONS.iter().find_map(|action| {
        let request = Request { principal: &principal, action, resource: &resource, context: &context };
        (!evaluate(&request, &[], Some(&policy)).allowed()).then(|| {
            format!(
                "the registry policy of the destination {} does not allow {action} on {resource} for account \
                 {source_account}",
                destination.name()
            )
        })
    })
}

/// Checks, for a destination in another account, that its registry policy lets `source_account` replicate `repo`.
pub(crate) async fn check(
    client: &DestinationClient<'_>,
    destination: &Destination,
    source_account: &str,
    repo: &str,
) -> Result<(), String> {
    if destination.registry_id == source_account {
        return Ok(()); // cross-region within one account needs no registry policy
    }
    let text = match client.ecr("GetRegistryPolicy", &serde_json::json!({})).await {
        Ok(answer) => answer["policyText"].as_str().unwrap_or_default().to_string(),
        Err(e) if e.contains("RegistryPolicyNotFoundException") => {
            return Err(format!(
                "the destination {} has no registry policy; replicating from account {source_account} needs one \
                 allowing {}",
                destination.name(),
                REPLICATION_ACTIONS.join(" and ")
            ));
        }
        Err(e) => return Err(e),
    };
    match policy_refusal(&text, destination, source_account, repo) {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}
