//! Berth's container registry: the OCI Distribution API under `/v2/` and the Amazon ECR API, over one
//! content-addressed blob store, with scan on push and lifecycle policies.
//!
//! # Background
//! ECS users keep their images in ECR and log in with `aws ecr get-login-password | docker login`. Berth serves the
//! same two faces on its single listener: the ECR JSON API (through the API crate's front door, which calls
//! [`Registry::ecr`]) and the OCI Distribution Spec v1.1 registry API (mounted from [`Registry::router`]), which
//! `docker`, `skopeo` and the node agent speak.
//!
//! # Design
//! - **Blobs** live on the filesystem ([`storage::FsBlobStore`]), content-addressed, each stored once for every
//!   repository. An upload is written to its own file and hashed while it streams (each byte hashed once); it
//!   becomes a blob by an fsync'd rename only after its digest is verified, so no partial blob is ever visible.
//! - **Metadata** (repositories, manifests, tags, blob links, scans, pulls, lifecycle previews) is JSON in the
//!   Berth store under `/ecr/` ([`meta::keys`]); writes compare-and-swap on revisions, which settles races such as
//!   two pushes of one IMMUTABLE tag. Manifests are small and kept verbatim in their records. Reads are served
//!   from an in-memory [`meta::Index`] fed by a store watch; a writer waits for its own revision to reach the
//!   index before it answers, so clients read their writes.
//! - **Bounds.** No transfer holds a thread while its client is slow: uploads are received on the runtime and
//!   written in short blocking jobs, downloads read one chunk at a time as the client takes them
//!   ([`storage::FsBlobStore`]). Upload sessions expire after `upload_ttl` without a request or a byte (168 h, as
//!   the CNCF Distribution registry purges uploads) and a repository holds at most `max_uploads_per_repository`
//!   (1,000) of them. Scans are bounded by [`scan::ScanLimits`]. Blobs and registry files are 0600 in 0700
//!   directories whatever the umask, and a 500 shows the client a request id while the log gets the detail.
//! - **Auth** is a self-verifying HMAC token ([`auth`]) handed out by GetAuthorizationToken; `/v2/` follows the
//!   Docker token-auth flow (`401` + `WWW-Authenticate: Bearer realm=".../v2/token"`) and also accepts Basic.
//! - **Garbage collection** ([`gc`]) runs online. Manifest pushes hold a shared lock from "the blobs exist" to
//!   "the manifest is committed"; the collector takes it exclusively, marks from a fresh store listing and spares
//!   blobs uploaded, mounted or checked (HEAD) within a grace period, so a push in flight never loses a blob.
//! - **Background jobs** ([`background`]): pull-time flushing, lifecycle policies, upload expiry and garbage
//!   collection run as one `berth_runtime` controller with a key per job, each on its configured period, with time
//!   from the registry's `Clock` and per-job backoff when a run fails.
//! - **Registry settings** ([`settings`]): the registry policy, scanning configuration, account settings and
//!   pull-time update exclusions, one record changed under compare-and-swap.
//! - **Replication** ([`replication`]): pushed images are copied in the background to the other Berth servers the
//!   operator maps replication destinations to, with per-image, per-destination status in the store.
//! - **Signing** ([`signing`]): images pushed to a repository a signing rule matches are signed in the background
//!   with the operator's key for the rule's profile, in the Notation and cosign formats (`berth-signature`), the
//!   signatures stored as referrers of the image, with per-image, per-profile status in the store.
//! - **Lifecycle policies** ([`lifecycle`]) are parsed and evaluated as ECR documents them, on a timer and for
//!   previews. **Scanning** ([`scan`]) builds a package inventory from the layers (dpkg, apk, Cargo.lock,
//!   package-lock.json; whiteouts honoured) and matches it against imported OSV advisories.
//!
//! # Limitations
//! One process owns a data directory (upload sessions, the GC lock and the settings mirror are in memory). Layers
//! compressed with zstd are not scanned. Replication backfill is not implemented (its operations answer
//! `ValidationException` naming the capability, see [`ecr::UNSUPPORTED`]). Signing profiles are the operator's
//! keys (ECDSA P-256), not AWS Signer (no revocation, no timestamping, no profile lifetimes); replication does not replicate
//! deletions. A destination applies its REPLICATION creation templates only to a CreateRepository marked with the
//! `x-berth-replication-source` header ([`replication::SOURCE_HEADER`]), which a replicating Berth server sends and
//! other ECR clients do not. ENHANCED scanning uses Berth's own scanner, re-scanning CONTINUOUS_SCAN repositories
//! when the advisory database changes ([`scan::continuous`]); archived images are restored immediately
//! ([`storage_class`]).
//! The pull-through cache ([`pullthrough`]) fills repositories over `/v2/` only: the ECR API sees what is cached.
//! Repository policies are evaluated with IAM on every call.

