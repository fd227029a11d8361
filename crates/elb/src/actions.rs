//! Listener and rule actions: forward (one target group, or several with weights and group stickiness),
//! fixed-response and redirect, checked as ELBv2 checks them and kept as typed records. The authenticate and
//! JWT actions are refused.

use crate::ElbError;
use berth_model::elbv2 as wire;
use serde::{Deserialize, Serialize};

/// A forward action's target group and weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedGroup {
    /// The target group's ARN.
    pub arn: String,
    /// Its weight (0-999).
    pub weight: u32,
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionKind {
    /// Route to target groups, by weight.
    Forward {
        /// The groups (1-5).
        target_groups: Vec<WeightedGroup>,
        /// Group stickiness: `Some(seconds)` when enabled.
        stickiness: Option<u32>,
    },
    /// Answer directly.
    FixedResponse {
        /// The status code (2XX, 4XX or 5XX).
        status_code: String,
        /// The content type.
        content_type: Option<String>,
        /// The body (at most 1024 characters).
        message_body: Option<String>,
    },
    /// Redirect; each component may use `#{protocol}`, `#{host}`, `#{port}`, `#{path}`, `#{query}`.
    Redirect {
        /// `HTTP`, `HTTPS` or `#{protocol}`.
        protocol: Option<String>,
        /// Port or `#{port}`.
        port: Option<String>,
        /// Host.
        host: Option<String>,
        /// Path (starts with `/`).
        path: Option<String>,
        /// Query (without `?`).
        query: Option<String>,
        /// 301 or 302.
        status_code: u16,
    },
}

/// An action, with the Order it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Order, if given.
    pub order: Option<i32>,
    /// What it does.
    pub kind: ActionKind,
}

