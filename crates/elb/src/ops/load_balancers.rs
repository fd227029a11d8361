//! CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer, Describe/ModifyLoadBalancerAttributes,
//! SetSecurityGroups.

use super::{check_name, page, parse_tags};
use crate::attributes::{self, Of};
use crate::config::{self, CANONICAL_HOSTED_ZONE_ID, DEFAULT_SECURITY_GROUP, DNS_SUFFIX, VPC_ID};
use crate::records::{LoadBalancerRecord, SCHEMA, new_id};
use crate::{Elb, ElbError};
use berth_model::elbv2 as wire;
use rand::Rng as _;
use std::collections::BTreeMap;

/// The wire shape of a load balancer.
pub(crate) fn render(s: &Elb, lb: &LoadBalancerRecord) -> wire::LoadBalancer {
    wire::LoadBalancer {
        load_balancer_arn: Some(lb.arn.clone()),
        dns_name: Some(lb.dns_name.clone()),
        canonical_hosted_zone_id: Some(CANONICAL_HOSTED_ZONE_ID.into()),
        created_time: Some(lb.created),
        load_balancer_name: Some(lb.name.clone()),
        scheme: Some(if lb.internal {
            wire::LoadBalancerSchemeEnum::Internal
        } else {
            wire::LoadBalancerSchemeEnum::InternetFacing
        }),
        vpc_id: Some(VPC_ID.into()),
        state: Some(wire::LoadBalancerState { code: Some(wire::LoadBalancerStateEnum::Active), reason: None }),
        r#type: Some(wire::LoadBalancerTypeEnum::Application),
        availability_zones: Some(
            lb.subnets
                .iter()
                .map(|subnet| wire::AvailabilityZone {
                    zone_name: s.config.zone_of(subnet),
                    subnet_id: Some(subnet.clone()),
                    ..Default::default()
                })
                .collect(),
        ),
        security_groups: Some(lb.security_groups.clone()),
        ip_address_type: Some(wire::IpAddressType::Ipv4),
        ..Default::default()
    }
}

fn unsupported(setting: &str) -> ElbError {
    ElbError::not_permitted(format!("Berth does not support {setting} on load balancers."))
}

/// The subnets of a request: all of the default VPC's when none are given.
fn subnets(req: &wire::CreateLoadBalancerInput) -> Result<Vec<String>, ElbError> {
    let mut ids: Vec<String> = Vec::new();
    match (&req.subnets, &req.subnet_mappings) {
        (Some(_), Some(_)) => return Err(ElbError::validation("You can specify subnets or subnet mappings, not both")),
        (Some(list), None) => ids = list.clone(),
        (None, Some(mappings)) => {
            for m in mappings {
                if m.allocation_id.is_some() || m.private_i_pv4_address.is_some() || m.i_pv6_address.is_some() {
                    return Err(unsupported("Elastic IP allocations and fixed private addresses in subnet mappings"));
                }
                ids.push(m.subnet_id.clone().unwrap_or_default());
            }
        }
        (None, None) => {}
    }
    if ids.is_empty() {
        return Ok(config::SUBNETS.iter().map(|(s, _)| (*s).to_string()).collect());
    }
    ids.sort();
    ids.dedup();
    for id in &ids {
        if !config::SUBNETS.iter().any(|(s, _)| s == id) {
            return Err(ElbError::new("SubnetNotFound", format!("The subnet ID '{id}' is not valid")));
        }
    }
    if ids.len() < 2 {
        return Err(ElbError::validation("At least two subnets in two different Availability Zones must be specified"));
    }
    Ok(ids)
}

fn security_groups(groups: Option<&Vec<String>>) -> Result<Vec<String>, ElbError> {
    let groups = groups.cloned().filter(|g| !g.is_empty()).unwrap_or_else(|| vec![DEFAULT_SECURITY_GROUP.into()]);
    if groups.len() > 5 {
        return Err(ElbError::validation("A load balancer can have at most 5 security groups"));
    }
    for g in &groups {
        if !g.starts_with("sg-") || g.len() < 4 {
            return Err(ElbError::new("InvalidSecurityGroup", format!("Security group '{g}' is not valid")));
        }
    }
    Ok(groups)
}

