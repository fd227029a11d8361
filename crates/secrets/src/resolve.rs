//! [`Secrets::resolve`]: what an ECS container's `secrets[].valueFrom` names, read for injection into a task, with
//! ECS's failure wording (`ResourceInitializationError: unable to pull secrets or registry auth: ...`).
//!
//! `valueFrom` is either a Secrets Manager ARN, full or without the random suffix, optionally followed by
//! `:json-key:version-stage:version-id` (each part may be empty; stage and ID exclude each other), or an SSM
//! parameter's ARN or name (this region), optionally with a `:version` or `:label` selector.

use crate::sm::stages::CURRENT;
use crate::ssm::{Selector, select, split_selector};
use crate::{Secrets, SecretsError};
use zeroize::Zeroizing;

/// A resolved value. Its `Debug` does not show it; its memory is wiped when dropped.
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// The value, for injection into the container.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// The authorization hook: whether the task's execution role may read a resource. Until Berth has IAM (issue 12,
/// item 1), [`AllowAll`] is passed; the IAM evaluation will implement this for the execution role.
pub trait ResolveAuthorizer: Send + Sync {
    /// Whether `action` (`secretsmanager:GetSecretValue`, `ssm:GetParameters`) is allowed on `resource` (an ARN);
    /// `Err` carries the denial as the API would word it (`User: ... is not authorized to perform: ...`).
    fn authorize(&self, action: &str, resource: &str) -> Result<(), String>;

    /// [`ResolveAuthorizer::authorize`] on a resource that has a policy or tags (a secret's resource policy and
    /// tags, a parameter's tags), which an IAM check evaluates as the API's hook does. Without IAM there is nothing
    /// to evaluate them with: the default is [`ResolveAuthorizer::authorize`].
    fn authorize_on(&self, action: &str, resource: &str, on: &OnResource<'_>) -> Result<(), String> {
        let _ = on;
        self.authorize(action, resource)
    }
}

/// What a resource brings to an authorization besides its ARN.
#[derive(Debug, Clone, Copy)]
pub struct OnResource<'a> {
    /// The service prefix of its `<prefix>:ResourceTag/...` keys (`secretsmanager`, `ssm`).
    pub prefix: &'a str,
    /// Its resource policy.
    pub policy: Option<&'a berth_iam::policy::NamedPolicy>,
    /// Its tags.
    pub tags: &'a [(String, String)],
}

/// Allows everything (Berth without IAM).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl ResolveAuthorizer for AllowAll {
    fn authorize(&self, _action: &str, _resource: &str) -> Result<(), String> {
        Ok(())
    }
}

/// What a `valueFrom` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueFrom {
    /// A Secrets Manager secret, with the ECS selectors.
    SecretsManager {
        /// The secret's ARN (full or partial), without the selectors.
        arn: String,
        /// `json-key`: the member of the secret's JSON object to inject.
        json_key: Option<String>,
        /// `version-stage`.
        version_stage: Option<String>,
        /// `version-id`.
        version_id: Option<String>,
    },
    /// An SSM parameter: its name or ARN, with an optional `:version`/`:label` selector.
    Parameter {
        /// The name or ARN as given.
        name: String,
    },
}

const PREFIX: &str =
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed";

