//! KMS records: keys under `/kms/key/<key id>` (their material sealed by the master key) and aliases under
//! `/kms/alias/<name>`.

use crate::records::encode_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prefix of every key record.
pub const KEYS_PREFIX: &str = "/kms/key/";
/// The prefix of every alias record.
pub const ALIASES_PREFIX: &str = "/kms/alias/";

/// The key of a KMS key's record.
pub fn key_key(key_id: &str) -> String {
    format!("{KEYS_PREFIX}{}", encode_name(key_id))
}

/// The key of an alias record (`alias/...`).
pub fn alias_key(alias: &str) -> String {
    format!("{ALIASES_PREFIX}{}", encode_name(alias))
}

/// The associated data sealing a key's material to its ARN.
pub fn material_aad(arn: &str) -> Vec<u8> {
    format!("berth:kms-key\0{arn}").into_bytes()
}

/// A symmetric KMS key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The record's schema version.
    pub schema: u32,
    /// KeyId (a UUID).
    pub key_id: String,
    /// Arn.
    pub arn: String,
    /// Description.
    pub description: String,
    /// CreationDate.
    pub created: f64,
    /// Enabled (KeyState Enabled or Disabled).
    pub enabled: bool,
    /// For an AWS managed key, the alias it serves (`alias/aws/ssm`); `None` for a customer managed key.
    pub managed_alias: Option<String>,
    /// The 256-bit key material, sealed by the master key with [`material_aad`].
    pub material: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// An alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// The record's schema version.
    pub schema: u32,
    /// AliasName (`alias/...`).
    pub name: String,
    /// AliasArn.
    pub arn: String,
    /// TargetKeyId.
    pub target_key_id: String,
    /// CreationDate.
    pub created: f64,
    /// LastUpdatedDate.
    pub updated: f64,
}
