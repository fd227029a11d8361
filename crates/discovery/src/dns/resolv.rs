//! The host's resolvers, from `/etc/resolv.conf`.

use std::net::{IpAddr, SocketAddr};

/// The `nameserver` addresses of a resolv.conf text (port 53; an IPv6 zone suffix such as `%eth0` is dropped).
pub fn nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|addr| addr.split('%').next().and_then(|a| a.parse::<IpAddr>().ok()))
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The resolvers to forward to: `given` if any, else the host's; without those that are this server itself
/// (`own`: its bound address, a wildcard bind counting as every local address).
pub fn upstreams(given: &[SocketAddr], own: SocketAddr, resolv_conf: &str) -> Vec<SocketAddr> {
    let candidates = if given.is_empty() { nameservers(resolv_conf) } else { given.to_vec() };
    candidates.into_iter().filter(|up| !is_self(*up, own)).collect()
}

fn is_self(up: SocketAddr, own: SocketAddr) -> bool {
    if up.port() != own.port() {
        return false;
    }
    up.ip() == own.ip() || (own.ip().is_unspecified() && (up.ip().is_loopback() || up.ip().is_unspecified()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameservers_and_skips_itself() {
        let text = "# comment\nsearch corp\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver 127.0.0.1\noptions ndots:5\nnameserver bogus\n";
        let all = nameservers(text);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], "10.0.0.2:53".parse().unwrap());
        let own: SocketAddr = "127.0.0.1:53".parse().unwrap();
        assert_eq!(upstreams(&[], own, text).len(), 2, "the server itself is not an upstream");
        let wildcard: SocketAddr = "0.0.0.0:53".parse().unwrap();
        assert_eq!(upstreams(&[], wildcard, text).len(), 2);
        let other_port: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        assert_eq!(upstreams(&[], other_port, text).len(), 3);
        let given: SocketAddr = "127.0.0.1:9953".parse().unwrap();
        assert_eq!(upstreams(&[given], own, text), vec![given]);
    }
}
