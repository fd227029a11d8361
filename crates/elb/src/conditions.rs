//! Rule conditions: path-pattern, host-header, http-header, http-request-method, query-string and source-ip, in
//! both the legacy `Values` form (path-pattern and host-header) and the `*Config` forms, with ELBv2's limits. Regex
//! values are refused.

use crate::ElbError;
use crate::config::Cidr;
use berth_model::elbv2 as wire;
use serde::{Deserialize, Serialize};

/// A query-string condition's pair; a missing key matches any key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryPair {
    /// The key (`*` and `?` wildcards), if any.
    pub key: Option<String>,
    /// The value (`*` and `?` wildcards).
    pub value: String,
}

/// A rule condition: every condition of a rule must match, any value of one condition may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum Condition {
    /// The path (case-sensitive; `*` and `?` wildcards).
    PathPattern {
        /// The patterns.
        values: Vec<String>,
    },
    /// The Host header (case-insensitive; wildcards).
    HostHeader {
        /// The patterns.
        values: Vec<String>,
    },
    /// A header (name case-insensitive; values case-insensitive with wildcards).
    HttpHeader {
        /// The header's name.
        name: String,
        /// The patterns.
        values: Vec<String>,
    },
    /// The request method (case-sensitive, exact).
    HttpRequestMethod {
        /// The methods.
        values: Vec<String>,
    },
    /// Query string pairs (case-insensitive; wildcards).
    QueryString {
        /// The pairs.
        values: Vec<QueryPair>,
    },
    /// The client's address.
    SourceIp {
        /// CIDRs.
        values: Vec<String>,
    },
}

impl Condition {
    fn field(&self) -> &'static str {
        match self {
            Condition::PathPattern { .. } => "path-pattern",
            Condition::HostHeader { .. } => "host-header",
            Condition::HttpHeader { .. } => "http-header",
            Condition::HttpRequestMethod { .. } => "http-request-method",
            Condition::QueryString { .. } => "query-string",
            Condition::SourceIp { .. } => "source-ip",
        }
    }

    fn count(&self) -> usize {
        match self {
            Condition::PathPattern { values }
            | Condition::HostHeader { values }
            | Condition::HttpRequestMethod { values }
            | Condition::SourceIp { values }
            | Condition::HttpHeader { values, .. } => values.len(),
            Condition::QueryString { values } => values.len(),
        }
    }
}

/// The most condition values a rule may have.
pub const MAX_VALUES: usize = 5;

