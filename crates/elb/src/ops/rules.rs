//! CreateRule, DescribeRules, ModifyRule, DeleteRule, SetRulePriorities. Each listener also has a default rule
//! (its default actions), shown with priority `default` and IsDefault.

use super::{listeners, page, parse_tags};
use crate::records::{ListenerRecord, RuleRecord, SCHEMA, new_id};
use crate::{Elb, ElbError, actions, conditions};
use berth_model::elbv2 as wire;
use std::collections::{BTreeMap, BTreeSet};

/// The most rules per listener, besides the default one (AWS's quota).
const MAX_RULES: usize = 100;

/// The wire shape of a rule.
pub(crate) fn render(r: &RuleRecord) -> wire::Rule {
    wire::Rule {
        rule_arn: Some(r.arn.clone()),
        priority: Some(r.priority.to_string()),
        conditions: Some(r.conditions.iter().map(conditions::render).collect()),
        actions: Some(r.actions.iter().map(actions::render).collect()),
        is_default: Some(false),
        transforms: None,
    }
}

/// The wire shape of a listener's default rule.
pub(crate) fn render_default(l: &ListenerRecord) -> wire::Rule {
    wire::Rule {
        rule_arn: Some(l.default_rule_arn.clone()),
        priority: Some("default".into()),
        conditions: Some(Vec::new()),
        actions: Some(l.default_actions.iter().map(actions::render).collect()),
        is_default: Some(true),
        transforms: None,
    }
}

fn check_priority(p: i32) -> Result<u32, ElbError> {
    if !(1..=50_000).contains(&p) {
        return Err(ElbError::range("priority", p, "Member must have value between 1 and 50000"));
    }
    Ok(p as u32)
}

fn in_use(p: u32) -> ElbError {
    ElbError::new("PriorityInUse", format!("Priority '{p}' is currently in use"))
}

fn no_transforms(transforms: Option<&Vec<wire::RuleTransform>>) -> Result<(), ElbError> {
    if transforms.is_some_and(|t| !t.is_empty()) {
        return Err(ElbError::not_permitted("Berth does not support rule transforms."));
    }
    Ok(())
}

/// `CreateRule`.
pub(crate) async fn create(s: &Elb, req: wire::CreateRuleInput) -> Result<wire::CreateRuleOutput, ElbError> {
    let priority = check_priority(req.priority)?;
    no_transforms(req.transforms.as_ref())?;
    if req.conditions.is_empty() {
        return Err(ElbError::validation("A rule must have at least one condition"));
    }
    let parsed_conditions = conditions::parse(&req.conditions)?;
    let tags = parse_tags(req.tags.as_deref().unwrap_or_default())?;
    let record = s
        .update(|state, _| {
            let listener = state.listener(&req.listener_arn)?.clone();
            let rules = state.rules_of(&listener.arn);
            if rules.iter().any(|r| r.priority == priority) {
                return Err(in_use(priority));
            }
            if rules.len() >= MAX_RULES {
                return Err(ElbError::new("TooManyRules", format!("A listener can have at most {MAX_RULES} rules")));
            }
            let actions = listeners::parse_actions(state, &listener.load_balancer_arn, &req.actions)?;
            let path = listener.arn.split_once(":listener/").map(|(_, p)| p.to_string()).unwrap_or_default();
            let record = RuleRecord {
                schema: SCHEMA,
                arn: s.arn(&format!("listener-rule/{path}/{}", new_id())),
                listener_arn: listener.arn.clone(),
                priority,
                conditions: parsed_conditions,
                actions,
                tags,
            };
            state.rules.insert(record.arn.clone(), record.clone());
            Ok(record)
        })
        .await?;
    Ok(wire::CreateRuleOutput { rules: Some(vec![render(&record)]) })
}

/// `DescribeRules`: a listener's rules by priority with the default rule last, or rules by ARN.
pub(crate) fn describe(s: &Elb, req: wire::DescribeRulesInput) -> Result<wire::DescribeRulesOutput, ElbError> {
    let state = s.snapshot();
    let arns = req.rule_arns.unwrap_or_default();
    let items: Vec<wire::Rule> = match (&req.listener_arn, arns.is_empty()) {
        (Some(_), false) => {
            return Err(ElbError::validation("Rule ARNs and a listener ARN cannot be specified at the same time"));
        }
        (Some(listener), true) => {
            let l = state.listener(listener)?;
            let mut out: Vec<wire::Rule> = state.rules_of(listener).into_iter().map(render).collect();
            out.push(render_default(l));
            out
        }
        (None, false) => {
            let mut out = Vec::new();
            for arn in &arns {
                if let Some(r) = state.rules.get(arn) {
                    out.push(render(r));
                } else if let Some(l) = state.listener_of_default_rule(arn) {
                    out.push(render_default(l));
                } else {
                    return Err(ElbError::rule_not_found());
                }
            }
            out
        }
        (None, true) => return Err(ElbError::validation("You must specify either rule ARNs or a listener ARN")),
    };
    let (items, next_marker) = page(items, req.marker.as_deref(), req.page_size)?;
    Ok(wire::DescribeRulesOutput { rules: Some(items), next_marker })
}

