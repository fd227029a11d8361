//! AWS Secrets Manager (`secretsmanager/2017-10-17`): the generated wire shapes.

mod shapes;

pub use shapes::*;
