//! The [`Proxy`]: the current configuration as an immutable snapshot swapped whole by [`Proxy::apply`], the
//! target groups that outlive snapshots, and the listeners.

use crate::config::{Action, Config, ListenerProtocol};
use crate::error::LbError;
use crate::fasthash::FastMap;
use crate::group::{Group, Settings};
use crate::health::{self, CheckerContext, TargetHealth};
use crate::matcher::Matcher;
use crate::rules::{self, CompiledRule};
use crate::server::{self, ListenerTask};
use crate::upstream::{UpstreamClients, WORKER};
use berth_model::clock::Clock;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

/// Settings of the proxy itself (not of a load balancer).
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// How long a connection to a target may take (ALB: 10 s, then 504).
    pub connect_timeout: Duration,
    /// How long a client's TLS handshake may take (ALB: 10 s).
    pub tls_handshake_timeout: Duration,
    /// How long a client may take to send a request head when its listener is gone (else its load balancer's
    /// idle timeout applies).
    pub header_read_timeout: Duration,
    /// Idle pooled connections kept per target (per worker).
    pub max_idle_per_target: usize,
    /// Worker threads serving the listeners, each with its own single-threaded runtime, accept loop and pool
    /// (as nginx's worker processes; no request crosses threads). 0 serves on the runtime that calls
    /// [`Proxy::apply`]. Default: one per core.
    pub workers: usize,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(60),
            max_idle_per_target: 256,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The proxy's time: milliseconds on the clock's monotonic reading since the proxy started, and wall seconds.
#[derive(Clone)]
pub(crate) struct ProxyTime {
    /// The clock.
    pub(crate) clock: Arc<dyn Clock>,
    origin: Instant,
}

impl ProxyTime {
    /// Milliseconds since the proxy started.
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.monotonic().saturating_duration_since(self.origin).as_millis() as u64
    }

    /// Microseconds since the proxy started.
    pub(crate) fn now_micros(&self) -> u64 {
        self.clock.monotonic().saturating_duration_since(self.origin).as_micros() as u64
    }

    /// Wall-clock seconds since the epoch.
    pub(crate) fn epoch_secs(&self) -> u64 {
        self.clock.now().max(0.0) as u64
    }

    /// Waits `ms` milliseconds of the clock.
    pub(crate) fn sleep_ms(&self, ms: u64) -> berth_model::clock::Sleep {
        self.clock.sleep_until(self.clock.now() + ms as f64 / 1000.0)
    }
}

/// One listener's configuration in a snapshot.
pub(crate) struct ListenerState {
    /// Its load balancer's idle timeout.
    pub idle_timeout: Duration,
    /// HTTP or HTTPS.
    pub protocol: ListenerProtocol,
    /// The port.
    pub port: u16,
    /// The port as a header value (`X-Forwarded-Port`).
    pub port_value: http::HeaderValue,
    /// The rules by priority.
    pub rules: Vec<CompiledRule>,
    /// The default action.
    pub default_action: Arc<Action>,
    /// The upstream clients of its load balancer.
    pub clients: UpstreamClients,
    /// The TLS acceptor of an HTTPS listener.
    pub tls: Option<TlsAcceptor>,
}

/// One configuration, immutable: a request uses the snapshot it started with to its end.
#[derive(Default)]
pub(crate) struct Snapshot {
    /// Listeners by bound address.
    pub listeners: FastMap<SocketAddr, Arc<ListenerState>>,
    /// Target groups by id.
    pub groups: FastMap<String, Arc<Group>>,
}

struct GroupEntry {
    group: Arc<Group>,
    checker: AbortHandle,
}