/// Why a `valueFrom` could not be resolved; `Display` is the task's stopped reason, as ECS words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The text is not a `valueFrom` ECS accepts.
    #[error("{PREFIX}: invalid secret valueFrom {value_from}: {reason}")]
    Malformed {
        /// The text.
        value_from: String,
        /// What is wrong.
        reason: String,
    },
    /// Secrets Manager refused (no such secret, scheduled for deletion, no such version, a disabled key ...).
    #[error(
        "{PREFIX}: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {arn} from secrets manager: {exception}: {message}"
    )]
    Secret {
        /// The secret's ARN as given.
        arn: String,
        /// The API's exception.
        exception: String,
        /// The API's message.
        message: String,
    },
    /// The secret's value is not a JSON object with that key.
    #[error(
        "{PREFIX}: unable to retrieve secret from asm: service call has been retried 1 time(s): retrieved secret from Secrets Manager did not contain json key {key}"
    )]
    JsonKey {
        /// The key asked for.
        key: String,
    },
    /// A secret stored as SecretBinary (ECS injects SecretString only).
    #[error(
        "{PREFIX}: unable to retrieve secret from asm: service call has been retried 1 time(s): secret {arn} has no SecretString: a binary secret cannot be injected"
    )]
    Binary {
        /// The secret's ARN as given.
        arn: String,
    },
    /// The parameter (or its version or label) does not exist.
    #[error(
        "{PREFIX}: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid parameters: {name}"
    )]
    Parameter {
        /// The name as given.
        name: String,
    },
    /// SSM refused (a disabled key ...).
    #[error(
        "{PREFIX}: unable to retrieve secrets from ssm: service call has been retried 1 time(s): operation error SSM: GetParameters, api error {exception}: {message}"
    )]
    Ssm {
        /// The API's exception.
        exception: String,
        /// The API's message.
        message: String,
    },
    /// A `repositoryCredentials` secret whose value is not a JSON object with string `username` and `password`.
    #[error(
        "{PREFIX}: unable to retrieve secret from asm: service call has been retried 1 time(s): secret {arn} is not a JSON object with string members username and password, as private registry authentication needs"
    )]
    RegistryCredentials {
        /// The secret's ARN or name as given.
        arn: String,
    },
    /// The authorization hook denied the read.
    #[error(
        "{PREFIX}: unable to retrieve {service}: service call has been retried 1 time(s): api error AccessDeniedException: {message}"
    )]
    Denied {
        /// `secret from asm` or `secrets from ssm`.
        service: &'static str,
        /// The denial.
        message: String,
    },
}

fn some(part: Option<&str>) -> Option<String> {
    part.filter(|p| !p.is_empty()).map(str::to_string)
}

/// Parses a `valueFrom`.
pub fn parse_value_from(value_from: &str) -> Result<ValueFrom, ResolveError> {
    let malformed =
        |reason: &str| ResolveError::Malformed { value_from: value_from.to_string(), reason: reason.into() };
    if value_from.is_empty() {
        return Err(malformed("empty"));
    }
    if value_from.starts_with("arn:") {
        let parts: Vec<&str> = value_from.split(':').collect();
        if parts.len() < 6 {
            return Err(malformed("not an ARN"));
        }
        match parts[2] {
            "secretsmanager" => {
                if parts.len() < 7 || parts[5] != "secret" || parts[6].is_empty() || parts.len() > 10 {
                    return Err(malformed(
                        "a Secrets Manager ARN is arn:aws:secretsmanager:region:account:secret:name[:json-key:version-stage:version-id]",
                    ));
                }
                let (version_stage, version_id) = (some(parts.get(8).copied()), some(parts.get(9).copied()));
                if version_stage.is_some() && version_id.is_some() {
                    return Err(malformed("version-stage and version-id cannot both be given"));
                }
                Ok(ValueFrom::SecretsManager {
                    arn: parts[..7].join(":"),
                    json_key: some(parts.get(7).copied()),
                    version_stage,
                    version_id,
                })
            }
            "ssm" if parts[5].starts_with("parameter/") => Ok(ValueFrom::Parameter { name: value_from.to_string() }),
            _ => Err(malformed("only Secrets Manager secret and SSM parameter ARNs are supported")),
        }
    } else {
        Ok(ValueFrom::Parameter { name: value_from.to_string() })
    }
}

