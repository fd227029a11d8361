//! Berth's hardening suite: each area's tests drive the real `berth` binary over TCP.

#[path = "../common/mod.rs"]
mod common;
mod registry;
