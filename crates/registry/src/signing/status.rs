//! Signing status, per image and signing profile: a JSON record under `/ecr/signstatus/<repo>@<digest>` (the index
//! ignores the kind) mapping the profile ARN to its state, so DescribeImageSigningStatus answers the same after a
//! restart. Each change is a compare-and-swap on the record's revision.

use crate::Registry;
use crate::error::Result;
use berth_model::Timestamp;
use berth_model::ecr::SigningStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prefix of the status records.
pub(crate) const STATUS_PREFIX: &str = "/ecr/signstatus/";

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
        self.json_record(&key(repo, digest)).await
    }

    /// Sets one profile's state for an image.
    pub(crate) async fn set_signing_state(
        &self,
        repo: &str,
        digest: &str,
        profile: &str,
        state: ProfileState,
    ) -> Result<()> {
        let what = || format!("the signing status of {repo}@{digest}");
        self.update_json_record(&key(repo, digest), what, |record: &mut StatusRecord| {
            record.profiles.insert(profile.to_string(), state.clone());
        })
        .await
    }
}