impl Secrets {
    /// Reads the value a container's `secrets[].valueFrom` names, asking `authorizer` first. The error's text is
    /// the task's stopped reason.
    pub async fn resolve(
        &self,
        value_from: &str,
        authorizer: &dyn ResolveAuthorizer,
    ) -> Result<SecretValue, ResolveError> {
        match parse_value_from(value_from)? {
            ValueFrom::SecretsManager { arn, json_key, version_stage, version_id } => {
                let fail = |e: SecretsError| ResolveError::Secret {
                    arn: arn.clone(),
                    exception: e.exception.to_string(),
                    message: e.message,
                };
                let (secret, _) = self.live_secret(&arn).await.map_err(fail)?;
                let policy = crate::sm::policy::parsed_policy(&secret);
                let on = OnResource { prefix: "secretsmanager", policy: policy.as_ref(), tags: &secret.tags };
                authorizer
                    .authorize_on("secretsmanager:GetSecretValue", &secret.arn, &on)
                    .map_err(|message| ResolveError::Denied { service: "secret from asm", message })?;
                self.authorize_customer_key(&secret, authorizer).await?;
                let stage = version_stage.as_deref().or(version_id.is_none().then_some(CURRENT));
                let id = Secrets::select_version(&secret, version_id.as_deref(), stage).map_err(fail)?;
                let value = self.open_secret_value(&secret, &id).await.map_err(fail)?;
                crate::sm::ops::touch(self, &secret.name, &id).await;
                let crate::sm::Plain::Text(text) = value else { return Err(ResolveError::Binary { arn }) };
                match json_key {
                    None => Ok(SecretValue(text)),
                    Some(key) => json_member(&text, &key).ok_or(ResolveError::JsonKey { key }),
                }
            }
            ValueFrom::Parameter { name } => {
                let invalid = || ResolveError::Parameter { name: name.clone() };
                let fail =
                    |e: SecretsError| ResolveError::Ssm { exception: e.exception.to_string(), message: e.message };
                let (base, selector) = split_selector(&name);
                let (param, _) = self.find_param(base).await.map_err(fail)?.ok_or_else(invalid)?;
                let on = OnResource { prefix: "ssm", policy: None, tags: &param.tags };
                authorizer
                    .authorize_on("ssm:GetParameters", &param.arn, &on)
                    .map_err(|message| ResolveError::Denied { service: "secrets from ssm", message })?;
                let version = match select(&param, &selector) {
                    Ok(v) => v,
                    Err(_) if selector != Selector::Latest => return Err(invalid()),
                    Err(e) => return Err(fail(e)),
                };
                let value = self.param_value(&param, version, true).await.map_err(fail)?;
                Ok(SecretValue(value))
            }
        }
    }
}

/// Private registry credentials read from a `repositoryCredentials.credentialsParameter` secret. Its `Debug` does
/// not show the password; its memory is wiped when dropped.
pub struct RegistryLogin {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: SecretValue,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLogin").field("username", &self.username).field("password", &self.password).finish()
    }
}

/// The secret a `credentialsParameter` names: a Secrets Manager secret's ARN (full or without the random suffix; no
/// selectors) or its name, as ECS takes it.
fn registry_secret_id(parameter: &str) -> Result<String, ResolveError> {
    let malformed = |reason: &str| ResolveError::Malformed { value_from: parameter.to_string(), reason: reason.into() };
    if parameter.trim().is_empty() {
        return Err(malformed("empty"));
    }
    if !parameter.starts_with("arn:") {
        return Ok(parameter.to_string());
    }
    let parts: Vec<&str> = parameter.split(':').collect();
    if parts.len() != 7 || parts[2] != "secretsmanager" || parts[5] != "secret" || parts[6].is_empty() {
        return Err(malformed(
            "repositoryCredentials.credentialsParameter is a Secrets Manager secret's name or ARN \
             (arn:aws:secretsmanager:region:account:secret:name)",
        ));
    }
    Ok(parameter.to_string())
}

impl Secrets {
    /// A secret under a customer managed KMS key needs `kms:Decrypt` on that key too, as ECS's execution role does
    /// (the AWS managed `alias/aws/secretsmanager` needs nothing more). A key that cannot be found is left to the
    /// read, which fails with Secrets Manager's error.
    async fn authorize_customer_key(
        &self,
        secret: &crate::sm::records::SecretRecord,
        authorizer: &dyn ResolveAuthorizer,
    ) -> Result<(), ResolveError> {
        let Some(key_id) = secret.kms_key_id.as_deref().filter(|k| {
            let managed = crate::kms::SECRETS_MANAGER_ALIAS;
            !k.is_empty() && *k != managed && !k.ends_with(&format!(":{managed}"))
        }) else {
            return Ok(());
        };
        let Ok((key, _)) = self.find_key(key_id).await else { return Ok(()) };
        authorizer
            .authorize("kms:Decrypt", &key.arn)
            .map_err(|message| ResolveError::Denied { service: "secret from asm", message })
    }

