//! Replication status, per image and destination: a JSON record under `/ecr/replstatus/<repo>@<digest>` (the
//! index ignores the kind) mapping `REGION:ACCOUNT` to the destination's state, so DescribeImageReplicationStatus
//! answers the same after a restart. Each change is a compare-and-swap on the record's revision.

use crate::Registry;
use crate::error::Result;
use berth_model::Timestamp;
use berth_model::ecr::ReplicationStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prefix of the status records.
pub(crate) const STATUS_PREFIX: &str = "/ecr/replstatus/";

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
        self.json_record(&key(repo, digest)).await
    }

    /// Sets one destination's state for an image.
    pub(crate) async fn set_replication_state(
        &self,
        repo: &str,
        digest: &str,
        destination: &str,
        state: DestinationState,
    ) -> Result<()> {
        let what = || format!("the replication status of {repo}@{digest}");
        self.update_json_record(&key(repo, digest), what, |record: &mut StatusRecord| {
            record.destinations.insert(destination.to_string(), state.clone());
        })
        .await
    }
}