pub mod auth;
pub mod background;
pub mod digest;
pub mod ecr;
mod error;
pub mod gc;
mod images;
pub mod lifecycle;
pub mod manifest;
pub mod meta;
pub mod names;
mod oci;
mod policy;
pub mod pullthrough;
mod records;
pub mod replication;
mod repos;
pub mod scan;
pub mod settings;
pub mod signing;
pub mod storage;
pub mod storage_class;
pub mod templates;
mod uploads;

pub use background::Job;
pub use ecr::{Caller, EcrError};
pub use error::{RegistryError, Result};
pub use images::Reference;
pub use scan::ImportSummary;

use auth::{Claims, TokenAuth};
use berth_model::Timestamp;
use berth_model::agent::RegistryAuth;
use berth_model::clock::Clock;
use berth_store::SharedStore;
use meta::Index;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use storage::{BlobStore, FsBlobStore};

/// How the registry is set up.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Where blobs, uploads, the token secret and the advisory database live (e.g. `<berth-data>/registry`).
    pub data_dir: PathBuf,
    /// The region in ARNs.
    pub region: String,
    /// The account (registry id) in ARNs and URIs.
    pub account_id: String,
    /// `host:port` clients reach the registry at, used in `repositoryUri`, `proxyEndpoint` and token realms.
    pub public_endpoint: String,
    /// The scheme clients reach `public_endpoint` with: `http` (the default) or `https` when the listener serves
    /// TLS. Used in token realms, `proxyEndpoint` and download URLs.
    pub public_scheme: String,
    /// How long an upload session lives without a request or a byte (default 168 hours, the age at which the
    /// CNCF Distribution registry purges uploads).
    pub upload_ttl: Duration,
    /// The most upload sessions one repository may have open at once (default 1,000).
    pub max_uploads_per_repository: usize,
    /// How long an unreferenced blob is spared after its last upload, mount or existence check.
    pub gc_grace: Duration,
    /// How often garbage collection runs.
    pub gc_interval: Duration,
    /// How often lifecycle policies are applied.
    pub lifecycle_interval: Duration,
    /// How long GetAuthorizationToken tokens last (ECR: 12 hours).
    pub token_ttl: Duration,
    /// The largest blob accepted.
    pub max_blob_bytes: u64,
    /// What a scan reads and how many run (see [`scan::ScanLimits`]).
    pub scan_limits: scan::ScanLimits,
    /// Upstream registry URLs pull-through cache rules may name besides the public registries ECR names
    /// (`host[:port]` for https, or `http://host:port`, which is a Berth extension).
    pub pull_through_allow: Vec<String>,
    /// How long a pull-through cached tag is served without asking the upstream again (ECR: 24 hours).
    pub pull_through_recheck: Duration,
    /// Extra CA certificates (PEM) trusted for https upstreams besides the system's, for registries with a
    /// private CA.
    pub pull_through_ca: Option<PathBuf>,
    /// The other Berth servers replication destinations (region and registry id) stand for, with their
    /// credentials.
    pub replication_destinations: Vec<replication::Destination>,
    /// The signing profiles (keys and certificates) signing rules may name, as the operator configured them.
    pub signing_profiles: Vec<signing::SigningProfile>,
}

