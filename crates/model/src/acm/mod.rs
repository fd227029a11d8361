//! AWS Certificate Manager (`acm/2015-12-08`): the generated wire shapes of the operations Berth serves
//! (`OPERATIONS` lists the whole model).

mod shapes;

pub use shapes::*;
