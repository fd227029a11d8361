//! The one compare-and-swap retry loop every writer of the control plane uses.
//!
//! A writer reads the cache, decides what to write as a transaction whose compares name the revisions it read,
//! and commits. When another writer got there first, the store refuses the transaction; the loop waits for the
//! cache to see the write that won (`Control::commit` does) and lets the writer decide again on the new state. After
//! [`MAX_ATTEMPTS`] lost races the call fails with [`ControlError::Contention`], which the API answers as a
//! retryable error.

use crate::cache::State;
use crate::{Control, ControlError, Result};
use berth_store::{Txn, TxnOutcome};

/// How many times an operation re-reads and retries after losing a compare-and-swap race.
pub(crate) const MAX_ATTEMPTS: usize = 16;

/// What one attempt of an optimistic write decided, from the state it read.
pub(crate) enum Attempt<T> {
    /// Commit this transaction; once it commits, the write answers `T`.
    Commit(Txn, T),
    /// Nothing (more) to write: answer `T` now.
    Done(T),
}

impl Control {
    /// Runs `decide` on the cache state and the current time (seconds, to the millisecond, as records keep it),
    /// commits what it decided, and repeats on the new state after a lost compare-and-swap. `context` names the
    /// operation in logs and in the contention error. `decide` runs under the cache's read lock: it must not block,
    /// nor take the lock again (use the `*_in(state, ..)` forms of lookups).
    pub(crate) async fn write<T>(
        &self,
        context: &str,
        decide: impl FnMut(&State, f64) -> Result<Attempt<T>>,
    ) -> Result<T> {
        self.write_with(context, MAX_ATTEMPTS, decide, |_, _| {}).await
    }

    /// [`Control::write`] with its own number of attempts and a hook that learns the revision the write committed
    /// at before the cache is waited for (placements settle their reservations on the live state with it). An
    /// answer whose write lost its race is dropped before the cache catches up with the winner.
    pub(crate) async fn write_with<T>(
        &self,
        context: &str,
        attempts: usize,
        mut decide: impl FnMut(&State, f64) -> Result<Attempt<T>>,
        mut committed: impl FnMut(&mut T, i64),
    ) -> Result<T> {
        for _ in 0..attempts {
            let now = self.now();
            let attempt = {
                let state = self.cache.read();
                decide(&state, now)?
            };
            let (txn, mut answer) = match attempt {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Commit(txn, answer) => (txn, answer),
            };
            match self.store.txn(txn).await.map_err(ControlError::store(context))? {
                TxnOutcome::Committed { revision } => {
                    committed(&mut answer, revision);
                    self.cache.wait_for(revision).await;
                    return Ok(answer);
                }
                TxnOutcome::Conflict { key, actual_revision } => {
                    tracing::debug!(%key, actual_revision, context, "compare-and-swap conflict; deciding again");
                    drop(answer);
                    // Let the cache catch up with the write that beat us before deciding again.
                    self.cache.wait_for(actual_revision).await;
                }
            }
        }
        Err(ControlError::Contention { context: context.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ControlConfig;
    use berth_model::clock::ManualClock;
    use berth_store::MemoryStore;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn control() -> Arc<Control> {
        let store: berth_store::SharedStore = Arc::new(MemoryStore::new());
        Control::start(store, Arc::new(ManualClock::new(1_000.0)), ControlConfig::default()).await.unwrap()
    }

    #[tokio::test]
    async fn a_lost_race_is_decided_again_on_the_state_that_won() {
        let control = control().await;
        // Keys under /ecs/ that no record kind claims: the cache follows their revisions and ignores them.
        let key = "/ecs/test/optimistic";
        let TxnOutcome::Committed { revision: racer } = control.store.txn(Txn::new().put(key, vec![1])).await.unwrap()
        else {
            panic!("the racer must commit")
        };
        let attempts = AtomicUsize::new(0);
        let seen = control
            .write("testing", |state, _| {
                // The first attempt decides as if it had read the key before the racer wrote it.
                let expected = if attempts.fetch_add(1, Ordering::SeqCst) == 0 { 0 } else { racer };
                Ok(Attempt::Commit(Txn::new().expect(key, expected).put(key, vec![2]), state.revision))
            })
            .await
            .unwrap();
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "one lost race, one commit");
        assert!(seen >= racer, "the second decision must see the racer's write");
        assert_eq!(control.store.get(key).await.unwrap().unwrap().value, vec![2]);
    }

    #[tokio::test]
    async fn a_key_that_always_moves_ends_in_contention_and_done_commits_nothing() {
        let control = control().await;
        let key = "/ecs/test/contended";
        let calls = AtomicUsize::new(0);
        let error = control
            .write("contending", |_, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                // Expects a revision the key never has.
                Ok(Attempt::Commit(Txn::new().expect(key, 999_999).put(key, vec![1]), ()))
            })
            .await
            .unwrap_err();
        assert!(matches!(error, ControlError::Contention { ref context } if context == "contending"), "{error:?}");
        assert_eq!(calls.load(Ordering::SeqCst), MAX_ATTEMPTS);
        let done = control.write("reading", |state, now| Ok(Attempt::Done((state.revision, now)))).await.unwrap();
        assert_eq!(done.1, 1_000.0, "the time comes from the control plane's clock");
        assert!(control.store.get(key).await.unwrap().is_none());
    }
}
