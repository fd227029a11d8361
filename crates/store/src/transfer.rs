//! Moving a store's contents: a backup to a portable file, a restore from one, a copy between two stores (`berth
//! store backup`, `restore`, `migrate`).
//!
//! The backup format is JSON lines: a header `{"format":"berth-store-backup","version":1,"revision":R,"keys":N}`
//! naming the source revision the keys were read at (one consistent read), then one line per key
//! `{"key":..,"value":BASE64,"create_revision":..,"mod_revision":..}` in key order. Revisions are recorded for the
//! reader's information only: a restore writes the keys afresh, so the target gives them its own revisions
//! (watches and caches start from a fresh list anyway). Writes go in transactions of at most
//! [`BATCH_OPS`] keys and [`BATCH_BYTES`] bytes, within etcd's default limits; afterwards every key and value is read
//! back and compared.

use crate::{KeyValue, Store, StoreError, Txn, TxnOutcome};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

/// The `format` of a backup's header line.
pub const BACKUP_FORMAT: &str = "berth-store-backup";

/// The version of the backup format this build writes and reads.
pub const BACKUP_VERSION: u32 = 1;

/// The most keys one restore or copy transaction writes.
pub const BATCH_OPS: usize = 64;

/// The most bytes of keys and values one restore or copy transaction writes (a larger single key goes alone).
pub const BATCH_BYTES: usize = 512 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    revision: i64,
    keys: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    key: String,
    value: String,
    create_revision: i64,
    mod_revision: i64,
}

/// What a backup, restore or copy moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many keys.
    pub keys: usize,
    /// How many bytes of values.
    pub value_bytes: usize,
    /// The source's revision the keys were read at (for a restore: the one the backup names).
    pub source_revision: i64,
    /// The target's revision after the last write (for a backup: the source's).
    pub target_revision: i64,
}

