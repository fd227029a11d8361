//! A tiny blocking HTTP/1.1 client for tests: one request per connection (`Connection: close`), `http://` only,
//! `Content-Length`, chunked and read-to-close bodies. It needs no async runtime; from async tests call it
//! directly for quick requests or through `tokio::task::spawn_blocking` for slow ones.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::TestkitError;

/// The timeout [`http_get`] uses for connecting and for each read.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// GETs `url` and returns the status code and the body (lossily decoded as UTF-8).
pub fn http_get(url: &str) -> Result<(u16, String), TestkitError> {
    http_get_timeout(url, DEFAULT_TIMEOUT)
}

/// [`http_get`] with an explicit connect and read timeout.
pub fn http_get_timeout(url: &str, timeout: Duration) -> Result<(u16, String), TestkitError> {
    let err = |message: String| TestkitError::Http { url: url.to_string(), message };
    let (authority, path) = split_url(url).map_err(err)?;
    let addr: SocketAddr = authority
        .to_socket_addrs()
        .map_err(|e| err(format!("resolve {authority}: {e}")))?
        .next()
        .ok_or_else(|| err(format!("{authority} resolved to nothing")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| err(format!("connect: {e}")))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| err(e.to_string()))?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| err(e.to_string()))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: berth-testkit\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| err(format!("send: {e}")))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| err(format!("read: {e}")))?;
    parse_response(&raw).map_err(err)
}

/// Splits `http://host:port/path` into `("host:port", "/path")`; the port defaults to 80.
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| "only http:// URLs are supported".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err("no host".to_string());
    }
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let authority = if has_port { authority.to_string() } else { format!("{authority}:80") };
    Ok((authority, path.to_string()))
}

/// Parses a complete response read until the server closed the connection.
fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("response has no end of head")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().unwrap_or_default().starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {status_line:?}"));
    }
    let status: u16 =
        parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if name == "content-length" {
            length = Some(value.parse::<usize>().map_err(|_| format!("bad content-length {value:?}"))?);
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(len) = length {
        body.get(..len).ok_or_else(|| format!("body cut short: {} of {len} bytes", body.len()))?.to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Decodes a chunked body (trailers are ignored).
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or("chunk size line not terminated")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("chunk cut short")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("chunk not terminated")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(split_url("http://127.0.0.1:8080/health").unwrap(), ("127.0.0.1:8080".into(), "/health".into()));
        assert_eq!(split_url("http://localhost").unwrap(), ("localhost:80".into(), "/".into()));
        assert_eq!(split_url("http://[::1]/x?y").unwrap(), ("[::1]:80".into(), "/x?y".into()));
        assert_eq!(split_url("http://[::1]:81/").unwrap(), ("[::1]:81".into(), "/".into()));
        assert!(split_url("https://x/").is_err());
        assert!(split_url("http:///x").is_err());
    }

    #[test]
    fn parses_plain_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\nEXTRA";
        assert_eq!(parse_response(plain).unwrap(), (200, "ok\n".into()));
        let chunked = b"HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nunhe\r\n5;x=y\r\nalthy\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (503, "unhealthy".into()));
        let to_close = b"HTTP/1.0 404 Not Found\r\n\r\nnope";
        assert_eq!(parse_response(to_close).unwrap(), (404, "nope".into()));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn talks_to_a_local_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /x HTTP/1.1\r\n"));
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
        });
        assert_eq!(http_get(&format!("http://127.0.0.1:{port}/x")).unwrap(), (200, "hi".into()));
        server.join().unwrap();
    }
}
