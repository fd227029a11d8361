//! Replication status, per image and destination: a JSON record under `/ecr/replstatus/<repo>@<digest>` (the
//! index ignores the kind) mapping `REGION:ACCOUNT` to the destination's state, so DescribeImageReplicationStatus
//! answers the same after a restart. Each change is a compare-and-swap on the record's revision.

use crate::Registry;
use crate::error::{RegistryError, Result};
use berth_model::Timestamp;
use berth_model::ecr::ReplicationStatus;
use berth_store::{Txn, TxnOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prefix of the status records.
pub(crate) const STATUS_PREFIX: &str = "/ecr/replstatus/";

/// How many times a status change is retried when another change wins the race.
const MAX_ATTEMPTS: usize = 16;

/// One destination's replication state for one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationState {
    /// IN_PROGRESS, COMPLETE or FAILED.
    pub status: ReplicationStatus,
    /// Why the last attempt failed (kept while retrying, the final reason when FAILED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The attempts made so far.
    #[serde(default)]
    pub attempts: u32,
    /// When the state last changed.
    pub updated_at: Timestamp,
}

/// An image's replication record: the state per destination (`REGION:ACCOUNT`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// The state per destination.
    pub destinations: BTreeMap<String, DestinationState>,
}

fn key(repo: &str, digest: &str) -> String {
    format!("{STATUS_PREFIX}{repo}@{digest}")
}

impl Registry {
    /// The replication record of an image (empty if it was never replicated).
    pub async fn replication_status(&self, repo: &str, digest: &str) -> Result<StatusRecord> {
        let key = key(repo, digest);
        match self.store.get(&key).await? {
            Some(kv) => serde_json::from_slice(&kv.value).map_err(|source| RegistryError::Record { key, source }),
            None => Ok(StatusRecord::default()),
        }
    }

    /// Sets one destination's state for an image.
    pub(crate) async fn set_replication_state(
        &self,
        repo: &str,
        digest: &str,
        destination: &str,
        state: DestinationState,
    ) -> Result<()> {
        let key = key(repo, digest);
        for _ in 0..MAX_ATTEMPTS {
            let (mut record, revision) = match self.store.get(&key).await? {
                Some(kv) => (
                    serde_json::from_slice::<StatusRecord>(&kv.value)
                        .map_err(|source| RegistryError::Record { key: key.clone(), source })?,
                    kv.mod_revision,
                ),
                None => (StatusRecord::default(), 0),
            };
            record.destinations.insert(destination.to_string(), state.clone());
            let value =
                serde_json::to_vec(&record).map_err(|source| RegistryError::Record { key: key.clone(), source })?;
            match self.store.txn(Txn::new().expect(key.clone(), revision).put(key.clone(), value)).await? {
                TxnOutcome::Committed { .. } => return Ok(()),
                TxnOutcome::Conflict { .. } => continue,
            }
        }
        Err(RegistryError::Contention { what: format!("the replication status of {repo}@{digest}") })
    }
}
