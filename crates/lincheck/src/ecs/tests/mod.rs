//! The ECS models' tests.
