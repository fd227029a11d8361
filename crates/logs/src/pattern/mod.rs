//! CloudWatch Logs filter patterns: parsing and matching, for FilterLogEvents, metric filters and TestMetricFilter.
//!
//! Three forms, chosen by the first character:
//! * text: terms (`ERROR`), quoted phrases (`"Failed login"`), `?` alternatives (`?ERROR ?WARN`) and `-`
//!   exclusions (`ERROR -Retry`); every plain term must occur, no excluded one may, and when `?` terms are given at
//!   least one of them must. Terms match as case-sensitive substrings. An empty pattern matches every event.
//! * JSON, in braces: `{ $.level = "error" && $.ms > 100 }` with `=`, `!=` (strings with `*` wildcards or numbers),
//!   `<`, `<=`, `>`, `>=` (numbers), `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`, `&&`, `||` and parentheses.
//! * space-delimited, in brackets: `[ip, user, ..., status = 4* || status = 5*, bytes > 1000]`, fields split on
//!   spaces with `"quoted"` and `[bracketed]` fields kept whole, `...` for any number of fields.
//!
//! Regular expressions (`%...%`) are refused as not supported by Berth.

mod cond;
mod delimited;
mod json;
#[cfg(test)]
mod tests;
mod text;

pub use cond::{CompareOp, Operand};

/// A parse failure, with what was wrong; the API answers it as `InvalidParameterException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter pattern: {0}")]
pub struct PatternError(pub String);

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// Matches every event (the empty pattern).
    All,
    /// Terms, phrases, alternatives and exclusions.
    Text(text::TextPattern),
    /// A JSON pattern.
    Json(json::Expr),
    /// A space-delimited pattern.
    Delimited(delimited::DelimitedPattern),
}

impl Pattern {
    /// Parses a filter pattern.
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        let trimmed = source.trim();
        if trimmed.is_empty() {
            return Ok(Pattern::All);
        }
        if trimmed.starts_with('%') {
            return Err(PatternError(
                "regular expressions (%...%) in filter patterns are not supported by Berth".into(),
            ));
        }
        if trimmed.starts_with('{') {
            return json::parse(trimmed).map(Pattern::Json);
        }
        if trimmed.starts_with('[') {
            return delimited::parse(trimmed).map(Pattern::Delimited);
        }
        text::parse(trimmed).map(Pattern::Text)
    }

    /// Bytes every message this pattern matches contains, spelled the same inside a stored record (JSON): the
    /// longest required term of a text pattern that JSON writes unescaped (no `"`, backslash or control character). The
    /// store searches segments for it and decodes only the records around its occurrences. `None` when the pattern
    /// has no such term (then every record is examined).
    pub fn required_literal(&self) -> Option<&str> {
        let Pattern::Text(t) = self else { return None };
        t.required
            .iter()
            .filter(|term| !term.is_empty() && !term.chars().any(|c| c == '"' || c == '\\' || c < ' '))
            .max_by_key(|term| term.len())
            .map(String::as_str)
    }

    /// Whether an event's message matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Text(t) => t.matches(message),
            Pattern::Json(e) => serde_json::from_str::<serde_json::Value>(message).is_ok_and(|v| e.eval(&v)),
            Pattern::Delimited(d) => d.fields_of(message).is_some(),
        }
    }

    /// The value a metric filter's `metricValue` names in a matching message: a number (`"1"`), a JSON selector
    /// (`$.latency`) or a space-delimited field (`$bytes`). `None` when the message does not match or the value is
    /// not a number.
    pub fn metric_value(&self, message: &str, metric_value: &str) -> Option<f64> {
        if !self.matches(message) {
            return None;
        }
        let spec = metric_value.trim();
        if let Ok(n) = spec.parse::<f64>() {
            return Some(n);
        }
        if spec.starts_with("$.") {
            let value: serde_json::Value = serde_json::from_str(message).ok()?;
            let selector = json::Selector::parse(spec).ok()?;
            return cond::number_of(selector.lookup(&value)?);
        }
        let name = spec.strip_prefix('$')?;
        match self {
            Pattern::Delimited(d) => d.fields_of(message)?.get(name)?.parse().ok(),
            _ => None,
        }
    }

    /// The named values a matching message yields, as TestMetricFilter reports them (`$name` / `$.path` keys).
    pub fn extracted_values(&self, message: &str) -> std::collections::BTreeMap<String, String> {
        match self {
            Pattern::Delimited(d) => d
                .fields_of(message)
                .map(|fields| fields.into_iter().map(|(k, v)| (format!("${k}"), v)).collect())
                .unwrap_or_default(),
            _ => Default::default(),
        }
    }
}
