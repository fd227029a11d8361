//! Relaying one query: to each upstream in turn (the server's DNS first, then the host's resolvers) until one
//! answers, over the transport the client used (`berth_dnsio::exchange`: a new socket and a random id per attempt).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// How long the first upstream (the server's DNS, which itself forwards for up to 2 s) gets.
pub const FIRST_TIMEOUT: Duration = Duration::from_millis(2500);
/// How long each later upstream (a host resolver) gets.
pub const LATER_TIMEOUT: Duration = Duration::from_millis(1500);

/// The first answer of `upstreams` to `query`, asked in turn; the last failure when none answers.
pub async fn relay(upstreams: &[SocketAddr], query: &[u8], tcp: bool) -> io::Result<Vec<u8>> {
    berth_dnsio::exchange::ask_in_turn(upstreams, query, tcp, |i| if i == 0 { FIRST_TIMEOUT } else { LATER_TIMEOUT })
        .await
}
