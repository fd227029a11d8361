//! Repository policies: IAM resource policy documents kept in repository records, validated with IAM's parser
//! and evaluated by the access policy (IAM) on every ECR and `/v2/` call on the repository.

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

impl Registry {
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
}
