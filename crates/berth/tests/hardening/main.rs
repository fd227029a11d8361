//! Issue 8's hardening suite: one module per area, each driving a real `berth` over TCP.

#[path = "../common/mod.rs"]
mod common;
mod sigv4;
