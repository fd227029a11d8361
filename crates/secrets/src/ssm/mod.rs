//! SSM Parameter Store: String, StringList and SecureString parameters with versions, labels, tiers, hierarchies
//! and tags; every other SSM operation is refused by name.

mod labels;
pub(crate) mod ops;
mod query;
pub mod records;
mod tags;

use crate::kms::{KeyUseError, SSM_ALIAS};
use crate::records::{self as store_records, SCHEMA};
use crate::{Secrets, SecretsError};
use records::{ParamRecord, ValueRecord, VersionRecord, param_key, value_context, value_key};
use zeroize::Zeroizing;

/// The deepest hierarchy allowed.
pub const MAX_DEPTH: usize = 15;

/// `ParameterNotFound` (AWS gives no message).
pub fn not_found() -> SecretsError {
    SecretsError::new("ParameterNotFound", "")
}

/// Checks a parameter name as PutParameter does.
pub fn check_name(name: &str) -> Result<(), SecretsError> {
    crate::wire::check_len("name", name, 1, 1011)?;
    let lower = name.trim_start_matches('/').to_ascii_lowercase();
    let valid_chars = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
    if !valid_chars || lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(SecretsError::validation(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_",
        ));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(SecretsError::validation("Parameter name must be a fully qualified name."));
    }
    if name.contains("//") || (name.len() > 1 && name.ends_with('/')) {
        return Err(SecretsError::validation(
            "Parameter name: each sub-path must be made of letters, numbers and the symbols .-_ (no empty sub-path).",
        ));
    }
    if name.matches('/').count() > MAX_DEPTH {
        return Err(SecretsError::new(
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html",
        ));
    }
    Ok(())
}

/// A name with an optional `:version` or `:label` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The newest version.
    Latest,
    /// `name:3`.
    Version(i64),
    /// `name:label`.
    Label(String),
}

/// Splits `name:selector` (names have no colons, ARNs do: only the part after `parameter/` is looked at).
pub fn split_selector(text: &str) -> (&str, Selector) {
    let tail_start = text.find(":parameter/").map_or(0, |i| i + ":parameter/".len());
    match text[tail_start..].rfind(':') {
        Some(i) => {
            let (name, selector) = (&text[..tail_start + i], &text[tail_start + i + 1..]);
            match selector.parse::<i64>() {
                Ok(v) if !selector.starts_with(['+', '-']) => (name, Selector::Version(v)),
                _ => (name, Selector::Label(selector.to_string())),
            }
        }
        None => (text, Selector::Latest),
    }
}

impl Secrets {
    /// The ARN of a parameter.
    pub(crate) fn parameter_arn(&self, name: &str) -> String {
        self.arn("ssm", &format!("parameter/{}", name.trim_start_matches('/')))
    }

    /// The parameter a name or ARN names.
    pub(crate) async fn find_param(&self, name_or_arn: &str) -> Result<Option<(ParamRecord, i64)>, SecretsError> {
        let prefix = self.arn("ssm", "parameter/");
        if let Some(rest) = name_or_arn.strip_prefix(&prefix) {
            // `parameter/a/b` is `/a/b`; `parameter/a` is `a` or `/a`.
            for name in [format!("/{rest}"), rest.to_string()] {
                if let Some(found) = store_records::get::<ParamRecord>(&self.store, &param_key(&name)).await? {
                    return Ok(Some(found));
                }
            }
            return Ok(None);
        }
        if name_or_arn.starts_with("arn:") {
            return Ok(None);
        }
        store_records::get(&self.store, &param_key(name_or_arn)).await
    }

    /// Seals a version's value (SecureString under its key, other types under `alias/aws/ssm`).
    pub(crate) async fn seal_param_value(
        &self,
        arn: &str,
        version: &VersionRecord,
        value: &str,
    ) -> Result<ValueRecord, SecretsError> {
        let key = version.key_id.as_deref().unwrap_or(SSM_ALIAS);
        let envelope = self
            .seal_value(key, &value_context(arn, version.version), value.as_bytes())
            .await
            .map_err(|e| key_error(e, key))?;
        Ok(ValueRecord { schema: SCHEMA, envelope })
    }

