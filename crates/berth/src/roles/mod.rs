//! Berth's roles: what `up`, `server` and `agent` run, and the `exec` client.

pub mod admin;
pub mod agent;
pub mod exec;
pub mod files;
pub mod registry;
pub mod server;
pub mod up;
