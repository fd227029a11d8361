//! Application Auto Scaling (`application-autoscaling/2016-02-06`): the generated wire shapes.

mod shapes;

pub use shapes::*;
