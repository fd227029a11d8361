//! AWS's evaluation logic within one account: an explicit Deny in any applicable policy wins; otherwise an Allow
//! in an identity-based policy or in the resource's policy allows; otherwise the request is implicitly denied.

use super::condition::Context;
use super::document::{Effect, Matches, PolicyDocument, PrincipalId, Principals, Statement};
use std::sync::Arc;

/// A policy with the name a decision reports it by (a managed policy's ARN, or `role/<r>/<inline name>`).
#[derive(Debug, Clone)]
pub struct NamedPolicy {
    /// How a decision names it.
    pub name: Arc<str>,
    /// Its parsed document.
    pub document: Arc<PolicyDocument>,
}

/// Who is calling, as resource and trust policies' `Principal` sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestPrincipal {
    /// The caller's ARN (a user, an assumed-role session, the account root).
    pub arn: String,
    /// Its account.
    pub account: String,
    /// For an assumed-role session: the role's ARN, which a `Principal` may name instead of the session.
    pub role_arn: Option<String>,
    /// For an AWS service assuming a role (`ecs-tasks.amazonaws.com`).
    pub service: Option<String>,
}

/// One authorization request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller.
    pub principal: &'a RequestPrincipal,
    /// `<service prefix>:<Operation>`.
    pub action: &'a str,
    /// The resource ARN, or `*`.
    pub resource: &'a str,
    /// The condition keys.
    pub context: &'a Context,
}

/// Which kind of policy a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A policy of the caller (inline, managed, through a group).
    Identity,
    /// The resource's own policy.
    Resource,
}

impl Source {
    fn words(self) -> &'static str {
        match self {
            Self::Identity => "an identity-based policy",
            Self::Resource => "a resource-based policy",
        }
    }
}

/// The outcome, with the statement that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by this policy's statement.
    Allow {
        /// The policy's name.
        policy: Arc<str>,
        /// The statement's Sid, or its index.
        statement: String,
        /// Where the policy is.
        source: Source,
    },
    /// Denied by this policy's statement.
    ExplicitDeny {
        /// The policy's name.
        policy: Arc<str>,
        /// The statement's Sid, or its index.
        statement: String,
        /// Where the policy is.
        source: Source,
    },
    /// No statement allows.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }

    /// Why, in a few words (for the audit log).
    pub fn reason(&self) -> String {
        match self {
            Self::Allow { policy, statement, source } => {
                format!("allowed by {policy} statement {statement} ({})", source.words())
            }
            Self::ExplicitDeny { policy, statement, source } => {
                format!("explicit deny in {policy} statement {statement} ({})", source.words())
            }
            Self::ImplicitDeny => "no identity-based policy allows".to_string(),
        }
    }

    /// The message of the `AccessDenied` error, as AWS words it.
    pub fn denial_message(&self, principal: &str, action: &str, resource: &str) -> String {
        let because = match self {
            Self::ExplicitDeny { source, .. } => format!("with an explicit deny in {}", source.words()),
            _ => format!("because no identity-based policy allows the {action} action"),
        };
        format!("User: {principal} is not authorized to perform: {action} on resource: {resource} {because}")
    }
}

/// The statement's name in a decision: its Sid or its position.
fn statement_name(statement: &Statement, index: usize) -> String {
    statement.sid.clone().unwrap_or_else(|| format!("#{}", index + 1))
}

/// A request's action and resource split into characters once, for every pattern of every statement.
struct Subject<'c> {
    action_lower: &'c [char],
    resource: &'c [&'c [char]],
}

/// Whether a statement applies to the action, resource and conditions (not the principal).
fn applies(statement: &Statement, subject: &Subject<'_>, request: &Request<'_>) -> bool {
    action_applies(statement, subject.action_lower) && resource_and_conditions_apply(statement, subject, request)
}

/// Whether a statement's `Action` (or `NotAction`) covers the lowercased action. Actions have no policy variables,
/// so this depends on the action alone (which [`PolicySet`] caches per action).
fn action_applies(statement: &Statement, action_lower: &[char]) -> bool {
    match &statement.actions {
        Matches::Any(patterns) => patterns.iter().any(|p| p.matches_action_chars(action_lower)),
        Matches::NoneOf(patterns) => !patterns.iter().any(|p| p.matches_action_chars(action_lower)),
    }
}

/// Whether a statement whose action applies also applies to the resource and its conditions hold.
fn resource_and_conditions_apply(statement: &Statement, subject: &Subject<'_>, request: &Request<'_>) -> bool {
    let resource_ok = match &statement.resources {
        None => true,
        Some(Matches::Any(patterns)) => {
            patterns.iter().any(|p| p.matches_resource_segments(subject.resource, request.context))
        }
        Some(Matches::NoneOf(patterns)) => {
            !patterns.iter().any(|p| p.matches_resource_segments(subject.resource, request.context))
        }
    };
    resource_ok && statement.conditions.iter().all(|c| c.holds(request.context))
}

/// How a `Principal` element names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    /// Not at all.
    No,
    /// Through its account (`123456789012` or `arn:aws:iam::123456789012:root`), or `*`: the account's own
    /// policies must still allow.
    Account,
    /// By its own ARN (or its role's) or as the service it is.
    Directly,
}

