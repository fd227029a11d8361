//! Agent liveness shared between several servers on one store.
//!
//! Agents heartbeat to whichever server they talk to, and each server keeps when it last heard each agent in
//! memory ([`crate::agents::AgentHub`]). With several servers, the leader's liveness controller must also know what
//! the others heard, or it would mark every agent connected to a follower as silent, then lost. So each server
//! publishes, every [`SHARE_EVERY_SECONDS`], the agents it heard recently in its own record
//! `/servers/heard/<server id>` (an unfenced write: each server writes only its own key), reads the others', and
//! folds their times into its hub (the later time wins).
//!
//! No two servers' clocks are compared: a peer's record says how long before its own `at` it heard each agent (a
//! difference on the peer's clock), and the reader places that age before the moment it first saw that version of
//! the record (on its own clock). A server whose clock is off by minutes therefore neither makes agents look silent
//! (and lost) to the leader nor keeps them alive; a record that stops changing (its server died) ages on the
//! reader's clock from when it was first seen. What the reader gains is at most one sharing period of freshness.

use crate::Control;
use berth_model::Timestamp;
use berth_store::Txn;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where servers' heard-agents records live.
pub const PREFIX: &str = "/servers/heard/";

/// How often a server shares what it heard and reads the others' (seconds); well under the agent timeout.
pub const SHARE_EVERY_SECONDS: f64 = 2.0;

/// One server's record: when it last heard each agent (container instance id to wall-clock seconds).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Heard {
    /// The server's id.
    pub server: String,
    /// When it wrote the record (its clock).
    pub at: f64,
    /// Container instance id to when the server last heard its agent.
    pub agents: BTreeMap<String, f64>,
}

/// The record key of `server_id`.
pub fn key(server_id: &str) -> String {
    format!("{PREFIX}{server_id}")
}

/// When this server first saw each peer's record at its current revision (its own clock): the reference the peer's
/// ages are placed before.
#[derive(Debug, Default)]
pub struct Sightings {
    /// Record key to (mod revision, when first seen at it).
    seen: HashMap<String, (i64, Timestamp)>,
}

impl Sightings {
    /// When the record `key` at `mod_revision` was first seen, `now` if it is new or changed since the last look.
    fn first_seen(&mut self, key: &str, mod_revision: i64, now: Timestamp) -> Timestamp {
        let entry = self.seen.entry(key.to_string()).or_insert((mod_revision, now));
        if entry.0 != mod_revision {
            *entry = (mod_revision, now);
        }
        entry.1
    }

    /// Forgets records that are gone.
    fn retain(&mut self, present: &[&str]) {
        self.seen.retain(|key, _| present.contains(&key.as_str()));
    }
}

/// When a peer heard an agent, on this server's clock: the age the peer gives (its `at` minus when it heard the
/// agent, both on its clock; never negative) before the moment this server first saw the record.
fn heard_here(record_at: f64, heard_at: f64, first_seen: Timestamp) -> Timestamp {
    first_seen - (record_at - heard_at).max(0.0)
}

/// Shares and merges once: publishes what this server heard within the lost-instance timeout, then folds the other
/// servers' records into the hub. Returns how many peers' records were read.
pub async fn share_once(
    control: &Control,
    server_id: &str,
    sightings: &mut Sightings,
) -> Result<usize, berth_store::StoreError> {
    let now = control.clock.now();
    let horizon = now - 2.0 * control.config.lost_instance_timeout.as_secs_f64();
    let ours = Heard { server: server_id.to_string(), at: now, agents: control.agents.heard_since(horizon) };
    let value = serde_json::to_vec(&ours).map_err(|e| berth_store::StoreError::Backend {
        operation: "encode the heard-agents record",
        source: Box::new(e),
    })?;
    control.store.txn(Txn::new().put(key(server_id), value)).await?;
    let range = control.store.range(PREFIX).await?;
    let now = control.clock.now();
    sightings.retain(&range.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>());
    let mut peers = 0;
    for kv in range.kvs.iter().filter(|kv| kv.key != key(server_id)) {
        match serde_json::from_slice::<Heard>(&kv.value) {
            Ok(heard) => {
                peers += 1;
                let first_seen = sightings.first_seen(&kv.key, kv.mod_revision, now);
                for (instance, at) in heard.agents {
                    control.agents.merge(&instance, heard_here(heard.at, at, first_seen).min(now));
                }
            }
            Err(error) => tracing::warn!(key = %kv.key, %error, "skipping an unreadable heard-agents record"),
        }
    }
    Ok(peers)
}

