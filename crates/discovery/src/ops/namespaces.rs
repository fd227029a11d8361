//! CreatePrivateDnsNamespace, CreateHttpNamespace, GetNamespace, ListNamespaces, DeleteNamespace,
//! UpdatePrivateDnsNamespace, UpdateHttpNamespace.

use super::{check_description, filter_matches, given, id_of, page, record_operation, tag_map};
use crate::index::{State, normalize};
use crate::records::{self, NamespaceKind, NamespaceRecord, OperationKind};
use crate::{Discovery, DiscoveryError};
use berth_model::servicediscovery::{
    CreateHttpNamespaceRequest, CreateHttpNamespaceResponse, CreatePrivateDnsNamespaceRequest,
    CreatePrivateDnsNamespaceResponse, DeleteNamespaceRequest, DeleteNamespaceResponse, DnsProperties, FilterCondition,
    GetNamespaceRequest, GetNamespaceResponse, HttpProperties, ListNamespacesRequest, ListNamespacesResponse,
    Namespace, NamespaceFilterName, NamespaceProperties, NamespaceSummary, NamespaceType, SOA, Tag,
    UpdateHttpNamespaceRequest, UpdateHttpNamespaceResponse, UpdatePrivateDnsNamespaceRequest,
    UpdatePrivateDnsNamespaceResponse,
};
use berth_store::Txn;

/// The SOA TTL of a private DNS namespace created without one (Cloud Map's default).
pub(crate) const DEFAULT_SOA_TTL: i64 = 15;

/// Checks the VPC a private DNS namespace is for. Any `vpc-` id is accepted until Berth's networks define VPCs;
/// this is the one place that will look them up.
pub(crate) fn check_vpc(vpc: &str) -> Result<(), DiscoveryError> {
    let id = vpc.strip_prefix("vpc-").unwrap_or("");
    if id.is_empty() || vpc.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(DiscoveryError::invalid(format!("Invalid VPC id {vpc}: expected vpc- and letters or digits")));
    }
    Ok(())
}

/// A private DNS namespace's name: a domain name of at most 253 characters (letters, digits, `-` and `_` in labels of
/// 1 to 63), a final dot allowed.
pub(crate) fn check_dns_name(name: &str) -> Result<(), DiscoveryError> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.starts_with("arn:")
        && !bare.is_empty()
        && name.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok { Ok(()) } else { Err(DiscoveryError::invalid(format!("Invalid namespace name {name}: not a domain name"))) }
}

fn check_http_name(name: &str) -> Result<(), DiscoveryError> {
    let ok = !name.starts_with("arn:")
        && (1..=1024).contains(&name.len())
        && name.bytes().all(|b| (b'!'..=b'~').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(DiscoveryError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?!arn:)[!-~]{{1,1024}}$"
        )))
    }
}

fn check_ttl(ttl: i64) -> Result<(), DiscoveryError> {
    if (0..=2_147_483_647).contains(&ttl) {
        Ok(())
    } else {
        Err(DiscoveryError::invalid(format!("Invalid TTL {ttl}: it must be between 0 and 2147483647")))
    }
}

/// The namespace an id or ARN names.
pub(crate) fn find<'a>(state: &'a State, id: &str) -> Result<&'a NamespaceRecord, DiscoveryError> {
    state.namespaces.get(id_of(id)).ok_or_else(|| DiscoveryError::namespace_not_found(id))
}

struct NewNamespace {
    name: String,
    kind: NamespaceKind,
    description: Option<String>,
    vpc: Option<String>,
    soa_ttl: Option<i64>,
    creator_request_id: Option<String>,
    tags: Vec<Tag>,
}

async fn create(s: &Discovery, new: NewNamespace) -> Result<String, DiscoveryError> {
    check_description(&new.description)?;
    let _writes = s.writes.lock().await;
    let (txn, operation_id) = {
        let state = s.index.read();
        let wanted = normalize(&new.name);
        if let Some(existing) = state.namespaces.values().find(|n| normalize(&n.name) == wanted) {
            if new.creator_request_id.is_some() && existing.creator_request_id == new.creator_request_id {
                // The same request again (a retry): its operation, nothing new.
                return Ok(existing.operation_id.clone());
            }
            return Err(DiscoveryError::namespace_exists(&new.name, &existing.id));
        }
        let id = format!("ns-{}", records::random_id(16));
        let arn = s.arn(&format!("namespace/{id}"));
        let tags = tag_map(&Default::default(), new.tags, &arn)?;
        let (txn, operation_id) =
            record_operation(s, &state, Txn::new(), OperationKind::CreateNamespace, &[("NAMESPACE", &id)])?;
        let record = NamespaceRecord {
            schema: records::SCHEMA,
            id: id.clone(),
            arn,
            name: new.name,
            kind: new.kind,
            description: new.description,
            vpc: new.vpc,
            soa_ttl: new.soa_ttl,
            created: s.clock.now(),
            creator_request_id: new.creator_request_id,
            operation_id: operation_id.clone(),
            tags,
        };
        let key = records::namespace_key(&id);
        (txn.expect(key.clone(), 0).put(key, records::encode(&record)?), operation_id)
    };
    s.commit(txn).await?;
    Ok(operation_id)
}

