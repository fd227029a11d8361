//! Each server's advertisement of the schema versions it reads, `/servers/schema/<server id>`, written every
//! [`SHARE_EVERY_SECONDS`] (an unfenced write: each server writes only its own key), and the version choice made
//! from everyone's ([`super::choice`]) installed for [`crate::stored::encode`].

use super::choice::{Advert, Choice, Peers, choose};
use berth_model::clock::Clock;
use berth_store::{SharedStore, StoreError, Txn};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where servers' schema advertisements live.
pub const PREFIX: &str = "/servers/schema/";

/// How often a server advertises and chooses again (seconds).
pub const SHARE_EVERY_SECONDS: f64 = crate::peers::SHARE_EVERY_SECONDS;

/// The advertisement key of `server_id`.
pub fn key(server_id: &str) -> String {
    format!("{PREFIX}{server_id}")
}

fn backend(operation: &'static str, e: serde_json::Error) -> StoreError {
    StoreError::Backend { operation, source: Box::new(e) }
}

/// Advertises what this process reads, reads everyone's advertisement and the live servers that have none, and
/// chooses what to write (not installed: see [`join`] and [`run`]).
pub async fn share_once(store: &SharedStore, clock: &dyn Clock, server_id: &str) -> Result<Choice, StoreError> {
    let now = clock.now();
    let own = super::all_reads();
    let ours = Advert {
        server: server_id.to_string(),
        at: now,
        reads: own.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    };
    let value = serde_json::to_vec(&ours).map_err(|e| backend("encode the schema advertisement", e))?;
    store.txn(Txn::new().put(key(server_id), value)).await?;
    let mut adverts = Vec::new();
    for kv in store.range(PREFIX).await?.kvs {
        match serde_json::from_slice::<Advert>(&kv.value) {
            Ok(advert) => adverts.push(advert),
            Err(error) => tracing::warn!(key = %kv.key, %error, "skipping an unreadable schema advertisement"),
        }
    }
    // Servers of the release before advertisements: live (their heard-agents record is fresh) but silent.
    let mut silent = Vec::new();
    for kv in store.range(crate::peers::PREFIX).await?.kvs {
        let Ok(heard) = serde_json::from_slice::<crate::peers::Heard>(&kv.value) else { continue };
        if heard.server != server_id
            && now - heard.at <= super::choice::EXPIRY_SECONDS
            && !adverts.iter().any(|a| a.server == heard.server)
        {
            silent.push(heard.server);
        }
    }
    Ok(choose(crate::stored::KINDS, &own, Peers { adverts: &adverts, silent: &silent }, now))
}

/// Installs a choice, logging what changed from `before` (at the start: the kinds a rolling upgrade concerns, those
/// this build can write at an older version) and who holds writes back or is too old.
fn install(choice: &Choice, before: &BTreeMap<&'static str, u32>) {
    let concerned = |kind: &str| crate::stored::KINDS.iter().any(|k| k.kind == kind && k.oldest_written < k.schema);
    for (kind, version) in &choice.writes {
        let changed = match before.get(kind) {
            Some(old) => old != version,
            None => concerned(kind),
        };
        if changed {
            let held_by: Vec<&str> =
                choice.held_by.iter().filter(|h| h.kind == *kind).map(|h| h.server.as_str()).collect();
            tracing::info!(
                kind = %kind,
                version,
                held_by = %held_by.join(","),
                "writing {kind} records at schema version {version}"
            );
        }
    }
    for holder in &choice.too_old {
        tracing::warn!(
            server = %holder.server,
            kind = %holder.kind,
            reads = holder.reads,
            "server {} reads {} records only up to schema version {}, older than this Berth can write: upgrade it \
             (rolling upgrades go one release at a time)",
            holder.server,
            holder.kind,
            holder.reads
        );
    }
    super::install_writes(choice.writes.clone());
}

/// Joins the servers on the store before this one writes anything: advertises, chooses, installs.
pub async fn join(store: &SharedStore, clock: &dyn Clock, server_id: &str) -> Result<Choice, StoreError> {
    let choice = share_once(store, clock, server_id).await?;
    install(&choice, &BTreeMap::new());
    Ok(choice)
}

/// Advertises and chooses again every [`SHARE_EVERY_SECONDS`] until the process ends.
pub async fn run(store: SharedStore, clock: Arc<dyn Clock>, server_id: String, mut last: Choice) {
    loop {
        let next = clock.now() + SHARE_EVERY_SECONDS;
        clock.sleep_until(next).await;
        match share_once(&store, clock.as_ref(), &server_id).await {
            Ok(choice) => {
                install(&choice, &last.writes);
                last = choice;
            }
            Err(error) => tracing::warn!(%error, "advertising this server's schema versions failed; retrying"),
        }
    }
}

/// Removes this server's advertisement and heard-agents record when it stops, so the others stop counting it now
/// rather than when the records expire.
pub async fn withdraw(store: &SharedStore, server_id: &str) {
    let txn = Txn::new().delete(key(server_id)).delete(crate::peers::key(server_id));
    if let Err(error) = store.txn(txn).await {
        tracing::warn!(%error, "could not withdraw this server's schema advertisement; it expires on its own");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::ManualClock;

    /// Two servers' advertisements through a real store: the second sees the first, and a stopped one is gone.
    #[tokio::test]
    async fn servers_see_each_other_and_a_stopped_one_withdraws() {
        let store: SharedStore = Arc::new(berth_store::MemoryStore::new());
        let clock = ManualClock::new(1_000.0);
        let first = share_once(&store, &clock, "a").await.unwrap();
        assert_eq!(first.writes["task"], 3);
        // A server of the previous release (reading tasks up to 2) advertises by hand.
        let old = Advert { server: "b".into(), at: 1_000.0, reads: [("task".to_string(), 2)].into() };
        store.txn(Txn::new().put(key("b"), serde_json::to_vec(&old).unwrap())).await.unwrap();
        let held = share_once(&store, &clock, "a").await.unwrap();
        assert_eq!(held.writes["task"], 2);
        withdraw(&store, "b").await;
        assert!(store.get(&key("b")).await.unwrap().is_none());
        assert_eq!(share_once(&store, &clock, "a").await.unwrap().writes["task"], 3);
        // A live server with a heard-agents record and no advertisement is of the release before them.
        let heard = crate::peers::Heard { server: "c".into(), at: 1_000.0, agents: BTreeMap::new() };
        store.txn(Txn::new().put(crate::peers::key("c"), serde_json::to_vec(&heard).unwrap())).await.unwrap();
        assert_eq!(share_once(&store, &clock, "a").await.unwrap().writes["task"], 2);
        clock.advance(super::super::choice::EXPIRY_SECONDS + 1.0);
        assert_eq!(share_once(&store, &clock, "a").await.unwrap().writes["task"], 3, "c died");
    }
}
