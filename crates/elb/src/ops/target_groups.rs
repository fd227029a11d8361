//! CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, DeleteTargetGroup,
//! Describe/ModifyTargetGroupAttributes.

use super::{check_name, page, parse_tags};
use crate::attributes::{self, Of};
use crate::config::VPC_ID;
use crate::health::{self, HealthCheck};
use crate::records::{SCHEMA, TargetGroupRecord, new_id};
use crate::state::State;
use crate::{Elb, ElbError};
use berth_model::elbv2 as wire;
use std::collections::BTreeMap;

/// The most target groups Berth keeps (AWS's default quota).
const MAX_TARGET_GROUPS: usize = 3000;

/// The wire shape of a target group.
pub(crate) fn render(state: &State, tg: &TargetGroupRecord) -> wire::TargetGroup {
    let hc = &tg.health_check;
    let protocol = |p: &str| if p == "HTTPS" { wire::ProtocolEnum::Https } else { wire::ProtocolEnum::Http };
    wire::TargetGroup {
        target_group_arn: Some(tg.arn.clone()),
        target_group_name: Some(tg.name.clone()),
        protocol: Some(protocol(&tg.protocol)),
        port: Some(i32::from(tg.port)),
        vpc_id: Some(tg.vpc_id.clone()),
        health_check_protocol: Some(protocol(&hc.protocol)),
        health_check_port: Some(hc.port.clone()),
        health_check_enabled: Some(hc.enabled),
        health_check_interval_seconds: Some(hc.interval_seconds as i32),
        health_check_timeout_seconds: Some(hc.timeout_seconds as i32),
        healthy_threshold_count: Some(hc.healthy_threshold as i32),
        unhealthy_threshold_count: Some(hc.unhealthy_threshold as i32),
        health_check_path: Some(hc.path.clone()),
        matcher: Some(wire::Matcher { http_code: Some(hc.matcher.clone()), grpc_code: None }),
        load_balancer_arns: Some(state.lbs_of_tg(&tg.arn).into_iter().collect()),
        target_type: Some(if tg.target_type == "ip" {
            wire::TargetTypeEnum::Ip
        } else {
            wire::TargetTypeEnum::Instance
        }),
        protocol_version: Some(tg.protocol_version.clone()),
        ip_address_type: Some(wire::TargetGroupIpAddressTypeEnum::Ipv4),
        target_control_port: None,
    }
}

fn unsupported(setting: &str) -> ElbError {
    ElbError::not_permitted(format!("Berth does not support {setting} on target groups."))
}

