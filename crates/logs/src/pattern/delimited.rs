//! Space-delimited patterns: `[ip, user, ..., status = 4* || status = 5*, bytes > 1000]`.

use super::PatternError;
use super::cond::{self, CompareOp, Operand};
use std::collections::BTreeMap;

/// A condition on named fields.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    /// Both hold.
    And(Box<FieldExpr>, Box<FieldExpr>),
    /// Either holds.
    Or(Box<FieldExpr>, Box<FieldExpr>),
    /// A field compared with an operand.
    Compare(String, CompareOp, Operand),
}

impl FieldExpr {
    fn eval(&self, fields: &BTreeMap<String, String>) -> bool {
        match self {
            FieldExpr::And(a, b) => a.eval(fields) && b.eval(fields),
            FieldExpr::Or(a, b) => a.eval(fields) || b.eval(fields),
            FieldExpr::Compare(name, op, operand) => fields
                .get(name)
                .is_some_and(|v| cond::compare(v, v.parse::<f64>().ok().filter(|n| n.is_finite()), *op, operand)),
        }
    }
}

/// One position of the pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `...`: any number of fields.
    Ellipsis,
    /// A named field, with the condition written at its position.
    Field(String, Option<FieldExpr>),
}

/// A space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct DelimitedPattern {
    /// The positions.
    pub items: Vec<Item>,
}

impl DelimitedPattern {
    /// The named fields of `message` if it matches.
    pub fn fields_of(&self, message: &str) -> Option<BTreeMap<String, String>> {
        let words = split_fields(message);
        let mut fields = BTreeMap::new();
        self.assign(&self.items, &words, &mut fields).then_some(fields)
    }

    /// Backtracking assignment of words to items; conditions are checked once every field is named.
    fn assign(&self, items: &[Item], words: &[String], fields: &mut BTreeMap<String, String>) -> bool {
        match items.split_first() {
            None => words.is_empty() && self.conditions_hold(fields),
            Some((Item::Ellipsis, rest)) => (0..=words.len()).any(|skip| self.assign(rest, &words[skip..], fields)),
            Some((Item::Field(name, _), rest)) => {
                let Some((word, more)) = words.split_first() else { return false };
                fields.insert(name.clone(), word.clone());
                self.assign(rest, more, fields)
            }
        }
    }

    fn conditions_hold(&self, fields: &BTreeMap<String, String>) -> bool {
        self.items.iter().all(|item| match item {
            Item::Field(_, Some(expr)) => expr.eval(fields),
            _ => true,
        })
    }
}

/// Splits a message on spaces; a `"quoted"` or `[bracketed]` run is one field, without its delimiters.
fn split_fields(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = message.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let close = match c {
            '"' => Some('"'),
            '[' => Some(']'),
            _ => None,
        };
        let mut field = String::new();
        if let Some(close) = close {
            chars.next();
            for c in chars.by_ref() {
                if c == close {
                    break;
                }
                field.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                field.push(c);
                chars.next();
            }
        }
        out.push(field);
    }
    out
}

/// Parses `[ ... ]`.
pub(super) fn parse(source: &str) -> Result<DelimitedPattern, PatternError> {
    let inner = source
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| PatternError("a space-delimited pattern must end with ]".into()))?;
    let mut items = Vec::new();
    let mut rest = inner;
    loop {
        let trimmed = rest.trim_start();
        let (item, after) = if let Some(after) = trimmed.strip_prefix("...") {
            (Item::Ellipsis, after)
        } else {
            let (name, after) = read_name(trimmed)?;
            if after.trim_start().starts_with(',') || after.trim().is_empty() {
                (Item::Field(name, None), after)
            } else {
                let (expr, after) = parse_or(trimmed)?;
                (Item::Field(name, Some(expr)), after)
            }
        };
        items.push(item);
        let after = after.trim_start();
        if after.is_empty() {
            break;
        }
        rest =
            after.strip_prefix(',').ok_or_else(|| PatternError(format!("expected , between fields at {after:?}")))?;
    }
    let mut names = std::collections::HashSet::new();
    for item in &items {
        if let Item::Field(name, _) = item
            && !names.insert(name.as_str())
        {
            return Err(PatternError(format!("the field {name:?} is named twice")));
        }
    }
    Ok(DelimitedPattern { items })
}

fn parse_or(s: &str) -> Result<(FieldExpr, &str), PatternError> {
    let (mut left, mut rest) = parse_and(s)?;
    while let Some(after) = rest.trim_start().strip_prefix("||") {
        let (right, r) = parse_and(after)?;
        left = FieldExpr::Or(Box::new(left), Box::new(right));
        rest = r;
    }
    Ok((left, rest))
}

fn parse_and(s: &str) -> Result<(FieldExpr, &str), PatternError> {
    let (mut left, mut rest) = parse_compare(s)?;
    while let Some(after) = rest.trim_start().strip_prefix("&&") {
        let (right, r) = parse_compare(after)?;
        left = FieldExpr::And(Box::new(left), Box::new(right));
        rest = r;
    }
    Ok((left, rest))
}

fn parse_compare(s: &str) -> Result<(FieldExpr, &str), PatternError> {
    let (name, rest) = read_name(s.trim_start())?;
    let (op, rest) = cond::read_op(rest.trim_start())
        .ok_or_else(|| PatternError(format!("expected a comparison after the field {name:?}")))?;
    let (operand, rest) = cond::read_operand(rest, &[',', ']'])?;
    cond::check(op, &operand)?;
    Ok((FieldExpr::Compare(name, op, operand), rest))
}

fn read_name(s: &str) -> Result<(String, &str), PatternError> {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).unwrap_or(s.len());
    if end == 0 {
        return Err(PatternError(format!("expected a field name at {s:?}")));
    }
    Ok((s[..end].to_string(), &s[end..]))
}