/// Transfer failures.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing the backup file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The target already holds keys.
    #[error("the target store is not empty ({keys} keys, e.g. {example:?}); {hint}")]
    NotEmpty {
        /// How many keys it holds.
        keys: usize,
        /// One of them.
        example: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// The backup file is not one this build reads.
    #[error("line {line} of the backup: {reason}")]
    Format {
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The target does not hold what was written.
    #[error("verification failed: {reason}")]
    Verify {
        /// The first difference found.
        reason: String,
    },
    /// Another writer changed the target while the keys were written.
    #[error("key {key:?} changed in the target during the transfer (is a server running on it?)")]
    Concurrent {
        /// The key.
        key: String,
    },
}

/// Writes every key of `store` to `out`, read at one revision (but the leader key: it belongs to a lease of the
/// running servers, and a copy without its lease would keep every restored server from leading).
pub async fn backup(store: &dyn Store, out: &mut dyn Write) -> Result<Summary, TransferError> {
    let mut range = store.range("").await?;
    range.kvs.retain(|kv| kv.key != crate::leader::LEADER_KEY);
    let io = |source| TransferError::Io { what: "writing the backup", source };
    let header = Header {
        format: BACKUP_FORMAT.into(),
        version: BACKUP_VERSION,
        revision: range.revision,
        keys: range.kvs.len(),
    };
    writeln!(out, "{}", json(&header)).map_err(io)?;
    let mut value_bytes = 0;
    for kv in &range.kvs {
        value_bytes += kv.value.len();
        let line = Line {
            key: kv.key.clone(),
            value: BASE64.encode(&kv.value),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
        };
        writeln!(out, "{}", json(&line)).map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(Summary { keys: range.kvs.len(), value_bytes, source_revision: range.revision, target_revision: range.revision })
}

fn json(value: &impl Serialize) -> String {
    // Plain structs of strings and integers always serialise.
    serde_json::to_string(value).unwrap_or_default()
}

/// Reads a backup from `input` and writes its keys into `store`, which must be empty; then checks them.
pub async fn restore(store: &dyn Store, input: &mut dyn BufRead) -> Result<Summary, TransferError> {
    let (header, kvs) = read_backup(input)?;
    ensure_empty(store, "restore into an empty store (a new SQLite file, or an etcd prefix nothing uses)").await?;
    let target_revision = write_and_verify(store, &kvs).await?;
    let value_bytes = kvs.iter().map(|kv| kv.value.len()).sum();
    Ok(Summary { keys: kvs.len(), value_bytes, source_revision: header.revision, target_revision })
}

/// Copies every key of `from` (read at one revision) into `to`, which must be empty unless `replace` is set, in
/// which case its keys are deleted first; then checks them. The leader key is not copied (see [`backup`]).
pub async fn copy(from: &dyn Store, to: &dyn Store, replace: bool) -> Result<Summary, TransferError> {
    let mut source = from.range("").await?;
    source.kvs.retain(|kv| kv.key != crate::leader::LEADER_KEY);
    if replace {
        clear(to).await?;
    } else {
        ensure_empty(to, "pass --force to replace its contents").await?;
    }
    let target_revision = write_and_verify(to, &source.kvs).await?;
    let value_bytes = source.kvs.iter().map(|kv| kv.value.len()).sum();
    Ok(Summary { keys: source.kvs.len(), value_bytes, source_revision: source.revision, target_revision })
}

fn read_backup(input: &mut dyn BufRead) -> Result<(Header, Vec<KeyValue>), TransferError> {
    let mut lines = input.lines().enumerate();
    let format = |line: usize, reason: String| TransferError::Format { line, reason };
    let header_line = match lines.next() {
        Some((_, line)) => line.map_err(|source| TransferError::Io { what: "reading the backup", source })?,
        None => return Err(format(1, "the file is empty".into())),
    };
    let header: Header = serde_json::from_str(&header_line).map_err(|e| format(1, format!("not a header: {e}")))?;
    if header.format != BACKUP_FORMAT || header.version != BACKUP_VERSION {
        return Err(format(
            1,
            format!(
                "format {:?} version {}; this build reads {BACKUP_FORMAT:?} version {BACKUP_VERSION}",
                header.format, header.version
            ),
        ));
    }
    let mut kvs: Vec<KeyValue> = Vec::with_capacity(header.keys);
    for (index, line) in lines {
        let number = index + 1;
        let line = line.map_err(|source| TransferError::Io { what: "reading the backup", source })?;
        let record: Line = serde_json::from_str(&line).map_err(|e| format(number, e.to_string()))?;
        let value = BASE64.decode(record.value.as_bytes()).map_err(|e| format(number, format!("value: {e}")))?;
        crate::check_key(&record.key).map_err(|e| format(number, e.to_string()))?;
        if kvs.last().is_some_and(|last| last.key >= record.key) {
            return Err(format(number, format!("key {:?} is out of order or repeated", record.key)));
        }
        kvs.push(KeyValue {
            key: record.key,
            value,
            create_revision: record.create_revision,
            mod_revision: record.mod_revision,
        });
    }
    if kvs.len() != header.keys {
        return Err(format(
            kvs.len() + 1,
            format!("the header announces {} keys but the file holds {} (truncated?)", header.keys, kvs.len()),
        ));
    }
    Ok((header, kvs))
}

async fn ensure_empty(store: &dyn Store, hint: &'static str) -> Result<(), TransferError> {
    let range = store.range("").await?;
    match range.kvs.first() {
        None => Ok(()),
        Some(first) => Err(TransferError::NotEmpty { keys: range.kvs.len(), example: first.key.clone(), hint }),
    }
}

/// Deletes every key, each only if unchanged since it was read.
async fn clear(store: &dyn Store) -> Result<(), TransferError> {
    let range = store.range("").await?;
    for chunk in range.kvs.chunks(BATCH_OPS) {
        let mut txn = Txn::new();
        for kv in chunk {
            txn = txn.expect(kv.key.clone(), kv.mod_revision).delete(kv.key.clone());
        }
        if let TxnOutcome::Conflict { key, .. } = store.txn(txn).await? {
            return Err(TransferError::Concurrent { key });
        }
    }
    Ok(())
}

/// Writes `kvs` (each only if still absent) in bounded transactions, then reads everything back and compares.
async fn write_and_verify(store: &dyn Store, kvs: &[KeyValue]) -> Result<i64, TransferError> {
    let mut revision = store.revision();
    let mut start = 0;
    while start < kvs.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < kvs.len() && end - start < BATCH_OPS {
            let size = kvs[end].key.len() + kvs[end].value.len();
            if end > start && bytes + size > BATCH_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        let mut txn = Txn::new();
        for kv in &kvs[start..end] {
            txn = txn.expect(kv.key.clone(), 0).put(kv.key.clone(), kv.value.clone());
        }
        match store.txn(txn).await? {
            TxnOutcome::Committed { revision: committed } => revision = committed,
            TxnOutcome::Conflict { key, .. } => return Err(TransferError::Concurrent { key }),
        }
        start = end;
    }
    verify(store, kvs).await?;
    Ok(revision)
}

async fn verify(store: &dyn Store, expected: &[KeyValue]) -> Result<(), TransferError> {
    let actual = store.range("").await?.kvs;
    if actual.len() != expected.len() {
        return Err(TransferError::Verify {
            reason: format!("{} keys written, the target holds {}", expected.len(), actual.len()),
        });
    }
    for (want, got) in expected.iter().zip(&actual) {
        if want.key != got.key {
            return Err(TransferError::Verify { reason: format!("expected key {:?}, found {:?}", want.key, got.key) });
        }
        if want.value != got.value {
            return Err(TransferError::Verify { reason: format!("the value of {:?} differs", want.key) });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStore, SqliteStore};

    async fn filled() -> MemoryStore {
        let store = MemoryStore::new();
        for i in 0..150 {
            store.txn(Txn::new().put(format!("/ecs/task/{i:03}"), vec![i as u8; 100])).await.unwrap();
        }
        store.txn(Txn::new().put("/big", vec![7; 700 * 1024]).put("/bin", vec![0, 255, 10, 13])).await.unwrap();
        store
    }

    #[tokio::test]
    async fn backup_and_restore_round_trip() {
        let source = filled().await;
        let mut file = Vec::new();
        let backed = backup(&source, &mut file).await.unwrap();
        assert_eq!((backed.keys, backed.source_revision), (152, 151));
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"format":"berth-store-backup","version":1,"revision":151,"keys":152}"#),
            "{text:.80}"
        );
        let dir = tempfile::tempdir().unwrap();
        let target = SqliteStore::open(&dir.path().join("restored.db")).unwrap();
        let restored = restore(&target, &mut file.as_slice()).await.unwrap();
        assert_eq!(restored.keys, 152);
        let (a, b) = (source.range("").await.unwrap().kvs, target.range("").await.unwrap().kvs);
        assert_eq!(
            a.iter().map(|kv| (&kv.key, &kv.value)).collect::<Vec<_>>(),
            b.iter().map(|kv| (&kv.key, &kv.value)).collect::<Vec<_>>()
        );
        // A second restore into the now non-empty target is refused, and writes nothing.
        let before = target.revision();
        assert!(matches!(restore(&target, &mut file.as_slice()).await, Err(TransferError::NotEmpty { keys: 152, .. })));
        assert_eq!(target.revision(), before);
    }

    #[tokio::test]
    async fn a_damaged_backup_is_refused() {
        let mut file = Vec::new();
        backup(&filled().await, &mut file).await.unwrap();
        let text = String::from_utf8(file).unwrap();
        let truncated: String = text.lines().take(10).map(|l| format!("{l}\n")).collect();
        let target = MemoryStore::new();
        let error = restore(&target, &mut truncated.as_bytes()).await.unwrap_err();
        assert!(error.to_string().contains("announces 152 keys"), "{error}");
        let future = text.replacen(r#""version":1"#, r#""version":2"#, 1);
        assert!(matches!(restore(&target, &mut future.as_bytes()).await, Err(TransferError::Format { line: 1, .. })));
        assert!(matches!(restore(&target, &mut &b""[..]).await, Err(TransferError::Format { line: 1, .. })));
        assert_eq!(target.revision(), 0, "nothing was written");
    }

    #[tokio::test]
    async fn copy_refuses_a_non_empty_target_unless_replacing() {
        let source = filled().await;
        let target = MemoryStore::new();
        target.txn(Txn::new().put("/stale", b"old".to_vec())).await.unwrap();
        assert!(matches!(copy(&source, &target, false).await, Err(TransferError::NotEmpty { keys: 1, .. })));
        let copied = copy(&source, &target, true).await.unwrap();
        assert_eq!(copied.keys, 152);
        assert!(target.get("/stale").await.unwrap().is_none());
        assert_eq!(target.range("").await.unwrap().kvs.len(), 152);
    }
}
