//! Integration of the three APIs on a memory store.