    /// Reads the private registry credentials a container's `repositoryCredentials.credentialsParameter` names (the
    /// AWSCURRENT version of a secret holding `{"username": ..., "password": ...}`), asking `authorizer` first. The
    /// error's text is the task's stopped reason.
    pub async fn resolve_registry_credentials(
        &self,
        parameter: &str,
        authorizer: &dyn ResolveAuthorizer,
    ) -> Result<RegistryLogin, ResolveError> {
        let id = registry_secret_id(parameter)?;
        let fail = |e: SecretsError| ResolveError::Secret {
            arn: parameter.to_string(),
            exception: e.exception.to_string(),
            message: e.message,
        };
        let (secret, _) = self.live_secret(&id).await.map_err(fail)?;
        let policy = crate::sm::policy::parsed_policy(&secret);
        let on = OnResource { prefix: "secretsmanager", policy: policy.as_ref(), tags: &secret.tags };
        authorizer
            .authorize_on("secretsmanager:GetSecretValue", &secret.arn, &on)
            .map_err(|message| ResolveError::Denied { service: "secret from asm", message })?;
        self.authorize_customer_key(&secret, authorizer).await?;
        let version = Secrets::select_version(&secret, None, Some(CURRENT)).map_err(fail)?;
        let value = self.open_secret_value(&secret, &version).await.map_err(fail)?;
        crate::sm::ops::touch(self, &secret.name, &version).await;
        let crate::sm::Plain::Text(text) = value else {
            return Err(ResolveError::RegistryCredentials { arn: parameter.to_string() });
        };
        let bad = || ResolveError::RegistryCredentials { arn: parameter.to_string() };
        let parsed: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
        let member = |key: &str| parsed.get(key).and_then(serde_json::Value::as_str).map(str::to_string);
        let (Some(username), Some(password)) = (member("username"), member("password")) else { return Err(bad()) };
        Ok(RegistryLogin { username, password: SecretValue(Zeroizing::new(password)) })
    }
}

/// A member of a JSON object, as text (a string's contents; any other value as JSON).
fn json_member(text: &str, key: &str) -> Option<SecretValue> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let member = value.as_object()?.get(key)?;
    let text = match member {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(SecretValue(Zeroizing::new(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf";

    #[test]
    fn value_from_forms_ecs_accepts() {
        assert_eq!(
            parse_value_from(ARN).unwrap(),
            ValueFrom::SecretsManager { arn: ARN.into(), json_key: None, version_stage: None, version_id: None }
        );
        assert_eq!(
            parse_value_from(&format!("{ARN}:password::")).unwrap(),
            ValueFrom::SecretsManager {
                arn: ARN.into(),
                json_key: Some("password".into()),
                version_stage: None,
                version_id: None
            }
        );
        assert_eq!(
            parse_value_from(&format!("{ARN}::AWSPREVIOUS:")).unwrap(),
            ValueFrom::SecretsManager {
                arn: ARN.into(),
                json_key: None,
                version_stage: Some("AWSPREVIOUS".into()),
                version_id: None
            }
        );
        assert_eq!(
            parse_value_from(&format!("{ARN}:user::0123")).unwrap(),
            ValueFrom::SecretsManager {
                arn: ARN.into(),
                json_key: Some("user".into()),
                version_stage: None,
                version_id: Some("0123".into())
            }
        );
        let ssm = "arn:aws:ssm:us-east-1:000000000000:parameter/app/db";
        assert_eq!(parse_value_from(ssm).unwrap(), ValueFrom::Parameter { name: ssm.into() });
        assert_eq!(parse_value_from("/app/db").unwrap(), ValueFrom::Parameter { name: "/app/db".into() });
    }

    #[test]
    fn malformed_value_froms_are_refused_in_ecs_words() {
        for bad in [
            "",
            &format!("{ARN}:k:AWSCURRENT:0123") as &str,
            &format!("{ARN}:a:b:c:d"),
            "arn:aws:s3:::bucket/key",
            "arn:aws:secretsmanager:us-east-1:000000000000:other:x",
        ] {
            let e = parse_value_from(bad).unwrap_err();
            assert!(
                e.to_string().starts_with(
                    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: invalid secret valueFrom"
                ),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn json_keys_pick_members_and_values_stay_hidden() {
        assert_eq!(json_member(r#"{"user":"admin","port":5432}"#, "user").unwrap().expose(), "admin");
        assert_eq!(json_member(r#"{"user":"admin","port":5432}"#, "port").unwrap().expose(), "5432");
        assert!(json_member(r#"{"user":"admin"}"#, "password").is_none());
        assert!(json_member("not json", "user").is_none());
        let v = json_member(r#"{"p":"hunter2"}"#, "p").unwrap();
        assert_eq!(format!("{v:?}"), "SecretValue(<redacted>)");
        let e = ResolveError::JsonKey { key: "password".into() };
        assert_eq!(
            e.to_string(),
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): retrieved secret from Secrets Manager did not contain json key password"
        );
    }
}
