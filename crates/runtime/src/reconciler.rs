//! The controller's logic, as the runtime sees it.

use crate::{Action, Trigger};
use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;

/// A controller's logic: which keys exist, and how to bring one key's world in line.
pub trait Reconciler: Send + Sync + 'static {
    /// What one reconcile is about (an instance, a service, a periodic chore); named in tracing spans.
    type Key: Clone + Eq + Hash + Display + Debug + Send + Sync + 'static;
    /// A reconcile's error; logged, then the key backs off.
    type Error: Display + Send + 'static;

    /// Every key that needs a look now: at startup and when the leader gate opens.
    fn keys(&self) -> Vec<Self::Key>;

    /// The keys to look at after the watched source reached `revision` (default: all of [`Reconciler::keys`]).
    fn changed_keys(&self, revision: i64) -> Vec<Self::Key> {
        let _ = revision;
        self.keys()
    }

    /// Brings the world of `key` in line with the store. Level-triggered: read the current state, not the
    /// trigger; the trigger is for logs and tests.
    fn reconcile(&self, key: Self::Key, trigger: Trigger) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}