/// State shared by the listeners and connections.
pub(crate) struct Shared {
    /// Time.
    pub time: ProxyTime,
    /// Options.
    pub options: ProxyOptions,
    snapshot: RwLock<Arc<Snapshot>>,
    groups: Mutex<HashMap<String, GroupEntry>>,
    clients: Mutex<HashMap<String, (u32, UpstreamClients)>>,
    listeners: Mutex<HashMap<SocketAddr, ListenerTask>>,
    apply_lock: tokio::sync::Mutex<()>,
    checker: Arc<CheckerContext>,
    /// Every accept loop's and connection's task, awaited by [`Proxy::shutdown`].
    pub connections: TaskTracker,
    /// The worker threads' runtimes (none: serve on the caller's runtime).
    pub workers: Vec<tokio::runtime::Handle>,
    workers_stop: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// The current snapshot.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The load-balancer data plane: listeners, routing, balancing, health checks. Dropping it stops the listeners
/// (connections finish their requests); [`Proxy::shutdown`] also waits for them.
pub struct Proxy {
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy with no configuration; `clock` drives health-check intervals, slow start, draining and cookie
    /// expiry. Needs a tokio runtime.
    pub fn new(clock: Arc<dyn Clock>, options: ProxyOptions) -> Self {
        let origin = clock.monotonic();
        let time = ProxyTime { clock, origin };
        let checker = Arc::new(CheckerContext { time: time.clone(), client: health::probe_client() });
        let (workers_stop, stopped) = tokio::sync::watch::channel(false);
        let workers = start_workers(options.workers, &stopped);
        Self {
            shared: Arc::new(Shared {
                time,
                options,
                snapshot: RwLock::new(Arc::new(Snapshot::default())),
                groups: Mutex::new(HashMap::new()),
                clients: Mutex::new(HashMap::new()),
                listeners: Mutex::new(HashMap::new()),
                apply_lock: tokio::sync::Mutex::new(()),
                checker,
                connections: TaskTracker::new(),
                workers,
                workers_stop,
            }),
        }
    }

    /// Makes `config` the proxy's configuration, or changes nothing and says why. New listeners are bound first
    /// (a failure leaves the old configuration in place); then requests start on the new configuration, while
    /// those in progress finish on the one they started with; listeners no longer configured stop accepting,
    /// and their connections close after their current request. Targets that stay keep their health; removed
    /// ones drain for their group's deregistration delay.
    pub async fn apply(&self, config: Config) -> Result<(), LbError> {
        crate::validate::validate(&config)?;
        let _serial = self.shared.apply_lock.lock().await;
        let now = self.shared.time.now_ms();

        // Compile everything that can fail before changing anything.
        let mut listener_states = FastMap::default();
        let mut used: HashSet<&str> = HashSet::new();
        let mut clients = HashMap::new();
        for lb in &config.load_balancers {
            let client = self.client_for(&lb.id, lb.idle_timeout_seconds);
            clients.insert(lb.id.clone(), (lb.idle_timeout_seconds, client.clone()));
            for l in &lb.listeners {
                let tls = match (&l.protocol, &l.certificate) {
                    (ListenerProtocol::Https, Some(c)) => Some(crate::tls::acceptor(&l.id, c)?),
                    _ => None,
                };
                let mut actions = vec![&l.default_action];
                actions.extend(l.rules.iter().map(|r| &r.action));
                for a in actions {
                    if let Action::Forward(f) = a {
                        used.extend(f.target_groups.iter().map(|w| w.target_group_id.as_str()));
                    }
                }
                listener_states.insert(
                    SocketAddr::new(lb.bind_ip, l.port),
                    Arc::new(ListenerState {
                        idle_timeout: Duration::from_secs(u64::from(lb.idle_timeout_seconds)),
                        protocol: l.protocol,
                        port: l.port,
                        port_value: http::HeaderValue::from(l.port),
                        rules: rules::compile(&l.rules)?,
                        default_action: Arc::new(l.default_action.clone()),
                        clients: client.clone(),
                        tls,
                    }),
                );
            }
        }
        let mut settings = Vec::with_capacity(config.target_groups.len());
        for tg in &config.target_groups {
            settings.push(Settings { matcher: Matcher::parse(&tg.health_check.matcher)?, config: tg.clone() });
        }

        // Bind the new listeners.
        let bound: HashSet<SocketAddr> = lock(&self.shared.listeners).keys().copied().collect();
        let mut new_sockets = Vec::new();
        for addr in listener_states.keys().filter(|a| !bound.contains(a)) {
            let socket = server::bind(*addr, self.shared.workers.len())
                .map_err(|source| LbError::Bind { addr: *addr, source })?;
            new_sockets.push((*addr, socket));
        }

        // Groups: keep those that stay, create new ones, stop removed ones. A group gains its new targets now and
        // loses its old ones only once the new snapshot routes requests: a request routed by either snapshot finds
        // the targets that snapshot means (a weight moved off a group whose targets leave in the same change).
        let mut snapshot_groups = FastMap::default();
        let mut updates = Vec::new();
        {
            let mut groups = lock(&self.shared.groups);
            let wanted: HashSet<&str> = config.target_groups.iter().map(|t| t.id.as_str()).collect();
            groups.retain(|id, entry| {
                let keep = wanted.contains(id.as_str());
                if !keep {
                    entry.checker.abort();
                }
                keep
            });
            for s in settings {
                let id = s.config.id.clone();
                let in_use = used.contains(id.as_str());
                let entry = groups.entry(id.clone()).or_insert_with(|| {
                    let group = Group::new(Settings { config: s.config.clone(), matcher: s.matcher.clone() });
                    let checker =
                        tokio::spawn(health::run(Arc::downgrade(&group), self.shared.checker.clone())).abort_handle();
                    GroupEntry { group, checker }
                });
                entry.group.add_targets(&s.config.targets);
                updates.push((entry.group.clone(), s, in_use));
                snapshot_groups.insert(id, entry.group.clone());
            }
        }
        *lock(&self.shared.clients) = clients;

        // Swap the snapshot, then start the new listeners and stop the removed ones.
        let removed: Vec<SocketAddr> = bound.iter().filter(|a| !listener_states.contains_key(a)).copied().collect();
        let snapshot = Arc::new(Snapshot { listeners: listener_states, groups: snapshot_groups });
        *self.shared.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
        for (group, settings, in_use) in updates {
            group.update(settings, in_use, now);
        }
        let mut listeners = lock(&self.shared.listeners);
        for (addr, socket) in new_sockets {
            listeners.insert(addr, server::spawn(self.shared.clone(), socket, addr));
        }
        for addr in removed {
            if let Some(task) = listeners.remove(&addr) {
                task.stop();
            }
        }
        Ok(())
    }