/// `CreateLoadBalancer`: an application load balancer with its own address from the configured range. Idempotent
/// for the same name and settings, as on AWS.
pub(crate) async fn create(
    s: &Elb,
    req: wire::CreateLoadBalancerInput,
) -> Result<wire::CreateLoadBalancerOutput, ElbError> {
    check_name("Load balancer", &req.name)?;
    if req.name.starts_with("internal-") {
        return Err(ElbError::validation(format!("Load balancer name '{}' cannot begin with 'internal-'", req.name)));
    }
    if let Some(t) = req.r#type
        && t != wire::LoadBalancerTypeEnum::Application
    {
        return Err(ElbError::not_permitted(format!(
            "Berth supports application load balancers only: load balancer type '{t}' is not supported."
        )));
    }
    if let Some(t) = req.ip_address_type
        && t != wire::IpAddressType::Ipv4
    {
        return Err(unsupported(&format!("IP address type '{t}' (only ipv4)")));
    }
    if req.customer_owned_ipv4_pool.is_some() {
        return Err(unsupported("customer-owned IPv4 pools"));
    }
    if req.ipam_pools.is_some() {
        return Err(unsupported("IPAM pools"));
    }
    if req.enable_prefix_for_ipv6_source_nat.is_some() {
        return Err(unsupported("IPv6 source NAT prefixes"));
    }
    let subnets = subnets(&req)?;
    let groups = security_groups(req.security_groups.as_ref())?;
    let internal = req.scheme == Some(wire::LoadBalancerSchemeEnum::Internal);
    let tags = parse_tags(req.tags.as_deref().unwrap_or_default())?;
    let digits: u64 = rand::rng().random_range(0..10_000_000_000);
    let id = new_id();
    let arn = s.arn(&format!("loadbalancer/app/{}/{id}", req.name));
    let region = s.config.region.clone();
    let range = s.config.address_range;
    let record = s
        .update(|state, now| {
            if let Some(existing) = state.load_balancers.values().find(|l| l.name == req.name) {
                if existing.internal == internal && existing.subnets == subnets && existing.security_groups == groups {
                    return Ok(existing.clone());
                }
                return Err(ElbError::new(
                    "DuplicateLoadBalancerName",
                    format!("A load balancer with the same name '{}' exists, but with different settings", req.name),
                ));
            }
            let taken: Vec<_> = state.load_balancers.values().map(|l| l.address).collect();
            let address = range.hosts().find(|a| !taken.contains(a)).ok_or_else(|| {
                ElbError::new(
                    "TooManyLoadBalancers",
                    format!("Berth's load balancer address range {range} has no free address left"),
                )
            })?;
            let prefix = if internal { "internal-" } else { "" };
            let record = LoadBalancerRecord {
                schema: SCHEMA,
                arn: arn.clone(),
                name: req.name.clone(),
                internal,
                security_groups: groups.clone(),
                subnets: subnets.clone(),
                address,
                dns_name: format!("{prefix}{}-{digits:010}.{region}.{DNS_SUFFIX}", req.name),
                created: now,
                attributes: BTreeMap::new(),
                tags,
            };
            state.load_balancers.insert(arn.clone(), record.clone());
            Ok(record)
        })
        .await?;
    Ok(wire::CreateLoadBalancerOutput { load_balancers: Some(vec![render(s, &record)]) })
}

/// `DescribeLoadBalancers`: all, or by ARNs, or by names (every one must exist), in creation order.
pub(crate) fn describe(
    s: &Elb,
    req: wire::DescribeLoadBalancersInput,
) -> Result<wire::DescribeLoadBalancersOutput, ElbError> {
    let state = s.snapshot();
    let arns = req.load_balancer_arns.unwrap_or_default();
    let names = req.names.unwrap_or_default();
    if !arns.is_empty() && !names.is_empty() {
        return Err(ElbError::validation(
            "Load balancer names and load balancer ARNs cannot be specified at the same time",
        ));
    }
    let mut found: Vec<&LoadBalancerRecord> = if !arns.is_empty() {
        arns.iter().map(|a| state.lb(a)).collect::<Result<_, _>>()?
    } else if !names.is_empty() {
        let mut out = Vec::new();
        for n in &names {
            match state.load_balancers.values().find(|l| &l.name == n) {
                Some(l) => out.push(l),
                None => return Err(ElbError::new("LoadBalancerNotFound", format!("Load balancers '[{n}]' not found"))),
            }
        }
        out
    } else {
        state.load_balancers.values().collect()
    };
    found.sort_by(|a, b| a.created.total_cmp(&b.created).then_with(|| a.arn.cmp(&b.arn)));
    found.dedup_by(|a, b| a.arn == b.arn);
    let items: Vec<wire::LoadBalancer> = found.into_iter().map(|l| render(s, l)).collect();
    let (items, next_marker) = page(items, req.marker.as_deref(), req.page_size)?;
    Ok(wire::DescribeLoadBalancersOutput { load_balancers: Some(items), next_marker })
}

