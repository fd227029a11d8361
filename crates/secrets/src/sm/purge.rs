//! Purging secrets whose recovery window has ended: a controller on `berth_runtime` with one timer key, requeued
//! at the earliest scheduled purge (at most an hour away), woken when a deletion is scheduled. Lookups already treat
//! a secret past its purge time as gone, so the timer only reclaims space.

use super::records::{SECRETS_PREFIX, SecretRecord, secret_key, values_prefix};
use crate::records;
use crate::{Secrets, SecretsError};
use berth_runtime::{Action, Backoff, Controller, Reconciler, Trigger};
use berth_store::Txn;
use std::sync::{Arc, Weak};

/// The controller's one key.
pub(crate) const KEY: &str = "purge";
const IDLE: f64 = 3600.0;

/// Deletes a secret and its values (compare-and-swapped on the secret's record).
pub(crate) async fn purge(s: &Secrets, secret: &SecretRecord, revision: i64) -> Result<(), SecretsError> {
    let mut txn = Txn::new().expect(secret_key(&secret.name), revision).delete(secret_key(&secret.name));
    for kv in s.store.range(&values_prefix(&secret.name)).await?.kvs {
        txn = txn.delete(kv.key);
    }
    records::commit_or_conflict(&s.store, txn).await
}

/// Deletes the values left under a name (before a new secret of that name reuses it).
pub(crate) async fn purge_values(s: &Secrets, name: &str) -> Result<(), SecretsError> {
    let mut txn = Txn::new();
    for kv in s.store.range(&values_prefix(name)).await?.kvs {
        txn = txn.delete(kv.key);
    }
    if !txn.ops.is_empty() {
        records::commit_or_conflict(&s.store, txn).await?;
    }
    Ok(())
}

/// Purges every secret due; returns how many, and when the next one is due.
async fn run(s: &Secrets) -> Result<(usize, Option<f64>), SecretsError> {
    let _writes = s.writes.lock().await;
    let now = s.now();
    let mut purged = 0;
    let mut next: Option<f64> = None;
    for kv in s.store.range(SECRETS_PREFIX).await?.kvs {
        let secret: SecretRecord = serde_json::from_slice(&kv.value)?;
        match secret.purge_at {
            Some(at) if at <= now => {
                purge(s, &secret, kv.mod_revision).await?;
                tracing::info!(secret = %secret.arn, "secretsmanager: purged a deleted secret");
                purged += 1;
            }
            Some(at) => next = Some(next.map_or(at, |n: f64| n.min(at))),
            None => {}
        }
    }
    Ok((purged, next))
}

pub(crate) async fn purge_due(s: &Secrets) -> Result<usize, SecretsError> {
    Ok(run(s).await?.0)
}

struct Purge {
    secrets: Weak<Secrets>,
    _source: tokio::sync::watch::Sender<i64>,
}

impl Reconciler for Purge {
    type Key = &'static str;
    type Error = String;

    fn keys(&self) -> Vec<&'static str> {
        vec![KEY]
    }

    fn changed_keys(&self, _revision: i64) -> Vec<&'static str> {
        Vec::new()
    }

    async fn reconcile(&self, _key: &'static str, _trigger: Trigger) -> Result<Action, String> {
        let Some(s) = self.secrets.upgrade() else { return Ok(Action::await_change()) };
        let (purged, next) = run(&s).await.map_err(|e| format!("purging secrets: {e}"))?;
        if purged > 0 {
            tracing::debug!(purged, "secretsmanager: purge done");
        }
        let wait = next.map_or(IDLE, |at| (at - s.now()).clamp(0.0, IDLE));
        Ok(Action::requeue(wait))
    }
}

/// The purge controller.
pub(crate) fn controller(s: &Arc<Secrets>) -> Controller<impl Reconciler<Key = &'static str>> {
    let (tx, source) = tokio::sync::watch::channel(0_i64);
    let purge = Purge { secrets: Arc::downgrade(s), _source: tx };
    Controller::new("secrets-purge", Arc::new(purge), s.clock.clone(), source)
        .with_backoff(Backoff { initial: 5.0, max: 300.0 })
}
