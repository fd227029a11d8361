//! Leadership and fencing for several servers on one store.
//!
//! # Background
//! With several `berth server` processes on one etcd, any of them answers API calls, but the controllers (service
//! scheduler, liveness, deployments, scaling, registry GC ...) must run on one at a time. One server holds the
//! leader key [`LEADER_KEY`] under an etcd lease ([`crate::etcd::election`]); its *fencing token* is the key's
//! mod revision when it was created. A server that stops renewing its lease (killed, paused, cut off) loses the key
//! when the lease runs out, and another server creates it again with a new token.
//!
//! # Design
//! - [`Leadership`] is what a process knows about its own leadership: a `watch` of `Option<Term>` (`Some` while
//!   it leads), and a way to report that the store refused a write for an old token ([`Leadership::deposed`]).
//!   A server on etcd installs its leadership once ([`install`]); `berth_runtime`'s controllers pick it up as their
//!   gate ([`process`]). Without one installed (SQLite, memory: one server), every gate is open, as before.
//! - Fencing: a controller runs each reconcile inside [`fenced`] with its term's token; [`FencedStore`], the store
//!   every subsystem of such a server is handed, adds `Compare::ModRevision { key: LEADER_KEY, revision: token }`
//!   as the first compare of every transaction made inside that scope. A deposed leader's write therefore fails in
//!   etcd itself, whatever its own clock or gate believed: it gets [`StoreError::FencedOut`], counted in
//!   `berth_leader_fenced_writes_total`, and its leadership is told to close its gate. Transactions made outside a
//!   fenced scope (API requests, agent reports: any server answers those) are passed through unchanged.
//!
//! # Limitations
//! The fence is carried by a tokio task-local: work a reconcile hands to a task it spawns is not fenced (the
//! controllers do not spawn store writers today).

use crate::{Compare, KeyValue, Range, SharedStore, Store, StoreError, Txn, TxnOutcome, Watch};
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;

/// The key the leader holds under its lease; its value is the leader's server id.
pub const LEADER_KEY: &str = "/leader";

/// A leader's term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// The fencing token: the revision at which this term's leader key was created (its mod revision while the
    /// term lasts).
    pub token: i64,
}

/// A process's leadership as it knows it: whether it leads now (and its term), and how to report a fenced write.
#[derive(Clone)]
pub struct Leadership {
    term: watch::Receiver<Option<Term>>,
    on_deposed: Arc<dyn Fn(i64) + Send + Sync>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership").field("term", &*self.term.borrow()).finish()
    }
}

impl Leadership {
    /// A leadership following `term` (`Some` while leading); `on_deposed` is called with a token whose write the
    /// store refused (the process must stop acting as leader of that term).
    pub fn new(term: watch::Receiver<Option<Term>>, on_deposed: impl Fn(i64) + Send + Sync + 'static) -> Self {
        Self { term, on_deposed: Arc::new(on_deposed) }
    }

    /// The current term, while this process leads.
    pub fn current(&self) -> Option<Term> {
        *self.term.borrow()
    }

    /// A receiver of the term (for gates: `Some` is open).
    pub fn subscribe(&self) -> watch::Receiver<Option<Term>> {
        self.term.clone()
    }

