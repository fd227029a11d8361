//! Berth's DNS server: UDP and TCP on one address, answering Cloud Map's names from the index ([`answer`]) and
//! the [`HostNames`] it is given (load balancers' DNS names), and forwarding the rest ([`forward`]).
//!
//! Names Berth serves are answered in the UDP receive loop itself. Limits, as for the API listener: at most
//! [`MAX_IN_FLIGHT`] forwarded UDP queries wait at once (more are dropped; clients retry), at most
//! [`MAX_TCP_CONNECTIONS`] TCP connections are held (more are closed at once), and a TCP connection idle for
//! [`TCP_IDLE`] is closed.

pub mod answer;
pub mod forward;
pub mod resolv;

use crate::index::Index;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;

/// Forwarded UDP queries waiting for an upstream at once.
pub const MAX_IN_FLIGHT: usize = 1024;
/// TCP connections held at once.
pub const MAX_TCP_CONNECTIONS: usize = 128;
/// How long a TCP connection may stay idle.
pub const TCP_IDLE: Duration = Duration::from_secs(10);

/// Names outside Cloud Map that Berth answers itself, each with one IPv4 address (the server gives its load
/// balancers' DNS names). Looked up for every name no namespace holds, before forwarding.
pub trait HostNames: Send + Sync + 'static {
    /// The address of `name` (lowercase, without the final dot), or `None` when it is not one of these names.
    fn address(&self, name: &str) -> Option<Ipv4Addr>;
}

/// How the DNS server runs.
#[derive(Clone)]
pub struct DnsServerConfig {
    /// The address for UDP and TCP (port 0: any free port, the same for both).
    pub listen: SocketAddr,
    /// The resolvers other names go to; empty: the `nameserver`s of `/etc/resolv.conf`.
    pub upstreams: Vec<SocketAddr>,
    /// How long a forwarded query may take before the client gets SERVFAIL.
    pub forward_timeout: Duration,
    /// Names answered besides Cloud Map's (load balancers' DNS names).
    pub host_names: Option<Arc<dyn HostNames>>,
}

impl std::fmt::Debug for DnsServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServerConfig")
            .field("listen", &self.listen)
            .field("upstreams", &self.upstreams)
            .field("forward_timeout", &self.forward_timeout)
            .field("host_names", &self.host_names.is_some())
            .finish()
    }
}

impl DnsServerConfig {
    /// Listening on `listen`, forwarding to the host's resolvers with a 2 s timeout.
    pub fn new(listen: SocketAddr) -> Self {
        Self { listen, upstreams: Vec::new(), forward_timeout: Duration::from_secs(2), host_names: None }
    }
}

/// What a query handler needs.
struct Context {
    index: Arc<Index>,
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    host_names: Option<Arc<dyn HostNames>>,
}

