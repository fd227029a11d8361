//! AddTags, RemoveTags, DescribeTags on load balancers, target groups, listeners and rules.

use super::{check_tag_count, parse_tags};
use crate::records::Tags;
use crate::state::State;
use crate::{Elb, ElbError};
use berth_model::elbv2 as wire;

/// The tags of the resource an ARN names, or the resource kind's NotFound error.
fn tags_mut<'a>(state: &'a mut State, arn: &str) -> Result<&'a mut Tags, ElbError> {
    if arn.contains(":loadbalancer/") {
        return state.load_balancers.get_mut(arn).map(|r| &mut r.tags).ok_or_else(ElbError::lb_not_found);
    }
    if arn.contains(":targetgroup/") {
        return state.target_groups.get_mut(arn).map(|r| &mut r.tags).ok_or_else(ElbError::tg_not_found);
    }
    if arn.contains(":listener-rule/") {
        if let Some(r) = state.rules.get_mut(arn) {
            return Ok(&mut r.tags);
        }
        return state
            .listeners
            .values_mut()
            .find(|l| l.default_rule_arn == arn)
            .map(|l| &mut l.default_rule_tags)
            .ok_or_else(ElbError::rule_not_found);
    }
    if arn.contains(":listener/") {
        return state.listeners.get_mut(arn).map(|r| &mut r.tags).ok_or_else(ElbError::listener_not_found);
    }
    Err(ElbError::validation(format!("'{arn}' is not a valid Elastic Load Balancing resource ARN")))
}

fn check_arns(arns: &[String]) -> Result<(), ElbError> {
    if arns.is_empty() {
        return Err(ElbError::validation("At least one resource ARN must be specified"));
    }
    if arns.len() > 20 {
        return Err(ElbError::range("resourceArns", arns.len(), "Member must have length less than or equal to 20"));
    }
    Ok(())
}

/// `AddTags`: to every named resource, or to none.
pub(crate) async fn add(s: &Elb, req: wire::AddTagsInput) -> Result<wire::AddTagsOutput, ElbError> {
    check_arns(&req.resource_arns)?;
    let new = parse_tags(&req.tags)?;
    s.update(|state, _| {
        for arn in &req.resource_arns {
            let tags = tags_mut(state, arn)?;
            tags.extend(new.clone());
            check_tag_count(tags)?;
        }
        Ok(())
    })
    .await?;
    Ok(wire::AddTagsOutput {})
}

/// `RemoveTags`.
pub(crate) async fn remove(s: &Elb, req: wire::RemoveTagsInput) -> Result<wire::RemoveTagsOutput, ElbError> {
    check_arns(&req.resource_arns)?;
    s.update(|state, _| {
        for arn in &req.resource_arns {
            let tags = tags_mut(state, arn)?;
            for k in &req.tag_keys {
                tags.remove(k);
            }
        }
        Ok(())
    })
    .await?;
    Ok(wire::RemoveTagsOutput {})
}

/// `DescribeTags`.
pub(crate) fn describe(s: &Elb, req: wire::DescribeTagsInput) -> Result<wire::DescribeTagsOutput, ElbError> {
    check_arns(&req.resource_arns)?;
    let mut state = (*s.snapshot()).clone();
    let mut out = Vec::new();
    for arn in &req.resource_arns {
        let tags = tags_mut(&mut state, arn)?;
        out.push(wire::TagDescription {
            resource_arn: Some(arn.clone()),
            tags: Some(tags.iter().map(|(k, v)| wire::Tag { key: k.clone(), value: Some(v.clone()) }).collect()),
        });
    }
    Ok(wire::DescribeTagsOutput { tag_descriptions: Some(out) })
}
