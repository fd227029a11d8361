//! AWS Systems Manager (`ssm/2014-11-06`): the generated wire shapes of the Parameter Store operations Berth serves
//! (`OPERATIONS` lists the whole model).

mod shapes;

pub use shapes::*;
