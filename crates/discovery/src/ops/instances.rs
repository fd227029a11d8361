//! RegisterInstance, DeregisterInstance, GetInstance, ListInstances, GetInstancesHealthStatus,
//! UpdateInstanceCustomHealthStatus, and the same calls for ECS tasks.

use super::{given, page, record_operation};
use crate::ops::services::find as find_service;
use crate::records::{self, Health, InstanceRecord, OperationKind, RecordKind, ServiceRecord};
use crate::{Discovery, DiscoveryError};
use berth_model::servicediscovery::{
    CustomHealthStatus, DeregisterInstanceRequest, DeregisterInstanceResponse, GetInstanceRequest, GetInstanceResponse,
    GetInstancesHealthStatusRequest, GetInstancesHealthStatusResponse, HealthStatus, Instance, InstanceSummary,
    ListInstancesRequest, ListInstancesResponse, RegisterInstanceRequest, RegisterInstanceResponse,
    UpdateInstanceCustomHealthStatusRequest,
};
use berth_store::Txn;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The attribute keys Cloud Map reserves.
pub(crate) const IPV4: &str = "AWS_INSTANCE_IPV4";
pub(crate) const IPV6: &str = "AWS_INSTANCE_IPV6";
pub(crate) const PORT: &str = "AWS_INSTANCE_PORT";
pub(crate) const CNAME: &str = "AWS_INSTANCE_CNAME";
const INIT_HEALTH: &str = "AWS_INIT_HEALTH_STATUS";
const ALIAS: &str = "AWS_ALIAS_DNS_NAME";
const EC2_INSTANCE: &str = "AWS_EC2_INSTANCE_ID";

fn check_instance_id(id: &str) -> Result<(), DiscoveryError> {
    let ok = (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "_/:.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(DiscoveryError::invalid(format!(
            "1 validation error detected: Value '{id}' at 'instanceId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z_/:.@-]+$"
        )))
    }
}

/// Checks an instance's attributes against its service, as Cloud Map does; returns its initial health.
pub(crate) fn check_attributes(
    service: &ServiceRecord,
    attributes: &BTreeMap<String, String>,
) -> Result<Option<Health>, DiscoveryError> {
    let mut total = 0;
    let mut custom = 0;
    for (k, v) in attributes {
        if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err(DiscoveryError::invalid(format!("Invalid attribute key {k:?}")));
        }
        let inner_ok = v.bytes().all(|b| (b'!'..=b'~').contains(&b) || b == b' ' || b == b'\t');
        let edges_ok = !v.starts_with([' ', '\t']) && !v.ends_with([' ', '\t']);
        if v.len() > 1024 || !inner_ok || !edges_ok {
            return Err(DiscoveryError::invalid(format!("Invalid value for attribute {k}")));
        }
        total += k.len() + v.len();
        if !k.starts_with("AWS_") {
            custom += 1;
        }
    }
    if custom > 30 {
        return Err(DiscoveryError::invalid("An instance can have at most 30 custom attributes"));
    }
    if total > 5000 {
        return Err(DiscoveryError::invalid("The attributes of an instance may total at most 5,000 characters"));
    }
    if attributes.contains_key(ALIAS) {
        return Err(DiscoveryError::invalid(
            "Berth does not create alias records: AWS_ALIAS_DNS_NAME is not supported (use AWS_INSTANCE_IPV4).",
        ));
    }
    if attributes.contains_key(EC2_INSTANCE) {
        return Err(DiscoveryError::invalid(
            "Berth has no EC2 instances to look up: AWS_EC2_INSTANCE_ID is not supported (use AWS_INSTANCE_IPV4).",
        ));
    }
    let ipv4 = attributes.get(IPV4);
    let ipv6 = attributes.get(IPV6);
    if let Some(ip) = ipv4
        && ip.parse::<Ipv4Addr>().is_err()
    {
        return Err(DiscoveryError::invalid(format!("Invalid value for AWS_INSTANCE_IPV4: {ip}")));
    }
    if let Some(ip) = ipv6
        && ip.parse::<Ipv6Addr>().is_err()
    {
        return Err(DiscoveryError::invalid(format!("Invalid value for AWS_INSTANCE_IPV6: {ip}")));
    }
    if let Some(port) = attributes.get(PORT)
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0)
    {
        return Err(DiscoveryError::invalid(format!("Invalid value for AWS_INSTANCE_PORT: {port}")));
    }
    if let Some(dns) = &service.dns {
        for (kind, _) in &dns.records {
            let missing = match kind {
                RecordKind::A if ipv4.is_none() => Some(IPV4),
                RecordKind::Aaaa if ipv6.is_none() => Some(IPV6),
                RecordKind::Srv if !attributes.contains_key(PORT) => Some(PORT),
                RecordKind::Srv if ipv4.is_none() && ipv6.is_none() => Some("AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6"),
                RecordKind::Cname if !attributes.contains_key(CNAME) => Some(CNAME),
                _ => None,
            };
            if let Some(name) = missing {
                return Err(DiscoveryError::invalid(format!(
                    "Service {} has a {} record: the instance needs the attribute {name}",
                    service.id,
                    kind.as_str()
                )));
            }
        }
    }
    let init = match attributes.get(INIT_HEALTH).map(String::as_str) {
        None | Some("HEALTHY") => Health::Healthy,
        Some("UNHEALTHY") => Health::Unhealthy,
        Some(other) => {
            return Err(DiscoveryError::invalid(format!(
                "Invalid value for AWS_INIT_HEALTH_STATUS: {other} (HEALTHY or UNHEALTHY)"
            )));
        }
    };
    Ok(service.custom_health.then_some(init))
}

