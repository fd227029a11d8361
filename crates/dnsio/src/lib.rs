//! DNS transport that Berth's DNS server (`berth-discovery`) and each agent's forwarder (`berth-agent`) share,
//! without decoding records: one query exchanged with upstream resolvers ([`exchange`]: a fresh socket and a random
//! id per attempt, over the client's transport, upstreams asked in turn) and DNS over TCP served with limits
//! ([`tcp`]: length-prefixed messages, a cap on connections, an idle timeout).

pub mod exchange;
pub mod tcp;

/// The length of a DNS header.
pub const HEADER: usize = 12;
