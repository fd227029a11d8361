//! Decoding an AWS JSON operation's input into its generated shape, with AWS's wording when it does not fit.
//!
//! Every JSON API crate decodes its inputs the same way: an empty body is `{}`; a missing required member, a value
//! outside an enumeration, or a value of the wrong type becomes the message AWS's validation layer writes
//! (`1 validation error detected: Value null at 'x' failed to satisfy constraint: Member must not be null`), which
//! each crate wraps in its own exception class. Serde's own wording can quote the offending input (a secret
//! value, a password): only the member and the kind of error are kept.

use serde::de::DeserializeOwned;

/// How a member is named in a validation message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// The last member of the path, first letter lower-cased (`scalableDimension`), as most services write it.
    LastMemberCamel,
    /// The path as sent (`Instances.Attributes`), as Cloud Map writes it.
    Path,
}

/// Decodes an operation's input (`{}` when the body is empty); the error is AWS's validation message.
pub fn decode<T: DeserializeOwned>(input: &[u8], naming: Naming) -> Result<T, String> {
    let input = if input.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { input };
    let de = &mut serde_json::Deserializer::from_slice(input);
    serde_path_to_error::deserialize(de)
        .map_err(|e| validation_message(&e.path().to_string(), &e.inner().to_string(), naming))
}

/// Decodes an already parsed input; the error is AWS's validation message.
pub fn decode_value<T: DeserializeOwned>(input: serde_json::Value, naming: Naming) -> Result<T, String> {
    serde_path_to_error::deserialize(input)
        .map_err(|e| validation_message(&e.path().to_string(), &e.inner().to_string(), naming))
}

/// AWS's wording of a request that does not fit the model, from serde's error at `path`.
pub fn validation_message(path: &str, error: &str, naming: Naming) -> String {
    let member = |name: &str| match naming {
        Naming::Path => name.to_string(),
        Naming::LastMemberCamel => {
            let name = name.rsplit('.').next().unwrap_or(name);
            let mut chars = name.chars();
            chars.next().map(|c| c.to_lowercase().chain(chars).collect::<String>()).unwrap_or_default()
        }
    };
    let quoted = |text: &str| text.split('`').nth(1).map(str::to_string);
    if error.starts_with("missing field")
        && let Some(field) = quoted(error)
    {
        let at = if path == "." { field } else { format!("{path}.{field}") };
        return format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            member(&at)
        );
    }
    if error.starts_with("unknown variant")
        && let Some(value) = quoted(error)
    {
        let allowed = error.split("expected one of ").nth(1).unwrap_or("").replace('`', "");
        return format!(
            "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must satisfy \
             enum value set: [{allowed}]",
            member(path)
        );
    }
    let kind = error.split(':').next().unwrap_or("invalid value").split(" at line").next().unwrap_or("invalid value");
    format!("1 validation error detected: Value at '{}' failed to satisfy constraint: {kind}", member(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Input {
        #[serde(rename = "ResourceId")]
        resource_id: String,
        #[serde(rename = "Count", default)]
        count: i32,
    }

    #[test]
    fn misfits_get_aws_wording_and_never_echo_the_input() {
        let missing = decode::<Input>(b"{}", Naming::LastMemberCamel).unwrap_err();
        assert!(missing.contains("Value null at 'resourceId'") && missing.contains("must not be null"), "{missing}");
        assert!(decode::<Input>(b" ", Naming::Path).unwrap_err().contains("'ResourceId'"));
        let wrong = decode::<Input>(br#"{"ResourceId": 7}"#, Naming::Path).unwrap_err();
        assert!(wrong.contains("at 'ResourceId'") && wrong.contains("invalid type"), "{wrong}");
        let secret = decode::<Input>(br#"{"ResourceId": "x", "Count": "hunter2"}"#, Naming::Path).unwrap_err();
        assert!(!secret.contains("hunter2"), "{secret}");
        assert_eq!(decode::<Input>(br#"{"ResourceId": "x"}"#, Naming::Path).unwrap().resource_id, "x");
    }
}
