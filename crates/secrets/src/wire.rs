//! Decoding requests and encoding responses of the three JSON APIs.

use crate::SecretsError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes an operation's input; a misfit is a `ValidationException` in AWS's wording, naming the member.
pub(crate) fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, SecretsError> {
    let input = if input.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { input };
    let de = &mut serde_json::Deserializer::from_slice(input);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        SecretsError::validation(validation_message(&path, &inner))
    })
}

fn lower_first(name: &str) -> String {
    let name = name.rsplit('.').next().unwrap_or(name);
    let mut chars = name.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect::<String>()).unwrap_or_default()
}

fn validation_message(path: &str, error: &str) -> String {
    let quoted = |text: &str| text.split('`').nth(1).map(str::to_string);
    if error.starts_with("missing field")
        && let Some(field) = quoted(error)
    {
        let at = if path == "." { field } else { format!("{path}.{field}") };
        return format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(&at)
        );
    }
    if error.starts_with("unknown variant")
        && let Some(value) = quoted(error)
    {
        let allowed = error.split("expected one of ").nth(1).unwrap_or("").replace('`', "");
        return format!(
            "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]",
            lower_first(path)
        );
    }
    // Serde's wording may quote the offending input (a secret value): keep only the member and the kind.
    let kind = error.split(':').next().unwrap_or("invalid value").split(" at line").next().unwrap_or("invalid value");
    format!("1 validation error detected: Value at '{}' failed to satisfy constraint: {kind}", lower_first(path))
}

/// The output of an operation the model gives none (`{}`).
#[derive(Debug, Serialize)]
pub(crate) struct Empty {}

/// Encodes an output.
pub(crate) fn out<T: Serialize>(value: T) -> Result<Vec<u8>, SecretsError> {
    Ok(serde_json::to_vec(&value)?)
}

/// A length constraint in AWS's wording.
pub(crate) fn check_len(member: &str, value: &str, min: usize, max: usize) -> Result<(), SecretsError> {
    let n = value.chars().count();
    if n < min {
        return Err(SecretsError::constraint(
            member,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(SecretsError::constraint(member, &format!("Member must have length less than or equal to {max}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Req {
        #[serde(rename = "SecretId")]
        _id: String,
        #[serde(rename = "Count", default)]
        _count: i32,
    }

    #[test]
    fn misfits_name_the_member_and_never_echo_values() {
        let e = parse::<Req>(br#"{}"#).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null"
        );
        let e = parse::<Req>(br#"{"SecretId": "x", "Count": "hunter2"}"#).unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(e.message.contains("'count'"), "{}", e.message);
        assert!(check_len("name", "", 1, 2).is_err());
        assert!(check_len("name", "abc", 1, 2).is_err());
        assert!(check_len("name", "ab", 1, 2).is_ok());
    }
}