    /// A version's value: decrypted, or for a SecureString without decryption its ciphertext (base64).
    pub(crate) async fn param_value(
        &self,
        param: &ParamRecord,
        version: &VersionRecord,
        decrypt: bool,
    ) -> Result<Zeroizing<String>, SecretsError> {
        let Some((value, _)) =
            store_records::get::<ValueRecord>(&self.store, &value_key(&param.name, version.version)).await?
        else {
            return Err(SecretsError::internal("InternalServerError", &format!("{} lost a value", param.arn)));
        };
        if version.param_type == "SecureString" && !decrypt {
            return Ok(Zeroizing::new(value.envelope.value.trim_start_matches("v1:").to_string()));
        }
        let key = version.key_id.as_deref().unwrap_or(SSM_ALIAS);
        let plain = self
            .open_value(&value.envelope, &value_context(&param.arn, version.version))
            .await
            .map_err(|e| key_error(e, key))?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| {
            SecretsError::internal("InternalServerError", &format!("{} holds a value that is not UTF-8", param.arn))
        })
    }
}

/// A KMS failure as SSM reports it (`InvalidKeyId`, with KMS's own error inside the message).
fn key_error(e: KeyUseError, key: &str) -> SecretsError {
    match e {
        KeyUseError::NotFound(_) => SecretsError::new("InvalidKeyId", format!("Invalid KeyId: {key}")),
        KeyUseError::Disabled(arn) => SecretsError::new(
            "InvalidKeyId",
            format!("{arn} is disabled. (Service: AWSKMS; Status Code: 400; Error Code: DisabledException)"),
        ),
        KeyUseError::Internal(e) => SecretsError { exception: "InternalServerError", ..e },
    }
}

/// The version a selector picks.
pub(crate) fn select<'a>(param: &'a ParamRecord, selector: &Selector) -> Result<&'a VersionRecord, SecretsError> {
    match selector {
        Selector::Latest => param.latest().ok_or_else(not_found),
        Selector::Version(v) => param.versions.iter().find(|r| r.version == *v).ok_or_else(|| {
            SecretsError::new(
                "ParameterVersionNotFound",
                format!(
                    "Systems Manager could not find version {v} of {}. Verify the version and try again.",
                    param.name
                ),
            )
        }),
        Selector::Label(l) => param.versions.iter().find(|r| r.labels.contains(l)).ok_or_else(|| {
            SecretsError::new(
                "ParameterVersionNotFound",
                format!("Systems Manager could not find label {l} of {}. Verify the label and try again.", param.name),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_parameter_store_rules() {
        for ok in ["db-pass", "/app/prod/db.url", "a_b", "/x"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        assert_eq!(check_name("aws-thing").unwrap_err().exception, "ValidationException");
        assert_eq!(check_name("/SSM/x").unwrap_err().exception, "ValidationException");
        assert_eq!(check_name("a/b").unwrap_err().message, "Parameter name must be a fully qualified name.");
        assert!(check_name("/a b").is_err());
        assert!(check_name("/a//b").is_err());
        let deep = "/l".repeat(16);
        assert_eq!(check_name(&deep).unwrap_err().exception, "HierarchyLevelLimitExceededException");
        assert!(check_name(&"/l".repeat(15)).is_ok());
    }

    #[test]
    fn selectors_split_versions_and_labels_also_after_arns() {
        assert_eq!(split_selector("/a/b"), ("/a/b", Selector::Latest));
        assert_eq!(split_selector("/a/b:3"), ("/a/b", Selector::Version(3)));
        assert_eq!(split_selector("/a/b:prod"), ("/a/b", Selector::Label("prod".into())));
        let arn = "arn:aws:ssm:us-east-1:000000000000:parameter/a/b";
        assert_eq!(split_selector(arn), (arn, Selector::Latest));
        assert_eq!(split_selector(&format!("{arn}:2")), (arn, Selector::Version(2)));
    }
}
