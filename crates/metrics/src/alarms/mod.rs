//! Metric alarms: their records, their evaluation, and the hook their actions go through.

pub mod evaluate;
pub mod hook;
pub mod record;
