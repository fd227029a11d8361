#[path = "../common/mod.rs"]
mod common;
mod nodes;
