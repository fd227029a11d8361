//! Berth's CloudWatch metrics and alarms: the CloudWatch API subset (`cloudwatch/2010-08-01`) over a bounded
//! store of 1-minute series, and alarms evaluated by a controller.
//!
//! # Background
//! Apps publish custom metrics with PutMetricData and read them with GetMetricStatistics or GetMetricData;
//! dashboards and scripts list them with ListMetrics; alarms watch a metric and run actions (Service Auto Scaling's
//! step policies) when it crosses a threshold. This crate serves those operations so `aws cloudwatch` and the SDKs
//! work against Berth unchanged. The API crate speaks the three protocols the model lists (Smithy RPC v2 CBOR, AWS
//! JSON 1.0, AWS query) and hands this crate the operation's input as JSON ([`Metrics::call`]).
//!
//! # Design
//! - **Series** ([`series`], [`points`]): a series (namespace, metric name, dimension set) keeps one aggregate per
//!   minute with data (count, sum, minimum, maximum) and a percentile sketch of its values ([`sketch`]) for 15 days, in memory, made durable by an append-only file
//!   `<data-dir>/metrics/points.log`, replayed at start, pruned and rewritten as a snapshot by the maintenance job.
//!   Every value is stored at 1-minute resolution (`StorageResolution` 1 is accepted and stored per minute).
//! - **Bounds**: at most 10,000 series and 20,000,000 series-minutes by default ([`points::Limits`]), about 80
//!   bytes each in memory and 100 on disk (the file is at most about three times that); writes past a bound are
//!   refused with `LimitExceeded`. Sketches share a budget of 40,000,000 bins (8 bytes each, at most 64 a
//!   minute); past it, new minutes have no percentiles. 15 days of every minute of one series is 21,600 buckets
//!   (about 1.7 MB, plus its sketches).
//! - **Statistics**: SampleCount, Average, Sum, Minimum and Maximum over periods of whole minutes, exact; and
//!   percentiles (`p99`, `p99.9`) from the merged sketches, within 2% (DDSketch's logarithmic bins), for periods
//!   whose values are all known (a `StatisticValues` set of distinct values has no sketch). Trimmed and windsorized
//!   means and the other extended statistics are refused by name.
//! - **Alarms** ([`alarms`]): records in `berth_store` under `/metrics/alarm/`, with their tags and history.
//!   A controller on `berth_runtime` ([`background`]) evaluates every alarm each minute on the service's `Clock`
//!   (M out of N, `TreatMissingData`, see [`alarms::evaluate`]) and records StateValue, StateReason,
//!   StateReasonData, StateUpdatedTimestamp and a history item on each change.
//! - **Actions**: AlarmActions, OKActions and InsufficientDataActions are stored and handed, on each state change
//!   of an alarm whose actions are enabled, to the [`AlarmHook`] registered with [`Metrics::set_alarm_hook`]
//!   (and again on each evaluation for `arn:aws:autoscaling:` actions, which CloudWatch repeats). Berth runs no
//!   action itself: Service Auto Scaling plugs in there. With no hook, due actions are only logged.
//! - **In-process writers**: [`Metrics::put`] records a value like PutMetricData, `AWS/` namespaces allowed, for
//!   the control plane's `AWS/ECS` series.
//!
//! # Limitations
//! The `AWS/ECS` and `ECS/ContainerInsights` series are computed by the control plane (`berth_control::utilization`,
//! `berth_control::insights`) from the agents' samples and written here by the server, as are metric filters'
//! points (`berth_logs::metric_filters`). Metric math and Metrics Insights expressions, trimmed means, composite
//! alarms, anomaly detection, dashboards, metric streams and Contributor Insights are refused by name. Alarms do
//! not widen their evaluation range when points are missing, as CloudWatch does. History keeps the newest 100
//! items per alarm.

pub mod alarms;
pub mod background;
pub mod error;
mod ops;
pub mod points;
pub mod series;
mod service;
pub mod sketch;

#[cfg(test)]
mod tests;

pub use alarms::hook::{AlarmEvent, AlarmHook};
pub use error::MetricsError;
pub use service::{Metrics, MetricsConfig};
