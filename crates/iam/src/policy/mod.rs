//! The policy engine: IAM policy documents parsed once ([`document`]), wildcard matching of actions and resource
//! ARNs with policy variables ([`matcher`]), condition operators over a request's keys ([`condition`]), and AWS's
//! evaluation logic within one account ([`evaluate`]). Pure: no I/O, no clock (the current time is a condition
//! key the caller sets).

pub mod condition;
pub mod document;
pub mod evaluate;
pub mod matcher;

#[cfg(test)]
mod tests;

pub use condition::Context;
pub use document::{PolicyDocument, PolicyError, PolicyKind};
pub use evaluate::{
    Decision, NamedPolicy, PolicySet, Request, RequestPrincipal, Source, Trust, evaluate, evaluate_set, evaluate_trust,
};
