//! A minimal HTTP/1.1 request parser and response writer: enough for GET requests with keep-alive, nothing more.
//!
//! The head of a request (request line and headers) must fit in [`MAX_HEAD`] bytes; a body, when a client sends
//! one, is read and discarded by the server using `Content-Length` (chunked request bodies are refused).

use std::io::{self, Write};

/// The largest request head accepted, in bytes.
pub const MAX_HEAD: usize = 16 * 1024;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`GET`, `HEAD` ...).
    pub method: String,
    /// The path without its query string, percent-decoded.
    pub path: String,
    /// The query parameters in order, percent-decoded (`+` is a space).
    pub query: Vec<(String, String)>,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Header names lowercased, values trimmed, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first query parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only
    /// with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        match connection.as_deref() {
            Some("close") => false,
            Some("keep-alive") => true,
            _ => self.version == "HTTP/1.1",
        }
    }

    /// The declared body length (0 when absent).
    pub fn content_length(&self) -> Result<usize, ParseError> {
        match self.header("content-length") {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| ParseError::Malformed("bad content-length")),
        }
    }
}

/// Why a request head could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The head is larger than [`MAX_HEAD`].
    TooLarge,
    /// The head is not HTTP/1.x.
    Malformed(&'static str),
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete, else the request and the number of bytes it used.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, ParseError> {
    let Some(end) = find_head_end(buf) else {
        return if buf.len() > MAX_HEAD { Err(ParseError::TooLarge) } else { Ok(None) };
    };
    if end > MAX_HEAD {
        return Err(ParseError::TooLarge);
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ParseError::Malformed("head is not utf-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed("bad request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ParseError::Malformed("bad method"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(ParseError::Malformed("unsupported version"));
    }
    if !target.starts_with('/') {
        return Err(ParseError::Malformed("target must be an absolute path"));
    }
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(ParseError::Malformed("header without colon"))?;
        if name.is_empty() || name.contains(' ') {
            return Err(ParseError::Malformed("bad header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let request = Request {
        method: method.to_string(),
        path: percent_decode(raw_path, false),
        query: parse_query(raw_query),
        version: version.to_string(),
        headers,
    };
    Ok(Some((request, end + 4)))
}

/// The offset of the `\r\n\r\n` that ends a head, if present.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Splits a query string into decoded `(name, value)` pairs; a name without `=` has an empty value.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); malformed escapes are kept literally and
/// invalid UTF-8 is replaced.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    /// A `text/plain` response; a newline is appended to the body.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        body.push('\n');
        Response { status, content_type: "text/plain; charset=utf-8", body }
    }

    /// An `application/json` response.
    pub fn json(status: u16, body: String) -> Self {
        Response { status, content_type: "application/json", body }
    }
}

/// The reason phrase for the statuses this server uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes `response` (without its body for `HEAD`), announcing whether the connection stays open.
pub fn write_response(w: &mut impl Write, response: &Response, keep_alive: bool, head_only: bool) -> io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        connection
    );
    w.write_all(head.as_bytes())?;
    if !head_only {
        w.write_all(response.body.as_bytes())?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Request {
        match parse_head(s.as_bytes()) {
            Ok(Some((r, used))) => {
                assert_eq!(used, s.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0));
                r
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parses_a_get_with_query_and_headers() {
        let r = parse("GET /stdout?line=hello+world%21&x HTTP/1.1\r\nHost: a\r\nX-Thing:  v \r\n\r\n");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/stdout");
        assert_eq!(r.param("line"), Some("hello world!"));
        assert_eq!(r.param("x"), Some(""));
        assert_eq!(r.param("missing"), None);
        assert_eq!(r.header("x-thing"), Some("v"));
        assert!(r.keep_alive());
    }

    #[test]
    fn keep_alive_rules() {
        assert!(!parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
    }

    #[test]
    fn incomplete_heads_wait_and_pipelined_requests_split() {
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
        let two = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        let Ok(Some((first, used))) = parse_head(two) else { panic!("first request") };
        assert_eq!(first.path, "/a");
        let Ok(Some((second, _))) = parse_head(&two[used..]) else { panic!("second request") };
        assert_eq!(second.path, "/b");
    }

    #[test]
    fn rejects_malformed_and_oversized_heads() {
        assert!(matches!(parse_head(b"GET /\r\n\r\n"), Err(ParseError::Malformed(_))));
        assert!(matches!(parse_head(b"get / HTTP/1.1\r\n\r\n"), Err(ParseError::Malformed(_))));
        assert!(matches!(parse_head(b"GET / HTTP/2\r\n\r\n"), Err(ParseError::Malformed(_))));
        assert!(matches!(parse_head(b"GET http://x/ HTTP/1.1\r\n\r\n"), Err(ParseError::Malformed(_))));
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"), Err(ParseError::Malformed(_))));
        let big = vec![b'a'; MAX_HEAD + 1];
        assert_eq!(parse_head(&big), Err(ParseError::TooLarge));
        let r = parse("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
        assert!(r.content_length().is_err());
    }

    #[test]
    fn percent_decoding_edge_cases() {
        assert_eq!(percent_decode("a%20b", false), "a b");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%E2%98%83", true), "☃");
        assert_eq!(percent_decode("%ff", true), "\u{fffd}");
    }

    #[test]
    fn writes_a_response() {
        let mut out = Vec::new();
        write_response(&mut out, &Response::text(503, "unhealthy"), false, false).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(s.contains("Content-Length: 10\r\n"));
        assert!(s.contains("Connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\nunhealthy\n"));
        let mut out = Vec::new();
        write_response(&mut out, &Response::text(200, "ok"), true, true).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with("Connection: keep-alive\r\n\r\n"));
    }
}
