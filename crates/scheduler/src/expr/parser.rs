//! Recursive-descent parser for the cluster query language.
//!
//! ```text
//! expr       := or
//! or         := and (("or" | "||") and)*
//! and        := unary (("and" | "&&") unary)*
//! unary      := ("not" | "!") unary | "(" expr ")" | comparison
//! comparison := subject operator [argument]
//! argument   := value | "[" value ("," value)* "]" | pattern
//! value      := 'quoted' | "quoted" | bare-word
//! ```
//! `not` binds tighter than `and`, which binds tighter than `or`. Keywords and operator words are
//! case-insensitive; subjects are spelled as documented.

use super::date::parse_date;
use super::lexer::Scanner;
use super::{Argument, Comparison, Expr, Literal, LiteralValue, Operator, Pattern, Regex, Subject};
use crate::error::ExprError;

/// How deeply parentheses and `not`s may nest.
const MAX_DEPTH: usize = 64;

/// Parses a cluster query language expression.
///
/// Errors say what is wrong and at which byte offset, e.g.
/// `unexpected token ')' at position 17 in expression '...'`.
pub fn parse_expression(text: &str) -> Result<Expr, ExprError> {
    let mut s = Scanner::new(text);
    s.skip_ws();
    if s.at_end() {
        return Err(s.error("empty expression"));
    }
    let expr = parse_or(&mut s, 0)?;
    s.skip_ws();
    if !s.at_end() {
        return Err(s.unexpected());
    }
    Ok(expr)
}

fn parse_or(s: &mut Scanner<'_>, depth: usize) -> Result<Expr, ExprError> {
    let mut left = parse_and(s, depth)?;
    loop {
        s.skip_ws();
        if s.starts_with("||") || s.at_keyword("or") {
            s.advance(2);
        } else {
            return Ok(left);
        }
        let right = parse_and(s, depth)?;
        left = Expr::Or(Box::new(left), Box::new(right));
    }
}

fn parse_and(s: &mut Scanner<'_>, depth: usize) -> Result<Expr, ExprError> {
    let mut left = parse_unary(s, depth)?;
    loop {
        s.skip_ws();
        if s.starts_with("&&") {
            s.advance(2);
        } else if s.at_keyword("and") {
            s.advance(3);
        } else {
            return Ok(left);
        }
        let right = parse_unary(s, depth)?;
        left = Expr::And(Box::new(left), Box::new(right));
    }
}

fn parse_unary(s: &mut Scanner<'_>, depth: usize) -> Result<Expr, ExprError> {
    s.skip_ws();
    if depth >= MAX_DEPTH {
        return Err(s.error("expression is nested too deeply"));
    }
    if s.starts_with("!") && !s.starts_with("!=") && !s.starts_with("!~") {
        s.advance(1);
        return Ok(Expr::Not(Box::new(parse_unary(s, depth + 1)?)));
    }
    if s.at_keyword("not") {
        s.advance(3);
        return Ok(Expr::Not(Box::new(parse_unary(s, depth + 1)?)));
    }
    if s.starts_with("(") {
        let open = s.pos();
        s.advance(1);
        let inner = parse_or(s, depth + 1)?;
        s.skip_ws();
        if !s.starts_with(")") {
            if s.at_end() {
                return Err(s.error_at("unclosed '('", open));
            }
            return Err(s.unexpected());
        }
        s.advance(1);
        return Ok(inner);
    }
    parse_comparison(s).map(Expr::Compare)
}

/// An attribute name as ECS allows it: 1-128 letters, digits, hyphens, underscores, slashes, backslashes
/// and periods.
fn valid_attribute_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '\\' | '.'))
}

fn parse_subject(s: &mut Scanner<'_>) -> Result<Subject, ExprError> {
    let start = s.pos();
    let word = s.word();
    if word.is_empty() {
        return Err(s.unexpected());
    }
    Ok(match word {
        "agentConnected" => Subject::AgentConnected,
        "agentVersion" => Subject::AgentVersion,
        "ec2InstanceId" => Subject::Ec2InstanceId,
        "registeredAt" => Subject::RegisteredAt,
        "runningTasksCount" => Subject::RunningTasksCount,
        "task:group" => Subject::TaskGroup,
        _ => match word.strip_prefix("attribute:") {
            Some(name) if valid_attribute_name(name) => Subject::Attribute(name.to_string()),
            Some(name) => return Err(s.error_at(format!("invalid attribute name '{name}'"), start + 10)),
            None => return Err(s.error_at(format!("unknown subject '{word}'"), start)),
        },
    })
}

