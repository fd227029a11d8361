//! Amazon ECS (`ecs/2014-11-13`): the generated wire shapes and the hand-written rules the model does not state.

mod shapes;
pub mod task_definition;

pub use shapes::*;
