//! The master key: where it comes from (a 0600 file in the data dir, created on first start, or `BERTH_MASTER_KEY`),
//! the check record that tells a wrong key from the right one, and rotation (re-wrapping every KMS key's material
//! under a new master key, in one transaction, without touching a value).

use crate::MasterKeyError;
use crate::crypto::Key256;
use crate::kms::records::{KEYS_PREFIX, KeyRecord, material_aad};
use berth_store::{SharedStore, Txn, TxnOutcome};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The environment variable an operator may give the master key in (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "BERTH_MASTER_KEY";

/// The key of the check record.
pub const CHECK_KEY: &str = "/kms/master-check";

const CHECK_TEXT: &[u8] = b"berth master key check";
const CHECK_AAD: &[u8] = b"berth:master-check";

/// A known text sealed by the master key: opening it proves a key is the data dir's.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckRecord {
    schema: u32,
    check: String,
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// A file (`--secrets-master-key-file`, default `<data-dir>/master.key`), created 0600 when absent.
    File(PathBuf),
    /// Base64 text the operator gave (`BERTH_MASTER_KEY`); `file` is where a rotation writes the next key.
    Env {
        /// The key text.
        text: String,
        /// The file a rotation writes the new key to.
        file: PathBuf,
    },
}

impl MasterKeySource {
    /// The environment's key if `BERTH_MASTER_KEY` is set and not empty, else `file`.
    pub fn from_env_or_file(env: Option<String>, file: PathBuf) -> Self {
        match env.filter(|t| !t.trim().is_empty()) {
            Some(text) => Self::Env { text, file },
            None => Self::File(file),
        }
    }

    fn name(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Env { .. } => MASTER_KEY_ENV.to_string(),
        }
    }

    fn file(&self) -> &Path {
        match self {
            Self::File(path) | Self::Env { file: path, .. } => path,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MasterKeyError + '_ {
    move |error| MasterKeyError::Io { path: path.display().to_string(), error }
}

/// The rotation's next key, written before the store changes and renamed over the key file after.
fn pending_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Writes a key file readable by its owner only (0600), durably.
fn write_key_file(path: &Path, key: &Key256) -> Result<(), MasterKeyError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(key.to_base64().as_bytes()).map_err(io(path))?;
    file.write_all(b"\n").map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn read_key_file(path: &Path) -> Result<Key256, MasterKeyError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(io(path))?);
    Key256::from_base64(&text).ok_or_else(|| MasterKeyError::Malformed { source_name: path.display().to_string() })
}

async fn check_record(store: &SharedStore) -> Result<Option<(CheckRecord, i64)>, MasterKeyError> {
    match store.get(CHECK_KEY).await? {
        None => Ok(None),
        Some(kv) => serde_json::from_slice(&kv.value)
            .map(|r| Some((r, kv.mod_revision)))
            .map_err(|e| MasterKeyError::Record { key: CHECK_KEY.to_string(), error: e.to_string() }),
    }
}

fn matches(key: &Key256, check: &CheckRecord) -> bool {
    key.open(CHECK_AAD, &check.check).is_some_and(|text| text.as_slice() == CHECK_TEXT)
}

/// The master key for `store`: read (or, for a file that does not exist yet, created), then checked against the
/// store's check record (written on first use). A rotation interrupted after its transaction committed is
/// finished here: the pending `<file>.new` that matches replaces the file.
pub async fn open(store: &SharedStore, source: &MasterKeySource) -> Result<Key256, MasterKeyError> {
    Ok(open_checked(store, source).await?.0)
}

