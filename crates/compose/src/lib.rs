//! `berth compose`'s pure half: a compose file read into a [`Project`] (YAML through `serde_yaml_ng`, variables
//! interpolated, every key either translated or named in a warning), the order services are created in, and the
//! translation of each service to ECS requests as plain JSON ([`translate`]). The calls themselves are the `berth`
//! binary's (`roles/compose`).

mod command;
mod container;
pub mod dockerignore;
pub mod duration;
mod envfile;
mod error;
mod interpolate;
pub mod networks;
mod order;
pub mod ports;
mod project;
pub mod secrets;
mod service;
pub mod translate;
mod units;
pub mod volumes;
mod yaml;

pub use command::split as split_command;
pub use envfile::parse as parse_env_file;
pub use error::{ComposeError, Result};
pub use project::{Project, load, normalise_name, parse};
pub use service::{Build, Condition, Dependency, Service};

#[cfg(test)]
mod tests;
