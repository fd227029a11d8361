//! The embedded store: one SQLite database in WAL mode.
//!
//! One table holds the keys (`kv`), one row of `meta` the store revision. A transaction is one SQLite transaction,
//! so a crash (even `kill -9`) leaves either all of it or none. `synchronous=NORMAL` in WAL mode survives process
//! crashes; a power loss may lose the last few commits but never corrupts the file.
//!
//! Every SQLite call runs on one dedicated OS thread that owns the connection (jobs arrive over a channel, answers
//! go back over a oneshot), not on tokio's blocking pool: client-paced work elsewhere in the process (registry
//! transfers) can starve that pool, and the control plane's store calls must not wait behind it.
//!
//! Opening runs `PRAGMA quick_check`; a file that fails it is refused with [`StoreError::Corrupt`] rather than
//! served, so a damaged database stops the server with a clear message instead of losing records silently.

use crate::watch::{Event, EventKind, WatchHub};
use crate::{Compare, KeyValue, Op, Range, Store, StoreError, Txn, TxnOutcome, Watch, check_key, check_txn};
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

/// A unit of work for the store thread.
type Job = Box<dyn FnOnce(&mut Connection, &WatchHub) + Send>;

/// A store in one SQLite file.
pub struct SqliteStore {
    jobs: Mutex<mpsc::Sender<Job>>,
    hub: Arc<WatchHub>,
    path: PathBuf,
}

fn backend(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend { operation, source: Box::new(e) }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(backend("open"))?;
        quick_check(&conn, path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS kv (
                 key TEXT PRIMARY KEY NOT NULL,
                 value BLOB NOT NULL,
                 create_revision INTEGER NOT NULL,
                 mod_revision INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
             INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0);",
        )
        .map_err(corrupt_or_backend(path, "initialise schema"))?;
        let revision: i64 = conn
            .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |row| row.get(0))
            .map_err(backend("read revision"))?;
        let hub = WatchHub::new(revision, HISTORY_BATCHES, HISTORY_BYTES);
        let (jobs, receiver) = mpsc::channel::<Job>();
        let thread_hub = hub.clone();
        std::thread::Builder::new()
            .name("berth-store".into())
            .spawn(move || {
                let mut conn = conn;
                // Ends when the store (the only sender) is dropped.
                while let Ok(job) = receiver.recv() {
                    job(&mut conn, &thread_hub);
                }
            })
            .map_err(|e| StoreError::Backend { operation: "start the store thread", source: Box::new(e) })?;
        Ok(Self { jobs: Mutex::new(jobs), hub, path: path.to_path_buf() })
    }

    /// Reads every key under `prefix` from the database at `path` without writing to it (a read-only connection,
    /// safe while a server has the store open); for offline inspection such as `berth admin quarantine`.
    pub fn read_only_range(path: &Path, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(backend("open read-only"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(backend("set busy timeout"))?;
        let end = prefix_end(prefix);
        let mut stmt = conn
            .prepare(
                "SELECT key, value, create_revision, mod_revision FROM kv
                 WHERE key >= ?1 AND (?2 IS NULL OR key < ?2) ORDER BY key",
            )
            .map_err(corrupt_or_backend(path, "prepare range"))?;
        let rows = stmt.query_map(params![prefix, end], read_kv).map_err(corrupt_or_backend(path, "range"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(corrupt_or_backend(path, "range row"))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &WatchHub) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn, hub| {
            // The caller may have gone away (its future dropped); the work is done either way.
            let _ = tx.send(f(conn, hub));
        });
        self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// How many recent transactions the watch history keeps at most.
const HISTORY_BATCHES: usize = 10_000;

/// How many bytes of keys and values the watch history keeps at most.
const HISTORY_BYTES: usize = 8 * 1024 * 1024;

/// Runs `PRAGMA quick_check` and refuses a database that fails it.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let check = corrupt_or_backend(path, "quick_check");
    let mut stmt = conn.prepare("PRAGMA quick_check").map_err(&check)?;
    let rows = stmt.query_map([], |row| row.get::<_, String>(0)).map_err(&check)?;
    let problems: Vec<String> = rows.collect::<Result<_, _>>().map_err(&check)?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    let mut detail = problems.into_iter().take(5).collect::<Vec<_>>().join("; ");
    if detail.is_empty() {
        detail = "no result".into();
    }
    Err(StoreError::Corrupt { path: path.to_path_buf(), detail })
}

/// SQLite's "corrupt" and "not a database" errors become [`StoreError::Corrupt`]; anything else (a lock, a full
/// disk) stays a backend error.
fn corrupt_or_backend<'a>(path: &'a Path, operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            StoreError::Corrupt { path: path.to_path_buf(), detail: e.to_string() }
        }
        _ => StoreError::Backend { operation, source: Box::new(e) },
    }
}

fn prefix_end(prefix: &str) -> Option<String> {
    // Keys are printable ASCII, so incrementing the last byte gives the first string past the prefix.
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0x7e {
            bytes.push(last + 1);
            return String::from_utf8(bytes).ok();
        }
    }
    None
}

fn read_kv(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue { key: row.get(0)?, value: row.get(1)?, create_revision: row.get(2)?, mod_revision: row.get(3)? })
}