/// [`open`], with the revision of the check record the key matched: a server writes new KMS keys only while the
/// record is still at that revision, so a rotation run under a live server cannot leave keys sealed by the old key.
pub async fn open_checked(store: &SharedStore, source: &MasterKeySource) -> Result<(Key256, i64), MasterKeyError> {
    let key = match source {
        MasterKeySource::Env { text, .. } => Key256::from_base64(text)
            .ok_or_else(|| MasterKeyError::Malformed { source_name: MASTER_KEY_ENV.to_string() })?,
        MasterKeySource::File(path) => {
            if path.exists() {
                read_key_file(path)?
            } else {
                let key = Key256::random();
                write_key_file(path, &key)?;
                tracing::info!(path = %path.display(), "created the secrets master key (keep a copy: without it no secret can be read)");
                key
            }
        }
    };
    match check_record(store).await? {
        Some((check, revision)) if matches(&key, &check) => Ok((key, revision)),
        Some((check, revision)) => {
            let pending = pending_path(source.file());
            if let MasterKeySource::File(path) = source
                && pending.exists()
            {
                let next = read_key_file(&pending)?;
                if matches(&next, &check) {
                    std::fs::rename(&pending, path).map_err(io(path))?;
                    tracing::warn!(path = %path.display(), "finished an interrupted master key rotation");
                    return Ok((next, revision));
                }
            }
            Err(MasterKeyError::Mismatch { source_name: source.name() })
        }
        None => {
            let record = CheckRecord { schema: crate::records::SCHEMA, check: key.seal(CHECK_AAD, CHECK_TEXT) };
            let value = serde_json::to_vec(&record)
                .map_err(|e| MasterKeyError::Record { key: CHECK_KEY.to_string(), error: e.to_string() })?;
            match store.txn(Txn::new().expect(CHECK_KEY, 0).put(CHECK_KEY, value)).await? {
                TxnOutcome::Committed { revision } => Ok((key, revision)),
                TxnOutcome::Conflict { .. } => Err(MasterKeyError::Mismatch { source_name: source.name() }),
            }
        }
    }
}

/// Re-wraps every KMS key's material from `old` to `new` and rewrites the check record, in one transaction (each
/// record compare-and-swapped): a crash leaves the store wholly under one key. Values are not touched (their data
/// keys are wrapped by the KMS keys, which do not change). Returns how many KMS keys were re-wrapped.
pub async fn rewrap(store: &SharedStore, old: &Key256, new: &Key256) -> Result<usize, MasterKeyError> {
    let Some((check, check_revision)) = check_record(store).await? else {
        return Err(MasterKeyError::Record {
            key: CHECK_KEY.to_string(),
            error: "absent: no key was ever used".into(),
        });
    };
    if !matches(old, &check) {
        return Err(MasterKeyError::Mismatch { source_name: "the current key".to_string() });
    }
    let range = store.range(KEYS_PREFIX).await?;
    let mut txn = Txn::new();
    for kv in &range.kvs {
        let record_error = |error: String| MasterKeyError::Record { key: kv.key.clone(), error };
        let mut record: KeyRecord = serde_json::from_slice(&kv.value).map_err(|e| record_error(e.to_string()))?;
        let aad = material_aad(&record.arn);
        let material = old.open(&aad, &record.material).ok_or_else(|| record_error("does not open".into()))?;
        record.material = new.seal(&aad, &material);
        let value = serde_json::to_vec(&record).map_err(|e| record_error(e.to_string()))?;
        txn = txn.expect(kv.key.clone(), kv.mod_revision).put(kv.key.clone(), value);
    }
    let record = CheckRecord { schema: crate::records::SCHEMA, check: new.seal(CHECK_AAD, CHECK_TEXT) };
    let value = serde_json::to_vec(&record)
        .map_err(|e| MasterKeyError::Record { key: CHECK_KEY.to_string(), error: e.to_string() })?;
    txn = txn.expect(CHECK_KEY, check_revision).put(CHECK_KEY, value);
    match store.txn(txn).await? {
        TxnOutcome::Committed { .. } => Ok(range.kvs.len()),
        TxnOutcome::Conflict { key, .. } => Err(MasterKeyError::Record {
            key,
            error: "changed during the rotation (is a server running on this data dir? stop it first)".into(),
        }),
    }
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// KMS keys re-wrapped.
    pub keys: usize,
    /// The file that now holds the new master key.
    pub file: PathBuf,
    /// Whether the old key came from `BERTH_MASTER_KEY` (which the operator must now replace with the file's).
    pub from_env: bool,
}

/// Rotates the master key of a stopped server's store: a new random key is written to `<file>.new` (0600), the
/// store is re-wrapped ([`rewrap`]), then `<file>.new` replaces the key file. If the process dies between the two,
/// the next [`open`] finishes the rename. With the key in `BERTH_MASTER_KEY`, the new key is left in the file and
/// the operator moves it to the variable.
pub async fn rotate(store: &SharedStore, source: &MasterKeySource) -> Result<Rotation, MasterKeyError> {
    let old = open(store, source).await?;
    let new = Key256::random();
    let file = source.file().to_path_buf();
    let pending = pending_path(&file);
    write_key_file(&pending, &new)?;
    let keys = rewrap(store, &old, &new).await?;
    std::fs::rename(&pending, &file).map_err(io(&file))?;
    Ok(Rotation { keys, file, from_env: matches!(source, MasterKeySource::Env { .. }) })
}