/// `CreateTargetGroup`: HTTP or HTTPS, `instance` or `ip` targets, in the default VPC. Idempotent for the same
/// name and settings, as on AWS.
pub(crate) async fn create(
    s: &Elb,
    req: wire::CreateTargetGroupInput,
) -> Result<wire::CreateTargetGroupOutput, ElbError> {
    check_name("Target group", &req.name)?;
    let target_type = match req.target_type.unwrap_or(wire::TargetTypeEnum::Instance) {
        wire::TargetTypeEnum::Instance => "instance",
        wire::TargetTypeEnum::Ip => "ip",
        other => return Err(unsupported(&format!("target type '{other}' (use instance or ip)"))),
    };
    let protocol = match req.protocol {
        None => return Err(ElbError::validation("A protocol must be specified")),
        Some(p @ (wire::ProtocolEnum::Http | wire::ProtocolEnum::Https)) => p.to_string(),
        Some(other) => {
            return Err(ElbError::not_permitted(format!(
                "Berth supports application load balancers only: target group protocol '{other}' is for network and gateway load balancers."
            )));
        }
    };
    let port = match req.port {
        None => return Err(ElbError::validation("A port must be specified")),
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ElbError::range("port", p, "Member must have value between 1 and 65535"))?,
    };
    match req.vpc_id.as_deref() {
        None => return Err(ElbError::validation("A VPC ID must be specified")),
        Some(VPC_ID) => {}
        Some(other) => return Err(ElbError::validation(format!("The VPC ID '{other}' is not found"))),
    }
    let protocol_version = req.protocol_version.clone().unwrap_or_else(|| "HTTP1".into());
    match protocol_version.as_str() {
        "HTTP1" => {}
        "HTTP2" | "GRPC" => return Err(unsupported(&format!("protocol version '{protocol_version}' (only HTTP1)"))),
        other => {
            return Err(ElbError::validation(format!(
                "Protocol version '{other}' is not valid: use HTTP1, HTTP2 or GRPC"
            )));
        }
    }
    if req.ip_address_type == Some(wire::TargetGroupIpAddressTypeEnum::Ipv6) {
        return Err(unsupported("IPv6 targets"));
    }
    if req.target_control_port.is_some() {
        return Err(unsupported("target control ports"));
    }
    let health_check = health::apply(
        &HealthCheck::defaults(&protocol),
        health::Changes {
            enabled: req.health_check_enabled,
            protocol: req.health_check_protocol,
            port: req.health_check_port.clone(),
            path: req.health_check_path.clone(),
            interval: req.health_check_interval_seconds,
            timeout: req.health_check_timeout_seconds,
            healthy: req.healthy_threshold_count,
            unhealthy: req.unhealthy_threshold_count,
            matcher: req.matcher.clone(),
        },
    )?;
    let tags = parse_tags(req.tags.as_deref().unwrap_or_default())?;
    let arn = s.arn(&format!("targetgroup/{}/{}", req.name, new_id()));
    let (state, record) = s
        .update(|state, now| {
            if let Some(existing) = state.target_groups.values().find(|t| t.name == req.name) {
                if existing.protocol == protocol
                    && existing.port == port
                    && existing.target_type == target_type
                    && existing.health_check == health_check
                {
                    return Ok((state.clone(), existing.clone()));
                }
                return Err(ElbError::new(
                    "DuplicateTargetGroupName",
                    format!("A target group with the same name '{}' exists, but with different settings", req.name),
                ));
            }
            if state.target_groups.len() >= MAX_TARGET_GROUPS {
                return Err(ElbError::new(
                    "TooManyTargetGroups",
                    "You have reached the limit on the number of target groups",
                ));
            }
            let record = TargetGroupRecord {
                schema: SCHEMA,
                arn: arn.clone(),
                name: req.name.clone(),
                protocol: protocol.clone(),
                protocol_version: protocol_version.clone(),
                port,
                vpc_id: VPC_ID.into(),
                target_type: target_type.into(),
                health_check: health_check.clone(),
                attributes: BTreeMap::new(),
                targets: Vec::new(),
                created: now,
                tags,
            };
            state.target_groups.insert(arn.clone(), record.clone());
            Ok((state.clone(), record))
        })
        .await?;
    Ok(wire::CreateTargetGroupOutput { target_groups: Some(vec![render(&state, &record)]) })
}

/// `DescribeTargetGroups`: all, or those of a load balancer, or by ARNs or names (every one must exist).
pub(crate) fn describe(
    s: &Elb,
    req: wire::DescribeTargetGroupsInput,
) -> Result<wire::DescribeTargetGroupsOutput, ElbError> {
    let state = s.snapshot();
    let arns = req.target_group_arns.unwrap_or_default();
    let names = req.names.unwrap_or_default();
    let given = [req.load_balancer_arn.is_some(), !arns.is_empty(), !names.is_empty()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ElbError::validation(
            "Only one of load balancer ARN, target group ARNs and target group names can be specified",
        ));
    }
    let mut found: Vec<&TargetGroupRecord> = if let Some(lb) = &req.load_balancer_arn {
        state.lb(lb)?;
        state.target_groups.values().filter(|t| state.lbs_of_tg(&t.arn).contains(lb)).collect()
    } else if !arns.is_empty() {
        arns.iter().map(|a| state.tg(a)).collect::<Result<_, _>>()?
    } else if !names.is_empty() {
        let mut out = Vec::new();
        for n in &names {
            match state.target_groups.values().find(|t| &t.name == n) {
                Some(t) => out.push(t),
                None => return Err(ElbError::new("TargetGroupNotFound", format!("Target groups '[{n}]' not found"))),
            }
        }
        out
    } else {
        state.target_groups.values().collect()
    };
    found.sort_by(|a, b| a.created.total_cmp(&b.created).then_with(|| a.arn.cmp(&b.arn)));
    found.dedup_by(|a, b| a.arn == b.arn);
    let items: Vec<wire::TargetGroup> = found.into_iter().map(|t| render(&state, t)).collect();
    let (items, next_marker) = page(items, req.marker.as_deref(), req.page_size)?;
    Ok(wire::DescribeTargetGroupsOutput { target_groups: Some(items), next_marker })
}