/// Registers or re-registers an instance (RegisterInstance, and ECS tasks); returns the operation id.
pub(crate) async fn register_instance(
    s: &Discovery,
    service_id: &str,
    instance_id: &str,
    attributes: BTreeMap<String, String>,
    creator_request_id: Option<String>,
) -> Result<String, DiscoveryError> {
    check_instance_id(instance_id)?;
    let _writes = s.writes.lock().await;
    let (txn, operation_id) = {
        let state = s.index.read();
        let service = find_service(&state, service_id)?;
        let health = check_attributes(service, &attributes)?;
        let existing = state.instances.get(&service.id).and_then(|m| m.get(instance_id));
        if let Some(existing) = existing
            && creator_request_id.is_some()
            && existing.creator_request_id == creator_request_id
        {
            // A retry of the same registration: its operation, nothing new.
            return Ok(existing.operation_id.clone());
        }
        let (txn, operation_id) = record_operation(
            s,
            &state,
            Txn::new(),
            OperationKind::RegisterInstance,
            &[("SERVICE", &service.id), ("INSTANCE", instance_id)],
        )?;
        let record = InstanceRecord {
            schema: records::SCHEMA,
            service_id: service.id.clone(),
            id: instance_id.to_string(),
            attributes,
            health,
            creator_request_id,
            operation_id: operation_id.clone(),
            created: s.clock.now(),
        };
        let txn = txn.put(records::instance_key(&service.id, instance_id), records::encode(&record)?);
        (txn, operation_id)
    };
    s.commit(txn).await?;
    Ok(operation_id)
}

/// Deregisters an instance; returns the operation id.
pub(crate) async fn deregister_instance(
    s: &Discovery,
    service_id: &str,
    instance_id: &str,
) -> Result<String, DiscoveryError> {
    let _writes = s.writes.lock().await;
    let (txn, operation_id) = {
        let state = s.index.read();
        let service = find_service(&state, service_id)?;
        if state.instances.get(&service.id).and_then(|m| m.get(instance_id)).is_none() {
            return Err(DiscoveryError::instance_not_found(instance_id));
        }
        record_operation(
            s,
            &state,
            Txn::new().delete(records::instance_key(&service.id, instance_id)),
            OperationKind::DeregisterInstance,
            &[("SERVICE", &service.id), ("INSTANCE", instance_id)],
        )?
    };
    s.commit(txn).await?;
    Ok(operation_id)
}

