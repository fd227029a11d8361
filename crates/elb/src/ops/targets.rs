//! RegisterTargets, DeregisterTargets (through a draining period), DescribeTargetHealth.

use crate::config::{self, VPC_ID};
use crate::health;
use crate::records::{TargetGroupRecord, TargetRecord};
use crate::service::InstanceDirectory;
use crate::{Elb, ElbError, attributes};
use berth_model::elbv2 as wire;
use std::net::Ipv4Addr;

/// The most targets per target group (AWS's default quota).
pub const MAX_TARGETS: usize = 1000;

fn port_of(tg: &TargetGroupRecord, port: Option<i32>) -> Result<u16, ElbError> {
    match port {
        None => Ok(tg.port),
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ElbError::range("port", p, "Member must have value between 1 and 65535")),
    }
}

fn invalid(message: String) -> ElbError {
    ElbError::new("InvalidTarget", message)
}

/// Checks one target of a target group.
fn check(
    config: &config::ElbConfig,
    tg: &TargetGroupRecord,
    t: &wire::TargetDescription,
    directory: Option<&dyn InstanceDirectory>,
) -> Result<(), ElbError> {
    let az = t.availability_zone.as_deref();
    if t.quic_server_id.is_some() {
        return Err(ElbError::not_permitted("Berth does not support QUIC server ids."));
    }
    if tg.target_type == "instance" {
        if t.id.is_empty() || directory.is_some_and(|d| !d.is_instance(&t.id)) {
            return Err(invalid(format!("The following targets are not valid instances: '{}'", t.id)));
        }
        if az.is_some() {
            return Err(ElbError::validation("An Availability Zone cannot be specified for instance targets"));
        }
        return Ok(());
    }
    let addr: Ipv4Addr =
        t.id.parse().map_err(|_| invalid(format!("The IP address '{}' is not a valid IPv4 address", t.id)))?;
    match az {
        Some("all") if config::outside_vpc_ok(addr) => Ok(()),
        Some("all") => {
            Err(invalid(format!("The IP address '{}' is outside the VPC and not in a private address range", t.id)))
        }
        Some(zone) if !config.zones().iter().any(|z| z == zone) => {
            Err(ElbError::validation(format!("Availability Zone '{zone}' is not valid for this VPC")))
        }
        _ if config.in_vpc(addr) => Ok(()),
        _ => Err(invalid(format!(
            "The following targets are not in the target group VPC '{VPC_ID}' ({}): '{}'; register a private address outside it with AvailabilityZone 'all'",
            config.vpc_cidr, t.id
        ))),
    }
}

/// Registers targets (a draining one comes back at once).
pub(crate) async fn register(s: &Elb, tg_arn: &str, targets: &[wire::TargetDescription]) -> Result<(), ElbError> {
    if targets.is_empty() {
        return Err(ElbError::validation("At least one target must be specified"));
    }
    let directory = s.instance_directory();
    s.update(|state, now| {
        let tg = state.target_groups.get_mut(tg_arn).ok_or_else(ElbError::tg_not_found)?;
        for t in targets {
            check(&s.config, tg, t, directory.as_deref())?;
            let port = port_of(tg, t.port)?;
            match tg.targets.iter_mut().find(|x| x.id == t.id && x.port == port) {
                Some(existing) if existing.draining_until.is_some() => {
                    existing.draining_until = None;
                    existing.registered = now;
                }
                Some(_) => {}
                None => tg.targets.push(TargetRecord {
                    id: t.id.clone(),
                    port,
                    availability_zone: t.availability_zone.clone(),
                    registered: now,
                    draining_until: None,
                }),
            }
        }
        if tg.targets.len() > MAX_TARGETS {
            return Err(ElbError::new("TooManyTargets", "You have reached the limit on the number of targets"));
        }
        Ok(())
    })
    .await
}

