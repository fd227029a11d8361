//! Forwarding a query Berth does not answer to the host's resolvers, over the client's transport
//! (`berth_dnsio::exchange`: a new socket and a random id per attempt, restored in the answer).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Sends `query` to the upstreams in turn until one answers, all within `timeout` (shared evenly).
pub async fn forward(upstreams: &[SocketAddr], query: &[u8], tcp: bool, timeout: Duration) -> io::Result<Vec<u8>> {
    if upstreams.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no upstream resolver"));
    }
    let each = timeout / upstreams.len() as u32;
    berth_dnsio::exchange::ask_in_turn(upstreams, query, tcp, |_| each).await
}
