//! Repository and registry policies: IAM resource policy documents (kept in repository records and in the
//! registry settings), validated with IAM's parser and evaluated by the access policy (IAM) with the caller's
//! identity policies.
//!
//! The registry policy's scope is the `REGISTRY_POLICY_SCOPE` account setting: under V2 (the default) it may name
//! any ECR action and is evaluated on every ECR and `/v2/` call; under V1 it may only name the replication and
//! pull-through actions ([`V1_ACTIONS`]) and is evaluated only for them.

use crate::Registry;
use crate::ecr::EcrError;
use berth_iam::policy::{NamedPolicy, PolicyDocument, PolicyKind};
use std::sync::Arc;

/// ECR's longest repository policy.
pub(crate) const MAX_POLICY_CHARS: usize = 10_240;

/// Checks a repository policy document as ECR does (an IAM resource policy: `Principal` required); ECR's
/// `InvalidParameterException` with IAM's reason otherwise.
pub(crate) fn check_repository_policy(text: &str) -> Result<(), EcrError> {
    if text.chars().count() > MAX_POLICY_CHARS {
        return Err(EcrError::InvalidParameter {
            message: format!(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Member must have length less than or equal to {MAX_POLICY_CHARS}'"
            ),
        });
    }
    PolicyDocument::parse(text, PolicyKind::Resource).map(|_| ()).map_err(|e| EcrError::InvalidParameter {
        message: format!(
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided': {e}"
        ),
    })
}

/// The actions a V1-scoped registry policy may name and governs.
pub const V1_ACTIONS: [&str; 3] = ["ecr:ReplicateImage", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"];

fn invalid_registry_policy(reason: impl std::fmt::Display) -> EcrError {
    EcrError::InvalidParameter {
        message: format!(
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided': {reason}"
        ),
    }
}

/// The action texts of a policy statement (`Action` or `NotAction`, a string or a list).
fn statement_actions(statement: &serde_json::Value) -> Vec<String> {
    let value = statement.get("Action").or_else(|| statement.get("NotAction"));
    match value {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Checks a registry policy document as ECR does: an IAM resource policy (`Principal` required) whose actions are
/// ECR actions, and under the V1 scope only [`V1_ACTIONS`] (or `ecr:*`) with no `NotAction`.
pub(crate) fn check_registry_policy(text: &str, v1: bool) -> Result<(), EcrError> {
    if text.chars().count() > MAX_POLICY_CHARS {
        return Err(EcrError::InvalidParameter {
            message: format!(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Member must have length less than or equal to {MAX_POLICY_CHARS}'"
            ),
        });
    }
    PolicyDocument::parse(text, PolicyKind::Resource).map_err(invalid_registry_policy)?;
    let json: serde_json::Value = serde_json::from_str(text).map_err(invalid_registry_policy)?;
    let statements = match json.get("Statement") {
        Some(serde_json::Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    };
    for statement in &statements {
        for action in statement_actions(statement) {
            let lower = action.to_ascii_lowercase();
            if !lower.starts_with("ecr:") {
                return Err(invalid_registry_policy(format!(
                    "the action {action:?} is not an ECR action; a registry policy governs ECR actions only"
                )));
            }
            if v1 {
                if statement.get("NotAction").is_some() {
                    return Err(invalid_registry_policy("NotAction is not allowed under the V1 registry policy scope"));
                }
                if lower != "ecr:*" && !V1_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(&action)) {
                    return Err(invalid_registry_policy(format!(
                        "the action {action:?} is not allowed under the V1 registry policy scope, which allows only {}; \
                         switch to V2 with PutAccountSetting REGISTRY_POLICY_SCOPE",
                        V1_ACTIONS.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

impl Registry {
    /// The registry's policy, parsed for evaluation (when it was put or loaded); `None` when it has none.
    pub fn registry_policy(&self) -> Option<NamedPolicy> {
        self.settings.policy()
    }

    /// The resource policy evaluated for `action` (`ecr:...`) on repository `name` (none for registry-wide
    /// actions): the repository's policy and the registry's (when its scope covers the action), as one policy
    /// holding both documents' statements, which IAM evaluates as it does two resource policies of one account
    /// (an explicit deny in either wins, else an allow in either allows).
    pub fn resource_policy_for(&self, action: &str, name: Option<&str>) -> Option<NamedPolicy> {
        let repository = name.and_then(|n| self.repository_policy(n));
        let covered = !self.settings().policy_scope_v1() || V1_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action));
        let registry = if covered { self.registry_policy() } else { None };
        match (repository, registry) {
            (None, None) => None,
            (Some(one), None) | (None, Some(one)) => Some(one),
            (Some(repo), Some(reg)) => {
                let mut statements = repo.document.statements.clone();
                statements.extend(reg.document.statements.iter().cloned());
                let document =
                    PolicyDocument { variables: repo.document.variables || reg.document.variables, statements };
                Some(NamedPolicy {
                    name: Arc::from(format!("{} and {}", repo.name, reg.name)),
                    document: Arc::new(document),
                })
            }
        }
    }

    /// Repository `name`'s tags (`aws:ResourceTag/...` and `ecr:ResourceTag/...` for calls on it); empty when it has
    /// none or does not exist.
    pub fn repository_tags(&self, name: &str) -> Vec<(String, String)> {
        let index = self.index.read();
        let Some(record) = index.repo(name).and_then(|r| r.record.as_ref()) else { return Vec::new() };
        record.0.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect()
    }

    /// Repository `name`'s policy, parsed for evaluation; `None` when it has none (or does not exist). A stored
    /// policy that no longer parses (it was validated when set) is logged and treated as absent.
    pub fn repository_policy(&self, name: &str) -> Option<NamedPolicy> {
        let text = self.index.read().repo(name)?.record.as_ref()?.0.policy.clone()?;
        match PolicyDocument::parse(&text, PolicyKind::Resource) {
            Ok(document) => Some(NamedPolicy {
                name: Arc::from(format!("repository policy of {}", self.repository_arn(name))),
                document: Arc::new(document),
            }),
            Err(e) => {
                tracing::error!(repository = name, error = %e, "a stored repository policy does not parse; ignored");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_resource_policies() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/u"},"Action":"ecr:BatchGetImage"}]}"#;
        assert!(check_repository_policy(ok).is_ok());
        let no_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*"}]}"#;
        assert_eq!(check_repository_policy(no_principal).unwrap_err().exception(), "InvalidParameterException");
        assert!(check_repository_policy("{").is_err());
    }

    #[test]
    fn registry_policies_name_ecr_actions_and_v1_only_its_three() {
        let doc = |actions: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":{actions},"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"}}]}}"#
            )
        };
        let replication = doc(r#"["ecr:CreateRepository","ecr:ReplicateImage"]"#);
        assert!(check_registry_policy(&replication, true).is_ok());
        assert!(check_registry_policy(&replication, false).is_ok());
        let pull = doc(r#""ecr:BatchGetImage""#);
        assert!(check_registry_policy(&pull, false).is_ok());
        let e = check_registry_policy(&pull, true).unwrap_err();
        assert_eq!(e.exception(), "InvalidParameterException");
        assert!(e.message().contains("V1"), "{}", e.message());
        assert!(check_registry_policy(&doc(r#""ecr:*""#), true).is_ok());
        assert!(check_registry_policy(&doc(r#""s3:GetObject""#), false).is_err());
        let no_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*"}]}"#;
        assert!(check_registry_policy(no_principal, false).is_err());
    }
}
