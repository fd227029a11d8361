//! AWS Cloud Map (`servicediscovery/2017-03-14`): the generated wire shapes.

mod shapes;

pub use shapes::*;
