//! CreateService, GetService, ListServices, DeleteService, UpdateService and the service attributes.

use super::{check_description, filter_matches, given, id_of, page, record_operation, tag_map};
use crate::index::State;
use crate::records::{self, DnsSettings, NamespaceKind, OperationKind, RecordKind, Routing, ServiceRecord};
use crate::{Discovery, DiscoveryError};
use berth_model::servicediscovery::{
    CreateServiceRequest, CreateServiceResponse, DeleteServiceAttributesRequest, DeleteServiceAttributesResponse,
    DeleteServiceRequest, DeleteServiceResponse, DnsConfig, DnsRecord, FilterCondition, GetServiceAttributesRequest,
    GetServiceAttributesResponse, GetServiceRequest, GetServiceResponse, HealthCheckConfig, HealthCheckCustomConfig,
    ListServicesRequest, ListServicesResponse, RecordType, RoutingPolicy, Service, ServiceAttributes,
    ServiceFilterName, ServiceSummary, ServiceType, ServiceTypeOption, UpdateServiceAttributesRequest,
    UpdateServiceAttributesResponse, UpdateServiceRequest, UpdateServiceResponse,
};
use berth_store::Txn;

/// The service an id or ARN names.
pub(crate) fn find<'a>(state: &'a State, id: &str) -> Result<&'a ServiceRecord, DiscoveryError> {
    state.services.get(id_of(id)).ok_or_else(|| DiscoveryError::service_not_found(id))
}

/// A service name: DNS labels of letters, digits, `-` and `_` (not starting or ending with `-`), 127 characters at
/// most; `_web._tcp` for an SRV name in the form HAProxy expects.
pub(crate) fn check_name(name: &str) -> Result<(), DiscoveryError> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if (1..=127).contains(&name.len()) && name.split('.').all(label_ok) {
        return Ok(());
    }
    Err(DiscoveryError::invalid(format!(
        "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?=^.{{1,127}}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{{0,61}}[a-zA-Z0-9_]|[a-zA-Z0-9])(\\.([a-zA-Z0-9_][a-zA-Z0-9-_]{{0,61}}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\\.$)"
    )))
}

fn refuse_route53_health_checks(config: &Option<HealthCheckConfig>) -> Result<(), DiscoveryError> {
    if config.is_some() {
        return Err(DiscoveryError::invalid(
            "Berth does not run Route 53 health checks, so HealthCheckConfig is not supported: use \
             HealthCheckCustomConfig and report health with UpdateInstanceCustomHealthStatus (as ECS does).",
        ));
    }
    Ok(())
}