    /// The upstream client of load balancer `lb`: the one it has if its idle timeout is unchanged.
    fn client_for(&self, lb: &str, idle: u32) -> UpstreamClients {
        match lock(&self.shared.clients).get(lb) {
            Some((i, c)) if *i == idle => c.clone(),
            _ => UpstreamClients::new(
                &self.shared.options,
                Duration::from_secs(u64::from(idle)),
                self.shared.workers.len(),
                &self.shared.time.clock,
            ),
        }
    }

    /// The health of target group `target_group`'s registered and draining targets (empty for an unknown group),
    /// as DescribeTargetHealth reports it.
    pub fn target_health(&self, target_group: &str) -> Vec<TargetHealth> {
        let now = self.shared.time.now_ms();
        lock(&self.shared.groups).get(target_group).map(|e| e.group.report(now)).unwrap_or_default()
    }

    /// Target group `target_group`'s traffic counters (cumulative; `None` for a group the proxy does not have).
    pub fn traffic(&self, target_group: &str) -> Option<crate::TrafficCounts> {
        lock(&self.shared.groups).get(target_group).map(|e| e.group.traffic.counts())
    }

    /// The addresses the proxy listens on.
    pub fn listening(&self) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = lock(&self.shared.listeners).keys().copied().collect();
        out.sort();
        out
    }

    /// Stops accepting, lets every connection finish its current request (for at most `grace`), stops the
    /// health checks.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop_all();
        self.shared.connections.close();
        let _ = tokio::time::timeout(grace, self.shared.connections.wait()).await;
        let _ = self.shared.workers_stop.send(true);
    }

    fn stop_all(&self) {
        for (_, task) in lock(&self.shared.listeners).drain() {
            task.stop();
        }
        for (_, entry) in lock(&self.shared.groups).drain() {
            entry.checker.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop_all();
        let _ = self.shared.workers_stop.send(true);
    }
}

/// Starts `n` worker threads, each running a single-threaded runtime until `stopped`; returns their handles
/// (fewer if a thread could not start: the proxy then serves on the caller's runtime alone).
fn start_workers(n: usize, stopped: &tokio::sync::watch::Receiver<bool>) -> Vec<tokio::runtime::Handle> {
    let mut handles = Vec::with_capacity(n);
    for i in 1..=n {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut stopped = stopped.clone();
        let started = std::thread::Builder::new().name(format!("berth-lb-{i}")).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::warn!(error = %e, "load balancer worker runtime failed");
                    return;
                }
            };
            WORKER.with(|w| w.set(i));
            let _ = tx.send(rt.handle().clone());
            rt.block_on(async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
        });
        match started.ok().and_then(|_| rx.recv().ok()) {
            Some(handle) => handles.push(handle),
            None => {
                tracing::warn!("load balancer worker thread failed to start; serving on the caller's runtime");
                return Vec::new();
            }
        }
    }
    handles
}

/// Locks a mutex, ignoring poisoning (every guarded state stays consistent between statements).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