fn apply(conn: &mut Connection, hub: &WatchHub, txn: Txn) -> Result<TxnOutcome, StoreError> {
    let tx = conn.transaction().map_err(backend("begin"))?;
    for Compare::ModRevision { key, revision } in &txn.compares {
        let actual: i64 = tx
            .query_row("SELECT mod_revision FROM kv WHERE key = ?1", params![key], |row| row.get(0))
            .optional()
            .map_err(backend("compare"))?
            .unwrap_or(0);
        if actual != *revision {
            return Ok(TxnOutcome::Conflict { key: key.clone(), actual_revision: actual });
        }
    }
    let current: i64 = tx
        .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |row| row.get(0))
        .map_err(backend("read revision"))?;
    let revision = current + 1;
    let mut events = Vec::with_capacity(txn.ops.len());
    for op in txn.ops {
        match op {
            Op::Put { key, value } => {
                let create_revision: i64 = tx
                    .query_row("SELECT create_revision FROM kv WHERE key = ?1", params![key], |row| row.get(0))
                    .optional()
                    .map_err(backend("read create revision"))?
                    .unwrap_or(revision);
                tx.execute(
                    "INSERT INTO kv (key, value, create_revision, mod_revision) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision",
                    params![key, value, create_revision, revision],
                )
                .map_err(backend("put"))?;
                events.push(Event {
                    kind: EventKind::Put,
                    kv: KeyValue { key, value, create_revision, mod_revision: revision },
                });
            }
            Op::Delete { key } => {
                let old: Option<i64> = tx
                    .query_row("DELETE FROM kv WHERE key = ?1 RETURNING create_revision", params![key], |row| {
                        row.get(0)
                    })
                    .optional()
                    .map_err(backend("delete"))?;
                if let Some(create_revision) = old {
                    events.push(Event {
                        kind: EventKind::Delete,
                        kv: KeyValue { key, value: Vec::new(), create_revision, mod_revision: revision },
                    });
                }
            }
        }
    }
    tx.execute("UPDATE meta SET value = ?1 WHERE name = 'revision'", params![revision])
        .map_err(backend("bump revision"))?;
    tx.commit().map_err(backend("commit"))?;
    hub.publish(revision, events);
    Ok(TxnOutcome::Committed { revision })
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>> {
        let key = key.to_string();
        Box::pin(async move {
            check_key(&key)?;
            self.blocking(move |conn, _| {
                conn.query_row(
                    "SELECT key, value, create_revision, mod_revision FROM kv WHERE key = ?1",
                    params![key],
                    read_kv,
                )
                .optional()
                .map_err(backend("get"))
            })
            .await
        })
    }

    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<Range, StoreError>> {
        let prefix = prefix.to_string();
        Box::pin(async move {
            self.blocking(move |conn, _| {
                let tx = conn.transaction().map_err(backend("begin range"))?;
                let revision: i64 = tx
                    .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |row| row.get(0))
                    .map_err(backend("read revision"))?;
                let kvs = {
                    let end = prefix_end(&prefix);
                    let mut stmt = tx
                        .prepare(
                            "SELECT key, value, create_revision, mod_revision FROM kv
                             WHERE key >= ?1 AND (?2 IS NULL OR key < ?2) ORDER BY key",
                        )
                        .map_err(backend("prepare range"))?;
                    let rows = stmt.query_map(params![prefix, end], read_kv).map_err(backend("range"))?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(backend("range row"))?
                };
                tx.commit().map_err(backend("end range"))?;
                Ok(Range { kvs, revision })
            })
            .await
        })
    }

    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
        Box::pin(async move {
            check_txn(&txn)?;
            self.blocking(move |conn, hub| apply(conn, hub, txn)).await
        })
    }

    fn watch(&self, prefix: &str, after_revision: i64) -> Result<Watch, StoreError> {
        self.hub.watch(prefix, after_revision)
    }

    fn revision(&self) -> i64 {
        self.hub.last_revision()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end("/a/").as_deref(), Some("/a0"));
        assert_eq!(prefix_end("").as_deref(), None);
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.txn(Txn::new().put("/k", b"v".to_vec())).await.unwrap();
            store.txn(Txn::new().put("/k2", b"w".to_vec())).await.unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.revision(), 2);
        let kv = store.get("/k").await.unwrap().unwrap();
        assert_eq!((kv.value.as_slice(), kv.create_revision, kv.mod_revision), (&b"v"[..], 1, 1));
        // A watch at the reopened revision works; an older one needs a re-list.
        assert!(store.watch("/", 2).is_ok());
        assert!(matches!(store.watch("/", 0), Err(StoreError::Compacted { .. })));
    }

    #[tokio::test]
    async fn a_corrupt_file_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            for i in 0..200 {
                store.txn(Txn::new().put(format!("/k/{i:04}"), vec![b'v'; 500])).await.unwrap();
            }
        }
        // Checkpoint the WAL into the main file, then overwrite a page in the middle of it.
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 4096 * 4, "{}", bytes.len());
        for b in &mut bytes[4096 * 2..4096 * 3] {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        match SqliteStore::open(&path) {
            Err(StoreError::Corrupt { detail, .. }) => assert!(!detail.is_empty()),
            Err(other) => panic!("expected Corrupt, got {other}"),
            Ok(_) => panic!("a corrupt store was opened"),
        }
    }

    #[test]
    fn store_calls_do_not_need_the_blocking_pool() {
        // A runtime whose blocking pool is fully taken by stalled work still gets store answers.
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        runtime.spawn_blocking(move || {
            let _ = hold.recv();
        });
        let s = store.clone();
        let answered = runtime.block_on(async move {
            tokio::time::timeout(std::time::Duration::from_secs(5), s.txn(Txn::new().put("/k", b"v".to_vec()))).await
        });
        release.send(()).unwrap();
        assert!(matches!(answered, Ok(Ok(TxnOutcome::Committed { .. }))), "{answered:?}");
    }
}
