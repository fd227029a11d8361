//! The one place where a task's **execution role** is allowed, or not, to read the secrets its containers name.
//!
//! ECS's agent reads `secrets[].valueFrom` with the execution role's credentials, so the role's IAM policies decide.
//! [`IamExecutionRole`] is that check: the role must exist, its trust policy must let `ecs-tasks.amazonaws.com`
//! assume it (else ECS's "unable to assume the role" wording), and its policies must allow the read (else IAM's
//! denial). [`authorize_execution_role`] is what a server without IAM does: a named role is allowed, none is
//! denied.

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

/// The service principal ECS tasks' roles trust.
pub const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";

/// A [`ResolveAuthorizer`] for one task under IAM: its execution role's trust policy and policies decide.
pub struct IamExecutionRole {
    /// IAM.
    pub iam: std::sync::Arc<berth_iam::Iam>,
    /// The task definition's `executionRoleArn`.
    pub role: Option<String>,
}

impl ResolveAuthorizer for IamExecutionRole {
    fn authorize(&self, action: &str, resource: &str) -> Result<(), String> {
        self.authorize_on(action, resource, &crate::OnResource { prefix: "", policy: None, tags: &[] })
    }

    fn authorize_on(&self, action: &str, resource: &str, on: &crate::OnResource<'_>) -> Result<(), String> {
        let Some(role) = self.role.as_deref().filter(|r| !r.is_empty()) else {
            return authorize_execution_role(None, action, resource);
        };
        if self.iam.service_may_assume(role, ECS_TASKS).is_err() {
            return Err(format!(
                "ECS was unable to assume the role '{role}' that was provided for this task. Please verify that the \
                 role being passed has the proper trust relationship and permissions and that your IAM user has \
                 permissions to pass this role."
            ));
        }
        let mut context = berth_iam::policy::Context::new();
        if !on.prefix.is_empty() {
            context.add_resource_tags(on.prefix, on.tags);
        }
        let decision = self.iam.role_allows_on(role, action, resource, context, on.policy);
        if decision.allowed() {
            return Ok(());
        }
        let name = role.rsplit('/').next().unwrap_or(role);
        Err(decision.denial_message(&self.iam.session_arn(name, "ecs-task"), action, resource))
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