/// The DNS records a service registers, checked as Cloud Map does: A, AAAA, A and AAAA, SRV (alone or with A
/// and/or AAAA), or CNAME alone with the WEIGHTED policy; TTLs from 0 to 2147483647.
pub(crate) fn dns_settings(
    routing: Option<RoutingPolicy>,
    records: &[DnsRecord],
) -> Result<DnsSettings, DiscoveryError> {
    if records.is_empty() {
        return Err(DiscoveryError::invalid("DnsConfig.DnsRecords must hold at least one record"));
    }
    let mut out: Vec<(RecordKind, i64)> = Vec::new();
    for r in records {
        let kind = match r.r#type {
            RecordType::A => RecordKind::A,
            RecordType::Aaaa => RecordKind::Aaaa,
            RecordType::Srv => RecordKind::Srv,
            RecordType::Cname => RecordKind::Cname,
        };
        if !(0..=2_147_483_647).contains(&r.ttl) {
            return Err(DiscoveryError::invalid(format!("Invalid TTL {}: it must be between 0 and 2147483647", r.ttl)));
        }
        if out.iter().any(|(k, _)| *k == kind) {
            return Err(DiscoveryError::invalid(format!("DnsRecords lists the type {} twice", r.r#type.as_str())));
        }
        out.push((kind, r.ttl));
    }
    let routing = match routing.unwrap_or(RoutingPolicy::Multivalue) {
        RoutingPolicy::Multivalue => Routing::Multivalue,
        RoutingPolicy::Weighted => Routing::Weighted,
    };
    if out.iter().any(|(k, _)| *k == RecordKind::Cname) {
        if out.len() > 1 {
            return Err(DiscoveryError::invalid("A CNAME record cannot be combined with other record types"));
        }
        if routing != Routing::Weighted {
            return Err(DiscoveryError::invalid("A CNAME record needs the WEIGHTED routing policy"));
        }
    }
    out.sort();
    Ok(DnsSettings { routing, records: out })
}

fn dns_config(service: &ServiceRecord) -> Option<DnsConfig> {
    service.dns.as_ref().map(|dns| DnsConfig {
        namespace_id: Some(service.namespace_id.clone()),
        routing_policy: Some(match dns.routing {
            Routing::Multivalue => RoutingPolicy::Multivalue,
            Routing::Weighted => RoutingPolicy::Weighted,
        }),
        dns_records: dns
            .records
            .iter()
            .map(|(kind, ttl)| DnsRecord {
                r#type: match kind {
                    RecordKind::A => RecordType::A,
                    RecordKind::Aaaa => RecordType::Aaaa,
                    RecordKind::Srv => RecordType::Srv,
                    RecordKind::Cname => RecordType::Cname,
                },
                ttl: *ttl,
            })
            .collect(),
    })
}

fn service_type(service: &ServiceRecord) -> ServiceType {
    if service.dns.is_some() { ServiceType::DnsHttp } else { ServiceType::Http }
}

/// The service as the API shows it.
pub(crate) fn wire(s: &Discovery, state: &State, service: &ServiceRecord) -> Service {
    Service {
        id: Some(service.id.clone()),
        arn: Some(service.arn.clone()),
        resource_owner: Some(s.config.account_id.clone()),
        name: Some(service.name.clone()),
        namespace_id: Some(service.namespace_id.clone()),
        description: service.description.clone(),
        instance_count: Some(state.instances_of(&service.id).count() as i32),
        dns_config: dns_config(service),
        r#type: Some(service_type(service)),
        health_check_config: None,
        health_check_custom_config: service
            .custom_health
            .then_some(HealthCheckCustomConfig { failure_threshold: Some(1) }),
        create_date: Some(service.created),
        creator_request_id: service.creator_request_id.clone(),
        created_by_account: Some(s.config.account_id.clone()),
    }
}

/// `CreateService`.
pub(crate) async fn create(s: &Discovery, req: CreateServiceRequest) -> Result<CreateServiceResponse, DiscoveryError> {
    check_name(&req.name)?;
    let description = given(req.description);
    check_description(&description)?;
    refuse_route53_health_checks(&req.health_check_config)?;
    let namespace_id = given(req.namespace_id)
        .or_else(|| req.dns_config.as_ref().and_then(|d| given(d.namespace_id.clone())))
        .ok_or_else(|| DiscoveryError::invalid("NamespaceId is required"))?;
    let creator_request_id = given(req.creator_request_id);
    let _writes = s.writes.lock().await;
    let (txn, record) = {
        let state = s.index.read();
        let ns = crate::ops::namespaces::find(&state, &namespace_id)?;
        let api_only = req.r#type == Some(ServiceTypeOption::Http);
        let dns = match (&req.dns_config, ns.kind) {
            (Some(_), NamespaceKind::Http) => {
                return Err(DiscoveryError::invalid("DnsConfig is not allowed for a service in an HTTP namespace"));
            }
            (Some(_), NamespaceKind::DnsPrivate) if api_only => {
                return Err(DiscoveryError::invalid("DnsConfig is not allowed for a service of type HTTP"));
            }
            (Some(config), NamespaceKind::DnsPrivate) => {
                Some(dns_settings(config.routing_policy, &config.dns_records)?)
            }
            (None, _) => None,
        };
        let wanted = req.name.to_ascii_lowercase();
        if let Some(existing) =
            state.services.values().find(|sv| sv.namespace_id == ns.id && sv.name.to_ascii_lowercase() == wanted)
        {
            if creator_request_id.is_some() && existing.creator_request_id == creator_request_id {
                return Ok(CreateServiceResponse { service: Some(wire(s, &state, existing)) });
            }
            return Err(DiscoveryError::service_exists(&req.name, &existing.id));
        }
        let id = format!("srv-{}", records::random_id(16));
        let arn = s.arn(&format!("service/{id}"));
        let tags = tag_map(&Default::default(), req.tags.unwrap_or_default(), &arn)?;
        let record = ServiceRecord {
            schema: records::SCHEMA,
            id: id.clone(),
            arn,
            name: req.name,
            namespace_id: ns.id.clone(),
            description,
            dns,
            custom_health: req.health_check_custom_config.is_some(),
            created: s.clock.now(),
            creator_request_id,
            tags,
            attributes: Default::default(),
        };
        let key = records::service_key(&id);
        (Txn::new().expect(key.clone(), 0).put(key, records::encode(&record)?), record)
    };
    s.commit(txn).await?;
    let state = s.index.read();
    Ok(CreateServiceResponse { service: Some(wire(s, &state, &record)) })
}

/// `GetService`.
pub(crate) fn get(s: &Discovery, req: GetServiceRequest) -> Result<GetServiceResponse, DiscoveryError> {
    let state = s.index.read();
    let service = find(&state, &req.id)?;
    Ok(GetServiceResponse { service: Some(wire(s, &state, service)) })
}

/// `ListServices`, with the NAMESPACE_ID and RESOURCE_OWNER filters.
pub(crate) fn list(s: &Discovery, req: ListServicesRequest) -> Result<ListServicesResponse, DiscoveryError> {
    use FilterCondition::{Eq, In};
    let state = s.index.read();
    let mut out = Vec::new();
    for service in state.services.values() {
        let mut keep = true;
        for f in req.filters.iter().flatten() {
            keep &= match f.name {
                ServiceFilterName::NamespaceId => {
                    let ids: Vec<String> = f.values.iter().map(|v| id_of(v).to_string()).collect();
                    filter_matches("NAMESPACE_ID", f.condition, &[Eq, In], &ids, &service.namespace_id)?
                }
                ServiceFilterName::ResourceOwner => {
                    filter_matches("RESOURCE_OWNER", f.condition, &[Eq], &f.values, "SELF")?
                }
            };
        }
        if keep {
            let w = wire(s, &state, service);
            out.push(ServiceSummary {
                id: w.id,
                arn: w.arn,
                resource_owner: w.resource_owner,
                name: w.name,
                r#type: w.r#type,
                description: w.description,
                instance_count: w.instance_count,
                dns_config: w.dns_config,
                health_check_config: None,
                health_check_custom_config: w.health_check_custom_config,
                create_date: w.create_date,
                created_by_account: w.created_by_account,
            });
        }
    }
    let (services, next_token) = page(out, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(ListServicesResponse { services: Some(services), next_token })
}

/// `DeleteService`: refused while instances are registered.
pub(crate) async fn delete(s: &Discovery, req: DeleteServiceRequest) -> Result<DeleteServiceResponse, DiscoveryError> {
    let _writes = s.writes.lock().await;
    let txn = {
        let state = s.index.read();
        let service = find(&state, &req.id)?;
        let count = state.instances_of(&service.id).count();
        if count > 0 {
            return Err(DiscoveryError::in_use(format!(
                "Service {} has {count} registered instance(s); deregister them first",
                service.id
            )));
        }
        Txn::new().delete(records::service_key(&service.id))
    };
    s.commit(txn).await?;
    Ok(DeleteServiceResponse {})
}

/// `UpdateService`: the description and the records' TTLs (the record types stay as created, as on Cloud Map).
pub(crate) async fn update(s: &Discovery, req: UpdateServiceRequest) -> Result<UpdateServiceResponse, DiscoveryError> {
    refuse_route53_health_checks(&req.service.health_check_config)?;
    let description = given(req.service.description);
    check_description(&description)?;
    let _writes = s.writes.lock().await;
    let (txn, operation_id) = {
        let state = s.index.read();
        let mut service = find(&state, &req.id)?.clone();
        if let Some(change) = req.service.dns_config {
            let Some(current) = &service.dns else {
                return Err(DiscoveryError::invalid(format!("Service {} has no DnsConfig to update", service.id)));
            };
            let new = dns_settings(Some(routing_wire(current.routing)), &change.dns_records)?;
            let kinds = |d: &DnsSettings| d.records.iter().map(|(k, _)| *k).collect::<Vec<_>>();
            if kinds(&new) != kinds(current) {
                return Err(DiscoveryError::invalid("UpdateService cannot change the record types, only their TTLs"));
            }
            service.dns = Some(new);
        }
        if description.is_some() {
            service.description = description;
        }
        record_operation(
            s,
            &state,
            Txn::new().put(records::service_key(&service.id), records::encode(&service)?),
            OperationKind::UpdateService,
            &[("SERVICE", &service.id)],
        )?
    };
    s.commit(txn).await?;
    Ok(UpdateServiceResponse { operation_id: Some(operation_id) })
}

fn routing_wire(routing: Routing) -> RoutingPolicy {
    match routing {
        Routing::Multivalue => RoutingPolicy::Multivalue,
        Routing::Weighted => RoutingPolicy::Weighted,
    }
}

/// `GetServiceAttributes`.
pub(crate) fn get_attributes(
    s: &Discovery,
    req: GetServiceAttributesRequest,
) -> Result<GetServiceAttributesResponse, DiscoveryError> {
    let state = s.index.read();
    let service = find(&state, &req.service_id)?;
    Ok(GetServiceAttributesResponse {
        service_attributes: Some(ServiceAttributes {
            service_arn: Some(service.arn.clone()),
            resource_owner: Some(s.config.account_id.clone()),
            attributes: Some(service.attributes.clone()),
        }),
    })
}

async fn change_attributes(
    s: &Discovery,
    id: &str,
    change: impl FnOnce(&mut ServiceRecord) -> Result<(), DiscoveryError>,
) -> Result<(), DiscoveryError> {
    let _writes = s.writes.lock().await;
    let txn = {
        let state = s.index.read();
        let mut service = find(&state, id)?.clone();
        change(&mut service)?;
        Txn::new().put(records::service_key(&service.id), records::encode(&service)?)
    };
    s.commit(txn).await?;
    Ok(())
}

/// `UpdateServiceAttributes`: at most 30 attributes per service.
pub(crate) async fn update_attributes(
    s: &Discovery,
    req: UpdateServiceAttributesRequest,
) -> Result<UpdateServiceAttributesResponse, DiscoveryError> {
    for (k, v) in &req.attributes {
        if k.is_empty() || k.len() > 255 || v.len() > 1024 {
            return Err(DiscoveryError::invalid(format!("Invalid service attribute {k}")));
        }
    }
    change_attributes(s, &req.service_id, |service| {
        service.attributes.extend(req.attributes);
        if service.attributes.len() > 30 {
            return Err(DiscoveryError {
                exception: "ServiceAttributesLimitExceededException",
                message: "A service can have at most 30 attributes".into(),
                status: 400,
            });
        }
        Ok(())
    })
    .await?;
    Ok(UpdateServiceAttributesResponse {})
}

/// `DeleteServiceAttributes`.
pub(crate) async fn delete_attributes(
    s: &Discovery,
    req: DeleteServiceAttributesRequest,
) -> Result<DeleteServiceAttributesResponse, DiscoveryError> {
    change_attributes(s, &req.service_id, |service| {
        for k in &req.attributes {
            service.attributes.remove(k);
        }
        Ok(())
    })
    .await?;
    Ok(DeleteServiceAttributesResponse {})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: RecordType, ttl: i64) -> DnsRecord {
        DnsRecord { r#type: t, ttl }
    }

    #[test]
    fn record_combinations_follow_cloud_map() {
        let ok = dns_settings(None, &[rec(RecordType::Srv, 10), rec(RecordType::A, 60)]).unwrap();
        assert_eq!(ok.routing, Routing::Multivalue, "MULTIVALUE by default");
        assert_eq!(ok.records, vec![(RecordKind::A, 60), (RecordKind::Srv, 10)]);
        assert!(dns_settings(None, &[]).is_err());
        assert!(dns_settings(None, &[rec(RecordType::A, 1), rec(RecordType::A, 2)]).is_err());
        assert!(dns_settings(None, &[rec(RecordType::Cname, 1)]).is_err(), "CNAME needs WEIGHTED");
        assert!(dns_settings(Some(RoutingPolicy::Weighted), &[rec(RecordType::Cname, 1)]).is_ok());
        assert!(
            dns_settings(Some(RoutingPolicy::Weighted), &[rec(RecordType::Cname, 1), rec(RecordType::A, 1)]).is_err()
        );
        assert!(dns_settings(None, &[rec(RecordType::A, -1)]).is_err());
    }

    #[test]
    fn service_names_are_dns_labels() {
        assert!(check_name("web").is_ok());
        assert!(check_name("_web._tcp").is_ok());
        assert!(check_name("-web").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("").is_err());
    }
}
