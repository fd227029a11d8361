//! Wire protocols: AWS JSON 1.1.

pub mod json11;
