//! Header work on the way through: hop-by-hop headers out, `X-Forwarded-*` and `X-Amzn-Trace-Id` in, and the
//! stickiness cookies.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::{IpAddr, SocketAddr};

/// Headers that concern one connection only (RFC 9110 §7.6.1), never forwarded.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Whether a `Connection` token names a header to remove (not `close`/`keep-alive`, which name none, nor
/// `upgrade` when the upgrade goes through).
fn names_a_header(token: &str, upgrade: bool) -> bool {
    !(token.is_empty()
        || token.eq_ignore_ascii_case("close")
        || token.eq_ignore_ascii_case("keep-alive")
        || (upgrade && token.eq_ignore_ascii_case("upgrade")))
}

/// Removes hop-by-hop headers and those the `Connection` header names; `Upgrade` (and `Connection: upgrade`)
/// stay when `upgrade` is set.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let tokens = |headers: &HeaderMap| -> Vec<HeaderName> {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| names_a_header(t, upgrade))
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect()
    };
    // (the common `Connection: close` or `keep-alive` names no header: no list to make)
    let names_some = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| names_a_header(t.trim(), upgrade)));
    if names_some {
        for n in tokens(headers) {
            headers.remove(n);
        }
    }
    // One look over the (few) headers, then a removal only of those present.
    let mut present = 0u16;
    let mut has_upgrade = false;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        }
        has_upgrade |= name == header::UPGRADE;
    }
    for (i, n) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(n);
        }
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if has_upgrade {
        headers.remove(header::UPGRADE);
    }
}

/// Whether a request asks for a protocol upgrade (WebSocket ...).
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

static XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
static XFP: HeaderName = HeaderName::from_static("x-forwarded-proto");
static XFPORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static TRACE: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// Appends the client (its address as a header value, made once per connection by [`client_value`]) to
/// `X-Forwarded-For` and sets `X-Forwarded-Proto` and `X-Forwarded-Port` (ALB's default `append` mode).
pub(crate) fn forwarded(headers: &mut HeaderMap, client: &HeaderValue, scheme: &'static str, port: &HeaderValue) {
    let xff = match headers.get(&XFF) {
        Some(prev) if !prev.as_bytes().trim_ascii().is_empty() => {
            let mut joined = BytesMut::with_capacity(prev.len() + 2 + client.len());
            joined.extend_from_slice(prev.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(client.as_bytes());
            HeaderValue::from_maybe_shared(joined.freeze()).ok()
        }
        _ => Some(client.clone()),
    };
    if let Some(v) = xff {
        headers.insert(XFF.clone(), v);
    }
    headers.insert(XFP.clone(), HeaderValue::from_static(scheme));
    headers.insert(XFPORT.clone(), port.clone());
}

/// A client address as `X-Forwarded-For` names it (an IPv4-mapped IPv6 address as IPv4).
pub(crate) fn client_value(client: IpAddr) -> HeaderValue {
    let mut buf = [0u8; 48];
    let len = match client.to_canonical() {
        IpAddr::V4(v4) => {
            // (by hand: formatting machinery costs more than the rest of a request's header work)
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    buf[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    buf[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                buf[len] = b'0' + octet % 10;
                len += 1;
            }
            len
        }
        v6 => {
            use std::io::Write;
            let mut out = &mut buf[..];
            let _ = write!(out, "{v6}");
            48 - out.len()
        }
    };
    HeaderValue::from_bytes(&buf[..len]).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// How many addresses the request's `X-Forwarded-For` headers hold.
pub(crate) fn forwarded_hops(headers: &HeaderMap) -> usize {
    headers.get_all(&XFF).iter().filter_map(|v| v.to_str().ok()).map(|v| v.split(',').count()).sum()
}

thread_local! {
    /// A per-thread generator for trace ids (wyrand, seeded from the system's generator): ids need to be unique,
    /// not unpredictable, and this costs a fraction of a cryptographic generator.
    static TRACE_RNG: std::cell::Cell<u64> = std::cell::Cell::new(rand::random());
}

/// 12 random bytes for a trace id.
fn random_12() -> [u8; 12] {
    fn next(state: &std::cell::Cell<u64>) -> u64 {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) ^ t) as u64
    }
    TRACE_RNG.with(|state| {
        let (a, b) = (next(state), next(state));
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&a.to_le_bytes());
        out[8..].copy_from_slice(&b.to_le_bytes()[..4]);
        out
    })
}

/// Writes a trace id part `1-<8 hex epoch>-<24 hex random>` (35 bytes) into `out`.
fn write_trace_part(out: &mut [u8; 35], epoch: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out[0] = b'1';
    out[1] = b'-';
    let epoch = epoch as u32;
    for (i, o) in out[2..10].iter_mut().enumerate() {
        *o = HEX[((epoch >> (28 - 4 * i)) & 0xf) as usize];
    }
    out[10] = b'-';
    let random = random_12();
    for (i, b) in random.iter().enumerate() {
        out[11 + 2 * i] = HEX[usize::from(b >> 4)];
        out[12 + 2 * i] = HEX[usize::from(b & 0xf)];
    }
}

/// A trace id part `1-<8 hex epoch>-<24 hex random>`.
fn trace_part(epoch: u64) -> String {
    let mut part = [0u8; 35];
    write_trace_part(&mut part, epoch);
    String::from_utf8_lossy(&part).into_owned()
}

