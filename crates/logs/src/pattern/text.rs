//! Text patterns: terms, quoted phrases, `?` alternatives and `-` exclusions.

use super::PatternError;
use super::cond::read_quoted;

/// A text pattern: every `required` term occurs, no `excluded` one does, and one of `any` does (if given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextPattern {
    /// Terms that must all occur.
    pub required: Vec<String>,
    /// Terms of which one must occur (`?term`).
    pub any: Vec<String>,
    /// Terms that must not occur (`-term`).
    pub excluded: Vec<String>,
}

impl TextPattern {
    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        self.required.iter().all(|t| message.contains(t.as_str()))
            && !self.excluded.iter().any(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
    }
}

/// Characters that belong to other pattern syntax and must be quoted in a term.
const RESERVED: &[char] = &['"', '{', '}', '[', ']', '(', ')', '=', '<', '>', '|', '&', '!'];

/// Parses a (trimmed, non-empty) text pattern.
pub(super) fn parse(source: &str) -> Result<TextPattern, PatternError> {
    let mut pattern = TextPattern::default();
    let mut rest = source.trim_start();
    while !rest.is_empty() {
        let (kind, after) = match rest.as_bytes()[0] {
            b'?' => (Some(true), &rest[1..]),
            b'-' => (Some(false), &rest[1..]),
            _ => (None, rest),
        };
        let (term, after) = if let Some(body) = after.strip_prefix('"') {
            read_quoted(body)?
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            let word = &after[..end];
            if let Some(c) = word.chars().find(|c| RESERVED.contains(c)) {
                return Err(PatternError(format!("{c:?} in the term {word:?} must be inside a quoted phrase")));
            }
            (word.to_string(), &after[end..])
        };
        if term.is_empty() {
            return Err(PatternError("an empty term or phrase".into()));
        }
        match kind {
            None => pattern.required.push(term),
            Some(true) => pattern.any.push(term),
            Some(false) => pattern.excluded.push(term),
        }
        if !after.is_empty() && !after.starts_with(char::is_whitespace) {
            return Err(PatternError("terms must be separated by spaces".into()));
        }
        rest = after.trim_start();
    }
    Ok(pattern)
}