/// `ModifyTargetGroup`: the health check.
pub(crate) async fn modify(
    s: &Elb,
    req: wire::ModifyTargetGroupInput,
) -> Result<wire::ModifyTargetGroupOutput, ElbError> {
    let changes = health::Changes {
        enabled: req.health_check_enabled,
        protocol: req.health_check_protocol,
        port: req.health_check_port.clone(),
        path: req.health_check_path.clone(),
        interval: req.health_check_interval_seconds,
        timeout: req.health_check_timeout_seconds,
        healthy: req.healthy_threshold_count,
        unhealthy: req.unhealthy_threshold_count,
        matcher: req.matcher.clone(),
    };
    let (state, record) = s
        .update(|state, _| {
            let tg = state.target_groups.get_mut(&req.target_group_arn).ok_or_else(ElbError::tg_not_found)?;
            tg.health_check = health::apply(&tg.health_check, changes)?;
            let record = tg.clone();
            Ok((state.clone(), record))
        })
        .await?;
    Ok(wire::ModifyTargetGroupOutput { target_groups: Some(vec![render(&state, &record)]) })
}

/// `DeleteTargetGroup`: refused while a listener or rule forwards to it.
pub(crate) async fn delete(
    s: &Elb,
    req: wire::DeleteTargetGroupInput,
) -> Result<wire::DeleteTargetGroupOutput, ElbError> {
    s.update(|state, _| {
        state.tg(&req.target_group_arn)?;
        if !state.lbs_of_tg(&req.target_group_arn).is_empty() {
            return Err(ElbError::new(
                "ResourceInUse",
                format!("Target group '{}' is currently in use by a listener or a rule", req.target_group_arn),
            ));
        }
        state.target_groups.remove(&req.target_group_arn);
        Ok(())
    })
    .await?;
    Ok(wire::DeleteTargetGroupOutput {})
}

fn render_attributes(stored: &BTreeMap<String, String>) -> Vec<wire::TargetGroupAttribute> {
    attributes::all(Of::TargetGroup, stored)
        .into_iter()
        .map(|(k, v)| wire::TargetGroupAttribute { key: Some(k), value: Some(v) })
        .collect()
}

/// `DescribeTargetGroupAttributes`.
pub(crate) fn describe_attributes(
    s: &Elb,
    req: wire::DescribeTargetGroupAttributesInput,
) -> Result<wire::DescribeTargetGroupAttributesOutput, ElbError> {
    let state = s.snapshot();
    let tg = state.tg(&req.target_group_arn)?;
    Ok(wire::DescribeTargetGroupAttributesOutput { attributes: Some(render_attributes(&tg.attributes)) })
}

/// `ModifyTargetGroupAttributes`: answers with every attribute.
pub(crate) async fn modify_attributes(
    s: &Elb,
    req: wire::ModifyTargetGroupAttributesInput,
) -> Result<wire::ModifyTargetGroupAttributesOutput, ElbError> {
    let changes: Vec<(String, String)> = req
        .attributes
        .iter()
        .map(|a| (a.key.clone().unwrap_or_default(), a.value.clone().unwrap_or_default()))
        .collect();
    let stored = s
        .update(|state, _| {
            let tg = state.target_groups.get_mut(&req.target_group_arn).ok_or_else(ElbError::tg_not_found)?;
            tg.attributes = attributes::modify(Of::TargetGroup, &tg.attributes, &changes)?;
            Ok(tg.attributes.clone())
        })
        .await?;
    Ok(wire::ModifyTargetGroupAttributesOutput { attributes: Some(render_attributes(&stored)) })
}
