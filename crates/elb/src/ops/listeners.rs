//! CreateListener, DescribeListeners, ModifyListener, DeleteListener, and the listener certificate operations.
//! HTTP and HTTPS listeners: an HTTPS listener has one default certificate (an ACM ARN that must exist) and a
//! predefined SslPolicy ([`crate::ssl_policies`]).

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
        protocol: Some(if l.protocol == "HTTPS" { wire::ProtocolEnum::Https } else { wire::ProtocolEnum::Http }),
        certificates: l
            .certificate_arn
            .as_ref()
            .map(|c| vec![wire::Certificate { certificate_arn: Some(c.clone()), is_default: None }]),
        ssl_policy: l.ssl_policy.clone(),
        default_actions: Some(l.default_actions.iter().map(actions::render).collect()),
        ..Default::default()
    }
}

fn check_protocol(s: &Elb, p: wire::ProtocolEnum) -> Result<(), ElbError> {
    match p {
        wire::ProtocolEnum::Http => Ok(()),
        wire::ProtocolEnum::Https if s.certificate_catalog().is_some() => Ok(()),
        wire::ProtocolEnum::Https => Err(ElbError::new(
            "UnsupportedProtocol",
            "This Berth server has no certificate store (ACM), so it does not serve HTTPS listeners: use HTTP.",
        )),
        other => Err(ElbError::new(
            "UnsupportedProtocol",
            format!("Protocol '{other}' is not supported by application load balancers: use HTTP or HTTPS."),
        )),
    }
}

fn check_port(port: i32) -> Result<u16, ElbError> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ElbError::range("port", port, "Member must have value between 1 and 65535"))
}

/// The TLS settings of a request: the default certificate and SSL policy it gives (checked), if any.
#[derive(Clone)]
struct TlsSettings {
    certificate_arn: Option<String>,
    ssl_policy: Option<String>,
}

fn check_tls_settings(
    s: &Elb,
    ssl_policy: Option<&String>,
    certificates: Option<&Vec<wire::Certificate>>,
    alpn: Option<&Vec<String>>,
    mutual: Option<&wire::MutualAuthenticationAttributes>,
) -> Result<TlsSettings, ElbError> {
    if alpn.is_some_and(|a| !a.is_empty()) {
        return Err(ElbError::validation(
            "ALPN policies are supported only for TLS listeners of network load balancers",
        ));
    }
    if mutual.is_some_and(|m| m.mode.as_deref().is_some_and(|mode| mode != "off")) {
        return Err(ElbError::not_permitted(
            "Mutual TLS authentication (verify and passthrough modes) is not supported by Berth's load balancer",
        ));
    }
    let certificate_arn = match certificates.map(Vec::as_slice) {
        None | Some([]) => None,
        Some([one]) => {
            let arn = one
                .certificate_arn
                .clone()
                .ok_or_else(|| ElbError::validation("A certificate ARN must be specified"))?;
            check_certificate(s, &arn)?;
            Some(arn)
        }
        Some(_) => {
            return Err(ElbError::validation(
                "A listener has exactly one default certificate: specify one certificate (add more with \
                 AddListenerCertificates)",
            ));
        }
    };
    if let Some(name) = ssl_policy {
        let policy = crate::ssl_policies::find(name)
            .ok_or_else(|| ElbError::new("SSLPolicyNotFound", format!("SSL policy '{name}' not found")))?;
        if !policy.servable() {
            return Err(ElbError::not_permitted(format!(
                "SSL policy '{name}' allows TLS 1.3 only; Berth's load balancer (rustls) serves TLS 1.2 and 1.3 \
                 together and cannot narrow a listener to TLS 1.3: choose a policy that includes TLSv1.2"
            )));
        }
    }
    Ok(TlsSettings { certificate_arn, ssl_policy: ssl_policy.cloned() })
}

/// CertificateNotFound unless ACM has the certificate.
fn check_certificate(s: &Elb, arn: &str) -> Result<(), ElbError> {
    match s.certificate_catalog() {
        Some(c) if c.exists(arn) => Ok(()),
        _ => Err(ElbError::new("CertificateNotFound", format!("Certificate '{arn}' not found"))),
    }
}

