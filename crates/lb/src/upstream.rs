//! Connections to targets: one [`Pool`] of keep-alive HTTP/1.1 connections per load balancer and worker, with
//! the proxy's connect timeout and the load balancer's idle timeout for pooled connections. Each worker thread
//! has its own pool, so a pooled connection is only ever used on the thread that owns it.

use crate::pool::{Pool, PoolSettings};
use crate::proxy::ProxyOptions;
use berth_model::clock::Clock;
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

thread_local! {
    /// The worker this thread is (1-based), 0 on any other thread.
    pub(crate) static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// A load balancer's pools: index 0 for threads that are not workers, then one per worker.
#[derive(Clone)]
pub(crate) struct UpstreamClients(Arc<Vec<Pool>>);

impl UpstreamClients {
    /// Pools for `workers` workers, whose idle connections close after `idle` (on `clock`).
    pub(crate) fn new(options: &ProxyOptions, idle: Duration, workers: usize, clock: &Arc<dyn Clock>) -> Self {
        let settings = PoolSettings {
            connect_timeout: options.connect_timeout,
            idle_timeout: idle,
            max_idle_per_target: options.max_idle_per_target,
        };
        Self(Arc::new((0..=workers).map(|_| Pool::new(settings, clock.clone())).collect()))
    }

    /// The calling thread's pool.
    pub(crate) fn get(&self) -> &Pool {
        let i = WORKER.with(Cell::get);
        &self.0[i.min(self.0.len() - 1)]
    }
}
