//! The highly available store: Berth's keys in an etcd cluster, through the v3 API (gRPC, `etcd-client`).
//!
//! The [`Store`] trait is etcd's data model, so the mapping is direct: a read is a range (paged, every page pinned
//! to the first page's revision), a transaction is one etcd transaction (see [`txn`]), a watch is one etcd watch
//! stream (see [`watch`]). Revisions are etcd's own, shared by the whole etcd cluster: with a key prefix, several
//! installations share one etcd and each sees gaps in its revisions where the others wrote (the trait allows it).
//! [`Store::revision`] is kept current from every response header and by a background status call each second, so
//! writes by other servers on the same etcd show too.

mod config;
pub mod election;
mod txn;
mod watch;

pub use config::{DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_TXN_OPS, EtcdConfig, EtcdConfigError};

use crate::{KeyValue, Range, Store, StoreError, Txn, TxnOutcome, Watch, check_key, check_txn};
use config::range_end;
use etcd_client::{Client, ConnectOptions, GetOptions, KvClient, ResponseHeader};
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How many keys one page of a range reads.
const RANGE_PAGE: i64 = 500;

/// The largest response the client decodes: a range page of large records, or a watch response carrying a
/// transaction's many events.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// How often the background task asks etcd for its revision.
const REVISION_POLL: Duration = Duration::from_secs(1);

/// How many times a range restarts when etcd compacted the revision its pages were pinned to.
const RANGE_ATTEMPTS: usize = 5;

/// A store in an etcd cluster.
pub struct EtcdStore {
    client: Client,
    config: EtcdConfig,
    revision: Arc<AtomicI64>,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Maps a client error to the store's: etcd's size and operation-count refusals become [`StoreError::TooLarge`].
fn backend(operation: &'static str) -> impl FnOnce(etcd_client::Error) -> StoreError {
    move |error| {
        if let etcd_client::Error::GRpcStatus(status) = &error {
            let message = status.message();
            if message.contains("request is too large")
                || message.contains("too many operations in txn request")
                || i32::from(status.code()) == GRPC_RESOURCE_EXHAUSTED
            {
                return StoreError::TooLarge { detail: format!("etcd refused it: {message}") };
            }
        }
        StoreError::Backend { operation, source: Box::new(error) }
    }
}

/// gRPC's RESOURCE_EXHAUSTED status code: a message over the server's receive limit.
const GRPC_RESOURCE_EXHAUSTED: i32 = 8;

impl EtcdStore {
    /// Connects to the cluster and checks that it answers.
    pub async fn connect(config: EtcdConfig) -> Result<Self, StoreError> {
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        let client = Client::connect(&config.endpoints, Some(options)).await.map_err(backend("connect to etcd"))?;
        let revision = Arc::new(AtomicI64::new(0));
        let mut maintenance = client.maintenance_client();
        let status = timed(config.request_timeout, "reach etcd", maintenance.status()).await.map_err(|e| {
            StoreError::Backend {
                operation: "reach etcd",
                source: format!("no answer from {}: {e}", config.endpoints.join(",")).into(),
            }
        })?;
        note(&revision, status.header());
        let poller = tokio::spawn(poll_revision(client.clone(), revision.clone(), config.request_timeout));
        Ok(Self { client, config, revision, poller })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &EtcdConfig {
        &self.config
    }

    /// Compacts etcd's history up to `revision` (for every installation on the etcd): watches that need an older
    /// revision get [`StoreError::Compacted`]. etcd's own `--auto-compaction-*` settings do this in production.
    pub async fn compact(&self, revision: i64) -> Result<(), StoreError> {
        let mut kv = self.kv();
        let response = timed(self.config.request_timeout, "compact", kv.compact(revision, None)).await?;
        note(&self.revision, response.header());
        Ok(())
    }

    /// Grants a lease of `ttl_seconds`; its id. Keys are not attached to leases through the [`Store`] trait: this
    /// is the building block for leader election, which needs a lease that ends when its holder stops renewing it.
    pub async fn grant_lease(&self, ttl_seconds: i64) -> Result<i64, StoreError> {
        let mut lease = self.client.lease_client();
        let response = timed(self.config.request_timeout, "grant a lease", lease.grant(ttl_seconds, None)).await?;
        note(&self.revision, response.header());
        Ok(response.id())
    }

    /// Renews a lease once; its remaining time to live in seconds (0 or less: it has expired).
    pub async fn keep_lease_alive(&self, lease: i64) -> Result<i64, StoreError> {
        let mut client = self.client.lease_client();
        let request_timeout = self.config.request_timeout;
        // Opening the stream sends the first renewal, and the client reports an expired lease as an error; a second
        // renewal on the stream gives the time to live.
        let renew = async move {
            let (mut keeper, mut answers) = match client.keep_alive(lease).await {
                Ok(stream) => stream,
                Err(etcd_client::Error::LeaseKeepAliveError(_)) => return Ok(Some(0)),
                Err(other) => return Err(other),
            };
            keeper.keep_alive().await?;
            Ok(answers.message().await?.map(|answer| answer.ttl()))
        };
        match timed(request_timeout, "renew a lease", renew).await? {
            Some(ttl) => Ok(ttl),
            None => Err(StoreError::Backend { operation: "renew a lease", source: "etcd closed the stream".into() }),
        }
    }

    /// Ends a lease now.
    pub async fn revoke_lease(&self, lease: i64) -> Result<(), StoreError> {
        let mut client = self.client.lease_client();
        timed(self.config.request_timeout, "revoke a lease", client.revoke(lease)).await?;
        Ok(())
    }

    fn kv(&self) -> KvClient {
        self.client.kv_client().max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        format!("{}{key}", self.config.prefix).into_bytes()
    }

    fn to_key_value(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
        let key =
            kv.key().strip_prefix(self.config.prefix.as_bytes()).and_then(|k| std::str::from_utf8(k).ok()).ok_or_else(
                || StoreError::Backend {
                    operation: "read",
                    source: format!("etcd returned a key outside the prefix or not UTF-8: {:?}", kv.key()).into(),
                },
            )?;
        Ok(KeyValue {
            key: key.to_string(),
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        })
    }

    async fn range_once(&self, prefix: &str) -> Result<Range, StoreError> {
        let start = self.full_key(prefix);
        let end = range_end(&start);
        let mut from = if start.is_empty() { vec![0] } else { start };
        let mut kv = self.kv();
        let mut range = Range::default();
        loop {
            let mut options = GetOptions::new().with_range(end.clone()).with_limit(RANGE_PAGE);
            if range.revision > 0 {
                options = options.with_revision(range.revision);
            }
            let page = timed(self.config.request_timeout, "range", kv.get(from.clone(), Some(options))).await?;
            if range.revision == 0 {
                range.revision = page.header().map(|h| h.revision()).unwrap_or(0);
                note(&self.revision, page.header());
            }
            for kv in page.kvs() {
                range.kvs.push(self.to_key_value(kv)?);
            }
            match page.kvs().last() {
                Some(last) if page.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(range),
            }
        }
    }
}

/// Raises the store's revision to a response's.
fn note(revision: &AtomicI64, header: Option<&ResponseHeader>) {
    if let Some(header) = header {
        revision.fetch_max(header.revision(), Ordering::SeqCst);
    }
}

/// Runs one etcd call with the request timeout (the client's own timeout would also cut watch streams).
async fn timed<T>(
    limit: Duration,
    operation: &'static str,
    call: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(backend(operation)),
        Err(_) => Err(StoreError::Backend {
            operation,
            source: format!("etcd did not answer within {} s", limit.as_secs_f64()).into(),
        }),
    }
}

/// Keeps `revision` current with writes this process did not make.
async fn poll_revision(client: Client, revision: Arc<AtomicI64>, limit: Duration) {
    let mut maintenance = client.maintenance_client();
    loop {
        tokio::time::sleep(REVISION_POLL).await;
        match timed(limit, "read etcd's revision", maintenance.status()).await {
            Ok(status) => note(&revision, status.header()),
            Err(error) => tracing::debug!(%error, "etcd status failed"),
        }
    }
}

/// Whether a range failed because its pinned revision was compacted meanwhile.
fn compacted(error: &StoreError) -> bool {
    matches!(error, StoreError::Backend { source, .. } if source.to_string().contains("required revision has been compacted"))
}

impl Store for EtcdStore {
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<KeyValue>, StoreError>> {
        let key = key.to_string();
        Box::pin(async move {
            check_key(&key)?;
            let mut kv = self.kv();
            let response = timed(self.config.request_timeout, "get", kv.get(self.full_key(&key), None)).await?;
            note(&self.revision, response.header());
            response.kvs().first().map(|kv| self.to_key_value(kv)).transpose()
        })
    }

    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<Range, StoreError>> {
        let prefix = prefix.to_string();
        Box::pin(async move {
            let mut attempt = 1;
            loop {
                match self.range_once(&prefix).await {
                    Err(error) if compacted(&error) && attempt < RANGE_ATTEMPTS => attempt += 1,
                    other => return other,
                }
            }
        })
    }

