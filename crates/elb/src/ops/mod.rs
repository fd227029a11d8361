//! The API operations: decode the JSON input, check it as ELBv2 does, change the state, encode the output.

mod listeners;
mod load_balancers;
mod rules;
mod tags;
mod target_groups;
pub(crate) mod targets;

use crate::{Elb, ElbError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Runs one operation.
pub(crate) async fn dispatch(s: &Elb, operation: &str, input: &[u8]) -> Result<Vec<u8>, ElbError> {
    match operation {
        "CreateLoadBalancer" => out(load_balancers::create(s, parse(input)?).await?),
        "DescribeLoadBalancers" => out(load_balancers::describe(s, parse(input)?)?),
        "DeleteLoadBalancer" => out(load_balancers::delete(s, parse(input)?).await?),
        "DescribeLoadBalancerAttributes" => out(load_balancers::describe_attributes(s, parse(input)?)?),
        "ModifyLoadBalancerAttributes" => out(load_balancers::modify_attributes(s, parse(input)?).await?),
        "SetSecurityGroups" => out(load_balancers::set_security_groups(s, parse(input)?).await?),
        "CreateTargetGroup" => out(target_groups::create(s, parse(input)?).await?),
        "DescribeTargetGroups" => out(target_groups::describe(s, parse(input)?)?),
        "ModifyTargetGroup" => out(target_groups::modify(s, parse(input)?).await?),
        "DeleteTargetGroup" => out(target_groups::delete(s, parse(input)?).await?),
        "DescribeTargetGroupAttributes" => out(target_groups::describe_attributes(s, parse(input)?)?),
        "ModifyTargetGroupAttributes" => out(target_groups::modify_attributes(s, parse(input)?).await?),
        "RegisterTargets" => out(targets::register_op(s, parse(input)?).await?),
        "DeregisterTargets" => out(targets::deregister_op(s, parse(input)?).await?),
        "DescribeTargetHealth" => out(targets::describe_health(s, parse(input)?)?),
        "CreateListener" => out(listeners::create(s, parse(input)?).await?),
        "DescribeListeners" => out(listeners::describe(s, parse(input)?)?),
        "ModifyListener" => out(listeners::modify(s, parse(input)?).await?),
        "DeleteListener" => out(listeners::delete(s, parse(input)?).await?),
        "DescribeSSLPolicies" => out(listeners::describe_ssl_policies(parse(input)?)?),
        "DescribeListenerCertificates" => out(listeners::describe_certificates(s, parse(input)?)?),
        "AddListenerCertificates" => out(listeners::add_certificates(s, parse(input)?)?),
        "RemoveListenerCertificates" => out(listeners::remove_certificates(s, parse(input)?)?),
        "CreateRule" => out(rules::create(s, parse(input)?).await?),
        "DescribeRules" => out(rules::describe(s, parse(input)?)?),
        "ModifyRule" => out(rules::modify(s, parse(input)?).await?),
        "DeleteRule" => out(rules::delete(s, parse(input)?).await?),
        "SetRulePriorities" => out(rules::set_priorities(s, parse(input)?).await?),
        "AddTags" => out(tags::add(s, parse(input)?).await?),
        "RemoveTags" => out(tags::remove(s, parse(input)?).await?),
        "DescribeTags" => out(tags::describe(s, parse(input)?)?),
        op if berth_model::elbv2::OPERATIONS.contains(&op) => Err(ElbError::unsupported_operation(op)),
        op => Err(ElbError::unknown_operation(op)),
    }
}

/// Removes empty strings from objects (AWS treats an empty optional member as unset).
fn drop_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !matches!(v, Value::String(s) if s.is_empty()));
            map.values_mut().for_each(drop_empty);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, ElbError> {
    let mut value: Value = if input.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(input).map_err(|e| ElbError::validation(format!("The request is not valid: {e}")))?
    };
    drop_empty(&mut value);
    berth_model::input::decode_value(value, berth_model::input::Naming::LastMemberCamel).map_err(ElbError::validation)
}

