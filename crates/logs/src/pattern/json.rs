//! JSON patterns: `{ SELECTOR OP VALUE && ... || ... }`.

use super::PatternError;
use super::cond::{self, CompareOp, Operand};
use serde_json::Value;

/// One step of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A JSON selector: `$.a.b[0].c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(Vec<Step>);

impl Selector {
    /// Parses a whole selector.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        match read_selector(text)? {
            (selector, "") => Ok(selector),
            (_, rest) => Err(PatternError(format!("unexpected {rest:?} after a selector"))),
        }
    }

    /// The value the selector names in `value`.
    pub fn lookup<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(value, |v, step| match step {
            Step::Key(k) => v.as_object()?.get(k),
            Step::Index(i) => v.as_array()?.get(*i),
        })
    }
}

/// A test on a selected value.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// A comparison.
    Compare(CompareOp, Operand),
    /// `IS NULL`
    IsNull,
    /// `IS TRUE`
    IsTrue,
    /// `IS FALSE`
    IsFalse,
    /// `NOT EXISTS`
    NotExists,
}

/// A JSON pattern's expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// A selector and its test.
    Test(Selector, Test),
}

impl Expr {
    /// Evaluates against a parsed message.
    pub fn eval(&self, value: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.eval(value) && b.eval(value),
            Expr::Or(a, b) => a.eval(value) || b.eval(value),
            Expr::Test(selector, test) => {
                let found = selector.lookup(value);
                match (test, found) {
                    (Test::NotExists, found) => found.is_none(),
                    (Test::IsNull, found) => found.is_some_and(Value::is_null),
                    (Test::IsTrue, found) => found == Some(&Value::Bool(true)),
                    (Test::IsFalse, found) => found == Some(&Value::Bool(false)),
                    (Test::Compare(..), None | Some(Value::Array(_) | Value::Object(_))) => false,
                    (Test::Compare(op, operand), Some(v)) => {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let number = match v {
                            Value::Number(n) => n.as_f64(),
                            _ => None,
                        };
                        cond::compare(&text, number, *op, operand)
                    }
                }
            }
        }
    }
}

/// Parses `{ ... }`.
pub(super) fn parse(source: &str) -> Result<Expr, PatternError> {
    let inner = source
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| PatternError("a JSON pattern must end with }".into()))?;
    let (expr, rest) = parse_or(inner)?;
    if !rest.trim().is_empty() {
        return Err(PatternError(format!("unexpected {:?} in a JSON pattern", rest.trim())));
    }
    Ok(expr)
}

fn parse_or(s: &str) -> Result<(Expr, &str), PatternError> {
    let (mut left, mut rest) = parse_and(s)?;
    while let Some(after) = rest.trim_start().strip_prefix("||") {
        let (right, r) = parse_and(after)?;
        left = Expr::Or(Box::new(left), Box::new(right));
        rest = r;
    }
    Ok((left, rest))
}

fn parse_and(s: &str) -> Result<(Expr, &str), PatternError> {
    let (mut left, mut rest) = parse_atom(s)?;
    while let Some(after) = rest.trim_start().strip_prefix("&&") {
        let (right, r) = parse_atom(after)?;
        left = Expr::And(Box::new(left), Box::new(right));
        rest = r;
    }
    Ok((left, rest))
}

fn parse_atom(s: &str) -> Result<(Expr, &str), PatternError> {
    let s = s.trim_start();
    if let Some(after) = s.strip_prefix('(') {
        let (expr, rest) = parse_or(after)?;
        let rest =
            rest.trim_start().strip_prefix(')').ok_or_else(|| PatternError("a parenthesis is not closed".into()))?;
        return Ok((expr, rest));
    }
    let (selector, rest) = read_selector(s)?;
    let rest = rest.trim_start();
    for (keyword, test) in [
        ("IS NULL", Test::IsNull),
        ("IS TRUE", Test::IsTrue),
        ("IS FALSE", Test::IsFalse),
        ("NOT EXISTS", Test::NotExists),
    ] {
        if let Some(after) = rest.strip_prefix(keyword) {
            return Ok((Expr::Test(selector, test), after));
        }
    }
    let (op, after) =
        cond::read_op(rest).ok_or_else(|| PatternError("a selector must be followed by a comparison".into()))?;
    let (operand, after) = cond::read_operand(after, &[')'])?;
    cond::check(op, &operand)?;
    Ok((Expr::Test(selector, Test::Compare(op, operand)), after))
}

/// Reads a selector at the start of `s`.
fn read_selector(s: &str) -> Result<(Selector, &str), PatternError> {
    let mut rest =
        s.strip_prefix('$').ok_or_else(|| PatternError(format!("expected a selector ($.field) at {s:?}")))?;
    let mut steps = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(|c: char| c.is_whitespace() || "[.=!<>()&|".contains(c)).unwrap_or(after.len());
            if end == 0 {
                return Err(PatternError("an empty member name in a selector".into()));
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| PatternError("a selector's [ is not closed".into()))?;
            let index = after[..end]
                .trim()
                .parse()
                .map_err(|_| PatternError(format!("{:?} is not an array index", &after[..end])))?;
            steps.push(Step::Index(index));
            rest = &after[end + 1..];
        } else {
            break;
        }
    }
    if steps.is_empty() {
        return Err(PatternError("a selector must name a member ($.field)".into()));
    }
    Ok((Selector(steps), rest))
}
