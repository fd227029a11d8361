//! The `Condition` element: operators, their `...IfExists` and `ForAllValues:`/`ForAnyValue:` forms, and their
//! evaluation over a request's condition keys.
//!
//! Rules (IAM's condition operator reference): operators and keys in a block are ANDed, a key's values are ORed
//! (for negated operators, NORed); a key missing from the request makes an ordinary operator false, a negated one
//! true, and an `...IfExists` one true; `Null: true` means absent; `ForAllValues` is true on an empty or missing
//! set and `ForAnyValue` false.

use super::document::PolicyError;
use super::matcher::{Pattern, Variables};
use serde_json::Value as Json;
use std::net::IpAddr;

/// A request's condition keys: lowercase key names to their values (single-valued keys have one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: std::collections::HashMap<String, Vec<String>>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.to_lowercase(), vec![value.into()]);
        self
    }

    /// Sets a multi-valued key.
    pub fn set_many(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(key.to_lowercase(), values);
        self
    }

    /// A key's values.
    pub fn get(&self, key_lower: &str) -> Option<&[String]> {
        self.values.get(key_lower).map(Vec::as_slice)
    }

    /// The resource's tags as `aws:ResourceTag/<key>` and `<service prefix>:ResourceTag/<key>` (`ecs:`,
    /// `secretsmanager:`, `ecr:`, `ssm:`): a tag the resource lacks stays absent, as on AWS.
    pub fn add_resource_tags(&mut self, service_prefix: &str, tags: &[(String, String)]) -> &mut Self {
        for (key, value) in tags {
            self.set(&format!("aws:ResourceTag/{key}"), value.clone());
            self.set(&format!("{service_prefix}:ResourceTag/{key}"), value.clone());
        }
        self
    }
}

/// Whether a condition key is a resource tag key (`aws:ResourceTag/...` or a service's `<prefix>:ResourceTag/...`),
/// given lowercased.
pub fn is_resource_tag_key(key_lower: &str) -> bool {
    key_lower.split_once(':').is_some_and(|(_, rest)| rest.starts_with("resourcetag/"))
}

impl Variables for Context {
    fn variable(&self, key: &str) -> Option<String> {
        match self.values.get(key) {
            Some(v) if v.len() == 1 => Some(v[0].clone()),
            _ => None,
        }
    }
}

/// The operator families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// Whether a set operator qualifies the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Single,
    ForAllValues,
    ForAnyValue,
}

/// One operator applied to one key with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The operator as written (for reasons and debugging).
    pub operator: String,
    /// The key, lowercased.
    pub key: String,
    family: Family,
    negated: bool,
    if_exists: bool,
    set: SetOp,
    values: Vec<String>,
    /// Compiled patterns of `...Like` operators.
    patterns: Vec<Pattern>,
    /// Whether `${...}` in values is substituted.
    variables: bool,
}

impl Condition {
    /// Whether a value substitutes a resource tag (`${aws:ResourceTag/...}`).
    pub fn uses_resource_tag_variable(&self) -> bool {
        self.variables && self.values.iter().any(|v| v.contains("${") && v.to_lowercase().contains("resourcetag/"))
    }

    /// Whether this condition pins the caller down to named accounts, principals, organizations, sources or
    /// networks (a positive operator, neither `...IfExists` nor a set operator, on a key such as
    /// `aws:PrincipalAccount`, `aws:PrincipalArn`, `aws:PrincipalOrgID`, `aws:SourceAccount`, `aws:SourceArn`,
    /// `aws:SourceVpc(e)`, `aws:SourceIp`, `aws:userid`, with no wildcard-only value): what keeps a statement
    /// naming `Principal: *` from being public.
    pub fn narrows_principal(&self) -> bool {
        const KEYS: [&str; 11] = [
            "aws:principalaccount",
            "aws:principalarn",
            "aws:principalorgid",
            "aws:principalorgpaths",
            "aws:sourceaccount",
            "aws:sourcearn",
            "aws:sourceowner",
            "aws:sourcevpc",
            "aws:sourcevpce",
            "aws:sourceip",
            "aws:userid",
        ];
        let positive = !self.negated && !self.if_exists && self.set == SetOp::Single;
        let family_ok = matches!(
            self.family,
            Family::StringEquals
                | Family::StringEqualsIgnoreCase
                | Family::StringLike
                | Family::ArnLike
                | Family::IpAddress
        );
        let wildcard = |v: &String| v.chars().all(|c| c == '*' || c == '?') || v == "0.0.0.0/0" || v == "::/0";
        positive && family_ok && KEYS.contains(&self.key.as_str()) && !self.values.iter().any(wildcard)
    }
}

