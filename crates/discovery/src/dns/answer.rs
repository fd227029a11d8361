//! The answer to one query, from the index: a pure function of the state and the query (plus the random choice
//! of instances a routing policy makes).
//!
//! Names inside a private DNS namespace (its *zone*) are answered here with the authoritative bit: the service name
//! `<service>.<namespace>` (A, AAAA, SRV or CNAME, as the service registers them, for the instances its routing
//! policy picks), the SRV targets `<instance>.<service>.<namespace>` (the instance's A and AAAA records), the apex's
//! SOA, NODATA for names that exist without the asked type, NXDOMAIN for the rest; both negative answers carry the
//! zone's SOA. Every other name is left to the forwarder.

use crate::index::{State, normalize};
use crate::ops::instances::{CNAME, IPV4, IPV6, PORT};
use crate::records::{Health, InstanceRecord, NamespaceRecord, RecordKind, Routing, ServiceRecord};
use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME as CnameData, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand::seq::SliceRandom;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Route 53's cap on the records of one multivalue answer.
pub const MULTIVALUE_MAX: usize = 8;

/// What to do with a query.
#[derive(Debug)]
pub enum Answer {
    /// Answer with this message.
    Local(Box<Message>),
    /// Not a name Berth serves: forward it.
    Forward,
}

/// The instances a DNS answer may hold: the healthy ones, or all when none is healthy (Route 53 fails open), or all
/// when the service has no health check.
pub fn eligible<'a>(
    service: &ServiceRecord,
    instances: impl Iterator<Item = &'a InstanceRecord>,
) -> Vec<&'a InstanceRecord> {
    let all: Vec<&InstanceRecord> = instances.collect();
    if !service.custom_health {
        return all;
    }
    let healthy: Vec<&InstanceRecord> = all.iter().copied().filter(|i| i.health == Some(Health::Healthy)).collect();
    if healthy.is_empty() { all } else { healthy }
}

/// The instances one answer names, by the routing policy: up to eight in random order (MULTIVALUE) or one at
/// random (WEIGHTED).
pub fn pick(routing: Routing, mut instances: Vec<&InstanceRecord>) -> Vec<&InstanceRecord> {
    instances.shuffle(&mut rand::rng());
    let keep = match routing {
        Routing::Multivalue => MULTIVALUE_MAX,
        Routing::Weighted => 1,
    };
    instances.truncate(keep);
    instances
}

