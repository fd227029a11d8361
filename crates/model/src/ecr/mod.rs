//! Amazon ECR (`ecr/2015-09-21`): the generated wire shapes.

mod shapes;

pub use shapes::*;
