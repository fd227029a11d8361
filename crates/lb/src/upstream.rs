//! Connections to targets: pooled keep-alive HTTP/1.1 clients per load balancer (hyper-util's pool, keyed by
//! target address), with the proxy's connect timeout and the load balancer's idle timeout for pooled connections.
//! Each worker thread has its own client, so a pooled connection is only ever used on the thread that owns it.

use crate::body::UpBody;
use crate::proxy::ProxyOptions;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

thread_local! {
    /// The worker this thread is (1-based), 0 on any other thread.
    pub(crate) static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// A load balancer's clients: index 0 for threads that are not workers, then one per worker.
#[derive(Clone)]
pub(crate) struct UpstreamClients(Arc<Vec<UpstreamClient>>);

impl UpstreamClients {
    /// Clients for `workers` workers.
    pub(crate) fn new(options: &ProxyOptions, idle: Duration, workers: usize) -> Self {
        Self(Arc::new((0..=workers).map(|_| client(options, idle)).collect()))
    }

    /// The calling thread's client.
    pub(crate) fn get(&self) -> &UpstreamClient {
        let i = WORKER.with(Cell::get);
        &self.0[i.min(self.0.len() - 1)]
    }
}

/// A pooled client to targets.
pub(crate) type UpstreamClient = Client<HttpConnector, UpBody>;

/// A client with `options`' connect timeout whose idle pooled connections close after `idle`.
fn client(options: &ProxyOptions, idle: Duration) -> UpstreamClient {
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
