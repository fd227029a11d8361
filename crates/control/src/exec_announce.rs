//! Exec announcements through the store, so that a session reaches its agent whichever server the agent streams
//! from.
//!
//! A session lives in the memory of the server that issued it ([`crate::exec::ExecSessions`]): its client's stream
//! waits there. When the client arrives, that server writes the announcement to `/exec/announced/<instance
//! id>/<session id>`; every server watches the prefix ([`run`]) and queues what it sees for the named instance, and
//! whichever server holds that agent's desired-state stream hands it over. The agent dials the servers it knows in
//! turn until one admits it: only the issuing server holds the session (`agent_dial` refuses it elsewhere). The
//! issuing server deletes the key once the agent dialled or the wait ended; a queued announcement that nobody takes
//! expires with the session's token lifetime.
//!
//! One path for one server and for several: on SQLite the write and the watch are local.

use crate::exec::ExecGrant;
use crate::{Control, ControlError, Result};
use berth_model::Timestamp;
use berth_model::agent::ExecStart;
use berth_model::clock::Clock;
use berth_store::{EventKind, StoreError, Txn};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Where announcements live.
pub const PREFIX: &str = "/exec/announced/";

/// How long the watch waits before it resumes after the store failed it.
const RESUME_AFTER: Duration = Duration::from_millis(500);

/// One stored announcement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    /// The container instance whose agent must dial back.
    pub instance_id: String,
    /// What the agent is told.
    pub start: ExecStart,
    /// When it was written (the writer's clock; only for expiring leftovers).
    pub at: Timestamp,
}

/// The key of a session's announcement.
pub fn key(instance_id: &str, session_id: &str) -> String {
    format!("{PREFIX}{instance_id}/{session_id}")
}

/// The (instance id, session id) a key names.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(PREFIX)?.split_once('/')
}

impl Control {
    /// Announces a claimed session to its instance's agent, through the store (see the module doc).
    pub async fn announce_exec(&self, grant: &ExecGrant, tty: bool, size: Option<(u16, u16)>) -> Result<()> {
        let announcement = Announcement {
            instance_id: grant.instance_id.clone(),
            start: grant.start(tty, size),
            at: self.clock.now(),
        };
        // An announcement is plain data: encoding it cannot fail.
        let value = serde_json::to_vec(&announcement).unwrap_or_default();
        let key = key(&grant.instance_id, &grant.session_id);
        self.store.txn(Txn::new().put(key, value)).await.map_err(ControlError::store("announcing an exec session"))?;
        Ok(())
    }

    /// Removes a session's announcement (its agent dialled, or the wait is over). Failures are only logged: a
    /// leftover expires where it is queued.
    pub async fn retract_exec(&self, grant: &ExecGrant) {
        let key = key(&grant.instance_id, &grant.session_id);
        if let Err(error) = self.store.txn(Txn::new().delete(key)).await {
            tracing::warn!(session = %grant.session_id, %error, "could not remove an exec announcement");
        }
    }
}

/// Follows the announcements in the store until the process ends, queueing each for its instance's agent stream
/// (on every server) and dropping it from the queue when it is removed. Resumes after a store failure; an
/// announcement missed meanwhile times out for its client, which may ask again.
pub async fn run(control: Arc<Control>) {
    let mut from = control.store.revision() + 1;
    loop {
        let mut watch = match control.store.watch(PREFIX, from) {
            Ok(watch) => watch,
            Err(error) => {
                tracing::warn!(%error, "cannot watch exec announcements; retrying");
                tokio::time::sleep(RESUME_AFTER).await;
                from = control.store.revision() + 1;
                continue;
            }
        };
        loop {
            match watch.next().await {
                Ok((revision, events)) => {
                    from = revision + 1;
                    for event in events {
                        apply(&control, event.kind, &event.kv.key, &event.kv.value);
                    }
                }
                Err(error) => {
                    if !matches!(error, StoreError::Compacted { .. }) {
                        tracing::warn!(%error, "the exec announcement watch ended; resuming");
                        tokio::time::sleep(RESUME_AFTER).await;
                    } else {
                        from = control.store.revision() + 1;
                    }
                    break;
                }
            }
        }
    }
}

/// Folds one change of the prefix into this server's queue.
fn apply(control: &Control, kind: EventKind, key: &str, value: &[u8]) {
    match kind {
        EventKind::Put => match serde_json::from_slice::<Announcement>(value) {
            Ok(announcement) => control.exec_sessions().deliver(&announcement.instance_id, announcement.start),
            Err(error) => tracing::warn!(%key, %error, "skipping an unreadable exec announcement"),
        },
        EventKind::Delete => {
            if let Some((instance_id, session_id)) = parse_key(key) {
                control.exec_sessions().withdraw(instance_id, session_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::clock::ManualClock;

    fn grant(session: &str) -> ExecGrant {
        ExecGrant {
            session_id: session.into(),
            principal: "AKIA".into(),
            cluster: "default".into(),
            instance_id: "i-1".into(),
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/default/t".into(),
            container_name: "app".into(),
            command: "echo hi".into(),
            argv: vec!["echo".into(), "hi".into()],
        }
    }

    #[test]
    fn keys_name_the_instance_and_the_session() {
        assert_eq!(key("i-1", "s-1"), "/exec/announced/i-1/s-1");
        assert_eq!(parse_key("/exec/announced/i-1/s-1"), Some(("i-1", "s-1")));
        assert_eq!(parse_key("/elsewhere/i-1/s-1"), None);
    }

    /// Two control planes on one store: a session announced by one is queued on the other (where the agent
    /// streams), handed out once, and withdrawn from every queue when its announcement is removed.
    #[tokio::test]
    async fn an_announcement_reaches_every_server_and_is_withdrawn_everywhere() {
        let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
        let clock = Arc::new(ManualClock::new(1_000_000.0));
        let a = Control::start(store.clone(), clock.clone(), crate::ControlConfig::default()).await.unwrap();
        let b = Control::start(store.clone(), clock.clone(), crate::ControlConfig::default()).await.unwrap();
        tokio::spawn(run(a.clone()));
        tokio::spawn(run(b.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await; // both watches are up

        let mut changes = b.exec_sessions().subscribe();
        a.announce_exec(&grant("s-1"), true, Some((24, 80))).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), changes.changed()).await.expect("b is told").unwrap();
        let handed = b.exec_sessions().take_announced("i-1");
        assert_eq!(handed.len(), 1);
        assert_eq!((handed[0].session_id.as_str(), handed[0].tty, handed[0].size), ("s-1", true, Some((24, 80))));
        assert_eq!(handed[0].command, ["echo", "hi"]);
        assert!(b.exec_sessions().take_announced("i-1").is_empty(), "handed out once");

        // Removed before anyone took it: gone from a's queue too.
        a.announce_exec(&grant("s-2"), false, None).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), changes.changed()).await.expect("b is told").unwrap();
        a.retract_exec(&grant("s-2")).await;
        let gone = async {
            while b.exec_sessions().has_announced("i-1") {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), gone).await.expect("withdrawn from b's queue");
        assert!(store.range(PREFIX).await.unwrap().kvs.is_empty(), "nothing left in the store");
    }
}