fn names(id: &PrincipalId, who: &RequestPrincipal) -> Named {
    match id {
        PrincipalId::Anyone => Named::Account,
        PrincipalId::Aws(text) => {
            if *text == who.arn || who.role_arn.as_deref() == Some(text.as_str()) {
                Named::Directly
            } else if *text == who.account || *text == format!("arn:aws:iam::{}:root", who.account) {
                if who.arn == format!("arn:aws:iam::{}:root", who.account) { Named::Directly } else { Named::Account }
            } else {
                Named::No
            }
        }
        PrincipalId::Service(service) => {
            if who.service.as_deref() == Some(service.as_str()) {
                Named::Directly
            } else {
                Named::No
            }
        }
        PrincipalId::Federated(_) => Named::No,
    }
}

fn principal_match(principals: &Option<Principals>, who: &RequestPrincipal) -> Named {
    match principals {
        None => Named::Directly,
        Some(Principals::Any(ids)) => ids.iter().map(|id| names(id, who)).max_by_key(|n| *n as u8).unwrap_or(Named::No),
        Some(Principals::NoneOf(ids)) => {
            if ids.iter().any(|id| names(id, who) != Named::No) {
                Named::No
            } else {
                Named::Account
            }
        }
    }
}

/// Evaluates identity policies and an optional resource policy, reading every statement.
pub fn evaluate(request: &Request<'_>, identity: &[NamedPolicy], resource_policy: Option<&NamedPolicy>) -> Decision {
    let action_chars: Vec<char> = request.action.to_lowercase().chars().collect();
    let resource_chars: Vec<char> = request.resource.chars().collect();
    let resource = super::matcher::resource_segments(&resource_chars);
    let subject = Subject { action_lower: &action_chars, resource: &resource };
    let statements = identity
        .iter()
        .flat_map(|policy| policy.document.statements.iter().enumerate().map(move |(i, s)| (policy, i, s)))
        .filter(|(_, _, statement)| applies(statement, &subject, request));
    decide(statements, &subject, request, resource_policy)
}

/// A principal's identity policies with their statements indexed by the literal start of their action patterns
/// (the text before the first wildcard, lowercased), so that a request reads only the statements whose actions can
/// match it: a pattern can only match actions that start with its literal start. Statements with `NotAction`, or an
/// action pattern that starts with a wildcard, are read for every request. The decision is the same as
/// [`evaluate`]'s, statement for statement, in the same order.
#[derive(Debug, Default)]
pub struct PolicySet {
    /// Per lowercased action (at most [`ACTIONS_CACHED`] of them): the statements, in order, whose actions apply
    /// to it. An API has a bounded set of actions, so after the first calls a request reads only these, and only
    /// their resources and conditions.
    by_action: std::sync::RwLock<std::collections::HashMap<String, StatementRefs>>,
    policies: Vec<NamedPolicy>,
    by_prefix: std::collections::HashMap<String, Vec<(u32, u32)>>,
    always: Vec<(u32, u32)>,
    resource_tags: bool,
}

impl PolicySet {
    /// Indexes `policies`.
    pub fn new(policies: Vec<NamedPolicy>) -> Self {
        let resource_tags = policies.iter().any(|p| p.document.uses_resource_tags());
        let mut set = Self { policies, resource_tags, ..Self::default() };
        for (p, policy) in set.policies.iter().enumerate() {
            for (i, statement) in policy.document.statements.iter().enumerate() {
                let at = (p as u32, i as u32);
                let Matches::Any(patterns) = &statement.actions else {
                    set.always.push(at);
                    continue;
                };
                for pattern in patterns {
                    let lower = pattern.text.to_lowercase();
                    let literal = lower.split(['*', '?']).next().unwrap_or_default();
                    if literal.is_empty() {
                        set.always.push(at);
                    } else {
                        set.by_prefix.entry(literal.to_string()).or_default().push(at);
                    }
                }
            }
        }
        set
    }

    /// Whether any of the policies reads a resource tag: only then does a request look the resource's tags up.
    pub fn uses_resource_tags(&self) -> bool {
        self.resource_tags
    }

    /// The statements whose actions may match `action_lower`, in policy and statement order.
    /// The statements, in order, whose actions apply to `action_lower` (cached per action).
    fn applicable(&self, action_lower: &str, action_chars: &[char]) -> StatementRefs {
        if let Some(found) = self.by_action.read().ok().and_then(|m| m.get(action_lower).cloned()) {
            return found;
        }
        let list: StatementRefs = self
            .candidates(action_lower)
            .into_iter()
            .filter(|&(p, i)| self.statement(p, i).is_some_and(|(_, s)| action_applies(s, action_chars)))
            .collect();
        if let Ok(mut map) = self.by_action.write()
            && map.len() < ACTIONS_CACHED
        {
            map.insert(action_lower.to_string(), list.clone());
        }
        list
    }

    /// How many actions the cache holds (for tests).
    #[cfg(test)]
    pub(crate) fn cached_actions(&self) -> usize {
        self.by_action.read().map_or(0, |m| m.len())
    }