/// `CreatePrivateDnsNamespace`.
pub(crate) async fn create_private_dns(
    s: &Discovery,
    req: CreatePrivateDnsNamespaceRequest,
) -> Result<CreatePrivateDnsNamespaceResponse, DiscoveryError> {
    check_dns_name(&req.name)?;
    check_vpc(&req.vpc)?;
    let soa_ttl = req.properties.map(|p| p.dns_properties.soa.ttl).unwrap_or(DEFAULT_SOA_TTL);
    check_ttl(soa_ttl)?;
    let operation_id = create(
        s,
        NewNamespace {
            name: req.name,
            kind: NamespaceKind::DnsPrivate,
            description: given(req.description),
            vpc: Some(req.vpc),
            soa_ttl: Some(soa_ttl),
            creator_request_id: given(req.creator_request_id),
            tags: req.tags.unwrap_or_default(),
        },
    )
    .await?;
    Ok(CreatePrivateDnsNamespaceResponse { operation_id: Some(operation_id) })
}

/// `CreateHttpNamespace`.
pub(crate) async fn create_http(
    s: &Discovery,
    req: CreateHttpNamespaceRequest,
) -> Result<CreateHttpNamespaceResponse, DiscoveryError> {
    check_http_name(&req.name)?;
    let operation_id = create(
        s,
        NewNamespace {
            name: req.name,
            kind: NamespaceKind::Http,
            description: given(req.description),
            vpc: None,
            soa_ttl: None,
            creator_request_id: given(req.creator_request_id),
            tags: req.tags.unwrap_or_default(),
        },
    )
    .await?;
    Ok(CreateHttpNamespaceResponse { operation_id: Some(operation_id) })
}

fn wire_type(kind: NamespaceKind) -> NamespaceType {
    match kind {
        NamespaceKind::DnsPrivate => NamespaceType::DnsPrivate,
        NamespaceKind::Http => NamespaceType::Http,
    }
}

/// The hosted zone id shown for a private DNS namespace (Route 53's shape, derived from the namespace id).
fn hosted_zone_id(ns: &NamespaceRecord) -> String {
    let tail = ns.id.trim_start_matches("ns-").to_ascii_uppercase();
    format!("Z{tail}")
}

fn properties(ns: &NamespaceRecord) -> NamespaceProperties {
    NamespaceProperties {
        dns_properties: Some(match ns.kind {
            NamespaceKind::DnsPrivate => {
                DnsProperties { hosted_zone_id: Some(hosted_zone_id(ns)), soa: ns.soa_ttl.map(|ttl| SOA { ttl }) }
            }
            NamespaceKind::Http => DnsProperties::default(),
        }),
        http_properties: Some(HttpProperties { http_name: Some(ns.name.clone()) }),
    }
}

fn summary(s: &Discovery, state: &State, ns: &NamespaceRecord) -> NamespaceSummary {
    NamespaceSummary {
        id: Some(ns.id.clone()),
        arn: Some(ns.arn.clone()),
        resource_owner: Some(s.config.account_id.clone()),
        name: Some(ns.name.clone()),
        r#type: Some(wire_type(ns.kind)),
        description: ns.description.clone(),
        service_count: Some(state.service_count(&ns.id) as i32),
        properties: Some(properties(ns)),
        create_date: Some(ns.created),
    }
}

/// `GetNamespace`.
pub(crate) fn get(s: &Discovery, req: GetNamespaceRequest) -> Result<GetNamespaceResponse, DiscoveryError> {
    let state = s.index.read();
    let ns = find(&state, &req.id)?;
    let summary = summary(s, &state, ns);
    Ok(GetNamespaceResponse {
        namespace: Some(Namespace {
            id: summary.id,
            arn: summary.arn,
            resource_owner: summary.resource_owner,
            name: summary.name,
            r#type: summary.r#type,
            description: summary.description,
            service_count: summary.service_count,
            properties: summary.properties,
            create_date: summary.create_date,
            creator_request_id: ns.creator_request_id.clone(),
        }),
    })
}

