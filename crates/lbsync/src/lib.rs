//! Puts the load balancer on the wire: keeps Berth's data plane (`berth-lb`'s [`Proxy`]) serving what the ELBv2
//! records (`berth-elb`'s [`Elb`]) describe, and reports the proxy's health checks back to DescribeTargetHealth.
//!
//! # Background
//! `berth-elb` is the API (records, validation, DescribeTargetHealth) and `berth-lb` the proxy configured by value;
//! neither knows the other. This crate is the glue `berth server` and `berth up` run, so the two stay independent.
//!
//! # Design
//! - **Translation** ([`translate()`]) is a pure function of an [`berth_elb::ElbView`]: each load balancer binds its
//!   own address (from its record, allocated from `--elb-address-range`, default 127.0.1.0/24) at each listener's
//!   port; rules, conditions, actions, health checks and attributes map one to one. `ip` targets are their address;
//!   `instance` targets resolve through [`InstanceAddresses`] (the server's implementation: the container
//!   instance's `berth.host-address` attribute, else 127.0.0.1, as an agent without it is taken to be on this
//!   machine). Draining targets are left out, so the proxy drains them for the group's deregistration delay.
//!   What the proxy cannot serve (HTTPS to targets, `weighted_random`, `app_cookie` stickiness, an instance nobody
//!   knows) becomes a [`Problem`], logged once, and that piece is left out rather than guessed.
//! - **HTTPS listeners** get their certificate (the PEM chain and the decrypted key) from a
//!   [`CertificateSource`] (ACM in `berth server`), fetched for every round; a listener whose certificate cannot be
//!   had is a [`Problem`] and is left out. The source's change notification starts a round, so a re-imported
//!   certificate is served after the next sync (the proxy builds a new TLS acceptor when the PEM differs).
//! - **The loop** ([`LbSync::start`]) runs a round at start, after every change of [`Elb::subscribe`]'s generation
//!   (debounced, [`SyncOptions::debounce`]) and every [`SyncOptions::resync`]: level-triggered, it translates
//!   again and applies only when the configuration differs from what runs. A listener whose address and port are
//!   taken is logged as an error naming it and left out (the rest is served; it is tried again every resync). Any
//!   other refusal is a bug (the API accepted what the proxy refuses): logged, and the last good configuration keeps
//!   running.
//! - **Health** ([`ProxyHealth`]) is set on the [`Elb`] as its [`berth_elb::TargetHealthSource`]: a target's
//!   verdict is the proxy's for the address it was translated to.
//!
//! - **Metrics** ([`metrics`], started by [`LbSync::publish_metrics`]): the `AWS/ApplicationELB` series of each
//!   served target group from the proxy's traffic counters and health, every 10 s.
//!
//! # Limitations
//! One data plane per server, in its process (no separate `berth lb` role yet). The proxy's listeners use
//! `SO_REUSEPORT`, so two Berth processes of the same user on one machine whose load balancers get the same address
//! (two servers on one store, or two data dirs with the same `--elb-address-range`) both bind it and the kernel
//! splits connections between them: give each its own range. A socket of another kind (or user) on the address
//! makes the bind fail, and that listener is logged and left out.

mod health;
pub mod metrics;
mod sync;
pub mod translate;

pub use health::{Addresses, ProxyHealth};
pub use sync::{Outcome, SyncOptions};
pub use translate::{
    CertificateSource, Certificates, InstanceAddresses, Problem, Translation, translate, translate_with,
};

use berth_elb::Elb;
use berth_lb::Proxy;
use berth_model::clock::Clock;
use std::sync::Arc;
use std::time::Duration;

/// A running data plane kept in step with the records. Dropping it stops the loop and the proxy's listeners.
pub struct LbSync {
    elb: Arc<Elb>,
    proxy: Arc<Proxy>,
    task: tokio::task::JoinHandle<()>,
    metrics: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LbSync {
    /// Sets the proxy's health as `elb`'s target health source and starts the loop (its first round at once).
    /// HTTPS listeners get their certificates from `certificates` (without one they are not served).
    pub fn start(
        elb: Arc<Elb>,
        proxy: Arc<Proxy>,
        instances: Arc<dyn InstanceAddresses>,
        certificates: Option<Arc<dyn CertificateSource>>,
        clock: Arc<dyn Clock>,
        options: SyncOptions,
    ) -> Self {
        let addresses = Addresses::default();
        elb.set_health_source(Arc::new(ProxyHealth::new(proxy.clone(), addresses.clone())));
        let syncer = sync::Syncer::new(elb.clone(), proxy.clone(), instances, addresses, certificates);
        let task = tokio::spawn(sync::run(syncer, clock, options));
        Self { elb, proxy, task, metrics: std::sync::Mutex::new(None) }
    }

    /// Starts writing the `AWS/ApplicationELB` metrics ([`metrics`]) into `sink` (replacing an earlier sink).
    pub fn publish_metrics(&self, sink: Arc<dyn metrics::MetricSink>, clock: Arc<dyn Clock>) {
        let task = tokio::spawn(metrics::publish(self.elb.clone(), self.proxy.clone(), sink, clock));
        if let Some(old) = self.metrics.lock().unwrap_or_else(|p| p.into_inner()).replace(task) {
            old.abort();
        }
    }

    /// The proxy.
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Stops the loop, then the proxy: listeners stop accepting and connections get `grace` to finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.task.abort();
        if let Some(metrics) = self.metrics.lock().unwrap_or_else(|p| p.into_inner()).take() {
            metrics.abort();
        }
        self.proxy.shutdown(grace).await;
    }
}

impl Drop for LbSync {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(metrics) = self.metrics.lock().unwrap_or_else(|p| p.into_inner()).take() {
            metrics.abort();
        }
    }
}

#[cfg(test)]
mod tests;