impl Action {
    /// The target groups it forwards to.
    pub fn target_groups(&self) -> Vec<&str> {
        match &self.kind {
            ActionKind::Forward { target_groups, .. } => target_groups.iter().map(|g| g.arn.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

const CONTENT_TYPES: [&str; 5] = ["text/plain", "text/css", "text/html", "application/javascript", "application/json"];

/// Checks and converts the actions of a listener or rule. `tg_exists` tells whether a target group ARN names one.
pub fn parse(actions: &[wire::Action], tg_exists: &dyn Fn(&str) -> bool) -> Result<Vec<Action>, ElbError> {
    if actions.is_empty() {
        return Err(ElbError::validation("At least one action must be specified"));
    }
    let mut out = Vec::new();
    for a in actions {
        if let Some(order) = a.order
            && !(1..=50_000).contains(&order)
        {
            return Err(ElbError::range("order", order, "Member must have value between 1 and 50000"));
        }
        let kind = match a.r#type {
            wire::ActionTypeEnum::Forward => forward(a, tg_exists)?,
            wire::ActionTypeEnum::FixedResponse => fixed_response(a)?,
            wire::ActionTypeEnum::Redirect => redirect(a)?,
            other => {
                return Err(ElbError::not_permitted(format!(
                    "Berth does not support '{other}' actions: use forward, redirect or fixed-response."
                )));
            }
        };
        out.push(Action { order: a.order, kind });
    }
    if out.len() > 1 {
        return Err(ElbError::new(
            "InvalidLoadBalancerAction",
            "Only one of forward, redirect and fixed-response may be specified, as the last action",
        ));
    }
    Ok(out)
}

fn forward(a: &wire::Action, tg_exists: &dyn Fn(&str) -> bool) -> Result<ActionKind, ElbError> {
    let single = a.target_group_arn.as_deref().filter(|s| !s.is_empty());
    let config = a.forward_config.as_ref();
    let mut groups = Vec::new();
    let mut stickiness = None;
    if let Some(config) = config {
        for t in config.target_groups.iter().flatten() {
            let arn = t.target_group_arn.clone().unwrap_or_default();
            let weight = t.weight.unwrap_or(1);
            if !(0..=999).contains(&weight) {
                return Err(ElbError::range("weight", weight, "Member must have value between 0 and 999"));
            }
            if groups.iter().any(|g: &WeightedGroup| g.arn == arn) {
                return Err(ElbError::validation(format!("Target group '{arn}' is specified more than once")));
            }
            groups.push(WeightedGroup { arn, weight: weight as u32 });
        }
        if let Some(s) = &config.target_group_stickiness_config
            && s.enabled == Some(true)
        {
            let d = s.duration_seconds.ok_or_else(|| {
                ElbError::validation("A duration must be specified when target group stickiness is enabled")
            })?;
            if !(1..=604_800).contains(&d) {
                return Err(ElbError::range("durationSeconds", d, "Member must have value between 1 and 604800"));
            }
            stickiness = Some(d as u32);
        }
    }
    match (single, groups.is_empty()) {
        (None, true) => {
            return Err(ElbError::validation("A target group ARN must be specified for a forward action"));
        }
        (Some(arn), true) => groups.push(WeightedGroup { arn: arn.to_string(), weight: 1 }),
        (Some(arn), false) => {
            if groups.len() != 1 || groups[0].arn != arn {
                return Err(ElbError::validation(
                    "You cannot specify both a target group ARN and a forward config with different target groups",
                ));
            }
        }
        (None, false) => {}
    }
    if groups.len() > 5 {
        return Err(ElbError::new("TooManyTargetGroups", "A forward action can have at most 5 target groups"));
    }
    if groups.iter().all(|g| g.weight == 0) && groups.len() > 1 {
        return Err(ElbError::validation("At least one target group must have a weight greater than 0"));
    }
    for g in &groups {
        if !tg_exists(&g.arn) {
            return Err(ElbError::tg_not_found());
        }
    }
    Ok(ActionKind::Forward { target_groups: groups, stickiness })
}

fn fixed_response(a: &wire::Action) -> Result<ActionKind, ElbError> {
    let c = a
        .fixed_response_config
        .as_ref()
        .ok_or_else(|| ElbError::validation("A fixed-response action requires a FixedResponseConfig"))?;
    let code = c.status_code.as_bytes();
    if code.len() != 3 || !matches!(code[0], b'2' | b'4' | b'5') || !code.iter().all(u8::is_ascii_digit) {
        return Err(ElbError::range(
            "statusCode",
            &c.status_code,
            "Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$",
        ));
    }
    let content_type = c.content_type.clone().filter(|s| !s.is_empty());
    if let Some(t) = &content_type
        && !CONTENT_TYPES.contains(&t.as_str())
    {
        return Err(ElbError::validation(format!(
            "Content type '{t}' is not valid: use one of {}",
            CONTENT_TYPES.join(", ")
        )));
    }
    let body = c.message_body.clone().filter(|s| !s.is_empty());
    if body.as_ref().is_some_and(|b| b.chars().count() > 1024) {
        return Err(ElbError::validation("The message body of a fixed-response action can be at most 1024 characters"));
    }
    Ok(ActionKind::FixedResponse { status_code: c.status_code.clone(), content_type, message_body: body })
}

fn redirect(a: &wire::Action) -> Result<ActionKind, ElbError> {
    let c = a
        .redirect_config
        .as_ref()
        .ok_or_else(|| ElbError::validation("A redirect action requires a RedirectConfig"))?;
    let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let (protocol, port, host, path, query) =
        (some(&c.protocol), some(&c.port), some(&c.host), some(&c.path), c.query.clone());
    if let Some(p) = &protocol
        && !matches!(p.as_str(), "HTTP" | "HTTPS" | "#{protocol}")
    {
        return Err(ElbError::validation(format!(
            "Redirect protocol '{p}' is not valid: use HTTP, HTTPS or #{{protocol}}"
        )));
    }
    if let Some(p) = &port
        && p != "#{port}"
        && !p.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Err(ElbError::validation(format!("Redirect port '{p}' is not valid: use 1-65535 or #{{port}}")));
    }
    if let Some(p) = &path
        && !p.starts_with('/')
    {
        return Err(ElbError::validation("The redirect path must start with a '/' character"));
    }
    let keeps = |v: &Option<String>, var: &str| v.as_deref().is_none_or(|s| s == var);
    if keeps(&protocol, "#{protocol}")
        && keeps(&port, "#{port}")
        && keeps(&host, "#{host}")
        && keeps(&path, "/#{path}")
        && keeps(&query, "#{query}")
    {
        return Err(ElbError::new(
            "InvalidLoadBalancerAction",
            "The redirect configuration is not valid because it creates a loop.",
        ));
    }
    let status_code = match c.status_code {
        wire::RedirectActionStatusCodeEnum::Http301 => 301,
        wire::RedirectActionStatusCodeEnum::Http302 => 302,
    };
    Ok(ActionKind::Redirect { protocol, port, host, path, query, status_code })
}

/// The wire shape of an action, as DescribeListeners and DescribeRules show it.
pub fn render(action: &Action) -> wire::Action {
    let mut out = wire::Action { order: action.order, ..Default::default() };
    match &action.kind {
        ActionKind::Forward { target_groups, stickiness } => {
            out.r#type = wire::ActionTypeEnum::Forward;
            if let [one] = target_groups.as_slice() {
                out.target_group_arn = Some(one.arn.clone());
            }
            out.forward_config = Some(wire::ForwardActionConfig {
                target_groups: Some(
                    target_groups
                        .iter()
                        .map(|g| wire::TargetGroupTuple {
                            target_group_arn: Some(g.arn.clone()),
                            weight: Some(g.weight as i32),
                        })
                        .collect(),
                ),
                target_group_stickiness_config: Some(wire::TargetGroupStickinessConfig {
                    enabled: Some(stickiness.is_some()),
                    duration_seconds: stickiness.map(|d| d as i32),
                }),
            });
        }
        ActionKind::FixedResponse { status_code, content_type, message_body } => {
            out.r#type = wire::ActionTypeEnum::FixedResponse;
            out.fixed_response_config = Some(wire::FixedResponseActionConfig {
                message_body: message_body.clone(),
                status_code: status_code.clone(),
                content_type: content_type.clone(),
            });
        }
        ActionKind::Redirect { protocol, port, host, path, query, status_code } => {
            out.r#type = wire::ActionTypeEnum::Redirect;
            out.redirect_config = Some(wire::RedirectActionConfig {
                protocol: Some(protocol.clone().unwrap_or_else(|| "#{protocol}".into())),
                port: Some(port.clone().unwrap_or_else(|| "#{port}".into())),
                host: Some(host.clone().unwrap_or_else(|| "#{host}".into())),
                path: Some(path.clone().unwrap_or_else(|| "/#{path}".into())),
                query: Some(query.clone().unwrap_or_else(|| "#{query}".into())),
                status_code: if *status_code == 301 {
                    wire::RedirectActionStatusCodeEnum::Http301
                } else {
                    wire::RedirectActionStatusCodeEnum::Http302
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(arn: &str) -> wire::Action {
        wire::Action { r#type: wire::ActionTypeEnum::Forward, target_group_arn: Some(arn.into()), ..Default::default() }
    }

    #[test]
    fn forward_forms() {
        let yes = |_: &str| true;
        let a = parse(&[fwd("tg1")], &yes).unwrap();
        assert_eq!(a[0].target_groups(), vec!["tg1"]);
        let rendered = render(&a[0]);
        assert_eq!(rendered.target_group_arn.as_deref(), Some("tg1"));
        let weighted = wire::Action {
            r#type: wire::ActionTypeEnum::Forward,
            forward_config: Some(wire::ForwardActionConfig {
                target_groups: Some(vec![
                    wire::TargetGroupTuple { target_group_arn: Some("a".into()), weight: Some(3) },
                    wire::TargetGroupTuple { target_group_arn: Some("b".into()), weight: Some(1) },
                ]),
                target_group_stickiness_config: Some(wire::TargetGroupStickinessConfig {
                    enabled: Some(true),
                    duration_seconds: Some(60),
                }),
            }),
            ..Default::default()
        };
        let a = parse(std::slice::from_ref(&weighted), &yes).unwrap();
        assert_eq!(
            a[0].kind,
            ActionKind::Forward {
                target_groups: vec![
                    WeightedGroup { arn: "a".into(), weight: 3 },
                    WeightedGroup { arn: "b".into(), weight: 1 }
                ],
                stickiness: Some(60)
            }
        );
        assert_eq!(render(&a[0]).target_group_arn, None);
        assert_eq!(parse(&[fwd("x")], &|_| false).unwrap_err().code, "TargetGroupNotFound");
        assert_eq!(parse(&[fwd("a"), fwd("b")], &yes).unwrap_err().code, "InvalidLoadBalancerAction");
        let none = wire::Action { r#type: wire::ActionTypeEnum::Forward, ..Default::default() };
        assert_eq!(parse(&[none], &yes).unwrap_err().code, "ValidationError");
        let oidc = wire::Action { r#type: wire::ActionTypeEnum::AuthenticateOidc, ..Default::default() };
        assert_eq!(parse(&[oidc], &yes).unwrap_err().code, "OperationNotPermitted");
    }

    #[test]
    fn fixed_and_redirect() {
        let fixed = |code: &str, ct: &str| wire::Action {
            r#type: wire::ActionTypeEnum::FixedResponse,
            fixed_response_config: Some(wire::FixedResponseActionConfig {
                status_code: code.into(),
                content_type: Some(ct.into()),
                message_body: Some("hi".into()),
            }),
            ..Default::default()
        };
        assert!(parse(&[fixed("503", "text/plain")], &|_| true).is_ok());
        assert_eq!(parse(&[fixed("302", "text/plain")], &|_| true).unwrap_err().code, "ValidationError");
        assert_eq!(parse(&[fixed("200", "image/png")], &|_| true).unwrap_err().code, "ValidationError");
        let redirect = |protocol: Option<&str>, port: Option<&str>| wire::Action {
            r#type: wire::ActionTypeEnum::Redirect,
            redirect_config: Some(wire::RedirectActionConfig {
                protocol: protocol.map(Into::into),
                port: port.map(Into::into),
                status_code: wire::RedirectActionStatusCodeEnum::Http301,
                ..Default::default()
            }),
            ..Default::default()
        };
        let ok = parse(&[redirect(Some("HTTPS"), Some("443"))], &|_| true).unwrap();
        assert_eq!(render(&ok[0]).redirect_config.unwrap().host.as_deref(), Some("#{host}"));
        assert_eq!(parse(&[redirect(None, None)], &|_| true).unwrap_err().code, "InvalidLoadBalancerAction");
        assert_eq!(parse(&[redirect(Some("FTP"), None)], &|_| true).unwrap_err().code, "ValidationError");
        assert_eq!(parse(&[redirect(None, Some("0"))], &|_| true).unwrap_err().code, "ValidationError");
    }
}