fn out<T: Serialize>(value: T) -> Result<Vec<u8>, ElbError> {
    Ok(serde_json::to_vec(&value)?)
}

/// One page of `items` after `marker` (an offset this server issued), `page_size` long (1-400, default 400).
pub(crate) fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    page_size: Option<i32>,
) -> Result<(Vec<T>, Option<String>), ElbError> {
    let size = match page_size {
        None => 400,
        Some(n) if (1..=400).contains(&n) => n as usize,
        Some(n) => return Err(ElbError::range("pageSize", n, "Member must have value between 1 and 400")),
    };
    let start = match marker {
        None => 0,
        Some(m) => m
            .strip_prefix("berth-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ElbError::validation(format!("The marker '{m}' is not valid")))?,
    };
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let next = (start + size < total).then(|| format!("berth-{}", start + size));
    Ok((items, next))
}

/// Checks and converts request tags.
pub(crate) fn parse_tags(tags: &[berth_model::elbv2::Tag]) -> Result<crate::records::Tags, ElbError> {
    let mut out = crate::records::Tags::new();
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(ElbError::range("key", &t.key, "Member must have length between 1 and 128"));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ElbError::validation(format!(
                "Tag key '{}' is not valid: the 'aws:' prefix is reserved",
                t.key
            )));
        }
        let value = t.value.clone().unwrap_or_default();
        if value.chars().count() > 256 {
            return Err(ElbError::range("value", &value, "Member must have length less than or equal to 256"));
        }
        if out.insert(t.key.clone(), value).is_some() {
            return Err(ElbError::new("DuplicateTagKeys", format!("Tag key '{}' is specified more than once", t.key)));
        }
    }
    check_tag_count(&out)?;
    Ok(out)
}

/// At most 50 tags per resource.
pub(crate) fn check_tag_count(tags: &crate::records::Tags) -> Result<(), ElbError> {
    if tags.len() > 50 {
        return Err(ElbError::new("TooManyTags", "A resource can have at most 50 tags"));
    }
    Ok(())
}

/// Checks a load balancer or target group name: 1-32 alphanumerics and hyphens, no hyphen at either end.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ElbError> {
    if name.chars().count() > 32 {
        return Err(ElbError::validation(format!("{what} name cannot be longer than '32' characters")));
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ElbError::validation(format!(
            "{what} name '{name}' can only contain characters that are alphanumeric characters or hyphens(-)"
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(ElbError::validation(format!("{what} name '{name}' cannot begin or end with a hyphen")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_paging() {
        let e = parse::<berth_model::elbv2::CreateLoadBalancerInput>(br#"{"Type": "classic"}"#).unwrap_err();
        assert!(e.message.starts_with("1 validation error detected: Value 'classic' at 'type'"), "{}", e.message);
        let e = parse::<berth_model::elbv2::CreateLoadBalancerInput>(b"{}").unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
        );
        let ok = parse::<berth_model::elbv2::CreateLoadBalancerInput>(br#"{"Name": "a", "Scheme": ""}"#).unwrap();
        assert_eq!(ok.scheme, None);
        let (items, next) = page(vec![1, 2, 3], None, Some(2)).unwrap();
        assert_eq!((items, next.as_deref()), (vec![1, 2], Some("berth-2")));
        assert_eq!(page(vec![1, 2, 3], Some("berth-2"), Some(2)).unwrap(), (vec![3], None));
        assert!(page(vec![1], Some("x"), None).is_err());
        assert!(page(vec![1], None, Some(401)).is_err());
        assert!(check_name("Load balancer", "web-1").is_ok());
        assert!(check_name("Load balancer", "-web").is_err());
        assert!(check_name("Load balancer", "web_1").is_err());
        assert!(check_name("Load balancer", &"a".repeat(33)).is_err());
        let dup = [
            berth_model::elbv2::Tag { key: "a".into(), value: None },
            berth_model::elbv2::Tag { key: "a".into(), value: None },
        ];
        assert_eq!(parse_tags(&dup).unwrap_err().code, "DuplicateTagKeys");
    }
}