/// Checks and converts a rule's conditions.
pub fn parse(conditions: &[wire::RuleCondition]) -> Result<Vec<Condition>, ElbError> {
    let mut out: Vec<Condition> = Vec::new();
    for c in conditions {
        let field = c.field.as_deref().unwrap_or_default();
        if c.regex_values.is_some() || regex_in_config(c) {
            return Err(ElbError::not_permitted("Berth does not support regular expression conditions (RegexValues)."));
        }
        let legacy = c.values.clone().filter(|v| !v.is_empty());
        let pick = |config: Option<Vec<String>>| -> Result<Vec<String>, ElbError> {
            match (legacy.clone(), config.filter(|v| !v.is_empty())) {
                (Some(_), Some(_)) => Err(ElbError::validation(format!(
                    "You cannot specify both 'Values' and a condition config for the '{field}' field"
                ))),
                (Some(v), None) | (None, Some(v)) => Ok(v),
                (None, None) => {
                    Err(ElbError::validation(format!("A condition value must be specified for the '{field}' field")))
                }
            }
        };
        let only_config = |name: &str| {
            if legacy.is_some() {
                Err(ElbError::validation(format!(
                    "The '{field}' field requires {name}; 'Values' is for path-pattern and host-header only"
                )))
            } else {
                Ok(())
            }
        };
        let condition = match field {
            "path-pattern" => {
                let values = pick(c.path_pattern_config.as_ref().and_then(|x| x.values.clone()))?;
                for v in &values {
                    check_len("path-pattern", v, 128)?;
                }
                Condition::PathPattern { values }
            }
            "host-header" => {
                let values = pick(c.host_header_config.as_ref().and_then(|x| x.values.clone()))?;
                for v in &values {
                    check_len("host-header", v, 128)?;
                    if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.*?_".contains(&b)) {
                        return Err(ElbError::validation(format!(
                            "Condition value '{v}' is not a valid host name pattern"
                        )));
                    }
                }
                Condition::HostHeader { values }
            }
            "http-header" => {
                only_config("HttpHeaderConfig")?;
                let config = c.http_header_config.as_ref();
                let name = config.and_then(|x| x.http_header_name.clone()).unwrap_or_default();
                if name.is_empty()
                    || name.len() > 40
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                {
                    return Err(ElbError::validation(format!("HTTP header name '{name}' is not valid")));
                }
                let values = config.and_then(|x| x.values.clone()).unwrap_or_default();
                if values.is_empty() {
                    return Err(ElbError::validation(
                        "A condition value must be specified for the 'http-header' field",
                    ));
                }
                for v in &values {
                    check_len("http-header", v, 128)?;
                }
                Condition::HttpHeader { name, values }
            }
            "http-request-method" => {
                only_config("HttpRequestMethodConfig")?;
                let values = c.http_request_method_config.as_ref().and_then(|x| x.values.clone()).unwrap_or_default();
                if values.is_empty() {
                    return Err(ElbError::validation(
                        "A condition value must be specified for the 'http-request-method' field",
                    ));
                }
                for v in &values {
                    if v.is_empty() || v.len() > 40 || !v.bytes().all(|b| b.is_ascii_uppercase() || b"-_".contains(&b))
                    {
                        return Err(ElbError::validation(format!(
                            "HTTP request method '{v}' is not valid: use upper-case letters, '-' and '_'"
                        )));
                    }
                }
                Condition::HttpRequestMethod { values }
            }
            "query-string" => {
                only_config("QueryStringConfig")?;
                let pairs = c.query_string_config.as_ref().and_then(|x| x.values.clone()).unwrap_or_default();
                if pairs.is_empty() {
                    return Err(ElbError::validation(
                        "A condition value must be specified for the 'query-string' field",
                    ));
                }
                let mut values = Vec::new();
                for p in pairs {
                    let value = p.value.unwrap_or_default();
                    if value.is_empty() {
                        return Err(ElbError::validation("A query string condition value must not be empty"));
                    }
                    check_len("query-string", &value, 128)?;
                    values.push(QueryPair { key: p.key.filter(|k| !k.is_empty()), value });
                }
                Condition::QueryString { values }
            }
            "source-ip" => {
                only_config("SourceIpConfig")?;
                let values = c.source_ip_config.as_ref().and_then(|x| x.values.clone()).unwrap_or_default();
                if values.is_empty() {
                    return Err(ElbError::validation("A condition value must be specified for the 'source-ip' field"));
                }
                for v in &values {
                    if Cidr::parse(v).is_none() {
                        return Err(ElbError::validation(format!("Source IP '{v}' is not a valid IPv4 CIDR block")));
                    }
                }
                Condition::SourceIp { values }
            }
            "" => return Err(ElbError::validation("A condition field must be specified")),
            other => {
                return Err(ElbError::validation(format!(
                    "Condition field '{other}' is not valid: use path-pattern, host-header, http-header, http-request-method, query-string or source-ip"
                )));
            }
        };
        let repeatable = matches!(condition, Condition::HttpHeader { .. } | Condition::QueryString { .. });
        if !repeatable && out.iter().any(|o| o.field() == condition.field()) {
            return Err(ElbError::validation(format!("A rule can have only one '{}' condition", condition.field())));
        }
        out.push(condition);
    }
    let total: usize = out.iter().map(Condition::count).sum();
    if total > MAX_VALUES {
        return Err(ElbError::validation(format!("A rule can have at most {MAX_VALUES} condition values")));
    }
    Ok(out)
}

fn regex_in_config(c: &wire::RuleCondition) -> bool {
    c.host_header_config.as_ref().is_some_and(|x| x.regex_values.is_some())
        || c.path_pattern_config.as_ref().is_some_and(|x| x.regex_values.is_some())
        || c.http_header_config.as_ref().is_some_and(|x| x.regex_values.is_some())
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ElbError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(ElbError::validation(format!(
            "Condition value '{value}' for the '{field}' field must be 1 to {max} characters"
        )));
    }
    Ok(())
}