/// Sets an instance's custom health status (applied at once; Cloud Map waits about 30 s).
pub(crate) async fn set_custom_health(
    s: &Discovery,
    service_id: &str,
    instance_id: &str,
    health: Health,
) -> Result<(), DiscoveryError> {
    let _writes = s.writes.lock().await;
    let txn = {
        let state = s.index.read();
        let service = find_service(&state, service_id)?;
        if !service.custom_health {
            return Err(DiscoveryError::custom_health_not_found(&service.id));
        }
        let Some(instance) = state.instances.get(&service.id).and_then(|m| m.get(instance_id)) else {
            return Err(DiscoveryError::instance_not_found(instance_id));
        };
        if instance.health == Some(health) {
            return Ok(());
        }
        let mut instance = instance.clone();
        instance.health = Some(health);
        Txn::new().put(records::instance_key(&service.id, instance_id), records::encode(&instance)?)
    };
    s.commit(txn).await?;
    Ok(())
}

/// `RegisterInstance`.
pub(crate) async fn register(
    s: &Discovery,
    req: RegisterInstanceRequest,
) -> Result<RegisterInstanceResponse, DiscoveryError> {
    let operation_id =
        register_instance(s, &req.service_id, &req.instance_id, req.attributes, given(req.creator_request_id)).await?;
    Ok(RegisterInstanceResponse { operation_id: Some(operation_id) })
}

/// `DeregisterInstance`.
pub(crate) async fn deregister(
    s: &Discovery,
    req: DeregisterInstanceRequest,
) -> Result<DeregisterInstanceResponse, DiscoveryError> {
    let operation_id = deregister_instance(s, &req.service_id, &req.instance_id).await?;
    Ok(DeregisterInstanceResponse { operation_id: Some(operation_id) })
}

/// `GetInstance`.
pub(crate) fn get(s: &Discovery, req: GetInstanceRequest) -> Result<GetInstanceResponse, DiscoveryError> {
    let state = s.index.read();
    let service = find_service(&state, &req.service_id)?;
    let instance = state
        .instances
        .get(&service.id)
        .and_then(|m| m.get(&req.instance_id))
        .ok_or_else(|| DiscoveryError::instance_not_found(&req.instance_id))?;
    Ok(GetInstanceResponse {
        resource_owner: Some(s.config.account_id.clone()),
        instance: Some(Instance {
            id: instance.id.clone(),
            creator_request_id: instance.creator_request_id.clone(),
            attributes: Some(instance.attributes.clone()),
            created_by_account: Some(s.config.account_id.clone()),
        }),
    })
}

