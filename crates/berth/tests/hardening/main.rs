//! Berth's security test suite (issue 8): one module per hardening area, each against the real `berth` binary.

#[path = "../common/mod.rs"]
mod common;
mod gating;
