//! AWS Identity and Access Management (`iam/2010-05-08`, AWS query protocol): the generated wire shapes and the
//! model's shape table ([`SCHEMA`]), which the query protocol needs.

mod shapes;

pub use shapes::*;
