//! Hardening tests (issue 8): one module per area, each driving real `berth` processes over TCP.
#[path = "../common/mod.rs"]
mod common;
mod nodes;
