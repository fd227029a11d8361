//! Routing between the VPC's hosts: this host's routes to the other hosts' slices, and the iptables rules that
//! let that traffic through Docker's rules unmasqueraded, both from the desired state.
//!
//! The server sends, with every desired state, the VPC's CIDR and `<slice> via <host address>` for each slice of
//! every other registered host that holds a VPC slot (`berth_control::host_routes`). The agent makes its routing
//! table hold exactly those among its own routes ([`table`]: marked with a protocol number, so it never touches
//! another's), and, while it routes to any other host, keeps two rules per VPC ([`rules`]): no masquerading between
//! the VPC's addresses, and forwarded VPC traffic that the destination task's security groups let through accepted
//! onto the slice's bridge. With no other host, both rules are removed. It applies a new host network at once and
//! re-applies the last one every [`RESYNC_EVERY`] (Docker puts a new network's masquerade rule on top of
//! `POSTROUTING`; [`network_created`] puts the VPC's rule back above it as soon as the agent made a network).
//!
//! Routes and rules stay when the agent stops, as its containers do; the next agent on the host takes them over.
//!
//! Limitations: the hosts must reach each other's host addresses directly (one network); across routed networks an
//! overlay is the operator's. Needs root and `ip`/`iptables`, as security groups do.

pub mod rules;
pub mod table;

use berth_model::agent::HostNetwork;
use berth_model::cidr::Cidr;
use berth_model::clock::Clock;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the last host network is applied again (drift: another process's changes, Docker's new rules).
pub const RESYNC_EVERY: Duration = Duration::from_secs(10);

/// The host network last applied (read by [`network_created`]).
static CURRENT: std::sync::Mutex<Option<HostNetwork>> = std::sync::Mutex::new(None);
/// One application at a time.
static APPLYING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn current() -> Option<HostNetwork> {
    CURRENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

/// Makes the host's routes and rules match `network`. Every part is tried; the failures are returned together.
pub async fn apply(network: &HostNetwork) -> Result<(), String> {
    let _one = APPLYING.lock().await;
    let vpc =
        Cidr::parse(&network.vpc_cidr).ok_or_else(|| format!("the VPC CIDR {:?} is not valid", network.vpc_cidr))?;
    let mut failures = Vec::new();
    if network.routes.is_empty() {
        // Routes first, then the rules they needed.
        if let Err(e) = table::apply(&network.routes, &vpc).await {
            failures.push(e);
        }
        // Removing nothing from a host without iptables (or root) is not a failure.
        let _ = rules::remove(&vpc).await;
    } else {
        // The rules first: a first packet routed before them would be masqueraded, and its connection with it.
        if let Err(e) = rules::ensure(&vpc).await {
            failures.push(e);
        }
        if let Err(e) = table::apply(&network.routes, &vpc).await {
            failures.push(e);
        }
    }
    *CURRENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(network.clone());
    if failures.is_empty() { Ok(()) } else { Err(failures.join("; ")) }
}

/// Called after the agent created a slice's network: Docker inserted its masquerade rule on top of `POSTROUTING`,
/// above the VPC's exemption; this puts the exemption back first (when the host routes to other hosts).
pub async fn network_created() {
    let Some(network) = current().filter(|n| !n.routes.is_empty()) else { return };
    let Some(vpc) = Cidr::parse(&network.vpc_cidr) else { return };
    let _one = APPLYING.lock().await;
    if let Err(error) = rules::ensure(&vpc).await {
        tracing::warn!(%error, "cannot restore the VPC's routing rules after creating a network");
    }
}

/// Applies each host network the stream delivers, and the last one again every [`RESYNC_EVERY`], until the
/// sender is gone. A failure is logged when it first occurs or changes.
pub async fn run(mut networks: watch::Receiver<Option<HostNetwork>>, clock: Arc<dyn Clock>) {
    let mut last_error: Option<String> = None;
    loop {
        let network = networks.borrow_and_update().clone();
        if let Some(network) = network {
            match apply(&network).await {
                Ok(()) => {
                    if last_error.take().is_some() {
                        tracing::info!("routes to the other hosts are in place again");
                    }
                }
                Err(error) => {
                    if last_error.as_deref() != Some(&error) {
                        tracing::warn!(%error, "cannot route to the other hosts' awsvpc tasks");
                    }
                    last_error = Some(error);
                }
            }
        }
        let next = clock.now() + RESYNC_EVERY.as_secs_f64();
        tokio::select! {
            changed = networks.changed() => if changed.is_err() { return },
            () = clock.sleep_until(next) => {}
        }
    }
}
