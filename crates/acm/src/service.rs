//! [`Acm`]: the certificates in memory and in the store, their sealed keys, the change notification the load
//! balancer follows, and the calls other crates use.

use crate::AcmError;
use crate::records::{self, CertificateRecord};
use berth_iam::Sealer;
use berth_model::clock::Clock;
use berth_store::{SharedStore, Txn};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use zeroize::Zeroizing;

/// ACM's settings.
#[derive(Debug, Clone)]
pub struct AcmConfig {
    /// The region in ARNs.
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
}

/// Who uses a certificate (DescribeCertificate's InUseBy, DeleteCertificate's ResourceInUseException).
pub trait CertificateUsers: Send + Sync + 'static {
    /// The ARNs of the resources using the certificate: the load balancers with a listener that serves it.
    fn users(&self, certificate_arn: &str) -> Vec<String>;
}

/// What an HTTPS listener serves: the certificate followed by its chain, and the private key, both PEM.
pub struct CertificateMaterial {
    /// The certificate, then its chain (leaf first), PEM.
    pub chain_pem: String,
    /// The private key, PEM (wiped from memory when dropped).
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for CertificateMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateMaterial")
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// ACM on one store.
pub struct Acm {
    pub(crate) store: SharedStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: AcmConfig,
    pub(crate) sealer: Arc<dyn Sealer>,
    users: RwLock<Option<Arc<dyn CertificateUsers>>>,
    /// Serializes writes.
    pub(crate) writes: tokio::sync::Mutex<()>,
    state: RwLock<Arc<BTreeMap<String, CertificateRecord>>>,
    generation: watch::Sender<u64>,
}

impl Acm {
    /// Loads every certificate from the store; private keys are sealed and opened with `sealer` (the secrets
    /// store's envelope encryption in `berth server`).
    pub async fn open(
        config: AcmConfig,
        store: SharedStore,
        clock: Arc<dyn Clock>,
        sealer: Arc<dyn Sealer>,
    ) -> Result<Arc<Self>, AcmError> {
        let mut state = BTreeMap::new();
        for kv in store.range(records::PREFIX).await?.kvs {
            match serde_json::from_slice::<CertificateRecord>(&kv.value) {
                Ok(r) => {
                    state.insert(r.arn.clone(), r);
                }
                Err(e) => tracing::error!(key = %kv.key, error = %e, "acm: unreadable record skipped"),
            }
        }
        Ok(Arc::new(Self {
            store,
            clock,
            config,
            sealer,
            users: RwLock::new(None),
            writes: tokio::sync::Mutex::new(()),
            state: RwLock::new(Arc::new(state)),
            generation: watch::Sender::new(0),
        }))
    }

    /// Calls an operation with its JSON input; its JSON output.
    pub async fn call(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, AcmError> {
        crate::ops::dispatch(self, operation, input).await
    }

    /// Sets who uses certificates (the load balancers' listeners).
    pub fn set_users(&self, users: Arc<dyn CertificateUsers>) {
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = Some(users);
    }

    /// Whether a certificate with this ARN exists.
    pub fn exists(&self, arn: &str) -> bool {
        self.snapshot().contains_key(arn)
    }

    /// What a listener serves for this certificate (the key opened from its seal).
    pub async fn material(&self, arn: &str) -> Result<CertificateMaterial, AcmError> {
        let record = self.snapshot().get(arn).cloned().ok_or_else(|| AcmError::not_found(arn))?;
        let key = self
            .sealer
            .open(
                &records::key_context(&record.arn, record.key_nonce.as_deref(), record.imported_at),
                &record.sealed_key,
            )
            .await
            .map_err(|e| AcmError::internal(&format!("the private key of {arn} does not open: {e}")))?;
        let key_pem = Zeroizing::new(String::from_utf8_lossy(&key).into_owned());
        let mut chain_pem = record.facts.certificate_pem.clone();
        chain_pem.push_str(record.facts.chain_pem.as_deref().unwrap_or_default());
        Ok(CertificateMaterial { chain_pem, key_pem })
    }

    /// A receiver of the generation, bumped after every committed change (an import moves the served certificate).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The resources using a certificate.
    pub(crate) fn users_of(&self, arn: &str) -> Vec<String> {
        let users = self.users.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = users.map(|u| u.users(arn)).unwrap_or_default();
        out.sort();
        out.dedup();
        out
    }

    /// Every certificate, as of now.
    pub(crate) fn snapshot(&self) -> Arc<BTreeMap<String, CertificateRecord>> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes (or, with `None`, deletes) the record of `arn` in the store, then in memory. Call under `writes`.
    pub(crate) async fn commit(&self, arn: &str, record: Option<CertificateRecord>) -> Result<(), AcmError> {
        let txn = match &record {
            Some(r) => Txn::new().put(records::key(arn), serde_json::to_vec(r)?),
            None => Txn::new().delete(records::key(arn)),
        };
        self.store.txn(txn).await?;
        let mut next = (*self.snapshot()).clone();
        match record {
            Some(r) => next.insert(arn.to_string(), r),
            None => next.remove(arn),
        };
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }

    /// An ARN of this region and account.
    pub(crate) fn arn(&self, resource: &str) -> String {
        format!("arn:aws:acm:{}:{}:{resource}", self.config.region, self.config.account_id)
    }

    /// The time now, in epoch seconds.
    pub(crate) fn now(&self) -> f64 {
        self.clock.now()
    }
}