    fn txn(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
        Box::pin(async move {
            check_txn(&txn)?;
            let txn = Txn { compares: txn.compares, ops: txn::last_write_per_key(txn.ops) };
            txn::check_limits(&txn, self.config.prefix.len(), &self.config)?;
            let mut kv = self.kv();
            let request = txn::build(&txn, &self.config.prefix);
            let response = timed(self.config.request_timeout, "txn", kv.txn(request)).await?;
            note(&self.revision, response.header());
            txn::outcome(&txn, &response)
        })
    }

    fn watch(&self, prefix: &str, after_revision: i64) -> Result<Watch, StoreError> {
        watch::start(watch::WatchTask {
            client: self.client.watch_client().max_decoding_message_size(MAX_RESPONSE_BYTES),
            namespace: self.config.prefix.clone(),
            prefix: prefix.to_string(),
            from: after_revision.saturating_add(1),
            revision: self.revision.clone(),
            progress: Default::default(),
        })
    }

    fn revision(&self) -> i64 {
        self.revision.load(Ordering::SeqCst)
    }

    /// A count-only range of one key: etcd answers it linearizably (through the leader's read index), and its
    /// header carries the revision then.
    fn current_revision(&self) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
        Box::pin(async move {
            let mut kv = self.kv();
            let options = GetOptions::new().with_count_only();
            let response =
                timed(self.config.request_timeout, "read the revision", kv.get(self.full_key("/"), Some(options)))
                    .await?;
            note(&self.revision, response.header());
            let revision = response.header().map(|h| h.revision()).ok_or_else(|| StoreError::Backend {
                operation: "read the revision",
                source: "etcd answered without a response header".into(),
            })?;
            Ok(Some(revision))
        })
    }
}

#[cfg(test)]
mod tests;
