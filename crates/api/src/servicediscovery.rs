//! AWS Cloud Map (`servicediscovery/2017-03-14`, AWS JSON 1.1), served by `berth-discovery`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::AwsJsonService;
use berth_discovery::Discovery;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The Cloud Map API on a discovery service.
pub struct ServiceDiscoveryService {
    discovery: Arc<Discovery>,
}

impl ServiceDiscoveryService {
    /// Cloud Map on this service.
    pub fn new(discovery: Arc<Discovery>) -> Self {
        Self { discovery }
    }
}

impl AwsJsonService for ServiceDiscoveryService {
    fn target_prefix(&self) -> &'static str {
        berth_model::servicediscovery::TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        berth_model::servicediscovery::SIGNING_NAME
    }

    fn max_body_bytes(&self) -> usize {
        // The largest requests are registrations with 30 attributes of up to 1 KiB: a few KiB.
        64 * 1024
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move { self.discovery.call(operation, body).await.map_err(ApiError::from) })
    }
}
