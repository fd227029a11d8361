//! ECS's cluster query language: `subject operator [argument]` comparisons combined with `and`/`or`/`not`
//! (or `&&`/`||`/`!`) and parentheses, as used by `memberOf` placement constraints and by
//! `ListContainerInstances --filter`.
//!
//! [`parse_expression`] turns text into an [`Expr`]; [`Expr::matches`] evaluates it against an
//! [`Instance`](crate::Instance). Arguments are typed at parse time (dates for `registeredAt`, integers for
//! `runningTasksCount`, booleans for `agentConnected`, compiled patterns for `=~`/`!~`), so a malformed
//! expression is rejected once, with the byte offset of the problem, instead of failing every evaluation.

mod compare;
mod date;
pub(crate) mod eval;
mod lexer;
mod parser;
mod regex;

use std::fmt;

pub use parser::parse_expression;
pub(crate) use regex::Regex;

use crate::error::ExprError;

/// A parsed cluster query language expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// One `subject operator [argument]` comparison.
    Compare(Comparison),
    /// `not e`, `!e`.
    Not(Box<Expr>),
    /// `a and b`, `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`, `a || b`.
    Or(Box<Expr>, Box<Expr>),
}

/// One `subject operator [argument]` comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comparison {
    /// What is compared.
    pub subject: Subject,
    /// How it is compared.
    pub operator: Operator,
    /// What it is compared with (nothing for `exists`/`!exists`).
    pub argument: Argument,
}

/// The subject of a comparison: a field of the container instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// `agentConnected`.
    AgentConnected,
    /// `agentVersion`.
    AgentVersion,
    /// `attribute:NAME`, e.g. `attribute:ecs.instance-type`.
    Attribute(String),
    /// `ec2InstanceId`.
    Ec2InstanceId,
    /// `registeredAt`.
    RegisteredAt,
    /// `runningTasksCount`.
    RunningTasksCount,
    /// `task:group`: true when the instance runs a task of the group.
    TaskGroup,
}

impl Subject {
    /// Whether `op` may be used with this subject (the "valid operators" of the ECS documentation).
    pub fn allows(&self, op: Operator) -> bool {
        use Operator::*;
        match self {
            Subject::AgentConnected | Subject::Ec2InstanceId => {
                matches!(op, Equals | NotEquals | In | NotIn | Matches | NotMatches)
            }
            Subject::AgentVersion | Subject::RegisteredAt | Subject::RunningTasksCount => {
                matches!(op, Equals | NotEquals | GreaterThan | GreaterThanEqual | LessThan | LessThanEqual)
            }
            Subject::Attribute(_) => true,
            Subject::TaskGroup => {
                matches!(op, Equals | NotEquals | In | NotIn | Matches | NotMatches | Exists | NotExists)
            }
        }
    }

    /// Whether the subject's value can change when tasks are placed (`runningTasksCount`, `task:group`).
    pub fn is_dynamic(&self) -> bool {
        matches!(self, Subject::RunningTasksCount | Subject::TaskGroup)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::AgentConnected => f.write_str("agentConnected"),
            Subject::AgentVersion => f.write_str("agentVersion"),
            Subject::Attribute(name) => write!(f, "attribute:{name}"),
            Subject::Ec2InstanceId => f.write_str("ec2InstanceId"),
            Subject::RegisteredAt => f.write_str("registeredAt"),
            Subject::RunningTasksCount => f.write_str("runningTasksCount"),
            Subject::TaskGroup => f.write_str("task:group"),
        }
    }
}

/// A comparison operator. Each has a symbolic and a word form (`==`/`equals`, `!in`/`not_in`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `==`, `equals`.
    Equals,
    /// `!=`, `not_equals`.
    NotEquals,
    /// `>`, `greater_than`.
    GreaterThan,
    /// `>=`, `greater_than_equal`.
    GreaterThanEqual,
    /// `<`, `less_than`.
    LessThan,
    /// `<=`, `less_than_equal`.
    LessThanEqual,
    /// `exists`.
    Exists,
    /// `!exists`, `not_exists`.
    NotExists,
    /// `in`.
    In,
    /// `!in`, `not_in`.
    NotIn,
    /// `=~`, `matches`: a Java-style regular expression that must match the whole value.
    Matches,
    /// `!~`, `not_matches`.
    NotMatches,
}

