//! Signing status, per image and signing profile: a JSON record under `/ecr/signstatus/<repo>@<digest>` (the index
//! ignores the kind) mapping the profile ARN to its state, so DescribeImageSigningStatus answers the same after a
//! restart. Each change is a compare-and-swap on the record's revision.

use crate::Registry;
use crate::error::{RegistryError, Result};
use berth_model::Timestamp;
use berth_model::ecr::SigningStatus;
use berth_store::{Txn, TxnOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prefix of the status records.
pub(crate) const STATUS_PREFIX: &str = "/ecr/signstatus/";

/// How many times a status change is retried when another change wins the race.
const MAX_ATTEMPTS: usize = 16;

/// One profile's signing state for one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileState {
    /// IN_PROGRESS, COMPLETE or FAILED.
    pub status: SigningStatus,
    /// Why it failed (FAILED only): a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// Why it failed (FAILED only): the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The digests of the signature manifests stored (COMPLETE only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
    /// When the state last changed.
    pub updated_at: Timestamp,
}

/// An image's signing record: the state per signing profile ARN.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// The state per profile ARN.
    pub profiles: BTreeMap<String, ProfileState>,
}

pub(crate) fn key(repo: &str, digest: &str) -> String {
    format!("{STATUS_PREFIX}{repo}@{digest}")
}

impl Registry {
    /// The signing record of an image (empty if no signing rule matched it).
    pub async fn signing_status(&self, repo: &str, digest: &str) -> Result<StatusRecord> {
        let key = key(repo, digest);
        match self.store.get(&key).await? {
            Some(kv) => serde_json::from_slice(&kv.value).map_err(|source| RegistryError::Record { key, source }),
            None => Ok(StatusRecord::default()),
        }
    }

    /// Sets one profile's state for an image.
    pub(crate) async fn set_signing_state(
        &self,
        repo: &str,
        digest: &str,
        profile: &str,
        state: ProfileState,
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
            record.profiles.insert(profile.to_string(), state.clone());
            let value =
                serde_json::to_vec(&record).map_err(|source| RegistryError::Record { key: key.clone(), source })?;
            match self.store.txn(Txn::new().expect(key.clone(), revision).put(key.clone(), value)).await? {
                TxnOutcome::Committed { .. } => return Ok(()),
                TxnOutcome::Conflict { .. } => continue,
            }
        }
        Err(RegistryError::Contention { what: format!("the signing status of {repo}@{digest}") })
    }
}