/// `ListInstances`.
pub(crate) fn list(s: &Discovery, req: ListInstancesRequest) -> Result<ListInstancesResponse, DiscoveryError> {
    let state = s.index.read();
    let service = find_service(&state, &req.service_id)?;
    let all: Vec<InstanceSummary> = state
        .instances_of(&service.id)
        .map(|i| InstanceSummary {
            id: Some(i.id.clone()),
            attributes: Some(i.attributes.clone()),
            created_by_account: Some(s.config.account_id.clone()),
        })
        .collect();
    let (instances, next_token) = page(all, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(ListInstancesResponse {
        resource_owner: Some(s.config.account_id.clone()),
        instances: Some(instances),
        next_token,
    })
}

/// An instance's health as the API shows it (UNKNOWN without a custom health check).
pub(crate) fn health_of(instance: &InstanceRecord) -> HealthStatus {
    match instance.health {
        Some(Health::Healthy) => HealthStatus::Healthy,
        Some(Health::Unhealthy) => HealthStatus::Unhealthy,
        None => HealthStatus::Unknown,
    }
}

/// `GetInstancesHealthStatus`.
pub(crate) fn health_status(
    s: &Discovery,
    req: GetInstancesHealthStatusRequest,
) -> Result<GetInstancesHealthStatusResponse, DiscoveryError> {
    let state = s.index.read();
    let service = find_service(&state, &req.service_id)?;
    let registered = state.instances.get(&service.id);
    let entries: Vec<(String, HealthStatus)> = match &req.instances {
        Some(ids) if !ids.is_empty() => ids
            .iter()
            .map(|id| {
                registered
                    .and_then(|m| m.get(id))
                    .map(|i| (i.id.clone(), health_of(i)))
                    .ok_or_else(|| DiscoveryError::instance_not_found(id))
            })
            .collect::<Result<_, _>>()?,
        _ => state.instances_of(&service.id).map(|i| (i.id.clone(), health_of(i))).collect(),
    };
    let (entries, next_token) = page(entries, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(GetInstancesHealthStatusResponse { status: Some(entries.into_iter().collect()), next_token })
}

/// `UpdateInstanceCustomHealthStatus`.
pub(crate) async fn update_custom_health(
    s: &Discovery,
    req: UpdateInstanceCustomHealthStatusRequest,
) -> Result<(), DiscoveryError> {
    let health = match req.status {
        CustomHealthStatus::Healthy => Health::Healthy,
        CustomHealthStatus::Unhealthy => Health::Unhealthy,
    };
    set_custom_health(s, &req.service_id, &req.instance_id, health).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{DnsSettings, Routing};

    fn service(records: Vec<RecordKind>, custom_health: bool) -> ServiceRecord {
        ServiceRecord {
            schema: 1,
            id: "srv-1".into(),
            arn: "arn".into(),
            name: "web".into(),
            namespace_id: "ns-1".into(),
            description: None,
            dns: Some(DnsSettings {
                routing: Routing::Multivalue,
                records: records.into_iter().map(|k| (k, 10)).collect(),
            }),
            custom_health,
            created: 0.0,
            creator_request_id: None,
            tags: BTreeMap::new(),
            attributes: BTreeMap::new(),
        }
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn records_need_their_attributes() {
        let a = service(vec![RecordKind::A], false);
        assert_eq!(check_attributes(&a, &attrs(&[(IPV4, "10.0.0.1")])).unwrap(), None, "no custom health: UNKNOWN");
        let e = check_attributes(&a, &attrs(&[("x", "y")])).unwrap_err();
        assert!(e.message.contains("AWS_INSTANCE_IPV4"), "{}", e.message);
        assert!(check_attributes(&a, &attrs(&[(IPV4, "10.0.0.300")])).is_err());
        let srv = service(vec![RecordKind::Srv], false);
        assert!(
            check_attributes(&srv, &attrs(&[(IPV4, "10.0.0.1")])).unwrap_err().message.contains("AWS_INSTANCE_PORT")
        );
        assert!(check_attributes(&srv, &attrs(&[(PORT, "80")])).is_err(), "SRV needs an address too");
        assert!(check_attributes(&srv, &attrs(&[(IPV4, "10.0.0.1"), (PORT, "0")])).is_err());
        assert!(check_attributes(&srv, &attrs(&[(IPV4, "10.0.0.1"), (PORT, "8080")])).is_ok());
        assert!(check_attributes(&a, &attrs(&[(IPV4, "10.0.0.1"), (ALIAS, "lb")])).is_err(), "refused, not ignored");
    }

    #[test]
    fn custom_health_starts_healthy_unless_told() {
        let s = service(vec![RecordKind::A], true);
        assert_eq!(check_attributes(&s, &attrs(&[(IPV4, "10.0.0.1")])).unwrap(), Some(Health::Healthy));
        assert_eq!(
            check_attributes(&s, &attrs(&[(IPV4, "10.0.0.1"), (INIT_HEALTH, "UNHEALTHY")])).unwrap(),
            Some(Health::Unhealthy)
        );
        assert!(check_attributes(&s, &attrs(&[(IPV4, "10.0.0.1"), (INIT_HEALTH, "SICK")])).is_err());
    }

    #[test]
    fn attribute_limits() {
        let s = service(vec![RecordKind::A], false);
        let mut many = attrs(&[(IPV4, "10.0.0.1")]);
        for i in 0..31 {
            many.insert(format!("k{i}"), "v".into());
        }
        assert!(check_attributes(&s, &many).is_err());
        assert!(check_attributes(&s, &attrs(&[(IPV4, "10.0.0.1"), ("k", " padded")])).is_err());
        assert!(check_instance_id("task/abc:1@x").is_ok());
        assert!(check_instance_id("bad id").is_err());
    }
}