/// Shares and merges every [`SHARE_EVERY_SECONDS`] until the process ends (started by a server among several).
pub async fn run(control: Arc<Control>, server_id: String) {
    let mut sightings = Sightings::default();
    loop {
        if let Err(error) = share_once(&control, &server_id, &mut sightings).await {
            tracing::warn!(%error, "sharing agent liveness with the other servers failed; retrying");
        }
        let next = control.clock.now() + SHARE_EVERY_SECONDS;
        control.clock.sleep_until(next).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::{Clock, ManualClock};

    /// Two control planes on one store: an agent heard only by the first counts as connected on the second once
    /// both have shared.
    #[tokio::test]
    async fn what_one_server_heard_reaches_the_other() {
        let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
        let clock = Arc::new(ManualClock::new(1_000_000.0));
        let a = Control::start(store.clone(), clock.clone(), crate::ControlConfig::default()).await.unwrap();
        let b = Control::start(store.clone(), clock.clone(), crate::ControlConfig::default()).await.unwrap();
        clock.advance(60.0);
        a.agents.touch("i-1");
        let timeout = std::time::Duration::from_secs(10);
        assert!(!b.agents.is_connected("i-1", timeout), "b has not heard it");
        assert_eq!(share_once(&a, "a", &mut Sightings::default()).await.unwrap(), 0);
        assert_eq!(share_once(&b, "b", &mut Sightings::default()).await.unwrap(), 1);
        assert!(b.agents.is_connected("i-1", timeout), "b knows what a heard");
        assert_eq!(b.agents.last_seen("i-1"), clock.now());
        // An older time never moves a newer one back.
        b.agents.merge("i-1", clock.now() - 100.0);
        assert_eq!(b.agents.last_seen("i-1"), clock.now());
    }

    /// A clock that is `offset` seconds off another one (a skewed server).
    struct Skewed(Arc<ManualClock>, f64);

    impl Clock for Skewed {
        fn now(&self) -> berth_model::Timestamp {
            self.0.now() + self.1
        }
        fn sleep_until(&self, at: berth_model::Timestamp) -> berth_model::clock::Sleep {
            self.0.sleep_until(at - self.1)
        }
        fn monotonic(&self) -> tokio::time::Instant {
            self.0.monotonic()
        }
    }

    /// Servers whose clocks are 45 s apart: what the one behind heard does not look 45 s old (and its agents
    /// silent, then lost) to the one ahead, nor the other way round; a record that stops changing ages.
    #[tokio::test]
    async fn a_skewed_clock_neither_silences_nor_keeps_agents_alive() {
        let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
        let clock = Arc::new(ManualClock::new(1_000_000.0));
        let behind: Arc<dyn Clock> = Arc::new(Skewed(clock.clone(), -45.0));
        let a = Control::start(store.clone(), behind, crate::ControlConfig::default()).await.unwrap();
        let b = Control::start(store.clone(), clock.clone(), crate::ControlConfig::default()).await.unwrap();
        let ahead: Arc<dyn Clock> = Arc::new(Skewed(clock.clone(), 45.0));
        let c = Control::start(store.clone(), ahead, crate::ControlConfig::default()).await.unwrap();
        let (mut sa, mut sb, mut sc) = (Sightings::default(), Sightings::default(), Sightings::default());
        clock.advance(60.0);
        a.agents.touch("i-a");
        c.agents.touch("i-c");
        clock.advance(1.0);
        share_once(&a, "a", &mut sa).await.unwrap();
        share_once(&c, "c", &mut sc).await.unwrap();
        assert_eq!(share_once(&b, "b", &mut sb).await.unwrap(), 2);
        let timeout = std::time::Duration::from_secs(10);
        assert!(b.agents.is_connected("i-a", timeout), "heard 1 s ago by a server 45 s behind");
        assert!((b.agents.last_seen("i-a") - (clock.now() - 1.0)).abs() < 1e-6);
        assert!((b.agents.last_seen("i-c") - (clock.now() - 1.0)).abs() < 1e-6, "not 44 s in the future");
        // a and c die: their records stop changing and age on b's clock.
        clock.advance(30.0);
        share_once(&b, "b", &mut sb).await.unwrap();
        assert!(!b.agents.is_connected("i-a", timeout));
        assert!(!b.agents.is_connected("i-c", timeout), "a server ahead does not keep its agents alive");
    }

    #[test]
    fn an_age_is_placed_before_the_first_sighting() {
        assert_eq!(heard_here(500.0, 497.0, 1_000.0), 997.0);
        assert_eq!(heard_here(500.0, 503.0, 1_000.0), 1_000.0, "a time after the record's own counts as its time");
        let mut s = Sightings::default();
        assert_eq!(s.first_seen("k", 7, 10.0), 10.0);
        assert_eq!(s.first_seen("k", 7, 12.0), 10.0, "same revision: first sighting kept");
        assert_eq!(s.first_seen("k", 8, 14.0), 14.0);
        s.retain(&[]);
        assert_eq!(s.first_seen("k", 8, 16.0), 16.0, "forgotten once gone");
    }
}
