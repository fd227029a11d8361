//! Evaluation of expressions, in three-valued logic so that the placement engine can evaluate an expression
//! once per class of identical instances and learn "true", "false" or "depends on the instance".
//!
//! Semantics (see the crate documentation for the reasoning and sources):
//! - `attribute:NAME`: `exists`/`!exists` test presence; every value operator (including `!=`, `!in`, `!~`)
//!   is false when the attribute is missing or has no value, as ECS's "attribute:stack != prod" example
//!   ("instances with the attribute stack unless its value is prod") requires. `>`/`<` compare numbers
//!   numerically and other text in natural order.
//! - `agentConnected`: compared as `true`/`false`.
//! - `agentVersion`: version order (`1.9.0 < 1.14.5`).
//! - `registeredAt`: by UTC day when the literal is a bare date, else by whole second.
//! - `runningTasksCount`: integer comparison.
//! - `task:group`: the instance's groups form a set, and a comparison holds when some group on the instance
//!   satisfies it (so `task:group != db` is not anti-affinity; `not(task:group == db)` is, as the ECS
//!   documentation writes it). `exists` holds when the instance runs any task.

use std::cmp::Ordering;

use super::compare::{compare_values, compare_versions};
use super::{Argument, Comparison, Expr, Literal, LiteralValue, Operator, Subject};
use crate::Instance;

/// A three-valued truth value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tri {
    False,
    True,
    Unknown,
}

impl Tri {
    fn from_bool(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }

