//! Reading YAML values with the key path in every error.

use crate::error::{ComposeError, Result};
use serde_yaml_ng::{Mapping, Value};

/// A mapping key as text (compose keys are strings; numbers and booleans are written as YAML spells them).
pub(crate) fn key_text(key: &Value) -> String {
    scalar_text(key).unwrap_or_else(|| format!("{key:?}"))
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A scalar (string, number or boolean) as text.
pub(crate) fn scalar(value: &Value, key: &str) -> Result<String> {
    scalar_text(value).ok_or_else(|| ComposeError::invalid(key, "expected a string or a number"))
}

/// A string (one item) or a list of scalars.
pub(crate) fn strings(value: &Value, key: &str) -> Result<Vec<String>> {
    match value {
        Value::Sequence(items) => {
            items.iter().enumerate().map(|(i, item)| scalar(item, &format!("{key}[{i}]"))).collect()
        }
        other => Ok(vec![scalar(other, key)?]),
    }
}

/// A list of scalars only.
pub(crate) fn list(value: &Value, key: &str) -> Result<Vec<String>> {
    match value {
        Value::Sequence(_) => strings(value, key),
        _ => Err(ComposeError::invalid(key, "expected a list")),
    }
}

/// A mapping.
pub(crate) fn mapping<'a>(value: &'a Value, key: &str) -> Result<&'a Mapping> {
    value.as_mapping().ok_or_else(|| ComposeError::invalid(key, "expected a mapping"))
}

/// A mapping's entries with their keys as text.
pub(crate) fn entries(map: &Mapping) -> impl Iterator<Item = (String, &Value)> {
    map.iter().map(|(k, v)| (key_text(k), v))
}

/// `KEY=VALUE` pairs from a list (`["A=1", "B"]`) or a mapping (`{A: 1, B: null}`); a key without a value is `None`.
pub(crate) fn key_values(value: &Value, key: &str, separator: char) -> Result<Vec<(String, Option<String>)>> {
    match value {
        Value::Sequence(_) => Ok(list(value, key)?
            .into_iter()
            .map(|item| match item.split_once(separator) {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (item, None),
            })
            .collect()),
        Value::Mapping(map) => entries(map)
            .map(|(k, v)| {
                let text = if v.is_null() { None } else { Some(scalar(v, &format!("{key}.{k}"))?) };
                Ok((k, text))
            })
            .collect(),
        _ => Err(ComposeError::invalid(key, "expected a list or a mapping")),
    }
}

/// A boolean (YAML's `true`/`false`, or the strings compose also takes).
pub(crate) fn boolean(value: &Value, key: &str) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if matches!(s.as_str(), "true" | "yes") => Ok(true),
        Value::String(s) if matches!(s.as_str(), "false" | "no") => Ok(false),
        _ => Err(ComposeError::invalid(key, "expected true or false")),
    }
}

/// A whole number within `max`.
pub(crate) fn number(value: &Value, key: &str, max: u64) -> Result<u64> {
    let text = scalar(value, key)?;
    text.parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| ComposeError::invalid(key, format!("{text:?} is not a whole number up to {max}")))
}
