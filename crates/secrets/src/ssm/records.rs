//! Parameter Store records: a parameter under `/ssm/param/<name>` (its versions' metadata and labels, tags) and each
//! version's value under `/ssm/value/<name>/<version>`, sealed in an envelope bound to the parameter's ARN and the
//! version. Every type is sealed (String and StringList under `alias/aws/ssm`, SecureString under its KeyId).

use crate::crypto::Envelope;
use crate::records::encode_name;
use serde::{Deserialize, Serialize};

/// The prefix of every parameter record.
pub const PARAMS_PREFIX: &str = "/ssm/param/";

/// The key of a parameter's record.
pub fn param_key(name: &str) -> String {
    format!("{PARAMS_PREFIX}{}", encode_name(name))
}

/// The prefix of a parameter's values.
pub fn values_prefix(name: &str) -> String {
    format!("/ssm/value/{}/", encode_name(name))
}

/// The key of one version's value.
pub fn value_key(name: &str, version: i64) -> String {
    format!("{}{version:020}", values_prefix(name))
}

/// The context a version's value is sealed for.
pub fn value_context(arn: &str, version: i64) -> String {
    format!("ssm\0{arn}\0{version}")
}

/// One version's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Version (from 1).
    pub version: i64,
    /// Type: `String`, `StringList` or `SecureString`.
    pub param_type: String,
    /// The KeyId of a SecureString, as given (default `alias/aws/ssm`).
    pub key_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// AllowedPattern.
    pub allowed_pattern: Option<String>,
    /// Tier: `Standard` or `Advanced`.
    pub tier: String,
    /// DataType (`text`).
    pub data_type: String,
    /// LastModifiedDate.
    pub modified: f64,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamRecord {
    /// The record's schema version.
    pub schema: u32,
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Tags, in the order given.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The versions kept, oldest first (at most 100).
    pub versions: Vec<VersionRecord>,
}

impl ParamRecord {
    /// The newest version.
    pub fn latest(&self) -> Option<&VersionRecord> {
        self.versions.last()
    }
}

/// A version's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueRecord {
    /// The record's schema version.
    pub schema: u32,
    /// The sealed value.
    pub envelope: Envelope,
}
