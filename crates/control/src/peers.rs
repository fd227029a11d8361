//! Agent liveness shared between several servers on one store.
//!
//! Agents heartbeat to whichever server they talk to, and each server keeps when it last heard each agent in
//! memory ([`crate::agents::AgentHub`]). With several servers, the leader's liveness controller must also know what
//! the others heard, or it would mark every agent connected to a follower as silent, then lost. So each server
//! publishes, every [`SHARE_EVERY_SECONDS`], the agents it heard recently in its own record
//! `/servers/heard/<server id>` (an unfenced write: each server writes only its own key), reads the others', and
//! folds their times into its hub (the later time wins; a time ahead of this server's clock counts as now).
//!
//! Clock skew between servers: a peer's times are on the peer's wall clock, so they are read as ages, not as
//! moments. Each record carries when the peer wrote it (`at`, its clock); the reader notes on its own clock when
//! it first saw that `at` ([`PeerClocks`]) and moves every time of the record by the difference, so an agent the
//! peer heard `d` seconds before writing counts as heard `d` seconds before this server saw the record. A record
//! that stops changing (its server died or is stopped) keeps the moment it was first seen, so its agents age as
//! they should. The error is the record's age when first read (at most [`SHARE_EVERY_SECONDS`] and the read's
//! latency): agents a peer heard look that much fresher, whatever the skew (a server 30 s ahead or behind no longer
//! makes the leader find every agent of the others silent, nor keeps a silent one alive for 30 s).

use crate::Control;
use berth_store::Txn;
use std::collections::BTreeMap;
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

/// When this server first saw each peer's current record: peer id to (the record's `at`, this server's clock then).
#[derive(Debug, Default)]
pub struct PeerClocks {
    seen: std::collections::HashMap<String, (f64, f64)>,
}

impl PeerClocks {
    /// How far to move the times of `heard` to put them on this server's clock, reading it at `now`.
    pub fn shift(&mut self, heard: &Heard, now: f64) -> f64 {
        let entry = self.seen.entry(heard.server.clone()).or_insert((heard.at, now));
        if entry.0 != heard.at {
            *entry = (heard.at, now);
        }
        entry.1 - heard.at
    }
}

/// Shares and merges once: publishes what this server heard within the lost-instance timeout, then folds the other
/// servers' records into the hub, each moved onto this server's clock (`clocks`). Returns how many peers' records
/// were read.
pub async fn share_once(
    control: &Control,
    server_id: &str,
    clocks: &mut PeerClocks,
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
    let mut peers = 0;
    for kv in range.kvs.iter().filter(|kv| kv.key != key(server_id)) {
        match serde_json::from_slice::<Heard>(&kv.value) {
            Ok(heard) => {
                peers += 1;
                let shift = clocks.shift(&heard, now);
                for (instance, at) in heard.agents {
                    control.agents.merge(&instance, (at + shift).min(now));
                }
            }
            Err(error) => tracing::warn!(key = %kv.key, %error, "skipping an unreadable heard-agents record"),
        }
    }
    Ok(peers)
}

/// Shares and merges every [`SHARE_EVERY_SECONDS`] until the process ends (started by a server among several).
pub async fn run(control: Arc<Control>, server_id: String) {
    let mut clocks = PeerClocks::default();
    loop {
        if let Err(error) = share_once(&control, &server_id, &mut clocks).await {
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
        assert_eq!(share_once(&a, "a", &mut PeerClocks::default()).await.unwrap(), 0);
        assert_eq!(share_once(&b, "b", &mut PeerClocks::default()).await.unwrap(), 1);
        assert!(b.agents.is_connected("i-1", timeout), "b knows what a heard");
        assert_eq!(b.agents.last_seen("i-1"), clock.now());
        // An older time never moves a newer one back.
        b.agents.merge("i-1", clock.now() - 100.0);
        assert_eq!(b.agents.last_seen("i-1"), clock.now());
    }

    /// Two servers whose wall clocks are 30 s apart (either way): what one heard counts as just heard on the other,
    /// and an agent neither hears any more goes silent on the other after the agent timeout, not 30 s off it.
    #[tokio::test]
    async fn skewed_servers_agree_on_agent_silence() {
        for skew in [30.0, -30.0] {
            let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
            let clock_a = Arc::new(ManualClock::new(1_000_000.0));
            let clock_b = Arc::new(ManualClock::new(1_000_000.0 + skew));
            let a = Control::start(store.clone(), clock_a.clone(), crate::ControlConfig::default()).await.unwrap();
            let b = Control::start(store.clone(), clock_b.clone(), crate::ControlConfig::default()).await.unwrap();
            let (mut clocks_a, mut clocks_b) = (PeerClocks::default(), PeerClocks::default());
            let timeout = std::time::Duration::from_secs(10);
            let advance = |s: f64| {
                clock_a.advance(s);
                clock_b.advance(s);
            };
            advance(60.0);
            a.agents.touch("i-1");
            share_once(&a, "a", &mut clocks_a).await.unwrap();
            share_once(&b, "b", &mut clocks_b).await.unwrap();
            assert!(b.agents.is_connected("i-1", timeout), "skew {skew}: b knows a heard it just now");
            assert_eq!(b.agents.last_seen("i-1"), clock_b.now(), "skew {skew}");
            // The agent goes quiet; a keeps writing its record, b keeps reading it.
            for _ in 0..6 {
                advance(2.0);
                share_once(&a, "a", &mut clocks_a).await.unwrap();
                share_once(&b, "b", &mut clocks_b).await.unwrap();
            }
            assert!(!b.agents.is_connected("i-1", timeout), "skew {skew}: silent for 12 s on b too");
            assert!(b.agents.is_connected("i-1", std::time::Duration::from_secs(13)), "skew {skew}");
            // A record that stops changing (its server stopped) keeps aging.
            advance(30.0);
            share_once(&b, "b", &mut clocks_b).await.unwrap();
            assert!(!b.agents.is_connected("i-1", std::time::Duration::from_secs(40)), "skew {skew}");
        }
    }

    #[test]
    fn a_record_is_placed_by_when_it_was_first_seen() {
        let mut clocks = PeerClocks::default();
        let heard = |at: f64| Heard { server: "p".into(), at, agents: BTreeMap::new() };
        assert_eq!(clocks.shift(&heard(130.0), 100.0), -30.0);
        // The same record read later: still placed at its first sighting.
        assert_eq!(clocks.shift(&heard(130.0), 105.0), -30.0);
        // A new record.
        assert_eq!(clocks.shift(&heard(132.0), 106.0), -26.0);
    }
}
