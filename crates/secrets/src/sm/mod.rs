//! Secrets Manager: secrets with versions and staging labels, found by name, full ARN or ARN without the random
//! suffix; values sealed under the secret's KMS key (default `alias/aws/secretsmanager`).

mod list;
mod manage;
pub(crate) mod ops;
mod password;
pub mod policy;
pub(crate) mod purge;
pub mod records;
pub mod stages;

use crate::kms::{KeyUseError, SECRETS_MANAGER_ALIAS};
use crate::records::{self as store_records, SCHEMA};
use crate::{Secrets, SecretsError};
use records::{SecretRecord, ValueRecord, secret_key, value_context, value_key};
use zeroize::Zeroizing;

/// Secrets Manager's message for a secret it does not have.
pub const NOT_FOUND: &str = "Secrets Manager can't find the specified secret.";

/// `ResourceNotFoundException` for a secret.
pub fn not_found() -> SecretsError {
    SecretsError::new("ResourceNotFoundException", NOT_FOUND)
}

/// `InvalidRequestException` for a secret scheduled for deletion.
pub fn marked_for_deletion() -> SecretsError {
    SecretsError::new(
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

/// A decrypted value.
pub(crate) enum Plain {
    /// SecretString.
    Text(Zeroizing<String>),
    /// SecretBinary.
    Binary(Zeroizing<Vec<u8>>),
}

impl Secrets {
    /// The secret a SecretId names: its name, its ARN, or its ARN without the 6-character suffix. A secret whose
    /// recovery window has ended is gone, whether or not the purge job has run yet.
    pub(crate) async fn find_secret(&self, id: &str) -> Result<Option<(SecretRecord, i64)>, SecretsError> {
        let arn_prefix = self.arn("secretsmanager", "secret:");
        let (name, full_arn) = if let Some(rest) = id.strip_prefix(&arn_prefix) {
            (rest, true)
        } else if id.starts_with("arn:") {
            return Ok(None);
        } else {
            (id, false)
        };
        let mut found = store_records::get::<SecretRecord>(&self.store, &secret_key(name)).await?;
        if full_arn {
            // `name` may be the name (a partial ARN) or the name and the suffix (a full ARN).
            let exact = |r: &Option<(SecretRecord, i64)>| r.as_ref().is_some_and(|(s, _)| s.arn == id);
            if !exact(&found)
                && let Some((base, suffix)) = name.rsplit_once('-')
                && suffix.len() == 6
            {
                let by_suffix = store_records::get::<SecretRecord>(&self.store, &secret_key(base)).await?;
                if exact(&by_suffix) {
                    found = by_suffix;
                }
            }
        }
        let now = self.now();
        Ok(found.filter(|(s, _)| s.purge_at.is_none_or(|at| at > now)))
    }

    /// The secret, or ResourceNotFoundException.
    pub(crate) async fn secret(&self, id: &str) -> Result<(SecretRecord, i64), SecretsError> {
        self.find_secret(id).await?.ok_or_else(not_found)
    }

    /// The secret, refusing one scheduled for deletion (InvalidRequestException).
    pub(crate) async fn live_secret(&self, id: &str) -> Result<(SecretRecord, i64), SecretsError> {
        let found = self.secret(id).await?;
        if found.0.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        Ok(found)
    }

    /// Seals a new version's value under the secret's key: the value record.
    pub(crate) async fn seal_secret_value(
        &self,
        secret: &SecretRecord,
        version_id: &str,
        value: &Plain,
    ) -> Result<ValueRecord, SecretsError> {
        let key = secret.kms_key_id.as_deref().unwrap_or(SECRETS_MANAGER_ALIAS);
        let (binary, bytes): (bool, &[u8]) = match value {
            Plain::Text(t) => (false, t.as_bytes()),
            Plain::Binary(b) => (true, b),
        };
        let envelope =
            self.seal_value(key, &value_context(&secret.arn, version_id, binary), bytes).await.map_err(|e| match e {
                KeyUseError::Internal(e) => e,
                _ => SecretsError::new(
                    "EncryptionFailure",
                    "Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state.",
                ),
            })?;
        Ok(ValueRecord { schema: SCHEMA, binary, envelope })
    }

    /// Opens a version's value.
    pub(crate) async fn open_secret_value(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Plain, SecretsError> {
        let Some((value, _)) =
            store_records::get::<ValueRecord>(&self.store, &value_key(&secret.name, version_id)).await?
        else {
            return Err(SecretsError::internal("InternalServiceError", &format!("{} lost a value", secret.arn)));
        };
        let plain = self
            .open_value(&value.envelope, &value_context(&secret.arn, version_id, value.binary))
            .await
            .map_err(|e| match e {
                KeyUseError::Internal(e) => SecretsError { exception: "DecryptionFailure", ..e },
                _ => SecretsError::new(
                    "DecryptionFailure",
                    "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
                ),
            })?;
        if value.binary {
            return Ok(Plain::Binary(plain));
        }
        let text = String::from_utf8(plain.to_vec()).map_err(|_| {
            SecretsError::internal("DecryptionFailure", &format!("{} holds a string that is not UTF-8", secret.arn))
        })?;
        Ok(Plain::Text(Zeroizing::new(text)))
    }

    /// The version a GetSecretValue-style selection picks: by ID (which must carry `stage` if both are given) or by
    /// stage (default AWSCURRENT).
    pub(crate) fn select_version(
        secret: &SecretRecord,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<String, SecretsError> {
        match (version_id, stage) {
            (Some(id), stage) => {
                let Some(meta) = secret.versions.get(id) else {
                    return Err(SecretsError::new(
                        "ResourceNotFoundException",
                        format!("Secrets Manager can't find the specified secret value for VersionId: {id}"),
                    ));
                };
                if let Some(stage) = stage
                    && !meta.stages.iter().any(|s| s == stage)
                {
                    return Err(SecretsError::new(
                        "InvalidRequestException",
                        "You provided a VersionStage that is not associated to the provided VersionId.",
                    ));
                }
                Ok(id.to_string())
            }
            (None, stage) => {
                let stage = stage.unwrap_or(stages::CURRENT);
                stages::holder(&secret.versions, stage).map(str::to_string).ok_or_else(|| {
                    SecretsError::new(
                        "ResourceNotFoundException",
                        format!("Secrets Manager can't find the specified secret value for staging label: {stage}"),
                    )
                })
            }
        }
    }
}

/// A random 6-character suffix of letters and digits, as in secret ARNs.
pub(crate) fn arn_suffix() -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

/// Checks a secret name: 1–512 characters of letters, digits and `/_+=.@-`.
pub(crate) fn check_name(name: &str) -> Result<(), SecretsError> {
    crate::wire::check_len("name", name, 1, 512)?;
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b)) {
        return Err(SecretsError::validation(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ));
    }
    Ok(())
}
