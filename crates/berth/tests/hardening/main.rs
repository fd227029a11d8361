//! End-to-end hardening tests of the real `berth` binary, one module per area.
#[path = "../common/mod.rs"]
mod common;
mod control;
