//! The registry's metadata: records in the Berth store (the truth) and the watch-fed in-memory index (the cache
//! every read is served from).

pub mod index;
pub mod keys;
pub mod records;

pub use index::{ImageEntry, Index, IndexState, RepoEntry};
pub use keys::Key;
