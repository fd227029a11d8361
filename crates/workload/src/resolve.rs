//! `/resolve?name=N&type=A|SRV`: a DNS lookup the way a container's stub resolver makes it, from its
//! `/etc/resolv.conf` (the `nameserver`s in turn, the `search` domains and `ndots`), over UDP. A static glibc
//! cannot load the NSS modules `getaddrinfo` needs in a scratch image, so the workload asks the resolver itself.
//! The answer is one record a line (`A 172.31.0.2`, `SRV 1 1 8080 target.`), after a `# name via server` line.
//! `&server=IP:PORT` asks that server instead; `&repeat=N` times N lookups of the name as given (see [`timed`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// How long each server gets for each name.
const TIMEOUT: Duration = Duration::from_secs(3);

/// A record type the endpoint asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// IPv4 addresses.
    A,
    /// Services: priority, weight, port, target.
    Srv,
}

impl Kind {
    fn code(self) -> u16 {
        match self {
            Kind::A => 1,
            Kind::Srv => 33,
        }
    }
}

/// What `/etc/resolv.conf` says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The `nameserver`s (port 53).
    pub servers: Vec<SocketAddr>,
    /// The `search` domains.
    pub search: Vec<String>,
    /// `options ndots:N` (1 by default).
    pub ndots: usize,
}

/// Parses a resolv.conf text.
pub fn parse_config(text: &str) -> Config {
    let mut config = Config { ndots: 1, ..Config::default() };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    config.servers.push(SocketAddr::new(ip, 53));
                }
            }
            Some("search") | Some("domain") => config.search = words.map(str::to_string).collect(),
            Some("options") => {
                for option in words {
                    if let Some(n) = option.strip_prefix("ndots:").and_then(|n| n.parse().ok()) {
                        config.ndots = n;
                    }
                }
            }
            _ => {}
        }
    }
    config
}

/// The names to try for `name`, in the stub resolver's order.
pub fn candidates(name: &str, config: &Config) -> Vec<String> {
    if let Some(absolute) = name.strip_suffix('.') {
        return vec![absolute.to_string()];
    }
    let searched = config.search.iter().map(|domain| format!("{name}.{}", domain.trim_end_matches('.')));
    if name.matches('.').count() >= config.ndots {
        std::iter::once(name.to_string()).chain(searched).collect()
    } else {
        searched.chain(std::iter::once(name.to_string())).collect()
    }
}

/// A query for `name` of `kind` with `id`, recursion desired.
pub fn query(id: u16, name: &str, kind: Kind) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.extend_from_slice(&[0, 0, 0, 0, 1]);
    let at = q.len() - 4;
    q[at..at + 2].copy_from_slice(&kind.code().to_be_bytes());
    q
}

/// A domain name at `at` (following compression pointers) and the offset after it.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..64 {
        let len = *msg.get(at)? as usize;
        if len & 0xc0 == 0xc0 {
            let pointer = ((len & 0x3f) << 8) | *msg.get(at + 1)? as usize;
            end.get_or_insert(at + 2);
            at = pointer;
            continue;
        }
        if len == 0 {
            return Some((format!("{}.", labels.join(".")), end.unwrap_or(at + 1)));
        }
        labels.push(String::from_utf8_lossy(msg.get(at + 1..at + 1 + len)?).into_owned());
        at += 1 + len;
    }
    None
}

