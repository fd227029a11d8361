//! How the three APIs keep their records in `berth_store`: JSON (schema 1) under `/kms/`, `/secrets/` and `/ssm/`,
//! names percent-encoded in keys. Values are never stored in clear: a record holds [`crate::crypto::Envelope`]s.

use crate::SecretsError;
use berth_store::{SharedStore, Txn, TxnOutcome};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Serialize, de::DeserializeOwned};

/// The schema version written in every record.
pub const SCHEMA: u32 = 1;

const NAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// A name as it appears in a key.
pub fn encode_name(name: &str) -> String {
    utf8_percent_encode(name, NAME).to_string()
}

/// Reads one record and its revision.
pub async fn get<T: DeserializeOwned>(store: &SharedStore, key: &str) -> Result<Option<(T, i64)>, SecretsError> {
    match store.get(key).await? {
        Some(kv) => Ok(Some((serde_json::from_slice(&kv.value)?, kv.mod_revision))),
        None => Ok(None),
    }
}

/// Reads every record under a prefix, in key order.
pub async fn list<T: DeserializeOwned>(store: &SharedStore, prefix: &str) -> Result<Vec<(String, T)>, SecretsError> {
    let range = store.range(prefix).await?;
    range.kvs.into_iter().map(|kv| Ok((kv.key, serde_json::from_slice(&kv.value)?))).collect()
}

/// Commits a transaction; `false` on a conflict (a concurrent write: writes are serialized, so it is a bug or
/// another server on the same store).
pub async fn commit(store: &SharedStore, txn: Txn) -> Result<bool, SecretsError> {
    Ok(matches!(store.txn(txn).await?, TxnOutcome::Committed { .. }))
}

/// Commits a transaction that must not conflict.
pub async fn commit_or_conflict(store: &SharedStore, txn: Txn) -> Result<(), SecretsError> {
    if commit(store, txn).await? {
        Ok(())
    } else {
        Err(SecretsError::internal("InternalServiceError", &"a concurrent write changed the record; retry"))
    }
}

/// Serializes a record.
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, SecretsError> {
    Ok(serde_json::to_vec(record)?)
}

/// One page of `items` after `token` (an index this server issued) of `size`; the next token if more follow.
pub fn page<T>(items: Vec<T>, token: Option<&str>, size: usize) -> Option<(Vec<T>, Option<String>)> {
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t.strip_prefix("berth-")?.parse::<usize>().ok()?,
    };
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let next = (start + size < total).then(|| format!("berth-{}", start + size));
    Some((items, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_printable_in_keys_and_pages_continue() {
        assert_eq!(encode_name("/a/b c"), "%2Fa%2Fb%20c");
        assert_eq!(encode_name("db-pass_1.x"), "db-pass_1.x");
        let (first, next) = page((0..5).collect::<Vec<_>>(), None, 2).unwrap();
        assert_eq!((first, next.as_deref()), (vec![0, 1], Some("berth-2")));
        let (last, next) = page((0..5).collect::<Vec<_>>(), Some("berth-4"), 2).unwrap();
        assert_eq!((last, next), (vec![4], None));
        assert!(page((0..5).collect::<Vec<_>>(), Some("bogus"), 2).is_none());
    }
}