/// `ModifyRule`: conditions and actions (only actions for a default rule).
pub(crate) async fn modify(s: &Elb, req: wire::ModifyRuleInput) -> Result<wire::ModifyRuleOutput, ElbError> {
    no_transforms(req.transforms.as_ref())?;
    if req.reset_transforms == Some(true) {
        return Err(ElbError::not_permitted("Berth does not support rule transforms."));
    }
    let new_conditions = match &req.conditions {
        Some(c) if c.is_empty() => return Err(ElbError::validation("A rule must have at least one condition")),
        Some(c) => Some(conditions::parse(c)?),
        None => None,
    };
    let rule = s
        .update(|state, _| {
            if let Some(l) = state.listener_of_default_rule(&req.rule_arn).cloned() {
                if new_conditions.is_some() {
                    return Err(ElbError::not_permitted("The conditions of a default rule cannot be modified"));
                }
                let mut l = l;
                if let Some(given) = &req.actions {
                    l.default_actions = listeners::parse_actions(state, &l.load_balancer_arn, given)?;
                }
                state.listeners.insert(l.arn.clone(), l.clone());
                return Ok(render_default(&l));
            }
            let mut r = state.rules.get(&req.rule_arn).cloned().ok_or_else(ElbError::rule_not_found)?;
            if let Some(c) = &new_conditions {
                r.conditions = c.clone();
            }
            if let Some(given) = &req.actions {
                let lb = state.listener(&r.listener_arn)?.load_balancer_arn.clone();
                r.actions = listeners::parse_actions(state, &lb, given)?;
            }
            state.rules.insert(r.arn.clone(), r.clone());
            Ok(render(&r))
        })
        .await?;
    Ok(wire::ModifyRuleOutput { rules: Some(vec![rule]) })
}

/// `DeleteRule`: not the default rule.
pub(crate) async fn delete(s: &Elb, req: wire::DeleteRuleInput) -> Result<wire::DeleteRuleOutput, ElbError> {
    s.update(|state, _| {
        if state.listener_of_default_rule(&req.rule_arn).is_some() {
            return Err(ElbError::not_permitted(format!("Default rule '{}' cannot be deleted", req.rule_arn)));
        }
        state.rules.remove(&req.rule_arn).ok_or_else(ElbError::rule_not_found)?;
        Ok(())
    })
    .await?;
    Ok(wire::DeleteRuleOutput {})
}

/// `SetRulePriorities`: all at once; no two rules of a listener may end with the same priority.
pub(crate) async fn set_priorities(
    s: &Elb,
    req: wire::SetRulePrioritiesInput,
) -> Result<wire::SetRulePrioritiesOutput, ElbError> {
    let mut wanted: BTreeMap<String, u32> = BTreeMap::new();
    for pair in &req.rule_priorities {
        let arn = pair.rule_arn.clone().unwrap_or_default();
        let p = check_priority(pair.priority.unwrap_or_default())?;
        if wanted.insert(arn.clone(), p).is_some() {
            return Err(ElbError::validation(format!("Rule '{arn}' is specified more than once")));
        }
    }
    let rules = s
        .update(|state, _| {
            for arn in wanted.keys() {
                if state.listener_of_default_rule(arn).is_some() {
                    return Err(ElbError::not_permitted("The default rule's priority cannot be modified"));
                }
                if !state.rules.contains_key(arn) {
                    return Err(ElbError::rule_not_found());
                }
            }
            for (arn, p) in &wanted {
                if let Some(r) = state.rules.get_mut(arn) {
                    r.priority = *p;
                }
            }
            let mut seen: BTreeSet<(String, u32)> = BTreeSet::new();
            for r in state.rules.values() {
                if !seen.insert((r.listener_arn.clone(), r.priority)) {
                    return Err(in_use(r.priority));
                }
            }
            Ok(wanted.keys().filter_map(|a| state.rules.get(a)).map(render).collect::<Vec<_>>())
        })
        .await?;
    Ok(wire::SetRulePrioritiesOutput { rules: Some(rules) })
}
