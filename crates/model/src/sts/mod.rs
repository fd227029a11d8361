//! AWS Security Token Service (`sts/2011-06-15`, AWS query protocol): the generated wire shapes and the
//! model's shape table ([`SCHEMA`]), which the query protocol needs.

mod shapes;

pub use shapes::*;
