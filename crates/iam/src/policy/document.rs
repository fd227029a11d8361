//! Policy documents: parsing IAM's JSON grammar into a checked, ready-to-evaluate form.
//!
//! A document is parsed once (when it is put) and kept parsed: evaluation never touches JSON. Elements IAM does not
//! know, or does not allow in this kind of policy, are refused with IAM's `MalformedPolicyDocument` wording.

use super::condition::{Condition, parse_conditions};
use super::matcher::Pattern;
use serde_json::Value as Json;

/// Which kind of policy a document is, which decides the elements it must and must not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role (inline or managed): no `Principal`, `Resource` required.
    Identity,
    /// A role's trust policy: `Principal` required, no `Resource`.
    Trust,
    /// Attached to a resource (an ECR repository, a secret): `Principal` required.
    Resource,
}

/// Why a document was refused (IAM's `MalformedPolicyDocument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn malformed(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Denies, over any grant.
    Deny,
}

/// A list of patterns or its negation (`Action`/`NotAction`, `Resource`/`NotResource`).
#[derive(Debug, Clone, PartialEq)]
pub enum Matches {
    /// The element: matches when any pattern does.
    Any(Vec<Pattern>),
    /// The `Not` element: matches when no pattern does.
    NoneOf(Vec<Pattern>),
}

/// Who a statement of a resource or trust policy is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalId {
    /// `"*"` or `{"AWS": "*"}`: anyone.
    Anyone,
    /// An IAM principal ARN (`arn:aws:iam::1:user/x`, `...:role/r`, `...:root`) or an account id.
    Aws(String),
    /// An AWS service (`ecs-tasks.amazonaws.com`).
    Service(String),
    /// A federated identity provider (kept so that trust policies naming one parse; never matches a Berth caller).
    Federated(String),
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// Matches any of these.
    Any(Vec<PrincipalId>),
    /// Matches none of these.
    NoneOf(Vec<PrincipalId>),
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Its `Sid`, if any.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// The actions it covers.
    pub actions: Matches,
    /// The resources it covers (`None` in trust policies: the role itself).
    pub resources: Option<Matches>,
    /// The principals it covers (resource and trust policies only).
    pub principals: Option<Principals>,
    /// Its conditions (all must hold).
    pub conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// Whether policy variables are substituted (`Version` 2012-10-17).
    pub variables: bool,
    /// Its statements.
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Whether any statement reads a resource tag (`aws:ResourceTag/...`, `<prefix>:ResourceTag/...`) in a
    /// condition or as a policy variable in its resources: only then does a request need the resource's tags.
    pub fn uses_resource_tags(&self) -> bool {
        self.statements.iter().any(|s| {
            s.conditions.iter().any(|c| super::condition::is_resource_tag_key(&c.key) || c.uses_resource_tag_variable())
                || [Some(&s.actions), s.resources.as_ref()].into_iter().flatten().any(|m| {
                    let (Matches::Any(patterns) | Matches::NoneOf(patterns)) = m;
                    patterns.iter().any(|p| p.text.to_lowercase().contains("resourcetag/"))
                })
        })
    }

    /// The first `Allow` statement that grants access to anyone (`Principal: *`, `{"AWS": "*"}` or a
    /// `NotPrincipal`) without a condition that pins the caller down ([`Condition::narrows_principal`]): what
    /// Secrets Manager's `BlockPublicPolicy` refuses. Its Sid or position.
    pub fn public_statement(&self) -> Option<String> {
        self.statements.iter().enumerate().find_map(|(i, s)| {
            let broad = match &s.principals {
                Some(Principals::Any(ids)) => ids.contains(&PrincipalId::Anyone),
                Some(Principals::NoneOf(_)) => true,
                None => false,
            };
            let public = s.effect == Effect::Allow && broad && !s.conditions.iter().any(Condition::narrows_principal);
            public.then(|| s.sid.clone().unwrap_or_else(|| format!("#{}", i + 1)))
        })
    }
}

/// The versions IAM accepts.
const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

impl PolicyDocument {
    /// Parses a document of `kind`.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        let json: Json = serde_json::from_str(text).map_err(|_| malformed("Syntax errors in policy."))?;
        let Json::Object(top) = json else { return Err(malformed("Syntax errors in policy.")) };
        let mut version = None;
        let mut statements = None;
        for (name, value) in &top {
            match name.as_str() {
                "Version" => {
                    let v = value.as_str().filter(|v| VERSIONS.contains(v)).ok_or_else(|| {
                        malformed("The policy failed legacy parsing: Version must be 2012-10-17 or 2008-10-17.")
                    })?;
                    version = Some(v);
                }
                "Id" => {
                    value.as_str().ok_or_else(|| malformed("Syntax errors in policy: Id must be a string."))?;
                }
                "Statement" => statements = Some(value),
                other => return Err(malformed(format!("Syntax errors in policy: unknown field {other}."))),
            }
        }
        let statements = statements.ok_or_else(|| malformed("Syntax errors in policy: Statement is required."))?;
        let list: Vec<&Json> = match statements {
            Json::Array(items) => items.iter().collect(),
            Json::Object(_) => vec![statements],
            _ => return Err(malformed("Syntax errors in policy: Statement must be an object or an array.")),
        };
        if list.is_empty() {
            return Err(malformed("Syntax errors in policy: Statement must not be empty."));
        }
        let variables = version == Some("2012-10-17");
        let statements =
            list.into_iter().map(|s| parse_statement(s, kind, variables)).collect::<Result<Vec<_>, _>>()?;
        let mut sids: Vec<&str> = statements.iter().filter_map(|s| s.sid.as_deref()).collect();
        sids.sort_unstable();
        if sids.windows(2).any(|w| w[0] == w[1]) {
            return Err(malformed("Statement IDs (SID) in a single policy must be unique"));
        }
        Ok(Self { variables, statements })
    }
}