impl Operator {
    /// The symbolic form, e.g. `>=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Equals => "==",
            Operator::NotEquals => "!=",
            Operator::GreaterThan => ">",
            Operator::GreaterThanEqual => ">=",
            Operator::LessThan => "<",
            Operator::LessThanEqual => "<=",
            Operator::Exists => "exists",
            Operator::NotExists => "!exists",
            Operator::In => "in",
            Operator::NotIn => "!in",
            Operator::Matches => "=~",
            Operator::NotMatches => "!~",
        }
    }

    /// The word form, e.g. `greater_than_equal`.
    pub fn word(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::GreaterThan => "greater_than",
            Operator::GreaterThanEqual => "greater_than_equal",
            Operator::LessThan => "less_than",
            Operator::LessThanEqual => "less_than_equal",
            Operator::Exists => "exists",
            Operator::NotExists => "not_exists",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Matches => "matches",
            Operator::NotMatches => "not_matches",
        }
    }

    /// Every operator.
    pub const ALL: [Operator; 12] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::GreaterThan,
        Operator::GreaterThanEqual,
        Operator::LessThan,
        Operator::LessThanEqual,
        Operator::Exists,
        Operator::NotExists,
        Operator::In,
        Operator::NotIn,
        Operator::Matches,
        Operator::NotMatches,
    ];
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// The argument of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Argument {
    /// No argument (`exists`, `!exists`).
    None,
    /// One literal value.
    Value(Literal),
    /// `[a, b, ...]` for `in`/`!in`.
    List(Vec<Literal>),
    /// A regular expression for `=~`/`!~`.
    Pattern(Pattern),
}

/// A literal argument: its text, and its typed form for the subject it is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Literal {
    /// The text as written (quotes removed).
    pub text: String,
    /// The typed value, checked at parse time.
    pub value: LiteralValue,
}

/// The typed form of a [`Literal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiteralValue {
    /// Compared as text (attributes, `ec2InstanceId`, `task:group`) or as a version (`agentVersion`).
    Text,
    /// `true`/`false` for `agentConnected`.
    Bool(bool),
    /// An integer for `runningTasksCount`.
    Integer(i64),
    /// A date for `registeredAt`: epoch seconds, and whether only a day (`2018-06-18`) was given, in which case
    /// comparisons are by UTC day.
    Date {
        /// Epoch seconds.
        epoch_seconds: i64,
        /// Whether the literal was a bare date.
        date_only: bool,
    },
}

/// A compiled `=~`/`!~` pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    pub(crate) fn new(source: String, regex: Regex) -> Pattern {
        Pattern { source, regex }
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches the whole of `text` (Java's `String.matches`).
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_full_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl std::hash::Hash for Pattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl Expr {
    /// Parses an expression; the same as [`parse_expression`].
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        parse_expression(text)
    }

    /// Whether the expression holds for the container instance.
    pub fn matches(&self, instance: &crate::Instance) -> bool {
        eval::eval(self, instance) == eval::Tri::True
    }

    /// Calls `f` with every comparison in the expression.
    pub fn for_each_comparison<'a>(&'a self, f: &mut impl FnMut(&'a Comparison)) {
        match self {
            Expr::Compare(c) => f(c),
            Expr::Not(e) => e.for_each_comparison(f),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.for_each_comparison(f);
                b.for_each_comparison(f);
            }
        }
    }
}

fn write_literal(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let bare = !text.is_empty() && text.chars().all(|c| !c.is_whitespace() && !lexer::is_delimiter(c));
    if bare { f.write_str(text) } else { write!(f, "'{}'", text.replace('\'', "\\'")) }
}

impl fmt::Display for Expr {
    /// A canonical form with every compound expression in parentheses; it parses back to the same expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Compare(c) => {
                write!(f, "{} {}", c.subject, c.operator)?;
                match &c.argument {
                    Argument::None => Ok(()),
                    Argument::Value(v) => {
                        f.write_str(" ")?;
                        write_literal(f, &v.text)
                    }
                    Argument::List(items) => {
                        f.write_str(" [")?;
                        for (i, v) in items.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write_literal(f, &v.text)?;
                        }
                        f.write_str("]")
                    }
                    Argument::Pattern(p) => write!(f, " '{}'", p.source.replace('\'', "\\'")),
                }
            }
            Expr::Not(e) => write!(f, "not ({e})"),
            Expr::And(a, b) => write!(f, "({a} and {b})"),
            Expr::Or(a, b) => write!(f, "({a} or {b})"),
        }
    }
}