/// The wire shape: both `Values` and the config for path-pattern and host-header (as ELBv2 shows them), the config
/// for the others.
pub fn render(condition: &Condition) -> wire::RuleCondition {
    let mut out = wire::RuleCondition { field: Some(condition.field().to_string()), ..Default::default() };
    match condition {
        Condition::PathPattern { values } => {
            out.values = Some(values.clone());
            out.path_pattern_config =
                Some(wire::PathPatternConditionConfig { values: Some(values.clone()), regex_values: None });
        }
        Condition::HostHeader { values } => {
            out.values = Some(values.clone());
            out.host_header_config =
                Some(wire::HostHeaderConditionConfig { values: Some(values.clone()), regex_values: None });
        }
        Condition::HttpHeader { name, values } => {
            out.http_header_config = Some(wire::HttpHeaderConditionConfig {
                http_header_name: Some(name.clone()),
                values: Some(values.clone()),
                regex_values: None,
            });
        }
        Condition::HttpRequestMethod { values } => {
            out.http_request_method_config =
                Some(wire::HttpRequestMethodConditionConfig { values: Some(values.clone()) });
        }
        Condition::QueryString { values } => {
            out.query_string_config = Some(wire::QueryStringConditionConfig {
                values: Some(
                    values
                        .iter()
                        .map(|p| wire::QueryStringKeyValuePair { key: p.key.clone(), value: Some(p.value.clone()) })
                        .collect(),
                ),
            });
        }
        Condition::SourceIp { values } => {
            out.source_ip_config = Some(wire::SourceIpConditionConfig { values: Some(values.clone()) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(field: &str, values: &[&str]) -> wire::RuleCondition {
        wire::RuleCondition {
            field: Some(field.into()),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn both_forms_and_limits() {
        let c = parse(&[legacy("path-pattern", &["/api/*"])]).unwrap();
        assert_eq!(c, vec![Condition::PathPattern { values: vec!["/api/*".into()] }]);
        let config = wire::RuleCondition {
            field: Some("host-header".into()),
            host_header_config: Some(wire::HostHeaderConditionConfig {
                values: Some(vec!["*.example.com".into()]),
                regex_values: None,
            }),
            ..Default::default()
        };
        let c = parse(&[config]).unwrap();
        let shown = render(&c[0]);
        assert_eq!(shown.values, Some(vec!["*.example.com".to_string()]));
        assert!(shown.host_header_config.is_some());
        let header = wire::RuleCondition {
            field: Some("http-header".into()),
            http_header_config: Some(wire::HttpHeaderConditionConfig {
                http_header_name: Some("X-Env".into()),
                values: Some(vec!["blue".into()]),
                regex_values: None,
            }),
            ..Default::default()
        };
        let query = wire::RuleCondition {
            field: Some("query-string".into()),
            query_string_config: Some(wire::QueryStringConditionConfig {
                values: Some(vec![wire::QueryStringKeyValuePair { key: Some("v".into()), value: Some("2".into()) }]),
            }),
            ..Default::default()
        };
        assert_eq!(parse(&[header.clone(), query]).unwrap().len(), 2);
        // One path-pattern per rule; at most five values; http-header needs its config.
        let e = parse(&[legacy("path-pattern", &["/a"]), legacy("path-pattern", &["/b"])]).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(parse(&[legacy("path-pattern", &["/1", "/2", "/3", "/4", "/5", "/6"])]).is_err());
        assert!(parse(&[legacy("http-header", &["x"])]).is_err());
        assert!(parse(&[legacy("cookie", &["x"])]).is_err());
        let mut ip = legacy("source-ip", &[]);
        ip.source_ip_config = Some(wire::SourceIpConditionConfig { values: Some(vec!["10.0.0.0/8".into()]) });
        assert!(parse(std::slice::from_ref(&ip)).is_ok());
        ip.source_ip_config = Some(wire::SourceIpConditionConfig { values: Some(vec!["10.0.0.1".into()]) });
        assert!(parse(&[ip]).is_err());
        let mut method = legacy("http-request-method", &[]);
        method.http_request_method_config =
            Some(wire::HttpRequestMethodConditionConfig { values: Some(vec!["get".into()]) });
        assert!(parse(&[method]).is_err());
    }
}
