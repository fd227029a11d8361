//! Decoding requests and encoding responses of the three JSON APIs.

use crate::SecretsError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes an operation's input; a misfit is a `ValidationException` in AWS's wording, naming the member.
pub(crate) fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, SecretsError> {
    berth_model::input::decode(input, berth_model::input::Naming::LastMemberCamel).map_err(SecretsError::validation)
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
