//! [`Iam`]: the records, the lookups authentication needs, and the one authorization decision every call gets.

use crate::IamError;
use crate::managed;
use crate::policy::{
    Context, Decision, NamedPolicy, PolicyDocument, PolicyKind, PolicySet, Request, RequestPrincipal, Trust,
    evaluate_set, evaluate_trust,
};
use crate::records::Permissions;
use crate::state::State;
use berth_model::clock::Clock;
use berth_store::{SharedStore, Txn, TxnOutcome};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Seals the secrets IAM must keep (access keys' and sessions' secret keys) before they reach the store.
pub trait Sealer: Send + Sync + 'static {
    /// Seals `plaintext` for `context`.
    fn seal<'a>(&'a self, context: &'a str, plaintext: &'a [u8]) -> BoxFuture<'a, Result<String, String>>;
    /// Opens what [`Sealer::seal`] made for the same `context`.
    fn open<'a>(&'a self, context: &'a str, sealed: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>>;
}

/// A sealer that only encodes (base64): for tests and stores without a master key. Not for production.
#[derive(Debug, Default)]
pub struct EncodeOnly;

impl Sealer for EncodeOnly {
    fn seal<'a>(&'a self, _context: &'a str, plaintext: &'a [u8]) -> BoxFuture<'a, Result<String, String>> {
        use base64::Engine;
        Box::pin(async move { Ok(base64::engine::general_purpose::STANDARD.encode(plaintext)) })
    }

    fn open<'a>(&'a self, _context: &'a str, sealed: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        use base64::Engine;
        Box::pin(async move { base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|e| e.to_string()) })
    }
}

/// IAM's quotas (AWS's defaults; settable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    /// Managed policies attached to one role (AWS: 10, raisable to 20).
    pub managed_per_role: usize,
    /// Managed policies attached to one user.
    pub managed_per_user: usize,
    /// Managed policies attached to one group.
    pub managed_per_group: usize,
    /// Access keys of one user (2).
    pub access_keys_per_user: usize,
    /// Groups one user is in (10).
    pub groups_per_user: usize,
    /// Total bytes of a role's inline policies (10,240).
    pub role_inline_bytes: usize,
    /// Total bytes of a user's inline policies (2,048).
    pub user_inline_bytes: usize,
    /// Total bytes of a group's inline policies (5,120).
    pub group_inline_bytes: usize,
    /// Bytes of a managed policy document (6,144).
    pub managed_policy_bytes: usize,
    /// The shortest AssumeRole session (AWS: 900 s; lowered only for tests).
    pub min_session_seconds: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            managed_per_role: 10,
            managed_per_user: 10,
            managed_per_group: 10,
            access_keys_per_user: 2,
            groups_per_user: 10,
            role_inline_bytes: 10_240,
            user_inline_bytes: 2_048,
            group_inline_bytes: 5_120,
            managed_policy_bytes: 6_144,
            min_session_seconds: 900,
        }
    }
}

/// IAM's settings.
#[derive(Debug, Clone)]
pub struct IamConfig {
    /// The account.
    pub account_id: String,
    /// The quotas.
    pub quotas: Quotas,
}

impl IamConfig {
    /// The defaults for an account.
    pub fn new(account_id: &str) -> Self {
        Self { account_id: account_id.to_string(), quotas: Quotas::default() }
    }
}

/// Whose policies apply to a caller that is not the account root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// An IAM user, by name.
    User(String),
    /// A session of a role, by role name and session name.
    Role {
        /// The role's name.
        role: String,
        /// The session's name.
        session: String,
    },
}

/// What authentication needs to know about an access key.
#[derive(Debug, Clone)]
pub struct KeyLookup {
    /// The secret access key.
    pub secret: String,
    /// The caller's ARN.
    pub arn: String,
    /// Whose policies apply.
    pub identity: Identity,
    /// For session credentials: the SHA-256 (hex) of the token the request must carry, and the expiry.
    pub session: Option<(String, i64)>,
}

/// One authorization question from the front door.
#[derive(Debug, Clone)]
pub struct Authz<'a> {
    /// The caller's identity.
    pub identity: &'a Identity,
    /// The caller's ARN.
    pub arn: &'a str,
    /// `<prefix>:<Operation>`.
    pub action: &'a str,
    /// The resource ARN or `*`.
    pub resource: &'a str,
    /// Request condition keys (the caller's own keys are added here).
    pub context: Context,
    /// The resource's policy, if it has one.
    pub resource_policy: Option<&'a NamedPolicy>,
}

/// IAM and STS on one store.
pub struct Iam {
    pub(crate) store: SharedStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: IamConfig,
    pub(crate) sealer: Arc<dyn Sealer>,
    /// Serializes writes.
    pub(crate) writes: tokio::sync::Mutex<()>,
    pub(crate) state: RwLock<State>,
    /// Each principal's compiled policies, dropped on every change.
    compiled: RwLock<HashMap<Identity, Arc<PolicySet>>>,
}

