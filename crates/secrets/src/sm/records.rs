//! Secrets Manager records: a secret under `/secrets/secret/<name>` (metadata, versions and their staging labels)
//! and each version's value under `/secrets/value/<name>/<version id>`, sealed in an envelope bound to the secret's
//! ARN and the version.

use crate::crypto::Envelope;
use crate::records::encode_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prefix of every secret record.
pub const SECRETS_PREFIX: &str = "/secrets/secret/";

/// The key of a secret's record.
pub fn secret_key(name: &str) -> String {
    format!("{SECRETS_PREFIX}{}", encode_name(name))
}

/// The prefix of a secret's values.
pub fn values_prefix(name: &str) -> String {
    format!("/secrets/value/{}/", encode_name(name))
}

/// The key of one version's value.
pub fn value_key(name: &str, version_id: &str) -> String {
    format!("{}{}", values_prefix(name), encode_name(version_id))
}

/// A version's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// CreatedDate.
    pub created: f64,
    /// Its staging labels (none: deprecated).
    pub stages: Vec<String>,
    /// The KMS key ARN its value is sealed under.
    pub key_arn: String,
    /// LastAccessedDate (a day, as AWS keeps it).
    #[serde(default)]
    pub last_accessed: Option<f64>,
}

/// A secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// The record's schema version.
    pub schema: u32,
    /// Name.
    pub name: String,
    /// ARN (with its 6-character random suffix).
    pub arn: String,
    /// Description.
    pub description: Option<String>,
    /// The KmsKeyId as given (None: `alias/aws/secretsmanager`).
    pub kms_key_id: Option<String>,
    /// Type (as given; Berth stores it only).
    #[serde(default)]
    pub secret_type: Option<String>,
    /// CreatedDate.
    pub created: f64,
    /// LastChangedDate.
    pub last_changed: f64,
    /// LastAccessedDate (a day).
    #[serde(default)]
    pub last_accessed: Option<f64>,
    /// DeletedDate: when the deletion was scheduled.
    #[serde(default)]
    pub deleted: Option<f64>,
    /// When a scheduled deletion purges the secret.
    #[serde(default)]
    pub purge_at: Option<f64>,
    /// Tags, in the order given.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Versions by ID.
    #[serde(default)]
    pub versions: BTreeMap<String, VersionMeta>,
    /// The resource policy (PutResourcePolicy), as given; checked when put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// A version's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueRecord {
    /// The record's schema version.
    pub schema: u32,
    /// Whether it is SecretBinary (else SecretString).
    pub binary: bool,
    /// The sealed value.
    pub envelope: Envelope,
}

/// The context a version's value is sealed for: the secret's ARN, the version and the value's kind, so a value
/// moved to another secret or version, or relabelled binary, does not open.
pub fn value_context(arn: &str, version_id: &str, binary: bool) -> String {
    format!("secretsmanager\0{arn}\0{version_id}\0{}", if binary { "binary" } else { "string" })
}
