//! Berth's wire types.
//!
//! # Background
//! Berth speaks AWS's own protocols, so its request and response types must match the AWS service models member for
//! member. The `ecs` and `ecr` modules are generated from botocore's JSON models by `tools/gen-model/gen.py`
//! (rerun it to follow a newer model); everything else here is hand-written: ARNs, identifiers, the clock, the
//! ECS validation rules the models do not state, and the protocol between the control plane and its agents.
//!
//! # Design
//! This crate does no I/O. Optional members are `Option<_>` and skipped when absent; timestamps are epoch seconds
//! (`f64`), as AWS JSON 1.1 puts them on the wire.
//!
//! # Limitations
//! Exceptions are not generated: the API crate owns the mapping of errors to `__type` and status codes.

pub mod agent;
pub mod arn;
mod blob;
pub mod clock;
pub mod ecr;
pub mod ecs;
pub mod host_access;
pub mod ids;

pub use blob::Blob;

/// An AWS JSON 1.1 timestamp: seconds since the Unix epoch, with fractions.
pub type Timestamp = f64;
