//! Berth's CloudWatch Logs: the Logs JSON API (`logs/2014-03-28`) over a durable log store.
//!
//! # Background
//! Containers' output, and apps that write to CloudWatch Logs directly, need a place to go that `aws logs` and the
//! SDKs can read unchanged. This crate serves the subset of the API that covers log groups and streams, writing,
//! reading, filtering, retention, tags and metric filters.
//!
//! # Design
//! Metadata (groups, streams, retention, tags, metric filters) lives in `berth_store` under `/logs/`, beside the
//! control plane's and the registry's records. Events live in files under `<data-dir>/logs/`: per log group a
//! directory of append-only segments ([`segment`]), an in-memory index by stream and time rebuilt at open
//! ([`events`]), sealed segments compressed with their index beside them, and retention compaction as a
//! background job on `berth_runtime` ([`background`]). [`Logs::append`] is the write path for an in-process
//! shipper; PutLogEvents calls the same function.
//!
//! # Limitations
//! The index of every live event is kept in memory (about 32 bytes an event). Logs Insights, live tail (an event
//! stream), subscriptions, exports, deliveries, anomaly detection and data protection are refused by name.

pub mod background;
pub mod error;
pub mod events;
pub mod meta;
pub mod metric_filters;
pub mod names;
mod ops;
pub mod pattern;
pub mod segment;
mod service;
mod tokens;

#[cfg(test)]
mod tests;

pub use error::LogsError;
pub use service::{AppendOutcome, Logs, LogsConfig};
