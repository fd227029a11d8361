//! DiscoverInstances and DiscoverInstancesRevision: the data-plane reads, from the index.

use super::instances::health_of;
use crate::index::State;
use crate::records::{Health, InstanceRecord, NamespaceKind, NamespaceRecord, ServiceRecord};
use crate::{Discovery, DiscoveryError};
use berth_model::servicediscovery::{
    DiscoverInstancesRequest, DiscoverInstancesResponse, DiscoverInstancesRevisionRequest,
    DiscoverInstancesRevisionResponse, HealthStatusFilter, HttpInstanceSummary,
};
use std::collections::BTreeMap;

/// The namespace and service a discovery names: the namespace by its name (a DNS name matches without regard to
/// case), the service by its name in it.
fn find<'a>(
    state: &'a State,
    namespace: &str,
    service: &str,
) -> Result<(&'a NamespaceRecord, &'a ServiceRecord), DiscoveryError> {
    let ns = state
        .namespaces
        .values()
        .find(|n| n.name == namespace)
        .or_else(|| {
            state.namespaces.values().find(|n| {
                n.kind == NamespaceKind::DnsPrivate
                    && crate::index::normalize(&n.name) == crate::index::normalize(namespace)
            })
        })
        .ok_or_else(|| DiscoveryError::namespace_not_found(namespace))?;
    let service = state
        .services
        .values()
        .filter(|s| s.namespace_id == ns.id)
        .find(|s| s.name == service || (ns.kind == NamespaceKind::DnsPrivate && s.name.eq_ignore_ascii_case(service)))
        .ok_or_else(|| DiscoveryError::service_not_found(service))?;
    Ok((ns, service))
}

/// The instances a health filter keeps. A service without a health check returns all of them (the filter is
/// ignored, as on Cloud Map).
pub(crate) fn by_health<'a>(
    service: &ServiceRecord,
    instances: Vec<&'a InstanceRecord>,
    filter: HealthStatusFilter,
) -> Vec<&'a InstanceRecord> {
    if !service.custom_health {
        return instances;
    }
    let healthy = |i: &&InstanceRecord| i.health == Some(Health::Healthy);
    match filter {
        HealthStatusFilter::All => instances,
        HealthStatusFilter::Healthy => instances.into_iter().filter(healthy).collect(),
        HealthStatusFilter::Unhealthy => instances.into_iter().filter(|i| !healthy(i)).collect(),
        HealthStatusFilter::HealthyOrElseAll => {
            if instances.iter().any(healthy) {
                instances.into_iter().filter(healthy).collect()
            } else {
                instances
            }
        }
    }
}

fn matches(instance: &InstanceRecord, parameters: &BTreeMap<String, String>) -> bool {
    parameters.iter().all(|(k, v)| instance.attributes.get(k) == Some(v))
}

/// `DiscoverInstances`.
pub(crate) fn discover(
    s: &Discovery,
    req: DiscoverInstancesRequest,
) -> Result<DiscoverInstancesResponse, DiscoveryError> {
    let max = match req.max_results {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(DiscoveryError::invalid(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
            )));
        }
    };
    let state = s.index.read();
    let (ns, service) = find(&state, &req.namespace_name, &req.service_name)?;
    let all: Vec<&InstanceRecord> = state.instances_of(&service.id).collect();
    let mut found = by_health(service, all, req.health_status.unwrap_or(HealthStatusFilter::Healthy));
    if let Some(query) = &req.query_parameters {
        found.retain(|i| matches(i, query));
    }
    if let Some(optional) = req.optional_parameters.as_ref().filter(|o| !o.is_empty()) {
        let narrowed: Vec<&InstanceRecord> = found.iter().copied().filter(|i| matches(i, optional)).collect();
        if !narrowed.is_empty() {
            found = narrowed;
        }
    }
    let instances = found
        .into_iter()
        .take(max)
        .map(|i| HttpInstanceSummary {
            instance_id: Some(i.id.clone()),
            namespace_name: Some(ns.name.clone()),
            service_name: Some(service.name.clone()),
            health_status: Some(health_of(i)),
            attributes: Some(i.attributes.clone()),
        })
        .collect();
    let revision = state.instances_revision.get(&service.id).copied();
    Ok(DiscoverInstancesResponse { instances: Some(instances), instances_revision: revision })
}

/// `DiscoverInstancesRevision`: a number that changes whenever the service's instances (or their health) change.
pub(crate) fn revision(
    s: &Discovery,
    req: DiscoverInstancesRevisionRequest,
) -> Result<DiscoverInstancesRevisionResponse, DiscoveryError> {
    let state = s.index.read();
    let (_, service) = find(&state, &req.namespace_name, &req.service_name)?;
    Ok(DiscoverInstancesRevisionResponse { instances_revision: state.instances_revision.get(&service.id).copied() })
}
