//! The IAM and STS operations, on the JSON shapes of `berth_model::{iam, sts}` (the front door translates the
//! query protocol's forms and XML).

mod attach;
mod groups;
mod inline;
mod keys;
mod owner;
mod policies;
mod roles;
pub mod sts;
mod users;

use crate::{Iam, IamError, Identity};
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

/// Who calls an IAM or STS operation.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's ARN.
    pub arn: String,
    /// `None` for the account root.
    pub identity: Option<Identity>,
}

impl Iam {
    /// Calls an IAM operation.
    pub async fn call_iam(&self, operation: &str, input: &[u8], caller: &Caller) -> Result<Vec<u8>, IamError> {
        let out = match operation {
            "CreateUser" => users::create(self, decode(input)?).await?,
            "GetUser" => users::get(self, decode(input)?, caller)?,
            "ListUsers" => users::list(self, decode(input)?)?,
            "DeleteUser" => users::delete(self, decode(input)?).await?,
            "TagUser" => users::tag(self, decode(input)?).await?,
            "UntagUser" => users::untag(self, decode(input)?).await?,
            "ListUserTags" => users::list_tags(self, decode(input)?)?,
            "CreateAccessKey" => keys::create(self, decode(input)?, caller).await?,
            "ListAccessKeys" => keys::list(self, decode(input)?, caller)?,
            "DeleteAccessKey" => keys::delete(self, decode(input)?, caller).await?,
            "CreateRole" => roles::create(self, decode(input)?).await?,
            "GetRole" => roles::get(self, decode(input)?)?,
            "ListRoles" => roles::list(self, decode(input)?)?,
            "DeleteRole" => roles::delete(self, decode(input)?).await?,
            "UpdateAssumeRolePolicy" => roles::update_trust(self, decode(input)?).await?,
            "TagRole" => roles::tag(self, decode(input)?).await?,
            "UntagRole" => roles::untag(self, decode(input)?).await?,
            "ListRoleTags" => roles::list_tags(self, decode(input)?)?,
            "CreateGroup" => groups::create(self, decode(input)?).await?,
            "GetGroup" => groups::get(self, decode(input)?)?,
            "ListGroups" => groups::list(self)?,
            "DeleteGroup" => groups::delete(self, decode(input)?).await?,
            "AddUserToGroup" => groups::add_user(self, decode(input)?).await?,
            "RemoveUserFromGroup" => groups::remove_user(self, decode(input)?).await?,
            "ListGroupsForUser" => groups::for_user(self, decode(input)?)?,
            "CreatePolicy" => policies::create(self, decode(input)?).await?,
            "GetPolicy" => policies::get(self, decode(input)?)?,
            "GetPolicyVersion" => policies::get_version(self, decode(input)?)?,
            "ListPolicies" => policies::list(self, decode(input)?)?,
            "DeletePolicy" => policies::delete(self, decode(input)?).await?,
            "PutRolePolicy" | "PutUserPolicy" | "PutGroupPolicy" => {
                inline::put(self, operation, &json_of(input)?).await?
            }
            "GetRolePolicy" | "GetUserPolicy" | "GetGroupPolicy" => inline::get(self, operation, &json_of(input)?)?,
            "DeleteRolePolicy" | "DeleteUserPolicy" | "DeleteGroupPolicy" => {
                inline::delete(self, operation, &json_of(input)?).await?
            }
            "ListRolePolicies" | "ListUserPolicies" | "ListGroupPolicies" => {
                inline::list(self, operation, &json_of(input)?)?
            }
            "AttachRolePolicy" | "AttachUserPolicy" | "AttachGroupPolicy" => {
                attach::attach(self, operation, &json_of(input)?).await?
            }
            "DetachRolePolicy" | "DetachUserPolicy" | "DetachGroupPolicy" => {
                attach::detach(self, operation, &json_of(input)?).await?
            }
            "ListAttachedRolePolicies" | "ListAttachedUserPolicies" | "ListAttachedGroupPolicies" => {
                attach::list(self, operation, &json_of(input)?)?
            }
            other if berth_model::iam::OPERATIONS.contains(&other) => {
                return Err(IamError::unsupported_operation(other));
            }
            other => {
                return Err(IamError::new(
                    "InvalidAction",
                    400,
                    format!("Could not find operation {other} for version 2010-05-08."),
                ));
            }
        };
        Ok(serde_json::to_vec(&out)?)
    }

