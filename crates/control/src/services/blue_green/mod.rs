//! ECS's blue/green family of deployments (`deploymentConfiguration.strategy` BLUE_GREEN, LINEAR and CANARY)
//! behind a load balancer: the checks of their settings at CreateService and UpdateService ([`config`]), the
//! stages a deployment goes through with its lifecycle hooks, rollback and traffic weights ([`progress`], a pure
//! part of the service scheduler's plan), the side effects the scheduler carries out (listener rule weights,
//! webhook calls: [`effects`]) and ContinueServiceDeployment ([`continue_op`]).
//!
//! Each load balancer of such a service names two target groups (`targetGroupArn` and the `advancedConfiguration`'s
//! `alternateTargetGroupArn`). One of them, the production side ([`crate::records::ServiceRecord::production_side`]),
//! holds the running revision (blue); a new deployment starts its tasks (green) in the other, shifts the test
//! listener rule and then the production listener rule's weights to it as the strategy says, keeps blue for the bake
//! time, scales blue in, and leaves the sides swapped. A rollback returns all traffic to blue and scales green in.

pub mod config;
pub mod continue_op;
pub mod effects;
pub mod progress;

#[cfg(test)]
mod tests;

pub use config::{Shift, shift_of};
pub use progress::{active, roll_back};
