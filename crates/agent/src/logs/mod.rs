//! The agent's side of the `awslogs` driver: turning a container's output lines into CloudWatch Logs events and
//! batches, as Docker's awslogs driver does (AWS-NOTES §7), before they are shipped to Berth's log store.
//!
//! - [`events`]: lines into events — one per line, or multi-line events that start at a line matching
//!   `awslogs-multiline-pattern` (or the pattern made from `awslogs-datetime-format`), with a pending event sent
//!   once it has waited the flush interval; overlong lines are split at the event size limit.
//! - [`batch`]: events into PutLogEvents-sized batches (10,000 events or 1,048,576 bytes counting 26 bytes per
//!   event, sent at the latest after the flush interval).
//!
//! Not wired yet: reading a container's output and shipping batches (the log store and its agent endpoint come
//! with the CloudWatch Logs API); the control plane still refuses `awslogs` at the call until they are.

pub mod batch;
pub mod events;