impl RegistryConfig {
    /// A configuration with ECR's defaults.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        region: impl Into<String>,
        account_id: impl Into<String>,
        public_endpoint: impl Into<String>,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            region: region.into(),
            account_id: account_id.into(),
            public_endpoint: public_endpoint.into(),
            public_scheme: "http".into(),
            upload_ttl: Duration::from_secs(168 * 3600),
            max_uploads_per_repository: 1000,
            gc_grace: Duration::from_secs(6 * 3600),
            gc_interval: Duration::from_secs(3600),
            lifecycle_interval: Duration::from_secs(3600),
            token_ttl: Duration::from_secs(12 * 3600),
            max_blob_bytes: 64 << 30,
            scan_limits: scan::ScanLimits::default(),
            pull_through_allow: Vec::new(),
            pull_through_recheck: Duration::from_secs(24 * 3600),
            pull_through_ca: None,
            replication_destinations: Vec::new(),
            signing_profiles: Vec::new(),
        }
    }
}

/// The registry: blob storage, metadata index, auth, and the background work.
pub struct Registry {
    config: RegistryConfig,
    store: SharedStore,
    clock: Arc<dyn Clock>,
    blobs: Arc<dyn BlobStore>,
    index: Arc<Index>,
    auth: TokenAuth,
    uploads: Mutex<HashMap<String, Arc<uploads::SessionEntry>>>,
    gc_lock: tokio::sync::RwLock<()>,
    touched: Mutex<HashMap<String, Timestamp>>,
    pending_pulls: Mutex<HashMap<(String, String), Timestamp>>,
    advisories: std::sync::RwLock<(Option<std::time::SystemTime>, Arc<scan::osv::AdvisoryDb>)>,
    started_at: Timestamp,
    scans: scan::queue::ScanQueue,
    me: Weak<Registry>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    access_policy: std::sync::RwLock<Option<Arc<dyn AccessPolicy>>>,
    rules: pullthrough::rules::Rules,
    templates: templates::Templates,
    upstream: pullthrough::upstream::UpstreamClient,
    upstream_secrets: std::sync::RwLock<Option<Arc<dyn pullthrough::UpstreamSecrets>>>,
    settings: settings::SettingsCell,
    signing_queue: signing::run::SigningQueue,
}

