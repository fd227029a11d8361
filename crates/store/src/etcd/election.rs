//! Leader election on an etcd lease: one server at a time holds [`LEADER_KEY`].
//!
//! - **Campaign**: grant a lease of `ttl` seconds, then one transaction "if the leader key does not exist, create
//!   it with this server's id, attached to the lease; else read it". Winning makes the put's revision the term's
//!   fencing token ([`Term`]); losing gives the lease back.
//! - **Holding**: the lease is renewed every `ttl / 3`. The gate closes at once, without waiting for etcd, when a
//!   renewal says the lease is gone, when no renewal has succeeded for `ttl - margin` since the last successful
//!   one was *sent* (so the local deadline always falls before etcd's), when the leader key changes or goes, or
//!   when a fenced write was refused ([`Leadership::deposed`]). The lease is then revoked (best effort), so a
//!   server that stepped down frees the key at once.
//! - **Following**: a server that lost watches the leader key and campaigns as soon as it is deleted (its
//!   holder's lease ran out or was revoked), and also every second in case the watch missed it.

use super::{EtcdStore, timed};
use crate::leader::{LEADER_KEY, Leadership, Term};
use crate::{EventKind, Store, StoreError};
use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// The default lease time to live, seconds: a dead leader's controllers resume elsewhere within about this long.
pub const DEFAULT_TTL_SECONDS: i64 = 3;

/// How long before the lease's end (as this server reckons it) the gate closes.
const MARGIN: Duration = Duration::from_millis(500);

/// How often a follower checks the leader key even without a watch event.
const FOLLOWER_POLL: Duration = Duration::from_secs(1);

/// The election's settings.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    /// This server's id, the leader key's value while it leads.
    pub server_id: String,
    /// The lease's time to live in seconds (at least 2).
    pub ttl_seconds: i64,
}

/// A running election; stops campaigning when dropped (a held lease then runs out), or steps down at once with
/// [`Election::resign`].
pub struct Election {
    leadership: Leadership,
    task: tokio::task::JoinHandle<()>,
    store: Arc<EtcdStore>,
    /// The lease of the term held now (0: none).
    lease: Arc<AtomicI64>,
}

impl Drop for Election {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Election {
    /// This server's leadership (to install, and to gate and fence controllers with).
    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    /// Stops campaigning and gives up a held term now (revoking its lease deletes the leader key), so another
    /// server takes over without waiting for the lease to run out: for a clean shutdown.
    pub async fn resign(self) {
        self.task.abort();
        let lease = self.lease.swap(0, Ordering::SeqCst);
        if lease != 0 {
            match self.store.revoke_lease(lease).await {
                Ok(()) => tracing::info!("resigned the leadership"),
                Err(error) => tracing::warn!(%error, "could not revoke the leader lease; it runs out by itself"),
            }
        }
    }
}

/// Why a held term ended.
#[derive(Debug)]
enum Ended {
    Expired,
    LeaseGone,
    KeyChanged,
    Fenced,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ended::Expired => "no lease renewal succeeded in time",
            Ended::LeaseGone => "etcd says the lease has expired",
            Ended::KeyChanged => "the leader key was deleted or rewritten",
            Ended::Fenced => "a controller write was refused by the fence",
        })
    }
}

/// A campaign's result.
enum Campaign {
    Won { lease: i64, token: i64 },
    Lost { holder: String, revision: i64 },
}

impl EtcdStore {
    /// Starts campaigning for the leader key in the background (see the module's doc).
    pub fn elect(self: &Arc<Self>, config: ElectionConfig) -> Election {
        let (term_tx, term_rx) = watch::channel(None);
        let deposed = Arc::new(Notify::new());
        let notify = deposed.clone();
        let current = term_rx.clone();
        let leadership = Leadership::new(term_rx, move |token| {
            if current.borrow().is_some_and(|t| t.token == token) {
                notify.notify_one();
            }
        });
        let lease = Arc::new(AtomicI64::new(0));
        let task = tokio::spawn(run(self.clone(), config, term_tx, deposed, lease.clone()));
        Election { leadership, task, store: self.clone(), lease }
    }

