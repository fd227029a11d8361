//! Issue 8 hardening: end-to-end tests against the real `berth` binary, one module per area.

#[path = "../common/mod.rs"]
mod common;
mod listener;
