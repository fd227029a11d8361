//! The KMS subset: symmetric keys whose material is sealed by the master key, aliases, the AWS managed keys
//! (`alias/aws/secretsmanager`, `alias/aws/ssm`, created on first use), and the two things the other APIs need:
//! finding a key by any of its names and sealing or opening an envelope under it.

pub mod ops;
pub mod records;

use crate::crypto::{Envelope, Key256, open_envelope, seal_envelope};
use crate::records::{self as store_records, SCHEMA, encode};
use crate::{Secrets, SecretsError};
use berth_store::Txn;
use records::{AliasRecord, KeyRecord, alias_key, key_key, material_aad};
use zeroize::Zeroizing;

/// The AWS managed key of Secrets Manager.
pub const SECRETS_MANAGER_ALIAS: &str = "alias/aws/secretsmanager";
/// The AWS managed key of SSM Parameter Store.
pub const SSM_ALIAS: &str = "alias/aws/ssm";

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyUseError {
    /// No key (or alias) by that name: KMS's message.
    NotFound(String),
    /// The key is disabled: its ARN.
    Disabled(String),
    /// The store failed or a record does not open (the error is logged).
    Internal(SecretsError),
}

impl From<SecretsError> for KeyUseError {
    fn from(e: SecretsError) -> Self {
        Self::Internal(e)
    }
}

impl KeyUseError {
    /// The error as KMS itself reports it.
    pub fn into_kms(self) -> SecretsError {
        match self {
            Self::NotFound(message) => SecretsError::new("NotFoundException", message),
            Self::Disabled(arn) => SecretsError::new("DisabledException", format!("{arn} is disabled.")),
            Self::Internal(e) => SecretsError { exception: "KMSInternalException", ..e },
        }
    }
}

impl Secrets {
    /// The key a KeyId names: a key ID, a key ARN, an alias name (`alias/x`) or an alias ARN. An AWS managed alias
    /// that does not exist yet is created (as AWS does on first use).
    pub(crate) async fn find_key(&self, key_id: &str) -> Result<(KeyRecord, i64), KeyUseError> {
        let key_prefix = self.arn("kms", "key/");
        let alias_prefix = self.arn("kms", "alias/");
        let alias = if let Some(rest) = key_id.strip_prefix(&alias_prefix) {
            Some(format!("alias/{rest}"))
        } else if key_id.starts_with("alias/") {
            Some(key_id.to_string())
        } else {
            None
        };
        let id = match alias {
            Some(alias) => match store_records::get::<AliasRecord>(&self.store, &alias_key(&alias)).await? {
                Some((record, _)) => record.target_key_id,
                None if alias == SECRETS_MANAGER_ALIAS || alias == SSM_ALIAS => {
                    return self.managed_key(&alias).await;
                }
                None => {
                    return Err(KeyUseError::NotFound(format!("Alias '{}' is not found.", self.arn("kms", &alias))));
                }
            },
            None => key_id.strip_prefix(&key_prefix).unwrap_or(key_id).to_string(),
        };
        let not_found =
            || KeyUseError::NotFound(format!("Key '{}' does not exist", self.arn("kms", &format!("key/{id}"))));
        if key_id.starts_with("arn:") && !key_id.starts_with(&key_prefix) && !key_id.starts_with(&alias_prefix) {
            return Err(KeyUseError::NotFound(format!("Invalid keyId '{key_id}'")));
        }
        if id.is_empty() || id.contains('/') || id.contains(':') {
            return Err(not_found());
        }
        store_records::get::<KeyRecord>(&self.store, &key_key(&id)).await?.ok_or_else(not_found)
    }

