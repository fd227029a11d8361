//! One request through the load balancer: route it on the listener's rules, then answer a fixed response or a
//! redirect, or forward it to a target of a target group (stickiness, weights, retry once on another target when
//! an idempotent request without a body could not connect), streaming both bodies, and passing upgrades through.

use crate::body::{ProxyBody, UpBody};
use crate::config::{Action, Forward};
use crate::group::Group;
use crate::headers;
use crate::pool::Conn;
use crate::proxy::{ListenerState, Shared, Snapshot};
use crate::respond::{self, Parts};
use crate::rules::{self, RequestView};
use crate::target::InFlight;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the requests of one client connection share: made once per connection, one reference per request.
pub(crate) struct ClientConn {
    /// The proxy.
    pub shared: Arc<Shared>,
    /// The listener's address.
    pub local: SocketAddr,
    /// The client's address.
    pub peer: SocketAddr,
    /// The client's address as `X-Forwarded-For` names it.
    pub client: HeaderValue,
}

impl ClientConn {
    /// A connection from `peer` on listener `local`.
    pub(crate) fn new(shared: Arc<Shared>, local: SocketAddr, peer: SocketAddr) -> Self {
        Self { shared, local, peer, client: headers::client_value(peer.ip()) }
    }
}

/// Handles one request that arrived on connection `conn`.
pub(crate) async fn handle(conn: Arc<ClientConn>, req: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    let (shared, local, peer) = (&conn.shared, conn.local, conn.peer);
    let snapshot = shared.snapshot();
    let Some(listener) = snapshot.listeners.get(&local) else {
        return Ok(respond::error_page(StatusCode::SERVICE_UNAVAILABLE));
    };
    let host_full = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(Authority::as_str))
        .unwrap_or("");
    let host = strip_port(host_full);
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let view =
        RequestView { method: req.method().as_str(), host, path, query, headers: req.headers(), client: peer.ip() };
    let action = rules::route(&listener.rules, &listener.default_action, &view);
    match &**action {
        Action::FixedResponse(f) => Ok(respond::fixed(f)),
        Action::Redirect(r) => {
            let parts = Parts { scheme: listener.protocol.scheme(), host, port: listener.port, path, query };
            Ok(respond::redirect(r, &parts))
        }
        Action::Forward(f) => {
            let host_value = match req.headers().get(header::HOST) {
                Some(h) => Some(h.clone()),
                None => HeaderValue::from_str(host_full).ok(),
            };
            Ok(forward(&conn, &snapshot, listener, f, host_value, req).await)
        }
    }
}

/// The host without its port (`[::1]:80` gives `[::1]`).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h)
}

/// Chooses the target group: the sticky one while its `AWSALBTG` cookie is valid, else by weight.
fn choose_group<'a>(f: &'a Forward, req: &Request<Incoming>, now: u64) -> Option<&'a str> {
    if f.stickiness_seconds.is_some()
        && let Some((id, _)) = headers::cookie(req.headers(), "AWSALBTG").and_then(|c| headers::parse_sticky(c, now))
        && let Some(w) = f.target_groups.iter().find(|w| w.target_group_id == id && w.weight > 0)
    {
        return Some(&w.target_group_id);
    }
    if let [only] = f.target_groups.as_slice() {
        return Some(&only.target_group_id);
    }
    let total: u64 = f.target_groups.iter().map(|w| u64::from(w.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut pick = spread(f.turns.next(), total);
    for w in &f.target_groups {
        if pick < u64::from(w.weight) {
            return Some(&w.target_group_id);
        }
        pick -= u64::from(w.weight);
    }
    None
}

/// Where turn `n` of a forward action falls in `0..total`: the golden-ratio (Weyl) sequence, whose first n points
/// fall into each weight's share within O(log n) of n × share (a random pick strays by √n): 20% is 80 ± 1 of 400
/// requests, and no group gets a run of picks a random draw would give it.
fn spread(n: u64, total: u64) -> u64 {
    // The golden ratio's fraction in 64-bit fixed point: n × it, wrapping, is n × 0.618... modulo 1, exactly.
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let x = n.wrapping_mul(GOLDEN);
    ((u128::from(x) * u128::from(total)) >> 64) as u64
}

async fn forward(
    conn: &ClientConn,
    snapshot: &Snapshot,
    listener: &ListenerState,
    f: &Forward,
    host: Option<HeaderValue>,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    let shared = &*conn.shared;
    if headers::forwarded_hops(req.headers()) > 30 {
        // ALB's 463: an X-Forwarded-For with more than 30 addresses
        return respond::error_page(StatusCode::from_u16(463).unwrap_or(StatusCode::BAD_REQUEST));
    }
    let epoch = shared.time.epoch_secs();
    let Some(group) = choose_group(f, &req, epoch).and_then(|id| snapshot.groups.get(id)) else {
        return respond::error_page(StatusCode::SERVICE_UNAVAILABLE);
    };
    let targets = group.targets();
    if targets.is_empty() {
        return respond::error_page(StatusCode::SERVICE_UNAVAILABLE);
    }
    let settings = group.settings();
    let target_sticky = settings.config.attributes.stickiness_seconds;
    let sticky = target_sticky
        .and_then(|_| headers::cookie(req.headers(), "AWSALB"))
        .and_then(|c| headers::parse_sticky(c, epoch))
        .filter(|(id, _)| *id == group.id)
        .and_then(|(_, t)| t);

    let upgrade = headers::wants_upgrade(req.headers()) && req.version() == Version::HTTP_11;
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let retryable =
        matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE)
            && req.body().is_end_stream()
            && !upgrade;
    let (parts, body) = req.into_parts();
    let mut out_headers = parts.headers;
    headers::strip_hop_by_hop(&mut out_headers, upgrade);
    // room for the headers added below, so that the map grows once at most
    out_headers.reserve(5);
    let has_host = host.is_some();
    if let Some(h) = host {
        out_headers.insert(header::HOST, h);
    }
    headers::forwarded(&mut out_headers, &conn.client, listener.protocol.scheme(), &listener.port_value);
    headers::trace(&mut out_headers, epoch);
    let path = parts.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));

    let mut body = Some(UpBody::Client(body));
    let mut tried: Vec<SocketAddr> = Vec::new();
    let traffic = &group.traffic;
    let interval = u64::from(settings.config.health_check.interval_seconds) * 1000;
    loop {
        // (one reading of the clock: the time the request goes out, and milliseconds for balancing)
        let sent = shared.time.now_micros();
        let now = sent / 1000;
        let Some(target) = group.pick_in(&targets, &settings, &tried, sticky, now) else {
            if !tried.is_empty() {
                traffic.target_error();
            }
            return respond::error_page(StatusCode::BAD_GATEWAY);
        };
        if tried.is_empty() {
            traffic.request();
        }
        let guard = InFlight::new(target.clone());
        let mut out = Request::new(body.take().unwrap_or(UpBody::Empty));
        *out.method_mut() = parts.method.clone();
        // origin-form: the path and query only
        *out.uri_mut() = Uri::from(path.clone());
        *out.version_mut() = Version::HTTP_11;
        // Only a retryable request may need the headers again.
        *out.headers_mut() = if retryable { out_headers.clone() } else { std::mem::take(&mut out_headers) };
        if !has_host && let Ok(h) = HeaderValue::from_str(target.authority.as_str()) {
            // A request without a host (HTTP/1.0) gets the target's, as HTTP/1.1 requires one.
            out.headers_mut().insert(header::HOST, h);
        }
        match tokio::time::timeout(listener.idle_timeout, listener.clients.get().request(target.addr, out)).await {
            Err(_) => {
                traffic.target_error();
                return respond::error_page(StatusCode::GATEWAY_TIMEOUT);
            }
            Ok(Err(e)) => {
                if e.is_connect() {
                    target.mark_passive_failure(now + interval);
                }
                // The connection failed or broke before a response head: an idempotent request without a body
                // is safe to send again, once, to another target (a killed target's requests in progress too).
                if retryable && tried.is_empty() {
                    tried.push(target.addr);
                    continue;
                }
                tracing::debug!(target = %target.addr, error = %e, "target request failed");
                traffic.target_error();
                return respond::error_page(StatusCode::BAD_GATEWAY);
            }
            Ok(Ok((resp, conn))) => {
                traffic.response(resp.status().as_u16(), shared.time.now_micros().saturating_sub(sent));
                return respond_from_target(resp, guard, conn, client_upgrade, group, f, target_sticky, epoch);
            }
        }
    }
}