/// Deregisters targets: each drains for the group's deregistration delay while a load balancer uses the group,
/// and goes at once otherwise. Targets that are not registered are ignored (the call is idempotent).
pub(crate) async fn deregister(s: &Elb, tg_arn: &str, targets: &[wire::TargetDescription]) -> Result<(), ElbError> {
    if targets.is_empty() {
        return Err(ElbError::validation("At least one target must be specified"));
    }
    s.update(|state, now| {
        let in_use = !state.lbs_of_tg(tg_arn).is_empty();
        let tg = state.target_groups.get_mut(tg_arn).ok_or_else(ElbError::tg_not_found)?;
        let delay: f64 =
            attributes::get(attributes::Of::TargetGroup, &tg.attributes, "deregistration_delay.timeout_seconds")
                .parse()
                .unwrap_or(300.0);
        for t in targets {
            let port = port_of(tg, t.port)?;
            if !in_use || delay <= 0.0 {
                tg.targets.retain(|x| !(x.id == t.id && x.port == port));
            } else if let Some(x) = tg.targets.iter_mut().find(|x| x.id == t.id && x.port == port)
                && x.draining_until.is_none()
            {
                x.draining_until = Some(now + delay);
            }
        }
        Ok(())
    })
    .await
}

/// `RegisterTargets`.
pub(crate) async fn register_op(
    s: &Elb,
    req: wire::RegisterTargetsInput,
) -> Result<wire::RegisterTargetsOutput, ElbError> {
    register(s, &req.target_group_arn, &req.targets).await?;
    Ok(wire::RegisterTargetsOutput {})
}

/// `DeregisterTargets`.
pub(crate) async fn deregister_op(
    s: &Elb,
    req: wire::DeregisterTargetsInput,
) -> Result<wire::DeregisterTargetsOutput, ElbError> {
    deregister(s, &req.target_group_arn, &req.targets).await?;
    Ok(wire::DeregisterTargetsOutput {})
}

/// `DescribeTargetHealth`: the named targets (an unregistered one is `unused`, `Target.NotRegistered`) or every
/// registered one.
pub(crate) fn describe_health(
    s: &Elb,
    req: wire::DescribeTargetHealthInput,
) -> Result<wire::DescribeTargetHealthOutput, ElbError> {
    if req.include.is_some() {
        return Err(ElbError::not_permitted("Berth does not support anomaly detection (Include)."));
    }
    let state = s.snapshot();
    let now = s.clock.now();
    let tg = state.tg(&req.target_group_arn)?;
    let in_use = !state.lbs_of_tg(&tg.arn).is_empty();
    let source = s.health_source();
    let live: Vec<&TargetRecord> = tg.targets.iter().filter(|t| t.draining_until.is_none_or(|u| u > now)).collect();
    let describe = |t: &TargetRecord| wire::TargetHealthDescription {
        target: Some(wire::TargetDescription {
            id: t.id.clone(),
            port: Some(i32::from(t.port)),
            availability_zone: t.availability_zone.clone(),
            quic_server_id: None,
        }),
        health_check_port: Some(tg.health_check.port_for(t.port).to_string()),
        target_health: Some(health::describe(tg, t, in_use, source.as_deref())),
        ..Default::default()
    };
    let out = match req.targets.filter(|t| !t.is_empty()) {
        None => live.into_iter().map(describe).collect(),
        Some(asked) => {
            let mut out = Vec::new();
            for a in asked {
                let port = port_of(tg, a.port)?;
                match live.iter().find(|t| t.id == a.id && t.port == port) {
                    Some(t) => out.push(describe(t)),
                    None => out.push(wire::TargetHealthDescription {
                        target: Some(wire::TargetDescription { port: Some(i32::from(port)), ..a }),
                        health_check_port: Some(tg.health_check.port_for(port).to_string()),
                        target_health: Some(wire::TargetHealth {
                            state: Some(wire::TargetHealthStateEnum::Unused),
                            reason: Some(wire::TargetHealthReasonEnum::TargetNotRegistered),
                            description: Some("Target is not registered to the target group".into()),
                        }),
                        ..Default::default()
                    }),
                }
            }
            out
        }
    };
    Ok(wire::DescribeTargetHealthOutput { target_health_descriptions: Some(out) })
}
