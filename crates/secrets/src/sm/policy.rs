//! Secret resource policies: PutResourcePolicy (with `BlockPublicPolicy`), GetResourcePolicy,
//! DeleteResourcePolicy and ValidateResourcePolicy. A policy is an IAM resource policy document (`Principal`
//! required) kept in the secret's record, so it survives restarts and goes with the secret; the front door's
//! authorization hook evaluates it with the caller's identity policies on every call that names the secret
//! ([`Secrets::secret_access`]).

use super::marked_for_deletion;
use super::records::{SecretRecord, secret_key};
use crate::records::{self, encode};
use crate::{Secrets, SecretsError};
use berth_iam::policy::{NamedPolicy, PolicyDocument, PolicyKind};
use berth_model::secretsmanager::*;
use berth_store::Txn;
use std::sync::Arc;

/// The longest resource policy Secrets Manager takes (characters).
pub const MAX_POLICY_CHARS: usize = 20_480;

/// The `CheckName` of a document that does not parse as a resource policy (Berth's name for the check).
pub const SYNTAX_CHECK: &str = "SYNTAX_CHECKING";
/// The `CheckName` of a statement that allows anyone (Berth's name for the check).
pub const PUBLIC_ACCESS_CHECK: &str = "PUBLIC_ACCESS_CHECKING";

/// What the authorization hook needs of the secret a call names: its full ARN (the resource policies and
/// identity policies are matched against), its resource policy, and its tags (`aws:ResourceTag/...`).
#[derive(Debug, Clone)]
pub struct SecretAccess {
    /// The secret's full ARN (with its random suffix).
    pub arn: String,
    /// Its resource policy, parsed.
    pub policy: Option<NamedPolicy>,
    /// Its tags.
    pub tags: Vec<(String, String)>,
}

/// Why a document cannot be a secret's policy: `MalformedPolicyDocumentException`.
fn malformed(reason: &str) -> SecretsError {
    SecretsError::new(
        "MalformedPolicyDocumentException",
        format!("You provided a resource-based policy with syntax errors. {reason}"),
    )
}

/// Parses a resource policy as Secrets Manager takes it (length, then IAM's resource policy grammar).
fn parse_policy(text: &str) -> Result<PolicyDocument, SecretsError> {
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_POLICY_CHARS {
        return Err(SecretsError::constraint(
            "resourcePolicy",
            &format!("Member must have length between 1 and {MAX_POLICY_CHARS}"),
        ));
    }
    PolicyDocument::parse(text, PolicyKind::Resource).map_err(|e| malformed(&e.0))
}

fn public_message(statement: &str) -> String {
    format!(
        "The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret. (Statement {statement} allows any principal.)"
    )
}

pub(crate) async fn put(s: &Secrets, req: PutResourcePolicyRequest) -> Result<PutResourcePolicyResponse, SecretsError> {
    let document = parse_policy(&req.resource_policy)?;
    if req.block_public_policy.unwrap_or(false)
        && let Some(statement) = document.public_statement()
    {
        return Err(SecretsError::new("PublicPolicyException", public_message(&statement)));
    }
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.secret(&req.secret_id).await?;
    if secret.deleted.is_some() {
        return Err(marked_for_deletion());
    }
    secret.policy = Some(req.resource_policy);
    let key = secret_key(&secret.name);
    records::commit_or_conflict(&s.store, Txn::new().expect(key.clone(), revision).put(key, encode(&secret)?)).await?;
    Ok(PutResourcePolicyResponse { arn: Some(secret.arn), name: Some(secret.name) })
}

pub(crate) async fn get(s: &Secrets, req: GetResourcePolicyRequest) -> Result<GetResourcePolicyResponse, SecretsError> {
    let (secret, _) = s.secret(&req.secret_id).await?;
    Ok(GetResourcePolicyResponse { arn: Some(secret.arn), name: Some(secret.name), resource_policy: secret.policy })
}

pub(crate) async fn delete(
    s: &Secrets,
    req: DeleteResourcePolicyRequest,
) -> Result<DeleteResourcePolicyResponse, SecretsError> {
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.secret(&req.secret_id).await?;
    if secret.deleted.is_some() {
        return Err(marked_for_deletion());
    }
    if secret.policy.take().is_some() {
        let key = secret_key(&secret.name);
        records::commit_or_conflict(&s.store, Txn::new().expect(key.clone(), revision).put(key, encode(&secret)?))
            .await?;
    }
    Ok(DeleteResourcePolicyResponse { arn: Some(secret.arn), name: Some(secret.name) })
}

/// Checks a policy without attaching it: `PolicyValidationPassed` false with one `ValidationErrors` entry per
/// problem (the document does not parse as a resource policy; a statement allows anyone), as AWS answers rather
/// than failing the call. A `SecretId`, when given, must name a secret.
pub(crate) async fn validate(
    s: &Secrets,
    req: ValidateResourcePolicyRequest,
) -> Result<ValidateResourcePolicyResponse, SecretsError> {
    if let Some(id) = req.secret_id.as_deref().filter(|id| !id.is_empty()) {
        s.secret(id).await?;
    }
    let mut errors = Vec::new();
    match parse_policy(&req.resource_policy) {
        Ok(document) => {
            if let Some(statement) = document.public_statement() {
                errors.push(ValidationErrorsEntry {
                    check_name: Some(PUBLIC_ACCESS_CHECK.to_string()),
                    error_message: Some(format!(
                        "The resource policy grants broad access to the secret: statement {statement} allows any principal."
                    )),
                });
            }
        }
        Err(e) if e.exception == "ValidationException" => return Err(e),
        Err(e) => errors
            .push(ValidationErrorsEntry { check_name: Some(SYNTAX_CHECK.to_string()), error_message: Some(e.message) }),
    }
    Ok(ValidateResourcePolicyResponse {
        policy_validation_passed: Some(errors.is_empty()),
        validation_errors: Some(errors),
    })
}

/// A secret's resource policy, parsed for evaluation. A stored policy that no longer parses (it was checked when
/// put) is logged and treated as absent.
pub(crate) fn parsed_policy(secret: &SecretRecord) -> Option<NamedPolicy> {
    let text = secret.policy.as_deref()?;
    match PolicyDocument::parse(text, PolicyKind::Resource) {
        Ok(document) => Some(NamedPolicy {
            name: Arc::from(format!("resource policy of {}", secret.arn)),
            document: Arc::new(document),
        }),
        Err(e) => {
            tracing::error!(secret = %secret.arn, error = %e, "a stored secret policy does not parse; ignored");
            None
        }
    }
}

impl Secrets {
    /// The secret a `SecretId` names (name, ARN, or ARN without its suffix) as authorization sees it: its full ARN,
    /// its resource policy and its tags; `None` when there is no such secret (the call then fails as the operation
    /// does). A stored policy that no longer parses (it was checked when put) is logged and treated as absent.
    pub async fn secret_access(&self, id: &str) -> Result<Option<SecretAccess>, SecretsError> {
        let Some((secret, _)) = self.find_secret(id).await? else { return Ok(None) };
        let policy = parsed_policy(&secret);
        Ok(Some(SecretAccess { arn: secret.arn, policy, tags: secret.tags }))
    }

    /// The tags of the parameter a name or ARN names (`aws:ResourceTag/...` for SSM calls); empty when it has none
    /// or does not exist.
    pub async fn parameter_tags(&self, name_or_arn: &str) -> Result<Vec<(String, String)>, SecretsError> {
        Ok(self.find_param(name_or_arn).await?.map(|(p, _)| p.tags).unwrap_or_default())
    }
}
