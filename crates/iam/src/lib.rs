//! Berth's IAM and STS.
//!
//! # Background
//! Every AWS API call is made by a principal (the account root, an IAM user, or a role session from STS) and is
//! allowed or denied by the IAM policies that apply to it. Berth serves the IAM subset ECS users touch (users,
//! access keys, roles with trust policies, groups, inline and managed policies, AWS managed policies by name) and
//! STS's GetCallerIdentity and AssumeRole, and evaluates every call of every Berth API with AWS's logic.
//!
//! # Design
//! - [`policy`]: the pure engine. Documents are parsed once, when put, and kept parsed.
//! - [`records`]: users, groups, roles, managed policies, access keys and sessions as records under `/iam/` in the
//!   store; [`state`]: the in-memory state loaded at open and written through, one transaction per change.
//! - [`ops`]: the IAM and STS operations on the JSON shapes of `berth_model::{iam, sts}`.
//! - [`Iam::authorize`]: one decision per call, from the principal's compiled policy set (cached per principal,
//!   dropped on every IAM change).
//!
//! # Limitations
//! One account. No permissions boundaries, session policies, SCPs, service-linked roles, MFA, login profiles,
//! policy versions beyond the default one, OIDC/SAML federation or cross-account access.

mod error;
pub mod managed;
pub mod ops;
pub mod policy;
pub mod records;
mod service;
pub mod state;

#[cfg(test)]
mod tests;

pub use error::IamError;
pub use ops::sts::{IssuedSession, ServiceSessionError};
pub use service::{Authz, EncodeOnly, Iam, IamConfig, Identity, KeyLookup, Quotas, Sealer};