fn parse_statement(json: &Json, kind: PolicyKind, variables: bool) -> Result<Statement, PolicyError> {
    let Json::Object(map) = json else {
        return Err(malformed("Syntax errors in policy: a statement is not an object."));
    };
    let mut sid = None;
    let mut effect = None;
    let (mut actions, mut resources, mut principals, mut conditions) = (None, None, None, Vec::new());
    for (name, value) in map {
        match name.as_str() {
            "Sid" => {
                let s = value.as_str().ok_or_else(|| malformed("Syntax errors in policy: Sid must be a string."))?;
                if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(malformed(
                        "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                    ));
                }
                sid = Some(s.to_string());
            }
            "Effect" => {
                effect = Some(match value.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return Err(malformed("Syntax errors in policy: Effect must be Allow or Deny.")),
                })
            }
            "Action" | "NotAction" => {
                if actions.is_some() {
                    return Err(malformed("Syntax errors in policy: a statement has both Action and NotAction."));
                }
                let patterns =
                    strings(value, name)?.iter().map(|a| action_pattern(a)).collect::<Result<Vec<_>, _>>()?;
                actions = Some(if name == "Action" { Matches::Any(patterns) } else { Matches::NoneOf(patterns) });
            }
            "Resource" | "NotResource" => {
                if resources.is_some() {
                    return Err(malformed("Syntax errors in policy: a statement has both Resource and NotResource."));
                }
                let patterns = strings(value, name)?
                    .iter()
                    .map(|r| resource_pattern(r, variables))
                    .collect::<Result<Vec<_>, _>>()?;
                resources = Some(if name == "Resource" { Matches::Any(patterns) } else { Matches::NoneOf(patterns) });
            }
            "Principal" | "NotPrincipal" => {
                if principals.is_some() {
                    return Err(malformed("Syntax errors in policy: a statement has both Principal and NotPrincipal."));
                }
                let ids = parse_principals(value)?;
                principals = Some(if name == "Principal" { Principals::Any(ids) } else { Principals::NoneOf(ids) });
            }
            "Condition" => conditions = parse_conditions(value, variables)?,
            other => return Err(malformed(format!("Syntax errors in policy: unknown field {other}."))),
        }
    }
    let effect = effect.ok_or_else(|| malformed("Syntax errors in policy: Effect is required."))?;
    let actions = actions.ok_or_else(|| malformed("Policy statement must contain actions."))?;
    match kind {
        PolicyKind::Identity => {
            if principals.is_some() {
                return Err(malformed("Policy document should not specify a principal."));
            }
            if resources.is_none() {
                return Err(malformed("Policy statement must contain resources."));
            }
        }
        PolicyKind::Trust => {
            if principals.is_none() {
                return Err(malformed("Missing required field Principal"));
            }
            if resources.is_some() {
                return Err(malformed("Has prohibited field Resource"));
            }
        }
        PolicyKind::Resource => {
            if principals.is_none() {
                return Err(malformed("Missing required field Principal"));
            }
        }
    }
    Ok(Statement { sid, effect, actions, resources, principals, conditions })
}

/// A string or a non-empty array of strings.
fn strings(value: &Json, element: &str) -> Result<Vec<String>, PolicyError> {
    let bad = || malformed(format!("Syntax errors in policy: {element} must be a string or an array of strings."));
    match value {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(bad)).collect()
        }
        _ => Err(bad()),
    }
}

/// `*` or `<service>:<action pattern>`.
fn action_pattern(text: &str) -> Result<Pattern, PolicyError> {
    if text == "*" {
        return Ok(Pattern::action("*"));
    }
    match text.split_once(':') {
        Some((service, action))
            if !service.is_empty()
                && !action.is_empty()
                && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !action.contains(':') =>
        {
            Ok(Pattern::action(text))
        }
        _ => Err(malformed(format!(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. ({text})"
        ))),
    }
}

/// `*` or an ARN pattern (`arn:partition:service:region:account:resource`).
fn resource_pattern(text: &str, variables: bool) -> Result<Pattern, PolicyError> {
    if text == "*" {
        return Ok(Pattern::resource("*", false));
    }
    if !text.starts_with("arn:") || text.splitn(6, ':').count() < 6 {
        return Err(malformed(format!("Resource {text} must be in ARN format or \"*\".")));
    }
    let service = text.split(':').nth(2).unwrap_or_default();
    if service.contains('*') || service.contains('?') {
        return Err(malformed(format!("Resource {text} can not contain a wildcard in its service segment.")));
    }
    Ok(Pattern::resource(text, variables))
}

fn parse_principals(value: &Json) -> Result<Vec<PrincipalId>, PolicyError> {
    let bad = || malformed("Invalid principal in policy");
    match value {
        Json::String(s) if s == "*" => Ok(vec![PrincipalId::Anyone]),
        Json::Object(map) if !map.is_empty() => {
            let mut out = Vec::new();
            for (kind, ids) in map {
                for id in strings(ids, "Principal").map_err(|_| bad())? {
                    out.push(match kind.as_str() {
                        "AWS" if id == "*" => PrincipalId::Anyone,
                        "AWS"
                            if is_account_id(&id)
                                || (id.starts_with("arn:aws:iam::") || id.starts_with("arn:aws:sts::")) =>
                        {
                            PrincipalId::Aws(id)
                        }
                        "Service" if id.contains('.') => PrincipalId::Service(id),
                        "Federated" | "CanonicalUser" => PrincipalId::Federated(id),
                        _ => return Err(bad()),
                    });
                }
            }
            Ok(out)
        }
        _ => Err(bad()),
    }
}

/// Whether `text` is a 12-digit account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}