    /// Policy `p`'s statement `i`.
    fn statement(&self, p: u32, i: u32) -> Option<(&NamedPolicy, &Statement)> {
        let policy = self.policies.get(p as usize)?;
        Some((policy, policy.document.statements.get(i as usize)?))
    }

    fn candidates(&self, action_lower: &str) -> Vec<(u32, u32)> {
        let mut out = self.always.clone();
        for (end, c) in action_lower.char_indices() {
            if let Some(found) = self.by_prefix.get(&action_lower[..end + c.len_utf8()]) {
                out.extend_from_slice(found);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl std::ops::Deref for PolicySet {
    type Target = [NamedPolicy];

    fn deref(&self) -> &[NamedPolicy] {
        &self.policies
    }
}

/// [`evaluate`] through a [`PolicySet`]'s index: the same decision, reading only the statements that may apply.
pub fn evaluate_set(request: &Request<'_>, identity: &PolicySet, resource_policy: Option<&NamedPolicy>) -> Decision {
    let action_lower = request.action.to_lowercase();
    let action_chars: Vec<char> = action_lower.chars().collect();
    let resource_chars: Vec<char> = request.resource.chars().collect();
    let resource = super::matcher::resource_segments(&resource_chars);
    let subject = Subject { action_lower: &action_chars, resource: &resource };
    let applicable = identity.applicable(&action_lower, &action_chars);
    let statements = applicable
        .iter()
        .filter_map(|&(p, i)| identity.statement(p, i).map(|(policy, statement)| (policy, i as usize, statement)))
        .filter(|(_, _, statement)| resource_and_conditions_apply(statement, &subject, request));
    decide(statements, &subject, request, resource_policy)
}

/// Statements of a [`PolicySet`] by (policy, statement) index, in evaluation order.
type StatementRefs = Arc<[(u32, u32)]>;

/// How many distinct actions a [`PolicySet`] remembers the applicable statements of; past it, requests for other
/// actions compute theirs each time (an unbounded set of action names must not grow memory).
pub(crate) const ACTIONS_CACHED: usize = 1024;

/// AWS's logic over the identity statements that apply (given in order, already filtered) and the resource policy.
fn decide<'p>(
    statements: impl Iterator<Item = (&'p NamedPolicy, usize, &'p Statement)>,
    subject: &Subject<'_>,
    request: &Request<'_>,
    resource_policy: Option<&NamedPolicy>,
) -> Decision {
    let mut allow = None;
    for (policy, i, statement) in statements {
        match statement.effect {
            Effect::Deny => {
                return Decision::ExplicitDeny {
                    policy: policy.name.clone(),
                    statement: statement_name(statement, i),
                    source: Source::Identity,
                };
            }
            Effect::Allow if allow.is_none() => {
                allow = Some(Decision::Allow {
                    policy: policy.name.clone(),
                    statement: statement_name(statement, i),
                    source: Source::Identity,
                })
            }
            Effect::Allow => {}
        }
    }
    if let Some(policy) = resource_policy {
        for (i, statement) in policy.document.statements.iter().enumerate() {
            let named = principal_match(&statement.principals, request.principal);
            if named == Named::No || !applies(statement, subject, request) {
                continue;
            }
            match statement.effect {
                Effect::Deny => {
                    return Decision::ExplicitDeny {
                        policy: policy.name.clone(),
                        statement: statement_name(statement, i),
                        source: Source::Resource,
                    };
                }
                Effect::Allow if allow.is_none() && named == Named::Directly => {
                    allow = Some(Decision::Allow {
                        policy: policy.name.clone(),
                        statement: statement_name(statement, i),
                        source: Source::Resource,
                    })
                }
                Effect::Allow => {}
            }
        }
    }
    allow.unwrap_or(Decision::ImplicitDeny)
}

/// What a role's trust policy says about a caller assuming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The trust policy names the caller (or its role, or its service) and allows: nothing else is needed.
    Direct,
    /// The trust policy allows the caller's account: the caller's own policies must allow the action too.
    ThroughAccount,
    /// Denied, explicitly or because no statement allows.
    Denied,
}

/// Evaluates a trust policy for `request` (its resource is the role's ARN, which trust statements leave implicit).
pub fn evaluate_trust(trust: &PolicyDocument, request: &Request<'_>) -> Trust {
    let action_chars: Vec<char> = request.action.to_lowercase().chars().collect();
    let resource_chars: Vec<char> = request.resource.chars().collect();
    let resource = super::matcher::resource_segments(&resource_chars);
    let subject = Subject { action_lower: &action_chars, resource: &resource };
    let mut best = Trust::Denied;
    for statement in &trust.statements {
        let named = principal_match(&statement.principals, request.principal);
        if named == Named::No || !applies(statement, &subject, request) {
            continue;
        }
        match statement.effect {
            Effect::Deny => return Trust::Denied,
            Effect::Allow if named == Named::Directly => best = Trust::Direct,
            Effect::Allow if best == Trust::Denied => best = Trust::ThroughAccount,
            Effect::Allow => {}
        }
    }
    best
}