/// Applies a protocol and TLS settings to a listener: HTTPS needs a certificate and gets the default policy; HTTP
/// takes neither.
fn apply_tls(
    record: &mut ListenerRecord,
    protocol: Option<wire::ProtocolEnum>,
    tls: TlsSettings,
) -> Result<(), ElbError> {
    if let Some(p) = protocol {
        record.protocol = p.to_string();
    }
    if record.protocol == "HTTPS" {
        if let Some(arn) = tls.certificate_arn {
            record.certificate_arn = Some(arn);
        }
        if record.certificate_arn.is_none() {
            return Err(ElbError::validation("A certificate must be specified for HTTPS listeners"));
        }
        record.ssl_policy =
            tls.ssl_policy.or(record.ssl_policy.take()).or_else(|| Some(crate::ssl_policies::DEFAULT_POLICY.into()));
    } else {
        if tls.certificate_arn.is_some() {
            return Err(ElbError::validation("Certificates may only be specified for HTTPS listeners"));
        }
        if tls.ssl_policy.is_some() {
            return Err(ElbError::validation("SSL policies may only be specified for HTTPS listeners"));
        }
        record.certificate_arn = None;
        record.ssl_policy = None;
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
    check_protocol(s, protocol)?;
    let port = check_port(req.port.ok_or_else(|| ElbError::validation("A listener port must be specified"))?)?;
    let tls = check_tls_settings(
        s,
        req.ssl_policy.as_ref(),
        req.certificates.as_ref(),
        req.alpn_policy.as_ref(),
        req.mutual_authentication.as_ref(),
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
            let mut record = ListenerRecord {
                schema: SCHEMA,
                arn: s.arn(&format!("listener/{lb_path}/{listener_id}")),
                load_balancer_arn: req.load_balancer_arn.clone(),
                port,
                protocol: protocol.to_string(),
                certificate_arn: None,
                ssl_policy: None,
                default_actions,
                default_rule_arn: s.arn(&format!("listener-rule/{lb_path}/{listener_id}/{}", new_id())),
                tags: tags.clone(),
                default_rule_tags: Default::default(),
            };
            apply_tls(&mut record, Some(protocol), tls.clone())?;
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

/// `ModifyListener`: port, protocol, default certificate, SSL policy and default actions.
pub(crate) async fn modify(s: &Elb, req: wire::ModifyListenerInput) -> Result<wire::ModifyListenerOutput, ElbError> {
    if let Some(p) = req.protocol {
        check_protocol(s, p)?;
    }
    let port = req.port.map(check_port).transpose()?;
    let tls = check_tls_settings(
        s,
        req.ssl_policy.as_ref(),
        req.certificates.as_ref(),
        req.alpn_policy.as_ref(),
        req.mutual_authentication.as_ref(),
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
            apply_tls(&mut record, req.protocol, tls.clone())?;
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

/// `DescribeSSLPolicies`: the predefined policies, or those named.
pub(crate) fn describe_ssl_policies(
    req: wire::DescribeSSLPoliciesInput,
) -> Result<wire::DescribeSSLPoliciesOutput, ElbError> {
    let policies: Vec<wire::SslPolicy> = match req.names.as_deref() {
        None | Some([]) => crate::ssl_policies::POLICIES.iter().map(crate::ssl_policies::render).collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                crate::ssl_policies::find(n)
                    .map(crate::ssl_policies::render)
                    .ok_or_else(|| ElbError::new("SSLPolicyNotFound", format!("SSL policy '{n}' not found")))
            })
            .collect::<Result<_, _>>()?,
    };
    let (items, next_marker) = page(policies, req.marker.as_deref(), req.page_size)?;
    Ok(wire::DescribeSSLPoliciesOutput { ssl_policies: Some(items), next_marker })
}

/// `DescribeListenerCertificates`: an HTTPS listener's default certificate.
pub(crate) fn describe_certificates(
    s: &Elb,
    req: wire::DescribeListenerCertificatesInput,
) -> Result<wire::DescribeListenerCertificatesOutput, ElbError> {
    let state = s.snapshot();
    let l = state.listener(&req.listener_arn)?;
    let items: Vec<wire::Certificate> = l
        .certificate_arn
        .iter()
        .map(|c| wire::Certificate { certificate_arn: Some(c.clone()), is_default: Some(true) })
        .collect();
    let (items, next_marker) = page(items, req.marker.as_deref(), req.page_size)?;
    Ok(wire::DescribeListenerCertificatesOutput { certificates: Some(items), next_marker })
}

/// `AddListenerCertificates`: only the listener's default certificate (a no-op). Berth's load balancer serves one
/// certificate per listener (no SNI selection among several yet), so other certificates are refused.
pub(crate) fn add_certificates(
    s: &Elb,
    req: wire::AddListenerCertificatesInput,
) -> Result<wire::AddListenerCertificatesOutput, ElbError> {
    let state = s.snapshot();
    let l = state.listener(&req.listener_arn)?;
    if l.protocol != "HTTPS" {
        return Err(ElbError::validation("Certificates may only be added to HTTPS listeners"));
    }
    let mut out = Vec::new();
    for c in &req.certificates {
        let arn =
            c.certificate_arn.clone().ok_or_else(|| ElbError::validation("A certificate ARN must be specified"))?;
        check_certificate(s, &arn)?;
        if l.certificate_arn.as_deref() != Some(arn.as_str()) {
            return Err(ElbError::not_permitted(
                "Berth's load balancer serves one certificate per listener (its default certificate; no SNI \
                 selection among several yet): change the default certificate with ModifyListener",
            ));
        }
        out.push(wire::Certificate { certificate_arn: Some(arn), is_default: Some(true) });
    }
    Ok(wire::AddListenerCertificatesOutput { certificates: Some(out) })
}

/// `RemoveListenerCertificates`: the default certificate cannot be removed; others are not on the listener.
pub(crate) fn remove_certificates(
    s: &Elb,
    req: wire::RemoveListenerCertificatesInput,
) -> Result<wire::RemoveListenerCertificatesOutput, ElbError> {
    let state = s.snapshot();
    let l = state.listener(&req.listener_arn)?;
    if req.certificates.iter().any(|c| c.certificate_arn.is_some() && c.certificate_arn == l.certificate_arn) {
        return Err(ElbError::not_permitted(
            "The default certificate of a listener cannot be removed: change it with ModifyListener",
        ));
    }
    Ok(wire::RemoveListenerCertificatesOutput {})
}