/// Adds or extends `X-Amzn-Trace-Id` as ALB does: a `Root` when there is none (other fields kept), else a
/// `Self` field added or replaced.
pub(crate) fn trace(headers: &mut HeaderMap, epoch: u64) {
    let existing = match headers.get(&TRACE) {
        None => {
            // The common case, without a string: `Root=` and a part.
            let mut value = [0u8; 40];
            value[..5].copy_from_slice(b"Root=");
            let mut part = [0u8; 35];
            write_trace_part(&mut part, epoch);
            value[5..].copy_from_slice(&part);
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                headers.insert(TRACE.clone(), v);
            }
            return;
        }
        Some(v) => v.to_str().ok().map(str::to_owned),
    };
    let value = match existing {
        None => format!("Root={}", trace_part(epoch)),
        Some(prev) => {
            let fields: Vec<&str> = prev.split(';').map(str::trim).filter(|f| !f.is_empty()).collect();
            if fields.iter().any(|f| f.starts_with("Root=")) {
                let mut kept: Vec<String> =
                    fields.iter().filter(|f| !f.starts_with("Self=")).map(|f| (*f).to_owned()).collect();
                kept.insert(0, format!("Self={}", trace_part(epoch)));
                kept.join(";")
            } else {
                let mut out = vec![format!("Root={}", trace_part(epoch))];
                out.extend(fields.iter().map(|f| (*f).to_owned()));
                out.join(";")
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(TRACE.clone(), v);
    }
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A stickiness cookie's value: the group, the target (if any) and the expiry (epoch seconds), opaque to clients.
pub(crate) fn sticky_value(group: &str, target: Option<SocketAddr>, expires: u64) -> String {
    let target = target.map(|t| t.to_string()).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("{group}\n{target}\n{expires}"))
}

/// Reads a stickiness cookie back: its group and target, if it has not expired at `now` (epoch seconds).
pub(crate) fn parse_sticky(value: &str, now: u64) -> Option<(String, Option<SocketAddr>)> {
    let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split('\n');
    let (group, target, expires) = (parts.next()?, parts.next()?, parts.next()?);
    if expires.parse::<u64>().ok()? <= now {
        return None;
    }
    Some((group.to_owned(), if target.is_empty() { None } else { Some(target.parse().ok()?) }))
}

/// `Set-Cookie` headers for a stickiness cookie `name` (and its CORS twin `<name>CORS`, as ALB sends).
pub(crate) fn set_sticky(headers: &mut HeaderMap, name: &str, value: &str, expires: u64) {
    let when = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires));
    for cookie in [
        format!("{name}={value}; Expires={when}; Path=/"),
        format!("{name}CORS={value}; Expires={when}; Path=/; SameSite=None; Secure"),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-private".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("te", "trailers".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upgrade_headers_stay_for_an_upgrade() {
        let mut h = HeaderMap::new();
        h.insert("connection", "Upgrade".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
    }

    #[test]
    fn forwarded_appends() {
        let mut h = HeaderMap::new();
        forwarded(&mut h, &client_value("10.0.0.1".parse().unwrap()), "http", &HeaderValue::from(80));
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        forwarded(&mut h, &client_value("::ffff:10.0.0.2".parse().unwrap()), "https", &HeaderValue::from(443));
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 10.0.0.2");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-port"], "443");
        assert_eq!(client_value("2001:db8::1".parse().unwrap()), "2001:db8::1");
        for ip in ["0.0.0.0", "9.10.99.100", "255.255.255.255", "127.0.0.1"] {
            assert_eq!(client_value(ip.parse().unwrap()), ip);
        }
    }

    #[test]
    fn trace_ids() {
        let mut h = HeaderMap::new();
        trace(&mut h, 0x5759e988);
        let v = h["x-amzn-trace-id"].to_str().unwrap().to_owned();
        assert!(v.starts_with("Root=1-5759e988-") && v.len() == "Root=1-5759e988-".len() + 24, "{v}");
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-trace-id",
            "Root=1-67891233-abcdef012345678912345678;Self=1-0-0;CalledFrom=app".parse().unwrap(),
        );
        trace(&mut h, 1);
        let v = h["x-amzn-trace-id"].to_str().unwrap();
        assert!(v.starts_with("Self=1-00000001-"), "{v}");
        assert!(v.contains("Root=1-67891233-abcdef012345678912345678") && v.contains("CalledFrom=app"));
        assert_eq!(v.matches("Self=").count(), 1);
        let mut h = HeaderMap::new();
        h.insert("x-amzn-trace-id", "Foo=bar".parse().unwrap());
        trace(&mut h, 1);
        let v = h["x-amzn-trace-id"].to_str().unwrap();
        assert!(v.starts_with("Root=1-00000001-") && v.ends_with(";Foo=bar"), "{v}");
    }

    #[test]
    fn sticky_cookies_round_trip_and_expire() {
        let t: SocketAddr = "10.0.0.1:8080".parse().unwrap();
        let v = sticky_value("tg-1", Some(t), 100);
        assert_eq!(parse_sticky(&v, 99), Some(("tg-1".to_owned(), Some(t))));
        assert_eq!(parse_sticky(&v, 100), None);
        assert_eq!(parse_sticky("garbage!", 0), None);
        let mut h = HeaderMap::new();
        h.insert("cookie", format!("a=b; AWSALB={v}").parse().unwrap());
        assert_eq!(cookie(&h, "AWSALB"), Some(v.as_str()));
        assert_eq!(cookie(&h, "AWSALBTG"), None);
        let mut out = HeaderMap::new();
        set_sticky(&mut out, "AWSALB", &v, 100);
        let all: Vec<_> = out.get_all("set-cookie").iter().collect();
        assert_eq!(all.len(), 2);
        assert!(all[0].to_str().unwrap().starts_with(&format!("AWSALB={v}; Expires=Thu, 01 Jan 1970 00:01:40 GMT")));
    }
}
