//! Issue 8's security suite: the real `berth` binary over TCP, each area in its own module.

#[path = "../common/mod.rs"]
mod common;

mod control;
mod crash;
mod files;
mod gating;
mod listener;
mod nodes;
mod registry;
mod sigv4;