    async fn campaign(&self, server_id: &str, ttl: i64) -> Result<Campaign, StoreError> {
        let lease = self.grant_lease(ttl).await?;
        let key = self.full_key(LEADER_KEY);
        let txn = Txn::new()
            .when(vec![Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then(vec![TxnOp::put(
                key.clone(),
                server_id.as_bytes().to_vec(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else(vec![TxnOp::get(key, None)]);
        let mut kv = self.kv();
        let response = match timed(self.config.request_timeout, "campaign for the leader key", kv.txn(txn)).await {
            Ok(response) => response,
            Err(error) => {
                let _ = self.revoke_lease(lease).await;
                return Err(error);
            }
        };
        super::note(&self.revision, response.header());
        let revision = response.header().map(|h| h.revision()).unwrap_or(0);
        if response.succeeded() {
            return Ok(Campaign::Won { lease, token: revision });
        }
        let _ = self.revoke_lease(lease).await;
        let holder = response
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                TxnOpResponse::Get(get) => get.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Campaign::Lost { holder, revision })
    }

    /// Holds a won term until it ends; why it ended.
    async fn hold(&self, lease: i64, token: i64, ttl: Duration, deposed: &Notify) -> Ended {
        let valid = ttl.saturating_sub(MARGIN);
        let every = ttl / 3;
        // The lease was granted before the campaign: its end as reckoned from now is later than etcd's by the
        // campaign's round trip, which the margin covers.
        let mut expiry = Box::pin(tokio::time::sleep(valid));
        let mut watch = match self.watch(LEADER_KEY, token) {
            Ok(watch) => Some(watch),
            Err(error) => {
                tracing::warn!(%error, "cannot watch the leader key; relying on lease renewals");
                None
            }
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                biased;
                () = &mut expiry => return Ended::Expired,
                () = deposed.notified() => return Ended::Fenced,
                event = async { match watch.as_mut() { Some(w) => w.next().await, None => std::future::pending().await } } => {
                    match event {
                        Ok((_, events)) => {
                            let changed = events.iter().any(|e| {
                                e.kv.key == LEADER_KEY && (e.kind == EventKind::Delete || e.kv.mod_revision != token)
                            });
                            if changed {
                                return Ended::KeyChanged;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "the leader key's watch failed; relying on lease renewals");
                            watch = None;
                        }
                    }
                }
                _ = tick.tick() => {
                    let renewed_until = tokio::time::sleep(valid);
                    match tokio::time::timeout(every, self.keep_lease_alive(lease)).await {
                        Ok(Ok(left)) if left > 0 => expiry = Box::pin(renewed_until),
                        Ok(Ok(_)) => return Ended::LeaseGone,
                        Ok(Err(error)) => tracing::warn!(%error, "renewing the leader lease failed"),
                        Err(_) => tracing::warn!("renewing the leader lease took too long"),
                    }
                }
            }
        }
    }

    /// Waits until the leader key is gone (or a poll interval passed), from `revision`.
    async fn follow(&self, revision: i64) {
        let mut watch = match self.watch(LEADER_KEY, revision) {
            Ok(watch) => watch,
            Err(_) => {
                tokio::time::sleep(FOLLOWER_POLL).await;
                return;
            }
        };
        let gone = async {
            while let Ok((_, events)) = watch.next().await {
                if events.iter().any(|e| e.kv.key == LEADER_KEY && e.kind == EventKind::Delete) {
                    return;
                }
            }
            std::future::pending::<()>().await;
        };
        let _ = tokio::time::timeout(FOLLOWER_POLL, gone).await;
    }
}

async fn run(
    store: Arc<EtcdStore>,
    config: ElectionConfig,
    term: watch::Sender<Option<Term>>,
    deposed: Arc<Notify>,
    held: Arc<AtomicI64>,
) {
    let ttl_seconds = config.ttl_seconds.max(2);
    let ttl = Duration::from_secs(ttl_seconds as u64);
    let mut last_holder = String::new();
    loop {
        match store.campaign(&config.server_id, ttl_seconds).await {
            Ok(Campaign::Won { lease, token }) => {
                tracing::info!(server = %config.server_id, token, "this server leads: controllers start");
                metrics::gauge!("berth_leader").set(1.0);
                held.store(lease, Ordering::SeqCst);
                let _ = term.send(Some(Term { token }));
                let ended = store.hold(lease, token, ttl, &deposed).await;
                let _ = term.send(None);
                held.store(0, Ordering::SeqCst);
                metrics::gauge!("berth_leader").set(0.0);
                tracing::warn!(server = %config.server_id, token, reason = %ended, "this server lost its leadership: controllers stop");
                let _ = store.revoke_lease(lease).await;
                last_holder.clear();
            }
            Ok(Campaign::Lost { holder, revision }) => {
                if holder != last_holder {
                    tracing::info!(leader = %holder, "another server leads; following");
                    last_holder = holder;
                }
                metrics::gauge!("berth_leader").set(0.0);
                store.follow(revision).await;
            }
            Err(error) => {
                tracing::warn!(%error, "campaigning for the leader key failed; retrying");
                tokio::time::sleep(FOLLOWER_POLL / 2).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::etcd_store;
    use crate::leader::{FencedStore, fenced};
    use crate::{SharedStore, TxnOutcome};

    async fn until(mut f: impl FnMut() -> bool, what: &str) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    fn config(id: &str) -> ElectionConfig {
        ElectionConfig { server_id: id.into(), ttl_seconds: 2 }
    }

    /// Two candidates on one etcd: exactly one leads; when it stops (its task is dropped, its lease not renewed)
    /// the other takes over within the TTL with a new token; the old term's fenced writes are refused by etcd.
    #[tokio::test]
    async fn one_leader_failover_and_fencing_on_etcd() {
        let (store, _etcd) = etcd_store("/elect").await;
        let store = Arc::new(store);
        let other = Arc::new(EtcdStore::connect(store.config().clone()).await.unwrap());
        let a = store.elect(config("a"));
        until(|| a.leadership().current().is_some(), "a to lead").await;
        let b = other.elect(config("b"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(b.leadership().current().is_none(), "only one leader");
        let first = a.leadership().current().unwrap();
        let held = store.get(LEADER_KEY).await.unwrap().unwrap();
        assert_eq!((held.value.as_slice(), held.mod_revision), (b"a".as_slice(), first.token));

        // a's writes through a fenced store commit while it leads.
        let shared: SharedStore = store.clone();
        let fenced_a = FencedStore::new(shared, a.leadership());
        let w = |k: &str| crate::Txn::new().put(k, b"v".to_vec());
        assert!(matches!(fenced(first.token, fenced_a.txn(w("/c/1"))).await.unwrap(), TxnOutcome::Committed { .. }));

        // a stops renewing (as a killed or paused server would).
        drop(a);
        let taken = b.leadership();
        for _ in 0..100 {
            if taken.current().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let second = taken.current().expect("b leads within 5 s of a stopping");
        assert!(second.token > first.token);
        // a's old term is fenced out by etcd.
        let refused = fenced(first.token, fenced_a.txn(w("/c/2"))).await;
        assert!(matches!(refused, Err(StoreError::FencedOut { .. })), "{refused:?}");
        assert!(store.get("/c/2").await.unwrap().is_none());
        // b's writes commit.
        let fenced_b = FencedStore::new(other.clone(), b.leadership());
        assert!(matches!(fenced(second.token, fenced_b.txn(w("/c/3"))).await.unwrap(), TxnOutcome::Committed { .. }));
    }

    /// A leader whose fenced write is refused closes its gate at once, then follows (the key is someone else's).
    #[tokio::test]
    async fn a_refused_fenced_write_closes_the_gate() {
        let (store, _etcd) = etcd_store("/depose").await;
        let store = Arc::new(store);
        let a = store.elect(config("a"));
        until(|| a.leadership().current().is_some(), "a to lead").await;
        let token = a.leadership().current().unwrap().token;
        // Someone rewrites the leader key (as a new leader's term would be): a's next fenced write is refused.
        store.txn(crate::Txn::new().put(LEADER_KEY, b"intruder".to_vec())).await.unwrap();
        let shared: SharedStore = store.clone();
        let fenced_a = FencedStore::new(shared, a.leadership());
        let refused = fenced(token, fenced_a.txn(crate::Txn::new().put("/x", vec![]))).await;
        assert!(matches!(refused, Err(StoreError::FencedOut { .. })), "{refused:?}");
        until(|| a.leadership().current().is_none(), "a's gate to close").await;
    }
}