    fn not(self) -> Tri {
        match self {
            Tri::False => Tri::True,
            Tri::True => Tri::False,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

/// What a view knows about one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrFact<'a> {
    /// The view cannot tell.
    Unknown,
    /// The instance does not have the attribute.
    Absent,
    /// The instance has the attribute, without a value.
    NoValue,
    /// The instance has the attribute with this value.
    Value(&'a str),
}

impl<'a> AttrFact<'a> {
    /// The fact for an attribute map entry.
    pub(crate) fn of(entry: Option<&'a Option<String>>) -> AttrFact<'a> {
        match entry {
            None => AttrFact::Absent,
            Some(None) => AttrFact::NoValue,
            Some(Some(v)) => AttrFact::Value(v),
        }
    }
}

/// The facts an expression can ask about an instance; `None` means "unknown to this view".
pub(crate) trait Facts {
    fn attribute(&self, name: &str) -> AttrFact<'_>;
    fn agent_connected(&self) -> Option<bool>;
    fn agent_version(&self) -> Option<&str>;
    fn ec2_instance_id(&self) -> Option<&str>;
    fn registered_at(&self) -> Option<f64>;
    fn running_tasks_count(&self) -> Option<u32>;
    /// Whether some task group on the instance satisfies `pred`.
    fn any_group(&self, pred: &mut dyn FnMut(&str) -> bool) -> Option<bool>;
}

impl Facts for Instance {
    fn attribute(&self, name: &str) -> AttrFact<'_> {
        AttrFact::of(self.attributes.get(name))
    }
    fn agent_connected(&self) -> Option<bool> {
        Some(self.agent_connected)
    }
    fn agent_version(&self) -> Option<&str> {
        Some(&self.agent_version)
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        Some(&self.ec2_instance_id)
    }
    fn registered_at(&self) -> Option<f64> {
        Some(self.registered_at)
    }
    fn running_tasks_count(&self) -> Option<u32> {
        Some(self.running_tasks_count)
    }
    fn any_group(&self, pred: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        Some(self.task_groups.iter().any(|(g, &n)| n > 0 && pred(g)))
    }
}

/// Evaluates `expr` against what `facts` knows.
pub(crate) fn eval(expr: &Expr, facts: &impl Facts) -> Tri {
    match expr {
        Expr::Compare(c) => compare(c, facts),
        Expr::Not(e) => eval(e, facts).not(),
        Expr::And(a, b) => match eval(a, facts) {
            Tri::False => Tri::False,
            Tri::True => eval(b, facts),
            Tri::Unknown => match eval(b, facts) {
                Tri::False => Tri::False,
                _ => Tri::Unknown,
            },
        },
        Expr::Or(a, b) => match eval(a, facts) {
            Tri::True => Tri::True,
            Tri::False => eval(b, facts),
            Tri::Unknown => match eval(b, facts) {
                Tri::True => Tri::True,
                _ => Tri::Unknown,
            },
        },
    }
}

/// Applies an ordering operator.
fn ordered(op: Operator, ord: Ordering) -> bool {
    match op {
        Operator::Equals => ord == Ordering::Equal,
        Operator::NotEquals => ord != Ordering::Equal,
        Operator::GreaterThan => ord == Ordering::Greater,
        Operator::GreaterThanEqual => ord != Ordering::Less,
        Operator::LessThan => ord == Ordering::Less,
        Operator::LessThanEqual => ord != Ordering::Greater,
        _ => false,
    }
}

/// How a subject's values are compared: equality (for `==`, `!=`, `in`, `!in`) and order (for `>`...).
struct Compare {
    eq: fn(&str, &str) -> bool,
    ord: fn(&str, &str) -> Ordering,
}

const EXACT: Compare = Compare { eq: |a, b| a == b, ord: |a, b| a.cmp(b) };
const BOOLEAN: Compare = Compare { eq: |a, b| a.eq_ignore_ascii_case(b), ord: |a, b| a.cmp(b) };
const VERSION: Compare = Compare { eq: |a, b| compare_versions(a, b) == Ordering::Equal, ord: compare_versions };
const ATTRIBUTE: Compare = Compare { eq: |a, b| a == b, ord: attribute_order };

/// Applies an operator to one text value.
fn text_op(op: Operator, value: &str, arg: &Argument, cmp: &Compare) -> bool {
    match (op, arg) {
        (Operator::Exists, _) => true,
        (Operator::NotExists, _) => false,
        (Operator::In, Argument::List(items)) => items.iter().any(|l| (cmp.eq)(value, &l.text)),
        (Operator::NotIn, Argument::List(items)) => !items.iter().any(|l| (cmp.eq)(value, &l.text)),
        (Operator::Matches, Argument::Pattern(p)) => p.is_match(value),
        (Operator::NotMatches, Argument::Pattern(p)) => !p.is_match(value),
        (Operator::Equals, Argument::Value(l)) => (cmp.eq)(value, &l.text),
        (Operator::NotEquals, Argument::Value(l)) => !(cmp.eq)(value, &l.text),
        (op, Argument::Value(l)) => ordered(op, (cmp.ord)(value, &l.text)),
        _ => false,
    }
}

/// Attribute order: numbers numerically, other text naturally; distinct texts that compare equal that way
/// ("1.0" and "1") are ordered by text, so that only identical values are equal.
fn attribute_order(a: &str, b: &str) -> Ordering {
    match a.cmp(b) {
        Ordering::Equal => Ordering::Equal,
        by_text => match compare_values(a, b) {
            Ordering::Equal => by_text,
            ord => ord,
        },
    }
}

fn number_op(op: Operator, value: i64, arg: &Argument) -> bool {
    match arg {
        Argument::Value(Literal { value: LiteralValue::Integer(n), .. }) => ordered(op, value.cmp(n)),
        _ => false,
    }
}

fn date_op(op: Operator, registered_at: f64, arg: &Argument) -> bool {
    match arg {
        Argument::Value(Literal { value: LiteralValue::Date { epoch_seconds, date_only }, .. }) => {
            let secs = registered_at.floor() as i64;
            let ord = if *date_only {
                secs.div_euclid(86_400).cmp(&epoch_seconds.div_euclid(86_400))
            } else {
                secs.cmp(epoch_seconds)
            };
            ordered(op, ord)
        }
        _ => false,
    }
}

fn compare(c: &Comparison, facts: &impl Facts) -> Tri {
    let op = c.operator;
    let arg = &c.argument;
    let known = |v: Option<bool>| v.map_or(Tri::Unknown, Tri::from_bool);
    match &c.subject {
        Subject::Attribute(name) => match facts.attribute(name) {
            AttrFact::Unknown => Tri::Unknown,
            AttrFact::Absent => Tri::from_bool(op == Operator::NotExists),
            AttrFact::NoValue => Tri::from_bool(op == Operator::Exists),
            AttrFact::Value(v) => Tri::from_bool(text_op(op, v, arg, &ATTRIBUTE)),
        },
        Subject::AgentConnected => known(facts.agent_connected().map(|b| {
            let text = if b { "true" } else { "false" };
            text_op(op, text, arg, &BOOLEAN)
        })),
        Subject::AgentVersion => known(facts.agent_version().map(|v| text_op(op, v, arg, &VERSION))),
        Subject::Ec2InstanceId => known(facts.ec2_instance_id().map(|v| text_op(op, v, arg, &EXACT))),
        Subject::RegisteredAt => known(facts.registered_at().map(|t| date_op(op, t, arg))),
        Subject::RunningTasksCount => known(facts.running_tasks_count().map(|n| number_op(op, i64::from(n), arg))),
        Subject::TaskGroup => match op {
            Operator::Exists => known(facts.any_group(&mut |_| true)),
            Operator::NotExists => known(facts.any_group(&mut |_| true).map(|any| !any)),
            _ => known(facts.any_group(&mut |g| text_op(op, g, arg, &EXACT))),
        },
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
