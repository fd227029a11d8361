//! The API operations: decode the JSON input, validate it as Cloud Map does, act, encode.

mod discover;
pub(crate) mod instances;
pub(crate) mod namespaces;
mod operations;
pub(crate) mod services;
mod tags;

use crate::index::State;
use crate::records::{self, OperationKind, OperationRecord};
use crate::{Discovery, DiscoveryError};
use berth_model::servicediscovery::{FilterCondition, Tag};
use berth_store::Txn;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The most operations kept: past it, creating one deletes the oldest (Cloud Map keeps them for a while too).
pub(crate) const MAX_OPERATIONS: usize = 10_000;

/// Runs one operation.
pub(crate) async fn dispatch(s: &Discovery, operation: &str, input: &[u8]) -> Result<Vec<u8>, DiscoveryError> {
    match operation {
        "CreatePrivateDnsNamespace" => out(namespaces::create_private_dns(s, parse(input)?).await?),
        "CreateHttpNamespace" => out(namespaces::create_http(s, parse(input)?).await?),
        "CreatePublicDnsNamespace" => Err(DiscoveryError::invalid(
            "Berth does not serve public DNS namespaces (it hosts no public zones): use CreatePrivateDnsNamespace \
             or CreateHttpNamespace.",
        )),
        "GetNamespace" => out(namespaces::get(s, parse(input)?)?),
        "ListNamespaces" => out(namespaces::list(s, parse(input)?)?),
        "DeleteNamespace" => out(namespaces::delete(s, parse(input)?).await?),
        "UpdatePrivateDnsNamespace" => out(namespaces::update_private_dns(s, parse(input)?).await?),
        "UpdateHttpNamespace" => out(namespaces::update_http(s, parse(input)?).await?),
        "UpdatePublicDnsNamespace" => {
            Err(DiscoveryError::invalid("Berth does not serve public DNS namespaces (it hosts no public zones)."))
        }
        "CreateService" => out(services::create(s, parse(input)?).await?),
        "GetService" => out(services::get(s, parse(input)?)?),
        "ListServices" => out(services::list(s, parse(input)?)?),
        "DeleteService" => out(services::delete(s, parse(input)?).await?),
        "UpdateService" => out(services::update(s, parse(input)?).await?),
        "GetServiceAttributes" => out(services::get_attributes(s, parse(input)?)?),
        "UpdateServiceAttributes" => out(services::update_attributes(s, parse(input)?).await?),
        "DeleteServiceAttributes" => out(services::delete_attributes(s, parse(input)?).await?),
        "RegisterInstance" => out(instances::register(s, parse(input)?).await?),
        "DeregisterInstance" => out(instances::deregister(s, parse(input)?).await?),
        "GetInstance" => out(instances::get(s, parse(input)?)?),
        "ListInstances" => out(instances::list(s, parse(input)?)?),
        "GetInstancesHealthStatus" => out(instances::health_status(s, parse(input)?)?),
        "UpdateInstanceCustomHealthStatus" => {
            instances::update_custom_health(s, parse(input)?).await?;
            Ok(b"{}".to_vec())
        }
        "DiscoverInstances" => out(discover::discover(s, parse(input)?)?),
        "DiscoverInstancesRevision" => out(discover::revision(s, parse(input)?)?),
        "GetOperation" => out(operations::get(s, parse(input)?)?),
        "ListOperations" => out(operations::list(s, parse(input)?)?),
        "TagResource" => out(tags::tag(s, parse(input)?).await?),
        "UntagResource" => out(tags::untag(s, parse(input)?).await?),
        "ListTagsForResource" => out(tags::list(s, parse(input)?)?),
        op if berth_model::servicediscovery::OPERATIONS.contains(&op) => Err(DiscoveryError::unsupported(op)),
        op => Err(DiscoveryError::unknown_operation(op)),
    }
}

pub(crate) fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, DiscoveryError> {
    berth_model::input::decode(input, berth_model::input::Naming::Path).map_err(DiscoveryError::invalid)
}

fn out<T: Serialize>(value: T) -> Result<Vec<u8>, DiscoveryError> {
    Ok(serde_json::to_vec(&value)?)
}

