//! Integration tests of Berth's registry: a real HTTP server on 127.0.0.1 driven by real clients.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod clients;
mod common;
mod crash;
mod ecr_api;
mod gc;
mod lifecycle;
mod oci;
mod pull_through;
mod scan;
mod sdk;
mod settings;
