//! Berth's store: the single source of truth for every object of the control plane.
//!
//! # Background
//! Every cluster, task definition, task and container instance is a record in a versioned key-value store, with the
//! data model of etcd: each committed transaction gets the next store-wide *revision*; each key remembers the
//! revision that created it and the one that last modified it; transactions compare-and-swap on those revisions;
//! watches deliver every change under a key prefix in revision order. Controllers and caches are built on watches
//! (list at revision R, then watch from R), so they can be rebuilt from the store at any time.
//!
//! # Design
//! [`Store`] is object-safe so the backend is chosen at start-up ([`StoreSpec`], `--store`): [`SqliteStore`] (the
//! embedded default, one file in WAL mode), [`EtcdStore`] (an etcd cluster, for a highly available control plane)
//! and [`MemoryStore`] (tests). The embedded stores keep a bounded in-memory history of recent transactions in a
//! [`watch::WatchHub`]: a watch that starts at an older revision replays from it, and one that falls further behind
//! gets [`StoreError::Compacted`] and must re-list, as with etcd. On etcd, each watch is an etcd watch stream from
//! the revision asked for, resumed after a disconnect, and etcd's own compaction decides what is too old.
//! [`transfer`] backs a store up to a portable file, restores one, and copies between backends.
//!
//! # Limitations
//! The embedded stores' history is in memory only: after a restart, watches can start only at the current revision
//! (callers re-list on start anyway). On etcd, revisions are the etcd cluster's (shared by every installation on
//! it, so they have gaps), a transaction that writes nothing does not advance the revision, and a delete event
//! carries no create revision. Leases exist on [`EtcdStore`] only (for leader election, [`etcd::election`]), not on
//! the trait; [`leader`] holds the leadership a server's controllers are gated on and the fence their writes carry.

pub mod etcd;
#[cfg(any(test, feature = "testing"))]
pub mod lagging;
pub mod leader;
mod memory;
mod spec;
mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transfer;
pub mod watch;

pub use etcd::{EtcdConfig, EtcdStore};
pub use memory::MemoryStore;
pub use spec::{StoreSpec, StoreSpecError};
pub use sqlite::SqliteStore;
pub use watch::{Event, EventKind, ProgressRequester, Watch};

use futures::future::BoxFuture;
use std::sync::Arc;

/// A stored key and its value, with its revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key: printable ASCII, `/`-separated by convention.
    pub key: String,
    /// The value (JSON for Berth's records).
    pub value: Vec<u8>,
    /// The revision of the transaction that created the key.
    pub create_revision: i64,
    /// The revision of the transaction that last wrote the key.
    pub mod_revision: i64,
}

/// A condition a transaction checks before it applies its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's `mod_revision` equals this revision; revision 0 means "the key does not exist".
    ModRevision {
        /// The key to check.
        key: String,
        /// The revision it must have (0: absent).
        revision: i64,
    },
}

/// A write in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Creates or replaces a key.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Deletes a key (a no-op if it is absent).
    Delete {
        /// The key.
        key: String,
    },
}

/// An atomic transaction: if every compare holds, every op is applied under one new revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// The conditions.
    pub compares: Vec<Compare>,
    /// The writes.
    pub ops: Vec<Op>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition that `key` was last written at `revision` (0: that it does not exist).
    pub fn expect(mut self, key: impl Into<String>, revision: i64) -> Self {
        self.compares.push(Compare::ModRevision { key: key.into(), revision });
        self
    }

    /// Adds a put.
    pub fn put(mut self, key: impl Into<String>, value: Vec<u8>) -> Self {
        self.ops.push(Op::Put { key: key.into(), value });
        self
    }

    /// Adds a delete.
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }
}

/// What a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Applied at this revision.
    Committed {
        /// The new store revision.
        revision: i64,
    },
    /// A compare failed; nothing was written.
    Conflict {
        /// The first key whose compare failed.
        key: String,
        /// Its actual mod revision (0: absent).
        actual_revision: i64,
    },
}

/// The keys under a prefix, read at one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Range {
    /// The key-values, ordered by key.
    pub kvs: Vec<KeyValue>,
    /// The store revision the read saw.
    pub revision: i64,
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, a full disk ...).
    #[error("store backend failed during {operation}: {source}")]
    Backend {
        /// What the store was doing.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A key is not printable ASCII or is empty.
    #[error("invalid store key {key:?}: keys are non-empty printable ASCII")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// A watch asked for history the store no longer keeps; the watcher must re-list.
    #[error("revision {requested} is compacted (oldest kept: {oldest}); re-list and watch again")]
    Compacted {
        /// The revision the watcher needed.
        requested: i64,
        /// The oldest revision still available.
        oldest: i64,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// A controller write was refused because this server no longer leads: the leader key is not at the fencing
    /// token the write carried (see [`leader`]). Nothing was written.
    #[error(
        "fenced out: this server's leader term (token {token}) is over (the leader key is at revision \
         {leader_revision}); the write was refused"
    )]
    FencedOut {
        /// The token the write carried.
        token: i64,
        /// The leader key's revision now (0: no leader).
        leader_revision: i64,
    },
    /// A transaction exceeds a limit of the backend (etcd's request size or operation count); nothing was written.
    #[error("the transaction is too large for the store: {detail}")]
    TooLarge {
        /// Which limit, and by how much.
        detail: String,
    },
    /// The database file failed its integrity check at open; it must be restored or repaired, not served.
    #[error(
        "the store database {} is corrupt ({detail}); refusing to start. Restore it from a backup, or try \
         `sqlite3 {} .recover` into a new file",
        path.display(),
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: std::path::PathBuf,
        /// What `PRAGMA quick_check` (or SQLite) said.
        detail: String,
    },
}

/// A versioned key-value store with compare-and-swap transactions and prefix watches.
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>>;
    /// Reads every key starting with `prefix`, at one revision.
    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<Range, StoreError>>;
    /// Applies a transaction atomically.
    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>>;
    /// Watches changes under `prefix` committed after `after_revision`.
    fn watch(&self, prefix: &str, after_revision: i64) -> Result<Watch, StoreError>;
    /// The newest revision this process has seen (without asking the backend; another server's newer writes may
    /// be missing from it).
    fn revision(&self) -> i64;
    /// The store's revision now, asked so that it covers every write committed anywhere before the call (etcd: a
    /// linearizable read, one round trip through the cluster's leader): a server serves reads linearizably by
    /// letting its cache reach this revision first (asking its watch for progress, [`Watch::progress_requester`],
    /// when the writes in between were under other prefixes). `None` from backends this process is the only
    /// writer of (SQLite, memory): a write another process committed cannot be missing here.
    fn current_revision(&self) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// A shared handle to a store.
pub type SharedStore = Arc<dyn Store>;

pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(StoreError::InvalidKey { key: key.to_string() });
    }
    Ok(())
}

pub(crate) fn check_txn(txn: &Txn) -> Result<(), StoreError> {
    for c in &txn.compares {
        let Compare::ModRevision { key, .. } = c;
        check_key(key)?;
    }
    for op in &txn.ops {
        match op {
            Op::Put { key, .. } | Op::Delete { key } => check_key(key)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod conformance;
