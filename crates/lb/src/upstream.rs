//! Connections to targets: one pooled keep-alive HTTP/1.1 client per load balancer (hyper-util's pool, keyed by
//! target address), with the proxy's connect timeout and the load balancer's idle timeout for pooled connections.

use crate::body::UpBody;
use crate::proxy::ProxyOptions;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

/// A pooled client to targets.
pub(crate) type UpstreamClient = Client<HttpConnector, UpBody>;

/// A client with `options`' connect timeout whose idle pooled connections close after `idle`.
pub(crate) fn client(options: &ProxyOptions, idle: Duration) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(options.connect_timeout));
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(idle)
        .pool_max_idle_per_host(options.max_idle_per_target)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}
