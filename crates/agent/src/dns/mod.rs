//! The agent's DNS forwarder: what its tasks' containers resolve through.
//!
//! It serves UDP and TCP on port 53 of an address of its own ([`address`]: why not the bridges' gateways, and how
//! it is claimed), and relays each query ([`relay`]) to the server's DNS (Cloud Map's names, load balancers'
//! names, everything else forwarded to the server host's resolvers), which the desired state names
//! ([`DnsForwarder::set_server`]); when that does not answer (the server is down or serves no DNS), to this host's
//! own resolvers (`/etc/resolv.conf`), so ordinary names keep resolving and only Cloud Map's fail. Containers get
//! the address as their `Dns` (bridge tasks, and an awsvpc task's pause container) unless their definition names
//! `dnsServers`.
//!
//! Limits: at most [`MAX_IN_FLIGHT`] UDP queries wait for an upstream at once (more are dropped; clients retry),
//! at most [`MAX_TCP_CONNECTIONS`] TCP connections are held (more are closed at once), an idle one for [`TCP_IDLE`];
//! a query no upstream answers within the relay's timeouts gets SERVFAIL.

pub mod address;
pub mod relay;
pub mod wire;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;

/// UDP queries waiting for an upstream at once.
pub const MAX_IN_FLIGHT: usize = 1024;
/// TCP connections held at once.
pub const MAX_TCP_CONNECTIONS: usize = 128;
/// How long a TCP connection may stay idle.
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// The DNS port.
pub const PORT: u16 = 53;

/// Where queries go: the server's DNS (when known), then the host's resolvers.
#[derive(Debug, Default)]
struct Upstreams {
    server: RwLock<Option<SocketAddr>>,
    host: Vec<SocketAddr>,
}

impl Upstreams {
    fn list(&self) -> Vec<SocketAddr> {
        let server = *self.server.read().unwrap_or_else(|p| p.into_inner());
        server.into_iter().chain(self.host.iter().copied().filter(|h| Some(*h) != server)).collect()
    }
}

/// A running forwarder; dropping it stops it (the address stays on the interface for the next agent).
pub struct DnsForwarder {
    address: Ipv4Addr,
    upstreams: Arc<Upstreams>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for DnsForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsForwarder").field("address", &self.address).field("upstreams", &self.upstreams).finish()
    }
}

impl DnsForwarder {
    /// Claims this agent's address (see [`address`]) and serves it, relaying to this host's resolvers until
    /// [`DnsForwarder::set_server`] names the server's DNS. Fails when no address of the range can be claimed
    /// (the agent is not root, `ip` is missing, or every address is served).
    pub async fn start(data_dir: &Path) -> Result<Self, String> {
        let resolv_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let host = host_resolvers(&resolv_conf);
        let assigned = address::assigned().await?;
        let mut last = String::from("no address to try");
        for candidate in address::candidates(address::saved(data_dir), &assigned) {
            if !assigned.contains(&candidate) {
                address::assign(candidate).await?;
            }
            match bind(SocketAddr::new(IpAddr::V4(candidate), PORT)).await {
                Ok((udp, tcp)) => {
                    if let Err(error) = address::save(data_dir, candidate) {
                        tracing::warn!(%error, "cannot keep the DNS address in the data dir");
                    }
                    return Ok(Self::serve(candidate, udp, tcp, host));
                }
                Err(error) if error.kind() == io::ErrorKind::AddrInUse => {
                    last = format!("{candidate}:{PORT} is another agent's");
                }
                Err(error) => return Err(format!("binding {candidate}:{PORT}: {error}")),
            }
        }
        Err(format!("no free DNS address in {}/{}: {last}", address::RANGE.0, address::RANGE.1))
    }

    /// Serves already bound sockets (tests bind a free port on loopback).
    pub fn serve(address: Ipv4Addr, udp: UdpSocket, tcp: TcpListener, host: Vec<SocketAddr>) -> Self {
        let upstreams = Arc::new(Upstreams { server: RwLock::new(None), host });
        let tasks = vec![
            tokio::spawn(serve_udp(Arc::new(udp), upstreams.clone())),
            tokio::spawn(serve_tcp(tcp, upstreams.clone())),
        ];
        tracing::info!(%address, host_resolvers = ?upstreams.host, "DNS forwarder for tasks listening (UDP and TCP)");
        Self { address, upstreams, tasks }
    }

    /// The address containers are given as their resolver.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// Sends queries to `server` first (`None`: to the host's resolvers alone).
    pub fn set_server(&self, server: Option<SocketAddr>) {
        let mut current = self.upstreams.server.write().unwrap_or_else(|p| p.into_inner());
        if *current != server {
            tracing::info!(?server, "DNS forwarder: the server's DNS");
            *current = server;
        }
    }
}

impl Drop for DnsForwarder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The host's resolvers from a resolv.conf text (port 53), without agents' DNS addresses (never relay to oneself).
pub fn host_resolvers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|a| a.split('%').next().and_then(|a| a.parse::<IpAddr>().ok()))
        .filter(|ip| !matches!(ip, IpAddr::V4(v4) if address::in_range(*v4)))
        .map(|ip| SocketAddr::new(ip, PORT))
        .collect()
}

/// The server's DNS address as the desired state names it, with an unspecified IP replaced by `server_ip` (the
/// address the agent reaches the server at). `None` when it does not parse.
pub fn server_address(named: &str, server_ip: Option<IpAddr>) -> Option<SocketAddr> {
    let mut address: SocketAddr = named.parse().ok()?;
    if address.ip().is_unspecified() {
        address.set_ip(server_ip?);
    }
    Some(address)
}

/// A UDP socket and a TCP listener on `address`.
async fn bind(address: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let udp = UdpSocket::bind(address).await?;
    let tcp = TcpListener::bind(address).await?;
    Ok((udp, tcp))
}

async fn serve_udp(socket: Arc<UdpSocket>, upstreams: Arc<Upstreams>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors of earlier sends surface here; the socket stays usable.
                tracing::debug!(%error, "DNS forwarder: UDP receive failed");
                continue;
            }
        };
        if !wire::is_query(&buf[..n]) {
            continue;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else { continue };
        let query = buf[..n].to_vec();
        let (socket, upstreams) = (socket.clone(), upstreams.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(answer) = answer(&upstreams, &query, false).await
                && let Err(error) = socket.send_to(&answer, peer).await
            {
                tracing::debug!(%error, %peer, "DNS forwarder: UDP send failed");
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, upstreams: Arc<Upstreams>) {
    let limits = berth_dnsio::tcp::Limits { max_connections: MAX_TCP_CONNECTIONS, idle: TCP_IDLE };
    berth_dnsio::tcp::serve(listener, limits, move |query: Vec<u8>| {
        let upstreams = upstreams.clone();
        async move {
            if !wire::is_query(&query) {
                return None;
            }
            answer(&upstreams, &query, true).await
        }
    })
    .await
}

/// An upstream's answer to `query`, else SERVFAIL (`None`: the question does not parse; nothing is sent).
async fn answer(upstreams: &Upstreams, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    match relay::relay(&upstreams.list(), query, tcp).await {
        Ok(answer) => Some(answer),
        Err(error) => {
            tracing::debug!(%error, "DNS forwarder: no upstream answered; SERVFAIL");
            wire::servfail(query)
        }
    }
}

#[cfg(test)]
mod tests;
