//! IAM's records in the store, under `/iam/`: users, groups, roles, customer managed policies, access keys and
//! STS sessions. Names are case-insensitive in IAM, so keys use the lowercased name. Secret access keys are kept
//! only sealed (see [`crate::Sealer`]); session tokens only as their SHA-256.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The records' schema version.
pub const SCHEMA: u32 = 1;

/// The prefix of every IAM record.
pub const PREFIX: &str = "/iam/";

/// The store key of a user.
pub fn user_key(name: &str) -> String {
    format!("/iam/user/{}", name.to_lowercase())
}
/// The store key of a group.
pub fn group_key(name: &str) -> String {
    format!("/iam/group/{}", name.to_lowercase())
}
/// The store key of a role.
pub fn role_key(name: &str) -> String {
    format!("/iam/role/{}", name.to_lowercase())
}
/// The store key of a customer managed policy.
pub fn policy_key(name: &str) -> String {
    format!("/iam/policy/{}", name.to_lowercase())
}
/// The store key of an access key.
pub fn access_key_key(id: &str) -> String {
    format!("/iam/key/{id}")
}
/// The store key of an STS session.
pub fn session_key(id: &str) -> String {
    format!("/iam/session/{id}")
}

/// What a user, group or role carries for its permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// Inline policies by name (their documents as put).
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Attached managed policies' ARNs, in attachment order.
    #[serde(default)]
    pub attached: Vec<String>,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Schema version.
    pub schema: u32,
    /// Its name as created.
    pub name: String,
    /// `AIDA...`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its path.
    pub path: String,
    /// Creation time (epoch seconds).
    pub created: i64,
    /// Tags in order.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Its policies.
    #[serde(default)]
    pub permissions: Permissions,
    /// The groups it is in (names as created).
    #[serde(default)]
    pub groups: Vec<String>,
}

/// An IAM group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Schema version.
    pub schema: u32,
    /// Its name as created.
    pub name: String,
    /// `AGPA...`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its path.
    pub path: String,
    /// Creation time.
    pub created: i64,
    /// Its policies.
    #[serde(default)]
    pub permissions: Permissions,
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// Schema version.
    pub schema: u32,
    /// Its name as created.
    pub name: String,
    /// `AROA...`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its path.
    pub path: String,
    /// Creation time.
    pub created: i64,
    /// The trust policy document as put.
    pub trust: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The longest session AssumeRole may give (seconds, 3600 to 43200).
    pub max_session_seconds: i64,
    /// Tags in order.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Its policies.
    #[serde(default)]
    pub permissions: Permissions,
}

/// A customer managed policy (AWS managed ones are built in, [`crate::managed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// Schema version.
    pub schema: u32,
    /// Its name.
    pub name: String,
    /// `ANPA...`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its path.
    pub path: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time.
    pub created: i64,
    /// The default version's document as put (Berth keeps one version, `v1`).
    pub document: String,
}

/// An IAM user's access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// Schema version.
    pub schema: u32,
    /// `AKIA...`.
    pub id: String,
    /// The user's name.
    pub user: String,
    /// `Active` or `Inactive`.
    pub active: bool,
    /// Creation time.
    pub created: i64,
    /// The secret, sealed.
    pub secret_sealed: String,
}

/// STS session credentials from AssumeRole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Schema version.
    pub schema: u32,
    /// `ASIA...`.
    pub id: String,
    /// The secret, sealed.
    pub secret_sealed: String,
    /// SHA-256 (hex) of the session token.
    pub token_sha256: String,
    /// The role's name.
    pub role: String,
    /// The session name.
    pub session_name: String,
    /// Expiry (epoch seconds).
    pub expires: i64,
}
