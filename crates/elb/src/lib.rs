//! Berth's Elastic Load Balancing v2 API (`elbv2/2015-12-01`): application load balancers, listeners, rules,
//! target groups and their targets, and the read view the load-balancer data plane configures itself from.
//!
//! # Background
//! ECS services put their tasks behind an Application Load Balancer: the service registers each task in a target
//! group, listeners and rules route requests to target groups, and the load balancer's health checks decide which
//! targets get traffic. This crate is the control-plane API of that: `aws elbv2 ...` and the SDKs create and
//! describe the resources with ELBv2's names, validation, error codes and messages. The data plane (the proxy that
//! forwards traffic) is `crates/lb`; it reads [`Elb::view`] and reports probe results through a
//! [`TargetHealthSource`].
//!
//! # Design
//! - **Records** ([`records`]) in `berth_store` under `/elb/` (`lb/`, `listener/`, `rule/`, `tg/` by the id at the
//!   end of the ARN), typed records rather than wire shapes. Registered targets live in their target group's
//!   record. [`State`](state::State) holds every record in memory (loaded at [`Elb::open`]); a write runs on a copy
//!   under one lock, commits the difference in one store transaction, then replaces the state and bumps the
//!   generation [`Elb::subscribe`] publishes. [`Elb::spawn_watch`] follows the store's watch on `/elb/`: a change
//!   another server committed reloads the state (this server's own commits are recognised by their revision).
//! - **Operations** (`ops`): CreateLoadBalancer (type `application`; its own address from
//!   [`ElbConfig::address_range`], a DNS name `<name>-<10 digits>.<region>.elb.berth.internal`), Describe/Delete,
//!   load balancer and target group attributes ([`attributes`]), target groups (HTTP/HTTPS, `instance`/`ip`, health
//!   checks with ELBv2's ranges, [`health`]), Register/DeregisterTargets, DescribeTargetHealth, listeners (HTTP),
//!   rules with conditions ([`conditions`]) and actions ([`actions`]), SetRulePriorities, tags. Create calls are
//!   idempotent for the same name and settings, as on AWS.
//! - **Networking** ([`config`]): until Berth has VPCs, one provisional VPC `vpc-0be7f000000000001` with two subnets
//!   in `<region>a` and `<region>b`; `ip` targets must be in [`ElbConfig::vpc_cidr`] (default 172.16.0.0/12,
//!   Docker's bridge pools) or registered with `AvailabilityZone: all` from a private range (loopback included, a
//!   Berth extension for one-machine set-ups). `instance` targets are container instances' `ec2InstanceId`s, checked
//!   through an [`InstanceDirectory`] when one is set.
//! - **Target health**: draining (deregistered, for `deregistration_delay.timeout_seconds` while a load balancer
//!   uses the group), `unused`/`Target.NotInUse` for a group no listener or rule forwards to, `unavailable` with
//!   health checks disabled, and otherwise the data plane's [`Probe`] or, until it has one,
//!   `initial`/`Elb.RegistrationInProgress`.
//! - **Errors** ([`ElbError`]): the model's codes (`LoadBalancerNotFound`, `PriorityInUse`, ...) and
//!   `ValidationError`; what AWS has and Berth does not (network and gateway load balancers, HTTPS listeners,
//!   authenticate actions, regex conditions, other ELBv2 operations) is `OperationNotPermitted` or
//!   `UnsupportedProtocol` with a message that says so.
//!
//! # Limitations
//! Load balancers are `active` at once (no `provisioning` phase). No HTTPS listeners, no certificates (no ACM),
//! no network or gateway load balancers, no trust stores, no capacity reservations, no IPv6. Security groups are
//! stored, not enforced on the load balancer's own ingress (awsvpc targets' groups admit the load balancer when
//! they name its groups: `Elb::load_balancer_security_groups`). Two servers writing at once serialize only in the store (each computes on its own state,
//! so the later commit wins for a record both changed). Draining targets past their delay leave the view at once and the record at the
//! next write.

pub mod actions;
pub mod attributes;
pub mod conditions;
pub mod config;
mod error;
pub mod health;
mod ops;
pub mod records;
mod service;
pub mod ssl_policies;
pub mod state;
mod view;

#[cfg(test)]
mod tests;

pub use config::ElbConfig;
pub use error::ElbError;
pub use health::{Probe, TargetHealthSource};
pub use service::{CertificateCatalog, Elb, InstanceDirectory, TargetGroupFacts};
pub use view::{ElbView, ListenerView, LoadBalancerView, RuleView, TargetGroupView};