/// The response code and the answer records of `kind`, one text each.
pub fn parse_answer(msg: &[u8], kind: Kind) -> Option<(u8, Vec<String>)> {
    if msg.len() < 12 {
        return None;
    }
    let rcode = msg[3] & 0x0f;
    let questions = u16::from_be_bytes([msg[4], msg[5]]);
    let answers = u16::from_be_bytes([msg[6], msg[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = read_name(msg, at)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..answers {
        at = read_name(msg, at)?.1;
        let head = msg.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[8], head[9]]) as usize;
        let data = msg.get(at + 10..at + 10 + len)?;
        if rtype == kind.code() {
            match kind {
                Kind::A if len == 4 => out.push(format!("A {}", Ipv4Addr::new(data[0], data[1], data[2], data[3]))),
                Kind::Srv if len >= 7 => {
                    let n = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
                    let target = read_name(msg, at + 16)?.0;
                    out.push(format!("SRV {} {} {} {target}", n(0), n(2), n(4)));
                }
                _ => {}
            }
        }
        at += 10 + len;
    }
    Some((rcode, out))
}

/// Looks `name` up as the container's resolver configuration says (or at `server` alone, as given): (status,
/// body). 200 with the records, 404 when every candidate name is NXDOMAIN or has none, 502 when no server answered.
pub fn resolve(name: &str, kind: Kind, server: Option<SocketAddr>) -> (u16, String) {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut config = parse_config(&text);
    if let Some(server) = server {
        config.servers = vec![server];
    }
    if config.servers.is_empty() {
        return (502, format!("no nameserver in /etc/resolv.conf:\n{text}"));
    }
    let mut notes = Vec::new();
    let mut answered = false;
    for (i, candidate) in candidates(name, &config).iter().enumerate() {
        for server in &config.servers {
            let id = (std::process::id() as u16).wrapping_add(i as u16).wrapping_mul(31);
            match ask(*server, &query(id, candidate, kind), id, kind) {
                Ok((0, records)) if !records.is_empty() => {
                    return (200, format!("# {candidate} via {server}\n{}\n", records.join("\n")));
                }
                Ok((rcode, _)) => {
                    answered = true;
                    notes.push(format!("{candidate} via {server}: rcode {rcode}, no {kind:?} record"));
                    break; // an answer: the next name, not the next server
                }
                Err(error) => notes.push(format!("{candidate} via {server}: {error}")),
            }
        }
    }
    (if answered { 404 } else { 502 }, notes.join("\n"))
}

/// The first IPv4 address of `name` as the container's resolver configuration finds it (search domains, ndots),
/// as an application's lookup would.
pub fn first_address(name: &str) -> Option<Ipv4Addr> {
    let (status, body) = resolve(name, Kind::A, None);
    if status != 200 {
        return None;
    }
    body.lines().find_map(|line| line.strip_prefix("A ")).and_then(|a| a.trim().parse().ok())
}

/// Answer times of `count` lookups of the absolute `name` (type A) at `server`, or at the first server of the
/// container's resolv.conf, one at a time: (status, `count N p50_us X p99_us Y`).
#[allow(clippy::disallowed_methods)] // a std-only test container: it times its own lookups on the system's clock
pub fn timed(name: &str, server: Option<SocketAddr>, count: usize) -> (u16, String) {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let Some(server) = server.or_else(|| parse_config(&text).servers.first().copied()) else {
        return (502, format!("no nameserver in /etc/resolv.conf:\n{text}"));
    };
    let mut times = Vec::with_capacity(count);
    for i in 0..count.max(1) {
        let id = i as u16;
        let started = std::time::Instant::now();
        match ask(server, &query(id, name, Kind::A), id, Kind::A) {
            Ok((0, records)) if !records.is_empty() => times.push(started.elapsed()),
            Ok((rcode, _)) => return (404, format!("{name} via {server}: rcode {rcode}, no A record")),
            Err(error) => return (502, format!("{name} via {server}: {error}")),
        }
    }
    times.sort();
    let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)].as_micros();
    (200, format!("count {} p50_us {} p99_us {} via {server}\n", times.len(), at(50), at(99)))
}

fn ask(server: SocketAddr, q: &[u8], id: u16, kind: Kind) -> std::io::Result<(u8, Vec<String>)> {
    let bind: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(bind)?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(TIMEOUT))?;
    socket.send(q)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf)?;
        if n >= 12 && buf[..2] == id.to_be_bytes() {
            let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "an answer that does not parse");
            return parse_answer(&buf[..n], kind).ok_or_else(invalid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resolv_conf_and_orders_the_names() {
        let config = parse_config("nameserver 127.0.0.11\nsearch shop.compose.berth corp\noptions ndots:0\n");
        assert_eq!(config.servers, vec!["127.0.0.11:53".parse().unwrap()]);
        assert_eq!(config.ndots, 0);
        assert_eq!(candidates("kv", &config), vec!["kv", "kv.shop.compose.berth", "kv.corp"]);
        let config = parse_config("nameserver 10.0.0.2\nsearch ns.local\n");
        assert_eq!(candidates("kv", &config), vec!["kv.ns.local", "kv"]);
        assert_eq!(candidates("a.b", &config), vec!["a.b", "a.b.ns.local"]);
        assert_eq!(candidates("a.b.", &config), vec!["a.b"]);
    }

    #[test]
    fn parses_a_and_srv_answers_with_compression() {
        let mut msg = query(9, "web.ns", Kind::A);
        msg[2] = 0x81;
        msg[7] = 1;
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 172, 31, 0, 5]);
        assert_eq!(parse_answer(&msg, Kind::A), Some((0, vec!["A 172.31.0.5".to_string()])));
        let mut srv = query(9, "web.ns", Kind::Srv);
        srv[2] = 0x81;
        srv[7] = 1;
        srv.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 10, 0, 1, 0, 2, 0x1f, 0x90, 1, b'x', 0xc0, 12]);
        assert_eq!(parse_answer(&srv, Kind::Srv), Some((0, vec!["SRV 1 2 8080 x.web.ns.".to_string()])));
        assert_eq!(parse_answer(&msg[..11], Kind::A), None);
    }
}