fn ttl(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn fqdn(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()
}

fn soa(state: &State, ns: &NamespaceRecord, apex: &str) -> Option<Record> {
    let negative = ttl(ns.soa_ttl.unwrap_or(crate::ops::namespaces::DEFAULT_SOA_TTL));
    let data = SOA::new(
        fqdn(&format!("ns-berth.{apex}"))?,
        fqdn(&format!("hostmaster.{apex}"))?,
        (state.revision.max(0) as u64 % u64::from(u32::MAX)) as u32,
        7200,
        900,
        1_209_600,
        negative,
    );
    Some(Record::from_rdata(fqdn(apex)?, negative, RData::SOA(data)))
}

fn addresses(owner: &Name, instance: &InstanceRecord, kind: RecordType, ttl_secs: u32) -> Option<Record> {
    match kind {
        RecordType::A => {
            let ip: Ipv4Addr = instance.attributes.get(IPV4)?.parse().ok()?;
            Some(Record::from_rdata(owner.clone(), ttl_secs, RData::A(A(ip))))
        }
        RecordType::AAAA => {
            let ip: Ipv6Addr = instance.attributes.get(IPV6)?.parse().ok()?;
            Some(Record::from_rdata(owner.clone(), ttl_secs, RData::AAAA(AAAA(ip))))
        }
        _ => None,
    }
}

/// The SRV target of an instance: `<instance id>.<service>.<namespace>.`.
pub fn srv_target(instance: &InstanceRecord, service: &ServiceRecord, ns: &NamespaceRecord) -> Option<Name> {
    fqdn(&format!("{}.{}.{}", instance.id, service.name, ns.name.trim_end_matches('.')))
}

/// The records for a query of `kind` at a service's name.
fn service_records(
    state: &State,
    service: &ServiceRecord,
    ns: &NamespaceRecord,
    owner: &Name,
    kind: RecordType,
) -> (Vec<Record>, Vec<Record>) {
    let Some(dns) = &service.dns else { return (Vec::new(), Vec::new()) };
    let chosen = pick(dns.routing, eligible(service, state.instances_of(&service.id)));
    let mut answers = Vec::new();
    let mut additionals = Vec::new();
    if let Some(t) = dns.ttl(RecordKind::Cname) {
        for i in &chosen {
            if let Some(target) = i.attributes.get(CNAME).and_then(|c| fqdn(c)) {
                answers.push(Record::from_rdata(owner.clone(), ttl(t), RData::CNAME(CnameData(target))));
            }
        }
        return (answers, additionals);
    }
    match kind {
        RecordType::A | RecordType::AAAA => {
            let record_kind = if kind == RecordType::A { RecordKind::A } else { RecordKind::Aaaa };
            if let Some(t) = dns.ttl(record_kind) {
                answers.extend(chosen.iter().filter_map(|i| addresses(owner, i, kind, ttl(t))));
            }
        }
        RecordType::SRV => {
            if let Some(t) = dns.ttl(RecordKind::Srv) {
                for i in &chosen {
                    let port = i.attributes.get(PORT).and_then(|p| p.parse::<u16>().ok());
                    let (Some(port), Some(target)) = (port, srv_target(i, service, ns)) else { continue };
                    answers.push(Record::from_rdata(
                        owner.clone(),
                        ttl(t),
                        RData::SRV(SRV::new(1, 1, port, target.clone())),
                    ));
                    for k in [RecordType::A, RecordType::AAAA] {
                        additionals.extend(addresses(&target, i, k, ttl(t)));
                    }
                }
            }
        }
        _ => {}
    }
    (answers, additionals)
}

/// The A or AAAA records of an SRV target `<instance>.<service>.<namespace>`, if `name` is one.
fn host_records(state: &State, name: &str, owner: &Name, kind: RecordType) -> Option<Vec<Record>> {
    let mut split = 0;
    while let Some(dot) = name[split..].find('.') {
        let (prefix, suffix) = (&name[..split + dot], &name[split + dot + 1..]);
        split += dot + 1;
        let Some(service) = state.dns.services.get(suffix).and_then(|id| state.services.get(id)) else { continue };
        let Some(dns) = &service.dns else { continue };
        let Some(t) = dns.ttl(RecordKind::Srv) else { continue };
        let Some(instance) = state.instances_of(&service.id).find(|i| i.id.eq_ignore_ascii_case(prefix)) else {
            continue;
        };
        return Some(addresses(owner, instance, kind, ttl(t)).into_iter().collect());
    }
    None
}

/// The answer to `query` from `state`.
pub fn answer(state: &State, query: &Message) -> Answer {
    let Some(question) = query.queries.first() else {
        return Answer::Local(Box::new(error(query, ResponseCode::FormErr)));
    };
    if query.op_code != OpCode::Query {
        return Answer::Local(Box::new(error(query, ResponseCode::NotImp)));
    }
    let name = normalize(&question.name().to_ascii());
    let Some((ns_id, apex)) = state.dns.zone_of(&name) else { return Answer::Forward };
    let Some(ns) = state.namespaces.get(ns_id) else { return Answer::Forward };
    let apex = apex.to_string();
    let owner = question.name().clone();
    let kind = question.query_type();
    let mut response = respond(query);
    response.metadata.authoritative = true;
    let mut exists = true;
    if let Some(service) = state.dns.services.get(&name).and_then(|id| state.services.get(id)) {
        if state.instances_of(&service.id).next().is_none() {
            exists = false;
        } else {
            let (answers, additionals) = service_records(state, service, ns, &owner, kind);
            response.answers = answers;
            response.additionals = additionals;
        }
    } else if let Some(records) = host_records(state, &name, &owner, kind) {
        response.answers = records;
    } else if name == apex {
        if kind == RecordType::SOA {
            response.answers.extend(soa(state, ns, &apex));
            return Answer::Local(Box::new(response));
        }
    } else if !state.dns.interior.contains(&name) {
        exists = false;
    }
    if !exists {
        response.metadata.response_code = ResponseCode::NXDomain;
    }
    if response.answers.is_empty() {
        response.authorities.extend(soa(state, ns, &apex));
    }
    Answer::Local(Box::new(response))
}

/// The TTL of a [`super::HostNames`] answer (an Application Load Balancer's DNS records have 60 s).
pub const HOST_NAME_TTL: u32 = 60;

/// The answer for a name `names` knows (a load balancer's DNS name): its A record, authoritative; NODATA for other
/// types. `None` when `names` does not know it (or the query is no plain query).
pub fn host_name(names: &dyn super::HostNames, query: &Message) -> Option<Message> {
    let question = query.queries.first()?;
    if query.op_code != OpCode::Query {
        return None;
    }
    let address = names.address(&normalize(&question.name().to_ascii()))?;
    let mut response = respond(query);
    response.metadata.authoritative = true;
    if matches!(question.query_type(), RecordType::A | RecordType::ANY) {
        response.answers.push(Record::from_rdata(question.name().clone(), HOST_NAME_TTL, RData::A(A(address))));
    }
    Some(response)
}

/// An empty response to `query`: its id, question and RD bit, recursion available (Berth forwards).
fn respond(query: &Message) -> Message {
    let mut response = Message::response(query.id, query.op_code);
    response.metadata.recursion_desired = query.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        response.set_edns(edns);
    }
    response
}

/// An error response (FORMERR, SERVFAIL, NOTIMP) to `query`.
pub fn error(query: &Message, code: ResponseCode) -> Message {
    let mut response = respond(query);
    response.metadata.response_code = code;
    response
}
