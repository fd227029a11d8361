//! Amazon CloudWatch (`cloudwatch/2010-08-01`): the generated wire shapes and the model's shape table
//! ([`SCHEMA`]), which the CBOR and query protocols need.

mod shapes;

pub use shapes::*;
