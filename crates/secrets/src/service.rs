//! [`Secrets`]: the one value store behind Secrets Manager, SSM Parameter Store and KMS, its master key, and its
//! background job (purging secrets whose recovery window ended).

use crate::crypto::Key256;
use crate::master::{self, MasterKeySource};
use crate::{MasterKeyError, SecretsError};
use berth_model::clock::Clock;
use berth_store::SharedStore;
use std::sync::{Arc, Mutex, RwLock};

/// The value store's settings.
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    /// The region in ARNs.
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
    /// Where the master key comes from.
    pub master_key: MasterKeySource,
}

/// Secrets Manager, SSM Parameter Store and the KMS subset, on one store and master key.
pub struct Secrets {
    pub(crate) store: SharedStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: SecretsConfig,
    /// The master key (in memory only; rotation is offline, see [`crate::master::rotate`]).
    pub(crate) master: RwLock<Key256>,
    /// The revision of the master key's check record when the key was opened (see [`master::open_checked`]).
    pub(crate) check_revision: i64,
    /// Serializes every write, so a read-modify-write of a record is never interleaved.
    pub(crate) writes: tokio::sync::Mutex<()>,
    handle: Mutex<Option<berth_runtime::Handle<&'static str>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Secrets {
    /// Opens the value store: reads (or creates) the master key and checks it against the store.
    pub async fn open(
        config: SecretsConfig,
        store: SharedStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, MasterKeyError> {
        let (key, check_revision) = master::open_checked(&store, &config.master_key).await?;
        Ok(Arc::new(Self {
            store,
            clock,
            config,
            master: RwLock::new(key),
            check_revision,
            writes: tokio::sync::Mutex::new(()),
            handle: Mutex::default(),
            tasks: Mutex::default(),
        }))
    }

    /// Calls a Secrets Manager operation with its JSON input; its JSON output.
    pub async fn call_secrets_manager(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, SecretsError> {
        crate::sm::ops::dispatch(self, operation, input).await.map_err(|e| internal_as(e, "InternalServiceError"))
    }

    /// Calls an SSM operation (Parameter Store's; others are refused) with its JSON input; its JSON output.
    pub async fn call_ssm(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, SecretsError> {
        crate::ssm::ops::dispatch(self, operation, input).await.map_err(|e| internal_as(e, "InternalServerError"))
    }

    /// Calls a KMS operation with its JSON input; its JSON output.
    pub async fn call_kms(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, SecretsError> {
        crate::kms::ops::dispatch(self, operation, input).await.map_err(|e| internal_as(e, "KMSInternalException"))
    }

    /// Purges the secrets whose recovery window has ended (what the background job does); how many.
    pub async fn purge_due(&self) -> Result<usize, SecretsError> {
        crate::sm::purge::purge_due(self).await
    }

    /// Starts the purge job on the runtime.
    pub fn spawn_background(self: &Arc<Self>) {
        let controller = crate::sm::purge::controller(self);
        *self.handle.lock().unwrap_or_else(|p| p.into_inner()) = Some(controller.handle());
        let task = tokio::spawn(controller.run());
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    /// Asks the purge job to look again (a deletion was scheduled).
    pub(crate) fn wake_purge(&self) {
        if let Some(handle) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            handle.request(crate::sm::purge::KEY, 0);
        }
    }

    /// An ARN of this store's region and account.
    pub(crate) fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{resource}", self.config.region, self.config.account_id)
    }

    /// The master key.
    pub(crate) fn master(&self) -> Key256 {
        self.master.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Fails if the master key was rotated in the store since this server opened it (a rotation run with the
    /// server up): KMS keys must not be sealed with a key the store no longer uses.
    pub(crate) async fn master_unchanged(&self) -> Result<(), SecretsError> {
        let revision = self.store.get(master::CHECK_KEY).await?.map_or(0, |kv| kv.mod_revision);
        if revision != self.check_revision {
            return Err(SecretsError::internal(
                "InternalServiceError",
                &"the master key was rotated while this server ran (rotate with the server stopped); restart it",
            ));
        }
        Ok(())
    }

    /// The time now, in epoch seconds.
    pub(crate) fn now(&self) -> f64 {
        self.clock.now()
    }
}

/// A server-side failure (the store failed) under the API's own internal exception name.
fn internal_as(e: SecretsError, exception: &'static str) -> SecretsError {
    if e.status >= 500 && e.exception == "InternalServiceError" { SecretsError { exception, ..e } } else { e }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}