/// A running DNS server; dropping it stops it.
pub struct DnsServer {
    addr: SocketAddr,
    upstreams: Vec<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl DnsServer {
    /// Binds UDP and TCP on `config.listen` and serves names from `index`.
    pub async fn start(index: Arc<Index>, config: DnsServerConfig) -> io::Result<Self> {
        let (udp, tcp) = bind(config.listen).await?;
        let addr = udp.local_addr()?;
        let resolv_conf = if config.upstreams.is_empty() {
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        } else {
            String::new()
        };
        let upstreams = resolv::upstreams(&config.upstreams, addr, &resolv_conf);
        if upstreams.is_empty() {
            tracing::warn!(%addr, "DNS: no upstream resolver; names outside Cloud Map namespaces get SERVFAIL");
        }
        let context = Arc::new(Context {
            index,
            upstreams: upstreams.clone(),
            timeout: config.forward_timeout,
            host_names: config.host_names,
        });
        let tasks =
            vec![tokio::spawn(serve_udp(Arc::new(udp), context.clone())), tokio::spawn(serve_tcp(tcp, context))];
        tracing::info!(%addr, ?upstreams, "DNS server listening (UDP and TCP)");
        Ok(Self { addr, upstreams, tasks })
    }

    /// The bound address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The resolvers other names are forwarded to.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A UDP socket and a TCP listener on one address. With port 0, a port free for both: the UDP socket's port may be
/// taken for TCP, so a few are tried.
async fn bind(listen: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut attempts = 0;
    loop {
        let udp = UdpSocket::bind(listen).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if listen.port() == 0 && e.kind() == io::ErrorKind::AddrInUse && attempts < 20 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, context: Arc<Context>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors of earlier sends surface here on some systems; the socket stays usable.
                tracing::debug!(%error, "DNS: UDP receive failed");
                continue;
            }
        };
        // Cloud Map's names are answered here, in the loop (no task, no copy); only forwarded queries wait for an
        // upstream, each in its own task under the in-flight cap.
        match prepare(&context, &buf[..n], false) {
            Step::Done(None) => {}
            Step::Done(Some(response)) => {
                if let Err(error) = socket.send_to(&response, peer).await {
                    tracing::debug!(%error, %peer, "DNS: UDP send failed");
                }
            }
            Step::Forward(query) => {
                let Ok(permit) = in_flight.clone().try_acquire_owned() else { continue };
                let bytes = buf[..n].to_vec();
                let (socket, context) = (socket.clone(), context.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Some(response) = forward_query(&context, &query, &bytes, false).await
                        && let Err(error) = socket.send_to(&response, peer).await
                    {
                        tracing::debug!(%error, %peer, "DNS: UDP send failed");
                    }
                });
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, context: Arc<Context>) {
    let limits = berth_dnsio::tcp::Limits { max_connections: MAX_TCP_CONNECTIONS, idle: TCP_IDLE };
    berth_dnsio::tcp::serve(listener, limits, move |query: Vec<u8>| {
        let context = context.clone();
        async move { handle(&context, &query, true).await }
    })
    .await
}

/// What to do with one query's bytes.
enum Step {
    /// Send this (None: nothing, the bytes are no query).
    Done(Option<Vec<u8>>),
    /// Forward this query.
    Forward(Box<Message>),
}

/// Answers a query from the index, or says it must be forwarded.
fn prepare(context: &Context, bytes: &[u8], tcp: bool) -> Step {
    let query = match Message::from_vec(bytes) {
        Ok(query) => query,
        Err(_) if bytes.len() >= 12 && bytes[2] & 0x80 == 0 => {
            // FORMERR with the query's id.
            let mut out = bytes[..12].to_vec();
            out[2] = (out[2] | 0x80) & 0xf9;
            out[3] = 0x01;
            out[4..12].fill(0);
            return Step::Done(Some(out));
        }
        Err(_) => return Step::Done(None),
    };
    if query.message_type != MessageType::Query {
        return Step::Done(None);
    }
    let local = {
        let state = context.index.read();
        answer::answer(&state, &query)
    };
    match local {
        answer::Answer::Local(response) => Step::Done(encode(&query, &response, tcp)),
        answer::Answer::Forward => {
            match context.host_names.as_deref().and_then(|names| answer::host_name(names, &query)) {
                Some(response) => Step::Done(encode(&query, &response, tcp)),
                None => Step::Forward(Box::new(query)),
            }
        }
    }
}

/// The upstream's answer to a forwarded query, or SERVFAIL.
async fn forward_query(context: &Context, query: &Message, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
    match forward::forward(&context.upstreams, bytes, tcp, context.timeout).await {
        Ok(response) => Some(response),
        Err(error) => {
            tracing::debug!(%error, "DNS: forwarding failed; SERVFAIL");
            encode(query, &answer::error(query, ResponseCode::ServFail), tcp)
        }
    }
}

/// The response to one query's bytes (None: not a query, or too short to answer).
async fn handle(context: &Context, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
    match prepare(context, bytes, tcp) {
        Step::Done(response) => response,
        Step::Forward(query) => forward_query(context, &query, bytes, tcp).await,
    }
}

/// The response's bytes. Over UDP, larger than the client takes: without the additional section (an SRV answer's
/// addresses), and if still too large, cut to the header and question with TC set (the client retries over TCP).
fn encode(query: &Message, response: &Message, tcp: bool) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok()?;
    let limit = query.max_payload() as usize;
    if tcp || bytes.len() <= limit {
        return Some(bytes);
    }
    if !response.additionals.is_empty() {
        let mut lean = response.clone();
        lean.additionals.clear();
        if let Ok(bytes) = lean.to_vec()
            && bytes.len() <= limit
        {
            return Some(bytes);
        }
    }
    response.truncate().to_vec().ok()
}

#[cfg(test)]
mod tests;
