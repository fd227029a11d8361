//! Why a reconcile runs; named in its tracing span.

use std::fmt;

/// What made a key due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The controller started (every key is looked at once).
    Startup,
    /// The watched source reached this revision.
    Change {
        /// The source's revision.
        revision: i64,
    },
    /// A previous reconcile asked to be run again ([`crate::Action::requeue_after`]).
    Requeue,
    /// The previous reconcile failed (or panicked) this many times in a row.
    Retry {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// Someone asked through a [`crate::Handle`]; the reconcile sees at least this revision.
    Requested {
        /// The revision the reconcile must see.
        revision: i64,
    },
    /// The leader gate opened (every key is looked at once).
    Leader,
    /// The periodic resync (every key is looked at once), in case a trigger was missed.
    Resync,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Startup => f.write_str("startup"),
            Trigger::Change { revision } => write!(f, "change@{revision}"),
            Trigger::Requeue => f.write_str("requeue"),
            Trigger::Retry { failures } => write!(f, "retry#{failures}"),
            Trigger::Requested { revision } => write!(f, "requested@{revision}"),
            Trigger::Leader => f.write_str("leader"),
            Trigger::Resync => f.write_str("resync"),
        }
    }
}
