//! The loop: translate and apply at start, after every change of the ELBv2 records (debounced), and on a resync
//! timer (instance addresses live outside the records); keep the last good configuration when the proxy refuses.

use crate::health::Addresses;
use crate::translate::{self, CertificateSource, Certificates, InstanceAddresses, Problem, Translation};
use berth_elb::Elb;
use berth_lb::config::Config;
use berth_lb::{LbError, Proxy};
use berth_model::clock::Clock;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The loop's timing.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// How long to wait after a change for more before applying.
    pub debounce: Duration,
    /// How often to translate again without a change (an instance's address, a listener whose port was taken).
    pub resync: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { debounce: Duration::from_millis(200), resync: Duration::from_secs(10) }
    }
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing changed since the last round.
    Unchanged,
    /// The configuration was applied (listeners that could not bind left out).
    Applied,
    /// The proxy refused the configuration: the previous one keeps running.
    Refused(String),
}

/// The loop's memory between rounds.
pub(crate) struct Syncer {
    pub elb: Arc<Elb>,
    pub proxy: Arc<Proxy>,
    pub instances: Arc<dyn InstanceAddresses>,
    pub addresses: Addresses,
    pub certificates: Option<Arc<dyn CertificateSource>>,
    /// The last translation applied in full (nothing left out at apply time).
    last: Option<Config>,
    problems: BTreeSet<Problem>,
    errors: BTreeSet<String>,
}

impl Syncer {
    pub(crate) fn new(
        elb: Arc<Elb>,
        proxy: Arc<Proxy>,
        instances: Arc<dyn InstanceAddresses>,
        addresses: Addresses,
        certificates: Option<Arc<dyn CertificateSource>>,
    ) -> Self {
        Self {
            elb,
            proxy,
            instances,
            addresses,
            certificates,
            last: None,
            problems: BTreeSet::new(),
            errors: BTreeSet::new(),
        }
    }

    /// The certificates the view's HTTPS listeners serve, fetched now (a re-import shows in the next round).
    async fn certificates(&self, view: &berth_elb::ElbView) -> Certificates {
        let mut out = Certificates::new();
        for arn in translate::certificate_arns(view) {
            let got = match &self.certificates {
                Some(source) => source.certificate(&arn).await,
                None => Err("this server has no certificate store".to_string()),
            };
            out.insert(arn, got);
        }
        out
    }

    /// One round: translate the current records and apply them if they differ from what runs.
    pub(crate) async fn round(&mut self) -> Outcome {
        let view = self.elb.view();
        let certificates = self.certificates(&view).await;
        let Translation { config, addresses, problems } =
            translate::translate_with(&view, self.instances.as_ref(), &certificates);
        let problems = translate::problem_set(&problems);
        for p in problems.difference(&self.problems) {
            tracing::warn!(problem = %p, "load balancer: part of the ELBv2 configuration is not served");
        }
        self.problems = problems;
        if self.last.as_ref() == Some(&config) {
            // The same configuration can come with other names for its targets (an id registered again).
            *self.addresses.write().unwrap_or_else(|p| p.into_inner()) = addresses;
            return Outcome::Unchanged;
        }
        let before = self.proxy.listening();
        let mut attempt = config.clone();
        let mut errors = BTreeSet::new();
        let outcome = loop {
            match self.proxy.apply(attempt.clone()).await {
                Ok(()) => break Outcome::Applied,
                Err(LbError::Bind { addr, source }) if drop_listener(&mut attempt, addr) => {
                    errors.insert(format!("cannot listen on {addr}: {source}"));
                }
                Err(e) => break Outcome::Refused(e.to_string()),
            }
        };
        for e in errors.difference(&self.errors) {
            tracing::error!(
                error = %e,
                "load balancer: a listener the ELBv2 API accepted cannot be served (its address and port are taken); \
                 the other listeners are served, and it is tried again every resync"
            );
        }
        match &outcome {
            Outcome::Applied => {
                *self.addresses.write().unwrap_or_else(|p| p.into_inner()) = addresses;
                for addr in self.proxy.listening().iter().filter(|a| !before.contains(a)) {
                    let name = view.load_balancers.iter().find(|lb| IpAddr::V4(lb.address) == addr.ip());
                    let name = name.map(|lb| lb.name.as_str()).unwrap_or_default();
                    let scheme = attempt
                        .load_balancers
                        .iter()
                        .filter(|lb| lb.bind_ip == addr.ip())
                        .flat_map(|lb| &lb.listeners)
                        .find(|l| l.port == addr.port())
                        .map_or("http", |l| l.protocol.scheme());
                    tracing::info!(load_balancer = name, %addr, "load balancer listening on {scheme}://{addr}");
                }
                self.last = errors.is_empty().then_some(config);
                tracing::debug!(generation = view.generation, "load balancer configuration applied");
            }
            Outcome::Refused(e) => {
                if !self.errors.contains(e) {
                    tracing::error!(
                        error = %e,
                        generation = view.generation,
                        "load balancer: the proxy refused a configuration the ELBv2 API accepted (a bug); the last \
                         good configuration keeps running"
                    );
                }
                errors.insert(e.clone());
            }
            Outcome::Unchanged => {}
        }
        self.errors = errors;
        outcome
    }
}

/// Removes the listener bound to `addr`; whether there was one.
fn drop_listener(config: &mut Config, addr: std::net::SocketAddr) -> bool {
    for lb in &mut config.load_balancers {
        if lb.bind_ip == addr.ip()
            && let Some(i) = lb.listeners.iter().position(|l| l.port == addr.port())
        {
            let l = lb.listeners.remove(i);
            tracing::error!(listener = %l.id, load_balancer = %lb.id, %addr, "load balancer: listener not served");
            return true;
        }
    }
    false
}

/// Runs rounds until the records' service is gone: at once, after each change (waiting `debounce` for more), and
/// every `resync`.
pub(crate) async fn run(mut syncer: Syncer, clock: Arc<dyn Clock>, options: SyncOptions) {
    let mut changes = syncer.elb.subscribe();
    let mut certificate_changes = syncer.certificates.as_ref().map(|c| c.changes());
    loop {
        changes.borrow_and_update();
        if let Some(c) = certificate_changes.as_mut() {
            c.borrow_and_update();
        }
        syncer.round().await;
        let resync = clock.sleep_until(clock.now() + options.resync.as_secs_f64());
        let certificate_changed = async {
            let alive = match certificate_changes.as_mut() {
                Some(c) => c.changed().await.is_ok(),
                None => false,
            };
            if !alive {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                clock.sleep_until(clock.now() + options.debounce.as_secs_f64()).await;
            }
            () = certificate_changed => {
                clock.sleep_until(clock.now() + options.debounce.as_secs_f64()).await;
            }
            () = resync => {}
        }
    }
}
