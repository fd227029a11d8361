//! Agent liveness shared between several servers on one store.
//!
//! Agents heartbeat to whichever server they talk to, and each server keeps when it last heard each agent in
//! memory ([`crate::agents::AgentHub`]). With several servers, the leader's liveness controller must also know what
//! the others heard, or it would mark every agent connected to a follower as silent, then lost. So each server
//! publishes, every [`SHARE_EVERY_SECONDS`], the agents it heard recently in its own record
//! `/servers/heard/<server id>` (an unfenced write: each server writes only its own key), reads the others', and
//! folds their times into its hub (the later time wins; a time ahead of this server's clock counts as now).
//! Servers' wall clocks must agree to well within the agent timeout (NTP), as ECS's own agents assume.

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

/// Shares and merges once: publishes what this server heard within the lost-instance timeout, then folds the other
/// servers' records into the hub. Returns how many peers' records were read.
pub async fn share_once(control: &Control, server_id: &str) -> Result<usize, berth_store::StoreError> {
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
                for (instance, at) in heard.agents {
                    control.agents.merge(&instance, at.min(now));
                }
            }
            Err(error) => tracing::warn!(key = %kv.key, %error, "skipping an unreadable heard-agents record"),
        }
    }
    Ok(peers)
}

/// Shares and merges every [`SHARE_EVERY_SECONDS`] until the process ends (started by a server among several).
pub async fn run(control: Arc<Control>, server_id: String) {
    loop {
        if let Err(error) = share_once(&control, &server_id).await {
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
        assert_eq!(share_once(&a, "a").await.unwrap(), 0);
        assert_eq!(share_once(&b, "b").await.unwrap(), 1);
        assert!(b.agents.is_connected("i-1", timeout), "b knows what a heard");
        assert_eq!(b.agents.last_seen("i-1"), clock.now());
        // An older time never moves a newer one back.
        b.agents.merge("i-1", clock.now() - 100.0);
        assert_eq!(b.agents.last_seen("i-1"), clock.now());
    }
}