/// The id an `Id` member names: Cloud Map takes the id or, for shared resources, the ARN.
pub(crate) fn id_of(id_or_arn: &str) -> &str {
    if id_or_arn.starts_with("arn:") { id_or_arn.rsplit('/').next().unwrap_or(id_or_arn) } else { id_or_arn }
}

/// An optional string member where an empty string means absent.
pub(crate) fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// A description: at most 1,024 characters.
pub(crate) fn check_description(description: &Option<String>) -> Result<(), DiscoveryError> {
    match description {
        Some(d) if d.chars().count() > 1024 => Err(DiscoveryError::invalid(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024",
        )),
        _ => Ok(()),
    }
}

/// One page of `items` after `token` (an index this server issued), `max` long (1 to `limit`, default `limit`).
pub(crate) fn page<T>(
    items: Vec<T>,
    token: Option<&str>,
    max: Option<i32>,
    limit: i32,
) -> Result<(Vec<T>, Option<String>), DiscoveryError> {
    let size = match max {
        None => limit as usize,
        Some(n) if (1..=limit).contains(&n) => n as usize,
        Some(n) => {
            return Err(DiscoveryError::invalid(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {limit}"
            )));
        }
    };
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .strip_prefix("berth-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| DiscoveryError::invalid(format!("The NextToken value is not valid: {t}")))?,
    };
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let next = (start + size < total).then(|| format!("berth-{}", start + size));
    Ok((items, next))
}

/// Whether `value` passes a filter of `values` under `condition` (EQ by default; `allowed` lists the conditions
/// the filter takes).
pub(crate) fn filter_matches(
    filter: &str,
    condition: Option<FilterCondition>,
    allowed: &[FilterCondition],
    values: &[String],
    value: &str,
) -> Result<bool, DiscoveryError> {
    let condition = condition.unwrap_or(FilterCondition::Eq);
    if !allowed.contains(&condition) {
        return Err(DiscoveryError::invalid(format!(
            "Filter {filter} does not support the condition {}",
            condition.as_str()
        )));
    }
    let need = |n: usize| -> Result<(), DiscoveryError> {
        if values.len() == n {
            Ok(())
        } else {
            Err(DiscoveryError::invalid(format!(
                "Filter {filter} with condition {} takes {n} value(s), got {}",
                condition.as_str(),
                values.len()
            )))
        }
    };
    Ok(match condition {
        FilterCondition::Eq => {
            need(1)?;
            values[0] == value
        }
        FilterCondition::In => values.iter().any(|v| v == value),
        FilterCondition::BeginsWith => {
            need(1)?;
            value.starts_with(values[0].as_str())
        }
        FilterCondition::Between => {
            need(2)?;
            let (a, b) = (values[0].parse::<f64>(), values[1].parse::<f64>());
            let v = value.parse::<f64>();
            match (a, b, v) {
                (Ok(a), Ok(b), Ok(v)) => a <= v && v <= b,
                _ => return Err(DiscoveryError::invalid(format!("Filter {filter}: BETWEEN takes two numbers"))),
            }
        }
    })
}

/// Tags given as a list, checked (at most 50, keys 1-128 characters not starting with `aws:`, values up to 256).
pub(crate) fn tag_map(
    existing: &BTreeMap<String, String>,
    tags: Vec<Tag>,
    arn: &str,
) -> Result<BTreeMap<String, String>, DiscoveryError> {
    let mut out = existing.clone();
    for tag in tags {
        if tag.key.is_empty() || tag.key.chars().count() > 128 || tag.value.chars().count() > 256 {
            return Err(DiscoveryError::invalid(format!("Invalid tag: {}", tag.key)));
        }
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(DiscoveryError::invalid(format!("Tag keys starting with aws: are reserved: {}", tag.key)));
        }
        out.insert(tag.key, tag.value);
    }
    if out.len() > 50 {
        return Err(DiscoveryError::too_many_tags(arn));
    }
    Ok(out)
}

/// Tags as the wire's list.
pub(crate) fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect()
}

