//! IAM's state in memory: every record, loaded from the store at open and written through on every change, with
//! access keys' and sessions' secrets opened (they must be at hand to verify signatures).

use crate::IamError;
use crate::records::{AccessKeyRecord, GroupRecord, PREFIX, PolicyRecord, RoleRecord, SessionRecord, UserRecord};
use crate::service::Sealer;
use berth_store::SharedStore;
use std::collections::BTreeMap;

/// An access key with its opened secret.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The record.
    pub record: AccessKeyRecord,
    /// The secret access key.
    pub secret: String,
}

/// A session with its opened secret.
#[derive(Debug, Clone)]
pub struct SessionEntry {
    /// The record.
    pub record: SessionRecord,
    /// The secret access key.
    pub secret: String,
}

/// Every IAM record, by lowercased name (keys and sessions by id).
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Users.
    pub users: BTreeMap<String, UserRecord>,
    /// Groups.
    pub groups: BTreeMap<String, GroupRecord>,
    /// Roles.
    pub roles: BTreeMap<String, RoleRecord>,
    /// Customer managed policies.
    pub policies: BTreeMap<String, PolicyRecord>,
    /// Access keys.
    pub keys: BTreeMap<String, KeyEntry>,
    /// STS sessions.
    pub sessions: BTreeMap<String, SessionEntry>,
}

/// The context a secret is sealed for: its kind and id, so a sealed value cannot be moved to another record.
pub fn seal_context(kind: &str, id: &str) -> String {
    format!("iam:{kind}:{id}")
}

impl State {
    /// Loads every record under `/iam/`, opening secrets with `sealer`. Sessions already expired at `now` are
    /// left out (and their records deleted by the caller's next write to them; they are refused anyway).
    pub async fn load(store: &SharedStore, sealer: &dyn Sealer, now: i64) -> Result<Self, IamError> {
        let range = store.range(PREFIX).await?;
        let mut state = Self::default();
        for kv in range.kvs {
            let rest = &kv.key[PREFIX.len()..];
            let Some((kind, id)) = rest.split_once('/') else { continue };
            match kind {
                "user" => {
                    state.users.insert(id.to_string(), serde_json::from_slice(&kv.value)?);
                }
                "group" => {
                    state.groups.insert(id.to_string(), serde_json::from_slice(&kv.value)?);
                }
                "role" => {
                    state.roles.insert(id.to_string(), serde_json::from_slice(&kv.value)?);
                }
                "policy" => {
                    state.policies.insert(id.to_string(), serde_json::from_slice(&kv.value)?);
                }
                "key" => {
                    let record: AccessKeyRecord = serde_json::from_slice(&kv.value)?;
                    let secret = open(sealer, "key", &record.id, &record.secret_sealed).await?;
                    state.keys.insert(id.to_string(), KeyEntry { record, secret });
                }
                "session" => {
                    let record: SessionRecord = serde_json::from_slice(&kv.value)?;
                    if record.expires <= now {
                        continue;
                    }
                    let secret = open(sealer, "session", &record.id, &record.secret_sealed).await?;
                    state.sessions.insert(id.to_string(), SessionEntry { record, secret });
                }
                other => tracing::warn!(key = %kv.key, kind = other, "iam: unknown record kind left alone"),
            }
        }
        Ok(state)
    }
}

async fn open(sealer: &dyn Sealer, kind: &str, id: &str, sealed: &str) -> Result<String, IamError> {
    let bytes = sealer
        .open(&seal_context(kind, id), sealed)
        .await
        .map_err(|e| IamError::internal(&format!("the secret of {kind} {id} does not open: {e}")))?;
    String::from_utf8(bytes).map_err(|e| IamError::internal(&e))
}