    /// Waits until this process leads; its term. Never returns if the election has stopped.
    pub async fn leading(&self) -> Term {
        let mut term = self.term.clone();
        loop {
            if let Some(t) = *term.borrow_and_update() {
                return t;
            }
            if term.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Reports that the store refused a write fenced with `token`: the term is over.
    pub fn deposed(&self, token: i64) {
        (self.on_deposed)(token);
    }
}

static PROCESS: OnceLock<Leadership> = OnceLock::new();

/// Installs the process's leadership (once; `false` if one was installed already). Controllers created after this
/// run only while it leads, each reconcile fenced with the term it started in.
pub fn install(leadership: Leadership) -> bool {
    PROCESS.set(leadership).is_ok()
}

/// The process's leadership, when one is installed (a server on etcd); `None`: this process is the only server.
pub fn process() -> Option<Leadership> {
    PROCESS.get().cloned()
}

tokio::task_local! {
    static FENCE: i64;
}

/// Runs `future` as the leader of the term with `token`: every transaction it makes through a [`FencedStore`]
/// carries the fence.
pub async fn fenced<F: Future>(token: i64, future: F) -> F::Output {
    FENCE.scope(token, future).await
}

/// The fencing token of the running task, inside [`fenced`].
pub fn current_fence() -> Option<i64> {
    FENCE.try_with(|t| *t).ok()
}

/// A store that adds the leader fence to the transactions made inside [`fenced`] (see the module's doc).
pub struct FencedStore {
    inner: SharedStore,
    leadership: Leadership,
}

impl FencedStore {
    /// Wraps `inner`; refused fenced writes are reported to `leadership`.
    pub fn new(inner: SharedStore, leadership: Leadership) -> Self {
        Self { inner, leadership }
    }
}

/// `txn` with the fence for `token` as its first compare (so a failed fence is the conflict etcd names).
pub fn with_fence(mut txn: Txn, token: i64) -> Txn {
    txn.compares.insert(0, Compare::ModRevision { key: LEADER_KEY.to_string(), revision: token });
    txn
}

impl Store for FencedStore {
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>> {
        self.inner.get(key)
    }

    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<Range, StoreError>> {
        self.inner.range(prefix)
    }

    /// The fence is read when the transaction runs (its future is polled), so a future made outside [`fenced`]
    /// and awaited inside it is fenced.
    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
        Box::pin(async move {
            let Some(token) = current_fence() else {
                return self.inner.txn(txn).await;
            };
            match self.inner.txn(with_fence(txn, token)).await? {
                TxnOutcome::Conflict { key, actual_revision } if key == LEADER_KEY => {
                    metrics::counter!("berth_leader_fenced_writes_total").increment(1);
                    tracing::warn!(
                        token,
                        leader_revision = actual_revision,
                        "a controller write was refused: this server no longer leads (fenced out)"
                    );
                    self.leadership.deposed(token);
                    Err(StoreError::FencedOut { token, leader_revision: actual_revision })
                }
                other => Ok(other),
            }
        })
    }

    fn watch(&self, prefix: &str, after_revision: i64) -> Result<Watch, StoreError> {
        self.inner.watch(prefix, after_revision)
    }

    fn revision(&self) -> i64 {
        self.inner.revision()
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
        self.inner.current_revision()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use std::sync::atomic::{AtomicI64, Ordering};

    fn leadership(token: Option<i64>) -> (Leadership, Arc<AtomicI64>, watch::Sender<Option<Term>>) {
        let (tx, rx) = watch::channel(token.map(|token| Term { token }));
        let deposed = Arc::new(AtomicI64::new(0));
        let seen = deposed.clone();
        (Leadership::new(rx, move |t| seen.store(t, Ordering::SeqCst)), deposed, tx)
    }

    /// On the memory store: a write inside the fence commits while the leader key has the token's revision, and
    /// is refused (nothing written, the leadership told) once the key was re-created; writes outside the fence are
    /// untouched.
    #[tokio::test]
    async fn fenced_writes_need_the_leader_keys_revision() {
        let memory: SharedStore = Arc::new(MemoryStore::new());
        let TxnOutcome::Committed { revision: token } =
            memory.txn(Txn::new().expect(LEADER_KEY, 0).put(LEADER_KEY, b"a".to_vec())).await.unwrap()
        else {
            panic!("the leader key was absent")
        };
        let (lead, deposed, _tx) = leadership(Some(token));
        let store = FencedStore::new(memory.clone(), lead);
        let put = |k: &str| Txn::new().put(k, b"v".to_vec());
        assert!(matches!(fenced(token, store.txn(put("/x/1"))).await.unwrap(), TxnOutcome::Committed { .. }));
        // Another server takes over: the key is written again at a new revision.
        memory.txn(Txn::new().delete(LEADER_KEY)).await.unwrap();
        memory.txn(Txn::new().expect(LEADER_KEY, 0).put(LEADER_KEY, b"b".to_vec())).await.unwrap();
        let refused = fenced(token, store.txn(put("/x/2"))).await;
        assert!(matches!(refused, Err(StoreError::FencedOut { token: t, .. }) if t == token), "{refused:?}");
        assert!(memory.get("/x/2").await.unwrap().is_none(), "a fenced-out write writes nothing");
        assert_eq!(deposed.load(Ordering::SeqCst), token, "the leadership was told");
        // An API write (no fence) still commits.
        assert!(matches!(store.txn(put("/x/3")).await.unwrap(), TxnOutcome::Committed { .. }));
        // A conflict on another key is an ordinary conflict, not a fencing error.
        let new_token = memory.get(LEADER_KEY).await.unwrap().unwrap().mod_revision;
        let conflict = fenced(new_token, store.txn(put("/x/4").expect("/x/1", 1))).await.unwrap();
        assert!(matches!(conflict, TxnOutcome::Conflict { ref key, .. } if key == "/x/1"), "{conflict:?}");
    }

    #[tokio::test]
    async fn leading_waits_for_a_term() {
        let (lead, _, tx) = leadership(None);
        assert_eq!(lead.current(), None);
        let waiter = tokio::spawn({
            let lead = lead.clone();
            async move { lead.leading().await }
        });
        tx.send(Some(Term { token: 7 })).unwrap();
        assert_eq!(waiter.await.unwrap(), Term { token: 7 });
        assert_eq!(current_fence(), None);
        assert_eq!(fenced(7, async { current_fence() }).await, Some(7));
    }
}
