//! The one place where a task's **execution role** is allowed, or not, to read the secrets its containers name.
//!
//! ECS's agent reads `secrets[].valueFrom` with the execution role's credentials, so the role's IAM policies decide.
//! Berth has no IAM yet (issue 12, item 1): [`authorize_execution_role`] allows every read when the task definition
//! names an execution role and denies it otherwise, in the words AWS uses for a denial. The IAM evaluation replaces
//! its body; the resolver and the agent endpoint stay as they are.

use crate::ResolveAuthorizer;

/// Whether the execution role `role` (the task definition's `executionRoleArn`) may perform `action` on `resource`.
/// `Err` is the denial as the API words it.
pub fn authorize_execution_role(role: Option<&str>, action: &str, resource: &str) -> Result<(), String> {
    match role.filter(|r| !r.is_empty()) {
        Some(_) => Ok(()),
        None => Err(format!(
            "User: the task (no executionRoleArn) is not authorized to perform: {action} on resource: {resource} \
             because no identity-based policy allows the {action} action"
        )),
    }
}

/// A [`ResolveAuthorizer`] for one task: its execution role, checked by [`authorize_execution_role`].
#[derive(Debug, Clone, Default)]
pub struct ExecutionRole(pub Option<String>);

impl ResolveAuthorizer for ExecutionRole {
    fn authorize(&self, action: &str, resource: &str) -> Result<(), String> {
        authorize_execution_role(self.0.as_deref(), action, resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_execution_role_is_allowed_and_none_is_denied_in_aws_words() {
        let arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf";
        assert!(
            ExecutionRole(Some("arn:aws:iam::000000000000:role/exec".into()))
                .authorize("secretsmanager:GetSecretValue", arn)
                .is_ok()
        );
        for role in [None, Some(String::new())] {
            let denial = ExecutionRole(role).authorize("secretsmanager:GetSecretValue", arn).unwrap_err();
            assert!(
                denial.contains("is not authorized to perform: secretsmanager:GetSecretValue on resource: "),
                "{denial}"
            );
            assert!(denial.contains(arn), "{denial}");
        }
    }
}
