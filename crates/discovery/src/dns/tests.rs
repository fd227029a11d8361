//! DNS answer tests.