/// A new operation (done: Berth applies each change in the call), added to `txn`; the oldest operations go when
/// [`MAX_OPERATIONS`] are kept.
pub(crate) fn record_operation(
    s: &Discovery,
    state: &State,
    txn: Txn,
    kind: OperationKind,
    targets: &[(&str, &str)],
) -> Result<(Txn, String), DiscoveryError> {
    let now = s.clock.now();
    let op = OperationRecord {
        schema: records::SCHEMA,
        id: records::operation_id(),
        kind,
        targets: targets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        created: now,
        updated: now,
    };
    let mut txn = txn.put(records::operation_key(&op.id), records::encode(&op)?);
    if state.operations.len() >= MAX_OPERATIONS {
        let mut oldest: Vec<&OperationRecord> = state.operations.values().collect();
        oldest.sort_by(|a, b| a.created.total_cmp(&b.created));
        for old in oldest.iter().take(state.operations.len() + 1 - MAX_OPERATIONS) {
            txn = txn.delete(records::operation_key(&old.id));
        }
    }
    Ok((txn, op.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_misfits_read_like_aws() {
        let e = parse::<berth_model::servicediscovery::CreateHttpNamespaceRequest>(b"{}").unwrap_err();
        assert_eq!(e.exception, "InvalidInput");
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'Name' failed to satisfy constraint: Member must not be null"
        );
        let e = parse::<berth_model::servicediscovery::DiscoverInstancesRequest>(
            br#"{"NamespaceName": "a", "ServiceName": "b", "HealthStatus": "SICK"}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("Value 'SICK' at 'HealthStatus'"), "{}", e.message);
    }

    #[test]
    fn ids_and_arns_name_the_same_resource() {
        assert_eq!(id_of("ns-abc"), "ns-abc");
        assert_eq!(id_of("arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-abc"), "ns-abc");
    }

    #[test]
    fn pages_and_tokens() {
        let (items, next) = page((0..5).collect(), None, Some(2), 100).unwrap();
        assert_eq!((items, next.as_deref()), (vec![0, 1], Some("berth-2")));
        let (items, next) = page((0..5).collect(), Some("berth-4"), Some(2), 100).unwrap();
        assert_eq!((items, next), (vec![4], None));
        assert!(page((0..5).collect::<Vec<_>>(), Some("bogus"), None, 100).is_err());
        assert!(page((0..5).collect::<Vec<_>>(), None, Some(101), 100).is_err());
    }

    #[test]
    fn filters_follow_their_conditions() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let eq = [FilterCondition::Eq, FilterCondition::In];
        assert!(filter_matches("TYPE", None, &eq, &v(&["HTTP"]), "HTTP").unwrap());
        assert!(
            filter_matches("TYPE", Some(FilterCondition::In), &eq, &v(&["HTTP", "DNS_PRIVATE"]), "DNS_PRIVATE")
                .unwrap()
        );
        assert!(filter_matches("TYPE", Some(FilterCondition::BeginsWith), &eq, &v(&["H"]), "HTTP").is_err());
        assert!(filter_matches("TYPE", None, &eq, &v(&["A", "B"]), "A").is_err(), "EQ takes one value");
        let between = [FilterCondition::Between];
        assert!(filter_matches("UPDATE_DATE", Some(FilterCondition::Between), &between, &v(&["1", "3"]), "2").unwrap());
        assert!(
            !filter_matches("UPDATE_DATE", Some(FilterCondition::Between), &between, &v(&["1", "3"]), "4").unwrap()
        );
    }

    #[test]
    fn tags_are_checked() {
        let t = |k: &str| Tag { key: k.into(), value: "v".into() };
        assert!(tag_map(&BTreeMap::new(), vec![t("aws:x")], "arn").is_err());
        assert!(tag_map(&BTreeMap::new(), vec![t("")], "arn").is_err());
        let many: Vec<Tag> = (0..51).map(|i| t(&format!("k{i}"))).collect();
        assert_eq!(tag_map(&BTreeMap::new(), many, "arn").unwrap_err().exception, "TooManyTagsException");
        assert_eq!(tag_map(&BTreeMap::new(), vec![t("a")], "arn").unwrap().len(), 1);
    }
}
