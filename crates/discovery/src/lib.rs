//! Berth's service discovery: the AWS Cloud Map API subset (`servicediscovery/2017-03-14`) and a DNS server that
//! answers for its private DNS namespaces.
//!
//! # Background
//! Cloud Map keeps *namespaces* (a private DNS domain such as `corp.local`, or an API-only HTTP namespace), *services*
//! in them (`web`, whose DNS name is `web.corp.local`) and *instances* of a service (an address, a port, custom
//! attributes). ECS registers each task of a service with `serviceRegistries` as an instance (instance id = the task
//! id) and removes it when the task stops; clients find the tasks by DNS (A and SRV records) or by the
//! DiscoverInstances API. Changes are asynchronous operations with an OperationId.
//!
//! # Design
//! - **Records** ([`records`]) in `berth_store` under `/discovery/` (namespaces, services, instances,
//!   operations), so everything survives a restart. Writes are serialized by one lock and each waits until the
//!   index has applied it (read-your-writes).
//! - **Index** ([`index`]): every record in memory, fed by the store's watch; the API's reads, DiscoverInstances and
//!   the DNS answers come from it. DNS names (zones, `<service>.<namespace>`) are rebuilt when a namespace or a
//!   service changes; an instance change is one map update, so DNS follows a registration, deregistration or health
//!   change within milliseconds of its write.
//! - **Operations** (`ops`): the namespace, service, instance, discovery, operation and tag calls with Cloud Map's
//!   exceptions. Every change is applied in its call and recorded as an operation with status SUCCESS, so
//!   GetOperation and ListOperations show real records (the CLI's and SDKs' polling ends at once).
//! - **DNS** ([`dns`]): a UDP and TCP server (hickory-proto for the wire format only) answering A, AAAA, SRV and
//!   CNAME queries for `<service>.<namespace>` and the SRV targets `<instance>.<service>.<namespace>`, with the
//!   service's TTL, NXDOMAIN (with the zone's SOA) for unknown names inside a namespace, and forwarding every other
//!   name to the host's resolvers (`/etc/resolv.conf`, or the given upstreams; 2 s, then SERVFAIL).
//! - **Tasks**: [`Discovery::register_task_instance`], [`Discovery::deregister_task_instance`] and
//!   [`Discovery::set_health`] are what the ECS service controller calls.
//!
//! # Health
//! Berth runs no Route 53 health checks: HealthCheckConfig is refused; HealthCheckCustomConfig (what ECS uses) is
//! served. An instance of a service with a custom health check starts HEALTHY unless it is registered with
//! `AWS_INIT_HEALTH_STATUS=UNHEALTHY`; UpdateInstanceCustomHealthStatus changes it at once (Cloud Map waits about
//! 30 s). DNS answers hold the healthy instances; when none is healthy they hold all of them, as Route 53 answers
//! ("fail open"). Instances of a service without a health check are always answered (health UNKNOWN).
//!
//! # Limitations
//! Public DNS namespaces, alias records (`AWS_ALIAS_DNS_NAME`), `AWS_EC2_INSTANCE_ID` and Route 53 health checks
//! are refused. Namespace names are unique across types (Cloud Map allows two private namespaces of one name in
//! different VPCs). A private DNS namespace accepts any `vpc-` id until Berth's networks define VPCs. The exceptions'
//! extra members (`DuplicateOperationId`, `NamespaceId` of NamespaceAlreadyExists) are not sent; their messages
//! name the ids. Cross-account sharing (`OwnerAccount`, RESOURCE_OWNER `OTHER_ACCOUNTS`) finds nothing. The DNS
//! server does not answer DNSSEC, zone transfers or NS queries, and the newest 10,000 operations are kept.

pub mod dns;
mod error;
pub mod index;
mod ops;
pub mod records;
mod service;

#[cfg(test)]
mod tests;

pub use dns::{DnsServer, DnsServerConfig, HostNames};
pub use error::DiscoveryError;
pub use service::{Discovery, DiscoveryConfig};
