//! The `healthcheck` subcommand's HTTP GET client: a scratch image has no curl and no shell, so a task
//! definition's `healthCheck` runs `["CMD", "/berth-workload", "healthcheck", "http://127.0.0.1:8080/health"]`.
//!
//! Hosts are IP literals, `localhost`, or names looked up through the container's `/etc/resolv.conf` by the
//! workload's own stub resolver (`resolve`): a statically linked glibc cannot load the NSS modules that name
//! resolution needs inside a scratch image, so the system's lookup is only the last resort.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A parsed `http://host[:port][/path]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The host as written (without brackets for IPv6).
    pub host: String,
    /// The port, 80 when absent.
    pub port: u16,
    /// The path and query, `/` when absent.
    pub path: String,
}

/// Parses an `http://` URL; `https` is not supported.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| format!("unclosed [ in {url}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in {url}"));
    }
    let port = match port {
        None => 80,
        Some(p) => p.parse().map_err(|_| format!("bad port in {url}"))?,
    };
    Ok(Url { host: host.to_string(), port, path: path.to_string() })
}

fn resolve(url: &Url) -> io::Result<SocketAddr> {
    if let Ok(ip) = url.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, url.port));
    }
    if url.host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), url.port));
    }
    // A name through the container's resolv.conf, as the workload's own stub resolver reads it (what a dynamically
    // linked program's libc would do), then the system's.
    if let Some(address) = crate::resolve::first_address(&url.host) {
        return Ok(SocketAddr::new(IpAddr::V4(address), url.port));
    }
    (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} did not resolve", url.host)))
}

/// GETs `url` with `timeout` for connecting and for each read or write; returns the status and body.
pub fn get(url: &str, timeout: Duration) -> io::Result<(u16, String)> {
    let parsed = parse_url(url).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let addr = resolve(&parsed)?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: berth-workload\r\nConnection: close\r\n\r\n",
        parsed.path, parsed.host, parsed.port
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Splits a raw `Connection: close` response into status and body (chunked bodies are returned undecoded).
pub fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("response has no end of head")?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {status_line}"));
    }
    let status = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line: {status_line}"))?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/health").unwrap(),
            Url { host: "127.0.0.1".into(), port: 8080, path: "/health".into() }
        );
        assert_eq!(parse_url("http://example").unwrap(), Url { host: "example".into(), port: 80, path: "/".into() });
        assert_eq!(
            parse_url("http://[::1]:81/a?b=c").unwrap(),
            Url { host: "::1".into(), port: 81, path: "/a?b=c".into() }
        );
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://x:port/").is_err());
    }

    #[test]
    fn parses_responses() {
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nok\n").unwrap(), (200, "ok\n".into()));
        assert_eq!(parse_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\n").unwrap(), (503, String::new()));
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn resolves_literals_and_localhost_without_nss() {
        let url = parse_url("http://localhost:9/").unwrap();
        assert_eq!(resolve(&url).unwrap(), "127.0.0.1:9".parse().unwrap());
        let url = parse_url("http://[::1]:9/").unwrap();
        assert_eq!(resolve(&url).unwrap(), "[::1]:9".parse().unwrap());
    }
}
