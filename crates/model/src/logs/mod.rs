//! Amazon CloudWatch Logs (`logs/2014-03-28`): the generated wire shapes.

mod shapes;

pub use shapes::*;
