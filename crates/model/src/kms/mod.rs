//! AWS KMS (`kms/2014-11-01`): the generated wire shapes of the operations Berth serves (`OPERATIONS` lists the
//! whole model).

mod shapes;

pub use shapes::*;
