//! STS: GetCallerIdentity and AssumeRole (session credentials `ASIA...` with a session token, DurationSeconds from
//! the minimum to the role's maximum, the role's trust policy evaluated against the caller).

use super::{Caller, new_id, new_secret};
use crate::policy::{Context, Decision, PolicyDocument, PolicyKind, Request, Trust, evaluate, evaluate_trust};
use crate::records::{SCHEMA, SessionRecord, session_key};
use crate::state::{SessionEntry, seal_context};
use crate::{Iam, IamError, Identity};
use berth_model::sts as wire;
use berth_store::Txn;
use serde_json::{Value as Json, json};
use sha2::Digest;

/// SHA-256 (hex) of a session token: what the store keeps and what a request's token is compared by.
pub fn token_sha256(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

pub(super) fn get_caller_identity(iam: &Iam, caller: &Caller) -> Json {
    let account = iam.account_id();
    let user_id = match &caller.identity {
        None => account.to_string(),
        Some(Identity::User(name)) => {
            iam.read().users.get(&name.to_lowercase()).map(|u| u.id.clone()).unwrap_or_default()
        }
        Some(Identity::Role { role, session }) => {
            let id = iam.read().roles.get(&role.to_lowercase()).map(|r| r.id.clone()).unwrap_or_default();
            format!("{id}:{session}")
        }
    };
    json!({ "UserId": user_id, "Account": account, "Arn": caller.arn })
}

fn check_session_name(name: &str) -> Result<(), IamError> {
    let ok = (2..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        return Ok(());
    }
    Err(IamError::validation(format!(
        "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member \
         must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
    )))
}

pub(super) async fn assume_role(iam: &Iam, req: wire::AssumeRoleRequest, caller: &Caller) -> Result<Json, IamError> {
    check_session_name(&req.role_session_name)?;
    for (present, member) in [
        (
            req.policy.is_some() || req.policy_arns.as_ref().is_some_and(|p| !p.is_empty()),
            "session policies (Policy, PolicyArns)",
        ),
        (req.serial_number.is_some() || req.token_code.is_some(), "MFA (SerialNumber, TokenCode)"),
        (req.external_id.is_some(), "ExternalId"),
        (req.source_identity.is_some(), "SourceIdentity"),
        (req.tags.as_ref().is_some_and(|t| !t.is_empty()) || req.transitive_tag_keys.is_some(), "session tags (Tags)"),
        (req.provided_contexts.as_ref().is_some_and(|p| !p.is_empty()), "ProvidedContexts"),
    ] {
        if present {
            return Err(IamError::validation(format!("Berth's AssumeRole does not support {member}.")));
        }
    }
    let role_arn = req.role_arn;
    let denied = || {
        IamError::access_denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.arn
        ))
    };
    let role = iam.read().roles.values().find(|r| r.arn == role_arn).cloned().ok_or_else(denied)?;
    let duration = i64::from(req.duration_seconds.unwrap_or(3600));
    let min = iam.config.quotas.min_session_seconds;
    if duration < min || duration > role.max_session_seconds {
        return Err(IamError::validation(format!(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role. DurationSeconds must \
             be between {min} and {} seconds.",
            role.max_session_seconds
        )));
    }
    // The trust policy must name the caller; naming the account delegates to the caller's own policies.
    let trust = PolicyDocument::parse(&role.trust, PolicyKind::Trust)?;
    let identity = caller.identity.clone();
    let principal = match &identity {
        Some(identity) => iam.request_principal(identity, &caller.arn),
        None => crate::policy::RequestPrincipal {
            arn: caller.arn.clone(),
            account: iam.account_id().to_string(),
            role_arn: None,
            service: None,
        },
    };
    let mut context = Context::new();
    if let Some(identity) = &identity {
        iam.principal_context(identity, &caller.arn, &mut context);
    }
    let request = Request { principal: &principal, action: "sts:AssumeRole", resource: &role_arn, context: &context };
    let allowed = match evaluate_trust(&trust, &request) {
        Trust::Direct => true,
        Trust::Denied => false,
        Trust::ThroughAccount => match &identity {
            None => true,
            Some(identity) => {
                let policies = iam.policies_of(identity);
                matches!(evaluate(&request, &policies, None), Decision::Allow { .. })
            }
        },
    };
    if !allowed {
        return Err(denied());
    }
    let session = new_session(iam, &role.name, &req.role_session_name, duration).await?;
    Ok(json!({
        "Credentials": {
            "AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret_access_key,
            "SessionToken": session.session_token, "Expiration": session.expiration as f64,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": format!("{}:{}", role.id, req.role_session_name),
            "Arn": session.arn,
        },
        "PackedPolicySize": 0,
    }))
}