/// The client's response from a target's: hop-by-hop headers out, stickiness cookies in, the body streamed, an
/// upgrade (101) spliced.
#[allow(clippy::too_many_arguments)]
fn respond_from_target(
    mut resp: Response<Incoming>,
    guard: InFlight,
    conn: Conn,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    group: &Arc<Group>,
    f: &Forward,
    target_sticky: Option<u32>,
    epoch: u64,
) -> Response<ProxyBody> {
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    let target = guard.target().addr;
    headers::strip_hop_by_hop(resp.headers_mut(), switching);
    if let Some(d) = target_sticky {
        let expires = epoch + u64::from(d);
        headers::set_sticky(
            resp.headers_mut(),
            "AWSALB",
            &headers::sticky_value(&group.id, Some(target), expires),
            expires,
        );
    }
    if let Some(d) = f.stickiness_seconds {
        let expires = epoch + u64::from(d);
        headers::set_sticky(resp.headers_mut(), "AWSALBTG", &headers::sticky_value(&group.id, None, expires), expires);
    }
    if switching {
        let Some(client_upgrade) = client_upgrade else {
            return respond::error_page(StatusCode::BAD_GATEWAY);
        };
        let target_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            // (the target connection is upgraded, never pooled again)
            let _held = (guard, conn);
            if let (Ok(client), Ok(upstream)) = tokio::join!(client_upgrade, target_upgrade) {
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(upstream)).await;
            }
        });
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, ProxyBody::full(""));
    }
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, ProxyBody::upstream(body, guard, conn))
}

#[cfg(test)]
mod tests {

    #[test]
    fn turns_spread_over_the_weights_within_a_request_or_two() {
        for (weights, n) in
            [(vec![800u64, 200], 400u64), (vec![320, 680], 400), (vec![999, 1], 1000), (vec![3, 1, 1], 500)]
        {
            let total: u64 = weights.iter().sum();
            // From any start: a new configuration's counter starts at a random turn, and counters wrap.
            for start in [0u64, 1 << 40, u64::MAX - n / 2] {
                let mut hits = vec![0u64; weights.len()];
                for turn in (0..n).map(|i| start.wrapping_add(i)) {
                    let mut pick = super::spread(turn, total);
                    for (i, w) in weights.iter().enumerate() {
                        if pick < *w {
                            hits[i] += 1;
                            break;
                        }
                        pick -= w;
                    }
                }
                for (i, w) in weights.iter().enumerate() {
                    let expected = (n * w) as f64 / total as f64;
                    assert!((hits[i] as f64 - expected).abs() <= 2.0, "{weights:?}: group {i} got {} of {n}", hits[i]);
                }
            }
        }
    }

    use super::strip_port;

    #[test]
    fn ports_come_off_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
