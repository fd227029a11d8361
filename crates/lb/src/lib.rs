//! Berth's load-balancer data plane: an Application Load Balancer-grade reverse proxy, configured by value.
//!
//! # Background
//! Issue 11 asks for an Application Load Balancer that ECS services register with. The ELBv2 API (another crate)
//! keeps the records; this crate is what carries the traffic. It knows nothing of ELBv2's wire shapes: its
//! [`config`] types are ELBv2's concepts (load balancers with a bind address, listeners, rules, actions, target
//! groups, health checks, attributes) so that translating the API's records is one-to-one.
//!
//! # Design
//! - **Snapshots.** [`Proxy::apply`] validates a whole [`Config`] (ELBv2's ranges and rules; nothing changes when
//!   it fails), compiles it into an immutable snapshot and swaps it in. Each request takes the snapshot current
//!   when it arrives and finishes on it. Listeners are keyed by address: those that stay keep their socket and
//!   connections, new ones are bound before the swap (a bind failure refuses the whole configuration), removed
//!   ones stop accepting and let their connections finish the request in progress.
//! - **Target groups outlive snapshots** (keyed by id), and so do their targets (keyed by address): health,
//!   requests in progress and slow start survive a configuration change. A target removed from a group drains:
//!   it takes no new requests, its requests in progress finish, and it reports `draining` until the group's
//!   deregistration delay has passed (as ALB does, even when its last request ended earlier).
//! - **Workers** (as nginx's worker processes): [`ProxyOptions::workers`] threads (one per core by default), each
//!   with a single-threaded tokio runtime, its own accept loop on its own `SO_REUSEPORT` socket of every listener and its
//!   own upstream pool, so a request never crosses threads (a multi-threaded runtime spent a quarter of its CPU
//!   waking threads). Health checks run on the runtime that calls [`Proxy::apply`]. `workers: 0` serves on that
//!   runtime too.
//! - **Serving**: hyper 1's HTTP/1.1 server, handing a connection that opens with HTTP/2's preface to its HTTP/2
//!   server (h2c by prior knowledge; over TLS by ALPN `h2`/`http/1.1`, rustls with the ring provider); upgrades (WebSocket) are passed through after
//!   the target's 101 as a bidirectional byte copy. Bodies are streamed both ways.
//! - **Upstream**: HTTP/1.1 to targets over Berth's own keep-alive pool per load balancer and worker (hyper's
//!   connection API, no hand-off between tasks per request), connect timeout 10 s, pooled connections closed after
//!   the load balancer's idle timeout; a target that does
//!   not answer within the idle timeout gives 504, a failed connection or a broken answer 502, a group without
//!   registered targets 503. An idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) without a body is retried
//!   once on another target when the connection failed or broke before the response head (a killed target).
//! - **Routing** ([`rules`](crate::config::Rule)): rules by ascending priority, conditions AND-ed, values OR-ed,
//!   ELBv2's `*`/`?` wildcards (host, header and query case-insensitive, path case-sensitive), source-ip CIDRs,
//!   exact methods; the default action last. Fixed responses and redirects (`#{host}` ... placeholders).
//! - **Balancing**: round robin (smooth weighted while a target ramps up in slow start) or least outstanding
//!   requests over the healthy targets not marked by a failed connection; with none, every registered target
//!   (ALB fails open). Target stickiness with the `AWSALB` cookie (and group stickiness with `AWSALBTG`); the
//!   cookie carries its own expiry. Weighted target groups are chosen by weight, spread evenly (a golden-ratio
//!   sequence per forward action, not random draws: each group gets its share within a request or two).
//! - **Health**: one checker task per target group, a due time per target on the proxy's `Clock`; states and
//!   reason codes as DescribeTargetHealth names them ([`Proxy::target_health`]). A failed connection on the
//!   traffic path takes a target out of rotation until its next passing check or one interval (passive
//!   ejection); reported health comes only from the checks.
//! - **Headers**: hop-by-hop headers removed both ways; `X-Forwarded-For` appended, `X-Forwarded-Proto` and
//!   `-Port` set, `X-Amzn-Trace-Id` added (`Root=`) or extended (`Self=`) as ALB does.
//!
//! - **Traffic**: per target group, requests routed, target responses by status class, time to the response head
//!   and target errors ([`Proxy::traffic`]), cumulative, for the `AWS/ApplicationELB` metrics.
//!
//! # Limitations
//! - HTTP/1.1 only to targets (no HTTPS or HTTP/2 target groups: refused by [`Proxy::apply`]).
//! - One certificate per HTTPS listener (no SNI selection among several).
//! - The idle timeout bounds the wait for a response head and closes idle HTTP/1.1 client connections, but not
//!   the gaps within a streamed body, nor idle HTTP/2 connections. ALB's 460 and 464 are not produced (463,
//!   more than 30 `X-Forwarded-For` addresses, is).
//! - When a draining target's delay ends, its requests still in progress are allowed to finish (ALB cuts them).
//! - Health is in memory: after a restart targets start `initial` again (ALB's own health is not persisted
//!   either); the configuration itself lives in the ELBv2 records of the store.

mod body;
pub mod config;
mod error;
mod fasthash;
mod forward;
mod group;
mod headers;
mod health;
mod matcher;
mod pool;
mod prefixed;
mod proxy;
mod respond;
mod rules;
mod server;
mod stop;
mod target;
mod tls;
mod traffic;
mod upstream;
mod validate;
mod wildcard;

pub use config::Config;
pub use error::LbError;
pub use health::{TargetHealth, TargetReason, TargetState};
pub use proxy::{Proxy, ProxyOptions};
pub use traffic::TrafficCounts;