/// Decides, for `/v2/` requests, whether the principal a token was issued to (by the access key it signed
/// GetAuthorizationToken with) may perform an ECR action (`ecr:BatchGetImage`, `ecr:PutImage` ...) on a
/// repository's ARN: IAM, set by the binary. Without one, a valid token is enough.
pub trait AccessPolicy: Send + Sync + 'static {
    /// `Err` is the denial's message. `resource_policy` is the repository's policy, evaluated with the principal's
    /// identity policies (AWS's logic within one account: an explicit deny in either wins, else an allow in either
    /// allows).
    fn authorize(
        &self,
        access_key_id: &str,
        action: &str,
        resource: &str,
        resource_policy: Option<&berth_iam::policy::NamedPolicy>,
    ) -> std::result::Result<(), String>;

    /// [`AccessPolicy::authorize`] with the repository's tags, for `aws:ResourceTag/...` and `ecr:ResourceTag/...`
    /// (IAM evaluates them; a policy without IAM has nothing to evaluate them with, so the default is `authorize`).
    fn authorize_tagged(
        &self,
        access_key_id: &str,
        action: &str,
        resource: &str,
        resource_policy: Option<&berth_iam::policy::NamedPolicy>,
        tags: &[(String, String)],
    ) -> std::result::Result<(), String> {
        let _ = tags;
        self.authorize(access_key_id, action, resource, resource_policy)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("config", &self.config).finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Opens the registry on its data directory and the Berth store; blobs go to `data_dir/blobs`.
    pub async fn open(config: RegistryConfig, store: SharedStore, clock: Arc<dyn Clock>) -> Result<Arc<Registry>> {
        let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(&config.data_dir)?);
        Self::open_with(config, store, clock, blobs).await
    }

    /// Opens the registry with a given blob store (e.g. [`storage::MemoryBlobStore`] in tests).
    pub async fn open_with(
        config: RegistryConfig,
        store: SharedStore,
        clock: Arc<dyn Clock>,
        blobs: Arc<dyn BlobStore>,
    ) -> Result<Arc<Registry>> {
        let auth = TokenAuth::load_or_create(&config.data_dir)?;
        let advisories = scan::osv::AdvisoryDb::load(&config.data_dir)?;
        let advisories_mtime = scan::file_mtime(&config.data_dir);
        let index = Index::new();
        let range = store.range(meta::keys::PREFIX).await?;
        index.reset(&range.kvs, range.revision);
        let started_at = clock.now();
        let upstream = pullthrough::upstream::UpstreamClient::new(config.pull_through_ca.as_deref()).map_err(|e| {
            RegistryError::Io {
                operation: "setting up the pull-through client",
                path: config.pull_through_ca.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                source: std::io::Error::other(e),
            }
        })?;
        let scans = scan::queue::ScanQueue::new(config.scan_limits.max_concurrent, config.scan_limits.max_queued);
        let registry = Arc::new_cyclic(|me| Registry {
            config,
            scans,
            store: store.clone(),
            clock,
            blobs,
            index: index.clone(),
            auth,
            uploads: Mutex::new(HashMap::new()),
            gc_lock: tokio::sync::RwLock::new(()),
            touched: Mutex::new(HashMap::new()),
            pending_pulls: Mutex::new(HashMap::new()),
            advisories: std::sync::RwLock::new((advisories_mtime, Arc::new(advisories))),
            started_at,
            me: me.clone(),
            tasks: Mutex::new(Vec::new()),
            access_policy: std::sync::RwLock::new(None),
            rules: Default::default(),
            templates: Default::default(),
            upstream,
            upstream_secrets: std::sync::RwLock::new(None),
            settings: Default::default(),
            signing_queue: Default::default(),
        });
        registry.start_signing();
        registry.load_rules().await?;
        registry.load_templates().await?;
        registry.load_settings().await?;
        let follow = tokio::spawn(index.follow(store, Some(range.revision)));
        lock(&registry.tasks).push(follow);
        registry.restore_uploads().await?;
        Ok(registry)
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The metadata index (read-only view for callers that want to inspect it).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The blob store.
    pub fn blob_store(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Sets who decides `/v2/` requests beyond the token (IAM).
    pub fn set_access_policy(&self, policy: Arc<dyn AccessPolicy>) {
        *self.access_policy.write().unwrap_or_else(|p| p.into_inner()) = Some(policy);
    }

    /// Asks the access policy, if any, whether the token's key may perform `action` on repository `name`, with the
    /// repository's and the registry's policies.
    pub(crate) fn check_access(&self, access_key_id: &str, action: &str, name: Option<&str>) -> Result<()> {
        let policy = self.access_policy.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (Some(policy), false) = (policy, access_key_id.is_empty()) else { return Ok(()) };
        let resource = name.map_or_else(|| "*".to_string(), |n| self.repository_arn(n));
        let resource_policy = self.resource_policy_for(action, name);
        let tags = name.map(|n| self.repository_tags(n)).unwrap_or_default();
        policy
            .authorize_tagged(access_key_id, action, &resource, resource_policy.as_ref(), &tags)
            .map_err(|reason| RegistryError::Denied { reason })
    }

    /// The router serving `/v2/` (the OCI Distribution API and the token endpoint `/v2/token`).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        oci::router(self.clone())
    }

    /// Credentials the node agent pulls with: a pull-only token for `token_ttl`; tasks never see them.
    pub fn agent_credentials(&self) -> RegistryAuth {
        let claims = Claims {
            sub: format!("arn:aws:iam::{}:role/berth-agent", self.config.account_id),
            acct: self.config.account_id.clone(),
            ak: String::new(),
            exp: self.now() + self.config.token_ttl.as_secs_f64(),
            push: false,
            repo: None,
            blob: None,
        };
        RegistryAuth {
            server_address: self.config.public_endpoint.clone(),
            username: auth::USER.to_string(),
            password: self.auth.issue(&claims),
            ttl_seconds: Some(self.config.token_ttl.as_secs()),
        }
    }

    /// Issues a push-and-pull token for a caller, valid for `token_ttl` (what GetAuthorizationToken returns).
    pub fn issue_token(&self, caller: &Caller) -> (String, Timestamp) {
        let exp = self.now() + self.config.token_ttl.as_secs_f64();
        let claims = Claims {
            sub: caller.arn.clone(),
            acct: caller.account_id.clone(),
            ak: caller.access_key_id.clone(),
            exp,
            push: true,
            repo: None,
            blob: None,
        };
        (self.auth.issue(&claims), exp)
    }

    /// Starts the background work: lifecycle policies, upload expiry, garbage collection and pull-time flushing,
    /// as one controller on `berth_runtime` with a key per job (see [`background`]). It stops with the registry.
    pub fn spawn_background(self: &Arc<Self>) {
        for controller in background::controllers(self) {
            let handle = tokio::spawn(controller.run());
            lock(&self.tasks).push(handle);
        }
        // Unfinished replications and signings are resumed by the leader (every server, when there is only one).
        self.spawn(|registry| async move {
            match berth_store::leader::process() {
                Some(leadership) => {
                    let term = leadership.leading().await;
                    berth_store::leader::fenced(term.token, registry.resume_replications()).await;
                }
                None => registry.resume_replications().await,
            }
        });
        self.spawn(|registry| async move {
            match berth_store::leader::process() {
                Some(leadership) => {
                    let term = leadership.leading().await;
                    berth_store::leader::fenced(term.token, registry.resume_signing()).await;
                }
                None => registry.resume_signing().await,
            }
        });
    }

    /// Runs one background job now; a summary of what it did.
    pub async fn run_job(&self, job: Job) -> Result<String> {
        Ok(match job {
            Job::FlushPulls => format!("{} pull times recorded", self.flush_pulls().await?),
            Job::Lifecycle => format!("{} images expired", self.apply_lifecycle_policies().await?),
            Job::ExpireUploads => format!("{} uploads expired", self.expire_uploads().await?),
            Job::Gc => format!("{:?}", self.collect_garbage().await?),
            Job::ContinuousScan => format!("{} images re-scanned", self.continuous_rescan().await?),
        })
    }

    /// Imports OSV advisories (`*.json` files, recursively) from `dir` into the advisory database.
    pub async fn import_advisories(&self, dir: &std::path::Path) -> Result<ImportSummary> {
        scan::import(self, dir).await
    }

    /// The `host:port` in repository URIs.
    pub(crate) fn repository_uri(&self, name: &str) -> String {
        format!("{}/{}", self.config.public_endpoint, name)
    }

    /// A repository's ARN.
    pub(crate) fn repository_arn(&self, name: &str) -> String {
        format!("arn:aws:ecr:{}:{}:repository/{}", self.config.region, self.config.account_id, name)
    }

    pub(crate) fn touch(&self, digest: &str) {
        let now = self.now();
        lock(&self.touched).insert(digest.to_string(), now);
    }

    pub(crate) fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Registry>) -> F,
    ) {
        if let Some(me) = self.me.upgrade() {
            tokio::spawn(f(me));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}