/// `ListNamespaces`, with the TYPE, NAME, HTTP_NAME and RESOURCE_OWNER filters.
pub(crate) fn list(s: &Discovery, req: ListNamespacesRequest) -> Result<ListNamespacesResponse, DiscoveryError> {
    use FilterCondition::{BeginsWith, Eq, In};
    let state = s.index.read();
    let mut out = Vec::new();
    for ns in state.namespaces.values() {
        let mut keep = true;
        for f in req.filters.iter().flatten() {
            keep &= match f.name {
                NamespaceFilterName::Type => {
                    filter_matches("TYPE", f.condition, &[Eq, In], &f.values, wire_type(ns.kind).as_str())?
                }
                NamespaceFilterName::Name => {
                    filter_matches("NAME", f.condition, &[Eq, BeginsWith], &f.values, &ns.name)?
                }
                NamespaceFilterName::HttpName => {
                    filter_matches("HTTP_NAME", f.condition, &[Eq, BeginsWith], &f.values, &ns.name)?
                }
                NamespaceFilterName::ResourceOwner => {
                    filter_matches("RESOURCE_OWNER", f.condition, &[Eq], &f.values, "SELF")?
                }
            };
        }
        if keep {
            out.push(summary(s, &state, ns));
        }
    }
    let (namespaces, next_token) = page(out, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(ListNamespacesResponse { namespaces: Some(namespaces), next_token })
}

/// `DeleteNamespace`: refused while it holds services.
pub(crate) async fn delete(
    s: &Discovery,
    req: DeleteNamespaceRequest,
) -> Result<DeleteNamespaceResponse, DiscoveryError> {
    let _writes = s.writes.lock().await;
    let (txn, operation_id) = {
        let state = s.index.read();
        let ns = find(&state, &req.id)?;
        let count = state.service_count(&ns.id);
        if count > 0 {
            return Err(DiscoveryError::in_use(format!(
                "Namespace {} has {count} associated service(s); delete them first",
                ns.id
            )));
        }
        let key = records::namespace_key(&ns.id);
        record_operation(s, &state, Txn::new().delete(key), OperationKind::DeleteNamespace, &[("NAMESPACE", &ns.id)])?
    };
    s.commit(txn).await?;
    Ok(DeleteNamespaceResponse { operation_id: Some(operation_id) })
}

async fn update(
    s: &Discovery,
    id: &str,
    kind: NamespaceKind,
    description: Option<String>,
    soa_ttl: Option<i64>,
) -> Result<String, DiscoveryError> {
    check_description(&description)?;
    if let Some(ttl) = soa_ttl {
        check_ttl(ttl)?;
    }
    let _writes = s.writes.lock().await;
    let (txn, operation_id) = {
        let state = s.index.read();
        let mut ns = find(&state, id)?.clone();
        if ns.kind != kind {
            return Err(DiscoveryError::invalid(format!(
                "Namespace {} is not of type {}",
                ns.id,
                wire_type(kind).as_str()
            )));
        }
        if let Some(d) = description {
            ns.description = Some(d);
        }
        if soa_ttl.is_some() {
            ns.soa_ttl = soa_ttl;
        }
        let key = records::namespace_key(&ns.id);
        record_operation(
            s,
            &state,
            Txn::new().put(key, records::encode(&ns)?),
            OperationKind::UpdateNamespace,
            &[("NAMESPACE", &ns.id)],
        )?
    };
    s.commit(txn).await?;
    Ok(operation_id)
}

/// `UpdatePrivateDnsNamespace`: description and SOA TTL.
pub(crate) async fn update_private_dns(
    s: &Discovery,
    req: UpdatePrivateDnsNamespaceRequest,
) -> Result<UpdatePrivateDnsNamespaceResponse, DiscoveryError> {
    let ttl = req.namespace.properties.map(|p| p.dns_properties.soa.ttl);
    let operation_id = update(s, &req.id, NamespaceKind::DnsPrivate, req.namespace.description, ttl).await?;
    Ok(UpdatePrivateDnsNamespaceResponse { operation_id: Some(operation_id) })
}

/// `UpdateHttpNamespace`: the description.
pub(crate) async fn update_http(
    s: &Discovery,
    req: UpdateHttpNamespaceRequest,
) -> Result<UpdateHttpNamespaceResponse, DiscoveryError> {
    let operation_id = update(s, &req.id, NamespaceKind::Http, Some(req.namespace.description), None).await?;
    Ok(UpdateHttpNamespaceResponse { operation_id: Some(operation_id) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpc_ids_and_dns_names_are_checked() {
        assert!(check_vpc("vpc-0abc123").is_ok());
        assert!(check_vpc("vpc-").is_err());
        assert!(check_vpc("subnet-1").is_err());
        assert!(check_dns_name("corp.local").is_ok());
        assert!(check_dns_name("corp.local.").is_ok());
        assert!(check_dns_name("a..b").is_err());
        assert!(check_dns_name("arn:aws:x").is_err());
        assert!(check_dns_name("has space.local").is_err());
        assert!(check_http_name("my-api").is_ok());
        assert!(check_http_name("arn:aws:x").is_err());
    }
}
