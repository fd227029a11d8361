//! CreateListener, DescribeListeners, ModifyListener, DeleteListener. HTTP listeners only: Berth has no
//! certificate store yet, so HTTPS listeners are refused by name.

use super::{page, parse_tags};
use crate::actions::{self, Action};
use crate::records::{ListenerRecord, SCHEMA, new_id};
use crate::state::State;
use crate::{Elb, ElbError};
use berth_model::elbv2 as wire;

/// The most listeners per load balancer (AWS's quota).
const MAX_LISTENERS: usize = 50;

/// The wire shape of a listener.
pub(crate) fn render(l: &ListenerRecord) -> wire::Listener {
    wire::Listener {
        listener_arn: Some(l.arn.clone()),
        load_balancer_arn: Some(l.load_balancer_arn.clone()),
        port: Some(i32::from(l.port)),
        protocol: Some(wire::ProtocolEnum::Http),
        default_actions: Some(l.default_actions.iter().map(actions::render).collect()),
        ..Default::default()
    }
}

fn check_protocol(p: wire::ProtocolEnum) -> Result<(), ElbError> {
    match p {
        wire::ProtocolEnum::Http => Ok(()),
        wire::ProtocolEnum::Https => Err(ElbError::new(
            "UnsupportedProtocol",
            "Berth does not serve HTTPS listeners yet (it has no certificate store): use HTTP.",
        )),
        other => Err(ElbError::new(
            "UnsupportedProtocol",
            format!("Protocol '{other}' is not supported by application load balancers: use HTTP."),
        )),
    }
}

fn check_port(port: i32) -> Result<u16, ElbError> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ElbError::range("port", port, "Member must have value between 1 and 65535"))
}

fn check_tls_settings(
    ssl_policy: Option<&String>,
    certificates: Option<&Vec<wire::Certificate>>,
    alpn: Option<&Vec<String>>,
    mutual: bool,
) -> Result<(), ElbError> {
    if ssl_policy.is_some()
        || certificates.is_some_and(|c| !c.is_empty())
        || alpn.is_some_and(|a| !a.is_empty())
        || mutual
    {
        return Err(ElbError::validation(
            "SSL policies, certificates, ALPN policies and mutual authentication are for HTTPS listeners, which Berth does not serve yet",
        ));
    }
    Ok(())
}

/// Converts and checks default actions for a listener of `lb_arn`.
pub(crate) fn parse_actions(state: &State, lb_arn: &str, given: &[wire::Action]) -> Result<Vec<Action>, ElbError> {
    let parsed = actions::parse(given, &|arn| state.target_groups.contains_key(arn))?;
    state.check_association(lb_arn, &parsed)?;
    Ok(parsed)
}

/// `CreateListener`.
pub(crate) async fn create(s: &Elb, req: wire::CreateListenerInput) -> Result<wire::CreateListenerOutput, ElbError> {
    let protocol = req.protocol.ok_or_else(|| ElbError::validation("A listener protocol must be specified"))?;
    check_protocol(protocol)?;
    let port = check_port(req.port.ok_or_else(|| ElbError::validation("A listener port must be specified"))?)?;
    check_tls_settings(
        req.ssl_policy.as_ref(),
        req.certificates.as_ref(),
        req.alpn_policy.as_ref(),
        req.mutual_authentication.is_some(),
    )?;
    let tags = parse_tags(req.tags.as_deref().unwrap_or_default())?;
    let record = s
        .update(|state, _| {
            let lb = state.lb(&req.load_balancer_arn)?;
            let lb_path = lb.arn.split_once(":loadbalancer/").map(|(_, p)| p.to_string()).unwrap_or_default();
            let existing = state.listeners_of(&lb.arn);
            if existing.iter().any(|l| l.port == port) {
                return Err(ElbError::new(
                    "DuplicateListener",
                    "A listener already exists on this port for this load balancer",
                ));
            }
            if existing.len() >= MAX_LISTENERS {
                return Err(ElbError::new(
                    "TooManyListeners",
                    format!("A load balancer can have at most {MAX_LISTENERS} listeners"),
                ));
            }
            let default_actions = parse_actions(state, &req.load_balancer_arn, &req.default_actions)?;
            let listener_id = new_id();
            let record = ListenerRecord {
                schema: SCHEMA,
                arn: s.arn(&format!("listener/{lb_path}/{listener_id}")),
                load_balancer_arn: req.load_balancer_arn.clone(),
                port,
                protocol: "HTTP".into(),
                default_actions,
                default_rule_arn: s.arn(&format!("listener-rule/{lb_path}/{listener_id}/{}", new_id())),
                tags,
                default_rule_tags: Default::default(),
            };
            state.listeners.insert(record.arn.clone(), record.clone());
            Ok(record)
        })
        .await?;
    Ok(wire::CreateListenerOutput { listeners: Some(vec![render(&record)]) })
}

