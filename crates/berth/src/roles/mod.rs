//! Berth's roles: what `up`, `server` and `agent` run, and the clients (`exec`, `logs`, and the day-to-day commands
//! in `console_cli`).

pub mod admin;
pub mod agent;
pub mod aws;
pub mod capacity;
pub mod compose;
pub mod console_cli;
pub mod deployment_alarms;
pub mod deployment_hooks;
pub mod exec;
pub mod express;
pub mod files;
pub mod lint;
pub mod logs;
pub mod node_providers;
pub mod offset_clock;
pub mod prometheus;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod service_targets;
pub mod simulate;
pub mod store;
pub mod tls;
pub mod up;