    /// The AWS managed key serving `alias`, created with its alias on first use.
    async fn managed_key(&self, alias: &str) -> Result<(KeyRecord, i64), KeyUseError> {
        // Another call may have created it meanwhile: the alias record is created with compare-and-swap.
        if let Some((record, _)) = store_records::get::<AliasRecord>(&self.store, &alias_key(alias)).await?
            && let Some(found) = store_records::get::<KeyRecord>(&self.store, &key_key(&record.target_key_id)).await?
        {
            return Ok(found);
        }
        let description = match alias {
            SSM_ALIAS => "Default key that protects my SSM parameters when no other key is defined",
            _ => "Default key that protects my Secrets Manager data when no other key is defined",
        };
        let key = self.new_key(description, Some(alias.to_string()), Default::default());
        let now = self.now();
        let alias_record = AliasRecord {
            schema: SCHEMA,
            name: alias.to_string(),
            arn: self.arn("kms", alias),
            target_key_id: key.key_id.clone(),
            created: now,
            updated: now,
        };
        let txn = Txn::new()
            .expect(crate::master::CHECK_KEY, self.check_revision)
            .expect(alias_key(alias), 0)
            .put(key_key(&key.key_id), encode(&key)?)
            .put(alias_key(alias), encode(&alias_record)?);
        if store_records::commit(&self.store, txn).await? {
            return store_records::get::<KeyRecord>(&self.store, &key_key(&key.key_id))
                .await?
                .ok_or_else(|| KeyUseError::NotFound(alias.to_string()));
        }
        // Lost the race: the winner's key (unless the master key changed under this server).
        self.master_unchanged().await?;
        Box::pin(self.find_key(alias)).await
    }

    /// A new key record with fresh material sealed by the master key.
    pub(crate) fn new_key(
        &self,
        description: &str,
        managed_alias: Option<String>,
        tags: std::collections::BTreeMap<String, String>,
    ) -> KeyRecord {
        let key_id = uuid::Uuid::new_v4().to_string();
        let arn = self.arn("kms", &format!("key/{key_id}"));
        let material = Key256::random();
        KeyRecord {
            schema: SCHEMA,
            material: self.master().seal(&material_aad(&arn), material.bytes()),
            key_id,
            arn,
            description: description.to_string(),
            created: self.now(),
            enabled: true,
            managed_alias,
            tags,
        }
    }

    /// A key's material, if it is enabled.
    pub(crate) fn material(&self, key: &KeyRecord) -> Result<Key256, KeyUseError> {
        if !key.enabled {
            return Err(KeyUseError::Disabled(key.arn.clone()));
        }
        self.master().open(&material_aad(&key.arn), &key.material).and_then(|m| Key256::from_slice(&m)).ok_or_else(
            || {
                KeyUseError::Internal(SecretsError::internal(
                    "InternalServiceError",
                    &format!("the material of {} does not open under the master key", key.arn),
                ))
            },
        )
    }

    /// Seals `plaintext` for `context` under the key `key_id` names (the caller's wording for a missing or disabled
    /// key is its own).
    pub(crate) async fn seal_value(
        &self,
        key_id: &str,
        context: &str,
        plaintext: &[u8],
    ) -> Result<Envelope, KeyUseError> {
        let (key, _) = self.find_key(key_id).await?;
        let material = self.material(&key)?;
        Ok(seal_envelope(&material, &key.arn, context, plaintext))
    }

    /// Opens an envelope sealed for `context`.
    pub(crate) async fn open_value(
        &self,
        envelope: &Envelope,
        context: &str,
    ) -> Result<Zeroizing<Vec<u8>>, KeyUseError> {
        let (key, _) = self.find_key(&envelope.key_arn).await?;
        let material = self.material(&key)?;
        open_envelope(&material, envelope, context).ok_or_else(|| {
            KeyUseError::Internal(SecretsError::internal(
                "InternalServiceError",
                &format!("a value sealed for {context:?} does not open: its record was altered or moved"),
            ))
        })
    }
}

impl Secrets {
    /// Seals a value another part of Berth must keep but never store in clear (IAM's secret access keys), under the
    /// AWS managed key `alias/aws/secretsmanager`: an envelope as JSON text. Rotating the master key re-wraps the
    /// key's material, so these stay readable.
    pub async fn seal_opaque(&self, context: &str, plaintext: &[u8]) -> Result<String, SecretsError> {
        let envelope =
            self.seal_value(SECRETS_MANAGER_ALIAS, context, plaintext).await.map_err(KeyUseError::into_kms)?;
        serde_json::to_string(&envelope).map_err(|e| SecretsError::internal("InternalServiceError", &e))
    }

    /// Opens what [`Secrets::seal_opaque`] sealed for the same `context`.
    pub async fn open_opaque(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let envelope: Envelope =
            serde_json::from_str(sealed).map_err(|e| SecretsError::internal("InternalServiceError", &e))?;
        self.open_value(&envelope, context).await.map_err(KeyUseError::into_kms)
    }
}