fn malformed(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// Parses an operator name into its family, negation, `IfExists` and set qualifier.
fn parse_operator(name: &str) -> Option<(Family, bool, bool, SetOp)> {
    let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
        (SetOp::ForAllValues, r)
    } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (SetOp::ForAnyValue, r)
    } else {
        (SetOp::Single, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) if b != "Null" => (b, true),
        _ => (rest, false),
    };
    use Family::*;
    let (family, negated) = match base {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (NumericEquals, false),
        "NumericNotEquals" => (NumericEquals, true),
        "NumericLessThan" => (NumericLessThan, false),
        "NumericLessThanEquals" => (NumericLessThanEquals, false),
        "NumericGreaterThan" => (NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
        "DateEquals" => (DateEquals, false),
        "DateNotEquals" => (DateEquals, true),
        "DateLessThan" => (DateLessThan, false),
        "DateLessThanEquals" => (DateLessThanEquals, false),
        "DateGreaterThan" => (DateGreaterThan, false),
        "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
        "Bool" => (Bool, false),
        "BinaryEquals" => (BinaryEquals, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "ArnEquals" | "ArnLike" => (ArnLike, false),
        "ArnNotEquals" | "ArnNotLike" => (ArnLike, true),
        "Null" => (Null, false),
        _ => return None,
    };
    if family == Null && set != SetOp::Single {
        return None;
    }
    Some((family, negated, if_exists, set))
}

/// Parses a `Condition` element.
pub fn parse_conditions(value: &Json, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(blocks) = value else {
        return Err(malformed("Syntax errors in policy: Condition must be an object."));
    };
    let mut out = Vec::new();
    for (operator, keys) in blocks {
        let (family, negated, if_exists, set) =
            parse_operator(operator).ok_or_else(|| malformed(format!("Invalid Condition type : {operator}")))?;
        let Json::Object(keys) = keys else {
            return Err(malformed(format!("Syntax errors in policy: the {operator} block must be an object.")));
        };
        for (key, values) in keys {
            let values: Vec<String> = match values {
                Json::Array(items) => items.iter().map(scalar).collect::<Option<_>>(),
                other => scalar(other).map(|v| vec![v]),
            }
            .filter(|v: &Vec<String>| !v.is_empty())
            .ok_or_else(|| {
                malformed(format!(
                    "Syntax errors in policy: the values of {operator} {key} must be strings, numbers or booleans."
                ))
            })?;
            check_values(family, operator, &values, variables)?;
            let patterns = match family {
                Family::StringLike => values.iter().map(|v| Pattern::value(v, variables, false)).collect(),
                Family::ArnLike => values.iter().map(|v| Pattern::resource(v, variables)).collect(),
                _ => Vec::new(),
            };
            out.push(Condition {
                operator: operator.clone(),
                key: key.to_lowercase(),
                family,
                negated,
                if_exists,
                set,
                values,
                patterns,
                variables,
            });
        }
    }
    Ok(out)
}

fn scalar(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Values an operator can never compare are refused when the policy is put (IAM checks dates, numbers, booleans
/// and addresses).
fn check_values(family: Family, operator: &str, values: &[String], variables: bool) -> Result<(), PolicyError> {
    let bad = |v: &str| malformed(format!("Syntax errors in policy: {v} is not a valid value for {operator}."));
    for v in values {
        if variables && v.contains("${") {
            continue;
        }
        let ok = match family {
            Family::NumericEquals
            | Family::NumericLessThan
            | Family::NumericLessThanEquals
            | Family::NumericGreaterThan
            | Family::NumericGreaterThanEquals => v.parse::<f64>().is_ok(),
            Family::DateEquals
            | Family::DateLessThan
            | Family::DateLessThanEquals
            | Family::DateGreaterThan
            | Family::DateGreaterThanEquals => parse_date(v).is_some(),
            Family::Bool | Family::Null => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
            Family::IpAddress => parse_cidr(v).is_some(),
            _ => true,
        };
        if !ok {
            return Err(bad(v));
        }
    }
    Ok(())
}

/// A date as IAM takes it: ISO 8601 (`2026-01-01T00:00:00Z`, or a date alone) or epoch seconds.
pub fn parse_date(text: &str) -> Option<f64> {
    if let Ok(n) = text.parse::<f64>() {
        return Some(n);
    }
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t.as_millisecond() as f64 / 1000.0);
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    let zoned = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(zoned.timestamp().as_second() as f64)
}

/// An address with an optional prefix length.
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, len.parse::<u8>().ok()?),
        None => {
            let ip = text.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

fn in_cidr(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Condition {
    /// Whether the condition holds for this request.
    pub fn holds(&self, context: &Context) -> bool {
        let present = context.get(&self.key).filter(|v| !v.is_empty());
        if self.family == Family::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return want_absent == present.is_none();
        }
        let Some(actual) = present else {
            return match self.set {
                SetOp::ForAllValues => true,
                SetOp::ForAnyValue => self.if_exists,
                SetOp::Single => self.if_exists || self.negated,
            };
        };
        let test = |v: &str| {
            let any = self.values.iter().enumerate().any(|(i, p)| self.compare(v, i, p, context));
            any != self.negated
        };
        match self.set {
            SetOp::ForAllValues => actual.iter().all(|v| test(v)),
            SetOp::ForAnyValue => actual.iter().any(|v| test(v)),
            SetOp::Single if self.negated => actual.iter().all(|v| test(v)),
            SetOp::Single => actual.iter().any(|v| test(v)),
        }
    }

    /// The policy value with variables substituted (`None`: a variable without a value, which matches nothing).
    fn value<'a>(&self, raw: &'a str, context: &Context) -> Option<std::borrow::Cow<'a, str>> {
        if !self.variables || !raw.contains("${") {
            return Some(std::borrow::Cow::Borrowed(raw));
        }
        let mut out = String::new();
        let mut rest = raw;
        while let Some(start) = rest.find("${") {
            let len = rest[start..].find('}')?;
            out.push_str(&rest[..start]);
            let inner = &rest[start + 2..start + len];
            let (name, default) = match inner.split_once(',') {
                Some((n, d)) => {
                    let d = d.trim();
                    (n.trim(), Some(d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(d)))
                }
                None => (inner.trim(), None),
            };
            let value = match name {
                "*" | "?" | "$" => Some(name.to_string()),
                _ => context.variable(&name.to_lowercase()).or_else(|| default.map(str::to_string)),
            }?;
            out.push_str(&value);
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        Some(std::borrow::Cow::Owned(out))
    }

    /// The positive comparison of one request value with the `i`th policy value.
    fn compare(&self, actual: &str, i: usize, raw: &str, context: &Context) -> bool {
        match self.family {
            Family::StringLike | Family::ArnLike => {
                let pattern = &self.patterns[i];
                if self.family == Family::ArnLike {
                    pattern.matches_resource(actual, context)
                } else {
                    pattern.matches_value(actual, context)
                }
            }
            _ => {
                let Some(expected) = self.value(raw, context) else { return false };
                let expected = expected.as_ref();
                match self.family {
                    Family::StringEquals | Family::BinaryEquals => actual == expected,
                    Family::StringEqualsIgnoreCase => actual.to_lowercase() == expected.to_lowercase(),
                    Family::Bool => actual.eq_ignore_ascii_case(expected),
                    Family::NumericEquals
                    | Family::NumericLessThan
                    | Family::NumericLessThanEquals
                    | Family::NumericGreaterThan
                    | Family::NumericGreaterThanEquals => match (actual.parse::<f64>(), expected.parse::<f64>()) {
                        (Ok(a), Ok(e)) => ordered(self.family, a, e),
                        _ => false,
                    },
                    Family::DateEquals
                    | Family::DateLessThan
                    | Family::DateLessThanEquals
                    | Family::DateGreaterThan
                    | Family::DateGreaterThanEquals => match (parse_date(actual), parse_date(expected)) {
                        (Some(a), Some(e)) => ordered(self.family, a, e),
                        _ => false,
                    },
                    Family::IpAddress => match (actual.parse::<IpAddr>(), parse_cidr(expected)) {
                        (Ok(ip), Some(net)) => in_cidr(ip, net),
                        _ => false,
                    },
                    Family::StringLike | Family::ArnLike | Family::Null => false,
                }
            }
        }
    }
}

fn ordered(family: Family, a: f64, e: f64) -> bool {
    match family {
        Family::NumericEquals | Family::DateEquals => a == e,
        Family::NumericLessThan | Family::DateLessThan => a < e,
        Family::NumericLessThanEquals | Family::DateLessThanEquals => a <= e,
        Family::NumericGreaterThan | Family::DateGreaterThan => a > e,
        Family::NumericGreaterThanEquals | Family::DateGreaterThanEquals => a >= e,
        _ => false,
    }
}
