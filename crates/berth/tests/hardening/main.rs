//! Berth's security test suite (issue 8): each area's end-to-end tests against the real `berth` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

#[path = "../common/mod.rs"]
mod common;
mod gating;
