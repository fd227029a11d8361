//! Application Auto Scaling (`application-autoscaling/2016-02-06`, AWS JSON 1.1), served by `berth-autoscaling`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::AwsJsonService;
use berth_autoscaling::Scaling;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The Application Auto Scaling API on a scaling service.
pub struct AutoScalingService {
    scaling: Arc<Scaling>,
}

impl AutoScalingService {
    /// Application Auto Scaling on this service.
    pub fn new(scaling: Arc<Scaling>) -> Self {
        Self { scaling }
    }
}

impl AwsJsonService for AutoScalingService {
    fn target_prefix(&self) -> &'static str {
        berth_model::autoscaling::TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        berth_model::autoscaling::SIGNING_NAME
    }

    fn max_body_bytes(&self) -> usize {
        // The largest requests are policies with many steps or customized metrics: a few KiB.
        256 * 1024
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move { self.scaling.call(operation, body).await.map_err(ApiError::from) })
    }
}