impl Iam {
    /// Loads IAM's records.
    pub async fn open(
        config: IamConfig,
        store: SharedStore,
        clock: Arc<dyn Clock>,
        sealer: Arc<dyn Sealer>,
    ) -> Result<Arc<Self>, IamError> {
        let state = State::load(&store, sealer.as_ref(), clock.now() as i64).await?;
        Ok(Arc::new(Self {
            store,
            clock,
            config,
            sealer,
            writes: tokio::sync::Mutex::new(()),
            state: RwLock::new(state),
            compiled: RwLock::new(HashMap::new()),
        }))
    }

    /// The account.
    pub fn account_id(&self) -> &str {
        &self.config.account_id
    }

    /// Current time (epoch seconds).
    pub(crate) fn now(&self) -> i64 {
        self.clock.now() as i64
    }

    /// A read of the state.
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits a transaction and, once committed, applies `change` to the state and drops compiled policies.
    pub(crate) async fn commit(&self, txn: Txn, change: impl FnOnce(&mut State)) -> Result<(), IamError> {
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { .. } => {
                change(&mut self.state.write().unwrap_or_else(|p| p.into_inner()));
                self.compiled.write().unwrap_or_else(|p| p.into_inner()).clear();
                Ok(())
            }
            TxnOutcome::Conflict { key, .. } => {
                Err(IamError::internal(&format!("a concurrent write to {key} (IAM writes are serialized)")))
            }
        }
    }

    /// The key an access key id names, if it is active (IAM users' `AKIA` keys and unexpired `ASIA` sessions).
    pub fn lookup_key(&self, access_key_id: &str) -> Option<KeyLookup> {
        let state = self.read();
        if let Some(entry) = state.keys.get(access_key_id) {
            let user = state.users.get(&entry.record.user.to_lowercase())?;
            return entry.record.active.then(|| KeyLookup {
                secret: entry.secret.clone(),
                arn: user.arn.clone(),
                identity: Identity::User(user.name.clone()),
                session: None,
            });
        }
        let entry = state.sessions.get(access_key_id)?;
        let role = state.roles.get(&entry.record.role.to_lowercase())?;
        Some(KeyLookup {
            secret: entry.secret.clone(),
            arn: self.session_arn(&role.name, &entry.record.session_name),
            identity: Identity::Role { role: role.name.clone(), session: entry.record.session_name.clone() },
            session: Some((entry.record.token_sha256.clone(), entry.record.expires)),
        })
    }

    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub fn session_arn(&self, role: &str, session: &str) -> String {
        format!("arn:aws:sts::{}:assumed-role/{role}/{session}", self.config.account_id)
    }

    /// The ARN of a role by name, if it exists.
    pub fn role_arn(&self, name: &str) -> Option<String> {
        self.read().roles.get(&name.to_lowercase()).map(|r| r.arn.clone())
    }

    /// A role's name from its ARN (any path), if the ARN is one of this account's roles that exists.
    pub fn role_by_arn(&self, arn: &str) -> Option<String> {
        let state = self.read();
        state.roles.values().find(|r| r.arn == arn).map(|r| r.name.clone())
    }

    /// The principal as `Principal` elements see it.
    pub fn request_principal(&self, identity: &Identity, arn: &str) -> RequestPrincipal {
        let role_arn = match identity {
            Identity::Role { role, .. } => self.role_arn(role),
            Identity::User(_) => None,
        };
        RequestPrincipal { arn: arn.to_string(), account: self.config.account_id.clone(), role_arn, service: None }
    }

    /// Adds the caller's own condition keys: `aws:username`, `aws:userid`, `aws:PrincipalArn`,
    /// `aws:PrincipalAccount`, `aws:PrincipalTag/*`, `aws:PrincipalType`.
    pub fn principal_context(&self, identity: &Identity, arn: &str, context: &mut Context) {
        let state = self.read();
        context.set("aws:PrincipalAccount", self.config.account_id.clone());
        match identity {
            Identity::User(name) => {
                if let Some(user) = state.users.get(&name.to_lowercase()) {
                    context.set("aws:username", user.name.clone());
                    context.set("aws:userid", user.id.clone());
                    context.set("aws:PrincipalArn", user.arn.clone());
                    context.set("aws:PrincipalType", "User");
                    for (k, v) in &user.tags {
                        context.set(&format!("aws:PrincipalTag/{k}"), v.clone());
                    }
                }
            }
            Identity::Role { role, session } => {
                if let Some(r) = state.roles.get(&role.to_lowercase()) {
                    context.set("aws:userid", format!("{}:{session}", r.id));
                    context.set("aws:PrincipalArn", r.arn.clone());
                    context.set("aws:PrincipalType", "AssumedRole");
                    for (k, v) in &r.tags {
                        context.set(&format!("aws:PrincipalTag/{k}"), v.clone());
                    }
                } else {
                    context.set("aws:PrincipalArn", arn.to_string());
                }
            }
        }
    }

    /// The identity policies of a principal, compiled and indexed once and cached until the next IAM change.
    pub fn policies_of(&self, identity: &Identity) -> Arc<PolicySet> {
        if let Some(found) = self.compiled.read().unwrap_or_else(|p| p.into_inner()).get(identity) {
            return found.clone();
        }
        let compiled = Arc::new(PolicySet::new(self.compile(identity)));
        self.compiled.write().unwrap_or_else(|p| p.into_inner()).insert(identity.clone(), compiled.clone());
        compiled
    }

    fn compile(&self, identity: &Identity) -> Vec<NamedPolicy> {
        let state = self.read();
        let mut out = Vec::new();
        let mut add = |owner: &str, permissions: &Permissions| {
            for (name, text) in &permissions.inline {
                push(&mut out, format!("{owner}/{name}"), text);
            }
            for arn in &permissions.attached {
                if let Some(text) = managed_document(&state, arn) {
                    push(&mut out, arn.clone(), &text);
                }
            }
        };
        match identity {
            Identity::User(name) => {
                if let Some(user) = state.users.get(&name.to_lowercase()) {
                    add(&format!("user/{}", user.name), &user.permissions);
                    for group in &user.groups {
                        if let Some(g) = state.groups.get(&group.to_lowercase()) {
                            add(&format!("group/{}", g.name), &g.permissions);
                        }
                    }
                }
            }
            Identity::Role { role, .. } => {
                if let Some(r) = state.roles.get(&role.to_lowercase()) {
                    add(&format!("role/{}", r.name), &r.permissions);
                }
            }
        }
        out
    }

    /// The one authorization decision: the caller's identity policies and the resource's policy.
    pub fn authorize(&self, mut request: Authz<'_>) -> Decision {
        self.principal_context(request.identity, request.arn, &mut request.context);
        let policies = self.policies_of(request.identity);
        let principal = self.request_principal(request.identity, request.arn);
        let req = Request {
            principal: &principal,
            action: request.action,
            resource: request.resource,
            context: &request.context,
        };
        evaluate_set(&req, &policies, request.resource_policy)
    }

    /// Whether a role exists and its trust policy lets an AWS service (`ecs-tasks.amazonaws.com`) assume it.
    pub fn service_may_assume(&self, role_arn: &str, service: &str) -> Result<(), String> {
        let state = self.read();
        let Some(role) = state.roles.values().find(|r| r.arn == role_arn) else {
            return Err(format!("Role {role_arn} does not exist"));
        };
        let Ok(trust) = PolicyDocument::parse(&role.trust, PolicyKind::Trust) else {
            return Err(format!("The trust policy of {role_arn} does not parse"));
        };
        let principal = RequestPrincipal { service: Some(service.to_string()), ..Default::default() };
        let context = Context::new();
        let request =
            Request { principal: &principal, action: "sts:AssumeRole", resource: role_arn, context: &context };
        match evaluate_trust(&trust, &request) {
            Trust::Direct => Ok(()),
            _ => Err(format!("{service} is not allowed to assume {role_arn} by its trust policy")),
        }
    }

    /// Whether a role (by ARN) is allowed `action` on `resource` by its own policies (for the task's execution
    /// role reading secrets, as the agent would with the role's session).
    pub fn role_allows(&self, role_arn: &str, action: &str, resource: &str) -> Decision {
        self.role_allows_on(role_arn, action, resource, Context::new(), None)
    }

    /// [`Iam::role_allows`] with condition keys (the resource's tags) and the resource's policy (a secret's).
    pub fn role_allows_on(
        &self,
        role_arn: &str,
        action: &str,
        resource: &str,
        context: Context,
        resource_policy: Option<&NamedPolicy>,
    ) -> Decision {
        let Some(name) = self.role_by_arn(role_arn) else { return Decision::ImplicitDeny };
        let identity = Identity::Role { role: name.clone(), session: "ecs-task".into() };
        let arn = self.session_arn(&name, "ecs-task");
        self.authorize(Authz { identity: &identity, arn: &arn, action, resource, context, resource_policy })
    }
}

fn push(out: &mut Vec<NamedPolicy>, name: String, text: &str) {
    match PolicyDocument::parse(text, PolicyKind::Identity) {
        Ok(document) => out.push(NamedPolicy { name: Arc::from(name), document: Arc::new(document) }),
        // Documents are checked when put; a stored one that no longer parses is skipped (it grants nothing).
        Err(e) => tracing::warn!(policy = %name, error = %e, "iam: a stored policy does not parse; skipped"),
    }
}

/// The document of an attached managed policy (built-in or customer).
pub(crate) fn managed_document(state: &State, arn: &str) -> Option<String> {
    if let Some(m) = managed::by_arn(arn) {
        return Some(m.document.to_string());
    }
    state.policies.values().find(|p| p.arn == arn).map(|p| p.document.clone())
}
