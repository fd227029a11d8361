//! Berth's roles: what `up`, `server` and `agent` run.

pub mod admin;
pub mod agent;
pub mod files;
pub mod registry;
pub mod server;
pub mod up;
