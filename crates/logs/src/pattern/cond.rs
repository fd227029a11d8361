//! Comparisons shared by JSON and space-delimited patterns: an operator and an operand, with `*` wildcards.

use super::PatternError;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A number (compared numerically), with its text (compared as a string when the value is not a number).
    Number(f64, String),
    /// A string, possibly with `*` wildcards.
    Text(String),
}

/// Reads an operator at the start of `s`; the operator and the rest.
pub(super) fn read_op(s: &str) -> Option<(CompareOp, &str)> {
    for (text, op) in [
        ("!=", CompareOp::Ne),
        ("<=", CompareOp::Le),
        (">=", CompareOp::Ge),
        ("=", CompareOp::Eq),
        ("<", CompareOp::Lt),
        (">", CompareOp::Gt),
    ] {
        if let Some(rest) = s.strip_prefix(text) {
            return Some((op, rest));
        }
    }
    None
}

/// Reads an operand at the start of `s` (after spaces): a quoted string or a bare word ending at a space or at one
/// of `stops`; the operand and the rest.
pub(super) fn read_operand<'a>(s: &'a str, stops: &[char]) -> Result<(Operand, &'a str), PatternError> {
    let s = s.trim_start();
    if let Some(body) = s.strip_prefix('"') {
        let (text, rest) = read_quoted(body)?;
        return Ok((Operand::Text(text), rest));
    }
    let end = s.find(|c: char| c.is_whitespace() || stops.contains(&c) || c == '&' || c == '|').unwrap_or(s.len());
    let word = &s[..end];
    if word.is_empty() {
        return Err(PatternError("a comparison is missing its value".into()));
    }
    let operand = match word.parse::<f64>() {
        Ok(n) if n.is_finite() => Operand::Number(n, word.to_string()),
        _ => Operand::Text(word.to_string()),
    };
    Ok((operand, &s[end..]))
}

/// Reads a quoted string's body (after the opening quote) up to the closing quote, with `\"` and `\\` escapes.
pub(super) fn read_quoted(body: &str) -> Result<(String, &str), PatternError> {
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(PatternError("a quoted string is not closed".into()))
}

/// Checks an operator against its operand: `<`, `<=`, `>`, `>=` need a number.
pub(super) fn check(op: CompareOp, operand: &Operand) -> Result<(), PatternError> {
    if matches!(op, CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge)
        && !matches!(operand, Operand::Number(..))
    {
        return Err(PatternError("<, <=, > and >= compare numbers only".into()));
    }
    Ok(())
}

/// Compares a value's text (and number, if it is one) with an operand.
pub(super) fn compare(value_text: &str, value_number: Option<f64>, op: CompareOp, operand: &Operand) -> bool {
    let equal = || match operand {
        Operand::Number(n, text) => value_number.map_or(value_text == text, |v| v == *n),
        Operand::Text(pattern) => glob(pattern, value_text),
    };
    match (op, operand) {
        (CompareOp::Eq, _) => equal(),
        (CompareOp::Ne, _) => !equal(),
        (_, Operand::Text(_)) => false,
        (op, Operand::Number(n, _)) => value_number.is_some_and(|v| match op {
            CompareOp::Lt => v < *n,
            CompareOp::Le => v <= *n,
            CompareOp::Gt => v > *n,
            _ => v >= *n,
        }),
    }
}

/// A JSON value as a number, if it is one (or a string holding one).
pub(super) fn number_of(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    berth_model::wildcard::wildcard_match(pattern, text)
}