/// `DeleteLoadBalancer`: with its listeners and rules; succeeds for one that does not exist (as AWS documents),
/// refused while deletion protection is on.
pub(crate) async fn delete(
    s: &Elb,
    req: wire::DeleteLoadBalancerInput,
) -> Result<wire::DeleteLoadBalancerOutput, ElbError> {
    s.update(|state, _| {
        let Some(lb) = state.load_balancers.get(&req.load_balancer_arn) else { return Ok(()) };
        if attributes::get(Of::LoadBalancer, &lb.attributes, "deletion_protection.enabled") == "true" {
            return Err(ElbError::not_permitted(format!(
                "Load balancer '{}' cannot be deleted because deletion protection is enabled",
                req.load_balancer_arn
            )));
        }
        state.load_balancers.remove(&req.load_balancer_arn);
        let listeners: Vec<String> = state
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == req.load_balancer_arn)
            .map(|l| l.arn.clone())
            .collect();
        state.rules.retain(|_, r| !listeners.contains(&r.listener_arn));
        state.listeners.retain(|_, l| l.load_balancer_arn != req.load_balancer_arn);
        Ok(())
    })
    .await?;
    Ok(wire::DeleteLoadBalancerOutput {})
}

fn render_attributes(stored: &BTreeMap<String, String>) -> Vec<wire::LoadBalancerAttribute> {
    attributes::all(Of::LoadBalancer, stored)
        .into_iter()
        .map(|(k, v)| wire::LoadBalancerAttribute { key: Some(k), value: Some(v) })
        .collect()
}

/// `DescribeLoadBalancerAttributes`.
pub(crate) fn describe_attributes(
    s: &Elb,
    req: wire::DescribeLoadBalancerAttributesInput,
) -> Result<wire::DescribeLoadBalancerAttributesOutput, ElbError> {
    let state = s.snapshot();
    let lb = state.lb(&req.load_balancer_arn)?;
    Ok(wire::DescribeLoadBalancerAttributesOutput { attributes: Some(render_attributes(&lb.attributes)) })
}

/// `ModifyLoadBalancerAttributes`: answers with every attribute.
pub(crate) async fn modify_attributes(
    s: &Elb,
    req: wire::ModifyLoadBalancerAttributesInput,
) -> Result<wire::ModifyLoadBalancerAttributesOutput, ElbError> {
    let changes: Vec<(String, String)> = req
        .attributes
        .iter()
        .map(|a| (a.key.clone().unwrap_or_default(), a.value.clone().unwrap_or_default()))
        .collect();
    let stored = s
        .update(|state, _| {
            let lb = state.load_balancers.get_mut(&req.load_balancer_arn).ok_or_else(ElbError::lb_not_found)?;
            lb.attributes = attributes::modify(Of::LoadBalancer, &lb.attributes, &changes)?;
            Ok(lb.attributes.clone())
        })
        .await?;
    Ok(wire::ModifyLoadBalancerAttributesOutput { attributes: Some(render_attributes(&stored)) })
}

/// `SetSecurityGroups`: stored and shown; the load balancer's own ingress is not filtered by them, but awsvpc
/// targets whose security groups name them let its traffic in.
pub(crate) async fn set_security_groups(
    s: &Elb,
    req: wire::SetSecurityGroupsInput,
) -> Result<wire::SetSecurityGroupsOutput, ElbError> {
    if req.enforce_security_group_inbound_rules_on_private_link_traffic.is_some() {
        return Err(unsupported("PrivateLink security group enforcement"));
    }
    let groups = security_groups(Some(&req.security_groups))?;
    s.update(|state, _| {
        let lb = state.load_balancers.get_mut(&req.load_balancer_arn).ok_or_else(ElbError::lb_not_found)?;
        lb.security_groups = groups.clone();
        Ok(())
    })
    .await?;
    Ok(wire::SetSecurityGroupsOutput { security_group_ids: Some(groups), ..Default::default() })
}