    /// Calls an STS operation.
    pub async fn call_sts(&self, operation: &str, input: &[u8], caller: &Caller) -> Result<Vec<u8>, IamError> {
        let out = match operation {
            "GetCallerIdentity" => sts::get_caller_identity(self, caller),
            "AssumeRole" => sts::assume_role(self, decode(input)?, caller).await?,
            other if berth_model::sts::OPERATIONS.contains(&other) => {
                return Err(IamError::unsupported_operation(other));
            }
            other => {
                return Err(IamError::new(
                    "InvalidAction",
                    400,
                    format!("Could not find operation {other} for version 2011-06-15."),
                ));
            }
        };
        Ok(serde_json::to_vec(&out)?)
    }
}

/// Decodes an input shape; a missing required member is IAM's `ValidationError`.
pub(crate) fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<T, IamError> {
    let input = if input.is_empty() { b"{}".as_slice() } else { input };
    serde_json::from_slice(input).map_err(|e| IamError::validation(format!("1 validation error detected: {e}")))
}

fn json_of(input: &[u8]) -> Result<Json, IamError> {
    decode(input)
}

/// A required string member of a JSON input.
pub(crate) fn required<'a>(input: &'a Json, member: &str) -> Result<&'a str, IamError> {
    input.get(member).and_then(Json::as_str).ok_or_else(|| {
        IamError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(member)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// Checks an IAM entity name (`[\w+=,.@-]+`, 1 to `max` characters).
pub(crate) fn check_name(member: &str, name: &str, max: usize) -> Result<(), IamError> {
    let ok = !name.is_empty()
        && name.chars().count() <= max
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        return Ok(());
    }
    Err(IamError::validation(format!(
        "1 validation error detected: Value '{name}' at '{}' failed to satisfy constraint: Member must satisfy \
         regular expression pattern: [\\w+=,.@-]+ and have length between 1 and {max}",
        lower_first(member)
    )))
}

/// Checks a path (`/` or `/a/b/`).
pub(crate) fn check_path(path: Option<&str>) -> Result<String, IamError> {
    let path = path.unwrap_or("/");
    if path.starts_with('/') && path.ends_with('/') && path.len() <= 512 && !path.contains("//") {
        return Ok(path.to_string());
    }
    Err(IamError::validation(format!(
        "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric \
         characters and/or / characters. ({path})"
    )))
}

/// A new unique id with IAM's prefix for the kind (`AIDA`, `AROA`, `AGPA`, `ANPA`, `AKIA`, `ASIA`).
pub(crate) fn new_id(prefix: &str) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    let mut id = String::from(prefix);
    id.extend((0..16).map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())])));
    id
}

/// A new secret (40 characters, as AWS's).
pub(crate) fn new_secret(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())])).collect()
}

/// A policy document as IAM returns it: URL-encoded (RFC 3986), which the SDKs decode.
pub(crate) fn encode_document(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Tags as the wire lists them.
pub(crate) fn tags_json(tags: &[(String, String)]) -> Json {
    Json::Array(tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect())
}

/// Merges new tags into a list (a key given again replaces its value); at most 50.
pub(crate) fn merge_tags(
    existing: &mut Vec<(String, String)>,
    new: Vec<berth_model::iam::Tag>,
) -> Result<(), IamError> {
    for tag in new {
        if tag.key.is_empty() || tag.key.len() > 128 || tag.value.len() > 256 {
            return Err(IamError::validation(format!(
                "The tag {:?} is not valid: keys 1 to 128 characters, values up to 256.",
                tag.key
            )));
        }
        match existing.iter_mut().find(|(k, _)| *k == tag.key) {
            Some(entry) => entry.1 = tag.value,
            None => existing.push((tag.key, tag.value)),
        }
    }
    if existing.len() > 50 {
        return Err(IamError::limit("Cannot exceed quota for TagsPerResource: 50"));
    }
    Ok(())
}

/// `Marker`/`MaxItems` paging over an ordered list: the page and the next marker.
pub(crate) fn page<T: Clone>(
    items: &[T],
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<(Vec<T>, Option<String>), IamError> {
    let start = match marker {
        Some(m) => m.parse::<usize>().map_err(|_| IamError::validation("Invalid Marker."))?,
        None => 0,
    };
    let max = match max_items {
        Some(n) if !(1..=1000).contains(&n) => {
            return Err(IamError::validation("MaxItems must be between 1 and 1000."));
        }
        Some(n) => n as usize,
        None => 100,
    };
    let end = (start + max).min(items.len());
    let page = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    let next = (end < items.len()).then(|| end.to_string());
    Ok((page, next))
}

/// A list response with IAM's paging members.
pub(crate) fn listed(member: &str, items: Vec<Json>, next: Option<String>) -> Json {
    let mut out = json!({ member: items, "IsTruncated": next.is_some() });
    if let Some(m) = next {
        out["Marker"] = json!(m);
    }
    out
}
