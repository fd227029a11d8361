//! The responses the load balancer makes itself: its error pages (ALB's status codes and bodies), fixed responses
//! and redirects.

use crate::body::ProxyBody;
use crate::config::{FixedResponse, Redirect};
use http::{HeaderValue, Response, StatusCode, header};

const SERVER: HeaderValue = HeaderValue::from_static("awselb/2.0");

/// ALB's page for an error status (`502 Bad Gateway` ...).
pub(crate) fn error_page(status: StatusCode) -> Response<ProxyBody> {
    // ALB's own wording for 503 differs from the registry's reason phrase.
    let reason = if status == StatusCode::SERVICE_UNAVAILABLE {
        "Service Temporarily Unavailable"
    } else {
        status.canonical_reason().unwrap_or("")
    };
    let title = format!("{} {reason}", status.as_u16());
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut resp = Response::new(ProxyBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::SERVER, SERVER);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// A fixed-response action's answer.
pub(crate) fn fixed(f: &FixedResponse) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(f.message_body.clone().unwrap_or_default()));
    *resp.status_mut() = StatusCode::from_u16(f.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(header::SERVER, SERVER);
    let ct = f.content_type.as_deref().unwrap_or("text/plain");
    if let Ok(v) = HeaderValue::from_str(&format!("{ct}; charset=utf-8")) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// What a redirect's placeholders stand for in one request.
pub(crate) struct Parts<'a> {
    /// `http` or `https`: the listener's.
    pub scheme: &'static str,
    /// The host, without a port.
    pub host: &'a str,
    /// The listener's port.
    pub port: u16,
    /// The path (with its leading `/`).
    pub path: &'a str,
    /// The query, without `?`.
    pub query: &'a str,
}

fn substitute(template: &str, p: &Parts<'_>) -> String {
    template
        .replace("#{protocol}", p.scheme)
        .replace("#{host}", p.host)
        .replace("#{port}", &p.port.to_string())
        .replace("#{path}", p.path.strip_prefix('/').unwrap_or(p.path))
        .replace("#{query}", p.query)
}

/// The `Location` of a redirect: each absent part keeps the request's; a port that is the scheme's default is
/// left out, and so is an empty query.
pub(crate) fn location(r: &Redirect, p: &Parts<'_>) -> String {
    let scheme = substitute(r.protocol.as_deref().unwrap_or("#{protocol}"), p).to_ascii_lowercase();
    let host = substitute(r.host.as_deref().unwrap_or("#{host}"), p);
    let port = substitute(r.port.as_deref().unwrap_or("#{port}"), p);
    let path = substitute(r.path.as_deref().unwrap_or("/#{path}"), p);
    let query = substitute(r.query.as_deref().unwrap_or("#{query}"), p);
    let default_port = matches!((scheme.as_str(), port.as_str()), ("http", "80") | ("https", "443"));
    let mut out = format!("{scheme}://{host}");
    if !default_port {
        out.push(':');
        out.push_str(&port);
    }
    out.push_str(&path);
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    out
}

/// A redirect's answer.
pub(crate) fn redirect(r: &Redirect, p: &Parts<'_>) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(""));
    *resp.status_mut() = if r.status_code == 301 { StatusCode::MOVED_PERMANENTLY } else { StatusCode::FOUND };
    resp.headers_mut().insert(header::SERVER, SERVER);
    if let Ok(v) = HeaderValue::from_str(&location(r, p)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(
        protocol: Option<&str>,
        port: Option<&str>,
        host: Option<&str>,
        path: Option<&str>,
        query: Option<&str>,
    ) -> Redirect {
        Redirect {
            protocol: protocol.map(Into::into),
            port: port.map(Into::into),
            host: host.map(Into::into),
            path: path.map(Into::into),
            query: query.map(Into::into),
            status_code: 301,
        }
    }

    const P: Parts<'static> = Parts { scheme: "http", host: "example.com", port: 80, path: "/a/b", query: "x=1" };

    #[test]
    fn http_to_https() {
        assert_eq!(location(&r(Some("HTTPS"), Some("443"), None, None, None), &P), "https://example.com/a/b?x=1");
    }

    #[test]
    fn placeholders_and_ports() {
        let red = r(None, Some("8443"), Some("new.#{host}"), Some("/v2/#{path}"), Some("#{query}&y=2"));
        assert_eq!(location(&red, &P), "http://new.example.com:8443/v2/a/b?x=1&y=2");
        let empty = Parts { query: "", ..P };
        assert_eq!(location(&r(None, None, Some("h"), None, None), &empty), "http://h/a/b");
    }

    #[test]
    fn error_pages_look_like_alb() {
        let resp = error_page(StatusCode::BAD_GATEWAY);
        assert_eq!(resp.status(), 502);
        assert_eq!(resp.headers()["server"], "awselb/2.0");
    }
}
