//! Small helpers for the schema upgrades of the records: each upgrade is a pure transformation of JSON values, so
//! it reads members out of the old object and builds the new one, failing with a message (never panicking) on a
//! value that does not have the shape its version promised.

use serde_json::{Map, Value};

/// The members of a stored value, which must be a JSON object.
pub(crate) fn object(value: Value, what: &str) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!("{what} is not a JSON object: {other}")),
    }
}

/// Removes a member that must be present.
pub(crate) fn required(map: &mut Map<String, Value>, member: &str, what: &str) -> Result<Value, String> {
    map.remove(member).filter(|v| !v.is_null()).ok_or_else(|| format!("{what} has no `{member}`"))
}

/// Removes a member, or gives `default` when it is absent or null.
pub(crate) fn or(map: &mut Map<String, Value>, member: &str, default: Value) -> Value {
    map.remove(member).filter(|v| !v.is_null()).unwrap_or(default)
}

/// Moves `member` from `from` to `to` under `new_name` when it is present and not null.
pub(crate) fn carry(from: &mut Map<String, Value>, member: &str, to: &mut Map<String, Value>, new_name: &str) {
    if let Some(v) = from.remove(member).filter(|v| !v.is_null()) {
        to.insert(new_name.to_string(), v);
    }
}

/// Checks that a status member holds one of the texts `known` accepts.
pub(crate) fn status(value: Value, member: &str, known: impl Fn(&str) -> bool, what: &str) -> Result<Value, String> {
    match value.as_str() {
        Some(text) if known(text) => Ok(value),
        _ => Err(format!("{what} has an unknown `{member}`: {value}")),
    }
}