/// `DescribeListeners`: those of a load balancer, or by ARNs.
pub(crate) fn describe(s: &Elb, req: wire::DescribeListenersInput) -> Result<wire::DescribeListenersOutput, ElbError> {
    let state = s.snapshot();
    let arns = req.listener_arns.unwrap_or_default();
    let found: Vec<&ListenerRecord> = match (&req.load_balancer_arn, arns.is_empty()) {
        (Some(_), false) => {
            return Err(ElbError::validation(
                "Listener ARNs and a load balancer ARN cannot be specified at the same time",
            ));
        }
        (Some(lb), true) => {
            state.lb(lb)?;
            state.listeners_of(lb)
        }
        (None, false) => arns.iter().map(|a| state.listener(a)).collect::<Result<_, _>>()?,
        (None, true) => {
            return Err(ElbError::validation("You must specify either listener ARNs or a load balancer ARN"));
        }
    };
    let items: Vec<wire::Listener> = found.into_iter().map(render).collect();
    let (items, next_marker) = page(items, req.marker.as_deref(), req.page_size)?;
    Ok(wire::DescribeListenersOutput { listeners: Some(items), next_marker })
}

/// `ModifyListener`: port, protocol (HTTP) and default actions.
pub(crate) async fn modify(s: &Elb, req: wire::ModifyListenerInput) -> Result<wire::ModifyListenerOutput, ElbError> {
    if let Some(p) = req.protocol {
        check_protocol(p)?;
    }
    let port = req.port.map(check_port).transpose()?;
    check_tls_settings(
        req.ssl_policy.as_ref(),
        req.certificates.as_ref(),
        req.alpn_policy.as_ref(),
        req.mutual_authentication.is_some(),
    )?;
    let record = s
        .update(|state, _| {
            let current = state.listener(&req.listener_arn)?.clone();
            let mut record = current.clone();
            if let Some(port) = port {
                if state.listeners_of(&current.load_balancer_arn).iter().any(|l| l.port == port && l.arn != current.arn)
                {
                    return Err(ElbError::new(
                        "DuplicateListener",
                        "A listener already exists on this port for this load balancer",
                    ));
                }
                record.port = port;
            }
            if let Some(given) = &req.default_actions {
                record.default_actions = parse_actions(state, &current.load_balancer_arn, given)?;
            }
            state.listeners.insert(record.arn.clone(), record.clone());
            Ok(record)
        })
        .await?;
    Ok(wire::ModifyListenerOutput { listeners: Some(vec![render(&record)]) })
}

/// `DeleteListener`: with its rules.
pub(crate) async fn delete(s: &Elb, req: wire::DeleteListenerInput) -> Result<wire::DeleteListenerOutput, ElbError> {
    s.update(|state, _| {
        state.listener(&req.listener_arn)?;
        state.listeners.remove(&req.listener_arn);
        state.rules.retain(|_, r| r.listener_arn != req.listener_arn);
        Ok(())
    })
    .await?;
    Ok(wire::DeleteListenerOutput {})
}