fn parse_operator(s: &mut Scanner<'_>) -> Result<Operator, ExprError> {
    let start = s.pos();
    let word_after = |s: &Scanner<'_>, prefix: usize, word: &str| {
        let rest = &s.rest()[prefix..];
        rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && rest[word.len()..].chars().next().is_none_or(|c| c.is_whitespace() || super::lexer::is_delimiter(c))
    };
    let symbolic = [
        ("==", Operator::Equals),
        ("!=", Operator::NotEquals),
        (">=", Operator::GreaterThanEqual),
        ("<=", Operator::LessThanEqual),
        ("=~", Operator::Matches),
        ("!~", Operator::NotMatches),
        (">", Operator::GreaterThan),
        ("<", Operator::LessThan),
    ];
    if s.starts_with("!") && word_after(s, 1, "in") {
        s.advance(3);
        return Ok(Operator::NotIn);
    }
    if s.starts_with("!") && word_after(s, 1, "exists") {
        s.advance(7);
        return Ok(Operator::NotExists);
    }
    for (sym, op) in symbolic {
        if s.starts_with(sym) {
            s.advance(sym.len());
            return Ok(op);
        }
    }
    let word = s.peek_word();
    if let Some(op) = Operator::ALL.into_iter().find(|op| op.word().eq_ignore_ascii_case(word)) {
        s.advance(word.len());
        return Ok(op);
    }
    if s.at_end() {
        return Err(s.error("expected an operator, found end of expression"));
    }
    let shown = if word.is_empty() { s.describe_token() } else { format!("'{word}'") };
    Err(s.error_at(format!("unknown operator {}", shown.trim_start_matches("token ")), start))
}

/// Reads one value (quoted or bare) and types it for the subject.
fn parse_literal(s: &mut Scanner<'_>, subject: &Subject) -> Result<Literal, ExprError> {
    s.skip_ws();
    let start = s.pos();
    let text = if matches!(s.peek(), Some('\'' | '"')) {
        s.quoted()?
    } else {
        let w = s.word();
        if w.is_empty() {
            return Err(s.error(format!("expected a value, found {}", s.describe_token())));
        }
        w.to_string()
    };
    let value = match subject {
        Subject::RunningTasksCount => match text.parse::<i64>() {
            Ok(n) => LiteralValue::Integer(n),
            Err(_) => return Err(s.error_at(format!("expected an integer, found '{text}'"), start)),
        },
        Subject::RegisteredAt => match parse_date(&text) {
            Some(d) => LiteralValue::Date { epoch_seconds: d.epoch_seconds, date_only: d.date_only },
            None => {
                let msg = format!(
                    "invalid date '{text}'; expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with an optional Z or +hh:mm"
                );
                return Err(s.error_at(msg, start));
            }
        },
        Subject::AgentConnected => match text.to_ascii_lowercase().as_str() {
            "true" => LiteralValue::Bool(true),
            "false" => LiteralValue::Bool(false),
            _ => return Err(s.error_at(format!("expected true or false, found '{text}'"), start)),
        },
        _ => LiteralValue::Text,
    };
    Ok(Literal { text, value })
}

fn parse_argument(s: &mut Scanner<'_>, subject: &Subject, op: Operator) -> Result<Argument, ExprError> {
    match op {
        Operator::Exists | Operator::NotExists => Ok(Argument::None),
        Operator::In | Operator::NotIn => {
            s.skip_ws();
            if !s.starts_with("[") {
                return Err(s.error(format!("expected '[' to start an argument list, found {}", s.describe_token())));
            }
            s.advance(1);
            let mut items = vec![parse_literal(s, subject)?];
            loop {
                s.skip_ws();
                if s.starts_with(",") {
                    s.advance(1);
                    items.push(parse_literal(s, subject)?);
                } else if s.starts_with("]") {
                    s.advance(1);
                    return Ok(Argument::List(items));
                } else if s.at_end() {
                    return Err(s.error("unclosed argument list, expected ']'"));
                } else {
                    return Err(s.unexpected());
                }
            }
        }
        Operator::Matches | Operator::NotMatches => {
            s.skip_ws();
            let start = s.pos();
            let quoted = matches!(s.peek(), Some('\'' | '"'));
            let source = s.pattern()?;
            if source.is_empty() && !quoted {
                return Err(s.error(format!("expected a pattern, found {}", s.describe_token())));
            }
            let regex = Regex::new(&source).map_err(|e| {
                let at = start + usize::from(quoted) + e.offset;
                s.error_at(format!("invalid regular expression: {}", e.message), at)
            })?;
            Ok(Argument::Pattern(Pattern::new(source, regex)))
        }
        _ => Ok(Argument::Value(parse_literal(s, subject)?)),
    }
}

fn parse_comparison(s: &mut Scanner<'_>) -> Result<Comparison, ExprError> {
    let subject = parse_subject(s)?;
    s.skip_ws();
    let op_start = s.pos();
    let operator = parse_operator(s)?;
    if !subject.allows(operator) {
        return Err(s.error_at(format!("operator '{operator}' is not valid for subject '{subject}'"), op_start));
    }
    let argument = parse_argument(s, &subject, operator)?;
    Ok(Comparison { subject, operator, argument })
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
