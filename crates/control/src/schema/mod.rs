//! Which schema version of each record kind this server reads and writes, when several servers share one store.
//!
//! # Background
//! Every stored record carries its kind's schema version ([`crate::stored`]); a server upgrades older values as it
//! reads them and refuses newer ones (the cache quarantines them). During a rolling upgrade an old server and a new
//! one share the store: if the new one wrote a kind at its new version, the old one would quarantine those records,
//! and the tasks or services in them would drop out of its view.
//!
//! # Design
//! - **What a server reads** ([`reads`]): each kind's [`StoredRecord::SCHEMA`], or less under the hidden test knob
//!   `--schema-ceiling KIND=N` ([`ceiling`]), which makes a server read and write exactly as a release whose newest
//!   version of that kind is N (how the rolling-upgrade test simulates the previous release's binary).
//! - **What it advertises** ([`advert`]): on etcd, every server writes what it reads in `/servers/schema/<id>`
//!   every [`advert::SHARE_EVERY_SECONDS`], deletes it when it stops, and a record older than
//!   [`choice::EXPIRY_SECONDS`] (a server that died) no longer counts. A live server of the release before
//!   advertisements existed (its `/servers/heard/<id>` is fresh, it has no schema record) counts as reading
//!   [`choice::BASELINE`].
//! - **What it writes** ([`writes`], chosen by [`choice::choose`]): each kind at the lowest version any live server
//!   reads, never below one version back (each kind can encode one version back:
//!   [`StoredRecord::downgrade`]). Once every live server reads the new version, writes move to it, and records
//!   upgrade as they are rewritten. Reading has no such limit: every older version still upgrades on read.
//! - **A server older than the store** (it finds records of a version newer than it reads) refuses to start
//!   ([`refuse_newer`]) rather than serve a view with holes.
//!
//! # Limitations
//! The choice is as fresh as the advertisements (a share period): a server of an older release that joins a store
//! whose servers all write the new version may find newer records and refuse to start; start older servers first,
//! or not at all (a rolling upgrade only ever starts new ones). The process-wide state is set once by the server
//! (one control plane per process); tests of several control planes in one process leave it alone.

pub mod advert;
pub mod ceiling;
pub mod choice;

use crate::stored::StoredRecord;
use std::collections::BTreeMap;
use std::sync::{OnceLock, RwLock};

static CEILING: OnceLock<BTreeMap<&'static str, u32>> = OnceLock::new();
static WRITES: RwLock<BTreeMap<&'static str, u32>> = RwLock::new(BTreeMap::new());

/// Installs the process's schema ceiling (once; `false` if one was installed already).
pub fn install_ceiling(ceiling: BTreeMap<&'static str, u32>) -> bool {
    CEILING.set(ceiling).is_ok()
}

/// The newest version of the kind `kind` (whose newest in this build is `schema`) this process reads.
pub fn reads_kind(kind: &str, schema: u32) -> u32 {
    CEILING.get().and_then(|c| c.get(kind)).map_or(schema, |n| (*n).min(schema))
}

/// The newest version of `T` this process reads.
pub fn reads<T: StoredRecord>() -> u32 {
    reads_kind(T::KIND, T::SCHEMA)
}

/// What this process reads of every kind (what it advertises).
pub fn all_reads() -> BTreeMap<&'static str, u32> {
    crate::stored::KINDS.iter().map(|k| (k.kind, reads_kind(k.kind, k.schema))).collect()
}

/// The version this process writes `T` at now: the chosen one ([`install_writes`]), within what it can write
/// (its [`reads`], no older than [`StoredRecord::OLDEST_WRITTEN`]); its [`reads`] until a choice is installed.
pub fn writes<T: StoredRecord>() -> u32 {
    let newest = reads::<T>();
    let chosen = match WRITES.read() {
        Ok(map) => map.get(T::KIND).copied(),
        Err(poisoned) => poisoned.into_inner().get(T::KIND).copied(),
    };
    chosen.map_or(newest, |n| n.min(newest).max(T::OLDEST_WRITTEN))
}

/// Installs the versions this process writes each kind at (from [`choice::choose`]).
pub fn install_writes(writes: BTreeMap<&'static str, u32>) {
    match WRITES.write() {
        Ok(mut map) => *map = writes,
        Err(poisoned) => *poisoned.into_inner() = writes,
    }
}

/// Refuses a store holding records of a newer version than this process reads (found quarantined by the cache
/// at start): the message names how many, one of them, and what to do.
pub fn refuse_newer(state: &crate::cache::State) -> Result<(), String> {
    let newer: Vec<_> = state.quarantined.values().filter(|q| q.error.contains(crate::stored::NEWER)).collect();
    let Some(first) = newer.first() else { return Ok(()) };
    Err(format!(
        "this Berth is older than the store: {} record(s) were written at a schema version it cannot read (e.g. {}: \
         {}). Start the newer release instead (servers of a rolling upgrade go forward one release at a time; \
         going back needs the backup taken before the upgrade: docs/OPERATIONS.md \"Upgrades\")",
        newer.len(),
        first.key,
        first.error
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Quarantined, State};

    #[test]
    fn without_a_ceiling_or_a_choice_a_server_reads_and_writes_its_newest() {
        assert_eq!(reads::<crate::records::TaskRecord>(), 3);
        assert_eq!(all_reads().get("task"), Some(&3));
        assert_eq!(writes::<crate::records::TaskRecord>(), 3);
        assert_eq!(writes::<crate::records::ClusterRecord>(), 2);
    }

    #[test]
    fn a_store_with_records_newer_than_this_server_reads_is_refused_with_what_to_do() {
        let mut state = State::default();
        state.quarantined.insert(
            "/ecs/tasks/default/t1".into(),
            Quarantined { key: "/ecs/tasks/default/t1".into(), mod_revision: 7, error: "not JSON".into() },
        );
        assert_eq!(refuse_newer(&state), Ok(()), "a corrupt record is quarantined, not a reason to stop");
        let error = crate::stored::decode_reading::<crate::records::TaskRecord>(br#"{"schema":3}"#, 2).unwrap_err();
        state.quarantined.insert(
            "/ecs/tasks/default/t2".into(),
            Quarantined { key: "/ecs/tasks/default/t2".into(), mod_revision: 8, error },
        );
        let refusal = refuse_newer(&state).unwrap_err();
        assert!(refusal.contains("1 record(s)") && refusal.contains("/ecs/tasks/default/t2"), "{refusal}");
        assert!(refusal.contains("Start the newer release"), "{refusal}");
    }
}
