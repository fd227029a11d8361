//! Elastic Load Balancing v2 (`elbv2/2015-12-01`, AWS query protocol): the generated wire shapes and the model's
//! shape table ([`SCHEMA`]), which the query protocol needs.

mod shapes;

pub use shapes::*;