/// A role session STS issued: what AssumeRole answers, and what the task credentials endpoint serves.
#[derive(Clone)]
pub struct IssuedSession {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// When it expires, epoch seconds.
    pub expiration: i64,
    /// When it was issued, epoch seconds.
    pub issued_at: i64,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

/// Creates a session of role `role` (by name) named `session_name` for `duration` seconds: a new `ASIA` key, its
/// sealed secret and the token's hash in the store (dropping expired sessions on the way).
pub(crate) async fn new_session(
    iam: &Iam,
    role: &str,
    session_name: &str,
    duration: i64,
) -> Result<IssuedSession, IamError> {
    let id = new_id("ASIA");
    let secret = new_secret(40);
    let token = format!("IQoJb3JpZ2luX2Vj{}", new_secret(300).replace(['+', '/'], "A"));
    let issued_at = iam.now();
    let expires = issued_at + duration;
    let sealed = iam
        .sealer
        .seal(&seal_context("session", &id), secret.as_bytes())
        .await
        .map_err(|e| IamError::internal(&format!("sealing a session key: {e}")))?;
    let record = SessionRecord {
        schema: SCHEMA,
        id: id.clone(),
        secret_sealed: sealed,
        token_sha256: token_sha256(&token),
        role: role.to_string(),
        session_name: session_name.to_string(),
        expires,
    };
    let issued = IssuedSession {
        access_key_id: id.clone(),
        secret_access_key: secret.clone(),
        session_token: token,
        expiration: expires,
        issued_at,
        arn: iam.session_arn(role, session_name),
    };
    let _w = iam.writes.lock().await;
    // Expired sessions are dropped on the way.
    let now = iam.now();
    let expired: Vec<String> =
        iam.read().sessions.values().filter(|s| s.record.expires <= now).map(|s| s.record.id.clone()).collect();
    let mut txn = Txn::new().put(session_key(&id), serde_json::to_vec(&record)?);
    for old in &expired {
        txn = txn.delete(session_key(old));
    }
    iam.commit(txn, move |s| {
        for old in &expired {
            s.sessions.remove(old);
        }
        s.sessions.insert(id, SessionEntry { record, secret });
    })
    .await?;
    Ok(issued)
}

/// Why a service could not get a role's session.
#[derive(Debug, thiserror::Error)]
pub enum ServiceSessionError {
    /// The role does not exist, or its trust policy does not let the service assume it.
    #[error("{0}")]
    NotTrusted(String),
    /// IAM could not write the session.
    #[error(transparent)]
    Iam(#[from] IamError),
}

impl Iam {
    /// A session of the role `role_arn` for the AWS service `service` (e.g. `ecs-tasks.amazonaws.com` for a task
    /// role), named `session_name`, lasting the role's `MaxSessionDuration` but at most `max_seconds`. The role's
    /// trust policy must let the service assume it.
    pub async fn issue_service_session(
        &self,
        role_arn: &str,
        service: &str,
        session_name: &str,
        max_seconds: i64,
    ) -> Result<IssuedSession, ServiceSessionError> {
        self.service_may_assume(role_arn, service).map_err(ServiceSessionError::NotTrusted)?;
        let (name, max) = {
            let state = self.read();
            let role = state
                .roles
                .values()
                .find(|r| r.arn == role_arn)
                .ok_or_else(|| ServiceSessionError::NotTrusted(format!("Role {role_arn} does not exist")))?;
            (role.name.clone(), role.max_session_seconds)
        };
        check_session_name(session_name)?;
        let duration = max.min(max_seconds).max(self.config.quotas.min_session_seconds);
        Ok(new_session(self, &name, session_name, duration).await?)
    }
}
